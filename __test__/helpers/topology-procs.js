"use strict";
// Processes of the topology harness (helpers/topology.js): redis-server nodes and sentinels on
// free loopback ports, redis-cli commands against them, and records next to the jest state
// file so the global teardown kills what a crashed suite left behind.
//
// Only ever talks to 127.0.0.1:<a port this harness chose>.

const { spawn, spawnSync, execFile } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const rs = require("./redis-server");

const HOST = "127.0.0.1";

function findRedisCli() {
  // REDIS_CLI_BIN=/path overrides PATH lookup; REDIS_CLI_BIN=none simulates its absence.
  if (process.env.REDIS_CLI_BIN === "none") return null;
  if (process.env.REDIS_CLI_BIN) return process.env.REDIS_CLI_BIN;
  const r = spawnSync("sh", ["-c", "command -v redis-cli"], { encoding: "utf8" });
  const p = (r.stdout || "").trim();
  return r.status === 0 && p ? p : null;
}

/** Why the topology harness cannot run here, or null when it can. */
function missingBinaries() {
  const missing = [];
  if (!rs.findRedisServer()) missing.push("redis-server");
  if (!findRedisCli()) missing.push("redis-cli");
  return missing.length ? `needs ${missing.join(" and ")} on PATH` : null;
}

/**
 * `redis-cli -h 127.0.0.1 -p port --raw args...`: its stdout, trimmed. Rejects with the
 * command, the port and what redis-cli said when it fails or prints an error reply.
 */
function cli(port, args, { timeoutMs = 5000 } = {}) {
  const bin = findRedisCli();
  return new Promise((resolve, reject) => {
    execFile(bin, ["-h", HOST, "-p", String(port), "--raw", ...args.map(String)], { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      const out = (stdout || "").trim();
      if (err || /^(ERR|NOAUTH|WRONGTYPE|CLUSTERDOWN|MOVED|ASK|Could not connect)/.test(out)) {
        reject(new Error(`redis-cli -p ${port} ${args.join(" ")} failed: ${out || stderr || (err && err.message)}`));
      } else {
        resolve(out);
      }
    });
  });
}

/** `redis-cli` with arbitrary arguments (e.g. `--cluster create`), resolving to stdout. */
function cliRaw(args, { timeoutMs = 30_000 } = {}) {
  const bin = findRedisCli();
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(" ")} failed: ${stdout}${stderr}${err.message}`));
      else resolve(stdout);
    });
  });
}

/** `key:value` lines of an INFO-like reply as an object. */
function infoFields(text) {
  const fields = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return fields;
}

/** A group of processes sharing one temp dir; `stop()` kills them all and removes the dir. */
class Group {
  constructor(tag) {
    this.bin = rs.findRedisServer();
    if (!this.bin) throw new Error("the topology harness needs redis-server on PATH");
    if (!findRedisCli()) throw new Error("the topology harness needs redis-cli on PATH");
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `mcp-sessions-${tag}-`));
    this.procs = new Map(); // port -> { pid, exited, record }
  }

  /** The record file the global teardown reads (see redis-server.js dedicatedRecordFiles). */
  recordFile(port) {
    const base = process.env[rs.STATE_ENV];
    return base ? `${base}.dedicated-${process.pid}-${port}` : null;
  }

  /**
   * Spawns `redis-server ...args(port)` on a free port, retrying on a port race, and waits
   * until it answers PING. `args` gets the port (and may ask for more ports via `freePort`).
   * Returns the port.
   */
  async spawn(args) {
    let lastErr;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await rs.freePort();
      const argv = await args(port);
      const log = fs.openSync(path.join(this.dir, `redis-${port}.log`), "a");
      const child = spawn(this.bin, argv, { detached: true, stdio: ["ignore", log, log], cwd: this.dir });
      fs.closeSync(log);
      const proc = { pid: child.pid, exited: false, record: this.recordFile(port) };
      child.on("exit", () => {
        proc.exited = true;
      });
      child.unref();
      if (proc.record) fs.writeFileSync(proc.record, JSON.stringify({ pid: child.pid, port, dir: this.dir, private: true }));
      this.procs.set(port, proc);
      try {
        await rs.waitFor(async () => {
          if (proc.exited) throw new Error(`redis-server on port ${port} exited during startup (logs in ${this.dir})`);
          return rs.ping(port);
        }, 10_000, `redis-server PING on port ${port}`);
        return port;
      } catch (e) {
        lastErr = e;
        this.kill(port);
      }
    }
    throw lastErr;
  }

  /** SIGKILLs the process on `port` and waits until the port refuses. */
  async killAndWait(port) {
    this.kill(port);
    await rs.waitFor(async () => !(await rs.ping(port, 200)), 10_000, `port ${port} to refuse after SIGKILL`);
  }

  /** SIGSTOP (`paused`) or SIGCONT the process on `port`: a node that hangs, not one that dies. */
  signal(port, paused) {
    const proc = this.procs.get(port);
    if (!proc || proc.exited) throw new Error(`no running node on port ${port}`);
    process.kill(proc.pid, paused ? "SIGSTOP" : "SIGCONT");
  }

  kill(port) {
    const proc = this.procs.get(port);
    if (!proc) return;
    if (!proc.exited && rs.isAlive(proc.pid)) {
      try {
        process.kill(proc.pid, "SIGKILL");
      } catch {}
    }
    if (proc.record) fs.rmSync(proc.record, { force: true });
    this.procs.delete(port);
  }

  /** Kills every process of the group and removes its temp dir. */
  async stop() {
    const ports = [...this.procs.keys()];
    for (const port of ports) this.kill(port);
    await Promise.all(ports.map((port) => rs.waitFor(async () => !(await rs.ping(port, 200)), 10_000, `port ${port} to refuse`).catch(() => {})));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { HOST, Group, cli, cliRaw, infoFields, findRedisCli, missingBinaries };
