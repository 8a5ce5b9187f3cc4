// What a measured process reports about itself at both ends of an idle window: CPU (all
// threads), CPU ticks per thread (/proc/self/task: the JS thread, Node's helper threads, the
// addon's runtime thread "mcp-sessions…"), and GC pauses so far (all, and major ones).
import fs from "node:fs";
import { PerformanceObserver, constants, performance } from "node:perf_hooks";

let gcCount = 0, gcMs = 0, gcMajor = 0, gcMajorMs = 0;
const gcMajorAt = []; // wall-clock ms of the last major GCs
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcCount++; gcMs += e.duration;
    if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gcMajor++; gcMajorMs += e.duration;
      gcMajorAt.push(Math.round(performance.timeOrigin + e.startTime));
      if (gcMajorAt.length > 50) gcMajorAt.shift();
    }
  }
}).observe({ entryTypes: ["gc"] });

function threadTicks() {
  const out = {};
  try {
    for (const t of fs.readdirSync("/proc/self/task")) {
      const stat = fs.readFileSync(`/proc/self/task/${t}/stat`, "utf8");
      // The JS thread is the one whose id is the process id; Node's other threads (V8's
      // platform workers: concurrent GC marking, libuv's pool) carry the process name too.
      let name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[0-9]+$/, "").trim() || "?";
      if (Number(t) === process.pid) name = "JS thread";
      else if (name === "node") name = "node helpers";
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out[name] = (out[name] || 0) + Number(f[11]) + Number(f[12]);
    }
  } catch { /* not Linux */ }
  return out;
}

export function probe() {
  return { cpu: process.cpuUsage(), atMs: Number(process.hrtime.bigint()) / 1e6, threads: threadTicks(), gcCount, gcMs, gcMajor, gcMajorMs, gcMajorAt: [...gcMajorAt] };
}
