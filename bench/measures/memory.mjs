// InMemorySessionStore: op throughput, heap / GC with 1M sessions, setWithTTL timers and lateness.
import { PerformanceObserver } from "node:perf_hooks";
import { createHook } from "node:async_hooks";
import { loadImpl, sid, meta, median, percentile, nowMs, sleep, immediate, gcFull } from "../lib/common.mjs";

/** Sequential awaited set / get / has loops (the way MCPServer calls them), after a warm-up. */
export async function ops(impl, cfg) {
  const { InMemorySessionStore } = await loadImpl(impl);
  const store = new InMemorySessionStore();
  const K = 10_000, N = cfg.sessions.memOps;
  const ids = Array.from({ length: K }, (_, i) => sid(i));
  const m = meta(1);
  const loops = {
    set: async (n) => { for (let i = 0; i < n; i++) await store.set(ids[i % K], m); },
    get: async (n) => { for (let i = 0; i < n; i++) await store.get(ids[i % K]); },
    has: async (n) => { for (let i = 0; i < n; i++) await store.has(ids[(i * 3) % (2 * K)] ?? "missing"); },
  };
  for (const f of Object.values(loops)) await f(Math.min(50_000, N));
  const res = { set: [], get: [], has: [] };
  for (let r = 0; r < cfg.reps.memOps; r++) {
    for (const [name, f] of Object.entries(loops)) {
      gcFull();
      const t = nowMs();
      await f(N);
      res[name].push(N / ((nowMs() - t) / 1000));
    }
  }
  return { setOpsPerSec: median(res.set), getOpsPerSec: median(res.get), hasOpsPerSec: median(res.has), all: res, opsPerLoop: N };
}

/** 1M sessions: V8 heap used (after GC, minus baseline), then the longest GC pause during churn. */
export async function heap(impl, cfg) {
  const { InMemorySessionStore } = await loadImpl(impl);
  const N = cfg.sessions.memHeap;
  const C = cfg.sessions.memChurn;
  const now = Date.now();
  gcFull();
  const base = process.memoryUsage();
  const store = new InMemorySessionStore();
  const t0 = nowMs();
  for (let i = 0; i < N; i++) await store.set(sid(i), meta(i, now));
  const fillMs = nowMs() - t0;
  if (store.size !== N) throw new Error(`size ${store.size}`);
  gcFull();
  await sleep(50);
  gcFull();
  const after = process.memoryUsage();
  // Churn: delete the oldest session, add a new one; the store stays at N sessions.
  const gcs = [];
  const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcs.push(e.duration); });
  obs.observe({ entryTypes: ["gc"] });
  const t1 = nowMs();
  for (let i = 0; i < C; i++) {
    await store.delete(sid(i));
    await store.set(sid(N + i), meta(N + i, now));
    if (i % 20_000 === 0) await immediate(); // let the observer's callbacks run
  }
  const churnMs = nowMs() - t1;
  await sleep(20);
  obs.disconnect();
  if (store.size !== N) throw new Error(`size after churn ${store.size}`);
  return {
    heapMB: (after.heapUsed - base.heapUsed) / 1e6,
    rssMB: (after.rss - base.rss) / 1e6,
    externalMB: (after.external - base.external) / 1e6,
    maxGcPauseMs: gcs.length ? Math.max(...gcs) : 0,
    p99GcPauseMs: percentile(gcs, 99), gcCount: gcs.length, gcTotalMs: gcs.reduce((a, b) => a + b, 0),
    fillMs, churnMs, sessions: N, churnOps: C,
  };
}

/** N setWithTTL: JS timers created, and how late each session disappears after its deadline.
 * Deadlines are spread over one second; a setImmediate loop polls `size`; since both
 * implementations expire in deadline order, the k-th drop of `size` is the k-th earliest
 * deadline's expiry, so lateness_k = (time size first fell to N-k) - deadline_k. */
export async function ttl(impl, cfg) {
  const { InMemorySessionStore } = await loadImpl(impl);
  const store = new InMemorySessionStore();
  const N = cfg.sessions.ttl;
  const m = meta(1);
  let timeouts = 0;
  const hook = createHook({ init(_id, type) { if (type === "Timeout") timeouts++; } });
  const deadlines = new Float64Array(N);
  const BASE = 1500, SPREAD = 1000;
  hook.enable();
  for (let i = 0; i < N; i++) {
    const ttlMs = BASE + Math.floor((i * SPREAD) / N);
    deadlines[i] = nowMs() + ttlMs;
    await store.setWithTTL(sid(i), m, ttlMs);
  }
  hook.disable();
  if (store.size !== N) throw new Error(`size ${store.size} before expiry (setup took too long?)`);
  deadlines.sort();
  const expiredAt = new Float64Array(N).fill(NaN);
  let expired = 0;
  const giveUp = deadlines[N - 1] + 10_000;
  while (expired < N && nowMs() < giveUp) {
    await immediate();
    const t = nowMs();
    const gone = N - store.size;
    while (expired < gone) expiredAt[expired++] = t;
  }
  const late = [];
  for (let k = 0; k < N; k++) late.push(Number.isNaN(expiredAt[k]) ? Infinity : Math.max(0, expiredAt[k] - deadlines[k]));
  return {
    jsTimers: timeouts, sessions: N, expired,
    latenessP50Ms: percentile(late, 50), latenessP99Ms: percentile(late, 99), latenessMaxMs: percentile(late, 100),
  };
}
