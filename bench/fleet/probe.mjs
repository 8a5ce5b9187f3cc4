// What a measured process reports about itself at both ends of an idle window: CPU (all
// threads), CPU ticks per thread name (/proc/self/task: the JS thread is "node", the addon's
// runtime thread "mcp-sessions…", V8's helpers "V8 DefaultWorke…"), and GC pauses so far.
import fs from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";

let gcCount = 0, gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) { gcCount++; gcMs += e.duration; }
}).observe({ entryTypes: ["gc"] });

function threadTicks() {
  const out = {};
  try {
    for (const t of fs.readdirSync("/proc/self/task")) {
      const stat = fs.readFileSync(`/proc/self/task/${t}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[0-9]+$/, "").trim() || "?";
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out[name] = (out[name] || 0) + Number(f[11]) + Number(f[12]);
    }
  } catch { /* not Linux */ }
  return out;
}

export function probe() {
  return { cpu: process.cpuUsage(), atMs: Number(process.hrtime.bigint()) / 1e6, threads: threadTicks(), gcCount, gcMs };
}
