#!/usr/bin/env node
// Benchmark suite: mcp-sessions-native (the addon) vs mcp-use@1.34.6 (the reference), same data,
// same private redis-server, one run. Each measure of each implementation runs in its own
// `node --expose-gc` process (heap, GC and event loop isolated).
//
//   node bench/run.mjs                 full run (about 3-4 minutes on 2 cores)
//   node bench/run.mjs --quick         smaller sizes, one round (a smoke test; ratios are indicative)
//   node bench/run.mjs --only fs,memory:ttl     only tasks whose id contains one of these
//   node bench/run.mjs --rounds 3      rounds per task (best of rounds per implementation)
//   node bench/run.mjs --cpu-prof      CPU profiles of the addon processes in bench/results/prof/
//   node bench/run.mjs --list          list the tasks
import { fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis, redisInfoVersion } from "./lib/redis.mjs";
import { table, svg, fmt, fmtRatio } from "./lib/report.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
const opt = (f) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : undefined; };
const quick = flag("--quick");
const rounds = Number(opt("--rounds") ?? (quick ? 1 : 2));
const only = opt("--only")?.split(",").map((s) => s.trim()).filter(Boolean);
const cpuProf = flag("--cpu-prof");

const sessions = quick
  ? { fs: 20_000, broadcast: [500, 2_000], heartbeat: 2_000, redisConcurrent: 5_000, redisKeys: 20_000, memOps: 50_000, memHeap: 100_000, memChurn: 20_000, ttl: 20_000 }
  : { fs: 100_000, broadcast: [2_000, 10_000], heartbeat: 10_000, redisConcurrent: 20_000, redisKeys: 100_000, memOps: 200_000, memHeap: 1_000_000, memChurn: 200_000, ttl: 100_000 };
const reps = quick
  ? { fsSave: 2, fsLoad: 2, broadcast: 2, latency: 300, latencyWarmup: 50, heartbeatIntervals: 3, redisConcurrent: 2, redisSeqGet: 2_000, redisKeys: 2, memOps: 1 }
  : { fsSave: 3, fsLoad: 3, broadcast: 3, latency: 1_000, latencyWarmup: 100, heartbeatIntervals: 6, redisConcurrent: 3, redisSeqGet: 10_000, redisKeys: 3, memOps: 3 };

const k = (n) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));
const S = sessions;

// One task = one child process per implementation; it yields several rows.
const TASKS = [
  { id: "fs:save", redis: false },
  { id: "fs:load", redis: false, needs: "fs:save" },
  { id: "stream:fanout", redis: true },
  { id: "stream:latency", redis: true },
  { id: "stream:heartbeat", redis: true },
  { id: "rstore:ops", redis: true },
  { id: "rstore:keys", redis: true },
  { id: "memory:ops", redis: false },
  { id: "memory:heap", redis: false },
  { id: "memory:ttl", redis: false },
];

const R = (target) => ({ kind: "ratio", ...target });
const ROWS = [
  { task: "fs:save", key: "stallMs", unit: "ms", better: "lower", label: `FileSystem ${k(S.fs)}: save, longest event-loop stall`, target: R({ op: "<=", value: 0.05 }) },
  { task: "fs:save", key: "flushMs", unit: "ms", better: "lower", label: `FileSystem ${k(S.fs)}: flush() until on disk` },
  { task: "fs:load", key: "loadMs", unit: "ms", better: "lower", label: `FileSystem ${k(S.fs)}: constructor load`, target: R({ op: "<=", value: 0.5 }) },
  { task: "stream:fanout", key: "createMs", unit: "ms", better: "lower", label: `RedisStream: create ${k(S.broadcast[0])} streams (concurrent)`, target: R({ op: "<=", value: 0.2 }) },
  { task: "stream:fanout", key: "broadcastSmallMs", unit: "ms", better: "lower", label: `RedisStream: broadcast to ${k(S.broadcast[0])}, all delivered`, target: R({ op: "<=", value: 0.1 }) },
  { task: "stream:fanout", key: "broadcastLargeMs", unit: "ms", better: "lower", label: `RedisStream: broadcast to ${k(S.broadcast[1])}, all delivered`, target: R({ op: "<=", value: 0.1 }) },
  { task: "stream:latency", key: "p50Ms", unit: "ms", better: "lower", label: "RedisStream: cross-instance latency p50", target: R({ op: "<=", value: 1.0 }) },
  { task: "stream:latency", key: "p99Ms", unit: "ms", better: "lower", label: "RedisStream: cross-instance latency p99", target: R({ op: "<=", value: 1.0 }) },
  { task: "stream:heartbeat", key: "heartbeatRoundTripsPerInterval", unit: "", better: "lower", label: `RedisStream ${k(S.heartbeat)}: heartbeat round trips / interval`, target: { kind: "abs", op: "<=", value: 1 } },
  { task: "stream:heartbeat", key: "roundTripsPerInterval", unit: "", better: "lower", label: `RedisStream ${k(S.heartbeat)}: all round trips / interval (+prune)`, target: { kind: "abs", op: "<=", value: 1 } },
  { task: "stream:heartbeat", key: "commandsPerInterval", unit: "", better: "lower", label: `RedisStream ${k(S.heartbeat)}: commands / interval` },
  { task: "rstore:ops", key: "setOpsPerSec", unit: "ops/s", better: "higher", label: `RedisStore: ${k(S.redisConcurrent)} concurrent set`, target: R({ op: ">=", value: 2 }) },
  { task: "rstore:ops", key: "getOpsPerSec", unit: "ops/s", better: "higher", label: `RedisStore: ${k(S.redisConcurrent)} concurrent get`, target: R({ op: ">=", value: 2 }) },
  { task: "rstore:ops", key: "seqGetP50Ms", unit: "ms", better: "lower", label: "RedisStore: sequential get p50", target: R({ op: "<=", value: 1.1 }) },
  { task: "rstore:ops", key: "seqGetP99Ms", unit: "ms", better: "lower", label: "RedisStore: sequential get p99", target: R({ op: "<=", value: 1.1 }) },
  { task: "rstore:keys", key: "totalMs", unit: "ms", better: "lower", label: `RedisStore: keys() over ${k(S.redisKeys)}, total` },
  { task: "rstore:keys", key: "longestCommandMs", unit: "ms", better: "lower", label: `RedisStore: keys() over ${k(S.redisKeys)}, longest command`, target: R({ op: "<=", value: 0.1 }) },
  { task: "memory:ops", key: "setOpsPerSec", unit: "ops/s", better: "higher", label: "InMemory: set (sequential await)", target: R({ op: ">=", value: 0.5 }) },
  { task: "memory:ops", key: "getOpsPerSec", unit: "ops/s", better: "higher", label: "InMemory: get (sequential await)", target: R({ op: ">=", value: 0.5 }) },
  { task: "memory:ops", key: "hasOpsPerSec", unit: "ops/s", better: "higher", label: "InMemory: has (sequential await)", target: R({ op: ">=", value: 0.5 }) },
  { task: "memory:heap", key: "heapMB", unit: "MB", better: "lower", label: `InMemory ${k(S.memHeap)}: V8 heap used`, target: R({ op: "<=", value: 0.2 }) },
  { task: "memory:heap", key: "rssMB", unit: "MB", better: "lower", label: `InMemory ${k(S.memHeap)}: RSS growth` },
  { task: "memory:heap", key: "maxGcPauseMs", unit: "ms", better: "lower", label: `InMemory ${k(S.memHeap)}: longest GC pause, churn`, target: R({ op: "<=", value: 0.5 }) },
  { task: "memory:ttl", key: "jsTimers", unit: "", better: "lower", label: `InMemory ${k(S.ttl)} setWithTTL: JS timers`, target: { kind: "abs", op: "<=", value: 0 } },
  { task: "memory:ttl", key: "latenessP99Ms", unit: "ms", better: "lower", label: `InMemory ${k(S.ttl)} setWithTTL: expiry lateness p99`, target: { kind: "abs", op: "<=", value: 100, unit: "ms" } },
];

if (flag("--list")) {
  for (const t of TASKS) console.log(`${t.id.padEnd(18)} ${ROWS.filter((r) => r.task === t.id).map((r) => r.key).join(", ")}`);
  process.exit(0);
}

let selected = TASKS.filter((t) => !only || only.some((o) => t.id.includes(o)));
for (const t of [...selected]) if (t.needs && !selected.some((s) => s.id === t.needs)) selected.unshift(TASKS.find((x) => x.id === t.needs));
selected = TASKS.filter((t) => selected.includes(t));
if (!selected.length) { console.error(`no task matches --only ${only}`); process.exit(2); }

const addonFile = path.join(ROOT, "mcp-sessions-native.linux-x64-gnu.node");
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-sessions-bench-"));
const profDir = path.join(HERE, "results", "prof");
let redis = null;

function runChild(task, impl, cfg) {
  return new Promise((resolve) => {
    const execArgv = ["--expose-gc", "--max-old-space-size=4096"];
    if (cpuProf && impl === "addon") execArgv.push("--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${task.replace(":", "-")}-${impl}-${Date.now()}.cpuprofile`);
    const child = fork(path.join(HERE, "child.mjs"), [task, impl], {
      cwd: ROOT, execArgv, env: { ...process.env, BENCH_CFG: JSON.stringify(cfg), MCP_SESSIONS_LOG: process.env.MCP_SESSIONS_LOG ?? "warn" },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    let err = "", msg = null;
    child.stdout.on("data", () => {});
    child.stderr.on("data", (d) => { err += d; if (err.length > 20_000) err = err.slice(-10_000); });
    child.on("message", (m) => { msg = m; });
    const timer = setTimeout(() => { child.kill("SIGKILL"); }, 240_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (msg?.ok) resolve({ ok: true, result: msg.result, stderr: err.trim() });
      else resolve({ ok: false, error: msg?.error ?? `exited with ${signal ?? code}`, stderr: err.trim() });
    });
  });
}

function pick(values, better) {
  const ok = values.filter((v) => typeof v === "number" && !Number.isNaN(v));
  if (!ok.length) return NaN;
  return better === "higher" ? Math.max(...ok) : Math.min(...ok);
}

function evaluate(row, ref, addon) {
  const ratio = ref === 0 ? (addon === 0 ? 1 : Infinity) : addon / ref;
  const t = row.target;
  let met = null;
  if (t) {
    const v = t.kind === "ratio" ? ratio : addon;
    met = Number.isFinite(v) || v === Infinity ? (t.op === "<=" ? v <= t.value : v >= t.value) : false;
    if (Number.isNaN(addon) || Number.isNaN(ref)) met = false;
  }
  return { ratio, met };
}

const started = Date.now();
const results = {};
try {
  if (!fs.existsSync(addonFile)) throw new Error(`${addonFile} missing: run npm run build`);
  if (cpuProf) fs.mkdirSync(profDir, { recursive: true });
  let redisVersion = null;
  if (selected.some((t) => t.redis)) {
    redis = await startRedis();
    redisVersion = await redisInfoVersion(redis.url);
    console.log(`private redis-server ${redisVersion} on 127.0.0.1:${redis.port} (pid ${redis.pid})`);
  }
  const cfg = { quick, tmpDir, sessions, reps, redisUrl: redis?.url, redisPort: redis?.port };
  console.log(`${quick ? "QUICK " : ""}run: ${selected.map((t) => t.id).join(", ")}; ${rounds} round(s), best of rounds per implementation\n`);
  for (const t of selected) {
    results[t.id] = { ref: [], addon: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ["ref", "addon"] : ["addon", "ref"];
      for (const impl of order) {
        const s = Date.now();
        const out = await runChild(t.id, impl, cfg);
        const secs = ((Date.now() - s) / 1000).toFixed(1);
        if (!out.ok) {
          console.log(`  ${t.id} ${impl} round ${r + 1}: FAILED (${secs}s)\n${out.error}\n${out.stderr}`);
          results[t.id][impl].push({ error: out.error });
          continue;
        }
        if (out.stderr) console.log(`  ${t.id} ${impl}: stderr: ${out.stderr.split("\n").slice(0, 5).join(" | ")}`);
        results[t.id][impl].push(out.result);
        const rows = ROWS.filter((x) => x.task === t.id).map((x) => `${x.key}=${fmt(out.result[x.key], x.unit)}`).join(" ");
        console.log(`  ${t.id.padEnd(16)} ${impl.padEnd(5)} round ${r + 1}  ${secs.padStart(5)}s  ${rows}`);
      }
    }
  }

  const rows = ROWS.filter((row) => results[row.task]).map((row) => {
    const refV = pick(results[row.task].ref.map((x) => x[row.key]), row.better);
    const addonV = pick(results[row.task].addon.map((x) => x[row.key]), row.better);
    return { id: `${row.task}/${row.key}`, label: row.label, unit: row.unit, better: row.better, target: row.target ?? null, ref: refV, addon: addonV, ...evaluate(row, refV, addonV) };
  });

  const machine = {
    cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, node: process.version,
    os: `${os.type()} ${os.release()}`, totalMemGB: +(os.totalmem() / 2 ** 30).toFixed(1), loadavg: os.loadavg(),
    date: new Date().toISOString(), redis: redisVersion, quick,
  };
  const pkg = (p) => { try { return JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", p, "package.json"), "utf8")).version; } catch { return null; } };
  const st = fs.statSync(addonFile);
  const doc = {
    machine,
    versions: { reference: `mcp-use@${pkg("mcp-use")}`, redisClient: `redis@${pkg("redis")}`, addonBuilt: st.mtime.toISOString(), addonBytes: st.size },
    command: `node bench/run.mjs ${argv.join(" ")}`.trim(), rounds, durationSec: (Date.now() - started) / 1000,
    config: { sessions, reps },
    notes: {
      aggregation: "each value is the best of rounds for that implementation (min for lower-is-better, max for higher-is-better); within a round, the median of reps",
      create: "streams are created concurrently (Promise.all), as MCPServer does for independent SSE requests",
      heartbeat: "round trips counted by a RESP-parsing TCP proxy on the command connection(s): a round trip starts when a command arrives while no reply is outstanding (commands pipelined behind it belong to it); INFO commandstats gives the per-command counts",
      logging: "mcp-use's console.log/console.debug are silenced in the reference processes (this favours the reference)",
    },
    rows, raw: results,
  };
  fs.mkdirSync(path.join(HERE, "results"), { recursive: true });
  fs.writeFileSync(path.join(HERE, "results", "latest.json"), JSON.stringify(doc, null, 2) + "\n");
  fs.writeFileSync(path.join(HERE, "results", "latest.svg"), svg(rows, machine));

  console.log(`\n${machine.cpu}, ${machine.cores} cores, node ${machine.node}, redis ${machine.redis ?? "-"}, ${doc.versions.reference} vs addon (built ${doc.versions.addonBuilt})${quick ? ", QUICK" : ""}\n`);
  console.log(table(rows));
  const withTarget = rows.filter((r) => r.met !== null);
  const missed = withTarget.filter((r) => !r.met);
  console.log(`\ntargets met: ${withTarget.length - missed.length}/${withTarget.length}${missed.length ? `; missed: ${missed.map((r) => `${r.label} (${fmtRatio(r.ratio)})`).join("; ")}` : ""}`);
  const hb = results["stream:heartbeat"]?.addon?.[0];
  if (hb && !hb.error) console.log(`heartbeat detail (addon): round trips per 1-s interval ${JSON.stringify(hb.roundTripsPerSecondBucket)}, commandstats/interval ${JSON.stringify(hb.commandstatsPerInterval)}`);
  console.log(`\nwrote bench/results/latest.json and bench/results/latest.svg in ${doc.durationSec.toFixed(0)} s`);
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (redis) await redis.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
}
