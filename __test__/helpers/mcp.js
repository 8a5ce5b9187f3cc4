"use strict";
// Helpers for end-to-end tests with a real MCPServer in a child process and the official
// SDK client.
const { spawn } = require("node:child_process");
const path = require("node:path");
const { freePort } = require("./redis-server");
const { nodeRequire } = require("./impls");

const FIXTURES = path.join(__dirname, "..", "fixtures");

/**
 * Start a server script (a file name under fixtures/ or an absolute path); resolves once its
 * output matches `ready`. Default: mcp-use's "[SERVER] Listening on http://..." line, which
 * it prints from the HTTP server's listening callback (MCPServer.listen() resolves BEFORE the
 * socket is bound, so a line printed after `await listen()` is too early).
 */
function startServer(script, { port, env = {}, readyTimeoutMs = 30_000, ready = /\[SERVER\] Listening on http:\/\// } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [path.isAbsolute(script) ? script : path.join(FIXTURES, script)], {
      cwd: env.CWD || path.join(__dirname, ".."),
      env: {
        ...process.env,
        NODE_ENV: "production",
        MCP_USE_ANONYMIZED_TELEMETRY: "false",
        PORT: String(port),
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let isReady = false;
    const onData = (d) => {
      out += d;
      if (!isReady && ready.test(out)) {
        isReady = true;
        clearTimeout(timer);
        resolve(handle);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    const exited = new Promise((r) => proc.on("exit", (code, signal) => r({ code, signal })));
    const handle = {
      proc,
      port,
      url: `http://localhost:${port}/mcp`,
      output: () => out,
      exited,
      async kill(signal = "SIGKILL") {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
        return exited;
      },
    };
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`server ${script} not ready within ${readyTimeoutMs} ms. Output:\n${out}`));
    }, readyTimeoutMs);
    exited.then(({ code, signal }) => {
      if (!isReady) {
        clearTimeout(timer);
        reject(new Error(`server ${script} exited (code ${code}, signal ${signal}) before ready. Output:\n${out}`));
      }
    });
  });
}

function sdk() {
  const { Client } = nodeRequire("@modelcontextprotocol/sdk/client/index.js");
  const { StreamableHTTPClientTransport } = nodeRequire("@modelcontextprotocol/sdk/client/streamableHttp.js");
  return { Client, StreamableHTTPClientTransport };
}

/** Parse the JSON text content of a tool result created with text(JSON.stringify(...)). */
function toolJson(result) {
  if (result.isError) throw new Error(`tool returned an error: ${JSON.stringify(result.content)}`);
  return JSON.parse(result.content[0].text);
}

/** Retry once on a transport-level "fetch failed" (stale keep-alive socket after a restart). */
async function withOneRetry(fn) {
  try {
    return await fn();
  } catch (e) {
    const msg = `${e && e.message} ${e && e.cause && e.cause.message}`;
    if (!/fetch failed|ECONNRESET|socket hang up|other side closed/i.test(msg)) throw e;
    return fn();
  }
}

async function waitFor(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await pred();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

module.exports = { startServer, sdk, toolJson, withOneRetry, waitFor, freePort, FIXTURES };
