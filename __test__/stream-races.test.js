"use strict";
// Races and bounds of the stream managers at the bindings level (found in review; each test
// failed before its fix). The core-level ones are in tests/stream_races.rs.
const native = __nodeRequire(require.resolve(".."));
const { FakeRedis } = require("./helpers/fake-redis");
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { openStream, sleep } = require("./redis/streams");

describe("stream managers: replaying kept messages into a fresh stream", () => {
  // More kept messages than MAX_BACKLOG (1024) are enqueued in one synchronous delivery: the
  // slow-consumer check errors the new stream, which discards every replayed chunk queued.
  test("InMemoryStreamManager: 1500 kept messages reach the next stream", async () => {
    const m = new native.InMemoryStreamManager({ pendingMaxMessages: 5000 });
    for (let i = 0; i < 1500; i++) await m.send(["s"], `m${i}`);
    const s = openStream();
    await m.create("s", s.controller);
    await sleep(300);
    expect(s.error).toBeNull();
    expect(s.received.length).toBe(1500);
  });

  describeRedis("RedisStreamManager", () => {
    test("1500 kept messages reach the next stream", async () => {
      const m = new native.RedisStreamManager({ url: redisUrl(), prefix: uniquePrefix("probe-bl"), pendingMaxMessages: 5000 });
      try {
        for (let i = 0; i < 1500; i++) await m.send(["s"], `m${i}`);
        const s = openStream();
        await m.create("s", s.controller);
        await sleep(1000);
        expect(s.error).toBeNull();
        expect(s.received.length).toBe(1500);
      } finally {
        await m.close();
      }
    });
  });
});

describe("stream managers: a re-create that fails in Redis", () => {
  // The client reopened its GET on the same instance; the core keeps the session local and
  // subscribed (it was local before), but the bindings drop the new, live controller: every
  // later message is received here and dropped.
  test("the live stream still gets messages from other instances", async () => {
    const world = new FakeRedis();
    const client = world.client("a");
    let fail = false;
    for (const name of ["set", "setEx", "setex"]) {
      const orig = client[name];
      client[name] = async (...args) => {
        if (fail) throw new Error("ETIMEDOUT (simulated)");
        return orig(...args);
      };
    }
    const a = new native.RedisStreamManager({ client, pubSubClient: world.client("a-sub") });
    const b = new native.RedisStreamManager({ client: world.client("b"), pubSubClient: world.client("b-sub") });
    const first = openStream();
    await a.create("s", first.controller);
    const second = openStream();
    fail = true;
    await expect(a.create("s", second.controller)).rejects.toThrow("ETIMEDOUT");
    fail = false;
    await b.send(["s"], "after");
    await sleep(200);
    expect({ localSize: a.localSize, received: second.received }).toEqual({ localSize: 1, received: ["after"] });
  });
});

describeRedis("stream managers: graceful close", () => {
  // close() closes the controllers at once and unsubscribes later: what reaches this instance
  // in between was received (so not kept) and is dropped.
  test("no message is lost when an instance closes while another sends", async () => {
    const prefix = uniquePrefix("probe-close");
    const a = new native.RedisStreamManager({ url: redisUrl(), prefix });
    const b = new native.RedisStreamManager({ url: redisUrl(), prefix });
    try {
      const first = openStream();
      await a.create("s", first.controller);
      let stop = false;
      let n = 0;
      const pump = (async () => {
        while (!stop) await Promise.all(Array.from({ length: 4 }, () => b.send(["s"], `${n++}`)));
      })();
      await sleep(30);
      await a.close();
      await sleep(30);
      stop = true;
      await pump;
      const second = openStream();
      await b.create("s", second.controller);
      await sleep(300);
      const got = new Set([...first.received, ...second.received]);
      const missing = [];
      for (let i = 0; i < n; i++) if (!got.has(String(i))) missing.push(i);
      expect(missing).toEqual([]);
    } finally {
      await b.close();
    }
  });
});
