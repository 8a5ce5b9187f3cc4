// The chaos schedule: a pure function of (seed, minutes), so a seed replays the same faults in
// the same order with the same parameters. The PRNG is pure-rand's xoroshiro128+ (seeded, fast,
// well kept; the soak's sender and sampler draw from their own streams of it).
//
// Faults (one event each, or two at once for a "combo"):
//   kill-instance  SIGKILL instance a|b|c, start it again on its port after `downMs`
//   kill-redis     SIGKILL redis-server, start it again on its AOF (same port, dir) after `downMs`
//   cut-streams    the proxy drops the GET streams of `sessions` (indexes 0..29) without a DELETE
// Density: one event every GAP_MIN..GAP_MAX seconds (mean 11 s) over the chaos window, so the
// number of faults grows in proportion to the run's length (~5.5 per minute); whatever the
// length, each kind occurs at least once, and so does a combo.
import prand from "pure-rand";

export const KINDS = ["kill-instance", "kill-redis", "cut-streams"];
const GAP_MIN = 6_000;
const GAP_MAX = 16_000;
const WEIGHTS = [["kill-instance", 0.35], ["cut-streams", 0.35], ["kill-redis", 0.15], ["combo", 0.15]];

/** A PRNG with the float/int helpers the soak uses. */
export function rng(seed, stream = 0) {
  const g = prand.xoroshiro128plus((seed ^ Math.imul(stream, 0x9e3779b1)) >>> 0);
  prand.unsafeSkipN(g, 32); // the first outputs of nearby small seeds are alike
  const float = () => prand.unsafeUniformIntDistribution(0, 2 ** 30 - 1, g) / 2 ** 30;
  float.int = (lo, hi) => prand.unsafeUniformIntDistribution(lo, hi, g);
  float.pick = (arr) => arr[float.int(0, arr.length - 1)];
  return float;
}

function fault(kind, r, { sessions, instances }) {
  if (kind === "kill-instance") return { kind, instance: r.pick(instances), downMs: r.int(300, 3000) };
  if (kind === "kill-redis") return { kind, downMs: r.int(300, 3000) };
  const n = r.int(1, 6);
  const picked = new Set();
  while (picked.size < n) picked.add(r.int(0, sessions - 1));
  return { kind, sessions: [...picked].sort((a, b) => a - b) };
}

/**
 * @returns {{ seed, minutes, events: { at: number, faults: object[] }[] }} `at` in ms from the
 *   start of the chaos window; an event's faults start together.
 */
export function makeSchedule({ seed, minutes, sessions = 30, instances = ["a", "b", "c"] }) {
  const r = rng(seed, 1);
  const windowMs = Math.round(minutes * 60_000);
  const events = [];
  for (let at = r.int(2000, GAP_MIN); at < windowMs - 3000; at += r.int(GAP_MIN, GAP_MAX)) {
    let x = r();
    const kind = WEIGHTS.find(([, w]) => (x -= w) < 0)?.[0] ?? "cut-streams";
    if (kind !== "combo") {
      events.push({ at, faults: [fault(kind, r, { sessions, instances })] });
      continue;
    }
    // Two different faults at once; two instance kills never take the same instance.
    const first = fault(r.pick(KINDS), r, { sessions, instances });
    let second;
    do second = fault(r.pick(KINDS), r, { sessions, instances });
    while (second.kind === first.kind && (first.kind !== "kill-instance" || second.instance === first.instance));
    events.push({ at, faults: [first, second], combo: true });
  }
  // Every kind at least once, and one combo, even in a short run: rewrite events in order.
  const count = (k) => events.filter((e) => e.faults.some((f) => f.kind === k)).length;
  for (const k of KINDS) {
    if (count(k)) continue;
    // Replace a single fault of a kind that occurs more than once, so no other kind goes missing.
    const spare = events.find((e) => !e.combo && count(e.faults[0].kind) > 1);
    if (spare) spare.faults = [fault(k, r, { sessions, instances })];
  }
  if (!events.some((e) => e.combo) && events.length > 3) {
    const e = events[events.length - 2];
    e.faults = [fault("kill-instance", r, { sessions, instances }), fault("cut-streams", r, { sessions, instances })];
    e.combo = true;
  }
  return { seed, minutes, events };
}

/** One line per event, for the console and the results file. */
export function describeEvent(e) {
  return e.faults
    .map((f) => (f.kind === "cut-streams" ? `cut ${f.sessions.map((s) => `s${s}`).join(",")}` : f.kind === "kill-redis" ? `kill redis (${f.downMs} ms)` : `kill ${f.instance} (${f.downMs} ms)`))
    .join(" + ");
}
