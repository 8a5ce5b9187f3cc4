"use strict";
// Run a node child process and collect its result (exit code, signal, output, timeout).
const { spawn } = require("node:child_process");

/**
 * runNode(code | [args], { cwd, env, timeoutMs, input }) -> Promise<{ code, signal, stdout, stderr, timedOut }>
 * The child is SIGKILLed after timeoutMs (timedOut: true): a behavioural "did it exit by
 * itself" check, not a performance assertion, so keep timeouts generous.
 */
function runNode(codeOrArgs, opts = {}) {
  const args = Array.isArray(codeOrArgs) ? codeOrArgs : ["-e", codeOrArgs];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(opts.execPath || process.execPath, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...(opts.env || {}) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    if (opts.input) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

function describeResult(r) {
  return `exit code ${r.code}, signal ${r.signal}, timedOut ${r.timedOut}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

module.exports = { runNode, describeResult };
