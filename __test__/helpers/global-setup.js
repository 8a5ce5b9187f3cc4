"use strict";
// Jest global setup: start a PRIVATE redis-server on a free loopback port for the Redis
// suites, unless REDIS_URL is given explicitly (then that one is used and never restarted).
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const rs = require("./redis-server");

module.exports = async function globalSetup() {
  const stateFile = path.join(os.tmpdir(), `mcp-sessions-native-jest-redis-${process.pid}-${Date.now()}.json`);
  process.env[rs.STATE_ENV] = stateFile;

  let state;
  if (process.env.REDIS_URL) {
    state = { private: false, url: process.env.REDIS_URL, reason: "REDIS_URL given explicitly" };
  } else {
    const started = await rs.startPrivate();
    if (started) {
      state = { private: true, ...started };
    } else {
      state = { private: false, url: null, reason: "no redis-server on PATH and no REDIS_URL" };
      const skip = rs.redisSkipAllowed();
      // ONE loud line; the Redis suites themselves fail (or skip when the user asked to).
      console.warn(
        `\n!!!!! REDIS SUITES ${skip ? "SKIPPED (MCP_TEST_SKIP_REDIS=1)" : "WILL FAIL (install redis-server, or MCP_TEST_SKIP_REDIS=1 to skip them)"}: no redis-server on PATH and no REDIS_URL !!!!!\n`,
      );
    }
  }
  fs.writeFileSync(stateFile, JSON.stringify(state, null, 2));
  if (state.url) process.env[rs.URL_ENV] = state.url;
  else delete process.env[rs.URL_ENV];
};
