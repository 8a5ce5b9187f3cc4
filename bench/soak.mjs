// `npm run soak`: the chaos soak (issue 25). Three MCPServer instances on the Redis classes
// behind a round-robin proxy, 30 SDK sessions holding their GET streams, a sender notifying
// random sessions through random instances, sampling calls, and a seeded schedule of faults:
// instances SIGKILLed and restarted, Redis SIGKILLed and restarted on its AOF, GET streams cut
// at the proxy, sometimes two at once. Then the invariants (bench/soak/check.mjs), ONE JSON
// summary on stdout, the results file and a chart. docs/soak.md has the whole story.
//
//   node bench/soak.mjs [--minutes 10] [--seed N] [--impl native|mcp-use|both] [--rate 25]
//   node bench/soak.mjs --seeds          every regression seed of bench/soak/seeds.json (native)
//   --allow-known                        the addon's two known limitations (docs/soak.md) are
//                                        counted and printed but do not fail the run (CI)
//   node bench/soak.mjs --seed N --list  the fault schedule of a seed, without running it
//
// Exits 1 when an invariant fails for `native`; an mcp-use run is reported, never a failure.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { startFleet, NAMES } from "./soak/fleet.mjs";
import { makeSchedule, describeEvent, rng } from "./soak/schedule.mjs";
import { openSessions, startSender, startSampler, closeAll, now } from "./soak/clients.mjs";
import { redisState } from "./soak/redis-state.mjs";
import { check } from "./soak/check.mjs";
import { soakSvg } from "./soak/chart.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, "results");
const SEEDS = path.join(HERE, "soak", "seeds.json");

const { values: opt } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    seed: { type: "string" },
    impl: { type: "string", default: "native" },
    rate: { type: "string", default: "25" },
    sessions: { type: "string", default: "30" },
    seeds: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    list: { type: "boolean", default: false },
    "allow-known": { type: "boolean", default: false },
  },
});

const WARMUP_MS = 20_000; // clients connected and traffic flowing before the first fault and the memory baseline
const AFTER_CHAOS_MS = 15_000; // the issue's "15 s after the chaos stops": then each session is probed
const PROBE_LIMIT_MS = 30_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clock = (t0) => {
  const s = Math.max(0, Math.round((Date.now() - t0) / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};

let activeFleet = null;
async function bail(code, why) {
  if (why) process.stderr.write(`soak: ${why}\n`);
  await activeFleet?.stop().catch(() => {});
  process.exit(code);
}
process.on("SIGINT", () => bail(130, "interrupted; fleet stopped"));
process.on("SIGTERM", () => bail(143, "terminated; fleet stopped"));
process.on("uncaughtException", (e) => bail(1, e.stack));
process.on("unhandledRejection", (e) => bail(1, e?.stack ?? String(e)));

/** Applies one fault; resolves once it is over (the instance or Redis is back). */
async function applyFault(fleet, f, sessions, timeline) {
  const rec = { kind: f.kind, t: Date.now() };
  timeline.push(rec);
  if (f.kind === "kill-instance") {
    rec.instance = f.instance;
    rec.inst = `${f.instance}#${fleet.instances[f.instance].pid}`;
    await fleet.killInstance(f.instance);
    await sleep(f.downMs);
    await fleet.startInstance(f.instance);
    rec.label = `${rec.inst} killed, ${f.instance} back after ${Date.now() - rec.t} ms`;
  } else if (f.kind === "kill-redis") {
    await fleet.killRedis();
    await sleep(f.downMs);
    await fleet.restartRedis();
    rec.label = `redis killed, back on its AOF after ${Date.now() - rec.t} ms`;
  } else {
    const sids = f.sessions.map((i) => sessions[i % sessions.length].sid);
    const conns = await fleet.cut(sids);
    rec.label = `cut ${f.sessions.map((i) => `s${i}`).join(",")} (${conns.length} open streams)`;
    rec.conns = conns;
  }
  rec.until = Date.now();
}

function readJsonl(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

async function waitForKeys(url, pred, ms) {
  const deadline = Date.now() + ms;
  let s;
  for (;;) {
    s = await redisState(url);
    if (pred(s) || Date.now() > deadline) return s;
    await sleep(1000);
  }
}

async function runOnce({ impl, seed, minutes, rate, nSessions }) {
  const say = (line) => opt.quiet || console.error(`[soak ${impl} seed ${seed}] ${line}`);
  const schedule = makeSchedule({ seed, minutes, sessions: nSessions, instances: NAMES });
  say(`${minutes} min of chaos, ${schedule.events.length} fault events; fleet starting`);
  const fleet = await startFleet({ impl });
  activeFleet = fleet;
  const started = Date.now();
  await sleep(3000); // a heartbeat or two: the registry and server channels in place
  const keysBefore = await redisState(fleet.redisUrl);
  const sessions = await openSessions(fleet.url, nSessions);
  const t0 = now();
  const sender = await startSender(fleet.url, sessions, { rate, rand: rng(seed, 2) });
  const sampler = startSampler(sessions, { meanMs: 30_000, rand: rng(seed, 3) });
  const memSeries = [];
  const sampleMemory = async () => {
    const m = await fleet.memory();
    memSeries.push({ t: now(), byName: m });
  };
  const memTimer = setInterval(() => sampleMemory().catch(() => {}), 10_000);
  say(`30 sessions connected through ${fleet.url}; warm-up ${WARMUP_MS / 1000} s`);
  await sleep(WARMUP_MS);
  const memBaseline = await fleet.memory({ gc: true });

  // The chaos: events at their scheduled offsets (an event that overruns delays the next one).
  const chaosStart = Date.now();
  const timeline = [];
  for (const ev of schedule.events) {
    const wait = chaosStart + ev.at - Date.now();
    if (wait > 0) await sleep(wait);
    say(`${clock(chaosStart)} ${describeEvent(ev)}`);
    await Promise.all(ev.faults.map((f) => applyFault(fleet, f, sessions, timeline)));
  }
  const rest = chaosStart + minutes * 60_000 - Date.now();
  if (rest > 0) await sleep(rest);
  const chaosEnd = now();
  say(`${clock(chaosStart)} chaos over; ${AFTER_CHAOS_MS / 1000} s, then one probe per session`);
  await sleep(AFTER_CHAOS_MS);
  await sampler.stop();
  await sender.stop();

  // Probes: one acknowledged notification per session, which must arrive on a live stream.
  const probeResults = new Map();
  await Promise.all(sessions.map(async (s) => {
    const ack = await sender.probe(s);
    let deliveredAfterMs = null;
    if (ack) {
      const deadline = Date.now() + PROBE_LIMIT_MS;
      while (Date.now() < deadline) {
        const r = s.received.find((x) => x.seq === ack.seq);
        if (r) {
          deliveredAfterMs = Math.max(0, r.t - ack.t1);
          break;
        }
        await sleep(50);
      }
    }
    probeResults.set(s.sid, { ack, deliveredAfterMs });
  }));
  await sleep(2000); // a late duplicate would show up here
  clearInterval(memTimer);

  // Clients leave (DELETE); then keys, subscriptions and memory must settle back.
  await closeAll([...sessions, ...sender.senders]);
  // The server ids of the instances alive now: each journal's "start" line, less the killed.
  const starts = fleet.files().journals.flatMap(readJsonl).filter((l) => l.e === "start");
  const killed = new Set(fleet.kills.map((k) => k.inst));
  const live = starts.filter((s) => !killed.has(s.inst)).map((s) => s.serverId);
  const keysAfter = await waitForKeys(fleet.redisUrl, (s) => s.sessions === 0 && s.available === 0 && s.pending.length === 0
    && (impl !== "native" || (s.instances.length === live.length && s.instances.every((i) => live.includes(i.id)) && s.instanceSets.length === 0)), 45_000);
  await sleep(5000);
  const memAfter = await fleet.memory({ gc: true });
  memSeries.push({ t: now(), byName: memAfter });
  const t1 = now();

  const input = {
    impl, sessions, acks: sender.acks, journals: fleet.files().journals.flatMap(readJsonl), proxyLog: readJsonl(fleet.files().proxy),
    kills: fleet.kills, probeResults, limitMs: PROBE_LIMIT_MS, allowKnown: opt["allow-known"],
    keys: { before: keysBefore, after: keysAfter, liveServerIds: live, impl },
    memory: { baseline: memBaseline, after: memAfter },
  };
  const result = check(input);
  const pending = Object.fromEntries(Object.entries(memAfter).map(([, m]) => [m.inst, m.pending]));
  await fleet.stop({ keep: impl === "native" && result.failures.length > 0 });
  activeFleet = null;

  const faults = {};
  for (const f of timeline) faults[f.kind] = (faults[f.kind] || 0) + 1;
  const summary = {
    impl, seed, minutes, passed: result.failures.length === 0, failures: result.failures, allowKnown: opt["allow-known"], allowed: result.allowed,
    run: { startedAt: new Date(started).toISOString(), wallS: Math.round((Date.now() - started) / 1000), sessions: nSessions, instances: NAMES.length, ratePerS: rate, node: process.version },
    faults: { events: schedule.events.length, combos: schedule.events.filter((e) => e.combo).length, ...faults },
    notifications: result.notifications,
    sampling: result.sampling,
    probes: result.probes,
    streams: result.streams,
    redis: result.redis,
    memory: result.memory,
    pendingStats: pending,
    timeline: timeline.map((f) => ({ at: Math.round((f.t - chaosStart) / 100) / 10, kind: f.kind, label: f.label })),
  };
  const chart = soakSvg({
    title: `Chaos soak, ${impl === "native" ? "mcp-sessions-native" : "mcp-use@1.34.6"}: ${minutes} min, seed ${seed}`,
    subtitle: `${nSessions} SDK sessions, 3 MCPServer instances, ${rate} notifications/s; ${schedule.events.length} fault events; acknowledged ${result.notifications.acknowledged}, lost ${result.notifications.lostCount} + ${result.notifications.known.length} to known limitations, in flight ${result.notifications.inFlight["stream-cut"] + result.notifications.inFlight["instance-killed"]}, duplicates ${result.notifications.duplicateCount}; ${summary.passed ? "all invariants hold" : `${result.failures.length} invariant failures`}`,
    t0, t1, chaosEnd,
    acked: sender.acks.filter((a) => a.ok).map((a) => a.t1),
    delivered: sessions.flatMap((s) => s.received.map((r) => r.t)),
    faults: timeline.map((f) => ({ ...f, t: f.t, until: f.until })),
    memory: memSeries,
  });
  return { summary, chart };
}

function save(summary, chart) {
  fs.mkdirSync(RESULTS, { recursive: true });
  const tag = `${summary.impl}-${summary.minutes}m`;
  fs.writeFileSync(path.join(RESULTS, `soak-${tag}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  fs.writeFileSync(path.join(RESULTS, `soak-${tag}.svg`), chart);
  // soak.json: the latest run of each implementation and length, side by side.
  const file = path.join(RESULTS, "soak.json");
  const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  const { timeline, ...brief } = summary;
  void timeline;
  all[tag] = brief;
  fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
}

async function main() {
  const minutes = Number(opt.minutes);
  const rate = Number(opt.rate);
  const nSessions = Number(opt.sessions);
  if (!(minutes > 0) || !(rate > 0) || !(nSessions > 0)) return bail(2, "--minutes, --rate and --sessions take positive numbers");
  let runs;
  if (opt.seeds) {
    runs = JSON.parse(fs.readFileSync(SEEDS, "utf8")).seeds.map((s) => ({ impl: "native", seed: s.seed, minutes: s.minutes }));
  } else {
    if (!["native", "mcp-use", "both"].includes(opt.impl)) return bail(2, `--impl native|mcp-use|both, not ${opt.impl}`);
    const seed = opt.seed !== undefined ? Number(opt.seed) >>> 0 : (Math.random() * 2 ** 31) >>> 0;
    if (opt.seed === undefined) console.error(`soak: seed ${seed} (replay with --seed ${seed})`);
    runs = (opt.impl === "both" ? ["native", "mcp-use"] : [opt.impl]).map((impl) => ({ impl, seed, minutes }));
  }
  if (opt.list) {
    // The schedule(s) a run would follow, without running anything: how a seed is inspected.
    for (const r of runs) {
      const s = makeSchedule({ seed: r.seed, minutes: r.minutes, sessions: nSessions, instances: NAMES });
      console.log(`${r.impl} seed ${r.seed}, ${r.minutes} min: ${s.events.length} fault events`);
      for (const e of s.events) console.log(`  ${(e.at / 1000).toFixed(1).padStart(7)} s  ${describeEvent(e)}`);
    }
    return process.exit(0);
  }
  let failed = false;
  const summaries = [];
  for (const r of runs) {
    const { summary, chart } = await runOnce({ ...r, rate, nSessions });
    save(summary, chart);
    summaries.push(summary);
    if (r.impl === "native" && !summary.passed) failed = true;
  }
  process.stdout.write(`${JSON.stringify(summaries.length === 1 ? summaries[0] : summaries, null, 2)}\n`);
  for (const s of summaries) {
    console.error(`soak ${s.impl} seed ${s.seed} ${s.minutes} min: ${s.passed ? "PASS" : s.impl === "native" ? "FAIL" : "reported (mcp-use is never a failure)"}${[...s.failures, ...s.allowed].map((f) => `\n  ${f}`).join("")}`);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => bail(1, e.stack));
