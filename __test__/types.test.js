"use strict";
// Type test: __test__/types/usage.ts must type-check against the package's index.d.ts
// (imports "mcp-sessions-native", resolved through package.json "exports"/"types").
// It contains @ts-expect-error lines, so a too-loose declaration (any, missing members)
// fails too. The same file is checked against mcp-use's own declarations as a baseline.
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const ROOT = path.resolve(__dirname, "..");
const TSC = path.join(ROOT, "node_modules", ".bin", "tsc");

function tsc(project) {
  const r = spawnSync(TSC, ["--noEmit", "--pretty", "false", "-p", project], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

jest.setTimeout(120_000);

test("baseline: usage.ts type-checks against mcp-use/server's classes", () => {
  const r = tsc("__test__/types/tsconfig.reference.json");
  expect(r.output).toBe("");
  expect(r.status).toBe(0);
});

test("usage.ts type-checks against mcp-sessions-native's index.d.ts (incl. expected errors)", () => {
  const r = tsc("__test__/types/tsconfig.json");
  expect(r.output).toBe("");
  expect(r.status).toBe(0);
});

test("extensions.ts (driver, url, commandTimeoutMs, stats/health/ready, renderPrometheus) type-checks against index.d.ts (incl. expected errors)", () => {
  const r = tsc("__test__/types/tsconfig.extensions.json");
  expect(r.output).toBe("");
  expect(r.status).toBe(0);
});

test("event-bus.ts: RedisServerEventBus is the SDK v2's ServerEventBus (incl. expected errors)", () => {
  const r = tsc("__test__/types/tsconfig.event-bus.json");
  expect(r.output).toBe("");
  expect(r.status).toBe(0);
});
