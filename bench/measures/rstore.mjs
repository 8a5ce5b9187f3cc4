// RedisSessionStore: concurrent set/get throughput, sequential get latency, keys() over many sessions.
import { sid, meta, median, percentile, nowMs, sleep } from "../lib/common.mjs";
import { sessionStore, resetRedis } from "../lib/impl-redis.mjs";

export async function ops(impl, cfg) {
  await resetRedis(cfg.redisUrl);
  const { store } = await sessionStore(impl, cfg.redisUrl);
  const N = cfg.sessions.redisConcurrent;
  const ids = Array.from({ length: N }, (_, i) => sid(i));
  const metas = ids.map((_, i) => meta(i));
  // warm-up
  await Promise.all(ids.slice(0, 2000).map((id, i) => store.set(id, metas[i])));
  await Promise.all(ids.slice(0, 2000).map((id) => store.get(id)));
  const setOps = [], getOps = [];
  for (let r = 0; r < cfg.reps.redisConcurrent; r++) {
    await sleep(50);
    let t = nowMs();
    await Promise.all(ids.map((id, i) => store.set(id, metas[i])));
    setOps.push(N / ((nowMs() - t) / 1000));
    await sleep(50);
    t = nowMs();
    const got = await Promise.all(ids.map((id) => store.get(id)));
    getOps.push(N / ((nowMs() - t) / 1000));
    if (got.some((g) => !g || typeof g.lastAccessedAt !== "number")) throw new Error("get returned a bad value");
  }
  // sequential get latency
  const M = cfg.reps.redisSeqGet;
  for (let i = 0; i < 1000; i++) await store.get(ids[i % N]);
  const lat = [];
  for (let i = 0; i < M; i++) {
    const s = nowMs();
    await store.get(ids[(i * 7) % N]);
    lat.push(nowMs() - s);
  }
  return {
    setOpsPerSec: median(setOps), getOpsPerSec: median(getOps), setOps, getOps,
    seqGetP50Ms: percentile(lat, 50), seqGetP99Ms: percentile(lat, 99), seqGets: M,
  };
}

/** keys() over N sessions: total time, and the longest single SCAN/KEYS command (SLOWLOG). */
export async function keys(impl, cfg) {
  const admin = await resetRedis(cfg.redisUrl);
  const N = cfg.sessions.redisKeys;
  const value = JSON.stringify(meta(0));
  for (let i = 0; i < N; i += 10_000) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 10_000); j++) batch.push(admin.set(`mcp:session:${sid(j)}`, value, { EX: 3600 }));
    await Promise.all(batch);
  }
  // unrelated keys in the same database, as a shared Redis has
  for (let i = 0; i < 1000; i++) await admin.set(`other:${i}`, "x");
  const { store } = await sessionStore(impl, cfg.redisUrl);
  await store.has(sid(0)); // connection up
  await admin.sendCommand(["CONFIG", "SET", "slowlog-max-len", "1000000"]);
  await admin.sendCommand(["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
  await admin.sendCommand(["SLOWLOG", "RESET"]);
  let t = nowMs();
  const k = await store.keys();
  const firstMs = nowMs() - t;
  const log = await admin.sendCommand(["SLOWLOG", "GET", "1000000"]);
  await admin.sendCommand(["CONFIG", "SET", "slowlog-log-slower-than", "10000"]);
  if (k.length !== N || new Set(k).size !== N) throw new Error(`keys() returned ${k.length} (${new Set(k).size} distinct), expected ${N}`);
  let longestUs = 0, scanCalls = 0;
  const cmds = {};
  for (const e of log) {
    const name = String(e[3][0]).toUpperCase();
    cmds[name] = (cmds[name] || 0) + 1;
    if (name === "SCAN" || name === "KEYS") { scanCalls++; longestUs = Math.max(longestUs, Number(e[2])); }
  }
  const times = [firstMs];
  for (let r = 1; r < cfg.reps.redisKeys; r++) {
    await sleep(50);
    t = nowMs();
    await store.keys();
    times.push(nowMs() - t);
  }
  return { totalMs: median(times), times, longestCommandMs: longestUs / 1000, scanOrKeysCommands: scanCalls, slowlogCommands: cmds, sessions: N };
}
