// `npm run bench:bus`: RedisServerEventBus against the SDK's InMemoryServerEventBus, in one run
// on a private redis-server (never 6379). This process publishes; a second one (bus/peer.mjs)
// listens. Nothing here is a test assertion.
//
//   node bench/bus.mjs            full run (~2 minutes)
//   node bench/bus.mjs --quick    smaller sizes, a shorter idle window (~40 s)
//   --out FILE                    write the JSON there instead
//
// Results: a table on stdout and bench/results/bus.json (bus-quick.json with --quick).
import { fork } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, percentile, sleep } from "./lib/common.mjs";
import { startRedis, nodeRedis, redisInfoVersion } from "./lib/redis.mjs";

const require = createRequire(import.meta.url);
const { RedisServerEventBus } = require(ROOT);
const { InMemoryServerEventBus } = require("@modelcontextprotocol/server");

const quick = process.argv.includes("--quick");
const SIZES = quick
  ? { latency: 300, throughput: 10_000, fanout: 10_000, fanoutRuns: 3, idleSec: 16, retained: 10_000 }
  : { latency: 1_000, throughput: 50_000, fanout: 10_000, fanoutRuns: 5, idleSec: 46, retained: 10_000 };
const clock = () => performance.timeOrigin + performance.now();
const EVENT = (i) => ({ kind: "resource_updated", uri: `file:///project/src/module-${i % 100}.ts` });

/** The peer process, with a promise for its next message of each op. */
async function startPeer() {
  const child = fork(path.join(ROOT, "bench", "bus", "peer.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiters = new Map();
  const inbox = [];
  child.on("message", (m) => {
    const w = waiters.get(m.op);
    if (w && w.length) w.shift()(m);
    else inbox.push(m);
  });
  const next = (op) => {
    const i = inbox.findIndex((m) => m.op === op);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise((r) => {
      if (!waiters.has(op)) waiters.set(op, []);
      waiters.get(op).push(r);
    });
  };
  await next("up");
  const ask = async (m, reply = "ready") => {
    child.send(m);
    return next(reply);
  };
  return { child, next, ask };
}

async function readyBus(bus) {
  while (!(bus.health().subscriber.state === "up" && bus.stats().catchUps > 0)) await sleep(10);
}

const summary = (xs) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), n: xs.length });

/** Publish-to-listener latency in this process (publish is synchronous on both buses). */
function localLatency(bus, n) {
  let t0 = 0;
  const xs = [];
  const unsub = bus.subscribe(() => xs.push(performance.now() - t0));
  for (let i = 0; i < n + 100; i++) {
    t0 = performance.now();
    bus.publish(EVENT(i));
  }
  unsub();
  return summary(xs.slice(100).map((ms) => ms * 1000)); // µs
}

/** Events/s delivered to one listener in this process. */
function localThroughput(bus, n) {
  let got = 0;
  const unsub = bus.subscribe(() => got++);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) bus.publish(EVENT(i));
  const ms = performance.now() - t0;
  unsub();
  return { eventsPerSec: (got / ms) * 1000, n };
}

async function crossLatency(bus, peer, n, kind) {
  await peer.ask({ op: "listeners", n: 1 });
  await peer.ask({ op: "mode", mode: "latency" });
  const xs = [];
  for (let i = 0; i < n + 50; i++) {
    bus.publish({ ...EVENT(i), params: { t: clock() } });
    const got = await Promise.race([peer.next("got"), sleep(kind === "memory" ? 1000 : 5000).then(() => null)]);
    if (!got) return { delivered: false, note: "the event never reached the other process" };
    if (i >= 50) xs.push((got.at - got.t) * 1000);
  }
  return { delivered: true, ...summary(xs) };
}

async function crossThroughput(bus, peer, n, waitMs) {
  await peer.ask({ op: "listeners", n: 1 });
  await peer.ask({ op: "mode", mode: "throughput", expected: n });
  const t0 = clock();
  // In chunks of 1,000 with a turn of the event loop between them, as a server's notify calls
  // come (a single synchronous loop of 50,000 is no server's pattern).
  for (let i = 0; i < n; i++) {
    bus.publish(EVENT(i));
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  const publishMs = clock() - t0;
  const all = await Promise.race([peer.next("all"), sleep(waitMs).then(() => null)]);
  if (!all) return { delivered: false, note: "the events never reached the other process" };
  return { delivered: true, n, publishMs, eventsPerSec: (n / (all.at - t0)) * 1000 };
}

/** One event to `total` listeners, half here, half in the peer: time to the last one. */
async function fanout(bus, peer, total, runs) {
  const half = total / 2;
  await peer.ask({ op: "listeners", n: half });
  let local = 0;
  let localLast = 0;
  const unsubs = [];
  for (let i = 0; i < half; i++) unsubs.push(bus.subscribe(() => { local++; if (local === half) localLast = clock(); }));
  const here = [];
  const there = [];
  for (let r = 0; r < runs; r++) {
    local = 0;
    await peer.ask({ op: "mode", mode: "fanout", expected: half });
    const t0 = clock();
    bus.publish(EVENT(r));
    here.push(localLast - t0);
    const all = await Promise.race([peer.next("all"), sleep(10_000).then(() => null)]);
    if (!all) {
      for (const u of unsubs) u();
      return { delivered: false, localMs: percentile(here, 50), note: "the other process's listeners never got it" };
    }
    there.push(all.at - t0);
    await sleep(50);
  }
  for (const u of unsubs) u();
  return { delivered: true, listeners: total, localMs: percentile(here, 50), allMs: percentile(there, 50), runs };
}

async function commandstats(client) {
  const text = await client.info("commandstats");
  const out = {};
  for (const m of text.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) out[m[1]] = Number(m[2]);
  return out;
}
const delta = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] || 0)]).filter(([, v]) => v > 0));

async function main() {
  const redis = await startRedis();
  const admin = await nodeRedis(redis.url);
  const results = {
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, redis: await redisInfoVersion(redis.url) },
    date: new Date().toISOString(),
    quick,
    sizes: SIZES,
    memory: {},
    redis: {},
  };
  try {
    for (const kind of ["memory", "redis"]) {
      const prefix = `bench:bus:${kind}:`;
      const peer = await startPeer();
      await peer.ask({ op: "bus", kind, url: redis.url, prefix });
      const bus = kind === "memory" ? new InMemoryServerEventBus() : new RedisServerEventBus({ url: redis.url, prefix });
      if (kind === "redis") await readyBus(bus);
      const r = results[kind];
      process.stdout.write(`[${kind}] local latency, throughput... `);
      r.localLatencyUs = localLatency(bus, SIZES.latency * 10);
      r.localThroughput = localThroughput(bus, SIZES.throughput);
      if (kind === "redis") {
        // Let the local runs' appends land before the cross-process ones.
        while (bus.stats().outboxEvents > 0) await sleep(10);
        await sleep(200);
      }
      process.stdout.write("cross-process latency... ");
      r.crossLatencyUs = await crossLatency(bus, peer, SIZES.latency, kind);
      process.stdout.write("cross-process events/s... ");
      const before = kind === "redis" ? await commandstats(admin) : null;
      // The control never delivers: a short wait says so.
      r.crossThroughput = await crossThroughput(bus, peer, SIZES.throughput, kind === "memory" ? 3000 : 60_000);
      if (kind === "redis") {
        const d = delta(before, await commandstats(admin));
        r.crossThroughput.commands = d;
        r.crossThroughput.eventsPerScript = SIZES.throughput / (d.evalsha || d.eval || 1);
      }
      process.stdout.write("fan-out...\n");
      r.fanout = await fanout(bus, peer, SIZES.fanout, SIZES.fanoutRuns);
      if (kind === "redis") {
        // What one publish costs Redis when nothing else is in flight (no batching).
        const s0 = await commandstats(admin);
        for (let i = 0; i < 200; i++) {
          const before = bus.stats().eventsAppended;
          bus.publish(EVENT(i));
          while (bus.stats().eventsAppended === before) await sleep(1);
        }
        const d = delta(s0, await commandstats(admin));
        delete d.info;
        r.perPublish = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v / 200]));
        // Memory of the retained log: fill it to the retention count with the bench event.
        for (let i = 0; i < SIZES.retained; i++) bus.publish(EVENT(i));
        while (bus.stats().outboxEvents > 0) await sleep(10);
        const key = `{${prefix}}log`;
        const len = Number(await admin.sendCommand(["XLEN", key]));
        const bytes = Number(await admin.sendCommand(["MEMORY", "USAGE", key, "SAMPLES", "0"]));
        r.retention = { xlen: len, bytes, bytesPerEvent: bytes / len, eventJsonBytes: JSON.stringify(EVENT(1)).length };
        // Idle: both processes' buses alive, nothing published.
        process.stdout.write(`[redis] idle window ${SIZES.idleSec} s...\n`);
        await sleep(1000);
        const i0 = Number(/total_commands_processed:(\d+)/.exec(await admin.info("stats"))[1]);
        await sleep(SIZES.idleSec * 1000);
        const i1 = Number(/total_commands_processed:(\d+)/.exec(await admin.info("stats"))[1]);
        const commands = i1 - i0 - 1; // less the first INFO itself
        r.idle = { seconds: SIZES.idleSec, processes: 2, commands, commandsPerSecPerProcess: commands / SIZES.idleSec / 2 };
        r.stats = { publisher: bus.stats(), peer: (await peer.ask({ op: "stats" }, "stats")).stats };
        r.lostOrDropped = r.stats.publisher.outboxDropped + r.stats.peer.eventsLost;
        await bus.close();
      } else {
        r.idle = { commandsPerSecPerProcess: 0, note: "no Redis" };
      }
      await peer.ask({ op: "close" }, "closed");
    }
  } finally {
    await admin.quit().catch(() => {});
    await redis.stop();
  }
  const m = results.memory;
  const x = results.redis;
  const f = (v, d = 1) => (v === undefined || v === null || Number.isNaN(v) ? "-" : Number(v).toFixed(d));
  const rows = [
    ["publish → listener, same process, p50 / p99 (µs)", `${f(m.localLatencyUs.p50, 2)} / ${f(m.localLatencyUs.p99, 2)}`, `${f(x.localLatencyUs.p50, 2)} / ${f(x.localLatencyUs.p99, 2)}`],
    ["events/s to one listener, same process", f(m.localThroughput.eventsPerSec, 0), f(x.localThroughput.eventsPerSec, 0)],
    ["publish → listener, other process, p50 / p99 (µs)", m.crossLatencyUs.delivered ? "?" : "never delivered", `${f(x.crossLatencyUs.p50, 0)} / ${f(x.crossLatencyUs.p99, 0)}`],
    ["events/s, other process", m.crossThroughput.delivered ? "?" : "never delivered", f(x.crossThroughput.eventsPerSec, 0)],
    [`1 event → ${SIZES.fanout} listeners (half in each process), ms`, m.fanout.delivered ? "?" : `other half never (local half ${f(m.fanout.localMs, 2)})`, `${f(x.fanout.allMs, 2)} (local half ${f(x.fanout.localMs, 2)})`],
    ["idle Redis commands/s per process", "0", f(x.idle.commandsPerSecPerProcess, 3)],
    ["Redis commands per publish (alone)", "0", Object.entries(x.perPublish).map(([k, v]) => `${k} ${f(v, 2)}`).join(", ")],
    ["events per append script in a burst", "-", f(x.crossThroughput.eventsPerScript, 0)],
    ["events dropped or lost in the whole run", "-", f(x.lostOrDropped, 0)],
    ["Redis memory per retained event (bytes)", "-", `${f(x.retention.bytesPerEvent, 0)} (event JSON ${x.retention.eventJsonBytes} B, ${x.retention.xlen} kept)`],
  ];
  console.log("\n| measure | InMemoryServerEventBus | RedisServerEventBus |\n|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  results.table = rows;
  const outFlag = process.argv.indexOf("--out");
  const out = outFlag > 0 ? path.resolve(process.argv[outFlag + 1]) : path.join(ROOT, "bench", "results", quick ? "bus-quick.json" : "bus.json");
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
  console.log(`\nwrote ${path.relative(ROOT, out)}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
