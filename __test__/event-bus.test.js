"use strict";
// RedisServerEventBus (issue 23) against the SDK's contract: the in-process semantics side by
// side with @modelcontextprotocol/server's own InMemoryServerEventBus (same case, both buses),
// then what only the Redis bus does: other processes' events (two buses on one Redis),
// params through JSON, bad input, Redis unreachable, stats/health/ready, driver "client".
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { expectThrow, expectRejection } = require("./helpers/errors");
const { FakeRedis } = require("./helpers/fake-redis");

const nodeRequire = typeof __nodeRequire === "function" ? __nodeRequire : require;
const { RedisServerEventBus } = nodeRequire("../../index.js");
const { InMemoryServerEventBus } = nodeRequire("@modelcontextprotocol/server");

const { AssertionError: MainRealmError } = nodeRequire("node:assert");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pred()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until the bus has subscribed and read the log once (its first catch-up). */
async function ready(bus) {
  await waitFor(() => bus.health().subscriber.state === "up" && bus.stats().catchUps > 0, "the bus to be ready");
}

const buses = [];
function redisBus(extra = {}, prefix) {
  const bus = new RedisServerEventBus({ url: redisUrl(), prefix, ...extra });
  buses.push(bus);
  return bus;
}

afterEach(async () => {
  for (const b of buses.splice(0)) await b.close().catch(() => {});
});

// The in-process contract, run on both: what InMemoryServerEventBus does, ours does.
describeRedis("RedisServerEventBus: the in-process contract, as InMemoryServerEventBus", () => {
  const flavours = [
    ["InMemoryServerEventBus", (onerror) => new InMemoryServerEventBus(onerror)],
    ["RedisServerEventBus", (onerror) => redisBus({ onerror }, uniquePrefix("bus"))],
  ];

  test.each(flavours)("%s: publish delivers at once, the same object, in subscription order", (_n, make) => {
    const bus = make();
    const seen = [];
    bus.subscribe((e) => seen.push(["a", e]));
    bus.subscribe((e) => seen.push(["b", e]));
    const event = { kind: "resource_updated", uri: "test://x", params: { _meta: { n: 1 } } };
    expect(bus.publish(event)).toBeUndefined();
    expect(seen).toHaveLength(2);
    expect(seen.map(([w]) => w)).toEqual(["a", "b"]);
    expect(seen[0][1]).toBe(event);
    expect(seen[1][1]).toBe(event);
  });

  test.each(flavours)("%s: a throwing listener does not stop the others; onerror gets an Error", (_n, make) => {
    const errors = [];
    const bus = make((e) => errors.push(e));
    const seen = [];
    // An Error of Node's main realm, where both buses live (jest's own Error is another
    // realm's, which the SDK's instanceof check would not recognise).
    const boom = new MainRealmError({ message: "boom" });
    bus.subscribe(() => {
      throw boom;
    });
    bus.subscribe(() => {
      throw "not an error"; // eslint-disable-line no-throw-literal
    });
    bus.subscribe((e) => seen.push(e.kind));
    expect(() => bus.publish({ kind: "tools_list_changed" })).not.toThrow();
    expect(seen).toEqual(["tools_list_changed"]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toBe(boom);
    expect([errors[1].name, errors[1].message]).toEqual(["Error", "not an error"]);
  });

  test.each(flavours)("%s: unsubscribe is idempotent; a function subscribed twice is called once", (_n, make) => {
    const bus = make();
    let calls = 0;
    const f = () => calls++;
    const u1 = bus.subscribe(f);
    const u2 = bus.subscribe(f);
    bus.publish({ kind: "prompts_list_changed" });
    expect(calls).toBe(1);
    expect(bus.listenerCount).toBe(1);
    u1();
    u1();
    expect(bus.listenerCount).toBe(0);
    bus.publish({ kind: "prompts_list_changed" });
    expect(calls).toBe(1);
    expect(() => u2()).not.toThrow();
    const u3 = bus.subscribe(f);
    u1(); // spent (its `live` flag): f stays registered
    bus.publish({ kind: "prompts_list_changed" });
    expect(calls).toBe(2);
    u3();
    // An unsubscribe not called yet removes the function, also when it was subscribed again
    // since (the SDK's Set.delete(f)).
    const ua = bus.subscribe(f);
    const ub = bus.subscribe(f);
    ua();
    bus.subscribe(f);
    ub();
    bus.publish({ kind: "prompts_list_changed" });
    expect(calls).toBe(2);
    expect(bus.listenerCount).toBe(0);
  });

  test.each(flavours)("%s: unsubscribing mid-dispatch skips that listener; one added mid-dispatch is called", (_n, make) => {
    const bus = make();
    const seen = [];
    let unsubB = null;
    bus.subscribe(() => {
      seen.push("a");
      if (unsubB) {
        unsubB();
        unsubB = null;
        bus.subscribe(() => seen.push("late"));
      }
    });
    unsubB = bus.subscribe(() => seen.push("b"));
    bus.publish({ kind: "resources_list_changed" });
    expect(seen).toEqual(["a", "late"]);
  });
});

describeRedis("RedisServerEventBus: no echo, validation, other processes", () => {
  /** A listener that publishes from inside its call, and another; what each saw. */
  function publishFromInside(bus) {
    const seen = [];
    bus.subscribe((e) => {
      seen.push(["publisher", e.kind]);
      if (e.kind === "tools_list_changed") bus.publish({ kind: "prompts_list_changed" });
    });
    bus.subscribe((e) => seen.push(["other", e.kind]));
    bus.publish({ kind: "tools_list_changed" });
    return seen;
  }

  test("a listener publishing from inside its call is not called again for that event [differs on purpose from InMemoryServerEventBus]", () => {
    // The nested event reaches the other listener, not the one that published it: the
    // contract's "MUST NOT echo back to the listener that published an event when called from
    // inside that listener".
    expect(publishFromInside(redisBus({}, uniquePrefix("bus")))).toEqual([
      ["publisher", "tools_list_changed"],
      ["other", "prompts_list_changed"],
      ["other", "tools_list_changed"],
    ]);
    // The SDK's own bus calls the publishing listener again (its listeners never publish, so it
    // never shows there).
    expect(publishFromInside(new InMemoryServerEventBus())).toEqual([
      ["publisher", "tools_list_changed"],
      ["publisher", "prompts_list_changed"],
      ["other", "prompts_list_changed"],
      ["other", "tools_list_changed"],
    ]);
  });

  test("bad events throw a TypeError naming the argument and publish nothing", () => {
    const bus = redisBus({}, uniquePrefix("bus"));
    const seen = [];
    bus.subscribe((e) => seen.push(e));
    const cyclic = { a: 1 };
    cyclic.self = cyclic;
    const cases = [
      [undefined, /event must be a ServerEvent object/],
      ["tools_list_changed", /event must be a ServerEvent object/],
      [{}, /event\.kind must be one of/],
      [{ kind: "tools/list_changed" }, /event\.kind must be one of .*"tools\/list_changed"/],
      [{ kind: "resource_updated" }, /event\.uri must be a string/],
      [{ kind: "resource_updated", uri: 5 }, /event\.uri must be a string/],
      [{ kind: "tools_list_changed", params: "x" }, /event\.params must be an object/],
      [{ kind: "tools_list_changed", params: cyclic }, /event cannot be serialized as JSON/],
      [{ kind: "tools_list_changed", params: { n: 1n } }, /event cannot be serialized as JSON/],
    ];
    for (const [event, re] of cases) expectThrow(() => bus.publish(event), "TypeError", re);
    expectThrow(() => bus.subscribe("nope"), "TypeError", /listener must be a function/);
    expect(seen).toEqual([]);
    expect(bus.stats().eventsPublished).toBe(0);
  });

  test("bad config throws naming the field", () => {
    expectThrow(() => new RedisServerEventBus(), "TypeError", /config is required/);
    expectThrow(() => new RedisServerEventBus({ url: redisUrl(), prefix: 5 }), "TypeError", /prefix must be a string/);
    expectThrow(() => new RedisServerEventBus({ url: redisUrl(), prefix: "a{" }), "TypeError", /config\.prefix: .*different Redis Cluster slots/);
    expectThrow(() => new RedisServerEventBus({ url: redisUrl(), retentionMaxLength: 0 }), "RangeError", /retentionMaxLength/);
    expectThrow(() => new RedisServerEventBus({ url: redisUrl(), outboxMaxAgeMs: -1 }), "RangeError", /outboxMaxAgeMs/);
    expectThrow(() => new RedisServerEventBus({ url: redisUrl(), onerror: 1 }), "TypeError", /onerror must be a function/);
    expectThrow(() => new RedisServerEventBus({ url: redisUrl(), nodes: ["127.0.0.1:1"] }), "TypeError", /one of url, nodes and sentinels/);
  });

  test("events reach the other bus once, params intact, never back to the publisher's listeners", async () => {
    const prefix = uniquePrefix("bus");
    const a = redisBus({}, prefix);
    const b = redisBus({}, prefix);
    await ready(a);
    await ready(b);
    const atA = [];
    const atB = [];
    a.subscribe((e) => atA.push(e));
    b.subscribe((e) => atB.push(e));
    const events = [
      { kind: "tools_list_changed" },
      { kind: "resource_updated", uri: "test://r/1", params: { _meta: { "x/y": [1, "é", null, { z: true }] } } },
      { kind: "prompts_list_changed" },
      { kind: "resources_list_changed", params: {} },
    ];
    for (const e of events) a.publish(e);
    await waitFor(() => atB.length >= 4, "B to receive 4 events");
    await sleep(200);
    expect(atB).toEqual(events);
    expect(atA).toEqual(events); // delivered locally, once: nothing came back through Redis
    const s = b.stats();
    expect(s).toMatchObject({ eventsReceived: 4, eventsLost: 0, listeners: 1, listenerErrors: 0 });
    expect(a.stats()).toMatchObject({ eventsPublished: 4, eventsAppended: 4, localDeliveries: 4, outboxEvents: 0, appendErrors: 0 });
    // Both connections measured as the other Redis classes': A appended (a script), B subscribed.
    expect(a.stats()).toMatchObject({ redisErrors: 0, redisUp: 1, subscriberUp: 1 });
    // One snapshot: the bus's idle check may add an operation between two calls.
    const sa = a.stats();
    expect(sa.redisOperations).toBeGreaterThanOrEqual(3); // TIME, XRANGE, the append
    expect(sa.redisLatency.count).toBe(sa.redisOperations);
    expect(s.subscriberOperations).toBeGreaterThanOrEqual(1);
    const h = a.health();
    expect(h).toEqual({
      status: "ok",
      mode: "log",
      outboxEvents: 0,
      commands: { state: "up", since: expect.any(Number), reconnects: 0 },
      subscriber: { state: "up", since: expect.any(Number), reconnects: 0 },
    });
  });

  test("a listener that throws on another process's event: onerror gets it, listenerErrors counts it", async () => {
    const prefix = uniquePrefix("bus");
    const errors = [];
    const a = redisBus({}, prefix);
    const b = redisBus({ onerror: (e) => errors.push(e) }, prefix);
    await ready(a);
    await ready(b);
    const seen = [];
    b.subscribe(() => {
      throw new MainRealmError({ message: "boom" });
    });
    b.subscribe((e) => seen.push(e.kind));
    a.publish({ kind: "tools_list_changed" });
    await waitFor(() => seen.length === 1, "B to receive");
    expect(errors.map((e) => e.message)).toEqual(["boom"]);
    expect(b.stats()).toMatchObject({ eventsReceived: 1, listenerErrors: 1 });
  });

  test("ready() resolves once both connections answer; a bad timeoutMs is a TypeError or RangeError", async () => {
    const bus = redisBus({}, uniquePrefix("bus"));
    await expect(bus.ready({ timeoutMs: 30_000 })).resolves.toBeUndefined();
    await expect(bus.ready()).resolves.toBeUndefined();
    const method = "RedisServerEventBus.ready";
    await expectRejection(bus.ready({ timeoutMs: "1s" }), "TypeError", new RegExp(`^${method}: timeoutMs must be a number`));
    await expectRejection(bus.ready({ timeoutMs: 0 }), "RangeError", new RegExp(`^${method}: timeoutMs must be a finite number`));
    await expectRejection(bus.ready(1000), "TypeError", new RegExp(`^${method}: options must be an object`));
  });

  test("Redis unreachable: publish still returns at once, health and ready() say so, close names what is unsent", async () => {
    const bus = new RedisServerEventBus({ url: "redis://127.0.0.1:1", commandTimeoutMs: 200, closeTimeoutMs: 300 });
    const seen = [];
    bus.subscribe((e) => seen.push(e.kind));
    for (let i = 0; i < 3; i++) expect(bus.publish({ kind: "tools_list_changed" })).toBeUndefined();
    expect(seen).toHaveLength(3);
    await waitFor(() => bus.health().commands.state === "down", "health to show the failure");
    const h = bus.health();
    // Still serving (this process's listeners got all three): degraded, not down.
    expect(h).toMatchObject({ status: "degraded", mode: "log", outboxEvents: 3 });
    expect(h.reason).toMatch(/^Redis unreachable: Redis \S+ failed: .*; 3 events published here wait to be appended once it answers$/);
    expect(h.commands).toMatchObject({ downSince: expect.any(Number), lastError: expect.stringMatching(/^Redis /), lastErrorAt: expect.any(Number) });
    expect(bus.stats()).toMatchObject({ outboxEvents: 3, redisUp: 0 });
    expect(bus.stats().appendErrors).toBeGreaterThan(0);
    expect(bus.stats().redisErrors).toBeGreaterThanOrEqual(bus.stats().appendErrors);
    await expectRejection(bus.ready({ timeoutMs: 300 }), "Error", /^RedisServerEventBus\.ready: Redis \S+ failed: not ready within 300 ms/);
    await expectRejection(bus.close(), "Error", /3 events published here could not be appended/);
    expect(bus.stats().unsentAtClose).toBe(3);
    expect(bus.health()).toMatchObject({ status: "down", reason: "closed" });
    await expectRejection(bus.ready({ timeoutMs: 100 }), "Error", /closed/);
  });

  test('driver "client" (no scripts): pub/sub only, and it says so', async () => {
    const world = new FakeRedis();
    const make = () =>
      new RedisServerEventBus({ client: world.client("c"), pubSubClient: world.client("s"), driver: "client", prefix: "p:" });
    const a = make();
    const b = make();
    buses.push(a, b);
    expect(a.driver).toBe("client");
    await waitFor(() => b.health().subscriber.state === "up", "the fake subscription");
    const atB = [];
    b.subscribe((e) => atB.push(e));
    a.publish({ kind: "resource_updated", uri: "u://1", params: { k: [1] } });
    await waitFor(() => atB.length === 1, "B to receive through the fake");
    expect(atB).toEqual([{ kind: "resource_updated", uri: "u://1", params: { k: [1] } }]);
    expect(a.health()).toMatchObject({ status: "degraded", mode: "pubsub", commands: { state: "up" } });
    expect(a.health().reason).toMatch(/pub\/sub only: no retention or catch-up/);
    // The appends went through the client's publish(): measured as one operation per batch.
    expect(a.stats()).toMatchObject({ eventsAppended: 1, redisErrors: 0 });
    expect(a.stats().redisOperations).toBeGreaterThanOrEqual(1);
    await expect(a.ready({ timeoutMs: 1000 })).resolves.toBeUndefined();
  });
});
