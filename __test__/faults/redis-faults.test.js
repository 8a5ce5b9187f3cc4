"use strict";
// Reliability of the Redis classes: redis-server crashing under load, a crashed instance's
// leftovers, and slow consumers (also for InMemoryStreamManager, which shares the policy).
const { spawn } = require("node:child_process");
const path = require("node:path");
const { createClient } = __nodeRequire("redis");
const native = __nodeRequire(require.resolve("../.."));
// The addon's promises live in Node's main realm: listen on the real process object.
const realProcess = __nodeRequire("node:process");
const { describeRedis, redisUrl, uniquePrefix, stopRedis, startRedis } = require("../helpers/redis");
const { openStream, waitFor, sleep } = require("../redis/streams");
const { expectRejection } = require("../helpers/errors");

const ADDON = require.resolve("../..");
const INSTANCE = path.join(__dirname, "..", "fixtures", "faults-redis-instance.js");

/** A stream nobody reads: its queue only grows. */
function stuckStream() {
  let controller;
  const stream = new ReadableStream({ start(c) { controller = c; } });
  return { controller, reader: stream.getReader() };
}

/** Collects unhandled rejections and uncaught exceptions of the process while installed. */
function watchProcess() {
  const seen = [];
  const onRejection = (reason) => seen.push(`unhandledRejection: ${reason && reason.stack ? reason.stack : reason}`);
  const onException = (err) => seen.push(`uncaughtException: ${err && err.stack ? err.stack : err}`);
  realProcess.on("unhandledRejection", onRejection);
  realProcess.on("uncaughtException", onException);
  return {
    seen,
    stop() {
      realProcess.off("unhandledRejection", onRejection);
      realProcess.off("uncaughtException", onException);
    },
  };
}

describeRedis(
  "fault: redis-server killed and restarted under load",
  () => {
    test("ops fail naming Redis within the bound, nothing unhandled, and everything works again by itself", async () => {
      const TIMEOUT = 1000;
      const url = redisUrl();
      const prefix = uniquePrefix("load");
      const store = new native.RedisSessionStore({ url, prefix: `${prefix}s:`, commandTimeoutMs: TIMEOUT });
      const holder = new native.RedisStreamManager({ url, prefix, heartbeatInterval: 1, commandTimeoutMs: TIMEOUT });
      const sender = new native.RedisStreamManager({ url, prefix, heartbeatInterval: 1, commandTimeoutMs: TIMEOUT });
      const watch = watchProcess();
      const a = openStream();
      const b = openStream();
      const l = openStream();
      const ops = [];
      let timer = null;
      try {
        // Streams created BEFORE the outage.
        await holder.create("a", a.controller);
        await holder.create("b", b.controller);
        await holder.create("l", l.controller);
        await sender.send(["a", "b"], "before");
        await waitFor(() => a.received.includes("before") && b.received.includes("before"), "delivery before the outage");

        // Load: every 5 ms a set, a get and a send (a few hundred ops/s), none awaited.
        let n = 0;
        const issue = (kind, fn) => {
          const op = { kind, start: Date.now(), end: null, ok: null, value: undefined, error: null };
          ops.push(op);
          fn().then(
            (v) => Object.assign(op, { end: Date.now(), ok: true, value: v }),
            (e) => Object.assign(op, { end: Date.now(), ok: false, error: e }),
          );
        };
        timer = setInterval(() => {
          const i = n++;
          issue("set", () => store.set(`k${i % 64}`, { lastAccessedAt: Date.now(), i }));
          issue("get", () => store.get(`k${i % 64}`));
          issue("send", () => sender.send(["l"], `load ${i}\n`));
        }, 5);

        await sleep(1500);
        await stopRedis("SIGKILL");
        const downConfirmed = Date.now(); // the port refuses connections from here
        await sleep(3000);
        const upStart = Date.now();
        await startRedis();

        // No caller action: the same objects, the same calls.
        let k = 0;
        await waitFor(async () => {
          const tag = `after ${k++}`;
          await sender.send(["a", "b"], tag).catch(() => {});
          await sleep(50);
          return a.received.includes(tag) && b.received.includes(tag);
        }, "pub/sub delivery to streams created before the outage", 20_000);
        await waitFor(async () => {
          try {
            await store.set("probe", { lastAccessedAt: 1 });
            return (await store.get("probe")) !== null;
          } catch {
            return false;
          }
        }, "the store to work again", 20_000);
        const recovered = Date.now();
        await sleep(1500);
        clearInterval(timer);
        timer = null;
        await waitFor(() => ops.every((o) => o.end !== null), "every operation to settle", 5 * TIMEOUT + 5000);

        // Redis lost everything (no persistence): the availability keys are back too.
        await waitFor(() => holder.has("b"), "availability restored after the restart", 10_000);
        // Broadcast works again too (the active set was rebuilt).
        await waitFor(async () => {
          await sender.send(undefined, "broadcast").catch(() => {});
          await sleep(50);
          return a.received.includes("broadcast") && b.received.includes("broadcast");
        }, "broadcast after the restart", 10_000);

        watch.stop();
        const rejected = ops.filter((o) => !o.ok);
        const slowest = Math.max(...ops.map((o) => o.end - o.start));
        const outage = ops.filter((o) => o.start >= downConfirmed && o.end <= upStart);
        const after = ops.filter((o) => o.start >= recovered);
        const summary = {
          ops: ops.length,
          opsPerSecond: Math.round(ops.length / ((ops.at(-1).start - ops[0].start) / 1000)),
          rejected: rejected.length,
          outageOps: outage.length,
          afterOps: after.length,
          slowestMs: slowest,
        };
        console.log(`[faults] redis SIGKILL under load: ${JSON.stringify(summary)}`);

        expect(watch.seen).toEqual([]);
        // Liveness: every operation settled within 5x commandTimeoutMs.
        expect(slowest).toBeLessThanOrEqual(5 * TIMEOUT);
        // Failures name Redis.
        const badErrors = rejected.filter((o) => !(o.error && o.error.name === "Error" && /Redis/.test(o.error.message)));
        expect(badErrors.map((o) => `${o.kind}: ${o.error && o.error.name}: ${o.error && o.error.message}`)).toEqual([]);
        // During the outage: writes and sends rejected, reads fell back to null (as mcp-use).
        expect(outage.length).toBeGreaterThan(100);
        const outageWrong = outage.filter((o) => (o.kind === "get" ? !(o.ok && o.value === null) : o.ok));
        expect(outageWrong.map((o) => `${o.kind} ok=${o.ok} value=${JSON.stringify(o.value)}`)).toEqual([]);
        // After recovery: every operation succeeds, gets see the data again.
        expect(after.length).toBeGreaterThan(100);
        expect(after.filter((o) => !o.ok).map((o) => `${o.kind}: ${o.error.message}`)).toEqual([]);
        expect(after.filter((o) => o.kind === "get" && o.value !== null).length).toBeGreaterThan(0);
        // The load stream, created before the outage, receives the sends made after it.
        const lastLoad = after.filter((o) => o.kind === "send").length;
        expect(lastLoad).toBeGreaterThan(0);
        await waitFor(() => l.received.join("").includes(`load ${n - 1}\n`), "the last load message on the pre-outage stream");
        expect([a.closed, b.closed, l.closed, a.error, b.error, l.error]).toEqual([false, false, false, null, null, null]);
      } finally {
        if (timer) clearInterval(timer);
        watch.stop();
        await startRedis();
        await Promise.allSettled([holder.close(), sender.close(), store.close()]);
      }
    }, 90_000);
  },
  { needsControl: true },
);

describeRedis("fault: an instance killed with SIGKILL leaves ids in the active set", () => {
  let client;
  let sub;
  beforeAll(async () => {
    client = createClient({ url: redisUrl() });
    await client.connect();
  });
  afterAll(async () => {
    await client.quit();
  });
  afterEach(async () => {
    if (sub) await sub.quit().catch(() => {});
    sub = null;
  });

  /** Starts the doomed instance holding `ids`; resolves its child process once READY. */
  async function startDoomed(prefix, ids) {
    const child = spawn(process.execPath, [INSTANCE, ADDON, redisUrl(), prefix, ...ids], {
      env: { ...process.env, MCP_SESSIONS_LOG: "off" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.exitedP = new Promise((r) => child.on("close", (code, signal) => r({ code, signal })));
    let out = "";
    await new Promise((resolve, reject) => {
      child.stdout.on("data", (d) => ((out += d), out.includes("READY") && resolve()));
      child.exitedP.then((e) => reject(new Error(`doomed instance exited: ${JSON.stringify(e)} ${out}`)));
    });
    return child;
  }

  /**
   * A raw listener on the dead ids' channels: records anything published there. Pattern
   * subscriptions (the channel names glob-escaped), because a plain subscriber would count as
   * a live holder of those sessions (PUBSUB NUMSUB) and keep their keys.
   */
  async function listenOn(channels) {
    const got = [];
    sub = client.duplicate();
    await sub.connect();
    await sub.pSubscribe(channels.map((c) => c.replace(/[*?[\]\\]/g, "\\$&")), (message, channel) => got.push({ channel, message }));
    return got;
  }

  const dead = Array.from({ length: 8 }, (_, i) => `dead-${i}`);
  const live = ["live-0", "live-1"];

  test("the survivor's heartbeat prunes the dead ids; broadcasts no longer publish to them", async () => {
    const prefix = uniquePrefix("crash");
    const survivor = new native.RedisStreamManager({ url: redisUrl(), prefix, heartbeatInterval: 1 });
    const streams = live.map(() => openStream());
    const child = await startDoomed(prefix, dead);
    try {
      for (let i = 0; i < live.length; i++) await survivor.create(live[i], streams[i].controller);
      expect((await client.sMembers(`${prefix}active`)).sort()).toEqual([...dead, ...live].sort());
      const got = await listenOn(dead.map((id) => `${prefix}${id}`));

      // Control: while the instance lives, a broadcast does publish on its channels.
      await survivor.send(undefined, "while-alive");
      await waitFor(() => got.length === dead.length, "the control broadcast on the dead-to-be channels");

      child.kill("SIGKILL");
      expect((await child.exitedP).signal).toBe("SIGKILL");
      // Its heartbeat lapses; the survivor removes its sessions' availability keys and
      // active-set entries.
      await waitFor(async () => (await client.exists(dead.map((id) => `available:${prefix}${id}`))) === 0, "the dead availability keys to be removed");
      await waitFor(async () => (await client.sMembers(`${prefix}active`)).sort().join() === live.join(), "the active set to shrink to the live ids", 15_000);

      got.length = 0;
      await survivor.send(undefined, "after-prune");
      await waitFor(() => streams.every((s) => s.received.includes("after-prune")), "broadcast to the live streams");
      await sleep(300);
      expect(got).toEqual([]);
      expect((await client.sMembers(`${prefix}active`)).sort()).toEqual(live);
    } finally {
      child.kill("SIGKILL");
      await survivor.close();
    }
  }, 40_000);

  test("before any heartbeat prune, the broadcast itself skips and drops ids whose availability key expired", async () => {
    const prefix = uniquePrefix("crash-bc");
    // Heartbeat 30 s: the survivor notices the death 45 s later, far beyond this test.
    const survivor = new native.RedisStreamManager({ url: redisUrl(), prefix, heartbeatInterval: 30 });
    const streams = live.map(() => openStream());
    const child = await startDoomed(prefix, dead);
    try {
      for (let i = 0; i < live.length; i++) await survivor.create(live[i], streams[i].controller);
      const got = await listenOn(dead.map((id) => `${prefix}${id}`));
      child.kill("SIGKILL");
      await child.exitedP;
      // The keys expire, as a dead mcp-use instance's do two intervals after its death (ours
      // are removed by the survivors instead; here nobody has noticed yet).
      await client.del(dead.map((id) => `available:${prefix}${id}`));
      // Precondition: nothing pruned yet, the dead ids are still listed.
      expect((await client.sMembers(`${prefix}active`)).sort()).toEqual([...dead, ...live].sort());

      await survivor.send(undefined, "broadcast");
      await waitFor(() => streams.every((s) => s.received.includes("broadcast")), "broadcast to the live streams");
      await sleep(300);
      expect(got).toEqual([]);
      expect((await client.sMembers(`${prefix}active`)).sort()).toEqual(live);
    } finally {
      child.kill("SIGKILL");
      await survivor.close();
    }
  }, 40_000);
});

describe("fault: a slow consumer does not make InMemoryStreamManager buffer without bound", () => {
  test("a stream that leaves 1024 chunks unread is errored and dropped; a read stream is unaffected", async () => {
    const m = new native.InMemoryStreamManager();
    const stuck = stuckStream();
    const reader = openStream();
    await m.create("stuck", stuck.controller);
    await m.create("live", reader.controller);
    for (let i = 0; i < 1000; i++) await m.send(undefined, `m${i}\n`);
    // Not dropped early: 1000 unread chunks are still within the limit.
    expect(m.size).toBe(2);
    expect(stuck.controller.desiredSize).toBe(1 - 1000);
    for (let i = 1000; i < 1100; i++) await m.send(undefined, `m${i}\n`);
    expect(m.size).toBe(1);
    expect([await m.has("stuck"), await m.has("live")]).toEqual([false, true]);
    // The backlog was discarded: the reader gets the error, not 1024 stale chunks.
    await expectRejection(stuck.reader.read(), "Error", /did not read 1024/);
    expect(stuck.controller.desiredSize).toBeNull(); // errored
    // More sends to the dropped id buffer nothing.
    for (let i = 0; i < 2000; i++) await m.send(["stuck"], "x");
    expect(m.size).toBe(1);
    await waitFor(() => reader.received.length === 1100, "all 1100 messages on the read stream");
    expect(reader.received.join("")).toBe(Array.from({ length: 1100 }, (_, i) => `m${i}\n`).join(""));
    expect([reader.closed, reader.error]).toEqual([false, null]);
    await m.close();
  });
});

describeRedis("fault: a slow consumer does not make RedisStreamManager buffer without bound", () => {
  test("a stream that leaves 1024 chunks unread is errored and dropped (locally and from Redis); a read stream is unaffected", async () => {
    const url = redisUrl();
    const prefix = uniquePrefix("slow");
    const m = new native.RedisStreamManager({ url, prefix, heartbeatInterval: 1 });
    const other = new native.RedisStreamManager({ url, prefix, heartbeatInterval: 1 });
    const client = createClient({ url });
    await client.connect();
    const stuck = stuckStream();
    const reader = openStream();
    try {
      await m.create("stuck", stuck.controller);
      await m.create("live", reader.controller);
      // Sent from another instance: the chunks arrive through pub/sub.
      for (let i = 0; i < 1000; i++) await other.send(["stuck", "live"], `m${i}\n`);
      await waitFor(() => reader.received.length === 1000, "1000 messages on the read stream");
      expect(m.localSize).toBe(2);
      for (let i = 1000; i < 1100; i++) await other.send(["stuck", "live"], `m${i}\n`);
      await waitFor(() => m.localSize === 1, "the stuck stream to be dropped");
      await expectRejection(stuck.reader.read(), "Error", /did not read 1024/);
      await waitFor(async () => !(await m.has("stuck")), "the dropped stream to leave Redis (availability key)");
      expect(Number(await client.sIsMember(`${prefix}active`, "stuck"))).toBe(0);
      expect(await m.has("live")).toBe(true);
      await waitFor(() => reader.received.length === 1100, "all 1100 messages on the read stream");
      expect(reader.received.join("")).toBe(Array.from({ length: 1100 }, (_, i) => `m${i}\n`).join(""));
      expect([reader.closed, reader.error]).toEqual([false, null]);
    } finally {
      await client.quit();
      await Promise.allSettled([m.close(), other.close()]);
    }
  }, 30_000);
});
