"use strict";
// Differential suite: ONE table of cases run against mcp-use/server (the reference) and the
// addon (package root), for InMemorySessionStore, FileSystemSessionStore and
// InMemoryStreamManager.
//
// A case is either
//   { title, kinds, fn }                          same behaviour expected from both, or
//   { title, kinds, differs, native, reference? } the addon differs ON PURPOSE (a defect of
//                                                 the reference fixed, or a stricter contract):
//                                                 `native` asserts our behaviour; `reference`,
//                                                 when present, asserts the reference defect
//                                                 (proving the case can tell them apart).
//
// Select implementations with MCP_TEST_IMPL=mcp-use|native (default: both).
//
// Note: objects coming from the addon (errors, promises, typed arrays) are created in
// Node's main realm, not in jest's sandbox, so checks use names/tags, not instanceof.

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { ReadableStream } = require("node:stream/web");
const { TextDecoder } = require("node:util");
const { impls, ROOT } = require("./helpers/impls");
const { runNode, describeResult } = require("./helpers/child");

const MEM = "InMemorySessionStore";
const FS = "FileSystemSessionStore";
const STREAMS = "InMemoryStreamManager";
const STORES = [MEM, FS];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sorted = (a) => [...a].sort();
const REF_PATH = require.resolve("mcp-use/server");
const modulePathFor = (impl) => (impl === "native" ? ROOT : REF_PATH);

// Quiet the reference's console.log/debug chatter ("No session file found", ...).
beforeAll(() => {
  jest.spyOn(console, "log").mockImplementation(() => {});
  jest.spyOn(console, "debug").mockImplementation(() => {});
});
afterAll(() => jest.restoreAllMocks());

// ---------------------------------------------------------------------------------------
// helpers

function meta(extra = {}) {
  return { lastAccessedAt: Date.now(), ...extra };
}

function isThenable(x) {
  return x != null && typeof x.then === "function";
}

async function waitUntil(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out (${timeoutMs} ms) waiting for ${what}`);
    await sleep(20);
  }
}

/** Expect fn() to return a promise that rejects with TypeError/RangeError matching re. */
async function expectArgError(fn, re) {
  let p;
  try {
    p = fn();
  } catch (e) {
    throw new Error(`threw synchronously instead of returning a rejected promise: ${e && e.name}: ${e && e.message}`);
  }
  if (!isThenable(p)) throw new Error(`returned ${String(p)} instead of a promise`);
  const err = await p.then(
    () => null,
    (e) => e,
  );
  if (err === null) throw new Error(`resolved instead of rejecting (expected an error matching ${re})`);
  expect(["TypeError", "RangeError"]).toContain(err && err.name);
  expect(String(err.message)).toMatch(re);
}

async function rejection(p) {
  return Promise.resolve()
    .then(() => p)
    .then(
      () => null,
      (e) => e,
    );
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/** A real WHATWG stream whose queued chunk count we can read without blocking. */
const HWM = 1_000_000;
function makeStream() {
  let ctrl;
  const stream = new ReadableStream(
    {
      start(c) {
        ctrl = c;
      },
    },
    { highWaterMark: HWM },
  );
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const s = {
    ctrl,
    reader,
    /** number of chunks currently queued (valid while the stream is readable) */
    queued: () => (ctrl.desiredSize === null ? 0 : HWM - ctrl.desiredSize),
    /** read all queued chunks; returns them decoded, checks they are Uint8Arrays */
    async take() {
      const n = s.queued();
      const out = [];
      for (let i = 0; i < n; i++) {
        const { value, done } = await reader.read();
        if (done) break;
        expect(Object.prototype.toString.call(value)).toBe("[object Uint8Array]");
        out.push(decoder.decode(value));
      }
      return out;
    },
    /** resolves true if the stream ends (after draining queued chunks) within timeoutMs */
    async endsWithin(timeoutMs = 2000) {
      let timer;
      const t = new Promise((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
      try {
        for (;;) {
          const r = await Promise.race([reader.read(), t]);
          if (r === "timeout") return false;
          if (r.done) return true;
        }
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return s;
}

// ---------------------------------------------------------------------------------------
// per-test context

function makeCtx(impl, mod, kind) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mcp-diff-${impl}-`));
  const file = path.join(dir, "sessions.json");
  const created = [];
  const ctx = {
    impl,
    mod,
    kind,
    dir,
    file,
    /** a new instance of the class under test; FS stores default to ctx.file, debounceMs 10 */
    make(opts = {}, k = kind) {
      let s;
      if (k === FS) s = new mod[FS]({ path: file, debounceMs: 10, ...opts });
      else s = new mod[k]();
      created.push([k, s]);
      return s;
    },
    async cleanup() {
      for (const [k, s] of created) {
        try {
          if (k === FS) await s.flush();
          else if (k === STREAMS) await s.close();
          else await s.clear();
        } catch {}
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return ctx;
}

// ---------------------------------------------------------------------------------------
// THE TABLE: session stores

const badIds = [
  ["number 123", 123],
  ["null", null],
  ["undefined", undefined],
  ["object", {}],
  ["empty string", ""],
];
const badData = [
  ["null", null],
  ["array", [{ lastAccessedAt: 1 }]],
  ["string", "{}"],
  ["number", 42],
  ["undefined", undefined],
];
const badTtl = [
  ["-1", -1],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["string '100'", "100"],
  ["undefined", undefined],
];

const STRICT_ARGS = "the addon validates arguments (reference accepts anything)";

const storeCases = [
  {
    title: "get of a missing session resolves null",
    kinds: STORES,
    async fn({ make }) {
      const s = make();
      const p = s.get("nope");
      expect(isThenable(p)).toBe(true);
      expect(await p).toBeNull();
      expect(await s.has("nope")).toBe(false);
    },
  },
  {
    title: "set/get/has/delete round trip; every method returns a promise; size is a number getter",
    kinds: STORES,
    async fn({ make }) {
      const s = make();
      expect(s.size).toBe(0);
      const m = meta({ logLevel: "info" });
      const ps = s.set("a", m);
      expect(isThenable(ps)).toBe(true);
      expect(await ps).toBeUndefined();
      expect(await s.get("a")).toEqual(m);
      expect(await s.has("a")).toBe(true);
      expect(s.size).toBe(1);
      expect(typeof s.size).toBe("number");
      const pd = s.delete("a");
      expect(isThenable(pd)).toBe(true);
      await pd;
      expect(await s.has("a")).toBe(false);
      expect(await s.get("a")).toBeNull();
      expect(s.size).toBe(0);
      await s.delete("a"); // deleting a missing session is fine
      expect(s.size).toBe(0);
    },
  },
  {
    title: "set of an existing id replaces the metadata",
    kinds: STORES,
    async fn({ make }) {
      const s = make();
      await s.set("a", meta({ v: 1 }));
      const m2 = meta({ v: 2, other: "x" });
      await s.set("a", m2);
      expect(await s.get("a")).toEqual(m2);
      expect(s.size).toBe(1);
    },
  },
  {
    title: "keys (sorted) and size track sets and deletes",
    kinds: STORES,
    async fn({ make }) {
      const s = make();
      expect(await s.keys()).toEqual([]);
      const ids = Array.from({ length: 50 }, (_, i) => `sid-${i}-${(i * 7919) % 97}`);
      for (const id of ids) await s.set(id, meta({ id }));
      expect(sorted(await s.keys())).toEqual(sorted(ids));
      expect(s.size).toBe(50);
      for (const id of ids.slice(0, 10)) await s.delete(id);
      expect(sorted(await s.keys())).toEqual(sorted(ids.slice(10)));
      expect(s.size).toBe(40);
    },
  },
  {
    title: "clear removes every session",
    kinds: STORES,
    async fn({ make }) {
      const s = make();
      await s.set("a", meta());
      await s.set("b", meta());
      const p = s.clear();
      expect(isThenable(p)).toBe(true);
      await p;
      expect(s.size).toBe(0);
      expect(await s.keys()).toEqual([]);
      expect(await s.get("a")).toBeNull();
    },
  },
  {
    title: "metadata with unknown fields, nesting, unicode and odd ids round-trips",
    kinds: STORES,
    async fn({ make }) {
      const s = make();
      const m = meta({
        logLevel: "debug",
        clientCapabilities: { sampling: {}, roots: { listChanged: true }, elicitation: { form: {} } },
        clientInfo: { name: "client ✓ 😀", version: "1.0.0" },
        protocolVersion: "2025-06-18",
        progressToken: 7,
        custom: { nested: { deep: [1, "two", null, true, 3.25, { x: -0.5 }] }, empty: {}, list: [] },
        "weird key \"with\" quotes": "line\nbreak\ttab\\",
        nothing: null,
        big: 9007199254740991,
      });
      const ids = ["plain", "uuid-3b2c6a4e-0000-4000-8000-000000000000", "ünïcødé 🚀", "with:colons/and*stars?[x]"];
      for (const id of ids) await s.set(id, m);
      for (const id of ids) expect(await s.get(id)).toEqual(m);
      expect(sorted(await s.keys())).toEqual(sorted(ids));
    },
  },
  {
    title: "setWithTTL: present at once, gone after the TTL (get null, has false, size drops)",
    kinds: STORES,
    async fn({ make, kind }) {
      const s = make();
      await s.set("keep", meta());
      const m = meta({ lastAccessedAt: 1000, x: 1 });
      const before = Date.now();
      await s.setWithTTL("t", m, 400);
      const got = await s.get("t");
      if (kind === FS) {
        // documented: the FS store resets lastAccessedAt to the current time
        expect(got.x).toBe(1);
        expect(got.lastAccessedAt).toBeGreaterThanOrEqual(before);
      } else {
        expect(got).toEqual(m);
      }
      expect(s.size).toBe(2);
      await waitUntil(async () => !(await s.has("t")), 5000, "TTL expiry");
      expect(await s.get("t")).toBeNull();
      expect(s.size).toBe(1);
      expect(await s.keys()).toEqual(["keep"]);
    },
  },
  {
    title: "a second setWithTTL (or a set, or delete+set) replaces the earlier TTL deadline",
    kinds: STORES,
    differs: "reference bug: the first timer still fires and deletes the refreshed session",
    async native({ make }) {
      const s = make();
      await s.setWithTTL("refresh", meta({ v: 1 }), 200);
      await s.setWithTTL("plain", meta({ v: 1 }), 200);
      await s.setWithTTL("re-added", meta({ v: 1 }), 200);
      await sleep(50);
      await s.setWithTTL("refresh", meta({ v: 2 }), 3000);
      await s.set("plain", meta({ v: 2 }));
      await s.delete("re-added");
      await s.set("re-added", meta({ v: 2 }));
      await sleep(450); // well past the first deadline (200 ms), well before the second (3050 ms)
      expect((await s.get("refresh")) || null).toMatchObject({ v: 2 });
      expect((await s.get("plain")) || null).toMatchObject({ v: 2 });
      expect((await s.get("re-added")) || null).toMatchObject({ v: 2 });
      // the refreshed TTL still applies
      await waitUntil(async () => !(await s.has("refresh")), 10_000, "refreshed TTL expiry");
      // a plain set has no TTL
      expect(await s.has("plain")).toBe(true);
      expect(await s.has("re-added")).toBe(true);
    },
    async reference({ make }) {
      const s = make();
      await s.setWithTTL("refresh", meta({ v: 1 }), 200);
      await sleep(50);
      await s.setWithTTL("refresh", meta({ v: 2 }), 1500);
      await sleep(450);
      expect(await s.get("refresh")).toBeNull(); // deleted at the OLD deadline
    },
  },
  {
    title: "pending TTL timers do not keep the process alive",
    kinds: STORES,
    differs: "reference timers are not unref'd: a pending setWithTTL keeps node running until it fires",
    async native({ impl, kind, dir }) {
      const code = `
        const m = require(${JSON.stringify(modulePathFor(impl))});
        const s = ${kind === FS ? `new m.FileSystemSessionStore({ path: ${JSON.stringify(path.join(dir, "ttl.json"))} })` : "new m.InMemorySessionStore()"};
        s.setWithTTL("a", { lastAccessedAt: Date.now() }, 60000).then(() => console.log("SET-OK"));
      `;
      // The TTL is 60 s; the child must end by itself long before that.
      const r = await runNode(code, { cwd: dir, timeoutMs: 30_000 });
      expect({ timedOut: r.timedOut, code: r.code, out: r.stdout.trim() }).toEqual({
        timedOut: false,
        code: 0,
        out: "SET-OK",
      });
    },
  },
  {
    title: "metadata is stored as JSON.stringify would (functions/undefined dropped); get returns a copy",
    kinds: STORES,
    differs: "the addon stores a JSON snapshot; the reference InMemorySessionStore stores the caller's object by reference",
    async native({ make }) {
      const s = make();
      const input = {
        lastAccessedAt: 123,
        fn() {},
        u: undefined,
        d: new Date(0),
        nested: { g: () => 1, keep: 1, arr: [1, undefined, () => 2] },
      };
      await s.set("a", input);
      const got = await s.get("a");
      expect(got).toEqual(JSON.parse(JSON.stringify(input)));
      expect(Object.keys(got).sort()).toEqual(["d", "lastAccessedAt", "nested"]);
      expect(got.d).toBe("1970-01-01T00:00:00.000Z");
      expect(got.nested.arr).toEqual([1, null, null]);
      // mutating the returned object or the input does not change the store
      got.lastAccessedAt = 999;
      got.nested.keep = 2;
      input.lastAccessedAt = 777;
      input.nested.keep = 3;
      const again = await s.get("a");
      expect(again.lastAccessedAt).toBe(123);
      expect(again.nested.keep).toBe(1);
      expect(again).not.toBe(got);
    },
    async reference({ make }) {
      const s = make();
      const input = { lastAccessedAt: 123 };
      await s.set("a", input);
      expect(await s.get("a")).toBe(input); // same object: mutations leak into the store
    },
  },
  {
    title: "metadata with a BigInt or a cycle rejects with TypeError and stores nothing",
    kinds: STORES,
    differs: "the reference accepts it (memory) or fails later while saving (filesystem)",
    async native({ make }) {
      const s = make();
      await s.set("a", meta({ v: "old" }));
      const cyc = meta();
      cyc.self = cyc;
      const cases = [
        ["bigint", meta({ n: 10n })],
        ["nested bigint", meta({ x: { y: [1n] } })],
        ["cycle", cyc],
      ];
      for (const [label, bad] of cases) {
        for (const [method, call] of [
          ["set new", () => s.set("b", bad)],
          ["set existing", () => s.set("a", bad)],
          ["setWithTTL new", () => s.setWithTTL("b", bad, 10_000)],
        ]) {
          const err = await rejection(call());
          expect({ label, method, name: err && err.name }).toEqual({ label, method, name: "TypeError" });
        }
      }
      expect(await s.has("b")).toBe(false);
      expect(await s.get("a")).toMatchObject({ v: "old" });
      expect(sorted(await s.keys())).toEqual(["a"]);
      expect(s.size).toBe(1);
    },
  },
  // bad input: one case per (method, argument, value)
  ...badIds.flatMap(([label, id]) =>
    [
      ["get", (s) => s.get(id)],
      ["has", (s) => s.has(id)],
      ["delete", (s) => s.delete(id)],
      ["set", (s) => s.set(id, meta())],
      ["setWithTTL", (s) => s.setWithTTL(id, meta(), 1000)],
    ].map(([method, call]) => ({
      title: `bad input: ${method} with sessionId ${label} rejects naming sessionId; store unchanged`,
      kinds: STORES,
      differs: STRICT_ARGS,
      async native({ make }) {
        const s = make();
        await s.set("keep", meta({ k: 1 }));
        await expectArgError(() => call(s), /sessionId/);
        expect(await s.keys()).toEqual(["keep"]);
        expect(await s.get("keep")).toMatchObject({ k: 1 });
        expect(s.size).toBe(1);
      },
    })),
  ),
  ...badData.flatMap(([label, data]) =>
    [
      ["set", (s) => s.set("new", data)],
      ["setWithTTL", (s) => s.setWithTTL("new", data, 1000)],
      ["set (existing id)", (s) => s.set("keep", data)],
    ].map(([method, call]) => ({
      title: `bad input: ${method} with data ${label} rejects naming data; store unchanged`,
      kinds: STORES,
      differs: STRICT_ARGS,
      async native({ make }) {
        const s = make();
        await s.set("keep", meta({ k: 1 }));
        await expectArgError(() => call(s), /data/);
        expect(await s.keys()).toEqual(["keep"]);
        expect(await s.get("keep")).toMatchObject({ k: 1 });
      },
    })),
  ),
  ...badTtl.map(([label, ttl]) => ({
    title: `bad input: setWithTTL with ttlMs ${label} rejects naming ttlMs; store unchanged`,
    kinds: STORES,
    differs: STRICT_ARGS,
    async native({ make }) {
      const s = make();
      await s.set("keep", meta({ k: 1 }));
      await expectArgError(() => s.setWithTTL("new", meta(), ttl), /ttlMs/);
      await expectArgError(() => s.setWithTTL("keep", meta({ k: 2 }), ttl), /ttlMs/);
      expect(await s.keys()).toEqual(["keep"]);
      expect(await s.get("keep")).toMatchObject({ k: 1 });
    },
  })),

  // ----- FileSystemSessionStore only
  {
    title: "FS: file is one JSON object {sid: metadata} after flush; flush resolves after the data is on disk",
    kinds: [FS],
    async fn({ make, file }) {
      const s = make({ debounceMs: 60_000 });
      const a = meta({ clientInfo: { name: "c" } });
      const b = meta({ logLevel: "info" });
      await s.set("a", a);
      await s.set("b", b);
      const p = s.flush();
      expect(isThenable(p)).toBe(true);
      await p;
      expect(readJson(file)).toEqual({ a, b }); // read right after flush resolved
      await s.delete("a");
      await s.flush();
      expect(readJson(file)).toEqual({ b });
      await s.clear();
      await s.flush();
      expect(readJson(file)).toEqual({});
    },
  },
  {
    title: "FS: writes are debounced but eventually written without flush",
    kinds: [FS],
    async fn({ make, file }) {
      const s = make({ debounceMs: 30 });
      const a = meta({ v: 1 });
      await s.set("a", a);
      await waitUntil(() => fs.existsSync(file) && JSON.stringify(readJson(file)) === JSON.stringify({ a }), 5000, "debounced write");
    },
  },
  {
    title: "FS: a new store loads the file; sessions older than maxAgeMs are skipped",
    kinds: [FS],
    async fn({ make, file }) {
      const now = Date.now();
      const data = {
        fresh: { lastAccessedAt: now - 1000, clientInfo: { name: "x" } },
        edge: { lastAccessedAt: now - 30 * 60_000 },
        old: { lastAccessedAt: now - 2 * 3600_000 },
        ancient: { lastAccessedAt: 0 },
      };
      fs.writeFileSync(file, JSON.stringify(data));
      const s = make({ maxAgeMs: 3600_000 });
      expect(sorted(await s.keys())).toEqual(["edge", "fresh"]);
      expect(await s.get("fresh")).toEqual(data.fresh);
      expect(await s.get("old")).toBeNull();
      expect(s.size).toBe(2);
      // default maxAgeMs is 24 h
      const s2 = make({});
      expect(sorted(await s2.keys())).toEqual(["edge", "fresh", "old"]);
    },
  },
  {
    title: "FS: missing file (and missing directory) starts empty; the directory is created on write",
    kinds: [FS],
    async fn({ make, dir }) {
      const nested = path.join(dir, "a", "b", "sessions.json");
      const s = make({ path: nested });
      expect(s.size).toBe(0);
      expect(await s.keys()).toEqual([]);
      const m = meta();
      await s.set("x", m);
      await s.flush();
      expect(readJson(nested)).toEqual({ x: m });
    },
  },
  {
    title: "FS: default path is .mcp-use/sessions.json under process.cwd()",
    kinds: [FS],
    async fn({ impl, dir }) {
      const code = `
        const m = require(${JSON.stringify(modulePathFor(impl))});
        const s = new m.FileSystemSessionStore();
        s.set("dflt", { lastAccessedAt: Date.now(), v: 1 }).then(() => s.flush()).then(() => console.log("OK"));
      `;
      const r = await runNode(code, { cwd: dir, timeoutMs: 30_000 });
      expect(r.code).toBe(0);
      expect(readJson(path.join(dir, ".mcp-use", "sessions.json"))).toEqual({ dflt: expect.objectContaining({ v: 1 }) });
    },
  },
  {
    title: "FS: a corrupt file is moved aside to sessions.json.corrupt-* (not overwritten); store starts empty",
    kinds: [FS],
    differs: "reference silently overwrites the corrupt file on the next save (data lost)",
    async native({ make, file, dir }) {
      const garbage = '{"a": {"lastAccessedAt": 1}, broken';
      fs.writeFileSync(file, garbage);
      const s = make();
      expect(s.size).toBe(0);
      const m = meta();
      await s.set("new", m);
      await s.flush();
      expect(readJson(file)).toEqual({ new: m });
      const aside = fs.readdirSync(dir).filter((n) => n.startsWith("sessions.json.corrupt-"));
      expect(aside).toHaveLength(1);
      expect(fs.readFileSync(path.join(dir, aside[0]), "utf8")).toBe(garbage);
    },
    async reference({ make, file, dir }) {
      fs.writeFileSync(file, "{ broken");
      const s = make();
      await s.set("new", meta());
      await s.flush();
      expect(fs.readdirSync(dir).filter((n) => n.includes("corrupt"))).toEqual([]);
    },
  },
  {
    title: "FS: the session file is created with mode 0600",
    kinds: [FS],
    differs: "reference creates it with the umask default (usually 0644): session metadata is private",
    async native({ make, file }) {
      const s = make();
      await s.set("a", meta());
      await s.flush();
      expect((fs.statSync(file).mode & 0o777).toString(8)).toBe("600");
    },
  },
  {
    title: "FS: concurrent flushes: each resolves with its data on disk; valid file; no temp files left",
    kinds: [FS],
    differs: "reference: a flush during a save runs a second writer on the same temp file (lost or torn writes)",
    async native({ make, file, dir }) {
      const s = make({ debounceMs: 5 });
      const big = "x".repeat(300_000);
      const checks = [];
      for (let i = 0; i < 12; i++) {
        await s.set(`k${i}`, meta({ i, big }));
        // not awaited: flushes overlap with each other and with the debounced saves
        checks.push(
          s.flush().then(() => {
            let onDisk;
            try {
              onDisk = readJson(file);
            } catch (e) {
              return `flush #${i}: file not valid JSON after flush resolved (${e.message})`;
            }
            const missing = Array.from({ length: i + 1 }, (_, j) => `k${j}`).filter((k) => !onDisk[k]);
            return missing.length ? `flush #${i}: missing ${missing.join(",")} after flush resolved` : "ok";
          }),
        );
      }
      const results = await Promise.all(checks);
      expect(results.filter((r) => r !== "ok")).toEqual([]);
      await s.flush();
      expect(Object.keys(readJson(file)).sort()).toEqual(Array.from({ length: 12 }, (_, j) => `k${j}`).sort());
      // (the addon keeps an advisory lock file `sessions.json.lock` while a store lives)
      expect(fs.readdirSync(dir).filter((n) => n !== "sessions.json.lock")).toEqual(["sessions.json"]);
    },
  },
  {
    title: "FS: writes inside the debounce window are flushed when the process ends naturally",
    kinds: [FS],
    differs: "reference loses them (or, with its ref'd timer, keeps the process alive until the debounce fires)",
    async native({ impl, file, dir, make }) {
      const code = `
        const m = require(${JSON.stringify(modulePathFor(impl))});
        const s = new m.FileSystemSessionStore({ path: ${JSON.stringify(file)}, debounceMs: 60000 });
        s.set("natural", { lastAccessedAt: Date.now(), v: "n" }).then(() => console.log("SET-OK"));
      `;
      const r = await runNode(code, { cwd: dir, timeoutMs: 30_000 });
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe("SET-OK");
      const s = make();
      expect(await s.get("natural")).toMatchObject({ v: "n" });
    },
  },
  {
    title: "FS: writes inside the debounce window are flushed on process.exit(0)",
    kinds: [FS],
    differs: "reference loses them",
    async native({ impl, file, dir, make }) {
      const code = `
        const m = require(${JSON.stringify(modulePathFor(impl))});
        const s = new m.FileSystemSessionStore({ path: ${JSON.stringify(file)}, debounceMs: 60000 });
        s.set("exiting", { lastAccessedAt: Date.now(), v: "e" }).then(() => { console.log("SET-OK"); process.exit(0); });
      `;
      const r = await runNode(code, { cwd: dir, timeoutMs: 30_000 });
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe("SET-OK");
      const s = make();
      expect(await s.get("exiting")).toMatchObject({ v: "e" });
    },
    async reference({ impl, file, dir }) {
      const code = `
        const m = require(${JSON.stringify(modulePathFor(impl))});
        const s = new m.FileSystemSessionStore({ path: ${JSON.stringify(file)}, debounceMs: 60000 });
        s.set("exiting", { lastAccessedAt: Date.now() }).then(() => process.exit(0));
      `;
      const r = await runNode(code, { cwd: dir, timeoutMs: 30_000 });
      expect(r.code).toBe(0);
      expect(fs.existsSync(file)).toBe(false); // lost
    },
  },
];

// ---------------------------------------------------------------------------------------
// THE TABLE: InMemoryStreamManager

const SSE = 'event: message\ndata: {"jsonrpc":"2.0","method":"custom/x","params":{"s":"héllo ✓ 😀 \\u0000"}}\n\n';

const streamCases = [
  {
    title: "create/has/size; delete unknown id resolves",
    async fn({ make }) {
      const m = make();
      expect(m.size).toBe(0);
      expect(await m.has("a")).toBe(false);
      const p = m.create("a", makeStream().ctrl);
      expect(isThenable(p)).toBe(true);
      await p;
      await m.create("b", makeStream().ctrl);
      expect(await m.has("a")).toBe(true);
      expect(await m.has("c")).toBe(false);
      expect(m.size).toBe(2);
      await m.delete("zzz");
      expect(m.size).toBe(2);
    },
  },
  {
    title: "send to listed ids reaches only those streams; payload is a Uint8Array decoding to the same text",
    async fn({ make }) {
      const m = make();
      const a = makeStream();
      const b = makeStream();
      const c = makeStream();
      await m.create("a", a.ctrl);
      await m.create("b", b.ctrl);
      await m.create("c", c.ctrl);
      const p = m.send(["a", "c", "unknown"], SSE);
      expect(isThenable(p)).toBe(true);
      await p;
      expect(await a.take()).toEqual([SSE]);
      expect(await b.take()).toEqual([]);
      expect(await c.take()).toEqual([SSE]);
      await m.send([], "nobody");
      await m.send(["b"], "second");
      await m.send(["b"], "third");
      expect(await a.take()).toEqual([]);
      expect(await b.take()).toEqual(["second", "third"]);
    },
  },
  {
    title: "send with undefined broadcasts to every stream",
    async fn({ make }) {
      const m = make();
      const ss = [makeStream(), makeStream(), makeStream()];
      for (const [i, s] of ss.entries()) await m.create(`s${i}`, s.ctrl);
      await m.send(undefined, SSE);
      for (const s of ss) expect(await s.take()).toEqual([SSE]);
    },
  },
  {
    title: "a failed stream is dropped, never the stream that replaced it during the same send",
    async fn({ make }) {
      const m = make();
      const failed = makeStream();
      failed.ctrl.close(); // the client went away: enqueue throws
      const replacement = makeStream();
      // Enqueueing to "t" re-enters the manager: the client of "s" reconnects meanwhile.
      const reentrant = { enqueue: () => void m.create("s", replacement.ctrl), desiredSize: 1, close() {}, error() {} };
      await m.create("t", reentrant);
      await m.create("s", failed.ctrl);
      await m.send(["t", "s"], "first");
      expect(await m.has("s")).toBe(true);
      await m.send(["s"], "second");
      expect((await replacement.take()).filter((x) => x === "second")).toEqual(["second"]);
    },
  },
  {
    title: "create of an existing id replaces the controller",
    async fn({ make }) {
      const m = make();
      const old = makeStream();
      const fresh = makeStream();
      await m.create("a", old.ctrl);
      await m.create("a", fresh.ctrl);
      expect(m.size).toBe(1);
      await m.send(["a"], "x");
      expect(await old.take()).toEqual([]);
      expect(await fresh.take()).toEqual(["x"]);
    },
  },
  {
    title: "a controller whose enqueue throws is removed (listed send and broadcast); others still get data",
    async fn({ make }) {
      const m = make();
      const ok = makeStream();
      const closed = makeStream();
      closed.ctrl.close(); // a real closed controller: enqueue throws TypeError
      const throwing = { enqueue() { throw new Error("client gone"); }, close() {} };
      const throwing2 = { enqueue() { throw new Error("client gone"); }, close() {} };
      await m.create("ok", ok.ctrl);
      await m.create("closed", closed.ctrl);
      await m.create("throwing", throwing);
      await m.create("throwing2", throwing2);
      expect(m.size).toBe(4);
      await m.send(["closed", "throwing", "ok"], "listed");
      expect(await m.has("closed")).toBe(false);
      expect(await m.has("throwing")).toBe(false);
      expect(await m.has("throwing2")).toBe(true);
      expect(m.size).toBe(2);
      await m.send(undefined, "broadcast");
      expect(await m.has("throwing2")).toBe(false);
      expect(m.size).toBe(1);
      expect(await ok.take()).toEqual(["listed", "broadcast"]);
    },
  },
  {
    title: "delete closes the controller (reader sees done) and removes it",
    async fn({ make }) {
      const m = make();
      const a = makeStream();
      const b = makeStream();
      await m.create("a", a.ctrl);
      await m.create("b", b.ctrl);
      await m.send(["a"], "last");
      const p = m.delete("a");
      expect(isThenable(p)).toBe(true);
      await p;
      expect(await m.has("a")).toBe(false);
      expect(m.size).toBe(1);
      const { value } = await a.reader.read(); // queued data is still delivered before the end
      expect(new TextDecoder().decode(value)).toBe("last");
      expect(await a.endsWithin(2000)).toBe(true);
      await m.send(undefined, "after");
      expect(await b.take()).toEqual(["after"]);
    },
  },
  {
    title: "delete ignores an already-closed controller",
    async fn({ make }) {
      const m = make();
      const a = makeStream();
      await m.create("a", a.ctrl);
      a.ctrl.close();
      await expect(Promise.resolve().then(() => m.delete("a"))).resolves.toBeUndefined();
      expect(await m.has("a")).toBe(false);
      expect(m.size).toBe(0);
    },
  },
  {
    title: "close closes every stream and empties the manager",
    async fn({ make }) {
      const m = make();
      const a = makeStream();
      const b = makeStream();
      const c = makeStream();
      c.ctrl.close(); // an already-closed one must not break close()
      await m.create("a", a.ctrl);
      await m.create("b", b.ctrl);
      await m.create("c", c.ctrl);
      const p = m.close();
      expect(isThenable(p)).toBe(true);
      await p;
      expect(m.size).toBe(0);
      expect(await m.has("a")).toBe(false);
      expect(await a.endsWithin(2000)).toBe(true);
      expect(await b.endsWithin(2000)).toBe(true);
    },
  },
];

// ---------------------------------------------------------------------------------------
// runner

function register(impl, mod, kind, c) {
  const run = (fn) => async () => {
    const ctx = makeCtx(impl, mod, kind);
    try {
      await fn(ctx);
    } finally {
      await ctx.cleanup();
    }
  };
  if (!c.differs) return test(c.title, run(c.fn));
  if (impl === "native") return test(`${c.title} [differs on purpose: ${c.differs}]`, run(c.native));
  if (c.reference) return test(`${c.title} [reference defect shown: ${c.differs}]`, run(c.reference));
  // A case about a behaviour only the addon has (nothing to compare on the reference):
  // it runs under "native" only, and nothing is registered here.
  return undefined;
}

describe.each(impls)("%s", (impl, mod) => {
  for (const kind of STORES) {
    describe(kind, () => {
      for (const c of storeCases.filter((c) => c.kinds.includes(kind))) register(impl, mod, kind, c);
    });
  }
  describe(STREAMS, () => {
    for (const c of streamCases) register(impl, mod, STREAMS, c);
  });
});

// ---------------------------------------------------------------------------------------
// cross-implementation: the session file is interchangeable

const both = impls.map(([n]) => n);
const crossDescribe = both.includes("mcp-use") && both.includes("native") ? describe : describe.skip;
crossDescribe("FileSystemSessionStore file is interchangeable between implementations", () => {
  const byName = Object.fromEntries(impls);
  test.each([
    ["mcp-use", "native"],
    ["native", "mcp-use"],
  ])("written by %s, loaded by %s", async (writer, reader) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-cross-"));
    try {
      const file = path.join(dir, "sessions.json");
      const w = new byName[writer][FS]({ path: file, debounceMs: 10 });
      const data = {
        a: meta({ clientCapabilities: { sampling: {} }, clientInfo: { name: "ü", version: "1" } }),
        b: meta({ logLevel: "warning", protocolVersion: "2025-06-18", extra: [1, { y: null }] }),
      };
      for (const [k, v] of Object.entries(data)) await w.set(k, v);
      await w.flush();
      const r = new byName[reader][FS]({ path: file, debounceMs: 10 });
      expect(sorted(await r.keys())).toEqual(["a", "b"]);
      expect(await r.get("a")).toEqual(data.a);
      expect(await r.get("b")).toEqual(data.b);
      await r.set("c", meta());
      await r.flush();
      const w2 = new byName[writer][FS]({ path: file, debounceMs: 10 });
      expect(sorted(await w2.keys())).toEqual(["a", "b", "c"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
