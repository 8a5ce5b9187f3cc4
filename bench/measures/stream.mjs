// RedisStreamManager: create, broadcast, cross-instance latency, heartbeat traffic.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sid, SSE, median, percentile, nowMs, sleep, countingController } from "../lib/common.mjs";
import { streamManager, resetRedis } from "../lib/impl-redis.mjs";

/** Resolves when `count()` reaches `n` (checked on every enqueue via the returned bump()). */
function waiter() {
  let n = 0, target = Infinity, resolve = null;
  return {
    bump() { n++; if (n >= target && resolve) { const r = resolve; resolve = null; r(); } },
    until(t) { target = t; if (n >= t) return Promise.resolve(); return new Promise((r) => { resolve = r; }); },
    reset() { n = 0; target = Infinity; resolve = null; },
    get n() { return n; },
  };
}

async function withTimeout(p, ms, what) {
  let timer;
  const t = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms); });
  try { return await Promise.race([p, t]); } finally { clearTimeout(timer); }
}

/** Concurrent create of N1 streams (timed), then broadcast to N1 and to N2 sessions. */
export async function fanout(impl, cfg) {
  const admin = await resetRedis(cfg.redisUrl);
  const { mgr } = await streamManager(impl, cfg.redisUrl);
  const w = waiter();
  const ctl = countingController(() => w.bump());
  // Warm-up: connections up, code paths compiled; then gone.
  for (let i = 0; i < 20; i++) await mgr.create(sid(i, 0xee), countingController(() => {}));
  for (let i = 0; i < 20; i++) await mgr.delete(sid(i, 0xee));
  await sleep(50);

  const [n1, n2] = cfg.sessions.broadcast;
  const ids1 = Array.from({ length: n1 }, (_, i) => sid(i));
  const t0 = nowMs();
  await Promise.all(ids1.map((id) => mgr.create(id, ctl)));
  const createMs = nowMs() - t0;
  if ((await admin.sCard("mcp:stream:active")) !== n1) throw new Error("active set size mismatch after create");

  const out = { createMs, created: n1, mode: "concurrent (Promise.all)" };
  const bc = async (n) => {
    const times = [];
    for (let r = 0; r < cfg.reps.broadcast; r++) {
      await sleep(100);
      w.reset();
      const done = w.until(n);
      const s = nowMs();
      await mgr.send(undefined, SSE);
      await withTimeout(done, 60_000, `broadcast to ${n}: ${w.n} delivered`);
      times.push(nowMs() - s);
      await sleep(20);
      if (w.n !== n) throw new Error(`broadcast to ${n} delivered ${w.n}`);
    }
    return times;
  };
  const b1 = await bc(n1);
  out.broadcastSmallMs = median(b1);
  out.broadcastSmallAll = b1;
  const ids2 = Array.from({ length: n2 - n1 }, (_, i) => sid(n1 + i));
  const t2 = nowMs();
  await Promise.all(ids2.map((id) => mgr.create(id, ctl)));
  out.createMoreMs = nowMs() - t2;
  const b2 = await bc(n2);
  out.broadcastLargeMs = median(b2);
  out.broadcastLargeAll = b2;
  out.sizes = [n1, n2];
  return out;
}

/** Two managers on one Redis: the stream on A, send([sid]) on B, time to enqueue on A. */
export async function latency(impl, cfg) {
  await resetRedis(cfg.redisUrl);
  const A = (await streamManager(impl, cfg.redisUrl)).mgr;
  const B = (await streamManager(impl, cfg.redisUrl)).mgr;
  let resolve = null;
  const ctl = countingController(() => { if (resolve) { const r = resolve; resolve = null; r(nowMs()); } });
  const id = sid(1);
  await A.create(id, ctl);
  await sleep(50);
  const one = async () => {
    const got = new Promise((r) => { resolve = r; });
    const s = nowMs();
    await B.send([id], SSE);
    const at = await withTimeout(got, 5000, "cross-instance message");
    return at - s;
  };
  for (let i = 0; i < cfg.reps.latencyWarmup; i++) await one();
  const lat = [];
  for (let i = 0; i < cfg.reps.latency; i++) lat.push(await one());
  return { p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), meanMs: lat.reduce((a, b) => a + b, 0) / lat.length, n: lat.length };
}

function startProxy(upstreamPort) {
  const child = fork(fileURLToPath(new URL("../lib/proxy.mjs", import.meta.url)), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const pending = [];
  child.on("message", (m) => { const p = pending.shift(); if (p) p(m); });
  const ask = (msg) => new Promise((r) => { pending.push(r); child.send(msg); });
  return {
    start: () => ask({ op: "start", upstreamPort }),
    snapshot: (sinceMs) => ask({ op: "snapshot", sinceMs }),
    stop: () => child.kill(),
  };
}

const sum = (conns, k) => conns.filter((c) => !c.subscriber).reduce((a, c) => a + c[k], 0);

/** N local sessions, heartbeatInterval=1: commands and round trips per interval on the
 * command connection(s), counted by a RESP-parsing proxy; INFO commandstats as a cross-check. */
export async function heartbeat(impl, cfg) {
  const admin = await resetRedis(cfg.redisUrl);
  const proxy = startProxy(cfg.redisPort);
  const { port } = await proxy.start();
  const url = `redis://127.0.0.1:${port}`;
  const { mgr } = await streamManager(impl, url, { heartbeatInterval: 1 });
  const N = cfg.sessions.heartbeat;
  const ctl = countingController(() => {});
  const t0 = nowMs();
  await Promise.all(Array.from({ length: N }, (_, i) => mgr.create(sid(i), ctl)));
  const createMs = nowMs() - t0;
  await sleep(2500); // every timer / the heartbeat task has fired at least twice
  const W = cfg.reps.heartbeatIntervals;
  const stats = async () => {
    const info = await admin.info("commandstats");
    const calls = {};
    for (const m of info.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)) calls[m[1]] = Number(m[2]);
    return calls;
  };
  const s0 = await proxy.snapshot();
  const c0 = await stats();
  const tStart = Date.now();
  await sleep(W * 1000);
  const s1 = await proxy.snapshot(tStart);
  const c1 = await stats();
  const cmdConns = s1.conns.filter((c) => !c.subscriber);
  const flights = (sum(s1.conns, "flights") - sum(s0.conns, "flights")) / W;
  const commands = (sum(s1.conns, "commands") - sum(s0.conns, "commands")) / W;
  // Flights per 1-s bucket, to tell the heartbeat from the periodic prune.
  const perSecond = [];
  const kinds = {};
  let heartbeatFlights = 0;
  for (const c of cmdConns) {
    for (const f of c.flightsSince || []) {
      if (f.cmds.EXPIRE) heartbeatFlights++;
      const b = Math.floor((f.t - tStart) / 1000);
      if (b >= 0 && b < W) perSecond[b] = (perSecond[b] || 0) + 1;
      const k = Object.keys(f.cmds).sort().join("+");
      kinds[k] = (kinds[k] || 0) + 1;
    }
  }
  const delta = {};
  for (const [k, v] of Object.entries(c1)) {
    const d = v - (c0[k] || 0);
    if (d > 0 && !["info", "client|setinfo", "hello"].includes(k)) delta[k] = d / W;
  }
  delete delta.info;
  proxy.stop();
  return {
    roundTripsPerInterval: flights,
    heartbeatRoundTripsPerInterval: heartbeatFlights / W,
    commandsPerInterval: commands,
    commandstatsPerInterval: delta,
    roundTripsPerSecondBucket: Array.from({ length: W }, (_, i) => perSecond[i] || 0),
    flightKinds: Object.fromEntries(Object.entries(kinds).sort((a, b) => b[1] - a[1]).slice(0, 8)),
    commandConnections: cmdConns.length,
    sessions: N, createMs, intervals: W,
  };
}
