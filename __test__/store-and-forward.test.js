"use strict";
// Store-and-forward: a targeted send that reaches no live stream is kept, and the next
// stream the session opens gets the kept messages first, in order, exactly once. mcp-use's
// managers drop such messages (shown on its InMemoryStreamManager). Bounds, the off switch,
// counters, bad options, and the mixed fleet with mcp-use's RedisStreamManager.
const { createClient } = __nodeRequire("redis");
const ref = __nodeRequire(require.resolve("mcp-use/server"));
const native = __nodeRequire(require.resolve(".."));
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { openStream, waitFor, sleep } = require("./redis/streams");
const { untag } = require("./helpers/journal-tag");

const stats = (o) => ({ buffered: 0, replayed: 0, expired: 0, dropped: 0, ...o });

describe("InMemoryStreamManager store-and-forward", () => {
  test("messages sent while the session has no stream reach its next stream first, once", async () => {
    const m = new native.InMemoryStreamManager();
    await m.send(["s"], "a");
    await m.send(["s"], "b");
    const s = openStream();
    await m.create("s", s.controller);
    await m.send(["s"], "c");
    await waitFor(() => s.received.length >= 3, "three messages");
    expect(s.received).toEqual(["a", "b", "c"]);
    const again = openStream();
    await m.create("s", again.controller);
    await m.send(["s"], "d");
    await waitFor(() => again.received.length >= 1, "one message");
    expect(again.received).toEqual(["d"]);
    expect(m.pendingStats()).toEqual(stats({ buffered: 2, replayed: 2 }));
  });

  test("a stream whose write fails hands the message back for the next stream", async () => {
    const m = new native.InMemoryStreamManager();
    const gone = openStream();
    await m.create("s", gone.controller);
    gone.controller.close(); // the client left without a delete
    await m.send(["s"], "x");
    await m.send(["s"], "y");
    expect(await m.has("s")).toBe(false);
    const s = openStream();
    await m.create("s", s.controller);
    await waitFor(() => s.received.length >= 2, "two messages");
    expect(s.received).toEqual(["x", "y"]);
  });

  test("mcp-use's manager drops them (the reference behaviour this fixes)", async () => {
    const m = new ref.InMemoryStreamManager();
    await m.send(["s"], "lost");
    const s = openStream();
    await m.create("s", s.controller);
    await m.send(["s"], "live");
    await waitFor(() => s.received.length >= 1, "one message");
    await sleep(20);
    expect(s.received).toEqual(["live"]);
  });

  test("bounds: the oldest go beyond pendingMaxMessages / pendingMaxBytes; pendingTtl: 0 keeps nothing", async () => {
    const m = new native.InMemoryStreamManager({ pendingMaxMessages: 3 });
    for (let i = 0; i < 10; i++) await m.send(["s"], `m${i}`);
    const s = openStream();
    await m.create("s", s.controller);
    await waitFor(() => s.received.length >= 3, "three messages");
    expect(s.received).toEqual(["m7", "m8", "m9"]);
    expect(m.pendingStats()).toEqual(stats({ buffered: 10, replayed: 3, dropped: 7 }));

    const b = new native.InMemoryStreamManager({ pendingMaxBytes: 4 });
    for (const x of ["aa", "bb", "cc"]) await b.send(["s"], x);
    const t = openStream();
    await b.create("s", t.controller);
    await waitFor(() => t.received.length >= 2, "two messages");
    expect(t.received).toEqual(["bb", "cc"]);

    const off = new native.InMemoryStreamManager({ pendingTtl: 0 });
    await off.send(["s"], "lost");
    const u = openStream();
    await off.create("s", u.controller);
    await off.send(["s"], "live");
    await waitFor(() => u.received.length >= 1, "one message");
    expect(u.received).toEqual(["live"]);
    expect(off.pendingStats()).toEqual(stats({}));
  });

  test("a flood of 10,000 sessions that never come back stays within pendingMaxTotalMessages, oldest dropped first", async () => {
    const m = new native.InMemoryStreamManager({ pendingMaxTotalMessages: 1000 });
    const ids = Array.from({ length: 10_000 }, (_, i) => `s${i}`);
    for (let i = 0; i < ids.length; i += 500) await m.send(ids.slice(i, i + 500), "kept");
    expect(m.pendingStats()).toEqual(stats({ buffered: 10_000, dropped: 9_000 }));
    const first = openStream();
    await m.create("s0", first.controller);
    const last = openStream();
    await m.create("s9999", last.controller);
    expect([first.received, last.received]).toEqual([[], ["kept"]]);
  });

  test("delete forgets what was kept for the session", async () => {
    const m = new native.InMemoryStreamManager();
    await m.send(["s"], "old");
    await m.delete("s");
    const s = openStream();
    await m.create("s", s.controller);
    await m.send(["s"], "new");
    await waitFor(() => s.received.length >= 1, "one message");
    expect(s.received).toEqual(["new"]);
  });

  test.each([
    [{ pendingTtl: -1 }, RangeError, /pendingTtl/],
    [{ pendingMaxMessages: 0 }, RangeError, /pendingMaxMessages/],
    [{ pendingMaxBytes: "1" }, TypeError, /pendingMaxBytes/],
  ])("bad option %j is a %p naming it", (config, type, re) => {
    let err;
    try {
      new native.InMemoryStreamManager(config);
    } catch (e) {
      err = e;
    }
    expect(err && err.name).toBe(type.name);
    expect(err.message).toMatch(re);
  });
});

describeRedis("RedisStreamManager store-and-forward", () => {
  const clients = [];
  const managers = [];
  async function client() {
    const c = createClient({ url: redisUrl() });
    await c.connect();
    clients.push(c);
    return c;
  }
  async function manager(impl, prefix, extra = {}) {
    const m = new impl.RedisStreamManager({ client: await client(), pubSubClient: await client(), prefix, heartbeatInterval: 5, ...extra });
    managers.push(m);
    return m;
  }
  afterAll(async () => {
    await Promise.allSettled(managers.map((m) => m.close()));
    await Promise.allSettled(clients.map((c) => c.quit()));
  });

  test("kept in Redis by one instance, delivered first by another, exactly once", async () => {
    const prefix = uniquePrefix("sf");
    const a = await manager(native, prefix);
    const b = await manager(native, prefix);
    await a.send(["s"], "m1");
    await a.send(["s"], "m2");
    expect(a.pendingStats()).toEqual(stats({ buffered: 2 }));
    const s = openStream();
    await b.create("s", s.controller);
    await a.send(["s"], "m3");
    await waitFor(() => s.received.length >= 3, "three messages");
    expect(s.received).toEqual(["m1", "m2", "m3"]);
    expect(b.pendingStats()).toEqual(stats({ replayed: 2 }));
    const t = openStream();
    await a.create("s", t.controller);
    await b.send(["s"], "m4");
    await waitFor(() => t.received.length >= 1, "one message");
    expect(t.received).toEqual(["m4"]);
  });

  test("a stream whose write fails: its message goes back in its place, for the next stream", async () => {
    const prefix = uniquePrefix("sf-fail");
    const a = await manager(native, prefix);
    const b = await manager(native, prefix);
    const gone = openStream();
    await a.create("s", gone.controller);
    gone.controller.close();
    await b.send(["s"], "x"); // reaches A, whose write fails
    await waitFor(() => a.localSize === 0, "A letting go of its stream");
    await waitFor(async () => (await a.pendingStats()).buffered >= 1, "x kept");
    await b.send(["s"], "y"); // nobody listens now
    const s = openStream();
    await b.create("s", s.controller);
    await waitFor(() => s.received.length >= 2, "two messages");
    expect(s.received).toEqual(["x", "y"]);
  });

  test("mixed fleet: a stream held by mcp-use's manager gets our sends live, nothing is kept", async () => {
    const prefix = uniquePrefix("sf-mixed");
    const ours = await manager(native, prefix);
    const theirs = await manager(ref, prefix);
    const s = openStream();
    await theirs.create("s", s.controller);
    await ours.send(["s"], "live");
    await waitFor(() => s.received.length >= 1, "one message");
    expect(s.received.map(untag)).toEqual(["live"]); // tagged: it was journaled
    expect(ours.pendingStats()).toEqual(stats({}));
    // and mcp-use's stream opening ignores our pending list (it is under new keys)
    await ours.send(["t"], "kept");
    const u = openStream();
    await theirs.create("t", u.controller);
    await ours.send(["t"], "after");
    await waitFor(() => u.received.length >= 1, "one message");
    expect(u.received.map(untag)).toEqual(["after"]);
  });

  test("a flood of 10,000 sessions that never come back stays within pendingMaxTotalMessages in Redis too", async () => {
    const prefix = uniquePrefix("sf-flood");
    const m = await manager(native, prefix, { pendingMaxTotalMessages: 1000 });
    const ids = Array.from({ length: 10_000 }, (_, i) => `s${String(i).padStart(5, "0")}`);
    for (let i = 0; i < ids.length; i += 500) await m.send(ids.slice(i, i + 500), "kept");
    expect(m.pendingStats()).toEqual(stats({ buffered: 10_000, dropped: 9_000 }));
    const redis = await client();
    expect(await redis.hGet(`${prefix}pending-total`, "n")).toBe("1000");
    const first = openStream();
    await m.create("s00000", first.controller);
    const last = openStream();
    await m.create("s09999", last.controller);
    await waitFor(() => last.received.length >= 1, "the newest kept message");
    expect([first.received, last.received]).toEqual([[], ["kept"]]);
  });

  test("pendingTtl: 0 keeps nothing, as mcp-use", async () => {
    const prefix = uniquePrefix("sf-off");
    const a = await manager(native, prefix, { pendingTtl: 0 });
    await a.send(["s"], "lost");
    const s = openStream();
    await a.create("s", s.controller);
    await a.send(["s"], "live");
    await waitFor(() => s.received.length >= 1, "one message");
    expect(s.received).toEqual(["live"]);
    expect(a.pendingStats()).toEqual(stats({}));
  });
});
