"use strict";
// Start `npm run start:fleet` (examples/fleet/fleet.mjs) on free ports: its own redis-server,
// two example instances and the round-robin proxy. Resolves once it printed "[fleet] ready".
const { spawn } = require("node:child_process");
const path = require("node:path");
const { freePort, findRedisServer, redisSkipAllowed } = require("./redis-server");
const { ROOT } = require("./impls");

const FLEET = path.join(ROOT, "examples", "fleet", "fleet.mjs");

/** describe() when a redis-server binary is on PATH; otherwise failing, or skipped on request (MCP_TEST_SKIP_REDIS=1). */
function describeWithRedisServer(name, fn) {
  if (findRedisServer()) return describe(name, fn);
  const why = "no redis-server on PATH (the fleet starts its own)";
  if (!redisSkipAllowed()) {
    return describe(name, () => test(`redis-server required (MCP_TEST_SKIP_REDIS=1 skips): ${why}`, () => {
      throw new Error(why);
    }));
  }
  return describe.skip(`${name} [SKIPPED: ${why}]`, fn);
}

function killGroup(proc) {
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {}
}

async function startFleet({ readyTimeoutMs = 60_000 } = {}) {
  const port = await freePort();
  const instancePorts = [await freePort(), await freePort()];
  const env = { ...process.env, PORT: String(port), INSTANCE_PORTS: instancePorts.join(","), MCP_USE_ANONYMIZED_TELEMETRY: "false" };
  delete env.REDIS_URL; // the fleet starts its own Redis, as `npm run start:fleet` does
  delete env.NODE_ENV; // as from a shell: the example defaults it to production
  // Its own process group, so that kill() can take its children down with it if it hangs.
  const proc = spawn(process.execPath, [FLEET], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  const exited = new Promise((r) => proc.on("exit", (code, signal) => r({ code, signal })));
  const whenReady = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fleet not ready within ${readyTimeoutMs} ms:\n${out}`)), readyTimeoutMs);
    const onData = (d) => {
      out += d;
      const m = /\[fleet\] ready: (\S+), .*Redis redis:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1].replace(/,$/, ""), redisPort: Number(m[2]) });
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`fleet exited (code ${code}, signal ${signal}) before ready:\n${out}`));
    });
  });
  let ready;
  try {
    ready = await whenReady;
  } catch (e) {
    killGroup(proc);
    throw e;
  }
  const { url, redisPort } = ready;
  return {
    proc,
    port,
    instancePorts,
    url,
    redisPort,
    exited,
    output: () => out,
    async stop(signal = "SIGINT") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    /** Last resort (afterAll): SIGKILL the fleet's whole process group. */
    kill: () => killGroup(proc),
  };
}

module.exports = { startFleet, describeWithRedisServer, FLEET };
