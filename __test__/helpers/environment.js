"use strict";
// Test environment: jest's node environment plus `__nodeRequire`, Node's own require.
//
// Why: mcp-use/server's CommonJS build requires ESM-only packages, which Node 20.19+ loads
// (require(esm)) but jest's module registry does not (before Node 24.9). The implementations
// under test are therefore loaded with Node's require, in Node's main realm (where the
// addon's objects live anyway). Tests must not use instanceof on their objects.
const { TestEnvironment } = require("jest-environment-node");
const { createRequire } = require("node:module");

// A passing run prints jest's report (and the fault suites' summaries), no warnings.
// Quieted here, shown on request:
// - The addon's warnings (MCP_SESSIONS_LOG, default "warn"): the suites provoke Redis outages,
//   corrupt files and closed stores on purpose, and each of those logs one warning by design.
//   `MCP_SESSIONS_LOG=warn npx jest` shows them; errors are always shown. Child processes that
//   inherit the environment inherit this too; a test that checks a warning sets its own.
if (process.env.MCP_SESSIONS_LOG === undefined) process.env.MCP_SESSIONS_LOG = "error";
// - mcp-use's session classes (the reference) log every create/close and every error they
//   swallow, to Node's console rather than jest's (they are loaded with Node's require, below),
//   so jest.spyOn(console) cannot quiet them. `MCP_TEST_VERBOSE=1 npx jest` shows them.
if (!process.env.MCP_TEST_VERBOSE) {
  const REFERENCE_CHATTER = /^\[(RedisStreamManager|RedisSessionStore|FileSystemSessionStore|InMemorySessionStore|InMemoryStreamManager)\] |^\[MCP\] Session .* expired after /;
  for (const level of ["log", "info", "warn", "error", "debug"]) {
    const original = console[level];
    if (original.__quieted) continue;
    const quieted = (...args) => {
      if (typeof args[0] === "string" && REFERENCE_CHATTER.test(args[0])) return;
      original.apply(console, args);
    };
    quieted.__quieted = true;
    console[level] = quieted;
  }
}

class SessionsTestEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.__nodeRequire = createRequire(__filename);
  }
}

module.exports = SessionsTestEnvironment;
