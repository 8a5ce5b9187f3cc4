"use strict";
// RedisSessionStore: the reference's semantics and wire format, on a private redis-server.
// mcp-use/server loads ESM-only dependencies: load it with Node's own require.
const { createClient } = __nodeRequire("redis");
const ref = __nodeRequire(require.resolve("mcp-use/server"));
const native = __nodeRequire(require.resolve(".."));
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { expectRejection, expectThrow } = require("./helpers/errors");

describeRedis("RedisSessionStore", () => {
  let client;
  beforeAll(async () => {
    client = createClient({ url: redisUrl() });
    await client.connect();
  });
  afterAll(async () => {
    await client.quit();
  });

  const make = (Impl, prefix) => new Impl({ client, prefix });

  test.each([["mcp-use", ref], ["native", native]])("%s: get/set/has/delete/keys with the default TTL", async (_, impl) => {
    const prefix = uniquePrefix("store");
    const s = make(impl.RedisSessionStore, prefix);
    expect(await s.get("missing")).toBeNull();
    await s.set("a", { lastAccessedAt: 1, extra: { deep: [1, "x"] } });
    expect(await s.get("a")).toEqual({ lastAccessedAt: 1, extra: { deep: [1, "x"] } });
    expect(await s.has("a")).toBe(true);
    expect(await client.ttl(`${prefix}a`)).toBeGreaterThan(3590);
    await s.setWithTTL("b", { lastAccessedAt: 2 }, 1500);
    expect(await client.ttl(`${prefix}b`)).toBe(2); // ceil(1500 / 1000)
    expect((await s.keys()).sort()).toEqual(["a", "b"]);
    await s.delete("a");
    expect(await s.has("a")).toBe(false);
    await s.clear();
    expect(await s.keys()).toEqual([]);
  });

  test("a session written by mcp-use reads back in ours, and the reverse (same key, same JSON)", async () => {
    const prefix = uniquePrefix("compat");
    const theirs = make(ref.RedisSessionStore, prefix);
    const ours = make(native.RedisSessionStore, prefix);
    const meta = { lastAccessedAt: 1700000000000, clientInfo: { name: "c", version: "1" }, logLevel: "info", custom: [true, null] };
    await theirs.set("from-ts", meta);
    expect(await ours.get("from-ts")).toEqual(meta);
    await ours.set("from-rust", meta);
    expect(await theirs.get("from-rust")).toEqual(meta);
    expect(await client.get(`${prefix}from-rust`)).toBe(JSON.stringify(meta));
    expect((await ours.keys()).sort()).toEqual(["from-rust", "from-ts"]);
  });

  test("native: keys() and clear() use SCAN, never KEYS, and a glob prefix matches nothing else", async () => {
    const base = uniquePrefix("glob");
    const globPrefix = `${base}*?[x]\\:`;
    const ours = make(native.RedisSessionStore, globPrefix);
    // Keys a glob-unescaped pattern `${globPrefix}*` would also match:
    await client.set(`${base}AAx]\\:other`, "{}");
    await client.set(`${base}zz`, "{}");
    await ours.set("mine", { lastAccessedAt: 1 });
    await ours.set("ids*with?[glob]", { lastAccessedAt: 2 });
    const statsBefore = await client.info("commandstats");
    const keysCalls = (s) => Number((/cmdstat_keys:calls=(\d+)/.exec(s) || [0, 0])[1]);
    expect((await ours.keys()).sort()).toEqual(["ids*with?[glob]", "mine"]);
    await ours.clear();
    const statsAfter = await client.info("commandstats");
    expect(keysCalls(statsAfter)).toBe(keysCalls(statsBefore));
    expect(statsAfter).toMatch(/cmdstat_scan:calls=\d+/);
    expect(await client.get(`${base}AAx]\\:other`)).toBe("{}");
    expect(await client.get(`${base}zz`)).toBe("{}");
    expect(await ours.keys()).toEqual([]);
  });

  test("native: reads a node-redis client's settings (database, credentials-free URL) and opens its own connection", async () => {
    const url = new URL(redisUrl());
    const c = createClient({ socket: { host: url.hostname, port: Number(url.port) }, database: 3 });
    await c.connect();
    const prefix = uniquePrefix("db3");
    const ours = new native.RedisSessionStore({ client: c, prefix });
    await ours.set("in-db-3", { lastAccessedAt: 1 });
    expect(await c.get(`${prefix}in-db-3`)).not.toBeNull(); // c is on database 3
    expect(await client.get(`${prefix}in-db-3`)).toBeNull(); // client is on database 0
    await ours.close();
    expect(c.isOpen).toBe(false); // close() quits the passed client, as the reference does
  });

  test("native: with driver \"native\", an unreadable client is a TypeError that says what to pass instead", () => {
    expectThrow(() => new native.RedisSessionStore({ client: {}, driver: "native" }), "TypeError", /config\.client.*url.*driver "auto" or "client"/);
    // With the default driver ("auto") such an object is driven through its own methods.
    expect(new native.RedisSessionStore({ client: {} }).driver).toBe("client");
    expectThrow(() => new native.RedisSessionStore(), "TypeError", /config is required/);
    expectThrow(() => new native.RedisSessionStore({ url: redisUrl(), defaultTTL: -1 }), "RangeError", /defaultTTL/);
  });

  test("native: Redis unreachable: writes reject naming Redis within the bound, reads fall back like the reference", async () => {
    // Port 1 on loopback: nothing listens there.
    const down = new native.RedisSessionStore({ url: "redis://127.0.0.1:1", commandTimeoutMs: 300 });
    await expectRejection(down.set("x", { lastAccessedAt: 1 }), "Error", /Redis SET .*x/);
    await expectRejection(down.delete("x"), "Error", /Redis/);
    await expectRejection(down.clear(), "Error", /Redis/);
    expect(await down.get("x")).toBeNull();
    expect(await down.has("x")).toBe(false);
    expect(await down.keys()).toEqual([]);
  });

  test("native: after close(), reads resolve their fallback like the reference and writes reject", async () => {
    const ours = new native.RedisSessionStore({ url: redisUrl(), prefix: uniquePrefix("closed") });
    await ours.set("a", { lastAccessedAt: 1 });
    const closing = ours.close();
    expect(typeof closing.then).toBe("function");
    await closing;
    expect(await ours.get("a")).toBeNull();
    expect(await ours.has("a")).toBe(false);
    expect(await ours.keys()).toEqual([]);
    await expectRejection(ours.set("b", { lastAccessedAt: 1 }), "Error", /closed/);
  });

  test("native: bad input rejects with a TypeError/RangeError and stores nothing", async () => {
    const prefix = uniquePrefix("bad");
    const ours = make(native.RedisSessionStore, prefix);
    const cyc = {}; cyc.self = cyc;
    await expectRejection(ours.set("", { lastAccessedAt: 1 }), "TypeError", /sessionId/);
    await expectRejection(ours.set(42, { lastAccessedAt: 1 }), "TypeError", /sessionId/);
    await expectRejection(ours.set("a", null), "TypeError", /data/);
    await expectRejection(ours.set("a", cyc), "TypeError", /circular/);
    await expectRejection(ours.set("a", { n: 1n }), "TypeError", /BigInt/);
    await expectRejection(ours.setWithTTL("a", { lastAccessedAt: 1 }, NaN), "RangeError", /ttlMs/);
    await expectRejection(ours.setWithTTL("a", { lastAccessedAt: 1 }, -5), "RangeError", /ttlMs/);
    expect(await ours.keys()).toEqual([]);
  });
});
