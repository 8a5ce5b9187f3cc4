// The cost of store-and-forward on RedisStreamManager's send path, in one run:
//
//   node bench/pending.mjs [--sends 4000] [--reps 5]
//
// Variants: the addon as shipped (store-and-forward on), the addon with `pendingTtl: 0`
// (plain PUBLISH, mcp-use's behaviour), and mcp-use's own class. Two cases:
//   live     targeted sends to sessions whose stream another manager holds (the common case:
//            the message is received, nothing is kept);
//   no-stream targeted sends to sessions with no stream anywhere (the addon keeps each one).
// Each measure: `--sends` sends, 64 in flight at a time (independent tool calls), sends/s.
// Variants are interleaved per repetition and the median is reported; on a shared machine
// only the ratios within one run mean anything. Results: stdout and results/pending.json.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadImpl, sid, SSE, median, nowMs, sleep, countingController } from "./lib/common.mjs";
import { startRedis, nodeRedis } from "./lib/redis.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
// loadImpl("ref") silences console.log (mcp-use logs on every create): print directly.
const print = (line = "") => process.stdout.write(`${line}\n`);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SENDS = arg("sends", 4000);
const REPS = arg("reps", 5);
const SESSIONS = 200;
const IN_FLIGHT = 64;

const redis = await startRedis();
const addon = await loadImpl("addon");
const ref = await loadImpl("ref");
const clients = [];
async function manager(impl, opts = {}) {
  const client = await nodeRedis(redis.url);
  const pubSubClient = await nodeRedis(redis.url);
  clients.push(client, pubSubClient);
  return new impl.RedisStreamManager({ client, pubSubClient, ...opts });
}

// One holder of the live streams (the addon; the same for every variant).
let delivered = 0;
const holder = await manager(addon);
const live = Array.from({ length: SESSIONS }, (_, i) => sid(i, 0x11));
for (const id of live) await holder.create(id, countingController(() => delivered++));
const absent = Array.from({ length: SESSIONS }, (_, i) => sid(i, 0x22));

const variants = {
  "addon (store-and-forward)": await manager(addon),
  "addon (pendingTtl: 0)": await manager(addon, { pendingTtl: 0 }),
  "mcp-use": await manager(ref),
};

async function run(mgr, ids) {
  let next = 0;
  const t0 = nowMs();
  const worker = async () => {
    while (next < SENDS) {
      const i = next++;
      await mgr.send([ids[i % ids.length]], SSE);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return SENDS / ((nowMs() - t0) / 1000);
}

const admin = await nodeRedis(redis.url);
const results = {};
for (const [caseName, ids] of [["live", live], ["no-stream", absent]]) {
  const samples = Object.fromEntries(Object.keys(variants).map((v) => [v, []]));
  for (let rep = 0; rep < REPS + 1; rep++) {
    const order = Object.keys(variants);
    if (rep % 2) order.reverse();
    for (const v of order) {
      const rate = await run(variants[v], ids);
      if (rep > 0) samples[v].push(rate); // rep 0 warms up
      for (const id of absent) await admin.del([`mcp:stream:pending:${id}`, `mcp:stream:pending-bytes:${id}`]);
      await sleep(50);
    }
  }
  results[caseName] = Object.fromEntries(Object.entries(samples).map(([v, s]) => [v, { sendsPerSec: Math.round(median(s)), samples: s.map(Math.round) }]));
}

const base = "addon (pendingTtl: 0)";
print(`\nRedisStreamManager.send, ${SENDS} targeted sends, ${IN_FLIGHT} in flight, median of ${REPS}\n`);
print(`| case | ${Object.keys(variants).join(" | ")} | store-and-forward / off |`);
print(`|---|${Object.keys(variants).map(() => "---:").join("|")}|---:|`);
for (const [c, r] of Object.entries(results)) {
  const ratio = r["addon (store-and-forward)"].sendsPerSec / r[base].sendsPerSec;
  results[c].ratioOnOff = Number(ratio.toFixed(3));
  print(`| ${c} | ${Object.keys(variants).map((v) => `${r[v].sendsPerSec.toLocaleString("en")}/s`).join(" | ")} | ${ratio.toFixed(2)}x |`);
}
print(`\nstats of the store-and-forward sender: ${JSON.stringify(variants["addon (store-and-forward)"].pendingStats())}`);

fs.mkdirSync(path.join(HERE, "results"), { recursive: true });
fs.writeFileSync(path.join(HERE, "results", "pending.json"), JSON.stringify({ date: new Date().toISOString(), sends: SENDS, inFlight: IN_FLIGHT, reps: REPS, delivered, results }, null, 2) + "\n");

await Promise.allSettled([holder, ...Object.values(variants)].map((m) => m.close()));
await Promise.allSettled([admin, ...clients].map((c) => c.quit()));
await redis.stop();
