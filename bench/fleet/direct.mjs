// One implementation, one fleet size, in a fresh `node --expose-gc` process, driven over IPC by
// bench/fleet.mjs:  node --expose-gc bench/fleet/direct.mjs <ref|addon>   (config in FLEET_CFG)
//
// Phases (each answered with a message to the parent):
//   create     N streams on one RedisStreamManager, concurrent in batches (as MCPServer's
//              independent GET requests), one counting controller per stream; memory per stream
//              after gc() against a baseline taken before the first create
//   cpu        process.cpuUsage() now (the parent brackets its idle window with two of these)
//   broadcast  send(undefined, data) until every controller's enqueue was called
//   delete     delete every stream, concurrent in batches
import { loadImpl, sid, SSE, nowMs, sleep, gcFull } from "../lib/common.mjs";
import { nodeRedis } from "../lib/redis.mjs";
import { probe } from "./probe.mjs";

const impl = process.argv[2];
const cfg = JSON.parse(process.env.FLEET_CFG || "{}");
const N = cfg.n;
const BATCH = cfg.batch;

const send = (msg) => new Promise((resolve) => process.send(msg, () => resolve()));
const fail = async (e) => { await send({ type: "error", error: String((e && e.stack) || e) }); process.exit(1); };
process.on("unhandledRejection", fail);

const { RedisStreamManager } = await loadImpl(impl);
const client = await nodeRedis(cfg.redisUrl);
const pubSubClient = await nodeRedis(cfg.redisUrl);
const mgr = new RedisStreamManager({ client, pubSubClient, heartbeatInterval: cfg.heartbeat });

// Ids and controllers exist before the baseline: the per-stream memory is what the manager adds.
const ids = Array.from({ length: N }, (_, i) => sid(i, 0xf1ee7));
const hits = new Uint32Array(N);
let delivered = 0, target = Infinity, onAll = null;
const controllers = ids.map((_, i) => ({
  desiredSize: 1,
  enqueue() { if (hits[i]++ === 0 && ++delivered >= target && onAll) { const r = onAll; onAll = null; r(); } },
  close() {}, error() {},
}));

async function inBatches(fn) {
  for (let i = 0; i < N; i += BATCH) {
    const end = Math.min(N, i + BATCH);
    const batch = [];
    for (let j = i; j < end; j++) batch.push(fn(j));
    await Promise.all(batch);
  }
}

const mem = () => { gcFull(); const m = process.memoryUsage(); return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }; };

const phases = {
  async create() {
    // Warm-up: connections up, code paths compiled; then gone.
    const warm = Array.from({ length: 20 }, (_, i) => sid(i, 0xeeee));
    for (const id of warm) await mgr.create(id, { enqueue() {}, close() {}, error() {}, desiredSize: 1 });
    for (const id of warm) await mgr.delete(id);
    await sleep(200);
    const m0 = mem();
    const t0 = nowMs();
    await inBatches((i) => mgr.create(ids[i], controllers[i]));
    const createMs = nowMs() - t0;
    await sleep(500);
    const m1 = mem();
    const per = (k) => (m1[k] - m0[k]) / N;
    return {
      createMs, createPerSec: N / (createMs / 1000),
      rssPerStream: per("rss"), heapPerStream: per("heapUsed"), externalPerStream: per("external"),
      memBefore: m0, memAfter: m1,
    };
  },
  async cpu() {
    return probe();
  },
  async broadcast() {
    delivered = 0; hits.fill(0); target = N;
    const all = new Promise((r) => { onAll = r; });
    const t0 = nowMs();
    await mgr.send(undefined, SSE);
    const sentMs = nowMs() - t0;
    let timer;
    await Promise.race([all, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`broadcast: ${delivered} of ${N} delivered after ${cfg.broadcastTimeoutMs} ms`)), cfg.broadcastTimeoutMs); })]);
    clearTimeout(timer);
    const broadcastMs = nowMs() - t0;
    await sleep(300);
    let dup = 0;
    for (let i = 0; i < N; i++) if (hits[i] > 1) dup += hits[i] - 1;
    return { broadcastMs, sendResolvedMs: sentMs, delivered, duplicates: dup };
  },
  async delete() {
    const t0 = nowMs();
    await inBatches((i) => mgr.delete(ids[i]));
    const deleteMs = nowMs() - t0;
    return { deleteMs, deletePerSec: N / (deleteMs / 1000) };
  },
  async exit() {
    setTimeout(() => process.exit(0), 10);
    return {};
  },
};

process.on("message", async (m) => {
  try {
    const result = await phases[m.op]();
    await send({ type: "done", op: m.op, result });
  } catch (e) { await fail(e); }
});
await send({ type: "ready", pid: process.pid });
