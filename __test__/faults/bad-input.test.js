"use strict";
// Bad input, table-driven, over every public method of the five classes and every config
// field of their constructors. Each bad value must give a TypeError/RangeError that names
// the method and the argument (methods: a rejected promise; constructors and
// onForwardedResponse: a throw) and leave the stored state exactly as it was. Valid but
// unusual input (glob characters, non-ASCII, 10 MB ids, 50 MB metadata) must round-trip.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { createClient } = __nodeRequire("redis");
const native = __nodeRequire(require.resolve("../.."));
const { describeRedis, redisUrl, redisAvailable, uniquePrefix } = require("../helpers/redis");
const { openStream, waitFor, sleep } = require("../redis/streams");
const { runNode } = require("../helpers/child");

const ADDON = require.resolve("../..");
const MB = 1024 * 1024;
const TEN_MB = "x".repeat(10 * MB);

// ---------------------------------------------------------------------------------------
// Bad values by parameter: [label, value, error name, message pattern (besides the name)]

const cyc = { lastAccessedAt: 1 };
cyc.self = cyc;
const deepCyc = { lastAccessedAt: 1, a: { b: [{}] } };
deepCyc.a.b[0].back = deepCyc.a;

const T = "TypeError";
const R = "RangeError";
const BAD = {
  sessionId: [
    ["undefined", undefined], ["null", null], ["0", 0], ["42", 42], ["NaN", NaN], ["an object", {}],
    ["an array", ["victim"]], ["the empty string", ""], ["true", true], ["a symbol", Symbol("s")],
    ["a function", () => "victim"], ["a String object", new String("victim")], ["a BigInt", 1n],
  ].map(([l, v]) => [l, v, T, /sessionId/]),
  data: [
    ["undefined", undefined, /data/], ["null", null, /data/], ["0", 0, /data/], ["a string", "str", /data/],
    ["the empty string", "", /data/], ["a 10 MB string", TEN_MB, /data/], ["an array", [], /data/],
    ["an array of objects", [{ lastAccessedAt: 1 }], /data/], ["a function", () => ({}), /data/],
    ["true", true, /data/], ["a symbol", Symbol("d"), /data/], ["a BigInt", 1n, /data/],
    ["a cycle", cyc, /data.*circular/i], ["a deep cycle", deepCyc, /data.*circular/i],
    ["a BigInt field", { lastAccessedAt: 1, n: 1n }, /data.*BigInt/], ["a nested BigInt", { a: [{ b: 2n }] }, /data.*BigInt/],
    ["a throwing toJSON", { toJSON() { throw new Error("boom"); } }, /data/],
    ["a toJSON returning undefined", { toJSON() { return undefined; } }, /data/],
    ["a throwing getter", { get lastAccessedAt() { throw new Error("getter"); } }, /data/],
  ].map(([l, v, re]) => [l, v, T, re]),
  ttlMs: [
    ["-1", -1, R], ["-0.001", -0.001, R], ["NaN", NaN, R], ["Infinity", Infinity, R], ["-Infinity", -Infinity, R],
    ["a string", "100", T], ["undefined", undefined, T], ["null", null, T], ["an object", {}, T],
    ["a BigInt", 100n, T], ["an array", [100], T],
  ].map(([l, v, name]) => [l, v, name, /ttlMs/]),
  controller: [
    ["undefined", undefined], ["null", null], ["5", 5], ["a string", "c"], ["an object", {}],
    ["an object whose enqueue is not a function", { enqueue: 5 }], ["a ReadableStream (not its controller)", new ReadableStream()],
  ].map(([l, v]) => [l, v, T, /controller/]),
  sessionIds: [
    ["null", null], ["a string", "victim"], ["5", 5], ["an object", {}], ["[5]", [5]], ['[""]', [""]],
    ["[null]", [null]], ["[undefined]", [undefined]], ['["seed-1", 5] (no partial send)', ["seed-1", 5]],
    ["a Set", new Set(["seed-1"])],
  ].map(([l, v]) => [l, v, T, /sessionIds/]),
  sendData: [
    ["undefined", undefined], ["null", null], ["5", 5], ["an object", {}], ["an array", []],
    ["a Buffer", Buffer.from("x")], ["a Uint8Array", new Uint8Array(1)], ["a symbol", Symbol("x")],
  ].map(([l, v]) => [l, v, T, /data/]),
  requestId: [
    ["undefined", undefined], ["null", null], ["an object", {}], ["an array", [1]], ["true", true],
    ["a symbol", Symbol("r")], ["a BigInt", 1n],
  ].map(([l, v]) => [l, v, T, /requestId/]),
  message: [
    ["undefined", undefined], ["null", null], ["5", 5], ["a string", "x"], ["an array", []], ["{}", {}],
    ["{ id: {} }", { id: {} }], ["{ id: null }", { id: null }], ["{ id: true }", { id: true }],
    ["a cycle", (() => { const m = { id: 1 }; m.m = m; return m; })()], ["a BigInt field", { id: 1, n: 1n }],
  ].map(([l, v]) => [l, v, T, /message/]),
  handler: [["undefined", undefined], ["null", null], ["5", 5], ["an object", {}], ["a string", "f"]].map(([l, v]) => [l, v, T, /handler/]),
};

/** Valid values by parameter (fresh each call). */
const VALID = {
  sessionId: () => "victim",
  data: () => ({ lastAccessedAt: Date.now() }),
  ttlMs: () => 60_000,
  controller: () => new ReadableStream({ start() {} }) && openStream().controller,
  sessionIds: () => ["victim"],
  sendData: () => "x",
  requestId: () => "r1",
  message: () => ({ jsonrpc: "2.0", id: "r1", result: {} }),
  handler: () => () => {},
};

const STORE_METHODS = {
  get: ["sessionId"], has: ["sessionId"], delete: ["sessionId"],
  set: ["sessionId", "data"], setWithTTL: ["sessionId", "data", "ttlMs"],
};
const STREAM_METHODS = {
  create: ["sessionId", "controller"], send: ["sessionIds", "sendData"], delete: ["sessionId"], has: ["sessionId"],
};
const REDIS_STREAM_METHODS = {
  ...STREAM_METHODS,
  registerOutboundRequest: ["requestId", "sessionId"],
  forwardInboundResponse: ["message", "sessionId"],
};
const SYNC_METHODS = new Set(["onForwardedResponse"]);

/** Calls fn; reports a synchronous throw, a rejection or a value. */
async function outcome(fn) {
  let r;
  try {
    r = fn();
  } catch (error) {
    return { sync: true, error };
  }
  if (!r || typeof r.then !== "function") return { sync: true, value: r };
  try {
    return { sync: false, value: await r };
  } catch (error) {
    return { sync: false, error };
  }
}

function describeOutcome(o) {
  if (o.error) return `${o.sync ? "threw" : "rejected"} ${o.error && o.error.name}: ${o.error && o.error.message}`;
  return `${o.sync ? "returned" : "resolved"} ${typeof o.value === "string" ? `string(${o.value.length})` : JSON.stringify(o.value)}`;
}

// ---------------------------------------------------------------------------------------
// Subjects: an instance with some state, and a snapshot of everything observable.

let redis; // raw node-redis client for the Redis subjects
async function rawKeys(prefix, c = redis) {
  const out = [];
  for await (const batch of c.scanIterator({ MATCH: `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`, COUNT: 1000 })) {
    out.push(...(Array.isArray(batch) ? batch : [batch]));
  }
  return out.sort();
}

function storeSubject(cls, make) {
  return {
    cls,
    methods: STORE_METHODS,
    async setup() {
      const ctx = await make();
      await ctx.s.set("seed-1", { lastAccessedAt: Date.now(), v: 1 });
      await ctx.s.set("seed-2", { lastAccessedAt: Date.now(), v: 2 });
      await ctx.s.setWithTTL("seed-ttl", { lastAccessedAt: Date.now(), v: 3 }, 3_600_000);
      return ctx;
    },
    async snapshot(ctx) {
      const s = ctx.s;
      const snap = {
        keys: (await s.keys()).sort(),
        size: s.size,
        seed: await s.get("seed-1"),
        victim: [await s.has("victim"), await s.get("victim")],
      };
      if (ctx.prefix) snap.raw = await rawKeys(ctx.prefix);
      if (ctx.file) {
        await s.flush();
        snap.file = Object.keys(JSON.parse(fs.readFileSync(ctx.file, "utf8"))).sort();
      }
      return snap;
    },
  };
}

function streamSubject(cls, make, methods) {
  return {
    cls,
    methods,
    async setup() {
      const ctx = await make();
      ctx.seeds = [openStream(), openStream()];
      await ctx.m.create("seed-1", ctx.seeds[0].controller);
      await ctx.m.create("seed-2", ctx.seeds[1].controller);
      return ctx;
    },
    async snapshot(ctx) {
      const m = ctx.m;
      await sleep(ctx.prefix ? 20 : 0); // let a (wrong) publish arrive before looking
      const snap = {
        size: m.size ?? m.localSize,
        seeds: [await m.has("seed-1"), await m.has("seed-2")],
        victim: await m.has("victim"),
        received: ctx.seeds.map((s) => s.received.length),
        closed: ctx.seeds.map((s) => s.closed || Boolean(s.error)),
      };
      if (ctx.prefix) {
        snap.active = (await redis.sMembers(`${ctx.prefix}active`)).sort();
        snap.raw = await rawKeys(ctx.prefix);
        snap.routes = await rawKeys(`${ctx.prefix}req-route:`);
      }
      return snap;
    },
  };
}

const tmpDirs = [];
function tmpDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-faults-bad-"));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const LOCAL_SUBJECTS = [
  storeSubject("InMemorySessionStore", async () => ({ s: new native.InMemorySessionStore() })),
  storeSubject("FileSystemSessionStore", async () => {
    const file = path.join(tmpDir(), "sessions.json");
    return { s: new native.FileSystemSessionStore({ path: file, debounceMs: 1 }), file };
  }),
  streamSubject("InMemoryStreamManager", async () => ({ m: new native.InMemoryStreamManager() }), STREAM_METHODS),
];
const REDIS_SUBJECTS = [
  storeSubject("RedisSessionStore", async () => {
    const prefix = uniquePrefix("bad-store");
    return { s: new native.RedisSessionStore({ url: redisUrl(), prefix }), prefix };
  }),
  streamSubject(
    "RedisStreamManager",
    async () => {
      const prefix = uniquePrefix("bad-stream");
      return { m: new native.RedisStreamManager({ url: redisUrl(), prefix, heartbeatInterval: 1 }), prefix };
    },
    { ...REDIS_STREAM_METHODS, onForwardedResponse: ["handler"] },
  ),
];

/** One jest test per (class, method, parameter): every bad value of that parameter. */
function methodTable(subject) {
  const rows = [];
  for (const [method, params] of Object.entries(subject.methods)) {
    params.forEach((param, index) => rows.push([`${subject.cls}.${method}`, param, method, params, index]));
  }
  describe(`bad input: ${subject.cls} methods`, () => {
    let ctx;
    beforeAll(async () => {
      ctx = await subject.setup();
    });
    afterAll(async () => {
      const x = ctx && (ctx.s || ctx.m);
      if (x && x.clear && ctx.prefix) await x.clear().catch(() => {});
      if (x && x.close) await x.close().catch(() => {});
    });

    test.each(rows)("%s: bad %s", async (qualified, param, method, params, index) => {
      const target = ctx.s || ctx.m;
      const problems = [];
      const before = await subject.snapshot(ctx);
      for (const [label, value, name, re] of BAD[param]) {
        const args = params.map((p, i) => (i === index ? value : VALID[p]()));
        const o = await outcome(() => target[method](...args));
        const wantSync = SYNC_METHODS.has(method);
        const ok =
          o.error &&
          o.sync === wantSync &&
          o.error.name === name &&
          re.test(o.error.message) &&
          o.error.message.includes(qualified);
        if (!ok) problems.push(`${param} = ${label}: expected ${wantSync ? "a thrown" : "a rejected"} ${name} naming ${qualified} and ${re}, got: ${describeOutcome(o)}`);
        const after = await subject.snapshot(ctx);
        try {
          expect(after).toEqual(before);
        } catch {
          problems.push(`${param} = ${label}: state changed: ${JSON.stringify(before).slice(0, 300)} -> ${JSON.stringify(after).slice(0, 300)}`);
        }
      }
      expect(problems).toEqual([]);
    });
  });
}

for (const s of LOCAL_SUBJECTS) methodTable(s);
describeRedis("bad input: Redis classes", () => {
  beforeAll(async () => {
    redis = createClient({ url: redisUrl() });
    await redis.connect();
  });
  afterAll(async () => {
    await redis.quit();
  });
  for (const s of REDIS_SUBJECTS) methodTable(s);
});

// ---------------------------------------------------------------------------------------
// Constructors: config and each field. Values that could abort the process (huge finite
// numbers reach Rust's Duration conversion) run in a child process.

const url = () => redisUrl();
const num = (field, extraRange = []) => [
  ...[["-1", -1], ["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity], ...extraRange].map(([l, v]) => [field, l, v, R, new RegExp(field)]),
  ...[["a string", "5"], ["an object", {}], ["true", true]].map(([l, v]) => [field, l, v, T, new RegExp(field)]),
];
const str = (field) => [["5", 5], ["an object", {}], ["an array", []], ["true", true]].map(([l, v]) => [field, l, v, T, new RegExp(field)]);

const CTOR = {
  FileSystemSessionStore: {
    base: () => ({ path: path.join(tmpDir(), "s.json") }),
    configs: [["5", 5], ["a string", "s.json"], ["true", true]],
    fields: [...str("path"), ["path", "the empty string", "", T, /path/], ...num("debounceMs"), ...num("maxAgeMs")],
  },
  RedisSessionStore: {
    redis: true,
    base: () => ({ url: url(), prefix: uniquePrefix("ctor") }),
    configs: [["undefined", undefined], ["null", null], ["5", 5], ["a URL string", "redis://127.0.0.1:6379"]],
    fields: [
      ...str("url"), ["url", "an http:// URL", "http://127.0.0.1:1", T, /url/i], ["url", "the empty string", "", T, /url/i],
      ...str("prefix"), ...num("defaultTTL", [["0", 0], ["0.5", 0.5]]), ...num("commandTimeoutMs", [["0", 0]]),
      ["client", "5 (with url)", 5, T, /client/], ["client", "a string (with url)", "redis://x", T, /client/],
    ],
    noUrl: [["client", "null", null], ["client", "5", 5], ["client", "a URL string", "redis://127.0.0.1:6379"]],
    // An object that is not node-redis/ioredis is driven through its own methods by default;
    // driver "native" refuses it.
    noUrlNative: [["client", "{}", {}]],
  },
  RedisStreamManager: {
    redis: true,
    base: () => ({ url: url(), prefix: uniquePrefix("ctor") }),
    configs: [["undefined", undefined], ["null", null], ["5", 5], ["a URL string", "redis://127.0.0.1:6379"]],
    fields: [
      ...str("url"), ["url", "an http:// URL", "http://127.0.0.1:1", T, /url/i], ["url", "the empty string", "", T, /url/i],
      ...str("prefix"), ...num("heartbeatInterval", [["0", 0], ["0.5", 0.5]]), ...num("commandTimeoutMs", [["0", 0]]),
    ],
    noUrl: [["client", "null", null], ["client", "5", 5]],
    noUrlNative: [["client", "{}", {}]],
    withClient: [["pubSubClient", "5", 5], ["pubSubClient", "a string", "redis://x"]],
    withClientNative: [["pubSubClient", "{}", {}]],
  },
};

function ctorTable(cls, spec) {
  const run = () => {
    test(`new ${cls}(bad config / bad fields): TypeError/RangeError naming the field; nothing created`, async () => {
      const problems = [];
      const check = (label, make, name, re) => {
        let err = null;
        let made = null;
        try {
          made = make();
        } catch (e) {
          err = e;
        }
        if (made && made.close) made.close().catch(() => {});
        if (!err || err.name !== name || !re.test(err.message) || !err.message.includes(`new ${cls}`)) {
          problems.push(`${label}: expected ${name} naming new ${cls} and ${re}, got ${err ? `${err.name}: ${err.message}` : "an instance"}`);
        }
      };
      for (const [l, v] of spec.configs) check(`config = ${l}`, () => new native[cls](v), T, /config/);
      for (const [field, l, v, name, re] of spec.fields) {
        const base = spec.base();
        const config = { ...base, [field]: v };
        check(`${field} = ${l}`, () => new native[cls](config), name, re);
        if (base.path) {
          // Nothing was created for a refused config: no file, no lock file.
          const left = fs.readdirSync(path.dirname(base.path));
          if (left.length) problems.push(`${field} = ${l}: left files behind: ${left}`);
        }
      }
      for (const [field, l, v] of spec.noUrl || []) check(`${field} = ${l} (no url)`, () => new native[cls]({ [field]: v }), T, new RegExp(field));
      for (const [field, l, v] of spec.noUrlNative || []) check(`${field} = ${l} (no url, driver native)`, () => new native[cls]({ [field]: v, driver: "native" }), T, new RegExp(field));
      if (spec.redis) {
        for (const driver of [undefined, "auto", "native", "client"]) {
          check(`driver = ${driver} with a bad client (5)`, () => new native[cls]({ client: 5, driver }), T, /client/);
        }
        for (const [l, v] of [["a string", "fast"], ["a number", 1], ["an object", {}]]) check(`driver = ${l}`, () => new native[cls]({ ...spec.base(), driver: v }), T, /driver/);
      }
      if (spec.withClient) {
        const client = createClient({ url: redisUrl() });
        await client.connect();
        for (const [field, l, v] of spec.withClient) check(`${field} = ${l} (with a client)`, () => new native[cls]({ client, [field]: v }), T, new RegExp(field));
        for (const [field, l, v] of spec.withClientNative || []) check(`${field} = ${l} (with a client, driver native)`, () => new native[cls]({ client, [field]: v, driver: "native" }), T, new RegExp(field));
        await client.quit();
      }
      expect(problems).toEqual([]);
    });
  };
  if (spec.redis) describeRedis(`bad input: new ${cls}`, run);
  else describe(`bad input: new ${cls}`, run);
}
for (const [cls, spec] of Object.entries(CTOR)) ctorTable(cls, spec);

describe("bad input: constructors without a config", () => {
  test("InMemorySessionStore/InMemoryStreamManager take no config: any argument is ignored (documented: constructor())", async () => {
    for (const arg of [undefined, null, 5, "x", { path: "ignored" }]) {
      const s = new native.InMemorySessionStore(arg);
      await s.set("a", { lastAccessedAt: 1 });
      expect(await s.keys()).toEqual(["a"]);
      const m = new native.InMemoryStreamManager(arg);
      expect(m.size).toBe(0);
    }
  });
});

// Huge finite numbers: documented as valid (finite, >= the minimum). Each either is
// refused with a RangeError naming the field, or works. Run in a child: a Rust panic while
// converting them would abort the whole process.
describe("bad input: huge finite numbers (each in its own process)", () => {
  const cases = [
    ["FileSystemSessionStore debounceMs 1e300", false, `
      const s = new m.FileSystemSessionStore({ path: P, debounceMs: 1e300 });
      await s.set("a", { lastAccessedAt: Date.now() }); await s.flush();
      return Object.keys(JSON.parse(require("fs").readFileSync(P, "utf8")));`, ["a"], /debounceMs/],
    ["FileSystemSessionStore maxAgeMs 1e300", false, `
      const s = new m.FileSystemSessionStore({ path: P, maxAgeMs: 1e300 });
      await s.set("a", { lastAccessedAt: 1 }); await s.flush(); return s.keys();`, ["a"], /maxAgeMs/],
    ["FileSystemSessionStore setWithTTL 1e300", false, `
      const s = new m.FileSystemSessionStore({ path: P });
      await s.setWithTTL("a", { lastAccessedAt: 1 }, 1e300); return s.keys();`, ["a"], /ttlMs/],
    ["InMemorySessionStore setWithTTL Number.MAX_VALUE", false, `
      const s = new m.InMemorySessionStore();
      await s.setWithTTL("a", { lastAccessedAt: 1 }, Number.MAX_VALUE); return s.keys();`, ["a"], /ttlMs/],
    ["RedisSessionStore commandTimeoutMs 1e300", true, `
      const s = new m.RedisSessionStore({ url: U, prefix: X, commandTimeoutMs: 1e300 });
      await s.set("a", { lastAccessedAt: 1 }); const k = await s.keys(); await s.clear(); await s.close(); return k;`, ["a"], /commandTimeoutMs/],
    ["RedisSessionStore defaultTTL 1e300", true, `
      const s = new m.RedisSessionStore({ url: U, prefix: X, defaultTTL: 1e300 });
      await s.set("a", { lastAccessedAt: 1 }); const k = await s.keys(); await s.clear(); await s.close(); return k;`, ["a"], /defaultTTL/],
    ["RedisSessionStore setWithTTL 1e300", true, `
      const s = new m.RedisSessionStore({ url: U, prefix: X });
      await s.setWithTTL("a", { lastAccessedAt: 1 }, 1e300); const k = await s.keys(); await s.clear(); await s.close(); return k;`, ["a"], /ttlMs/],
    ["RedisStreamManager commandTimeoutMs 1e300", true, `
      const s = new m.RedisStreamManager({ url: U, prefix: X, commandTimeoutMs: 1e300 });
      let c; new ReadableStream({ start(x) { c = x; } });
      await s.create("a", c); const h = await s.has("a"); await s.close(); return [h];`, [true], /commandTimeoutMs/],
    ["RedisStreamManager heartbeatInterval 1e300", true, `
      const s = new m.RedisStreamManager({ url: U, prefix: X, heartbeatInterval: 1e300 });
      let c; new ReadableStream({ start(x) { c = x; } });
      await s.create("a", c); const h = await s.has("a"); await s.close(); return [h];`, [true], /heartbeatInterval/],
  ];
  test.each(cases)("%s: refused with a RangeError naming it, or works", async (label, needsRedis, body, works, re) => {
    if (needsRedis && !redisAvailable()) throw new Error("Redis required for this case");
    const dir = tmpDir();
    const code = `
      const m = require(${JSON.stringify(ADDON)});
      const P = ${JSON.stringify(path.join(dir, "s.json"))};
      const U = ${JSON.stringify(needsRedis ? redisUrl() : "")};
      const X = ${JSON.stringify(uniquePrefix("huge"))};
      (async () => { ${body} })().then(
        (v) => { console.log(JSON.stringify({ value: v })); process.exit(0); },
        (e) => { console.log(JSON.stringify({ error: { name: e.name, message: e.message } })); process.exit(0); });
    `;
    const r = await runNode(code, { timeoutMs: 20_000, env: { MCP_SESSIONS_LOG: "off" } });
    const got = { code: r.code, signal: r.signal, out: r.stdout.trim(), stderr: r.stderr.trim().split("\n").slice(0, 3).join(" | ") };
    expect({ code: got.code, signal: got.signal }).toEqual({ code: 0, signal: null });
    const res = JSON.parse(got.out);
    if (res.error) expect(res.error).toEqual({ name: "RangeError", message: expect.stringMatching(re) });
    else expect(res.value).toEqual(works);
  });
});

// ---------------------------------------------------------------------------------------
// Valid but unusual input: documented results.

const ODD_IDS = [
  "a*", "ab", "a?", "[ab]", "a[", "]", "a\\b", "\\", "a:b", ":", "*", "?", "a\\*", "^$.|+(){}",
  "ключ-сессии", "会话", "😀🚀", "e\u0301", "\u00e9", "with space", "tab\tnew\nline", "nul\u0000byte", "%2A", "'\"`",
];

/** Every id round-trips: get/has/keys return exactly it, delete removes exactly it. */
async function storeRoundTrip(s) {
  for (const id of ODD_IDS) await s.set(id, { lastAccessedAt: Date.now(), id });
  expect((await s.keys()).sort()).toEqual([...ODD_IDS].sort());
  for (const id of ODD_IDS) {
    expect(await s.get(id)).toEqual({ lastAccessedAt: expect.any(Number), id });
    expect(await s.has(id)).toBe(true);
  }
  // A glob-like id is not a pattern: deleting `a*` leaves `ab`, `a?`, `*`.
  await s.delete("a*");
  await s.delete("*");
  expect((await s.keys()).sort()).toEqual(ODD_IDS.filter((i) => i !== "a*" && i !== "*").sort());
  for (const id of ODD_IDS) await s.delete(id);
  expect(await s.keys()).toEqual([]);
}

/** A 10 MB id and 50 MB of metadata are stored (documented: any non-empty string / any JSON object). */
async function storeBig(s) {
  await s.set(TEN_MB, { lastAccessedAt: 1, v: "ten" });
  expect(await s.has(TEN_MB)).toBe(true);
  expect(await s.get(TEN_MB)).toEqual({ lastAccessedAt: 1, v: "ten" });
  expect((await s.keys()).map((k) => k.length)).toEqual([TEN_MB.length]);
  await s.delete(TEN_MB);
  expect(await s.keys()).toEqual([]);
  const blob = "é".repeat(25 * MB); // 50 MB of UTF-8
  await s.set("big", { lastAccessedAt: Date.now(), blob, list: [1, 2, 3] });
  const back = await s.get("big");
  expect(back.blob.length).toBe(blob.length);
  expect(back.blob === blob).toBe(true);
  expect(back.list).toEqual([1, 2, 3]);
}

/** Metadata as JSON.stringify writes it. */
async function storeJsonSemantics(s) {
  const when = new Date(0);
  await s.set("j", { lastAccessedAt: 1, fn() {}, u: undefined, when, nan: NaN, inf: -Infinity, negZero: -0, arr: [undefined, () => 1, 2], nested: { toJSON: () => "via toJSON" } });
  expect(await s.get("j")).toEqual({ lastAccessedAt: 1, when: when.toISOString(), nan: null, inf: null, negZero: 0, arr: [null, null, 2], nested: "via toJSON" });
  // A fresh copy each time: mutating what get returned changes nothing stored.
  const a = await s.get("j");
  a.lastAccessedAt = 99;
  expect((await s.get("j")).lastAccessedAt).toBe(1);
  await s.delete("j");
}

describe("documented results: InMemorySessionStore / FileSystemSessionStore", () => {
  test.each(["InMemorySessionStore", "FileSystemSessionStore"])("%s: glob and non-ASCII ids round-trip and never match each other", async (cls) => {
    const s = cls === "InMemorySessionStore" ? new native.InMemorySessionStore() : new native.FileSystemSessionStore({ path: path.join(tmpDir(), "s.json") });
    await storeRoundTrip(s);
  });

  test("FileSystemSessionStore: odd ids survive the file (written, then loaded by another process)", async () => {
    const file = path.join(tmpDir(), "s.json");
    const code = (write) => `
      const m = require(${JSON.stringify(ADDON)});
      const s = new m.FileSystemSessionStore({ path: ${JSON.stringify(file)} });
      const ids = ${JSON.stringify(ODD_IDS)};
      (async () => {
        ${write ? "for (const id of ids) await s.set(id, { lastAccessedAt: Date.now(), id }); await s.flush();" : ""}
        const keys = await s.keys();
        const ok = await Promise.all(ids.map(async (id) => (await s.get(id))?.id === id));
        console.log(JSON.stringify({ keys: keys.sort(), ok }));
      })();`;
    await runNode(code(true), { timeoutMs: 20_000 });
    const r = await runNode(code(false), { timeoutMs: 20_000 });
    expect(JSON.parse(r.stdout)).toEqual({ keys: [...ODD_IDS].sort(), ok: ODD_IDS.map(() => true) });
  });

  test.each(["InMemorySessionStore", "FileSystemSessionStore"])("%s: a 10 MB id and 50 MB of metadata are stored and round-trip", async (cls) => {
    const file = path.join(tmpDir(), "s.json");
    const s = cls === "InMemorySessionStore" ? new native.InMemorySessionStore() : new native.FileSystemSessionStore({ path: file });
    await storeBig(s);
    if (cls === "FileSystemSessionStore") {
      await s.flush();
      expect(fs.statSync(file).size).toBeGreaterThan(50 * MB);
      const r = await runNode(
        `const m = require(${JSON.stringify(ADDON)});
         require("fs").renameSync(${JSON.stringify(file)}, ${JSON.stringify(file + ".copy.json")});`,
        { timeoutMs: 20_000 },
      );
      expect(r.code).toBe(0);
      // Loaded by another process (the copy: this process holds the original's lock).
      const load = await runNode(
        `const m = require(${JSON.stringify(ADDON)});
         const s = new m.FileSystemSessionStore({ path: ${JSON.stringify(file + ".copy.json")} });
         s.get("big").then((v) => console.log(JSON.stringify({ len: v.blob.length, list: v.list })));`,
        { timeoutMs: 30_000 },
      );
      expect(JSON.parse(load.stdout)).toEqual({ len: 25 * MB, list: [1, 2, 3] });
    }
  }, 60_000);

  test.each(["InMemorySessionStore", "FileSystemSessionStore"])("%s: metadata is stored as JSON.stringify writes it", async (cls) => {
    const s = cls === "InMemorySessionStore" ? new native.InMemorySessionStore() : new native.FileSystemSessionStore({ path: path.join(tmpDir(), "s.json") });
    await storeJsonSemantics(s);
  });

  test.each(["InMemorySessionStore", "FileSystemSessionStore"])("%s: setWithTTL 0 expires at once; a huge TTL keeps it", async (cls) => {
    const s = cls === "InMemorySessionStore" ? new native.InMemorySessionStore() : new native.FileSystemSessionStore({ path: path.join(tmpDir(), "s.json") });
    await s.setWithTTL("zero", { lastAccessedAt: Date.now() }, 0);
    await s.setWithTTL("long", { lastAccessedAt: Date.now() }, 1e12);
    await waitFor(async () => !(await s.has("zero")), "a 0 ms TTL to expire", 5_000);
    expect(await s.keys()).toEqual(["long"]);
  });
});

// Ids that are not well-formed UTF-16 (lone surrogates) cannot be converted to UTF-8 as
// they are. Documented contract: any non-empty string is an id, distinct strings are
// distinct sessions, and bad input is a TypeError. So either reject them naming sessionId,
// or keep them distinct and give them back unchanged.
describe("ids with lone surrogates", () => {
  test.each(["InMemorySessionStore", "FileSystemSessionStore"])("%s: two different lone-surrogate ids are not the same session", async (cls) => {
    const s = cls === "InMemorySessionStore" ? new native.InMemorySessionStore() : new native.FileSystemSessionStore({ path: path.join(tmpDir(), "s.json") });
    const a = "sess-\uD800";
    const b = "sess-\uDBFF";
    const o = await outcome(() => s.set(a, { lastAccessedAt: 1, who: "a" }));
    if (o.error) {
      expect({ name: o.error.name, message: o.error.message }).toEqual({ name: "TypeError", message: expect.stringMatching(/sessionId/) });
      expect(await s.keys()).toEqual([]);
      return;
    }
    expect(await s.get(b)).toBeNull(); // got: { who: "a" } — both become "sess-\uFFFD"
    expect(await s.keys()).toEqual([a]);
  });
});

describe("documented results: InMemoryStreamManager", () => {
  test("glob and non-ASCII ids: a targeted send reaches exactly that stream; broadcast reaches each once", async () => {
    const m = new native.InMemoryStreamManager();
    const streams = Object.fromEntries(ODD_IDS.map((id) => [id, openStream()]));
    for (const id of ODD_IDS) await m.create(id, streams[id].controller);
    for (const id of ODD_IDS) await m.send([id], `to:${id}`);
    await m.send(undefined, "all");
    await sleep(10);
    for (const id of ODD_IDS) expect(streams[id].received).toEqual([`to:${id}`, "all"]);
    await m.delete("a*");
    await waitFor(() => streams["a*"].closed, "a* to close");
    expect(ODD_IDS.filter((id) => id !== "a*" && streams[id].closed)).toEqual([]);
    expect(m.size).toBe(ODD_IDS.length - 1);
    await m.close();
  });

  test("a 10 MB id and a 10 MB payload", async () => {
    const m = new native.InMemoryStreamManager();
    const r = openStream();
    await m.create(TEN_MB, r.controller);
    expect(await m.has(TEN_MB)).toBe(true);
    await m.send([TEN_MB], TEN_MB);
    await waitFor(() => r.received.join("").length === TEN_MB.length, "the 10 MB payload");
    expect(r.received.join("") === TEN_MB).toBe(true);
    await m.delete(TEN_MB);
    expect(m.size).toBe(0);
  });
});

describeRedis("documented results: RedisSessionStore / RedisStreamManager", () => {
  let client;
  beforeAll(async () => {
    client = createClient({ url: redisUrl() });
    await client.connect();
  });
  afterAll(async () => {
    await client.quit();
  });

  test("RedisSessionStore: glob and non-ASCII ids round-trip; keys are exactly {prefix}{id}", async () => {
    const prefix = uniquePrefix("odd");
    const s = new native.RedisSessionStore({ url: redisUrl(), prefix });
    await storeRoundTrip(s);
    await s.set("a*", { lastAccessedAt: 1 });
    expect(await client.get(`${prefix}a*`)).toBe(JSON.stringify({ lastAccessedAt: 1 }));
    await s.clear();
    await s.close();
  });

  test("RedisSessionStore: a 10 MB id, 50 MB of metadata, JSON semantics; setWithTTL 0 stores nothing lasting", async () => {
    const prefix = uniquePrefix("big");
    const s = new native.RedisSessionStore({ url: redisUrl(), prefix });
    await storeBig(s);
    await storeJsonSemantics(s);
    await s.setWithTTL("zero", { lastAccessedAt: 1 }, 0);
    await waitFor(async () => !(await s.has("zero")), "a 0 ms TTL to expire", 5_000);
    await s.clear();
    expect(await rawKeys(prefix, client)).toEqual([]);
    await s.close();
  }, 60_000);

  test("RedisSessionStore: ids and prefixes with glob characters never reach another prefix's keys (keys, delete, clear)", async () => {
    const base = uniquePrefix("globiso");
    const p1 = `${base}[xy]:`; // as an unescaped glob, `${p1}*` matches `${base}x:...`
    const p2 = `${base}x:`;
    const s1 = new native.RedisSessionStore({ url: redisUrl(), prefix: p1 });
    const s2 = new native.RedisSessionStore({ url: redisUrl(), prefix: p2 });
    const mine = ["a*", "a?", "[ab]", "a\\", "*"];
    const theirs = ["ab", "a", "b", "a*x", "[ab]"];
    for (const id of mine) await s1.set(id, { lastAccessedAt: 1, id });
    for (const id of theirs) await s2.set(id, { lastAccessedAt: 2, id });
    await client.set(`${base}y:ab`, "{}");
    expect((await s1.keys()).sort()).toEqual([...mine].sort());
    expect((await s2.keys()).sort()).toEqual([...theirs].sort());
    await s1.delete("a*");
    await s1.delete("*");
    expect((await s1.keys()).sort()).toEqual(["[ab]", "a\\", "a?"].sort());
    await s1.clear();
    expect(await s1.keys()).toEqual([]);
    expect((await s2.keys()).sort()).toEqual([...theirs].sort());
    for (const id of theirs) expect(await s2.get(id)).toEqual({ lastAccessedAt: 2, id });
    expect(await client.get(`${base}y:ab`)).toBe("{}");
    await s2.clear();
    await client.del(`${base}y:ab`);
    await Promise.all([s1.close(), s2.close()]);
  });

  test("RedisStreamManager: glob ids and prefixes: targeted sends, broadcasts and deletes reach exactly the live streams", async () => {
    const base = uniquePrefix("globstream");
    const p1 = `${base}[xy]:`;
    const p2 = `${base}x:`;
    const m1 = new native.RedisStreamManager({ url: redisUrl(), prefix: p1, heartbeatInterval: 1 });
    const m2 = new native.RedisStreamManager({ url: redisUrl(), prefix: p2, heartbeatInterval: 1 });
    const ids1 = ["a*", "a?", "[ab]", "ab", "*", "ключ", "😀"];
    const ids2 = ["ab", "a", "b", "[ab]"];
    const s1 = Object.fromEntries(ids1.map((id) => [id, openStream()]));
    const s2 = Object.fromEntries(ids2.map((id) => [id, openStream()]));
    // Count every PUBLISH under the base prefix with a pattern subscriber.
    const published = [];
    const psub = client.duplicate();
    await psub.connect();
    await psub.pSubscribe(`${base.replace(/[*?[\]\\]/g, "\\$&")}*`, (message, channel) => published.push(channel));
    try {
      for (const id of ids1) await m1.create(id, s1[id].controller);
      for (const id of ids2) await m2.create(id, s2[id].controller);
      for (const id of ids1) await m1.send([id], `t:${id}`);
      await m1.send(undefined, "b1");
      await m2.send(undefined, "b2");
      await waitFor(
        () => ids1.every((id) => s1[id].received.length === 2) && ids2.every((id) => s2[id].received.length === 1),
        "targeted sends and broadcasts",
      );
      await sleep(300);
      for (const id of ids1) expect(s1[id].received).toEqual([`t:${id}`, "b1"]);
      for (const id of ids2) expect(s2[id].received).toEqual(["b2"]);
      // Exactly one PUBLISH per live stream: ids1 targeted + ids1 broadcast + ids2 broadcast.
      const expected = [...ids1.map((id) => `${p1}${id}`), ...ids1.map((id) => `${p1}${id}`), ...ids2.map((id) => `${p2}${id}`)].sort();
      expect(published.filter((c) => !c.startsWith("delete:")).sort()).toEqual(expected);

      await m1.delete("a*");
      await waitFor(() => s1["a*"].closed, "a* to close");
      await m1.delete("[ab]");
      await waitFor(() => s1["[ab]"].closed, "[ab] to close");
      await sleep(200);
      expect(ids1.filter((id) => s1[id].closed).sort()).toEqual(["[ab]", "a*"]);
      expect(ids2.filter((id) => s2[id].closed)).toEqual([]);
      expect(await m2.has("[ab]")).toBe(true);
      expect((await client.sMembers(`${p2}active`)).sort()).toEqual([...ids2].sort());
      await m1.close();
      await sleep(200);
      expect(ids2.filter((id) => s2[id].closed)).toEqual([]);
      expect((await client.sMembers(`${p2}active`)).sort()).toEqual([...ids2].sort());
      published.length = 0;
      await m2.send(undefined, "b3");
      await waitFor(() => ids2.every((id) => s2[id].received.includes("b3")), "broadcast after the other prefix closed");
      await sleep(200);
      expect(published.sort()).toEqual(ids2.map((id) => `${p2}${id}`).sort());
    } finally {
      await psub.quit();
      await Promise.allSettled([m1.close(), m2.close()]);
    }
  });

  test("RedisStreamManager: a 10 MB payload is delivered intact", async () => {
    const prefix = uniquePrefix("bigsend");
    const m = new native.RedisStreamManager({ url: redisUrl(), prefix, heartbeatInterval: 1 });
    const r = openStream();
    try {
      await m.create("s", r.controller);
      await m.send(["s"], TEN_MB);
      await waitFor(() => r.received.join("").length === TEN_MB.length, "the 10 MB payload");
      expect(r.received.join("") === TEN_MB).toBe(true);
    } finally {
      await m.close();
    }
  });
});
