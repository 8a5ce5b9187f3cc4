#!/usr/bin/env node
// Recovery and broadcast cost of the addon's NATIVE connections on Redis beyond one node
// (issue 14): a private Sentinel group and private Redis Clusters (__test__/helpers/topology.js).
//
//   node bench/topology.mjs              N = 5 repetitions per scenario (about 6-8 minutes)
//   node bench/topology.mjs --quick      N = 2, shorter windows, fewer broadcasts (about 2-3 minutes)
//   node bench/topology.mjs --reps 3     N
//   node bench/topology.mjs --only sentinel-failover,sentinel-kill,cluster-kill,broadcast
//                                        a subset (written as topology[-quick]-partial.*)
//
// 1. sentinel-failover: one Sentinel group (a primary, a replica, three sentinels); per
//    repetition a RedisSessionStore and two RedisStreamManagers on its redis+sentinel:// URL.
//    An open-loop load: every 10 ms a `store.set` of a new key and a `send(["s"], mN)` from
//    manager B to the stream "s" held by manager A (neither waits for the previous one, as
//    independent requests). Then `group.failover()` (SENTINEL FAILOVER). Times come from the
//    sentinels' own events (PSUBSCRIBE * on each sentinel): "+try-failover" (the FAILOVER
//    command taken) and the first "+switch-master" (a sentinel names the new primary).
//    Recovery = first write after the event that resolved AND is on the new primary at the end
//    (a write acknowledged by the demoted node is lost, not a success), resp. first send after
//    the event that resolved and was delivered.
// 2. sentinel-kill: the same on a fresh group per repetition, the primary SIGKILLed
//    (`group.killPrimary()`); from the first "+switch-master" and from the SIGKILL.
// 3. cluster-kill: a fresh cluster (3 primaries + 3 replicas, node timeout 1 s) per repetition
//    and pub/sub mode (classic, then `shardedPubSub: true`); the store writes keys of ONE hash
//    slot ({tag}), whose primary is SIGKILLed (`cluster.killPrimaryOf`); B sends every 10 ms to
//    20 streams on A spread over the slots (one `send` with 20 ids). Promotion = the replica's
//    ROLE turning master (polled every 5 ms over its own connection).
// 4. broadcast: one cluster, A holds 2,000 streams, B calls `send(undefined, msg)`; classic vs
//    sharded. Latency = send until every stream's enqueue got the message (sequential, median);
//    throughput = broadcasts issued back to back until all delivered; per broadcast: Redis
//    commands (INFO commandstats summed over every node, minus this script's own INFO/CLUSTER
//    calls), network output bytes (INFO stats total_net_output_bytes summed), cluster-bus
//    messages sent (CLUSTER INFO) and redis-server CPU (/proc) summed over the nodes.
//
// The addon is loaded from a copy of the built .node taken at the start. Every redis-server
// started is SIGKILLed on exit, Ctrl-C, or an error. Wall-clock numbers come from a shared,
// noisy 2-core machine: medians and maxima are reported; nothing here is a test assertion.
import { createRequire } from "node:module";
import crypto from "node:crypto";
import { execSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const opt = (f, d) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : d; };
const quick = flag("--quick");
const REPS = Number(opt("--reps", quick ? 2 : 5));
const SCENARIOS = ["sentinel-failover", "sentinel-kill", "cluster-kill", "broadcast"];
const only = opt("--only", null)?.split(",");
if (only) for (const s of only) if (!SCENARIOS.includes(s)) { console.error(`unknown scenario ${s} (one of ${SCENARIOS.join(", ")})`); process.exit(2); }
const run = (s) => !only || only.includes(s);
const CFG = {
  reps: REPS,
  tickMs: 10,
  preMs: quick ? 600 : 1000, // load before the event
  postMs: quick ? 800 : 1500, // load kept on after both writes and sends recovered
  recoverTimeoutMs: 30_000,
  settleMs: 1500, // after the load stops, for deliveries in flight
  clusterStreams: 20,
  broadcastStreams: 2000,
  broadcastLatencyRounds: quick ? 3 : 7,
  broadcastBurst: quick ? 5 : 20,
  commandTimeoutMs: 5000, // the addon's default, stated explicitly
};
const print = (s = "") => process.stdout.write(`${s}\n`);
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (v) => { const s = v.filter((x) => Number.isFinite(x) || x === Infinity).sort((a, b) => a - b); if (!s.length) return NaN; const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const max = (v) => { const s = v.filter((x) => Number.isFinite(x) || x === Infinity); return s.length ? Math.max(...s) : NaN; };
const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x === Infinity ? Infinity : null);

// ---------- the harness, with every process it starts tracked for cleanup ----------
process.env.MCP_SESSIONS_LOG ??= "error"; // reconnect warnings during failovers would flood stdout
const procs = require("../__test__/helpers/topology-procs.js");
const rs = require("../__test__/helpers/redis-server.js");
const { startCluster, startSentinelGroup, parseNodes } = require("../__test__/helpers/topology.js");
const { Group, cli, infoFields, missingBinaries, HOST } = procs;
// topology.js holds the same Group class (one module instance): wrapping its prototype sees every
// group it makes, even one whose start is interrupted, so an exit can kill what is running.
const liveGroups = new Set();
const killedAt = new Map(); // port -> performance.now() just before the SIGKILL
const origSpawn = Group.prototype.spawn, origKill = Group.prototype.kill, origStop = Group.prototype.stop;
Group.prototype.spawn = function (...a) { liveGroups.add(this); return origSpawn.apply(this, a); };
Group.prototype.kill = function (port) { if (this.procs.has(port)) killedAt.set(port, now()); return origKill.call(this, port); };
Group.prototype.stop = async function () { try { return await origStop.call(this); } finally { liveGroups.delete(this); } };
const groupOf = (dir) => [...liveGroups].find((g) => g.dir === dir);
let snapDir = null;
function cleanupSync() {
  for (const g of liveGroups) {
    for (const port of [...g.procs.keys()]) { try { origKill.call(g, port); } catch {} }
    try { fs.rmSync(g.dir, { recursive: true, force: true }); } catch {}
  }
  liveGroups.clear();
  if (snapDir) { try { fs.rmSync(snapDir, { recursive: true, force: true }); } catch {} snapDir = null; }
}
process.on("exit", cleanupSync);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => { print(`\n${sig}: stopping every redis-server of this run`); cleanupSync(); process.exit(130); });
process.on("uncaughtException", (e) => { console.error(e); cleanupSync(); process.exit(1); });
process.on("unhandledRejection", (e) => { console.error("unhandled rejection:", e); cleanupSync(); process.exit(1); });

// ---------- the addon, from a snapshot of the built .node ----------
const addonFile = path.join(ROOT, "mcp-sessions-native.linux-x64-gnu.node");
if (!fs.existsSync(addonFile)) { console.error(`${addonFile} missing: run npm run build`); process.exit(1); }
const why = missingBinaries();
if (why) { console.error(`bench/topology.mjs ${why}`); process.exit(1); }
snapDir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-topology-addon-"));
const snap = path.join(snapDir, path.basename(addonFile));
fs.copyFileSync(addonFile, snap);
const { RedisSessionStore, RedisStreamManager } = require(snap);
const addonBuild = { builtAt: fs.statSync(addonFile).mtime.toISOString(), sha256: crypto.createHash("sha256").update(fs.readFileSync(snap)).digest("hex").slice(0, 16) };
try {
  addonBuild.head = execSync("git rev-parse --short HEAD", { cwd: ROOT }).toString().trim();
  addonBuild.srcChangedSinceHead = execSync("git status --porcelain -- src Cargo.toml", { cwd: ROOT }).toString().trim().split("\n").filter(Boolean).length;
} catch { /* not a checkout */ }

// ---------- a minimal RESP2 connection for observers (never the measured path) ----------
class Resp {
  static connect(port, { subscriber = false } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection({ host: HOST, port });
      sock.once("connect", () => resolve(new Resp(sock, subscriber)));
      sock.once("error", reject);
    });
  }
  constructor(sock, subscriber) {
    this.sock = sock; this.subscriber = subscriber; this.buf = Buffer.alloc(0); this.waiting = []; this.onPush = null; this.closed = false;
    sock.setNoDelay(true);
    sock.on("data", (d) => { this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d; this.drain(); });
    const fail = () => { this.closed = true; for (const w of this.waiting.splice(0)) w.reject(new Error(`connection to ${port} closed`)); };
    const port = sock.remotePort;
    sock.on("error", fail); sock.on("close", fail);
  }
  cmd(...args) {
    if (this.closed) return Promise.reject(new Error("closed"));
    const parts = [`*${args.length}\r\n`];
    for (const a of args) { const s = String(a); parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`); }
    return new Promise((resolve, reject) => { this.waiting.push({ resolve, reject }); this.sock.write(parts.join("")); });
  }
  drain() {
    for (;;) {
      const r = Resp.parse(this.buf, 0);
      if (!r) return;
      this.buf = this.buf.subarray(r.next);
      const t = now();
      if (this.subscriber && this.onPush) this.onPush(r.value, t);
      else { const w = this.waiting.shift(); if (w) (r.value instanceof Error ? w.reject(r.value) : w.resolve(r.value)); }
    }
  }
  static parse(b, i) {
    if (i >= b.length) return null;
    const eol = b.indexOf("\r\n", i);
    if (eol < 0) return null;
    const type = String.fromCharCode(b[i]), line = b.toString("utf8", i + 1, eol), next = eol + 2;
    if (type === "+") return { value: line, next };
    if (type === "-") return { value: new Error(line), next };
    if (type === ":") return { value: Number(line), next };
    if (type === "$") { const n = Number(line); if (n < 0) return { value: null, next }; if (b.length < next + n + 2) return null; return { value: b.toString("utf8", next, next + n), next: next + n + 2 }; }
    if (type === "*") {
      const n = Number(line); if (n < 0) return { value: null, next };
      const out = []; let j = next;
      for (let k = 0; k < n; k++) { const r = Resp.parse(b, j); if (!r) return null; out.push(r.value); j = r.next; }
      return { value: out, next: j };
    }
    throw new Error(`RESP: unexpected type byte ${type}`);
  }
  close() { this.closed = true; this.sock.destroy(); }
}

/** PSUBSCRIBE * on every sentinel: `first(event)` is the earliest time any sentinel published it. */
async function watchSentinels(ports) {
  const events = [];
  const conns = await Promise.all(ports.map(async (port) => {
    const c = await Resp.connect(port, { subscriber: true });
    c.onPush = (v, t) => { if (Array.isArray(v) && v[0] === "pmessage") events.push({ t, sentinel: port, event: v[2], data: v[3] }); };
    await new Promise((resolve) => { const prev = c.onPush; c.onPush = (v, t) => { if (Array.isArray(v) && v[0] === "psubscribe") { c.onPush = prev; resolve(); } }; c.sock.write("*2\r\n$10\r\nPSUBSCRIBE\r\n$1\r\n*\r\n"); });
    return c;
  }));
  const times = (event, after = -Infinity) => events.filter((e) => e.event === event && e.t >= after).map((e) => e.t);
  return {
    events,
    first: (event, after) => { const t = times(event, after); return t.length ? Math.min(...t) : NaN; },
    last: (event, after) => { const t = times(event, after); return t.length ? Math.max(...t) : NaN; },
    close: () => conns.forEach((c) => c.close()),
  };
}

/** Polls ROLE of `port` every 5 ms; resolves the time it first says master. */
function watchPromotion(port, timeoutMs = 30_000) {
  let stop = false;
  const done = (async () => {
    const c = await Resp.connect(port);
    const end = now() + timeoutMs;
    try {
      while (!stop && now() < end) {
        const role = await c.cmd("ROLE").catch(() => null);
        if (Array.isArray(role) && role[0] === "master") return now();
        await sleep(5);
      }
      return NaN;
    } finally { c.close(); }
  })();
  return { done, cancel: () => { stop = true; } };
}

// ---------- load: open-loop writes and sends, and what arrived ----------
function decode(chunk) { return typeof chunk === "string" ? chunk : Buffer.from(chunk.buffer ?? chunk, chunk.byteOffset ?? 0, chunk.byteLength ?? chunk.length).toString("utf8"); }

/** A controller stand-in recording, per message text, the times it was enqueued. */
function recordingController(sink) {
  return { desiredSize: 1, enqueue(chunk) { const m = decode(chunk); const t = now(); const a = sink.get(m); if (a) a.push(t); else sink.set(m, [t]); }, close() {}, error() {} };
}

/**
 * Every tickMs: `store.set(key(i))` and `manager.send(targets, "m<i>")`, not waiting for the
 * previous ones. `stop()` stops issuing and resolves once every call has settled.
 */
function startLoad({ store, sender, targets, keyOf }) {
  const writes = [], sends = [], inflight = [];
  let i = 0;
  const tick = () => {
    const n = i++;
    const w = { i: n, key: keyOf(n), t0: now(), t1: NaN, ok: null, err: null };
    writes.push(w);
    inflight.push(store.set(w.key, { lastAccessedAt: n }).then(() => { w.t1 = now(); w.ok = true; }, (e) => { w.t1 = now(); w.ok = false; w.err = String(e.message ?? e).slice(0, 200); }));
    const s = { i: n, msg: `m${n}`, t0: now(), t1: NaN, ok: null, err: null };
    sends.push(s);
    inflight.push(sender.send(targets, s.msg).then(() => { s.t1 = now(); s.ok = true; }, (e) => { s.t1 = now(); s.ok = false; s.err = String(e.message ?? e).slice(0, 200); }));
  };
  const timer = setInterval(tick, CFG.tickMs);
  tick();
  return {
    writes, sends,
    async stop() { clearInterval(timer); await Promise.allSettled(inflight); },
  };
}

/**
 * Figures of one repetition. `sinks`: one Map per target stream (message -> enqueue times);
 * `persisted`: the set of store ids present at the end; `marks`: named event times.
 */
function analyse({ load, sinks, persisted, marks, disrupt, keptBefore, keptAfter }) {
  const { writes, sends } = load;
  const nT = sinks.length;
  const okWrites = writes.filter((w) => w.ok);
  const durable = (w) => w.ok && persisted.has(w.key);
  const delivered = (s) => sinks.map((sink) => sink.get(s.msg)?.length ?? 0);
  const sendDone = (s) => { const d = sinks.map((sink) => sink.get(s.msg)); return d.every((x) => x?.length) ? Math.max(s.t1, ...d.map((x) => x[0])) : NaN; };
  // Only calls made after the disruption began count: one made before it may resolve just
  // after the event (in flight) and say nothing about recovery.
  const since = marks[disrupt];
  const recovery = (from) => {
    if (!Number.isFinite(from)) return { writeMs: NaN, sendMs: NaN };
    const w = writes.filter((x) => durable(x) && x.t0 >= since && x.t1 >= from).sort((a, b) => a.t1 - b.t1)[0];
    const sendTimes = sends.filter((s) => s.ok && s.t0 >= since).map(sendDone).filter((t) => t >= from);
    // Infinity: not within the window (CFG.recoverTimeoutMs + postMs)
    return { writeMs: w ? w.t1 - from : Infinity, sendMs: sendTimes.length ? Math.min(...sendTimes) - from : Infinity };
  };
  let dPairs = 0, lostPairs = 0, dupPairs = 0, failedDelivered = 0, outOfOrder = 0;
  for (const s of sends) {
    const d = delivered(s);
    if (s.ok) { for (const c of d) { if (c >= 1) dPairs++; else lostPairs++; if (c > 1) dupPairs++; } }
    else failedDelivered += d.filter((c) => c >= 1).length;
  }
  for (const sink of sinks) { // arrival order of the m<i> messages on one stream
    const order = [...sink.entries()].filter(([m]) => /^m\d+$/.test(m)).map(([m, ts]) => [Number(m.slice(1)), ts[0]]).sort((a, b) => a[1] - b[1]);
    let hi = -1; for (const [k] of order) { if (k < hi) outOfOrder++; else hi = k; }
  }
  const failErrors = {};
  for (const x of [...writes, ...sends]) if (x.ok === false) { const k = x.err.replace(/topo:\S+/g, "<key>").replace(/\d+/g, "N").slice(0, 120); failErrors[k] = (failErrors[k] ?? 0) + 1; }
  const out = {
    marks: Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, round(v - marks.load, 1)])),
    writes: {
      issued: writes.length, ok: okWrites.length, failed: writes.filter((w) => w.ok === false).length,
      acknowledgedButLost: okWrites.filter((w) => !persisted.has(w.key)).length,
      // when the lost ones were acknowledged, ms from the start of the load
      acknowledgedButLostSpanMs: (() => { const t = okWrites.filter((w) => !persisted.has(w.key)).map((w) => w.t1 - marks.load); return t.length ? [round(Math.min(...t)), round(Math.max(...t))] : null; })(),
      maxLatencyMs: round(max(writes.map((w) => w.t1 - w.t0))),
    },
    sends: {
      issued: sends.length, ok: sends.filter((s) => s.ok).length, failed: sends.filter((s) => s.ok === false).length, targets: nT,
      delivered: dPairs, lost: lostPairs, duplicated: dupPairs, deliveredOfFailed: failedDelivered, outOfOrder,
      keptByStoreAndForward: keptAfter - keptBefore,
      maxLatencyMs: round(max(sends.map((s) => s.t1 - s.t0))),
    },
    failErrors,
    recovery: {},
  };
  for (const name of ["promotion", disrupt]) { const r = recovery(marks[name]); out.recovery[name] = { writeMs: round(r.writeMs), sendMs: round(r.sendMs) }; }
  return out;
}

/**
 * Until a write that resolved after `from` is on `primaryPort` (EXISTS there: a write the
 * demoted node acknowledged does not count) and a send that resolved after `from` reached
 * every target.
 */
async function waitRecovered(load, sinks, since, from, what, primaryPort, prefix) {
  const end = now() + CFG.recoverTimeoutMs;
  const c = await Resp.connect(primaryPort);
  try {
    for (;;) {
      const cand = load.writes.filter((x) => x.ok && x.t0 >= since && x.t1 >= from).slice(-1)[0];
      const w = Boolean(cand) && (await c.cmd("EXISTS", prefix + cand.key)) === 1;
      const s = load.sends.some((x) => x.ok && x.t0 >= since && x.t1 >= from && sinks.every((sink) => sink.get(x.msg)?.length));
      if (w && s) return true;
      if (now() > end) { print(`    ${what}: writes ${w ? "" : "NOT "}recovered, sends ${s ? "" : "NOT "}recovered within ${CFG.recoverTimeoutMs} ms: the figures below are kept`); return false; }
      await sleep(20);
    }
  } finally { c.close(); }
}
const closeAll = (...xs) => Promise.allSettled(xs.filter(Boolean).map((x) => x.close()));

// ---------- 1 and 2: Sentinel ----------
async function sentinelRep(group, kind, rep) {
  // The node demoted by an earlier failover is converted to a replica by the sentinels some
  // seconds later: wait for that (and its sync) so every repetition starts from the same state.
  await rs.waitFor(async () => {
    try {
      const p = await group.currentPrimary();
      const other = p.port === group.primary.port ? group.replica : group.primary;
      const info = infoFields(await cli(other.port, ["INFO", "replication"]));
      return info.role === "slave" && info.master_link_status === "up" && Number(info.master_port) === p.port;
    } catch { return false; }
  }, 60_000, "the other node to be a synced replica of the current primary");
  const prefix = `topo:${kind}:${rep}:${crypto.randomBytes(3).toString("hex")}:`;
  const conf = { url: group.url, commandTimeoutMs: CFG.commandTimeoutMs };
  const store = new RedisSessionStore({ ...conf, prefix });
  const a = new RedisStreamManager({ ...conf, prefix: `${prefix}st:` });
  const b = new RedisStreamManager({ ...conf, prefix: `${prefix}st:` });
  const watch = await watchSentinels(group.sentinels.map((s) => s.port));
  try {
    const sink = new Map();
    await a.create("s", recordingController(sink));
    await store.set("warm", { lastAccessedAt: 0 });
    await b.send(["s"], "warm");
    await rs.waitFor(async () => sink.has("warm"), 10_000, "the warm-up message");
    const keptBefore = b.pendingStats().buffered;
    const marks = { load: now() };
    const load = startLoad({ store, sender: b, targets: ["s"], keyOf: (i) => `w${i}` });
    await sleep(CFG.preMs);
    marks.call = now();
    let result;
    if (kind === "failover") result = await group.failover();
    else result = await group.killPrimary();
    const newPrimary = (result.to ?? result.promoted).port;
    if (kind === "kill") marks.kill = killedAt.get(result.killed.port);
    else marks.failoverCommand = watch.first("+try-failover", marks.call);
    marks.promotion = watch.first("+switch-master", marks.call);
    if (!Number.isFinite(marks.promotion)) throw new Error("no +switch-master event seen");
    const disrupt = kind === "kill" ? "kill" : "failoverCommand";
    if (!Number.isFinite(marks[disrupt])) throw new Error(`no time for ${disrupt}`);
    const recovered = await waitRecovered(load, [sink], marks[disrupt], marks.promotion, `sentinel ${kind}`, newPrimary, prefix);
    await sleep(CFG.postMs);
    await load.stop();
    await sleep(CFG.settleMs);
    marks.lastSwitchMaster = watch.last("+switch-master", marks.call);
    const convert = watch.first("+convert-to-slave", marks.call);
    if (Number.isFinite(convert)) marks.oldPrimaryDemoted = convert;
    // What is on the new primary now, read from it directly.
    const c = await Resp.connect(newPrimary);
    const keys = new Set();
    try {
      let cursor = "0";
      do { const [next, batch] = await c.cmd("SCAN", cursor, "MATCH", `${prefix}w*`, "COUNT", 1000); cursor = next; for (const k of batch) keys.add(k.slice(prefix.length)); } while (cursor !== "0");
    } finally { c.close(); }
    const r = analyse({ load, sinks: [sink], persisted: keys, marks, disrupt, keptBefore, keptAfter: b.pendingStats().buffered });
    r.from = (result.from ?? result.killed).port; r.to = newPrimary; r.recovered = recovered;
    r.sentinelEvents = watch.events.filter((e) => e.t >= marks.call && !/^__sentinel__|^\+sentinel$|^-?\+?dup-sentinel/.test(e.event)).map((e) => `${round(e.t - marks.load)} ${e.sentinel} ${e.event} ${e.data}`);
    return r;
  } finally {
    watch.close();
    await closeAll(store, a, b);
  }
}

// ---------- 3: Cluster, a primary SIGKILLed ----------
async function clusterRep(shardedPubSub, rep) {
  const cluster = await startCluster();
  try {
    const prefix = `topo:ck:${rep}:${crypto.randomBytes(3).toString("hex")}:`;
    const primaries = await cluster.primaries();
    // The primary to kill rotates over repetitions; the store's keys share one hash tag on it.
    const victim = primaries[rep % primaries.length];
    let tag = null;
    for (let k = 0; k < 1000 && !tag; k++) if ((await cluster.primaryOf(`${prefix}{t${k}}`)).port === victim.port) tag = `t${k}`;
    const keyOf = (i) => `{${tag}}w${i}`;
    const conf = { url: cluster.url, commandTimeoutMs: CFG.commandTimeoutMs };
    const store = new RedisSessionStore({ ...conf, prefix });
    const a = new RedisStreamManager({ ...conf, prefix: `${prefix}st:`, shardedPubSub });
    const b = new RedisStreamManager({ ...conf, prefix: `${prefix}st:`, shardedPubSub });
    let promotionWatch = null;
    try {
      const ids = Array.from({ length: CFG.clusterStreams }, (_, i) => `c${i}`);
      const sinks = ids.map(() => new Map());
      for (const [i, id] of ids.entries()) await a.create(id, recordingController(sinks[i]));
      // Which streams' channels hash to the victim's slots (what sharded pub/sub routes by slot).
      const onVictim = [];
      for (const [i, id] of ids.entries()) if ((await cluster.primaryOf(`${prefix}st:${id}`)).port === victim.port) onVictim.push(i);
      const streamsOnVictim = onVictim.length;
      const nodes = parseNodes(await cli(victim.port, ["CLUSTER", "NODES"]));
      const me = nodes.find((n) => n.port === victim.port);
      const replica = nodes.find((n) => n.master === me.id);
      // Where the subscriptions are (CLIENT LIST sub=/ssub=): does the victim hold any?
      const subsOnVictim = (await cli(victim.port, ["CLIENT", "LIST"])).split("\n").reduce((n, l) => n + Number(/ sub=(\d+)/.exec(l)?.[1] ?? 0) + Number(/ ssub=(\d+)/.exec(l)?.[1] ?? 0), 0);
      await store.set(keyOf("warm"), { lastAccessedAt: 0 });
      await b.send(ids, "warm");
      await rs.waitFor(async () => sinks.every((s) => s.has("warm")), 10_000, "the warm-up message on every stream");
      const keptBefore = b.pendingStats().buffered;
      const marks = { load: now() };
      const load = startLoad({ store, sender: b, targets: ids, keyOf });
      await sleep(CFG.preMs);
      promotionWatch = watchPromotion(replica.port);
      const { killed, promoted } = await cluster.killPrimaryOf(`${prefix}{${tag}}`);
      if (killed.port !== victim.port || promoted.port !== replica.port) throw new Error(`killed ${killed.port} / promoted ${promoted.port}, expected ${victim.port} / ${replica.port}`);
      marks.kill = killedAt.get(killed.port);
      marks.promotion = await promotionWatch.done;
      marks.clusterOk = now(); // killPrimaryOf resolved: every live node says cluster_state:ok (polled)
      if (!Number.isFinite(marks.promotion)) throw new Error("the replica never said ROLE master");
      const recovered = await waitRecovered(load, sinks, marks.kill, marks.promotion, `cluster kill (${shardedPubSub ? "sharded" : "classic"})`, promoted.port, prefix);
      await sleep(CFG.postMs);
      await load.stop();
      await sleep(CFG.settleMs);
      const persisted = new Set(await store.keys());
      const r = analyse({ load, sinks, persisted, marks, disrupt: "kill", keptBefore, keptAfter: b.pendingStats().buffered });
      // Streams that got nothing sent after the promotion (resubscription never happened).
      r.streamsDeafAfterPromotion = ids.filter((_, i) => !load.sends.some((s) => s.ok && s.t0 >= marks.promotion && sinks[i].get(s.msg))).map((id) => ({ id, onKilledShard: onVictim.includes(ids.indexOf(id)) }));
      Object.assign(r, { recovered, killed: killed.port, promoted: promoted.port, killedWasUrlNode: killed.port === cluster.nodes[0].port, streamsOnVictim, subscriptionsOnVictim: subsOnVictim });
      // Streams that missed something: on the victim's slots or not.
      const lostOn = (i) => load.sends.filter((s) => s.ok && !sinks[i].get(s.msg)).length;
      r.sends.streamsWithLoss = sinks.filter((_, i) => lostOn(i) > 0).length;
      r.sends.lostOnKilledShardStreams = onVictim.reduce((n, i) => n + lostOn(i), 0);
      r.sends.lostOnOtherStreams = r.sends.lost - r.sends.lostOnKilledShardStreams;
      return r;
    } finally {
      promotionWatch?.cancel();
      await closeAll(store, a, b);
    }
  } finally {
    await cluster.stop();
  }
}

// ---------- 4: broadcast to 2,000 streams on a cluster ----------
const ADMIN = /^cmdstat_(info|cluster\|.*|client\|.*|command.*|ping|role|config\|.*|hello|auth|select|replconf)$/; // this script's own calls, and replicas' REPLCONF ACKs
async function clusterCounters(cluster) {
  const g = groupOf(cluster.dir);
  const out = { commands: 0, perCommand: {}, netOutputBytes: 0, replOutputBytes: 0, busMessagesSent: 0, busPublishSent: 0, busPublishShardSent: 0, cpuMs: 0 };
  for (const { port } of cluster.nodes) {
    const stats = infoFields(await cli(port, ["INFO", "commandstats"]));
    for (const [k, v] of Object.entries(stats)) {
      if (!k.startsWith("cmdstat_") || ADMIN.test(k)) continue;
      const calls = Number(/calls=(\d+)/.exec(v)?.[1] ?? 0);
      out.commands += calls; const name = k.slice(8); out.perCommand[name] = (out.perCommand[name] ?? 0) + calls;
    }
    const s = infoFields(await cli(port, ["INFO", "stats"]));
    out.netOutputBytes += Number(s.total_net_output_bytes);
    out.replOutputBytes += Number(s.total_net_repl_output_bytes ?? 0);
    const ci = infoFields(await cli(port, ["CLUSTER", "INFO"]));
    out.busMessagesSent += Number(ci.cluster_stats_messages_sent ?? 0);
    out.busPublishSent += Number(ci.cluster_stats_messages_publish_sent ?? 0);
    out.busPublishShardSent += Number(ci.cluster_stats_messages_publishshard_sent ?? 0);
    const pid = g?.procs.get(port)?.pid;
    if (pid) { try { const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" "); out.cpuMs += ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1000; } catch {} }
  }
  return out;
}
const CLK_TCK = (() => { try { return Number(execSync("getconf CLK_TCK").toString().trim()) || 100; } catch { return 100; } })();
const diff = (a, b) => {
  const perCommand = {};
  for (const k of new Set([...Object.keys(a.perCommand), ...Object.keys(b.perCommand)])) { const d = (b.perCommand[k] ?? 0) - (a.perCommand[k] ?? 0); if (d) perCommand[k] = d; }
  return { commands: b.commands - a.commands, perCommand, netOutputBytes: b.netOutputBytes - a.netOutputBytes, replOutputBytes: b.replOutputBytes - a.replOutputBytes, busMessagesSent: b.busMessagesSent - a.busMessagesSent, busPublishSent: b.busPublishSent - a.busPublishSent, busPublishShardSent: b.busPublishShardSent - a.busPublishShardSent, cpuMs: b.cpuMs - a.cpuMs };
};

async function broadcastMode(cluster, shardedPubSub) {
  const prefix = `topo:bc:${shardedPubSub ? "sharded" : "classic"}:${crypto.randomBytes(3).toString("hex")}:`;
  // heartbeatInterval 3600: no heartbeat or prune step inside the measured windows.
  const conf = { url: cluster.url, prefix, shardedPubSub, heartbeatInterval: 3600, commandTimeoutMs: 30_000 };
  const a = new RedisStreamManager(conf);
  const b = new RedisStreamManager(conf);
  try {
    const N = CFG.broadcastStreams;
    const got = new Map(); // message -> number of streams that received it
    let t = now();
    const ids = Array.from({ length: N }, (_, i) => `b${i.toString(36)}-${crypto.randomBytes(4).toString("hex")}`);
    for (let i = 0; i < N; i += 500) {
      await Promise.all(ids.slice(i, i + 500).map((id) => a.create(id, { desiredSize: 1, enqueue(chunk) { const m = decode(chunk); got.set(m, (got.get(m) ?? 0) + 1); }, close() {}, error() {} })));
    }
    const createMs = now() - t;
    const all = (m, ms = 60_000) => rs.waitFor(async () => (got.get(m) ?? 0) >= N, ms, `broadcast ${m} on all ${N} streams`);
    await b.send(undefined, "warm");
    await all("warm");
    await sleep(300);
    const before = await clusterCounters(cluster);
    const latencies = [];
    for (let r = 0; r < CFG.broadcastLatencyRounds; r++) {
      const m = `lat${r}`;
      t = now();
      await b.send(undefined, m);
      // a tight poll: setImmediate, not the 50 ms of waitFor
      while ((got.get(m) ?? 0) < N) { if (now() - t > 60_000) throw new Error(`${m} not delivered`); await new Promise((res) => setImmediate(res)); }
      latencies.push(now() - t);
      await sleep(100);
    }
    const K = CFG.broadcastBurst;
    t = now();
    for (let k = 0; k < K; k++) await b.send(undefined, `burst${k}`);
    const sentMs = now() - t;
    for (let k = 0; k < K; k++) while ((got.get(`burst${k}`) ?? 0) < N) { if (now() - t > 120_000) throw new Error(`burst${k} not delivered`); await new Promise((res) => setImmediate(res)); }
    const burstMs = now() - t;
    await sleep(300);
    const after = await clusterCounters(cluster);
    const d = diff(before, after);
    const n = CFG.broadcastLatencyRounds + K;
    const dup = [...got.entries()].filter(([, c]) => c > N).length;
    return {
      mode: shardedPubSub ? "sharded" : "classic", streams: N, createMs: round(createMs),
      latencyMs: latencies.map((x) => round(x)), latencyMedianMs: round(median(latencies)), latencyMaxMs: round(max(latencies)),
      burst: { broadcasts: K, sendsResolvedMs: round(sentMs), allDeliveredMs: round(burstMs), broadcastsPerSec: round((K / burstMs) * 1000, 2) },
      broadcasts: n, messagesWithDuplicates: dup,
      perBroadcast: { commands: round(d.commands / n), netOutputBytes: Math.round(d.netOutputBytes / n), replOutputBytes: Math.round(d.replOutputBytes / n), busMessagesSent: round(d.busMessagesSent / n), busPublishSent: round(d.busPublishSent / n), busPublishShardSent: round(d.busPublishShardSent / n), redisCpuMs: round(d.cpuMs / n, 2) },
      totals: d,
    };
  } finally {
    await closeAll(a, b);
  }
}

// ---------- report ----------
const fmt = (x, unit = "") => (x === Infinity ? "never" : x === null || x === undefined || !Number.isFinite(x) ? "-" : `${Math.abs(x) >= 1000 ? Math.round(x).toLocaleString("en-US") : +x.toPrecision(3)}${unit}`);
const mm = (v, unit = "") => `${fmt(median(v), unit)} / ${fmt(max(v), unit)}`;
function mdTable(head, rows) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (c) => "| " + c.map((x, i) => String(x)[i === 0 ? "padEnd" : "padStart"](w[i])).join(" | ") + " |";
  return [line(head), "|" + w.map((x, i) => (i === 0 ? "-".repeat(x + 2) : "-".repeat(x + 1) + ":")).join("|") + "|", ...rows.map(line)].join("\n");
}
function recoveryRows(doc) {
  const rows = [];
  const add = (label, reps, fromA, fromB) => {
    const okReps = reps.filter((r) => !r.error);
    if (!okReps.length) { rows.push([label, `0/${reps.length}`, ...Array(12).fill("-")]); return; }
    const g = (f) => okReps.map(f);
    rows.push([
      label, `${okReps.filter((r) => r.recovered).length}/${reps.length}`,
      mm(g((r) => r.recovery[fromA]?.writeMs ?? NaN), " ms"), mm(g((r) => r.recovery[fromB]?.writeMs ?? NaN), " ms"),
      mm(g((r) => r.writes.failed)), mm(g((r) => r.writes.acknowledgedButLost)),
      mm(g((r) => r.recovery[fromA]?.sendMs ?? NaN), " ms"), mm(g((r) => r.recovery[fromB]?.sendMs ?? NaN), " ms"),
      mm(g((r) => r.sends.ok)), mm(g((r) => r.sends.failed)), mm(g((r) => r.sends.delivered)), mm(g((r) => r.sends.lost)), mm(g((r) => r.sends.duplicated)), mm(g((r) => r.sends.outOfOrder)),
    ]);
  };
  if (doc.sentinelFailover) add("Sentinel FAILOVER", doc.sentinelFailover, "promotion", "failoverCommand");
  if (doc.sentinelKill) add("Sentinel primary SIGKILL", doc.sentinelKill, "promotion", "kill");
  if (doc.clusterKill) {
    add("Cluster primary SIGKILL, classic pub/sub", doc.clusterKill.filter((r) => r.mode === "classic"), "promotion", "kill");
    add("Cluster primary SIGKILL, sharded pub/sub", doc.clusterKill.filter((r) => r.mode === "sharded"), "promotion", "kill");
  }
  return mdTable(["scenario", "recovered", "writes OK again, after promotion", "writes OK again, after FAILOVER / kill", "failed writes", "acked writes lost", "sends OK again, after promotion", "sends OK again, after FAILOVER / kill", "sends OK", "sends failed", "delivered", "lost", "duplicated", "out of order"], rows);
}
function broadcastRows(list) {
  return mdTable(
    ["pub/sub", "broadcasts/s", "all 2,000 received (median / max)", "Redis commands / broadcast", "net output bytes / broadcast", "cluster-bus msgs / broadcast", "redis CPU / broadcast"],
    list.map((r) => r.error ? [r.mode, "FAILED", "-", "-", "-", "-", "-"] : [r.mode, fmt(r.burst.broadcastsPerSec), `${fmt(r.latencyMedianMs, " ms")} / ${fmt(r.latencyMaxMs, " ms")}`, fmt(r.perBroadcast.commands), fmt(r.perBroadcast.netOutputBytes, " B"), fmt(r.perBroadcast.busMessagesSent), fmt(r.perBroadcast.redisCpuMs, " ms")]),
  );
}

// ---------- run ----------
const started = Date.now();
const doc = {};
const command = `node bench/topology.mjs ${argv.join(" ")}`.trim();
const redisVersion = execSync("redis-server --version").toString().match(/v=(\S+)/)?.[1] ?? "?";
print(`${quick ? "QUICK " : ""}topology run: ${REPS} repetitions, load every ${CFG.tickMs} ms; redis ${redisVersion}; load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
const step = async (label, fn) => {
  const s = Date.now();
  try { const r = await fn(); print(`  ${label}: ${((Date.now() - s) / 1000).toFixed(1)} s ${r}`); }
  catch (e) { print(`  ${label}: FAILED after ${((Date.now() - s) / 1000).toFixed(1)} s: ${e.message ?? e}`); throw e; }
};
const brief = (r) => `write recovery ${Object.entries(r.recovery).map(([k, v]) => `${k} +${fmt(v.writeMs)} ms`).join(", ")}; sends ${r.sends.ok} ok, ${r.sends.failed} failed, lost ${r.sends.lost}, dup ${r.sends.duplicated}; writes failed ${r.writes.failed}, acked-lost ${r.writes.acknowledgedButLost}`;
try {
  if (run("sentinel-failover")) {
    print("\n1. Sentinel: forced failover (SENTINEL FAILOVER), one group");
    doc.sentinelFailover = [];
    const group = await startSentinelGroup();
    try {
      for (let rep = 0; rep < REPS; rep++) {
        await step(`rep ${rep + 1}`, async () => { try { const r = await sentinelRep(group, "failover", rep); doc.sentinelFailover.push(r); return brief(r); } catch (e) { doc.sentinelFailover.push({ error: String(e.message ?? e) }); throw e; } }).catch(() => {});
      }
    } finally { await group.stop(); }
  }
  if (run("sentinel-kill")) {
    print("\n2. Sentinel: the primary SIGKILLed, a fresh group per repetition");
    doc.sentinelKill = [];
    for (let rep = 0; rep < REPS; rep++) {
      await step(`rep ${rep + 1}`, async () => {
        const group = await startSentinelGroup();
        try { const r = await sentinelRep(group, "kill", rep); doc.sentinelKill.push(r); return brief(r); }
        catch (e) { doc.sentinelKill.push({ error: String(e.message ?? e) }); throw e; }
        finally { await group.stop(); }
      }).catch(() => {});
    }
  }
  if (run("cluster-kill")) {
    print("\n3. Cluster: a primary SIGKILLed, a fresh cluster per repetition and mode");
    doc.clusterKill = [];
    for (let rep = 0; rep < REPS; rep++) {
      for (const sharded of rep % 2 ? [true, false] : [false, true]) {
        const mode = sharded ? "sharded" : "classic";
        await step(`rep ${rep + 1} ${mode}`, async () => {
          try { const r = { mode, ...(await clusterRep(sharded, rep)) }; doc.clusterKill.push(r); return brief(r) + `; ${r.streamsOnVictim}/20 channels on the killed shard`; }
          catch (e) { doc.clusterKill.push({ mode, error: String(e.message ?? e) }); throw e; }
        }).catch(() => {});
      }
    }
  }
  if (run("broadcast")) {
    print(`\n4. Cluster: broadcast to ${CFG.broadcastStreams.toLocaleString("en-US")} streams, classic vs sharded pub/sub, one cluster`);
    doc.broadcast = [];
    const cluster = await startCluster();
    try {
      for (const sharded of [false, true]) {
        const mode = sharded ? "sharded" : "classic";
        await step(mode, async () => {
          try { const r = await broadcastMode(cluster, sharded); doc.broadcast.push(r); return `${fmt(r.burst.broadcastsPerSec)} broadcasts/s, all received in ${fmt(r.latencyMedianMs)} ms (median), ${fmt(r.perBroadcast.commands)} commands, ${fmt(r.perBroadcast.netOutputBytes)} B out, ${fmt(r.perBroadcast.busMessagesSent)} bus messages per broadcast`; }
          catch (e) { doc.broadcast.push({ mode, error: String(e.message ?? e) }); throw e; }
        }).catch(() => {});
      }
    } finally { await cluster.stop(); }
  }

  const machine = { cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, node: process.version, os: `${os.type()} ${os.release()}`, loadavgAtEnd: os.loadavg(), date: new Date().toISOString(), redis: redisVersion };
  const header = `${machine.cpu}, ${machine.cores} cores (shared, noisy: medians and maxima over repetitions, no assertions), node ${machine.node}, redis ${redisVersion}, addon built ${addonBuild.builtAt} (sha256 ${addonBuild.sha256}, HEAD ${addonBuild.head ?? "?"}${addonBuild.srcChangedSinceHead ? `, ${addonBuild.srcChangedSinceHead} src files changed since` : ""})${quick ? ", QUICK" : ""}`;
  const parts = [`# Topology: recovery and broadcast on Sentinel and Redis Cluster (native connections)`, "", `\`${command}\` — ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${((Date.now() - started) / 1000).toFixed(0)} s`, "", header, ""];
  if (doc.sentinelFailover || doc.sentinelKill || doc.clusterKill) {
    parts.push(`## Recovery (median / max over ${REPS} repetitions)`, "",
      `Load: every ${CFG.tickMs} ms one \`store.set\` of a new key and one \`send\` (Sentinel: to one stream on the other manager; Cluster: one send to 20 streams there, counted per stream), open loop; commandTimeoutMs ${CFG.commandTimeoutMs}. ` +
      "Recovery = from the event until the first write that resolved and is on the (new) primary at the end, resp. the first send that resolved and reached every target. " +
      "Promotion: Sentinel, the first `+switch-master` of any sentinel (a sentinel names the new primary); Cluster, the replica's ROLE turning master (polled every 5 ms). FAILOVER: the sentinel's `+try-failover` (the command taken); kill: the SIGKILL. " +
      "Sends OK / failed count `send` calls; delivered / lost / duplicated count (message, stream) pairs of sends that resolved. \"Acked writes lost\" = writes that resolved but are not on the primary at the end. Only calls made after the FAILOVER command / the kill count for recovery (one in flight before it may resolve just after the event). " + `"Recovered": repetitions in which both writes and sends recovered within ${CFG.recoverTimeoutMs / 1000} s; "never" in a recovery column = not within that time (that repetition's counts are still included).`, "",
      recoveryRows(doc), "");
    const notes = [];
    const errorsOf = (reps) => { const e = {}; for (const r of reps) for (const [k, v] of Object.entries(r.failErrors ?? {})) e[k] = (e[k] ?? 0) + v; return Object.entries(e).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v} × \`${k}\``).join("; ") || "none"; };
    for (const [label, reps] of [["Sentinel FAILOVER", doc.sentinelFailover], ["Sentinel SIGKILL", doc.sentinelKill], ["Cluster classic", doc.clusterKill?.filter((r) => r.mode === "classic")], ["Cluster sharded", doc.clusterKill?.filter((r) => r.mode === "sharded")]]) {
      const ok = (reps ?? []).filter((r) => !r.error);
      if (!ok.length) continue;
      let line = `- ${label}: failures (all repetitions, digits as N): ${errorsOf(ok)}.`;
      if (label.startsWith("Sentinel")) line += ` Writes acknowledged but not on the new primary: ${ok.map((r) => r.writes.acknowledgedButLost).join(", ")}${ok.some((r) => r.writes.acknowledgedButLost) ? " (acknowledged by the old primary between the replica's promotion and the clients' switch; Sentinel's asynchronous replication)" : ""}. Kept by store-and-forward (B's pendingStats().buffered): ${ok.map((r) => r.sends.keptByStoreAndForward).join(", ")}.`;
      else line += ` Killed node held subscriptions (CLIENT LIST sub/ssub > 0) in ${ok.filter((r) => r.subscriptionsOnVictim > 0).length} of ${ok.length} repetitions; streams whose channel hashes to the killed shard: ${ok.map((r) => r.streamsOnVictim).join(", ")} of ${CFG.clusterStreams}; lost pairs on those streams / on the others: ${ok.map((r) => `${r.sends.lostOnKilledShardStreams}/${r.sends.lostOnOtherStreams}`).join(", ")}; pairs delivered by sends that failed: ${ok.map((r) => r.sends.deliveredOfFailed).join(", ")}.${ok.some((r) => !r.recovered) ? ` Not recovered within ${CFG.recoverTimeoutMs / 1000} s in ${ok.filter((r) => !r.recovered).length} repetitions; streams that received nothing sent after the promotion (on the killed shard / others): ${ok.filter((r) => !r.recovered).map((r) => `${r.streamsDeafAfterPromotion.filter((x) => x.onKilledShard).length}/${r.streamsDeafAfterPromotion.filter((x) => !x.onKilledShard).length}`).join(", ")}.` : ""}`;
      notes.push(line);
    }
    parts.push("Sends are issued concurrently (open loop), so no order between them is promised; \"out of order\" counts messages that arrived after a later-issued one on the same stream.", "", ...notes, "");
  }
  if (doc.broadcast) {
    parts.push(`## Broadcast to ${CFG.broadcastStreams.toLocaleString("en-US")} streams on a Redis Cluster (3 primaries + 3 replicas)`, "",
      `Manager A holds the streams, B calls \`send(undefined, msg)\`. Latency: ${CFG.broadcastLatencyRounds} sequential broadcasts, each until all ${CFG.broadcastStreams} enqueues. Broadcasts/s: ${CFG.broadcastBurst} back to back, until all delivered. Per broadcast, summed over all 6 nodes: Redis commands (INFO commandstats, this script's own INFO/CLUSTER calls excluded), total_net_output_bytes (client + replication output; the cluster bus is not in it), cluster-bus messages sent (CLUSTER INFO cluster_stats_messages_sent: a classic PUBLISH is forwarded over the bus to every node, an SPUBLISH only within its shard) and redis-server CPU.`, "",
      broadcastRows(doc.broadcast), "",
      ...doc.broadcast.filter((r) => !r.error).map((r) => `- ${r.mode}: commands per broadcast by name: ${Object.entries(r.totals.perCommand).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt(v / r.broadcasts)}`).join(", ")}; cluster-bus PUBLISH / PUBLISHSHARD messages per broadcast: ${fmt(r.perBroadcast.busPublishSent)} / ${fmt(r.perBroadcast.busPublishShardSent)}; latencies ${r.latencyMs.join(", ")} ms; ${r.burst.broadcasts} back to back: ${fmt(r.burst.allDeliveredMs)} ms.`), "");
  }
  const md = parts.join("\n");
  print(`\n${md}`);
  const name = `topology${quick ? "-quick" : ""}${only ? "-partial" : ""}`;
  const outDir = path.join(HERE, "results");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify({ command, machine, addon: addonBuild, config: { ...CFG, quick, only }, durationSec: Math.round((Date.now() - started) / 1000), ...doc }, (k, v) => (v === Infinity ? "never" : v), 2) + "\n");
  fs.writeFileSync(path.join(outDir, `${name}.md`), md + "\n");
  print(`wrote bench/results/${name}.json and ${name}.md`);
} finally {
  await Promise.allSettled([...liveGroups].map((g) => g.stop()));
  cleanupSync();
}
process.exit(0);
