// What Redis does while a fleet is idle, read from outside the measured process:
//   window(s)   commands/s from INFO stats total_commands_processed (which counts the commands a
//               Lua script runs, as Redis executes them) minus this admin connection's own,
//               per-command rates from INFO commandstats, a 1-s timeline, redis-server CPU
//               (/proc/<pid>/stat);
//   split(s)    a MONITOR window that tells commands sent by clients from commands run inside
//               scripts ("[0 lua]"), per command (run only when scripts ran: MONITOR costs Redis
//               work, so it is kept out of the window above).
import fs from "node:fs";
import net from "node:net";
import { execSync } from "node:child_process";
import { nodeRedis } from "../lib/redis.mjs";

export const CLK_TCK = (() => { try { return Number(execSync("getconf CLK_TCK").toString().trim()) || 100; } catch { return 100; } })();
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function procCpuSec(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14, 15)
}

export async function redisWatch({ url, port, pid }) {
  const admin = await nodeRedis(url);
  let sent = 0;
  const cmd = (args) => { sent++; return admin.sendCommand(args); };
  const addr = /addr=(\S+)/.exec(await cmd(["CLIENT", "INFO"]))?.[1];

  const total = async () => Number(/total_commands_processed:(\d+)/.exec(await cmd(["INFO", "stats"]))[1]);
  const commandstats = async () => {
    const calls = {};
    for (const m of (await cmd(["INFO", "commandstats"])).matchAll(/cmdstat_(\S+?):calls=(\d+)/g)) calls[m[1]] = Number(m[2]);
    return calls;
  };

  return {
    addr,
    async reset() { await cmd(["FLUSHALL"]); await cmd(["CONFIG", "RESETSTAT"]); },
    scard: async (key) => Number(await cmd(["SCARD", key])),
    dbsize: async () => Number(await cmd(["DBSIZE"])),

    async window(seconds) {
      const cpu0 = procCpuSec(pid);
      const sentT0 = sent;
      const t0 = nowMs();
      const T0 = await total();
      const sentC0 = sent;
      const C0 = await commandstats();
      const timeline = [];
      let prev = T0, prevSent = sentT0;
      const end = t0 + seconds * 1000;
      for (let k = 1; nowMs() < end - 500; k++) {
        await sleep(Math.max(0, t0 + k * 1000 - nowMs()));
        if (nowMs() > end - 200) break;
        const s = sent;
        const v = await total();
        timeline.push(v - prev - (s - prevSent));
        prev = v; prevSent = s;
      }
      await sleep(Math.max(0, end - nowMs()));
      const sentT1 = sent;
      const T1 = await total();
      const t1 = nowMs();
      const cpu1 = procCpuSec(pid);
      const sentC1 = sent;
      const C1 = await commandstats();
      const secs = (t1 - t0) / 1000;
      const perCommand = {};
      for (const [k, v] of Object.entries(C1)) {
        let d = v - (C0[k] || 0);
        if (k === "info") d -= sentC1 - sentC0; // the admin connection's INFOs
        if (d > 0) perCommand[k] = d / secs;
      }
      const commands = T1 - T0 - (sentT1 - sentT0);
      return {
        seconds: secs,
        commandsPerSec: commands / secs,
        commands,
        perCommandPerSec: Object.fromEntries(Object.entries(perCommand).sort((a, b) => b[1] - a[1])),
        timelinePerSec: timeline,
        redisCpuPct: ((cpu1 - cpu0) / secs) * 100,
        scripts: (perCommand.evalsha || 0) + (perCommand.eval || 0) + (perCommand.fcall || 0) > 0,
      };
    },

    async split(seconds) {
      const counts = { client: {}, script: {} };
      const sock = net.connect(port, "127.0.0.1");
      await new Promise((r, j) => { sock.once("connect", r); sock.once("error", j); });
      let buf = "", started = false, t0 = 0;
      let resolveOk;
      const ok = new Promise((r) => { resolveOk = r; });
      sock.setEncoding("latin1");
      sock.on("data", (d) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf("\r\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          if (!started) { if (line === "+OK") { started = true; t0 = nowMs(); resolveOk(); } continue; }
          const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line);
          if (!m || m[1] === addr) continue;
          const bucket = m[1] === "lua" ? counts.script : counts.client;
          const name = m[2].toLowerCase();
          bucket[name] = (bucket[name] || 0) + 1;
        }
      });
      sock.write("MONITOR\r\n");
      await ok;
      await sleep(seconds * 1000);
      const secs = (nowMs() - t0) / 1000;
      sock.destroy();
      const rate = (o) => Object.fromEntries(Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / secs]));
      const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0) / secs;
      return {
        seconds: secs,
        clientPerSec: sum(counts.client), scriptPerSec: sum(counts.script),
        clientPerCommand: rate(counts.client), scriptPerCommand: rate(counts.script),
      };
    },

    close: () => admin.quit(),
  };
}
