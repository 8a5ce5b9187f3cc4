"use strict";
// Helpers for Redis suites.
//
//   const { describeRedis, redisUrl, restartRedis } = require("./helpers/redis");
//   describeRedis("RedisSessionStore", () => { test(...) });
//   describeRedis("fault: redis restart", () => {...}, { needsControl: true });
//
// - redisUrl(): the URL of the Redis this suite uses: the shared private server started by
//   the global setup, or REDIS_URL when given explicitly — never the default 6379 otherwise.
//   Inside a { needsControl: true } suite: that suite's DEDICATED server (see below).
// - No Redis available: the suite registers a FAILING test naming what is missing, unless
//   the user asked to skip (MCP_TEST_SKIP_REDIS=1, never honoured with CI=true): then it is
//   skipped with the reason in its title.
// - { needsControl: true }: the suite gets its own redis-server (own port, started in a
//   beforeAll, killed in an afterAll), so it may stop/start/restart it with
//   stopRedis()/startRedis()/restartRedis() (same port) without disturbing suites that run in
//   parallel workers on the shared server. Needs a redis-server binary (skipped/failing in
//   CI otherwise, like a missing Redis). Call redisUrl() inside hooks/tests, not at
//   describe time.

const rs = require("./redis-server");

let dedicated = null; // this test file's dedicated server record, while a needsControl suite runs

function state() {
  const st = rs.readState();
  if (st) return st;
  // Running without the jest global setup (e.g. a single file via node): fall back to env.
  if (process.env.REDIS_URL) return { private: false, url: process.env.REDIS_URL };
  return { private: false, url: null, reason: "jest global setup did not run" };
}

function current() {
  return dedicated ? { ...dedicated, private: true } : state();
}

function redisUrl() {
  const url = current().url;
  if (!url) throw new Error("no Redis available for tests (see global setup output)");
  return url;
}

function redisAvailable() {
  return Boolean(current().url);
}

/** True when stopRedis/startRedis/restartRedis may be used (inside a needsControl suite). */
function canControlRedis() {
  return Boolean(dedicated);
}

function describeRedis(name, fn, opts = {}) {
  const st = state();
  let why = null;
  if (opts.needsControl) {
    if (!(st.bin || rs.findRedisServer())) why = "needs a redis-server binary to start a dedicated server";
  } else if (!st.url) {
    why = st.reason || "no Redis available";
  }
  if (!why) {
    return describe(name, () => {
      if (opts.needsControl) {
        beforeAll(async () => {
          dedicated = await rs.startDedicated();
        }, 30_000);
        afterAll(async () => {
          const rec = dedicated;
          dedicated = null;
          if (rec) await rs.killDedicated(rec);
        }, 30_000);
      }
      fn();
    });
  }
  if (!rs.redisSkipAllowed()) {
    return describe(name, () => {
      test(`Redis required (MCP_TEST_SKIP_REDIS=1 skips): ${why}`, () => {
        throw new Error(`Redis suite "${name}" cannot run: ${why}`);
      });
    });
  }
  return describe.skip(`${name} [SKIPPED: ${why}]`, fn);
}

function controlled(what) {
  if (!dedicated) {
    throw new Error(`${what}() is only available inside describeRedis(..., { needsControl: true })`);
  }
  return dedicated;
}

/** Stop this suite's Redis. signal "SIGKILL" simulates a crash. */
async function stopRedis(signal = "SIGTERM") {
  await rs.stopServer(controlled("stopRedis"), signal);
}

/** Start this suite's Redis again on the same port (no-op if it is up). */
async function startRedis() {
  await rs.startServerAgain(controlled("startRedis"));
}

/** Stop then start this suite's Redis on the same port. Data is lost (--save ""). */
async function restartRedis(signal = "SIGTERM") {
  await stopRedis(signal);
  await startRedis();
}

/** PING this suite's controllable Redis (true/false). */
async function pingRedis() {
  return rs.ping(controlled("pingRedis").port);
}

/** A key prefix unique to this call, so suites sharing one Redis never collide. */
let counter = 0;
function uniquePrefix(tag = "t") {
  return `test:${tag}:${process.pid}:${Date.now().toString(36)}:${counter++}:`;
}

module.exports = {
  describeRedis,
  redisUrl,
  redisAvailable,
  canControlRedis,
  stopRedis,
  startRedis,
  restartRedis,
  pingRedis,
  uniquePrefix,
};
