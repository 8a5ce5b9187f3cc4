// A private redis-server for the benchmark (never the one on 6379), and node-redis helpers.
import { spawn } from "node:child_process";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient } from "redis";

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function ping(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let buf = "";
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => { buf += d; if (buf.includes("\r\n")) done(buf.startsWith("+PONG")); });
    s.on("error", () => done(false));
    setTimeout(() => done(false), 500);
  });
}

/** Spawns redis-server on `port` with `dir` and `args`; resolves with the child once it answers PING. */
async function spawnOn(port, dir, args, onSpawn) {
  const child = spawn("redis-server", [
    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
    "--dir", dir, "--maxclients", "10000", "--protected-mode", "yes", ...args,
  ], { stdio: "ignore" });
  onSpawn?.(child); // so that a stop() during the wait below ends this one too
  let exited = false;
  child.on("exit", () => { exited = true; });
  const deadline = Date.now() + 10_000;
  while (!exited && Date.now() < deadline) {
    if (await ping(port)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  return null;
}

const gone = (child, ms) => child.exitCode !== null || child.signalCode !== null
  ? Promise.resolve()
  : Promise.race([new Promise((r) => child.once("exit", r)), new Promise((r) => setTimeout(r, ms))]);

/**
 * Starts `redis-server` on a free loopback port in its own temp dir; returns
 * { port, url, pid, dir, stop(), kill(signal), restart() }. `args` are appended to the
 * defaults (nothing saved, no AOF), so `["--appendonly", "yes"]` turns the AOF on.
 * kill() stops the process without removing its dir; restart() starts it again on the same
 * port and dir (its AOF, if any); stop() ends it and removes the dir.
 */
export async function startRedis({ args = [] } = {}) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    if (port === 6379) continue;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-bench-redis-"));
    let child = await spawnOn(port, dir, args);
    let stopped = false;
    if (!child) {
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const handle = {
      port, dir, url: `redis://127.0.0.1:${port}`, pid: child.pid,
      async kill(signal = "SIGKILL") {
        const c = child;
        if (c.exitCode === null && c.signalCode === null) c.kill(signal);
        await gone(c, 10_000);
      },
      async restart() {
        // The port can stay busy for a moment after a kill: try again for a few seconds.
        for (let i = 0; i < 40 && !stopped; i++) {
          const c = await spawnOn(port, dir, args, (spawned) => { child = spawned; });
          if (c) { handle.pid = c.pid; return; }
          await new Promise((r) => setTimeout(r, 250));
        }
        throw new Error(`redis-server did not start again on port ${port}`);
      },
      async stop() {
        stopped = true;
        const c = child;
        if (c.exitCode === null && c.signalCode === null) {
          c.kill("SIGTERM");
          await gone(c, 3000);
          if (c.exitCode === null && c.signalCode === null) { c.kill("SIGKILL"); await gone(c, 3000); }
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
    return handle;
  }
  throw new Error("could not start redis-server");
}

/** A connected node-redis client (RESP2, node-redis 5 defaults), as mcp-use users pass. */
export async function nodeRedis(url) {
  const c = createClient({ url });
  c.on("error", (e) => process.stderr.write(`node-redis error: ${e.message}\n`));
  await c.connect();
  return c;
}

export async function redisInfoVersion(url) {
  const c = await nodeRedis(url);
  const info = await c.info("server");
  await c.quit();
  return /redis_version:(\S+)/.exec(info)?.[1];
}
