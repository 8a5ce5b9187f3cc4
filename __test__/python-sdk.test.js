"use strict";
// The official Python MCP SDK (pip package `mcp`, python/sdk_check.py) against the example:
// one instance (file store; the server restarts between connect and reconnect) and the fleet
// through its round-robin proxy. Checks: initialize, tools, progress and logging
// notifications, a notification from another session, reconnecting to the same session.
//
// Needs the venv that .ci/run creates (python3 -m venv .venv && .venv/bin/pip install -r
// python/requirements.txt), or MCP_TEST_PYTHON=/path/to/python with `mcp` installed. Without
// it the suite is skipped with a printed reason, and FAILS when CI=true.
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { ROOT } = require("./helpers/impls");
const { startServer, freePort } = require("./helpers/mcp");
const { runNode } = require("./helpers/child");
const { startFleet, describeWithRedisServer } = require("./helpers/fleet");

jest.setTimeout(180_000);

const PYTHON = process.env.MCP_TEST_PYTHON || path.join(ROOT, ".venv", "bin", "python");
const CHECK = path.join(ROOT, "python", "sdk_check.py");
const SETUP = "python3 -m venv .venv && .venv/bin/pip install -r python/requirements.txt";

function pythonSdk() {
  if (!fs.existsSync(PYTHON)) return `no ${process.env.MCP_TEST_PYTHON ? PYTHON : ".venv/bin/python"} (create it: ${SETUP})`;
  const r = spawnSync(PYTHON, ["-c", "import importlib.metadata as m; print(m.version('mcp'))"], { encoding: "utf8" });
  if (r.status !== 0) return `${PYTHON} has no mcp package (${SETUP})`;
  return null;
}

const missing = pythonSdk();
let describePython = describe;
if (missing && process.env.CI === "true") {
  describePython = (name) => describe(name, () => test(`Python SDK required in CI: ${missing}`, () => {
    throw new Error(missing);
  }));
} else if (missing) {
  console.warn(`python-sdk.test.js SKIPPED: ${missing}`);
  describePython = describe.skip;
}

/** Run sdk_check.py; every check passed, else the test fails with its output. */
async function sdkCheck(...args) {
  const r = await runNode([CHECK, ...args], { execPath: PYTHON, timeoutMs: 120_000 });
  const out = `${r.stdout}${r.stderr}`;
  if (r.code !== 0) throw new Error(`sdk_check.py ${args.join(" ")}: exit ${r.code}${r.timedOut ? " (timed out)" : ""}\n${out}`);
  const result = JSON.parse(r.stdout.trim().split("\n").pop());
  expect(result.failures).toEqual([]);
  expect(r.stdout).not.toMatch(/^FAIL /m);
  expect(r.stderr).not.toMatch(/Traceback|validation error/i);
  return { result, out };
}

describePython("the official Python MCP SDK", () => {
  test("one instance: initialize, tools, progress, logging, another session's notification; reconnect after a restart", async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-python-"));
    const port = await freePort();
    const start = () => startServer(path.join(ROOT, "examples", "server.mjs"), { port, ready: /example listening on /, env: { CWD: cwd, NODE_ENV: "", REDIS_URL: "" } });
    let server = await start();
    try {
      const { result, out } = await sdkCheck("check", server.url);
      for (const name of ["initialize", "tools/list", "notifications/progress", "notifications/message", "B receives A's"]) expect(out).toContain(name);
      server.proc.kill("SIGTERM");
      expect((await server.exited).code).toBe(0);
      server = await start();
      const resumed = await sdkCheck("resume", server.url, result.sessionId);
      expect(resumed.out).toContain("ok   resume: same session id, no initialize");
    } finally {
      await server.kill();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  describeWithRedisServer("through the fleet", () => {
    let fleet;
    afterAll(() => fleet?.kill());
    test("npm run start:fleet's proxy: the same checks, then a reconnect to the same session", async () => {
      fleet = await startFleet();
      const { result } = await sdkCheck("check", fleet.url);
      await sdkCheck("resume", fleet.url, result.sessionId);
      expect(await fleet.stop()).toEqual({ code: 0, signal: null });
    });
  });
});
