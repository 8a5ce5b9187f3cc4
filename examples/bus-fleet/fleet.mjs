// `npm run start:bus-fleet`: a fleet of MCP servers on the 2026-07-28 protocol, on one command,
// without Docker. It starts
//   - a private redis-server on a free loopback port (nothing saved; or REDIS_URL's server),
//   - two instances of examples/bus-fleet/server.mjs (createMcpHandler + RedisServerEventBus),
//   - the round-robin proxy of examples/fleet/proxy.mjs in front of them, no stickiness,
// and prints the one URL to connect to. A client's `subscriptions/listen` stream lands on one
// instance; `POST /notify` on either instance (or the `touch` tool, through the proxy) reaches it.
// Ctrl-C stops all of it.
//
//   PORT=3100              the proxy's port; the instances take the next ones (3101, 3102)
//   INSTANCE_PORTS=a,b     the instances' ports instead
//   REDIS_URL=redis://...  use that Redis instead of starting one
//   BUS=memory             the SDK's InMemoryServerEventBus instead (events stay in their process)
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { roundRobinProxy } from "../fleet/proxy.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const SERVER = path.join(ROOT, "examples", "bus-fleet", "server.mjs");
const INSTANCES = ["a", "b"];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (line) => console.log(`[bus-fleet] ${line}`);

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
  if (!bin) throw new Error("redis-server is not on PATH: install it (apt-get install redis-server, brew install redis), or set REDIS_URL");
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-bus-fleet-redis-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const proc = spawn(bin, ["--save", "", "--appendonly", "no", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir], {
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
  const proc = spawn(process.execPath, [SERVER], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl, PORT: String(port), INSTANCE: name },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const child = { name, proc, port };
  children.push(child);
  return new Promise((resolve, reject) => {
    const onLine = (line) => {
      if (/MCP \(2026-07-28\) on /.test(line)) resolve(child);
    };
    relay(proc.stdout, `[${name}] `, onLine);
    relay(proc.stderr, `[${name}] `, onLine);
    proc.on("exit", (code) => reject(new Error(`instance ${name} exited (code ${code}) before it listened`)));
  });
}

export async function main() {
  const publicPort = Number(process.env.PORT || 3100);
  const ports = process.env.INSTANCE_PORTS ? process.env.INSTANCE_PORTS.split(",").map(Number) : INSTANCES.map((_, i) => publicPort + 1 + i);
  const children = [];
  const cleanups = [];
  let proxy;
  let stopping = false;

  async function stop(code) {
    if (stopping) return;
    stopping = true;
    proxy?.closeAllConnections();
    proxy?.close();
    // Instances first (their buses flush what waits in the outbox), then Redis.
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
    const instances = await Promise.all(INSTANCES.map((name, i) => startInstance(name, ports[i], redisUrl, children)));
    for (const c of children) {
      c.proc.on("exit", (code, signal) => {
        if (stopping) return;
        say(`${c.name} exited (${signal || `code ${code}`}); stopping the fleet`);
        stop(1);
      });
    }
    proxy = roundRobinProxy(instances.map((c) => ({ host: "127.0.0.1", port: c.port })));
    await new Promise((resolve, reject) => {
      proxy.once("error", reject);
      proxy.listen(publicPort, "127.0.0.1", resolve);
    });
    const where = process.env.REDIS_URL ? "REDIS_URL" : "private, nothing saved";
    say(
      `ready: http://127.0.0.1:${publicPort}/mcp, round robin over ${instances.map((c) => `${c.name} (:${c.port})`).join(", ")}; ` +
        `bus ${process.env.BUS === "memory" ? "in-memory (control)" : `Redis ${redisUrl} (${where})`}. ` +
        `POST http://127.0.0.1:${instances[0].port}/notify {"kind":"tools"} publishes on ${instances[0].name}. Ctrl-C stops it all.`,
    );
  } catch (e) {
    say(e.code === "EADDRINUSE" ? `port ${publicPort} is in use; set PORT to another port` : e.message);
    await stop(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
