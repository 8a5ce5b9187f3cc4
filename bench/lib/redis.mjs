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

function ping(port) {
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

/** Starts `redis-server` on a free loopback port; returns { port, url, stop() }. */
export async function startRedis() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    if (port === 6379) continue;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-bench-redis-"));
    const child = spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--dir", dir, "--maxclients", "10000", "--protected-mode", "yes",
    ], { stdio: "ignore" });
    let exited = false;
    child.on("exit", () => { exited = true; });
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline) {
      if (await ping(port)) {
        const stop = async () => {
          if (exited) return;
          const gone = new Promise((r) => child.once("exit", r));
          child.kill("SIGTERM");
          await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
          if (!exited) child.kill("SIGKILL");
          fs.rmSync(dir, { recursive: true, force: true });
        };
        return { port, url: `redis://127.0.0.1:${port}`, pid: child.pid, stop };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
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
