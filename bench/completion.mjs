// The completion queue (src/node/js/queue.rs: one threadsafe function per JS thread, a
// finished operation queues its settlement and wakes the JS thread at most once per batch)
// against napi-rs's own future-to-promise path, the one `#[napi] async fn` uses (a deferred
// and a threadsafe function per promise), on the same operations, in the same run.
//
//   node bench/completion.mjs            builds the napi-rs variant if missing, then ~3 min
//   node bench/completion.mjs --quick    smaller sizes, one round (~1 min)
//   node bench/completion.mjs --rounds 5
//
// The queue build is the package's own (`npm run build`); the variant is the same sources
// built with the `napi-async` feature into target/napi-async/. Each measure runs each build
// in its own node process against one private redis-server; rounds alternate the order and
// each figure is the median of the rounds. Results: the table on stdout and
// results/completion.json; the ratio is variant/queue (above 1: the variant takes longer or
// does less).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { ROOT, median, percentile, nowMs, sleep, sid, meta, countingController } from "./lib/common.mjs";
import { startRedis, freePort } from "./lib/redis.mjs";

const require = createRequire(import.meta.url);
const NODE_FILE = "mcp-sessions-native.linux-x64-gnu.node";
const BUILDS = {
  queue: path.join(ROOT, NODE_FILE),
  napiAsync: path.join(ROOT, "target", "napi-async", NODE_FILE),
};

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const rounds = Number(args[args.indexOf("--rounds") + 1]) || (quick ? 1 : 3);
const SIZES = quick
  ? { concurrent: 5_000, sequential: 1_000, sends: 5_000, e2eSeq: 100, e2eClients: 4, e2ePerClient: 25 }
  : { concurrent: 20_000, sequential: 5_000, sends: 20_000, e2eSeq: 500, e2eClients: 8, e2ePerClient: 100 };

// ---- measures (run in a child process, one build each)

async function rstore(addon, url) {
  const { RedisSessionStore } = require(addon);
  const store = new RedisSessionStore({ url });
  const N = SIZES.concurrent;
  const ids = Array.from({ length: N }, (_, i) => sid(i));
  const metas = ids.map((_, i) => meta(i));
  await Promise.all(ids.slice(0, 2000).map((id, i) => store.set(id, metas[i])));
  let t = nowMs();
  await Promise.all(ids.map((id, i) => store.set(id, metas[i])));
  const setOpsPerSec = N / ((nowMs() - t) / 1000);
  await sleep(50);
  t = nowMs();
  await Promise.all(ids.map((id) => store.get(id)));
  const getOpsPerSec = N / ((nowMs() - t) / 1000);
  for (let i = 0; i < 500; i++) await store.get(ids[i]);
  const lat = [];
  for (let i = 0; i < SIZES.sequential; i++) {
    const s = nowMs();
    await store.has(ids[(i * 7) % N]);
    lat.push(nowMs() - s);
  }
  await store.close();
  return { setOpsPerSec, getOpsPerSec, seqHasP50Us: percentile(lat, 50) * 1000, seqHasP99Us: percentile(lat, 99) * 1000 };
}

async function streamSend(addon, url) {
  const { RedisStreamManager } = require(addon);
  const manager = new RedisStreamManager({ url });
  let received = 0;
  await manager.create(sid(1), countingController(() => received++));
  const N = SIZES.sends;
  const t = nowMs();
  await Promise.all(Array.from({ length: N }, () => manager.send([sid(1)], "x")));
  const sendOpsPerSec = N / ((nowMs() - t) / 1000);
  await manager.close();
  return { sendOpsPerSec };
}

async function e2e(addon, url) {
  const port = await freePort();
  const server = spawn(process.execPath, [path.join(ROOT, "bench", "completion", "server.mjs")], {
    env: { ...process.env, ADDON: addon, REDIS_URL: url, PORT: String(port), NODE_ENV: "production", MCP_USE_ANONYMIZED_TELEMETRY: "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server not ready:\n${out}`)), 30_000);
    const onData = (d) => { out += d; if (/\[SERVER\] Listening on http:\/\//.test(out)) { clearTimeout(timer); resolve(); } };
    server.stdout.on("data", onData);
    server.stderr.on("data", onData);
    server.on("exit", (code) => reject(new Error(`server exited ${code}:\n${out}`)));
  });
  const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
  const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
  const connect = async () => {
    const client = new Client({ name: "bench", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://localhost:${port}/mcp`)));
    return client;
  };
  try {
    const one = await connect();
    for (let i = 0; i < 20; i++) await one.callTool({ name: "echo", arguments: { i } });
    let t = nowMs();
    for (let i = 0; i < SIZES.e2eSeq; i++) await one.callTool({ name: "echo", arguments: { i } });
    const seqCallsPerSec = SIZES.e2eSeq / ((nowMs() - t) / 1000);
    const clients = await Promise.all(Array.from({ length: SIZES.e2eClients }, connect));
    t = nowMs();
    await Promise.all(clients.map(async (c) => {
      for (let i = 0; i < SIZES.e2ePerClient; i++) await c.callTool({ name: "echo", arguments: { i } });
    }));
    const concurrentCallsPerSec = (SIZES.e2eClients * SIZES.e2ePerClient) / ((nowMs() - t) / 1000);
    await Promise.all([one, ...clients].map((c) => c.close().catch(() => {})));
    return { seqCallsPerSec, concurrentCallsPerSec };
  } finally {
    server.kill("SIGKILL");
  }
}

const MEASURES = { rstore, streamSend, e2e };

if (args[0] === "--child") {
  const [, measure, addon, url] = args;
  const result = await MEASURES[measure](addon, url);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

// ---- runner

function child(measure, build, url) {
  const r = spawnSync(process.execPath, [path.join(ROOT, "bench", "completion.mjs"), "--child", measure, BUILDS[build], url, ...(quick ? ["--quick"] : [])], {
    encoding: "utf8",
    env: { ...process.env, MCP_SESSIONS_LOG: "error" },
    timeout: 300_000,
  });
  const line = (r.stdout || "").split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) throw new Error(`${measure}/${build} failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice(7));
}

if (!existsSync(BUILDS.queue)) {
  console.error(`${BUILDS.queue} is missing: run \`npm run build\` first`);
  process.exit(1);
}
if (!existsSync(BUILDS.napiAsync) || args.includes("--rebuild")) {
  console.log("building the napi-rs variant (feature napi-async) into target/napi-async ...");
  const b = spawnSync("npx", ["napi", "build", "--platform", "--release", "--features", "napi-async", "--no-js",
    "--output-dir", "target/napi-async", "--dts", "napi-generated.d.ts"], { cwd: ROOT, stdio: "inherit" });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

const redis = await startRedis();
const raw = { queue: {}, napiAsync: {} };
try {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ["queue", "napiAsync"] : ["napiAsync", "queue"];
    for (const measure of Object.keys(MEASURES)) {
      for (const build of order) {
        const result = child(measure, build, redis.url);
        for (const [k, v] of Object.entries(result)) (raw[build][`${measure}.${k}`] ??= []).push(v);
      }
    }
  }
} finally {
  await redis.stop();
}

const rows = Object.keys(raw.queue).map((key) => {
  const q = median(raw.queue[key]);
  const a = median(raw.napiAsync[key]);
  const higherIsBetter = /PerSec$/.test(key);
  // variant/queue as a cost: above 1 means the variant is slower.
  const cost = higherIsBetter ? q / a : a / q;
  return { key, queue: q, napiAsync: a, variantCost: cost };
});
console.log(`\ncompletion queue vs napi-rs future path (${rounds} round(s), medians${quick ? ", --quick" : ""})\n`);
console.log(`${"measure".padEnd(34)}${"queue".padStart(12)}${"napi-async".padStart(12)}   napi-async cost`);
for (const r of rows) {
  console.log(`${r.key.padEnd(34)}${r.queue.toFixed(1).padStart(12)}${r.napiAsync.toFixed(1).padStart(12)}   ${r.variantCost.toFixed(2)}x`);
}
const out = path.join(ROOT, "bench", "results", quick ? "completion-quick.json" : "completion.json");
writeFileSync(out, JSON.stringify({
  date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model,
  rounds, sizes: SIZES, rows, raw,
}, null, 2) + "\n");
console.log(`\n${path.relative(ROOT, out)}`);
