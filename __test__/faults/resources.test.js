"use strict";
// Resources: 1M create/delete cycles of InMemoryStreamManager streams and 1M set/delete
// cycles of InMemorySessionStore sessions, in a child `node --expose-gc` process. After a
// 10k-cycle warm-up and gc(), RSS and V8 heapUsed are the baseline; after the loop and
// gc() they must be back within 10%. Controllers of deleted streams must be collectable.
//
// The child runs with --max-semi-space-size=1: V8 otherwise grows its young generation
// (up to 2 x 16 MB) under this allocation rate and keeps it after gc(), which adds ~33 MB
// of RSS with or without the addon (a pure-JS Map loop shows the same), and would hide
// what this test is about.
const path = require("node:path");
const { runNode, describeResult } = require("../helpers/child");

const ADDON = require.resolve("../..");
const FIXTURE = path.join(__dirname, "..", "fixtures", "faults-resources.js");
const CYCLES = 1_000_000;
const WARMUP = 10_000;

async function run(which) {
  const r = await runNode(["--expose-gc", "--max-semi-space-size=1", FIXTURE, ADDON, which, String(CYCLES), String(WARMUP)], {
    timeoutMs: 170_000,
    env: { MCP_SESSIONS_LOG: "off" },
  });
  if (r.code !== 0 || r.timedOut) throw new Error(`resource child failed: ${describeResult(r)}`);
  const res = JSON.parse(r.stdout.trim().split("\n").pop());
  const pct = (a, b) => Math.round(((b - a) / a) * 1000) / 10;
  const mb = (n) => Math.round(n / 1e5) / 10;
  console.log(
    `[faults] ${which}: ${CYCLES} cycles in ${res.ms} ms; RSS ${mb(res.base.rss)} -> ${mb(res.end.rss)} MB (${pct(res.base.rss, res.end.rss)}%), ` +
      `heapUsed ${mb(res.base.heapUsed)} -> ${mb(res.end.heapUsed)} MB (${pct(res.base.heapUsed, res.end.heapUsed)}%), ` +
      `external ${mb(res.base.external)} -> ${mb(res.end.external)} MB` +
      (res.registered !== undefined ? `; controllers finalized ${res.finalized}/${res.registered}` : ""),
  );
  return res;
}

describe("resources: long create/delete loops return to the baseline", () => {
  test(`InMemoryStreamManager: ${CYCLES} create/delete cycles; controllers of deleted streams are collected`, async () => {
    const r = await run("streams");
    expect(r.size).toBe(0);
    expect(r.end.rss).toBeLessThanOrEqual(r.base.rss * 1.1);
    expect(r.end.heapUsed).toBeLessThanOrEqual(r.base.heapUsed * 1.1);
    expect(r.registered).toBe(CYCLES);
    expect(r.finalized).toBeGreaterThanOrEqual(0.99 * r.registered);
  }, 180_000);

  test(`InMemorySessionStore: ${CYCLES} set/delete cycles`, async () => {
    const r = await run("sessions");
    expect([r.size, r.keys]).toEqual([0, 0]);
    expect(r.end.rss).toBeLessThanOrEqual(r.base.rss * 1.1);
    expect(r.end.heapUsed).toBeLessThanOrEqual(r.base.heapUsed * 1.1);
  }, 180_000);
});
