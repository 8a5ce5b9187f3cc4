"use strict";
// Races and bounds of the stream managers at the bindings level (found in review; each test
// failed before its fix). The core-level ones are in tests/stream_races.rs.
const native = __nodeRequire(require.resolve(".."));
const { FakeRedis } = require("./helpers/fake-redis");
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { openStream, sleep } = require("./redis/streams");
const { execFile } = require("node:child_process");
const path = require("node:path");

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

describeRedis("stream managers: a stream moving off a dead one", () => {
  // The soak's stream-move race (bench/soak/repro/stream-move-race.mjs): A holds a stream
  // whose client is gone, not yet found out (its enqueue throws); m1 is published while only A
  // listens; the client's new stream opens on B before A's JS thread gets to m1. A used to see
  // B listening and drop m1 as received there. Now B's take announces B's stream, A lets go of
  // its own at that marker (closing its controller) and hands m1 back, and B waits for it.
  const hold = (ms) => {
    const end = Date.now() + ms;
    while (Date.now() < end);
  };
  test("the message only the old stream received arrives first, each message once", async () => {
    const prefix = uniquePrefix("move");
    const opts = { url: redisUrl(), prefix };
    const [A, B, C] = [new native.RedisStreamManager(opts), new native.RedisStreamManager(opts), new native.RedisStreamManager(opts)];
    const received = [];
    const dead = { desiredSize: 1, enqueue() { throw new TypeError("Invalid state: Controller is already closed"); }, close() {}, error() {} };
    const live = { desiredSize: 1, enqueue(chunk) { received.push(Buffer.from(chunk).toString()); }, close() {}, error() {} };
    try {
      await A.create("s", dead);
      const sent = C.send(["s"], "m1");
      hold(50); // the PUBLISH runs; A's delivery of m1 waits for this thread
      const created = B.create("s", live); // B subscribes after m1 was published
      hold(50);
      await Promise.all([sent, created]);
      await C.send(["s"], "m2");
      for (let i = 0; i < 100 && received.length < 2; i++) await sleep(20);
      await sleep(200);
      expect(received).toEqual(["m1", "m2"]);
      expect(A.localSize).toBe(0);
    } finally {
      await Promise.all([A.close(), B.close(), C.close()]);
    }
  });

  // One GET stream per session, as the SDK's transport allows on one instance: a newer one
  // on another instance takes over. The older is let go of, not closed: MCPServer's transport
  // owns it and learns from the connection that its client left (a stream closed behind its
  // back would keep it writing its own messages into nothing).
  test("a newer stream of the session on another instance takes over from the older one", async () => {
    const prefix = uniquePrefix("newer");
    const opts = { url: redisUrl(), prefix };
    const [A, B, C] = [new native.RedisStreamManager(opts), new native.RedisStreamManager(opts), new native.RedisStreamManager(opts)];
    const got = { A: [], B: [] };
    let closedA = false;
    const controller = (name) => ({ desiredSize: 1, enqueue(chunk) { got[name].push(Buffer.from(chunk).toString()); }, close() { if (name === "A") closedA = true; }, error() {} });
    try {
      await A.create("s", controller("A"));
      await C.send(["s"], "to A");
      await B.create("s", controller("B"));
      await C.send(["s"], "to B");
      for (let i = 0; i < 100 && got.B.length < 1; i++) await sleep(20);
      await sleep(200);
      expect(got).toEqual({ A: ["to A"], B: ["to B"] });
      expect(closedA).toBe(false);
      expect({ A: A.localSize, B: B.localSize }).toEqual({ A: 0, B: 1 });
    } finally {
      await Promise.all([A.close(), B.close(), C.close()]);
    }
  });
});

describeRedis("stream managers: a message Redis handed to an instance that died", () => {
  // The soak's published-to-dying-instance (bench/soak/repro/published-to-dying-instance.mjs,
  // run here as it is): A, a child process, holds the stream with its JS thread busy; C sends
  // m1, which Redis hands to A (it counts A's subscriber, so nothing is kept); A is SIGKILLed;
  // the client's new stream opens on B. m1 was lost every time; now A never acknowledged it,
  // and B's take replays it from the session's journal.
  test("reaches the session's next stream, once", async () => {
    const script = path.join(__dirname, "..", "bench", "soak", "repro", "published-to-dying-instance.mjs");
    const { code, stdout } = await new Promise((resolve) => {
      execFile(process.execPath, [script, "--runs", "3"], { timeout: 120_000 }, (err, stdout) => resolve({ code: err ? err.code ?? 1 : 0, stdout }));
    });
    expect(stdout).toContain("about to die: m1 lost in 0/3 runs");
    expect(stdout).toContain("more than once in 0/3 runs");
    expect(code).toBe(0);
  }, 150_000);
});
