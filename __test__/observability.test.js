"use strict";
// What an operator asks of an instance (issues 22, 23): stats() of every class (the five
// session classes and RedisServerEventBus), its keys and their values moving with what
// happens; health() of every class, including a Redis outage (down, then ok, errors and
// reconnects counted) and a failed file save (degraded); ready() resolving and running out of
// time; renderPrometheus parsed by a Prometheus text parser from npm; and the README's recipes
// for prom-client and OpenTelemetry, run. mcp-use has none of this: the addon alone. No
// wall-clock assertions: outcomes, with generous bounds.
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const parsePrometheus = require("parse-prometheus-text-format");
const native = __nodeRequire(require.resolve(".."));
const { describeRedis, redisUrl, stopRedis, startRedis, uniquePrefix } = require("./helpers/redis");
const { FakeRedis } = require("./helpers/fake-redis");
const { freePort } = require("./helpers/redis-server");
const { expectRejection, expectThrow } = require("./helpers/errors");
const { openStream, waitFor } = require("./redis/streams");

jest.setTimeout(120_000);

const META = { lastAccessedAt: 1, clientInfo: { name: "probe", version: "1" } };
const LATENCY = { count: expect.any(Number), sumMs: expect.any(Number), buckets: expect.any(Array) };
const REDIS_STATS = ["redisOperations", "redisErrors", "redisReconnects", "redisUp", "redisLatency"];
const STREAM_STATS = [
  "streams",
  "messagesSent",
  "messagesDelivered",
  "messagesKept",
  "messagesReplayed",
  "messagesExpired",
  "messagesDropped",
  "streamsDropped",
];
const SUBSCRIBER_STATS = ["subscriberOperations", "subscriberErrors", "subscriberReconnects", "subscriberUp"];
const BUS_STATS = [
  "listeners",
  "eventsPublished",
  "eventsAppended",
  "appendErrors",
  "localDeliveries",
  "listenerErrors",
  "eventsReceived",
  "eventsReplayed",
  "duplicatesSkipped",
  "eventsLost",
  "outboxEvents",
  "outboxDropped",
  "outboxExpired",
  "unsentAtClose",
  "catchUps",
  "malformedMessages",
  "publishers",
];
const KEYS = {
  InMemorySessionStore: ["sessions", "sessionsExpired"],
  FileSystemSessionStore: ["sessions", "sessionsExpired", "saves", "saveErrors", "unsavedChanges", "saveLatency"],
  RedisSessionStore: REDIS_STATS,
  InMemoryStreamManager: STREAM_STATS,
  RedisStreamManager: [...STREAM_STATS, ...REDIS_STATS, ...SUBSCRIBER_STATS],
  RedisServerEventBus: [...BUS_STATS, ...REDIS_STATS, ...SUBSCRIBER_STATS],
};

const sorted = (a) => [...a].sort();
/** health() polled until `ok(health)`; returns it (a liveness bound, not a speed check). */
async function healthUntil(instance, ok, what) {
  let h;
  await waitFor(() => ok((h = instance.health())), what, 60_000);
  return h;
}

function expectLatency(l, operations) {
  expect(l).toEqual(LATENCY);
  expect(l.count).toBe(operations);
  expect(l.buckets.map((b) => b.leMs)).toEqual([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);
  const counts = l.buckets.map((b) => b.count);
  expect(counts).toEqual([...counts].sort((a, b) => a - b)); // cumulative
  expect(counts[counts.length - 1]).toBeLessThanOrEqual(l.count);
}

describe("stats() and health() of the local classes", () => {
  test("InMemorySessionStore: sessions held and expired", async () => {
    const s = new native.InMemorySessionStore();
    expect(s.stats()).toEqual({ sessions: 0, sessionsExpired: 0 });
    await s.set("a", META);
    await s.set("b", META);
    await s.setWithTTL("c", META, 20);
    expect(s.stats()).toEqual({ sessions: 3, sessionsExpired: 0 });
    await waitFor(() => s.stats().sessionsExpired === 1, "the TTL sweep");
    expect(s.stats()).toEqual({ sessions: 2, sessionsExpired: 1 });
    expect(s.health()).toEqual({ status: "ok", sessions: 2 });
  });

  test("FileSystemSessionStore: saves, unsaved changes, and a failed save that degrades it until a good one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-stats-"));
    const file = path.join(dir, "sessions.json");
    try {
      const s = new native.FileSystemSessionStore({ path: file, debounceMs: 3_600_000 }); // only flush() saves
      expect(sorted(Object.keys(s.stats()))).toEqual(sorted(KEYS.FileSystemSessionStore));
      await s.set("a", META);
      await s.set("b", META);
      expect(s.stats()).toMatchObject({ sessions: 2, saves: 0, saveErrors: 0, unsavedChanges: 2 });
      expect(s.health()).toEqual({ status: "ok", sessions: 2, unsavedChanges: 2 });
      await s.flush();
      const saved = s.stats();
      expect(saved).toMatchObject({ sessions: 2, saves: 1, saveErrors: 0, unsavedChanges: 0 });
      expectLatency(saved.saveLatency, 1);
      expect(s.health()).toEqual({ status: "ok", sessions: 2, unsavedChanges: 0, lastSaveAt: expect.any(Number) });

      fs.rmSync(file);
      fs.mkdirSync(file); // the rename over it fails
      await s.delete("a");
      await expectRejection(s.flush(), "Error", /FileSystemSessionStore\.flush: /);
      const h = s.health();
      expect(h).toMatchObject({ status: "degraded", sessions: 1, unsavedChanges: 1, lastSaveError: expect.stringContaining(file) });
      expect(h.reason).toMatch(/^the last save failed \(.+\); 1 changes are not on disk yet \(retrying\)$/);
      expect(s.stats()).toMatchObject({ saves: 1, saveErrors: 1, unsavedChanges: 1 });

      fs.rmdirSync(file);
      await s.flush();
      expect(s.health()).toMatchObject({ status: "ok", unsavedChanges: 0 });
      expect(s.health().lastSaveError).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("InMemoryStreamManager: sends, deliveries, kept and replayed messages, dropped streams", async () => {
    const m = new native.InMemoryStreamManager();
    const a = openStream();
    await m.create("a", a.controller);
    await m.send(["a", "b"], "one"); // a gets it, b has no stream: kept
    await m.send(undefined, "all");
    expect(m.stats()).toEqual({
      streams: 1,
      messagesSent: 3,
      messagesDelivered: 2,
      messagesKept: 1,
      messagesReplayed: 0,
      messagesExpired: 0,
      messagesDropped: 0,
      streamsDropped: 0,
    });
    const b = openStream();
    await m.create("b", b.controller);
    await waitFor(() => b.received.length === 1, "the replay");
    a.controller.close(); // its client left without a delete
    await m.send(["a"], "lost?");
    expect(m.stats()).toMatchObject({ streams: 1, messagesSent: 4, messagesDelivered: 4, messagesKept: 2, messagesReplayed: 1, streamsDropped: 1 });
    expect(m.pendingStats()).toEqual({ buffered: 2, replayed: 1, expired: 0, dropped: 0 });
    expect(m.health()).toEqual({ status: "ok", streams: 1 });
  });
});

describeRedis("stats(), health() and ready() of the Redis classes", () => {
  const made = [];
  afterAll(async () => {
    for (const x of made) await x.close().catch(() => {});
  });

  test("a Redis class whose server has not answered yet is down: not reached yet", async () => {
    // A port that accepts connections and never answers: nothing can have been reached, on
    // any machine, however loaded (a real Redis may answer before the first health() call).
    const sockets = [];
    const silent = net.createServer((sock) => sockets.push(sock));
    await new Promise((r) => silent.listen(0, "127.0.0.1", r));
    const s = new native.RedisSessionStore({ url: `redis://127.0.0.1:${silent.address().port}`, commandTimeoutMs: 60_000 });
    try {
      expect(s.health()).toMatchObject({ status: "down", reason: "Redis not reached yet", commands: { state: "connecting", reconnects: 0 } });
      await new Promise((r) => setTimeout(r, 300));
      expect(s.health()).toMatchObject({ status: "down", reason: "Redis not reached yet", commands: { state: "connecting" } });
      expect(s.stats()).toMatchObject({ redisUp: 0, redisErrors: 0 });
    } finally {
      await s.close().catch(() => {});
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("RedisSessionStore: ready() resolves, operations and latency are counted, health ok", async () => {
    const s = new native.RedisSessionStore({ url: redisUrl(), prefix: uniquePrefix("stats") });
    made.push(s);
    await s.ready({ timeoutMs: 30_000 });
    const before = s.stats();
    expect(sorted(Object.keys(before))).toEqual(sorted(KEYS.RedisSessionStore));
    await s.set("a", META);
    expect(await s.get("a")).toEqual(META);
    await s.keys();
    const after = s.stats();
    expect(after.redisOperations).toBeGreaterThanOrEqual(before.redisOperations + 3);
    expect(after).toMatchObject({ redisErrors: 0, redisReconnects: 0, redisUp: 1 });
    expectLatency(after.redisLatency, after.redisOperations);
    const h = s.health();
    expect(h).toEqual({ status: "ok", commands: { state: "up", since: expect.any(Number), reconnects: 0 } });
    expect(h.commands.since).toBeLessThanOrEqual(Date.now());
  });

  test("RedisStreamManager: both connections, messages delivered across managers, health ok", async () => {
    const prefix = uniquePrefix("stats");
    const a = new native.RedisStreamManager({ url: redisUrl(), prefix });
    const b = new native.RedisStreamManager({ url: redisUrl(), prefix });
    made.push(a, b);
    await Promise.all([a.ready({ timeoutMs: 30_000 }), b.ready()]);
    const s = openStream();
    await a.create("s", s.controller);
    await b.send(["s"], "hello");
    await b.send(["gone"], "kept");
    await waitFor(() => s.received.length === 1, "the message on a's stream");
    await waitFor(() => a.stats().messagesDelivered === 1, "a's count");
    const sa = a.stats();
    const sb = b.stats();
    expect(sorted(Object.keys(sa))).toEqual(sorted(KEYS.RedisStreamManager));
    expect(sa).toMatchObject({ streams: 1, messagesSent: 0, messagesDelivered: 1, redisErrors: 0, redisUp: 1, subscriberUp: 1 });
    expect(sa.subscriberOperations).toBeGreaterThanOrEqual(2); // subscribes and PINGs
    expect(sb).toMatchObject({ streams: 0, messagesSent: 2, messagesKept: 1, messagesDelivered: 0 });
    expect(sb.redisOperations).toBeGreaterThanOrEqual(2);
    expect(a.health()).toMatchObject({ status: "ok", commands: { state: "up" }, subscriber: { state: "up" } });
  });

  test("RedisServerEventBus: as the other Redis classes: ready(), both connections counted, events counted, health ok", async () => {
    const prefix = uniquePrefix("stats");
    const a = new native.RedisServerEventBus({ url: redisUrl(), prefix });
    const b = new native.RedisServerEventBus({ url: redisUrl(), prefix });
    made.push(a, b);
    await Promise.all([a.ready({ timeoutMs: 30_000 }), b.ready()]);
    // Subscribed and read the log once: then nothing published from here on is missed.
    await waitFor(() => a.stats().catchUps > 0 && b.stats().catchUps > 0 && b.health().subscriber.state === "up", "both buses started");
    const atB = [];
    b.subscribe((e) => atB.push(e));
    a.subscribe(() => {});
    for (let i = 0; i < 3; i++) a.publish({ kind: "resource_updated", uri: `test://${i}` });
    await waitFor(() => atB.length === 3 && a.stats().eventsAppended === 3, "the events at B");
    const sa = a.stats();
    const sb = b.stats();
    expect(sorted(Object.keys(sa))).toEqual(sorted(KEYS.RedisServerEventBus));
    expect(sa).toMatchObject({ listeners: 1, eventsPublished: 3, eventsAppended: 3, localDeliveries: 3, outboxEvents: 0, redisErrors: 0, redisUp: 1, subscriberUp: 1, subscriberErrors: 0 });
    expect(sb).toMatchObject({ eventsReceived: 3, eventsLost: 0, publishers: 1, eventsPublished: 0 });
    expect(sa.redisOperations).toBeGreaterThanOrEqual(3); // TIME, XRANGE, one append or more, PINGs
    expect(sa.subscriberOperations).toBeGreaterThanOrEqual(2); // its subscribe and ready()'s PING
    expectLatency(sa.redisLatency, sa.redisOperations);
    expect(a.health()).toEqual({
      status: "ok",
      mode: "log",
      outboxEvents: 0,
      commands: { state: "up", since: expect.any(Number), reconnects: 0 },
      subscriber: { state: "up", since: expect.any(Number), reconnects: 0 },
    });
  });

  test("a driven client is measured the same way; without ping() it counts as ready, and as up until its traffic fails", async () => {
    const world = new FakeRedis();
    const idle = new native.RedisSessionStore({ client: world.client("idle"), driver: "client" });
    expect(idle.health()).toMatchObject({ status: "down", reason: "Redis not reached yet" }); // the probe starts
    await waitFor(() => idle.health().status === "ok", "an idle driven client without ping() counted as up");
    expect(idle.stats().redisOperations).toBe(0);
    const s = new native.RedisSessionStore({ client: world.client("c"), driver: "client" });
    await s.ready({ timeoutMs: 1000 });
    await s.set("a", META);
    await s.has("a");
    expect(s.stats()).toMatchObject({ redisOperations: 2, redisErrors: 0, redisUp: 1 });
    expect(s.health().status).toBe("ok");
  });

  test("ready() rejects when its time runs out, naming Redis and the cause; a bad timeoutMs is a TypeError or RangeError", async () => {
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const s = new native.RedisSessionStore({ url: nowhere });
    const m = new native.RedisStreamManager({ url: nowhere });
    const bus = new native.RedisServerEventBus({ url: nowhere });
    made.push(s, m, bus);
    await expectRejection(s.ready({ timeoutMs: 500 }), "Error", /^RedisSessionStore\.ready: Redis PING failed: not ready within 500 ms: .*refused/i);
    await expectRejection(m.ready({ timeoutMs: 500 }), "Error", /^RedisStreamManager\.ready: Redis .*not ready within 500 ms/);
    await expectRejection(bus.ready({ timeoutMs: 500 }), "Error", /^RedisServerEventBus\.ready: Redis PING failed: not ready within 500 ms: .*refused/i);
    expect(s.stats().redisErrors).toBeGreaterThan(0);
    expect(bus.stats().redisErrors).toBeGreaterThan(0);
    // The store cannot serve; the bus still does (its events wait in the outbox), so a
    // probe keeps it in rotation.
    for (const [x, status] of [[s, "down"], [bus, "degraded"]]) {
      const h = x.health();
      expect(h).toMatchObject({ status, commands: { state: "down", downSince: expect.any(Number) } });
      expect(h.reason).toMatch(/^Redis unreachable: Redis PING failed: .*refused/i);
    }
    for (const x of [s, m, bus]) {
      const method = `${x.constructor.name}.ready`;
      await expectRejection(x.ready({ timeoutMs: "1s" }), "TypeError", new RegExp(`^${method}: timeoutMs must be a number`));
      await expectRejection(x.ready({ timeoutMs: 0 }), "RangeError", new RegExp(`^${method}: timeoutMs must be a finite number`));
      await expectRejection(x.ready({ timeoutMs: Infinity }), "RangeError", /timeoutMs/);
      await expectRejection(x.ready(1000), "TypeError", new RegExp(`^${method}: options must be an object`));
    }
  });

  test("after close(): health() is down with the reason, stats() still answer, ready() rejects", async () => {
    const s = new native.RedisSessionStore({ url: redisUrl() });
    const m = new native.RedisStreamManager({ url: redisUrl(), prefix: uniquePrefix("closed") });
    const bus = new native.RedisServerEventBus({ url: redisUrl(), prefix: uniquePrefix("closed") });
    await s.ready();
    await m.ready();
    await bus.ready();
    await s.close();
    await m.close();
    await bus.close();
    for (const x of [s, m, bus]) {
      expect(x.health()).toMatchObject({ status: "down", reason: "closed" });
      expect(x.stats().redisOperations).toBeGreaterThan(0);
      await expectRejection(x.ready({ timeoutMs: 100 }), "Error", /closed/);
    }
  });
});

describeRedis(
  "a Redis outage as stats() and health() report it",
  () => {
    test("down while Redis is stopped, errors counted; ok again once it is back, reconnects counted", async () => {
      const opts = { url: redisUrl(), commandTimeoutMs: 1000 };
      const s = new native.RedisSessionStore(opts);
      const m = new native.RedisStreamManager({ ...opts, prefix: uniquePrefix("outage"), heartbeatInterval: 1 });
      const bus = new native.RedisServerEventBus({ ...opts, prefix: uniquePrefix("outage") });
      try {
        await s.ready({ timeoutMs: 30_000 });
        await m.ready({ timeoutMs: 30_000 });
        await bus.ready({ timeoutMs: 30_000 });
        await waitFor(() => bus.stats().catchUps > 0 && bus.health().status === "ok", "the bus started", 30_000);
        const st = openStream();
        await m.create("s", st.controller);
        expect(s.stats()).toMatchObject({ redisErrors: 0, redisReconnects: 0, redisUp: 1 });

        await stopRedis();
        const down = await healthUntil(s, (h) => h.status === "down", "the store down");
        expect(down.reason).toMatch(/^Redis unreachable: Redis \S+ failed: /);
        expect(down.commands).toMatchObject({ state: "down", downSince: expect.any(Number), lastError: expect.any(String) });
        await healthUntil(m, (h) => h.status === "down", "the manager down");
        expect(m.health().subscriber.state).toBe("down");
        // The bus: publish still returns at once; the event waits, and health says why.
        bus.publish({ kind: "tools_list_changed" });
        const busDown = await healthUntil(bus, (h) => h.commands.state === "down" && h.subscriber.state === "down", "the bus's connections down");
        expect(busDown.status).toBe("degraded");
        expect(busDown.reason).toMatch(/^Redis unreachable: Redis \S+ failed: .*; 1 events published here wait to be appended once it answers$/);
        expect(busDown.commands).toMatchObject({ state: "down", downSince: expect.any(Number), lastError: expect.any(String) });
        expect(bus.stats()).toMatchObject({ redisUp: 0, subscriberUp: 0, outboxEvents: 1 });
        await expectRejection(s.set("secret-session-id", META), "Error", /^RedisSessionStore\.set: Redis SET mcp:session:secret-session-id/);
        expect(JSON.stringify(s.health())).not.toContain("secret-session-id"); // a probe's answer names no session
        expect(s.stats()).toMatchObject({ redisUp: 0, redisReconnects: 0 });
        expect(s.stats().redisErrors).toBeGreaterThan(0);
        expect(m.stats().redisErrors).toBeGreaterThan(0);

        await startRedis();
        await healthUntil(s, (h) => h.status === "ok", "the store ok");
        await healthUntil(m, (h) => h.status === "ok", "the manager ok");
        expect(s.stats()).toMatchObject({ redisUp: 1, redisReconnects: 1 });
        expect(m.stats()).toMatchObject({ redisUp: 1, subscriberUp: 1 });
        expect(m.stats().redisReconnects).toBeGreaterThanOrEqual(1);
        expect(m.stats().subscriberReconnects).toBeGreaterThanOrEqual(1);
        expect(s.health().commands).toMatchObject({ state: "up", reconnects: 1, lastError: expect.stringMatching(/^Redis /) });
        await healthUntil(bus, (h) => h.status === "ok", "the bus ok");
        expect(bus.stats()).toMatchObject({ redisUp: 1, subscriberUp: 1, outboxEvents: 0, eventsAppended: 1 });
        expect(bus.stats().redisReconnects).toBeGreaterThanOrEqual(1);
        expect(bus.stats().subscriberReconnects).toBeGreaterThanOrEqual(1);
        expect(bus.stats().redisErrors).toBeGreaterThan(0);
        await s.set("x", META);
        expect(await s.get("x")).toEqual(META);
        await s.ready({ timeoutMs: 30_000 });
      } finally {
        await bus.close().catch(() => {});
        await m.close().catch(() => {});
        await s.close().catch(() => {});
      }
    });
  },
  { needsControl: true },
);

/**
 * The families of a Prometheus text: each line checked against the format, then parsed by
 * parse-prometheus-text-format. That parser folds every series of a histogram into one and
 * drops its labels (it only handles unlabelled histograms), so a histogram's series are
 * rebuilt here from its lines, their labels read by the parser: `{ labels, buckets: [[le,
 * count], ...], sum, count }` per series, in the text's order.
 */
function parseStrict(text) {
  expect(text.endsWith("\n")).toBe(true);
  const types = [];
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) continue;
    const type = /^# TYPE ([a-z_:][a-z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      types.push(type[1]);
      continue;
    }
    // name{label="value",...} value: label values with \\, \" and \n escaped, a Go float
    expect(line).toMatch(/^[a-z_:][a-z0-9_:]*\{([a-z_]+="(?:[^"\\\n]|\\[\\"n])*",)*[a-z_]+="(?:[^"\\\n]|\\[\\"n])*"\} (-?[0-9.]+(e[+-]?[0-9]+)?|[+-]Inf|NaN)$/);
  }
  expect(new Set(types).size).toBe(types.length); // each family once
  const families = parsePrometheus(text);
  expect(families.map((f) => f.name)).toEqual(types);
  for (const f of families.filter((f) => f.type === "HISTOGRAM")) f.metrics = histogramSeries(text, f.name);
  return Object.fromEntries(families.map((f) => [f.name, f]));
}

function histogramSeries(text, name) {
  const series = new Map();
  for (const line of text.split("\n")) {
    const m = new RegExp(`^${name}_(bucket|sum|count)\\{(.*)\\} (\\S+)$`).exec(line);
    if (!m) continue;
    const [, part, labelText, value] = m;
    const key = part === "bucket" ? labelText.replace(/,le="[^"]*"$/, "") : labelText;
    if (!series.has(key)) series.set(key, { labels: parsePrometheus(`x{${key}} 0\n`)[0].metrics[0].labels, buckets: [] });
    const s = series.get(key);
    if (part === "bucket") s.buckets.push([/le="([^"]*)"$/.exec(labelText)[1], value]);
    else s[part] = value;
  }
  for (const s of series.values()) {
    const bounds = s.buckets.map(([le]) => (le === "+Inf" ? Infinity : Number(le)));
    expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
    expect(bounds[bounds.length - 1]).toBe(Infinity);
    const counts = s.buckets.map(([, n]) => Number(n));
    expect(counts).toEqual([...counts].sort((a, b) => a - b)); // cumulative
    expect(s.buckets[s.buckets.length - 1][1]).toBe(s.count);
    expect(Number(s.sum)).not.toBeNaN();
  }
  return [...series.values()];
}

describeRedis("renderPrometheus", () => {
  test("every stats() key of every class, labelled by name and class, parsed as the text format", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-prom-"));
    const store = new native.RedisSessionStore({ url: redisUrl(), prefix: uniquePrefix("prom") });
    const manager = new native.RedisStreamManager({ url: redisUrl(), prefix: uniquePrefix("prom") });
    const bus = new native.RedisServerEventBus({ url: redisUrl(), prefix: uniquePrefix("prom") });
    try {
      await store.ready();
      await manager.ready();
      await bus.ready();
      await store.set("a", META);
      bus.subscribe(() => {});
      bus.publish({ kind: "prompts_list_changed" });
      await waitFor(() => bus.stats().eventsAppended === 1, "the bus's append");
      const instances = {
        memory: new native.InMemorySessionStore(),
        'file "store"\\\n2': new native.FileSystemSessionStore({ path: path.join(dir, "s.json") }),
        sessions: store,
        local: new native.InMemoryStreamManager(),
        streams: manager,
        bus,
      };
      const text = native.renderPrometheus(instances);
      const families = parseStrict(text);
      for (const name of Object.keys(families)) expect(name).toMatch(/^mcp_sessions_[a-z_]+$/);
      expect(families.mcp_sessions_redis_operations_total.type).toBe("COUNTER");
      expect(families.mcp_sessions_redis_up.type).toBe("GAUGE");
      expect(families.mcp_sessions_redis_operation_duration_seconds.type).toBe("HISTOGRAM");
      for (const [name, instance] of Object.entries(instances)) {
        const cls = instance.constructor.name;
        const stats = instance.stats();
        expect(sorted(Object.keys(stats))).toEqual(sorted(KEYS[cls]));
        const samples = Object.values(families).flatMap((f) =>
          f.metrics.filter((s) => s.labels.name === name).map((s) => ({ family: f.name, ...s })),
        );
        expect(samples.every((s) => s.labels.class === cls)).toBe(true);
        // one sample per number; a latency summary is one histogram
        expect(samples).toHaveLength(Object.keys(stats).length);
      }
      const ops = families.mcp_sessions_redis_operations_total.metrics;
      const storeOps = ops.find((s) => s.labels.name === "sessions");
      expect(storeOps.labels).toEqual({ name: "sessions", class: "RedisSessionStore", connection: "commands" });
      expect(Number(storeOps.value)).toBeGreaterThanOrEqual(2);
      expect(ops.filter((s) => s.labels.name === "streams").map((s) => s.labels.connection).sort()).toEqual(["commands", "subscriber"]);
      const latency = families.mcp_sessions_redis_operation_duration_seconds.metrics.find((s) => s.labels.name === "sessions");
      expect(latency.buckets.map(([le]) => le)).toEqual(["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]);
      expect(Number(latency.count)).toBe(store.stats().redisLatency.count);
      expect(Number(latency.sum)).toBeCloseTo(store.stats().redisLatency.sumMs / 1000, 6);
      expect(families.mcp_sessions_sessions.metrics.find((s) => s.labels.class === "FileSystemSessionStore").labels.name).toBe('file "store"\\\n2');
      // The bus: its own families, and both connections as the other Redis classes'.
      const busSample = (family) => families[family].metrics.find((s) => s.labels.name === "bus");
      expect(families.mcp_sessions_bus_events_published_total.type).toBe("COUNTER");
      expect(families.mcp_sessions_bus_outbox_events.type).toBe("GAUGE");
      expect(busSample("mcp_sessions_bus_events_published_total")).toEqual({ labels: { name: "bus", class: "RedisServerEventBus" }, value: "1" });
      expect(busSample("mcp_sessions_bus_events_appended_total").value).toBe("1");
      expect(busSample("mcp_sessions_bus_local_deliveries_total").value).toBe("1");
      expect(busSample("mcp_sessions_bus_listeners").value).toBe("1");
      expect(busSample("mcp_sessions_bus_outbox_events").value).toBe("0");
      expect(ops.filter((s) => s.labels.name === "bus").map((s) => s.labels.connection).sort()).toEqual(["commands", "subscriber"]);
      expect(Number(busSample("mcp_sessions_redis_operation_duration_seconds").count)).toBeGreaterThanOrEqual(3);
      for (const family of Object.keys(families).filter((f) => f.startsWith("mcp_sessions_bus_"))) {
        expect(families[family].metrics.map((s) => s.labels.class)).toEqual(["RedisServerEventBus"]);
      }

      // the array form, in its order
      const pairs = native.renderPrometheus([["b", instances.memory], ["a", instances.local]]);
      expect(pairs.indexOf('name="b"')).toBeLessThan(pairs.indexOf('name="a"'));
      expect(native.renderPrometheus({})).toBe("");
    } finally {
      await bus.close().catch(() => {});
      await manager.close().catch(() => {});
      await store.close().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bad input is a TypeError naming it", () => {
    const m = new native.InMemorySessionStore();
    expectThrow(() => native.renderPrometheus(), "TypeError", /^renderPrometheus: instances must be an object/);
    expectThrow(() => native.renderPrometheus("x"), "TypeError", /^renderPrometheus: instances must be/);
    expectThrow(() => native.renderPrometheus([["a", m], ["a", m]]), "TypeError", /^renderPrometheus: two instances are named "a"/);
    expectThrow(() => native.renderPrometheus([["a"]]), "TypeError", /^renderPrometheus: instances\[0\] must be a \[name, instance\] pair/);
    expectThrow(() => native.renderPrometheus({ x: {} }), "TypeError", /^renderPrometheus: instance "x" must be an object with a stats\(\) method/);
    expectThrow(() => native.renderPrometheus({ x: 1 }), "TypeError", /instance "x"/);
  });
});

describe("the README's recipes", () => {
  test("prom-client: the addon's text after the registry's parses as one exposition", async () => {
    const client = __nodeRequire("prom-client");
    const registry = new client.Registry();
    new client.Counter({ name: "app_requests_total", help: "Requests.", registers: [registry] }).inc();
    const store = new native.InMemorySessionStore();
    await store.set("a", META);
    // README: registry.metrics() + renderPrometheus(...), with the registry's content type
    const text = (await registry.metrics()) + native.renderPrometheus({ sessions: store });
    const names = parsePrometheus(text).map((f) => f.name);
    expect(names).toEqual(["app_requests_total", "mcp_sessions_sessions", "mcp_sessions_sessions_expired_total"]);
    expect(registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  test("OpenTelemetry: observable instruments read stats() at each collection", async () => {
    const { MeterProvider, MetricReader } = __nodeRequire("@opentelemetry/sdk-metrics");
    class Reader extends MetricReader {
      async onForceFlush() {}
      async onShutdown() {}
    }
    const reader = new Reader();
    const provider = new MeterProvider({ readers: [reader] });
    const manager = new native.InMemoryStreamManager();
    // README recipe
    const meter = provider.getMeter("mcp-sessions-native");
    const streams = meter.createObservableGauge("mcp_sessions.streams");
    const sent = meter.createObservableCounter("mcp_sessions.messages.sent");
    meter.addBatchObservableCallback(
      (result) => {
        const s = manager.stats();
        result.observe(streams, s.streams, { name: "streams" });
        result.observe(sent, s.messagesSent, { name: "streams" });
      },
      [streams, sent],
    );
    await manager.create("a", openStream().controller);
    await manager.send(["a", "b"], "x");
    const { resourceMetrics } = await reader.collect();
    const points = Object.fromEntries(
      resourceMetrics.scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m.dataPoints.map((p) => [p.attributes.name, p.value])]),
    );
    expect(points).toEqual({ "mcp_sessions.streams": [["streams", 1]], "mcp_sessions.messages.sent": [["streams", 2]] });
    await provider.shutdown();
  });
});
