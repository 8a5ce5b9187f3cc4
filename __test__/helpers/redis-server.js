"use strict";
// Low-level control of the PRIVATE redis-server used by the test suite.
//
// The jest global setup starts it; tests (in jest workers) may stop/restart it on the
// same port for fault tests. Shared state lives in a small JSON file whose path is passed
// through process.env.MCP_TEST_REDIS_STATE (workers inherit the env of the jest parent,
// which runs the global setup before spawning them).
//
// This module never talks to a Redis it did not start: the only addresses it connects
// to are 127.0.0.1:<port it chose>.

const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

const STATE_ENV = "MCP_TEST_REDIS_STATE";
const URL_ENV = "MCP_TEST_REDIS_URL";

function findRedisServer() {
  // REDIS_SERVER_BIN=/path/to/redis-server overrides PATH lookup; REDIS_SERVER_BIN=none disables.
  if (process.env.REDIS_SERVER_BIN === "none") return null;
  if (process.env.REDIS_SERVER_BIN) return process.env.REDIS_SERVER_BIN;
  const r = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const p = (r.stdout || "").trim();
  return r.status === 0 && p ? p : null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket. Resolves true on +PONG, false on any error. */
function ping(port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const sock = net.createConnection({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString("utf8");
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
    sock.on("error", () => done(false));
    sock.on("close", () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Spawn a detached redis-server on `port` and wait until it answers PING.
 * Returns its pid. Throws (after killing it) when it does not come up.
 */
async function spawnRedis(bin, port, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const log = fs.openSync(path.join(dir, `redis-${port}.log`), "a");
  const child = spawn(
    bin,
    [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--daemonize", "no",
      "--dir", dir,
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  fs.closeSync(log);
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  child.unref();
  try {
    await waitFor(async () => {
      if (exited) throw new Error(`redis-server on port ${port} exited during startup (see ${dir})`);
      return ping(port);
    }, 10_000, `redis-server PING on port ${port}`);
  } catch (e) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {}
    throw e;
  }
  return child.pid;
}

function statePath() {
  return process.env[STATE_ENV] || null;
}

function readState() {
  const p = statePath();
  if (!p || !fs.existsSync(p)) return null;
  return JSON.parse(fs.readFileSync(p, "utf8"));
}

function writeState(state) {
  fs.writeFileSync(statePath(), JSON.stringify(state, null, 2));
}

/** Start the private server for a test run (global setup). */
async function startPrivate() {
  const bin = findRedisServer();
  if (!bin) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-sessions-redis-"));
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      const pid = await spawnRedis(bin, port, dir);
      return { bin, dir, port, pid, url: `redis://127.0.0.1:${port}` };
    } catch (e) {
      lastErr = e; // most likely a port race: try another port
    }
  }
  throw lastErr;
}

/**
 * A "server record" is { bin, dir, port, pid, url, file }: `file` is where the record is
 * kept (the shared state file, or a per-suite file for dedicated servers) so that the
 * global teardown can always find and stop the current pid.
 */
function saveRecord(rec) {
  const { file, ...rest } = rec;
  fs.writeFileSync(file, JSON.stringify({ ...rest, private: true }, null, 2));
}

/** Stop a server. `signal` SIGKILL simulates a crash. Waits until the port refuses. */
async function stopServer(rec, signal = "SIGTERM") {
  if (rec.pid && isAlive(rec.pid)) {
    try {
      process.kill(rec.pid, signal);
    } catch {}
  }
  // A zombie still answers kill(0), so wait on the port instead of the pid.
  await waitFor(async () => !(await ping(rec.port, 200)), 10_000, `redis-server on ${rec.port} to stop`);
  rec.pid = null;
  saveRecord(rec);
}

/** Start a server again on the SAME port as before (no-op if it answers PING). */
async function startServerAgain(rec) {
  if (await ping(rec.port, 200)) return;
  let lastErr;
  // The port may linger briefly after a kill; retry for a few seconds.
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      rec.pid = await spawnRedis(rec.bin, rec.port, rec.dir);
      saveRecord(rec);
      return;
    } catch (e) {
      lastErr = e;
      await sleep(250);
    }
  }
  throw lastErr;
}

function sharedRecord() {
  const st = readState();
  if (!st || !st.private) throw new Error("no private redis-server (REDIS_URL given or none started)");
  return { ...st, file: statePath() };
}

/** Stop the shared private server (global setup's). */
async function stopPrivate(signal = "SIGTERM") {
  await stopServer(sharedRecord(), signal);
}

/** (Re)start the shared private server on the same port. */
async function startPrivateAgain() {
  await startServerAgain(sharedRecord());
}

/**
 * Start a DEDICATED redis-server (own port, own dir) for one suite, e.g. fault tests that
 * kill Redis, so suites running in parallel workers on the shared server are not disturbed.
 * Returns its record; stop it with killDedicated(rec). Registered next to the shared state
 * file so the global teardown stops it even if the suite crashes.
 */
async function startDedicated() {
  const st = readState();
  const bin = (st && st.bin) || findRedisServer();
  if (!bin) throw new Error("no redis-server binary for a dedicated test server");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-sessions-redis-dedicated-"));
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      const pid = await spawnRedis(bin, port, dir);
      const base = statePath() || path.join(os.tmpdir(), `mcp-sessions-native-jest-redis-${process.pid}.json`);
      const rec = { bin, dir, port, pid, url: `redis://127.0.0.1:${port}`, file: `${base}.dedicated-${process.pid}-${port}` };
      saveRecord(rec);
      return rec;
    } catch (e) {
      lastErr = e;
    }
  }
  throw lastErr;
}

async function killDedicated(rec) {
  try {
    await stopServer(rec, "SIGKILL");
  } finally {
    fs.rmSync(rec.file, { force: true });
    fs.rmSync(rec.dir, { recursive: true, force: true });
  }
}

/** Records of dedicated servers registered next to the shared state file. */
function dedicatedRecordFiles() {
  const base = statePath();
  if (!base) return [];
  const dir = path.dirname(base);
  const prefix = `${path.basename(base)}.dedicated-`;
  return fs.readdirSync(dir).filter((n) => n.startsWith(prefix)).map((n) => path.join(dir, n));
}

/**
 * Whether a suite that needs Redis may be skipped when there is none: only when the user asks
 * for it (MCP_TEST_SKIP_REDIS=1), never in CI. Otherwise a missing redis-server fails loudly.
 */
function redisSkipAllowed() {
  return process.env.MCP_TEST_SKIP_REDIS === "1" && process.env.CI !== "true";
}

module.exports = {
  redisSkipAllowed,
  STATE_ENV,
  URL_ENV,
  findRedisServer,
  freePort,
  ping,
  readState,
  writeState,
  startPrivate,
  stopPrivate,
  startPrivateAgain,
  stopServer,
  startServerAgain,
  startDedicated,
  killDedicated,
  dedicatedRecordFiles,
  isAlive,
  sleep,
  waitFor,
};
