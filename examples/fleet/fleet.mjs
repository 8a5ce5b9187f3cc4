// `npm run start:fleet`: a fleet on one command, without Docker. It starts
//   - a private redis-server on a free loopback port (nothing saved; or REDIS_URL's server),
//   - two instances of examples/server.mjs on RedisSessionStore + RedisStreamManager,
//   - a round-robin proxy in front of them (examples/fleet/proxy.mjs), no stickiness, once
//     every instance's /readyz answers 200 (compose.yaml's healthchecks ask the same),
// and prints the one URL to connect to. Ctrl-C stops all of it. compose.yaml is the same
// fleet for `docker compose up` (nginx instead of the Node proxy); __test__/compose.test.js
// keeps the two in step through LAYOUT below.
//
//   PORT=3000              the proxy's port; the instances take the next ones (3001, 3002)
//   INSTANCE_PORTS=a,b     the instances' ports instead
//   REDIS_URL=redis://...  use that Redis instead of starting one
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { roundRobinProxy } from "./proxy.mjs";

/** What the fleet is made of; compose.yaml must say the same (checked by __test__/compose.test.js). */
export const LAYOUT = {
  instances: ["a", "b"],
  publicPort: 3000,
  command: ["node", "examples/server.mjs"],
  redis: ["redis-server", "--save", "", "--appendonly", "no"],
  /** An instance serves once this answers 200 (503 with the reason until then). */
  readiness: "/readyz",
};

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function say(line) {
  console.log(`[fleet] ${line}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    sock.setTimeout(500, () => sock.destroy());
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d;
      if (buf.includes("\r\n")) sock.destroy();
    });
    sock.on("close", () => resolve(buf.startsWith("+PONG")));
    sock.on("error", () => {});
  });
}

/** Prefix each line of a child's output, so the instances can be told apart. */
function relay(stream, prefix, onLine) {
  let rest = "";
  stream.on("data", (d) => {
    const lines = (rest + d).split("\n");
    rest = lines.pop();
    for (const line of lines) {
      process.stdout.write(`${prefix}${line}\n`);
      onLine?.(line);
    }
  });
}

async function startRedis(children, cleanups) {
  const bin = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).stdout.trim();
  if (!bin) {
    throw new Error(
      "redis-server is not on PATH: install it (apt-get install redis-server, brew install redis), or set REDIS_URL",
    );
  }
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-fleet-redis-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [, ...args] = LAYOUT.redis;
  const proc = spawn(bin, [...args, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push({ name: "redis", proc });
  relay(proc.stderr, "[redis] ");
  for (let i = 0; i < 100 && proc.exitCode === null; i++) {
    if (await ping(port)) return `redis://127.0.0.1:${port}`;
    await sleep(50);
  }
  throw new Error(`redis-server did not answer on port ${port}`);
}

function startInstance(name, port, redisUrl, children) {
  const [cmd, ...args] = LAYOUT.command;
  const proc = spawn(cmd === "node" ? process.execPath : cmd, args, {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl, PORT: String(port), INSTANCE: name },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const child = { name, proc, port };
  children.push(child);
  return new Promise((resolve, reject) => {
    const onLine = (line) => {
      if (/example listening on /.test(line)) resolve(child);
    };
    relay(proc.stdout, `[${name}] `, onLine);
    relay(proc.stderr, `[${name}] `, onLine);
    proc.on("exit", (code) => reject(new Error(`instance ${name} exited (code ${code}) before it listened`)));
  });
}

/** Resolves once the instance's readiness endpoint answers 200; throws its last answer after `ms`. */
async function ready(child, ms = 30_000) {
  const url = `http://localhost:${child.port}${LAYOUT.readiness}`;
  const deadline = Date.now() + ms;
  let last = "no answer";
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
      last = `${res.status} ${(await res.json()).reason ?? ""}`;
    } catch (e) {
      last = e.cause?.message ?? e.message;
    }
    if (Date.now() > deadline) throw new Error(`instance ${child.name} not ready within ${ms} ms (${LAYOUT.readiness}: ${last})`);
    await sleep(100);
  }
}

export async function main() {
  const publicPort = Number(process.env.PORT || LAYOUT.publicPort);
  const ports = process.env.INSTANCE_PORTS
    ? process.env.INSTANCE_PORTS.split(",").map(Number)
    : LAYOUT.instances.map((_, i) => publicPort + 1 + i);
  const children = [];
  const cleanups = [];
  let proxy;
  let stopping = false;

  async function stop(code) {
    if (stopping) return;
    stopping = true;
    proxy?.closeAllConnections();
    proxy?.close();
    // Instances first (they flush and close their Redis connections), then Redis.
    for (const group of [children.filter((c) => c.name !== "redis"), children.filter((c) => c.name === "redis")]) {
      await Promise.all(
        group.map(
          ({ proc }) =>
            new Promise((resolve) => {
              if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
              const force = setTimeout(() => proc.kill("SIGKILL"), 5000);
              proc.on("exit", () => {
                clearTimeout(force);
                resolve();
              });
              proc.kill("SIGTERM");
            }),
        ),
      );
    }
    for (const f of cleanups) f();
    say("stopped");
    process.exit(code);
  }
  process.on("SIGINT", () => stop(0));
  process.on("SIGTERM", () => stop(0));

  try {
    const redisUrl = process.env.REDIS_URL || (await startRedis(children, cleanups));
    const instances = await Promise.all(LAYOUT.instances.map((name, i) => startInstance(name, ports[i], redisUrl, children)));
    await Promise.all(instances.map((c) => ready(c)));
    for (const c of children) {
      c.proc.on("exit", (code, signal) => {
        if (stopping) return;
        say(`${c.name} exited (${signal || `code ${code}`}); stopping the fleet`);
        stop(1);
      });
    }
    proxy = roundRobinProxy(instances.map((c) => ({ host: "localhost", port: c.port })));
    await new Promise((resolve, reject) => {
      proxy.once("error", reject);
      proxy.listen(publicPort, "localhost", resolve);
    });
    const where = process.env.REDIS_URL ? "REDIS_URL" : "private, nothing saved";
    say(
      `ready: http://localhost:${publicPort}/mcp, round robin over ${instances.map((c) => `${c.name} (:${c.port})`).join(", ")}; ` +
        `Redis ${redisUrl} (${where}). Ctrl-C stops it all.`,
    );
  } catch (e) {
    say(e.code === "EADDRINUSE" ? `port ${publicPort} is in use; set PORT to another port` : e.message);
    await stop(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
