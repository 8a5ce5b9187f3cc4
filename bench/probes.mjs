// What a probe or a scrape costs: `stats()` and `health()` of each class, per call, against
// the plainest read each class has (`size`, `localSize` for RedisStreamManager,
// `listenerCount` for RedisServerEventBus; the RedisSessionStore has none, so its baseline is
// InMemorySessionStore's `size`), and `renderPrometheus` of a store and a manager.
// `node bench/probes.mjs` (needs the built addon and redis-server; the Redis classes talk to a
// private one). Each instance holds 1,000 sessions, streams or listeners and has served some
// traffic, so its counters and histograms are not empty. Sequential loops, ns per call, median of 5 rounds; on a shared machine only the
// ratios within one run mean anything. Results: stdout and results/probes.json;
// `--calls N` (default 50,000 per round) runs shorter and writes no results file.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadImpl, sid, SSE, median, countingController } from "./lib/common.mjs";
import { startRedis } from "./lib/redis.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const callsArg = process.argv.indexOf("--calls");
const N = callsArg > 0 ? Number(process.argv[callsArg + 1]) : 50_000;
if (!Number.isInteger(N) || N < 1) throw new RangeError("--calls must be a positive integer");
const print = (line = "") => process.stdout.write(`${line}\n`);

function nsPerCall(fn, n = N) {
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - t) / n);
  }
  return median(rounds);
}

const redis = await startRedis();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-bench-probes-"));
const addon = await loadImpl("addon");
const meta = { lastAccessedAt: Date.now(), clientInfo: { name: "bench", version: "1.0.0" } };
const rows = [];
try {
  const memory = new addon.InMemorySessionStore();
  const file = new addon.FileSystemSessionStore({ path: path.join(dir, "sessions.json") });
  const redisStore = new addon.RedisSessionStore({ url: redis.url });
  const memoryStreams = new addon.InMemoryStreamManager();
  const redisStreams = new addon.RedisStreamManager({ url: redis.url });
  const bus = new addon.RedisServerEventBus({ url: redis.url });
  for (let i = 0; i < 1000; i++) {
    bus.subscribe(() => {});
    await memory.set(sid(i), meta);
    await file.set(sid(i), meta);
    await redisStore.set(sid(i), meta);
    await memoryStreams.create(sid(i), countingController());
    await redisStreams.create(sid(i), countingController());
  }
  await file.flush();
  await memoryStreams.send([sid(1)], SSE);
  await redisStreams.send([sid(1)], SSE);
  await redisStore.ready({ timeoutMs: 5000 });
  await redisStreams.ready({ timeoutMs: 5000 });
  await bus.ready({ timeoutMs: 5000 });
  for (let i = 0; i < 100; i++) bus.publish({ kind: "resource_updated", uri: `bench://${i}` });
  while (bus.stats().outboxEvents > 0) await new Promise((r) => setTimeout(r, 10));

  const classes = [
    ["InMemorySessionStore", memory, () => memory.size],
    ["FileSystemSessionStore", file, () => file.size],
    ["RedisSessionStore", redisStore, () => memory.size],
    ["InMemoryStreamManager", memoryStreams, () => memoryStreams.size],
    ["RedisStreamManager", redisStreams, () => redisStreams.localSize],
    ["RedisServerEventBus", bus, () => bus.listenerCount],
  ];
  for (const [name, instance, plain] of classes) {
    const base = nsPerCall(plain);
    const stats = nsPerCall(() => instance.stats());
    const health = nsPerCall(() => instance.health());
    rows.push({ class: name, plainNs: base, statsNs: stats, healthNs: health, statsRatio: stats / base, healthRatio: health / base });
  }
  // A scrape's call: hundreds of times a plain read, so fewer of them.
  const render = nsPerCall(() => addon.renderPrometheus({ sessions: redisStore, streams: redisStreams }), Math.ceil(N / 100));
  rows.push({ class: "renderPrometheus({ sessions: RedisSessionStore, streams: RedisStreamManager })", renderNs: render });

  print(`node ${process.version}, ${os.cpus().length} cores, ${N} calls per round, median of 5 rounds`);
  print(`${"class".padEnd(24)} ${"plain read".padStart(11)} ${"stats()".padStart(10)} ${"health()".padStart(10)} ${"stats/plain".padStart(12)} ${"health/plain".padStart(13)}`);
  for (const r of rows.filter((r) => r.plainNs)) {
    const ns = (v, width) => `${v.toFixed(0)} ns`.padStart(width);
    const ratio = (v, width) => `${v.toFixed(1)}x`.padStart(width);
    print(
      `${r.class.padEnd(24)} ${ns(r.plainNs, 11)} ${ns(r.statsNs, 10)} ${ns(r.healthNs, 10)} ${ratio(r.statsRatio, 12)} ${ratio(r.healthRatio, 13)}`,
    );
  }
  print(`renderPrometheus of a RedisSessionStore and a RedisStreamManager: ${(render / 1000).toFixed(1)} µs per call`);
  if (callsArg < 0) {
    fs.mkdirSync(path.join(HERE, "results"), { recursive: true });
    fs.writeFileSync(
      path.join(HERE, "results", "probes.json"),
      `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: os.cpus().length, callsPerRound: N, rows }, null, 2)}\n`,
    );
  }

  await bus.close();
  await redisStreams.close();
  await redisStore.close();
  await memoryStreams.close();
} finally {
  await redis.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
