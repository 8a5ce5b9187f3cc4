"use strict";
// The implementations under test.
//
//   MCP_TEST_IMPL=mcp-use   only mcp-use/server (the reference)
//   MCP_TEST_IMPL=native    only the addon (package root)
//   unset / "all"           both (default)
//
// If the addon cannot be loaded, "native" is still listed: every access to its exports
// throws the load error, so its tests FAIL (never silently skipped).

const path = require("node:path");

const ROOT = path.resolve(__dirname, "..", "..");

function failingModule(name, err) {
  return new Proxy(
    {},
    {
      get(_t, prop) {
        if (prop === "__esModule" || prop === "then" || typeof prop === "symbol") return undefined;
        const e = new Error(`implementation "${name}" failed to load: ${err && err.message}`);
        e.cause = err;
        throw e;
      },
    },
  );
}

// Node's own require (see helpers/environment.js); plain require outside jest.
const nodeRequire = typeof __nodeRequire === "function" ? __nodeRequire : require;

function load(name) {
  try {
    return name === "native" ? nodeRequire(ROOT) : nodeRequire(require.resolve("mcp-use/server"));
  } catch (err) {
    return failingModule(name, err);
  }
}

const selected = (process.env.MCP_TEST_IMPL || "all").toLowerCase();
const names = selected === "all" ? ["mcp-use", "native"] : selected.split(",").map((s) => s.trim());
for (const n of names) {
  if (n !== "mcp-use" && n !== "native") throw new Error(`MCP_TEST_IMPL: unknown implementation "${n}"`);
}

/** [[name, module], ...] */
const impls = names.map((n) => [n, load(n)]);

/** Which implementation the e2e/packaging suites run MCPServer with (default: native). */
const e2eImpl = process.env.MCP_TEST_IMPL && names.length === 1 ? names[0] : "native";

module.exports = { impls, ROOT, e2eImpl, load, nodeRequire };
