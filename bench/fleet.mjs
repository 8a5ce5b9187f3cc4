#!/usr/bin/env node
// Fleet scale (issue 15, items 2 and 3): what N open streams cost at idle, addon vs
// mcp-use@1.34.6, in one run on one private redis-server.
//
//   npm run bench:fleet                      = node bench/fleet.mjs: N = 10k and 100k, then a real
//                                              MCPServer with 3,000 GET streams (about 10 minutes)
//   node bench/fleet.mjs --quick             small N, short windows, heartbeat 2 s (a smoke run, ~2 min)
//   node bench/fleet.mjs --n 3000,10000      fleet sizes of the direct mode
//   node bench/fleet.mjs --mcp-streams 1000  streams of the MCPServer mode (0: skip it)
//   node bench/fleet.mjs --only direct       or --only mcpserver
//   node bench/fleet.mjs --idle 30 --settle 15 --mcp-settle 60 --heartbeat 10 --batch 1000 --split 20
//
// Direct mode, per implementation and N, in its own `node --expose-gc` process
// (bench/fleet/direct.mjs): create N streams on one RedisStreamManager (concurrent in
// batches of --batch), settle (15 s: the garbage of creating is collected by then), then an idle window of --idle seconds measuring Redis
// commands/s (INFO stats total_commands_processed: it counts what Lua scripts run too; the
// admin connection's own commands subtracted), per-command rates (INFO commandstats),
// redis-server CPU, the process's CPU (process.cpuUsage), RSS and V8 heap per stream
// (after gc, against a baseline before the first create); then broadcast to all (until
// every controller's enqueue was called) and delete all. MCPServer mode: mcp-use's MCPServer
// (NODE_ENV=production, its own process, bench/fleet/server-app.mjs) on each implementation's
// RedisSessionStore + RedisStreamManager, --mcp-streams sessions each holding a GET SSE
// stream (raw HTTP, bench/fleet/mcp-client.mjs), the same idle window. When scripts ran in a
// window, a MONITOR window (--split seconds, after the idle window so it does not weigh on
// it) tells commands sent by clients from commands run inside scripts.
//
// Results: a table and the targets on stdout, bench/results/fleet.json and fleet.svg
// (fleet-quick.* with --quick). Nothing here is a test assertion: a shared 2-core machine.
import { fork, execSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis, redisInfoVersion, freePort } from "./lib/redis.mjs";
import { fmt, fmtRatio, linesSvg } from "./lib/report.mjs";
import { redisWatch, CLK_TCK } from "./fleet/redis-watch.mjs";
import { openFleet, closeAgent } from "./fleet/mcp-client.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const opt = (f, d) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : d; };
const quick = flag("--quick");
const Ns = opt("--n", quick ? "500,2000" : "10000,100000").split(",").map(Number).filter((n) => n > 0).sort((a, b) => a - b);
const mcpStreams = Number(opt("--mcp-streams", quick ? 200 : 3000));
const heartbeat = Number(opt("--heartbeat", quick ? 2 : 10));
const idleSec = Number(opt("--idle", quick ? 6 : 30));
const settleSec = Number(opt("--settle", quick ? 1 : 15));
// The MCPServer's heap is ~500 MB after 3,000 sessions: V8's memory reducer collects it ~20 s
// after the process goes quiet (three major GCs, seconds of CPU on Node's helper threads), a
// one-off the idle window waits out (measured: none from 25 s on).
const mcpSettleSec = Number(opt("--mcp-settle", quick ? 1 : 60));
const splitSec = Number(opt("--split", quick ? 4 : 2 * heartbeat));
const batch = Number(opt("--batch", 1000));
const only = opt("--only", null);
// --decay S: the addon only, each N on its own redis-server at once, idle for S seconds after
// creating, commands/s per --decay-window seconds: how the idle cost changes with the age of
// the manager (the active-set prune paces itself). Writes results/fleet-decay.json.
const decaySec = Number(opt("--decay", 0));
// --replot FILE: the chart of an earlier run's JSON again (FILE.svg beside it), nothing measured.
const replot = opt("--replot", null);
const decayWindow = Number(opt("--decay-window", 60));
const ACTIVE = "mcp:stream:active";
// "No more at 100k than at 10k" allows this much: a window holds a whole number of periodic
// batches (e.g. 3 prune pages of 1,000-1,012 ids each), so equal work measures ±1%.
const SCALE_SLACK = 0.02;
const IMPLS = ["ref", "addon"];
const NAME = { ref: "mcp-use", addon: "addon" };
const print = (s = "") => process.stdout.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const k = (n) => (n >= 1000 ? `${n / 1000}k` : String(n));

if (idleSec < 2.5 * heartbeat) print(`note: idle window ${idleSec} s is shorter than 2.5 heartbeat intervals (${heartbeat} s)`);

/** A forked child that answers {op} messages with {type:"done", op, result}. */
function child(file, args, env, execArgv = ["--expose-gc", "--max-old-space-size=8192"]) {
  const proc = fork(file, args, { cwd: ROOT, execArgv, env: { ...process.env, MCP_SESSIONS_LOG: process.env.MCP_SESSIONS_LOG ?? "warn", ...env }, stdio: ["ignore", "ignore", "pipe", "ipc"] });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; if (stderr.length > 20_000) stderr = stderr.slice(-10_000); });
  const waiters = [];
  let exited = null;
  proc.on("message", (m) => {
    if (m.type === "error" || m.op === undefined && m.type !== "ready") { for (const w of waiters.splice(0)) w.reject(new Error(m.error ?? JSON.stringify(m))); return; }
    const i = waiters.findIndex((w) => w.match(m));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  proc.on("exit", (code, sig) => { exited = sig ?? code; for (const w of waiters.splice(0)) w.reject(new Error(`child exited (${exited}): ${stderr.trim().slice(-2000)}`)); });
  const wait = (match, ms = 600_000) => new Promise((resolve, reject) => {
    if (exited !== null) return reject(new Error(`child exited (${exited}): ${stderr.trim().slice(-2000)}`));
    const t = setTimeout(() => reject(new Error("child timed out")), ms);
    waiters.push({ match, resolve: (m) => { clearTimeout(t); resolve(m); }, reject: (e) => { clearTimeout(t); reject(e); } });
  });
  return {
    proc, get stderr() { return stderr.trim(); }, wait,
    ask: (op, ms) => { const p = wait((m) => m.op === op, ms); proc.send({ op }); return p; },
    async kill() {
      if (exited !== null) return;
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([gone, sleep(3000)]);
      if (exited === null) { proc.kill("SIGKILL"); await gone; }
    },
  };
}

const medianOf = (v) => { if (!v?.length) return NaN; const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const cpuPct = (a, b) => ((b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1000 / (b.atMs - a.atMs)) * 100;

/** The idle window: CPU of `proc` bracketed around Redis' window, then a MONITOR split if scripts ran. */
async function idle(watch, askCpu) {
  const startedAt = Date.now();
  const c0 = await askCpu();
  // Also one probe per heartbeat interval, so a one-off burst shows as one slice.
  const probes = [c0];
  const slices = (async () => {
    for (let i = 1; (i + 1) * heartbeat <= idleSec; i++) {
      await sleep(Math.max(0, c0.atMs + i * heartbeat * 1000 - nowMs()));
      probes.push(await askCpu());
    }
  })();
  const w = await watch.window(idleSec);
  await slices;
  const c1 = await askCpu();
  probes.push(c1);
  const out = { ...w, startedAt, processCpuPct: cpuPct(c0, c1), processCpuPctSlices: probes.slice(1).map((p, i) => cpuPct(probes[i], p)) };
  if (c0.threads && c1.threads) {
    // % of a core per thread name (clock ticks of /proc/<pid>/task/*/stat)
    const secs = (c1.atMs - c0.atMs) / 1000;
    out.gcPauses = c1.gcCount - c0.gcCount;
    out.gcPauseMs = c1.gcMs - c0.gcMs;
    out.gcMajorPauses = (c1.gcMajor ?? 0) - (c0.gcMajor ?? 0);
    out.gcMajorPauseMs = (c1.gcMajorMs ?? 0) - (c0.gcMajorMs ?? 0);
    out.threadCpuPct = Object.fromEntries(Object.keys(c1.threads).map((t) => [t, ((c1.threads[t] - (c0.threads[t] || 0)) / CLK_TCK / secs) * 100]).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]));
  }
  if (w.scripts && splitSec > 0) out.split = await watch.split(splitSec);
  out.clientCommandsPerSec = out.split ? out.split.clientPerSec : w.commandsPerSec;
  return out;
}

async function direct(watch, redis, impl, n) {
  await watch.reset();
  const cfg = { n, batch, heartbeat, redisUrl: redis.url, broadcastTimeoutMs: 300_000 };
  const c = child(path.join(HERE, "fleet", "direct.mjs"), [impl], { FLEET_CFG: JSON.stringify(cfg) });
  try {
    await c.wait((m) => m.type === "ready", 60_000);
    const created = (await c.ask("create")).result;
    const active = await watch.scard(ACTIVE);
    if (active !== n) throw new Error(`${n} created but ${active} in ${ACTIVE}`);
    await sleep(settleSec * 1000);
    const w = await idle(watch, async () => (await c.ask("cpu")).result);
    const bc = (await c.ask("broadcast")).result;
    const del = (await c.ask("delete")).result;
    const left = { active: await watch.scard(ACTIVE), keys: await watch.dbsize() };
    await c.ask("exit").catch(() => {});
    return { impl, n, ...created, idle: w, ...bc, ...del, left, stderr: c.stderr || undefined };
  } finally {
    await c.kill();
  }
}

async function portOpen(port, ms) {
  for (const deadline = Date.now() + ms; ; await sleep(50)) {
    const ok = await new Promise((r) => { const sock = net.connect(port, "localhost"); sock.once("connect", () => { sock.destroy(); r(true); }); sock.once("error", () => r(false)); });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on localhost:${port} after ${ms} ms`);
  }
}

async function mcpserver(watch, redis, impl, m) {
  await watch.reset();
  const port = await freePort();
  const c = child(path.join(HERE, "fleet", "server-app.mjs"), [], { IMPL: impl, PORT: String(port), REDIS_URL: redis.url, HEARTBEAT: String(heartbeat), NODE_ENV: "production" }, ["--expose-gc"]);
  let streams = [];
  try {
    await c.wait((x) => x.op === "listening", 60_000);
    await portOpen(port, 30_000); // MCPServer.listen() resolves before its socket is bound
    const t0 = nowMs();
    streams = await openFleet(port, m, 32);
    const openMs = nowMs() - t0;
    const openEnd = Date.now();
    let active = 0;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(200)) if ((active = await watch.scard(ACTIVE)) >= m) break;
    if (active !== m) throw new Error(`${m} GET streams open but ${active} in ${ACTIVE}`);
    // gc() after opening, as the direct mode does after creating; the settle then outlasts V8's
    // memory reducer, which otherwise runs its major GCs inside the idle window of a server that
    // goes quiet: the addon's (mcp-use's timers keep its server allocating, so it never starts).
    const memOpen = await c.ask("mem");
    await sleep(mcpSettleSec * 1000);
    const w = await idle(watch, async () => { const r = await c.ask("cpu"); return r; });
    const mem = await c.ask("mem");
    const last = await c.ask("cpu");
    const majorGcSecAfterOpen = (last.gcMajorAt || []).map((t) => +((t - openEnd) / 1000).toFixed(1)).filter((x) => x >= 0);
    const open = streams.filter((s) => !s.ended).length;
    return { impl, streams: m, openMs, idle: w, majorGcSecAfterOpen, idleWindowSecAfterOpen: [+((w.startedAt - openEnd) / 1000).toFixed(1), +((w.startedAt - openEnd) / 1000 + idleSec).toFixed(1)], serverRssOpenMB: memOpen.rss / 2 ** 20, serverRssMB: mem.rss / 2 ** 20, serverHeapMB: mem.heapUsed / 2 ** 20, streamsStillOpen: open, stderr: c.stderr || undefined };
  } finally {
    for (const s of streams) s.close();
    closeAgent();
    await c.kill();
  }
}

async function decay(redisVersion) {
  const sizes = [...new Set([...(mcpStreams ? [mcpStreams] : []), ...Ns])].sort((a, b) => a - b);
  print(`decay: addon only, N = ${sizes.join(", ")}, each on its own redis-server, idle ${decaySec} s after creating, windows of ${decayWindow} s\n`);
  const runs = await Promise.all(sizes.map(async (n) => {
    const r = await startRedis();
    const wt = await redisWatch(r);
    await wt.reset();
    const c = child(path.join(HERE, "fleet", "direct.mjs"), ["addon"], { FLEET_CFG: JSON.stringify({ n, batch, heartbeat, redisUrl: r.url, broadcastTimeoutMs: 300_000 }) });
    await c.wait((m) => m.type === "ready", 60_000);
    const createdAt = Date.now();
    await c.ask("create");
    return { n, r, wt, c, createdAt, windows: [] };
  }));
  const t0 = Date.now();
  await Promise.all(runs.map(async (x) => {
    while (Date.now() - t0 < decaySec * 1000) {
      const startSec = (Date.now() - x.createdAt) / 1000;
      const w = await x.wt.window(decayWindow);
      x.windows.push({ fromSec: +startSec.toFixed(0), commandsPerSec: w.commandsPerSec, perCommandPerSec: w.perCommandPerSec });
      print(`  ${k(x.n).padStart(5)} streams, ${startSec.toFixed(0).padStart(5)}-${(startSec + w.seconds).toFixed(0).padEnd(5)} s after creating: ${fmt(w.commandsPerSec).padStart(6)} commands/s (exists ${fmt(w.perCommandPerSec.exists ?? 0)})`);
    }
  }));
  for (const x of runs) { await x.c.kill(); await x.wt.close().catch(() => {}); await x.r.stop(); }
  const rows = runs[0].windows.map((_, i) => [`${runs[0].windows[i].fromSec}-${runs[0].windows[i].fromSec + decayWindow} s`, ...runs.map((x) => (x.windows[i] ? fmt(x.windows[i].commandsPerSec) : "-"))]);
  const head = ["idle since create", ...runs.map((x) => `${k(x.n)} streams`)];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(" | ") + " |";
  const tableText = [line(head), "|" + w.map((x, i) => "-".repeat(x + 1) + (i === 0 ? "-" : ":")).join("|") + "|", ...rows.map(line)].join("\n");
  print(`\naddon idle Redis commands/s by age (mcp-use: 2 EXPIREs per stream per interval, ${sizes.map((n) => `${k(n)}: ${fmt((2 * n) / heartbeat)}`).join(", ")}/s, as measured by the default run):\n${tableText}`);
  const checks = decayChecks(runs.map((x) => ({ n: x.n, windows: x.windows })), heartbeat, decayWindow);
  const out = {
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, redis: redisVersion, date: new Date().toISOString() },
    command: `node bench/fleet.mjs ${argv.join(" ")}`, config: { sizes, heartbeat, decaySec, decayWindow, batch }, table: tableText, checks,
    runs: runs.map((x) => ({ n: x.n, windows: x.windows })),
  };
  fs.mkdirSync(path.join(HERE, "results"), { recursive: true });
  const base = quick ? "fleet-decay-quick" : "fleet-decay";
  fs.writeFileSync(path.join(HERE, "results", `${base}.json`), JSON.stringify(out, null, 2) + "\n");
  fs.writeFileSync(path.join(HERE, "results", `${base}.svg`), decayChartOf(out));
  print(`\nwrote bench/results/${base}.json and ${base}.svg`);
}

/** The chart of one run's results (fleet.json): commands/s and CPU against N, both
 * implementations, the MCPServer points as squares. */
function chartOf({ direct: D, mcpserver: M, config: cfg, machine, command }) {
  const ok = (r) => r && !r.error;
  const series = (metric) => [
    { name: "mcp-use@1.34.6, one process", color: "#d9463b", points: D.filter((r) => r.impl === "ref" && ok(r)).map((r) => ({ x: r.n, y: metric(r.idle) })) },
    { name: "addon, one process", color: "#2e9e5b", points: D.filter((r) => r.impl === "addon" && ok(r)).map((r) => ({ x: r.n, y: metric(r.idle) })) },
    { name: `mcp-use, real MCPServer (${k(cfg.mcpStreams)} GET streams)`, color: "#d9463b", hollow: true, marker: "square", points: M.filter((r) => r.impl === "ref" && ok(r)).map((r) => ({ x: r.streams, y: metric(r.idle) })) },
    { name: `addon, real MCPServer (${k(cfg.mcpStreams)} GET streams)`, color: "#2e9e5b", hollow: true, marker: "square", points: M.filter((r) => r.impl === "addon" && ok(r)).map((r) => ({ x: r.streams, y: metric(r.idle) })) },
  ];
  const cmdSeries = series((i) => i.commandsPerSec);
  cmdSeries.push({ name: "addon, commands sent by clients (scripts' inner commands left out)", color: "#2e9e5b", dash: "5 4", points: D.filter((r) => r.impl === "addon" && ok(r)).map((r) => ({ x: r.n, y: r.idle.clientCommandsPerSec })) });
  const cpuSeries = series((i) => i.processCpuPct);
  return linesSvg({
    title: `Idle fleet cost against open streams: mcp-sessions-native vs mcp-use@1.34.6 (heartbeatInterval ${cfg.heartbeat} s)`,
    subtitle: `${machine.cpu}, ${machine.cores} shared cores, node ${machine.node}, redis ${machine.redis}, ${machine.date.slice(0, 10)}${machine.quick ? ", QUICK run" : ""} · ${cfg.idleSec}-s idle window from ${cfg.settleSec} s after creating (MCPServer: ${cfg.mcpSettleSec} s after opening) · ${command}`,
    xLabel: "open streams (log scale)",
    panels: [
      { title: "Redis commands/s at idle", unit: "commands/s, INFO total_commands_processed", series: cmdSeries.filter((x) => x.points.length) },
      { title: "Server CPU at idle", unit: "% of one core, process.cpuUsage", series: cpuSeries.filter((x) => x.points.length) },
    ],
    legendNote: "Redis commands include those Lua scripts run (as Redis counts them). Squares: a real MCPServer in its own process, clients over HTTP.",
  });
}

/** The issue's targets, window by window, of a --decay run: the smallest size's cost against
 * mcp-use's (2 EXPIREs per stream per interval, which the default run measures exactly), and
 * the largest size's against 10k's. */
function decayChecks(runs, heartbeat, decayWindow) {
  const checks = [];
  const small = runs[0], ten = runs.find((x) => x.n === 10_000), big = runs[runs.length - 1];
  print("\ntargets by age:");
  small.windows.forEach((w, i) => {
    const ref = (2 * small.n) / heartbeat;
    const a = { window: `${w.fromSec}-${w.fromSec + decayWindow} s`, smallRatio: w.commandsPerSec / ref };
    let line = `  ${a.window.padEnd(12)} ${k(small.n)}: ${fmt(w.commandsPerSec)} = ${(a.smallRatio * 100).toPrecision(2)}% of mcp-use's ${fmt(ref)} ${a.smallRatio <= 0.05 ? "PASS" : "MISS"}`;
    if (ten && big && ten !== big && ten.windows[i] && big.windows[i]) {
      a.big = big.windows[i].commandsPerSec; a.ten = ten.windows[i].commandsPerSec;
      a.bigNoMore = a.big <= a.ten * (1 + SCALE_SLACK);
      line += `;  ${k(big.n)} ${fmt(a.big)} vs 10k ${fmt(a.ten)} ${a.bigNoMore ? "PASS" : "MISS"}`;
    }
    a.smallMet = a.smallRatio <= 0.05;
    checks.push(a);
    print(line);
  });
  return checks;
}

/** The chart of a --decay run (fleet-decay.json): the addon's idle commands/s against the
 * manager's age, per N, with mcp-use's constant 2 EXPIREs per stream per interval. */
function decayChartOf({ runs, config: cfg, machine, command }) {
  const colors = ["#2e9e5b", "#1f6fb4", "#8e44ad", "#b8860b"];
  const xs = runs.flatMap((x) => x.windows.map((w) => w.fromSec + cfg.decayWindow / 2));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const series = runs.flatMap((x, i) => [
    { name: `addon, ${k(x.n)} streams`, color: colors[i % colors.length], labels: "changes", points: x.windows.map((w) => ({ x: w.fromSec + cfg.decayWindow / 2, y: w.commandsPerSec })) },
    { name: `mcp-use, ${k(x.n)} streams (2 EXPIREs per stream per interval)`, color: colors[i % colors.length], dash: "2 4", labels: "changes", points: [{ x: x0, y: (2 * x.n) / cfg.heartbeat }, { x: x1, y: (2 * x.n) / cfg.heartbeat }] },
  ]);
  return linesSvg({
    title: `The addon's idle Redis commands/s by the age of its RedisStreamManager (heartbeatInterval ${cfg.heartbeat} s)`,
    subtitle: `${machine.cpu}, ${machine.cores} shared cores, node ${machine.node}, redis ${machine.redis}, ${machine.date.slice(0, 10)} · ${cfg.decayWindow}-s windows, each N on its own redis-server · ${command.replace("node bench/fleet.mjs ", "")}`,
    xLabel: "seconds since the streams were created (middle of each window)",
    xLog: false, plotWidth: 900,
    panels: [{ title: "Redis commands/s at idle, addon vs mcp-use", unit: "commands/s, INFO total_commands_processed", series }],
    legendNote: "Redis commands include those Lua scripts run. mcp-use's lines are its constant rate (measured by the default run: 2 EXPIREs per stream per interval), not measured here.",
  });
}

// ---------- run ----------
if (replot) {
  const file = path.resolve(replot);
  const data = JSON.parse(fs.readFileSync(file, "utf8"));
  if (data.runs) {
    data.checks = decayChecks(data.runs, data.config.heartbeat, data.config.decayWindow);
    fs.writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
  }
  fs.writeFileSync(file.replace(/\.json$/, "") + ".svg", data.runs ? decayChartOf(data) : chartOf(data));
  print(`wrote ${file.replace(/\.json$/, "")}.svg`);
  process.exit(0);
}
const started = Date.now();
const addonFile = path.join(ROOT, "mcp-sessions-native.linux-x64-gnu.node");
const doc = { direct: [], mcpserver: [] };
let redis = null, watch = null, snapDir = null;
try {
  if (!fs.existsSync(addonFile)) throw new Error(`${addonFile} missing: run npm run build`);
  // Every child of this run loads the same build: a copy taken now (the working tree's .node may
  // be rebuilt while the run goes on), through the loader's NAPI_RS_NATIVE_LIBRARY_PATH.
  snapDir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-fleet-addon-"));
  const snap = path.join(snapDir, path.basename(addonFile));
  fs.copyFileSync(addonFile, snap);
  process.env.NAPI_RS_NATIVE_LIBRARY_PATH = snap;
  const addonBuild = { builtAt: fs.statSync(addonFile).mtime.toISOString(), sha256: crypto.createHash("sha256").update(fs.readFileSync(snap)).digest("hex").slice(0, 16) };
  try {
    addonBuild.head = execSync("git rev-parse --short HEAD", { cwd: ROOT }).toString().trim();
    addonBuild.srcChangedSinceHead = execSync("git status --porcelain -- src Cargo.toml", { cwd: ROOT }).toString().trim().split("\n").filter(Boolean).length;
  } catch { /* not a checkout */ }
  redis = await startRedis();
  const redisVersion = await redisInfoVersion(redis.url);
  watch = await redisWatch(redis);
  print(`private redis-server ${redisVersion} on 127.0.0.1:${redis.port} (pid ${redis.pid}); load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  print(`${quick ? "QUICK " : ""}fleet run: direct N = ${only === "mcpserver" ? "-" : Ns.join(", ")}; MCPServer streams = ${only === "direct" || !mcpStreams ? "-" : mcpStreams}; heartbeatInterval ${heartbeat} s, idle window ${idleSec} s after ${settleSec} s (MCPServer: ${mcpSettleSec} s), create/delete batches of ${batch}\n`);

  if (decaySec > 0) {
    await decay(redisVersion);
    await watch.close().catch(() => {});
    await redis.stop();
    fs.rmSync(snapDir, { recursive: true, force: true });
    process.exit(0);
  }
  if (only !== "mcpserver") {
    for (const [i, n] of Ns.entries()) {
      for (const impl of i % 2 === 0 ? IMPLS : [...IMPLS].reverse()) {
        const s = Date.now();
        try {
          const r = await direct(watch, redis, impl, n);
          doc.direct.push(r);
          print(`  direct ${k(n).padStart(5)} ${NAME[impl].padEnd(7)} ${((Date.now() - s) / 1000).toFixed(0).padStart(4)} s  create ${fmt(r.createMs, "ms")}, idle ${fmt(r.idle.commandsPerSec)} cmd/s (${Object.entries(r.idle.perCommandPerSec).slice(0, 4).map(([c, v]) => `${c} ${fmt(v)}`).join(", ")}), CPU ${fmt(r.idle.processCpuPct)}%, broadcast ${fmt(r.broadcastMs, "ms")}, delete ${fmt(r.deleteMs, "ms")}`);
          if (r.stderr) print(`    stderr: ${r.stderr.split("\n").slice(0, 3).join(" | ")}`);
        } catch (e) {
          doc.direct.push({ impl, n, error: String(e.message ?? e) });
          print(`  direct ${k(n)} ${NAME[impl]}: FAILED ${e.message ?? e}`);
        }
      }
    }
  }
  if (only !== "direct" && mcpStreams > 0) {
    for (const impl of IMPLS) {
      const s = Date.now();
      try {
        const r = await mcpserver(watch, redis, impl, mcpStreams);
        doc.mcpserver.push(r);
        print(`  MCPServer ${k(mcpStreams)} ${NAME[impl].padEnd(7)} ${((Date.now() - s) / 1000).toFixed(0).padStart(4)} s  open ${fmt(r.openMs, "ms")}, idle ${fmt(r.idle.commandsPerSec)} cmd/s (${Object.entries(r.idle.perCommandPerSec).slice(0, 4).map(([c, v]) => `${c} ${fmt(v)}`).join(", ")}), server CPU ${fmt(r.idle.processCpuPct)}%`);
        if (r.stderr) print(`    stderr: ${r.stderr.split("\n").slice(0, 3).join(" | ")}`);
      } catch (e) {
        doc.mcpserver.push({ impl, streams: mcpStreams, error: String(e.message ?? e) });
        print(`  MCPServer ${k(mcpStreams)} ${NAME[impl]}: FAILED ${e.message ?? e}`);
      }
    }
  }

  // ---------- report ----------
  const machine = { cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, node: process.version, os: `${os.type()} ${os.release()}`, totalMemGB: +(os.totalmem() / 2 ** 30).toFixed(1), loadavgAtEnd: os.loadavg(), date: new Date().toISOString(), redis: redisVersion, quick };
  const pkg = (p) => { try { return JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", p, "package.json"), "utf8")).version; } catch { return null; } };
  const versions = { reference: `mcp-use@${pkg("mcp-use")}`, redisClient: `redis@${pkg("redis")}`, addonBuilt: addonBuild.builtAt, addon: addonBuild };
  print(`\n${machine.cpu}, ${machine.cores} cores (shared), node ${machine.node}, redis ${redisVersion}, ${versions.reference} vs addon (built ${addonBuild.builtAt}, sha256 ${addonBuild.sha256}, HEAD ${addonBuild.head ?? "?"}${addonBuild.srcChangedSinceHead ? `, ${addonBuild.srcChangedSinceHead} src files changed since` : ""})${quick ? ", QUICK" : ""}\n`);

  const ok = (r) => r && !r.error;
  const get = (list, impl, key, val) => list.find((r) => r.impl === impl && r[key] === val);
  const rows = [];
  const cols = ["", "mcp-use", "addon", "addon/mcp-use"];
  // A negative growth (heap per stream below the baseline's noise) shows as ≈ 0.
  const add = (label, a, b, unit) => rows.push([label, fmt(a, unit), fmt(b, unit), Number.isFinite(a) && Number.isFinite(b) && a > 0 ? (b < 0 ? "≈ 0" : fmtRatio(b / a)) : "-"]);
  for (const n of only === "mcpserver" ? [] : Ns) {
    const R = get(doc.direct, "ref", "n", n), A = get(doc.direct, "addon", "n", n);
    const v = (r, f) => (ok(r) ? f(r) : NaN);
    const h = `${k(n)} streams`;
    add(`${h}: create all (batches of ${batch})`, v(R, (r) => r.createMs), v(A, (r) => r.createMs), "ms");
    add(`${h}: idle Redis commands/s`, v(R, (r) => r.idle.commandsPerSec), v(A, (r) => r.idle.commandsPerSec), "");
    add(`${h}: idle commands/s sent by clients`, v(R, (r) => r.idle.clientCommandsPerSec), v(A, (r) => r.idle.clientCommandsPerSec), "");
    add(`${h}: idle process CPU, % of a core`, v(R, (r) => r.idle.processCpuPct), v(A, (r) => r.idle.processCpuPct), "%");
    add(`${h}: idle process CPU, median ${heartbeat}-s slice`, v(R, (r) => medianOf(r.idle.processCpuPctSlices)), v(A, (r) => medianOf(r.idle.processCpuPctSlices)), "%");
    add(`${h}: idle redis-server CPU, % of a core`, v(R, (r) => r.idle.redisCpuPct), v(A, (r) => r.idle.redisCpuPct), "%");
    add(`${h}: RSS per stream`, v(R, (r) => r.rssPerStream), v(A, (r) => r.rssPerStream), "B");
    add(`${h}: V8 heap per stream`, v(R, (r) => r.heapPerStream), v(A, (r) => r.heapPerStream), "B");
    add(`${h}: broadcast, all delivered`, v(R, (r) => r.broadcastMs), v(A, (r) => r.broadcastMs), "ms");
    add(`${h}: delete all (batches of ${batch})`, v(R, (r) => r.deleteMs), v(A, (r) => r.deleteMs), "ms");
  }
  if (doc.mcpserver.length) {
    const R = get(doc.mcpserver, "ref", "streams", mcpStreams), A = get(doc.mcpserver, "addon", "streams", mcpStreams);
    const v = (r, f) => (ok(r) ? f(r) : NaN);
    const h = `MCPServer, ${k(mcpStreams)} GET streams`;
    add(`${h}: open all (initialize + GET)`, v(R, (r) => r.openMs), v(A, (r) => r.openMs), "ms");
    add(`${h}: idle Redis commands/s`, v(R, (r) => r.idle.commandsPerSec), v(A, (r) => r.idle.commandsPerSec), "");
    add(`${h}: idle commands/s sent by clients`, v(R, (r) => r.idle.clientCommandsPerSec), v(A, (r) => r.idle.clientCommandsPerSec), "");
    add(`${h}: idle server CPU, % of a core`, v(R, (r) => r.idle.processCpuPct), v(A, (r) => r.idle.processCpuPct), "%");
    add(`${h}: idle server CPU, median ${heartbeat}-s slice`, v(R, (r) => medianOf(r.idle.processCpuPctSlices)), v(A, (r) => medianOf(r.idle.processCpuPctSlices)), "%");
    add(`${h}: idle redis-server CPU, % of a core`, v(R, (r) => r.idle.redisCpuPct), v(A, (r) => r.idle.redisCpuPct), "%");
    add(`${h}: server RSS after gc`, v(R, (r) => r.serverRssMB), v(A, (r) => r.serverRssMB), "MB");
  }
  const w = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(" | ") + " |";
  const tableText = [line(cols), "|" + w.map((x, i) => "-".repeat(x + 1) + (i === 0 ? "-" : ":")).join("|") + "|", ...rows.map(line)].join("\n");
  print(tableText);

  // Per-command detail of the addon's idle windows (what its commands/s consist of).
  print("\nidle commands/s per command (INFO commandstats), and the MONITOR split where scripts ran:");
  const detail = (label, r) => {
    if (!ok(r)) return;
    const pc = Object.entries(r.idle.perCommandPerSec).map(([c, x]) => `${c} ${fmt(x)}`).join(", ");
    print(`  ${label}: ${fmt(r.idle.commandsPerSec)}/s = ${pc || "nothing"}`);
    if (r.idle.split) {
      const s = r.idle.split;
      print(`    sent by clients ${fmt(s.clientPerSec)}/s (${Object.entries(s.clientPerCommand).map(([c, x]) => `${c} ${fmt(x)}`).join(", ")}); run inside scripts ${fmt(s.scriptPerSec)}/s (${Object.entries(s.scriptPerCommand).map(([c, x]) => `${c} ${fmt(x)}`).join(", ")}) [MONITOR, ${s.seconds.toFixed(0)} s]`);
    }
    print(`    per second: ${r.idle.timelinePerSec.join(" ")}`);
    if (r.idle.processCpuPctSlices) print(`    process CPU per ${heartbeat}-s slice, % of a core: ${r.idle.processCpuPctSlices.map((x) => fmt(x)).join(" ")}`);
    if (r.idle.threadCpuPct) print(`    process CPU by thread, % of a core: ${Object.entries(r.idle.threadCpuPct).map(([t, x]) => `${t} ${fmt(x)}`).join(", ") || "-"}; GC in the window: ${r.idle.gcPauses} pauses, ${fmt(r.idle.gcPauseMs, "ms")} (major: ${r.idle.gcMajorPauses}, ${fmt(r.idle.gcMajorPauseMs, "ms")})`);
  };
  for (const r of doc.direct) detail(`direct ${k(r.n)} ${NAME[r.impl]}`, r);
  for (const r of doc.mcpserver) {
    detail(`MCPServer ${k(r.streams)} ${NAME[r.impl]}`, r);
    if (ok(r)) print(`    server's major GCs at ${r.majorGcSecAfterOpen.join(", ") || "-"} s after the last stream opened (idle window: ${r.idleWindowSecAfterOpen.join("-")} s; gc() forced at 0)`);
  }

  // Targets (issue 15): idle Redis commands/s at 3,000 streams (MCPServer) <= 5% of mcp-use's;
  // at 100k streams no more than at 10k (addon).
  const targets = [];
  print("\ntargets (issue 15; same run):");
  if (doc.mcpserver.length) {
    const R = get(doc.mcpserver, "ref", "streams", mcpStreams), A = get(doc.mcpserver, "addon", "streams", mcpStreams);
    if (ok(R) && ok(A)) {
      for (const [what, key] of [["Redis commands/s", "commandsPerSec"], ["commands/s sent by clients (info)", "clientCommandsPerSec"]]) {
        const ratio = A.idle[key] / R.idle[key];
        const met = ratio <= 0.05;
        const primary = key === "commandsPerSec";
        targets.push({ id: `mcpserver-${key}`, primary, met, addon: A.idle[key], ref: R.idle[key], ratio });
        print(`  ${primary ? (met ? "PASS" : "MISS") : met ? "pass" : "miss"}  MCPServer ${k(mcpStreams)} streams, idle ${what}: addon ${A.idle[key].toFixed(2)} vs mcp-use ${R.idle[key].toFixed(2)} = ${(ratio * 100).toPrecision(3)}% (target <= 5%)`);
      }
    } else print("  MISS  MCPServer mode failed: no comparison");
  }
  if (only !== "mcpserver" && Ns.length > 1) {
    const lo = get(doc.direct, "addon", "n", Ns[0]), hi = get(doc.direct, "addon", "n", Ns[Ns.length - 1]);
    if (ok(lo) && ok(hi)) {
      for (const [what, key] of [["Redis commands/s", "commandsPerSec"], ["commands/s sent by clients (info)", "clientCommandsPerSec"]]) {
        const met = hi.idle[key] <= lo.idle[key] * (1 + SCALE_SLACK);
        const primary = key === "commandsPerSec";
        targets.push({ id: `scale-${key}`, primary, met, atSmall: lo.idle[key], atLarge: hi.idle[key] });
        print(`  ${primary ? (met ? "PASS" : "MISS") : met ? "pass" : "miss"}  addon idle ${what} at ${k(Ns[Ns.length - 1])} streams ${hi.idle[key].toFixed(2)} vs at ${k(Ns[0])} ${lo.idle[key].toFixed(2)} (${hi.idle[key] >= lo.idle[key] ? "+" : ""}${((hi.idle[key] / lo.idle[key] - 1) * 100).toFixed(2)}%; target: no more, within ${SCALE_SLACK * 100}% for the window's edges)`);
      }
    } else print("  MISS  direct mode failed: no comparison");
  }

  const out = {
    machine, versions, command: `node bench/fleet.mjs ${argv.join(" ")}`.trim(), durationSec: (Date.now() - started) / 1000,
    config: { Ns, mcpStreams, heartbeat, idleSec, settleSec, mcpSettleSec, splitSec, batch },
    notes: {
      commands: "INFO stats total_commands_processed delta over the idle window, minus the admin connection's own commands; it includes the commands a Lua script runs (EVALSHA counts once, and each redis.call in it once)",
      clientCommands: "commands sent by clients per second, counted by MONITOR in a window that follows the idle window (only when scripts ran; otherwise equal to the total, which then has no script commands in it)",
      cpu: "process.cpuUsage() delta (user + system, all threads of the process) over the idle window, in % of one core; redis-server CPU from /proc/<pid>/stat",
      memory: "after gc(), minus a baseline taken after the manager was constructed and warmed up and the ids and controllers existed, divided by N",
      broadcast: "send(undefined, data) until every controller's enqueue had been called once",
      logging: "mcp-use's console.log/console.debug are silenced in the direct-mode reference processes; the MCPServer processes' stdout is discarded",
    },
    table: tableText, targets, direct: doc.direct, mcpserver: doc.mcpserver,
  };
  const chart = chartOf(out);
  const base = quick ? "fleet-quick" : "fleet";
  fs.mkdirSync(path.join(HERE, "results"), { recursive: true });
  fs.writeFileSync(path.join(HERE, "results", `${base}.json`), JSON.stringify(out, null, 2) + "\n");
  fs.writeFileSync(path.join(HERE, "results", `${base}.svg`), chart);
  print(`\nwrote bench/results/${base}.json and bench/results/${base}.svg in ${out.durationSec.toFixed(0)} s`);
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (watch) await watch.close().catch(() => {});
  if (redis) await redis.stop();
  if (snapDir) fs.rmSync(snapDir, { recursive: true, force: true });
}
