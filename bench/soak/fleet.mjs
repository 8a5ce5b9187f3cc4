// The soak's fleet: one redis-server with an AOF, three MCPServer instances
// (bench/soak/server-app.mjs) and the round-robin proxy (bench/soak/proxy.mjs), each in its
// own process, everything on loopback and in one temp dir. The chaos acts through this file:
// SIGKILL an instance and start it again on its port, SIGKILL Redis and start it again on its
// AOF (same port, same dir), cut GET streams at the proxy.
//
// Cleanup: every child is SIGKILLed and the temp dir removed by stop(), which soak.mjs calls
// on success, on failure, on Ctrl-C / SIGTERM and on an uncaught error.
import { fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis, freePort } from "../lib/redis.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const NAMES = ["a", "b", "c"];

/** Resolves with `value` once `pred(line)` matches a line of the child's output, rejects if it exits first. */
function waitForLine(child, pred, what, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (d) => {
      buf = (buf + d).slice(-4096);
      if (pred(buf)) done(resolve);
    };
    const onExit = (code, signal) => done(() => reject(new Error(`${what} exited (${signal || code}) before it was ready:\n${buf}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`${what} not ready within ${timeoutMs} ms:\n${buf}`))), timeoutMs);
    function done(f) {
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.stderr.off("data", onData);
      child.off("exit", onExit);
      f();
    }
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", onExit);
  });
}

export async function startFleet({ impl, heartbeat = 2, sampleTimeoutMs = 30_000 }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mcp-soak-${impl}-`));
  const children = new Set();
  const fleet = { dir, impl, instances: {}, kills: [] };
  let redis;
  let proxy;

  let stopped = false;
  async function stop({ keep = false } = {}) {
    stopped = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await redis?.stop().catch(() => {});
    // SOAK_KEEP=1 keeps the journals, the proxy log and the instances' output for a post-mortem.
    // A failed run keeps them too, so that CI's failure can be read afterwards.
    if (keep || process.env.SOAK_KEEP === "1") process.stderr.write(`soak: kept ${dir} (journals, proxy log, instances' output)\n`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
  fleet.stop = stop;

  try {
    redis = await startRedis({ args: ["--appendonly", "yes", "--appendfsync", "everysec"] });
    fleet.redis = redis;
    fleet.redisUrl = redis.url;

    const ports = await Promise.all(NAMES.map(() => freePort()));
    const logOut = fs.openSync(path.join(dir, "instances.log"), "a");

    async function startInstance(name) {
      if (stopped) throw new Error("the fleet is stopped");
      const port = ports[NAMES.indexOf(name)];
      const child = fork(path.join(HERE, "server-app.mjs"), [], {
        execArgv: ["--expose-gc"],
        env: {
          ...process.env, NODE_ENV: "production", MCP_USE_ANONYMIZED_TELEMETRY: "false", IMPL: impl, NAME: name, PORT: String(port),
          REDIS_URL: redis.url, JOURNAL: path.join(dir, `journal-${name}.jsonl`), HEARTBEAT: String(heartbeat),
          SAMPLE_TIMEOUT_MS: String(sampleTimeoutMs),
        },
        stdio: ["ignore", "pipe", "pipe", "ipc"],
      });
      children.add(child);
      child.on("exit", () => children.delete(child));
      // mcp-use logs a line per request: keep it in the temp dir, not on the soak's output.
      for (const s of [child.stdout, child.stderr]) s.on("data", (d) => fs.writeSync(logOut, d));
      // listen() resolves before the socket is bound; this line comes from the listening callback.
      await waitForLine(child, (b) => /\[SERVER\] Listening on http:\/\//.test(b), `instance ${name}`);
      fleet.instances[name] = { name, port, child, pid: child.pid, startedAt: Date.now() };
      return fleet.instances[name];
    }

    await Promise.all(NAMES.map(startInstance));

    proxy = fork(path.join(HERE, "proxy.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.add(proxy);
    const listening = new Promise((r) => proxy.once("message", r));
    proxy.send({ op: "start", ports, log: path.join(dir, "proxy.jsonl") });
    fleet.url = `http://localhost:${(await listening).port}/mcp`;

    fleet.killInstance = async (name) => {
      const { child } = fleet.instances[name];
      const gone = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", r)));
      const sentAt = Date.now();
      child.kill("SIGKILL");
      await gone;
      // sentAt: when the signal went; t: when the process was surely gone (nothing it wrote is later).
      fleet.kills.push({ inst: `${name}#${child.pid}`, sentAt, t: Date.now() });
    };
    fleet.startInstance = startInstance;
    fleet.killRedis = () => redis.kill("SIGKILL");
    fleet.restartRedis = () => redis.restart();
    fleet.cut = (sids) => {
      const answer = new Promise((r) => {
        const on = (m) => {
          if (m.op !== "cut") return;
          proxy.off("message", on);
          r(m.conns);
        };
        proxy.on("message", on);
      });
      proxy.send({ op: "cut", sids });
      return answer;
    };
    /** Memory of every running instance (after gc() when asked): { name: { rss, heapUsed, ... } }. */
    fleet.memory = async ({ gc = false } = {}) => {
      const out = {};
      await Promise.all(
        Object.values(fleet.instances).map(({ name, child }) => new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null || !child.connected) return resolve();
          const timer = setTimeout(resolve, 10_000);
          const on = (m) => {
            if (m.op !== "mem") return;
            child.off("message", on);
            clearTimeout(timer);
            out[name] = { inst: `${name}#${child.pid}`, rss: m.rss, heapUsed: m.heapUsed, external: m.external, pending: m.pending };
            resolve();
          };
          child.on("message", on);
          child.send({ op: "mem", gc });
        })),
      );
      return out;
    };
    fleet.files = () => ({
      journals: NAMES.map((n) => path.join(dir, `journal-${n}.jsonl`)),
      proxy: path.join(dir, "proxy.jsonl"),
      instancesLog: path.join(dir, "instances.log"),
    });
    return fleet;
  } catch (e) {
    await stop();
    throw e;
  }
}
