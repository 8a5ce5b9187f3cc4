"use strict";
// Environment lifecycles: the addon used from worker threads that end while operations are
// in flight, and several stores on one file in one process.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { runNode, describeResult } = require("../helpers/child");

const ROOT = path.resolve(__dirname, "..", "..");

describe("worker threads", () => {
  // A Redis operation still running when its worker goes away must be dropped quietly:
  // before the fix its completion called the dead worker's threadsafe function and Node
  // aborted (exit 134).
  test.each([
    ["process.exit() in the worker", "process.exit(0)"],
    ["worker.terminate() from the main thread", null],
  ])("%s with Redis operations in flight: the process lives on", async (_name, exitInWorker) => {
    const script = `
      const { Worker } = require("node:worker_threads");
      const workerCode = ${JSON.stringify(`
        const { parentPort } = require("node:worker_threads");
        const m = require(${JSON.stringify(ROOT)});
        const store = new m.RedisSessionStore({ url: "redis://127.0.0.1:1", commandTimeoutMs: 300 });
        for (let i = 0; i < 20; i++) { store.has("x" + i); store.set("y" + i, { lastAccessedAt: 1 }).catch(() => {}); }
        const fsStore = new m.FileSystemSessionStore({ path: require("node:path").join(require("node:os").tmpdir(), "mcp-worker-" + process.pid + "-" + Date.now() + ".json") });
        fsStore.set("w", { lastAccessedAt: 1 }).then(() => fsStore.flush());
        parentPort.postMessage("started");
        ${exitInWorker || ""}
      `)};
      const w = new Worker(workerCode, { eval: true });
      w.on("message", (m) => { if (m === "started" && ${exitInWorker === null}) w.terminate(); });
      w.on("error", (e) => { console.error("worker error", e); process.exitCode = 2; });
      w.on("exit", () => {
        // Let the in-flight operations time out and try to report back.
        setTimeout(() => { console.log("main alive"); }, 1500);
      });
    `;
    const r = await runNode(script, { cwd: ROOT, timeoutMs: 30_000 });
    expect({ code: r.code, signal: r.signal, alive: r.stdout.includes("main alive") }).toEqual({ code: 0, signal: null, alive: true });
  });

  test("each worker gets working stores of its own, concurrently with the main thread", async () => {
    const script = `
      const { Worker } = require("node:worker_threads");
      const m = require(${JSON.stringify(ROOT)});
      const code = ${JSON.stringify(`
        const { parentPort, workerData } = require("node:worker_threads");
        const m = require(${JSON.stringify(ROOT)});
        (async () => {
          const s = new m.InMemorySessionStore();
          await s.setWithTTL("t", { lastAccessedAt: 1, w: workerData }, 20);
          const before = await s.get("t");
          await new Promise((r) => setTimeout(r, 80));
          parentPort.postMessage({ before, after: await s.has("t") });
        })();
      `)};
      (async () => {
        const results = await Promise.all([1, 2, 3].map((n) => new Promise((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: n });
          w.on("message", resolve); w.on("error", reject);
        })));
        const main = new m.InMemorySessionStore();
        await main.set("m", { lastAccessedAt: 1 });
        console.log(JSON.stringify({ results, main: await main.get("m") }));
      })();
    `;
    const r = await runNode(script, { cwd: ROOT, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop());
    expect(out).toEqual({
      results: [1, 2, 3].map((w) => ({ before: { lastAccessedAt: 1, w }, after: false })),
      main: { lastAccessedAt: 1 },
    });
  });
});

describe("several FileSystemSessionStores on one file in one process", () => {
  // mcp-use gives each its own map and their saves overwrite each other. Here the newest
  // store takes the file over (a hot reload's semantics): it loads what the older one had,
  // and the older one no longer writes, so nothing the newer one saves is overwritten.
  test("the newest takes over: it sees the older one's sessions, and the older one's later writes never clobber the file (also via another spelling of the path)", async () => {
    const native = __nodeRequire(require.resolve("../.."));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-same-file-"));
    try {
      const file = path.join(dir, "sessions.json");
      const older = new native.FileSystemSessionStore({ path: file, debounceMs: 100_000 });
      await older.set("x", { lastAccessedAt: Date.now() });
      await older.set("y", { lastAccessedAt: Date.now() });
      // Unsaved (debounce window) changes of the older store are written at takeover.
      const newer = new native.FileSystemSessionStore({ path: path.join(dir, "sub", "..", "sessions.json"), debounceMs: 5 });
      expect((await newer.keys()).sort()).toEqual(["x", "y"]);
      await newer.set("z", { lastAccessedAt: Date.now() });
      await older.set("stale-write", { lastAccessedAt: Date.now() });
      await older.delete("x");
      await Promise.all([older.flush(), newer.flush()]);
      expect(Object.keys(JSON.parse(fs.readFileSync(file, "utf8"))).sort()).toEqual(["x", "y", "z"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
