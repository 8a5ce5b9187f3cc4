"use strict";

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "<rootDir>/__test__/helpers/environment.js",
  roots: ["<rootDir>/__test__"],
  testMatch: ["**/__test__/**/*.test.js"],
  // e2e tests spawn real MCP servers and `npm pack`/`npm install`.
  testTimeout: 60_000,
  globalSetup: "<rootDir>/__test__/helpers/global-setup.js",
  globalTeardown: "<rootDir>/__test__/helpers/global-teardown.js",
  // Never let the Rust sources or build output be scanned for tests/modules.
  modulePathIgnorePatterns: ["<rootDir>/target/", "<rootDir>/npm/", "<rootDir>/.pack/"],
  watchPathIgnorePatterns: ["<rootDir>/target/"],
};
