"use strict";
// Test environment: jest's node environment plus `__nodeRequire`, Node's own require.
//
// Why: mcp-use/server's CommonJS build requires ESM-only packages, which Node 20.19+ loads
// (require(esm)) but jest's module registry does not (before Node 24.9). The implementations
// under test are therefore loaded with Node's require, in Node's main realm (where the
// addon's objects live anyway). Tests must not use instanceof on their objects.
const { TestEnvironment } = require("jest-environment-node");
const { createRequire } = require("node:module");

class SessionsTestEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.__nodeRequire = createRequire(__filename);
  }
}

module.exports = SessionsTestEnvironment;
