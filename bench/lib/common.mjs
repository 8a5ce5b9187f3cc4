// Shared helpers of the benchmark suite: implementations, data, statistics.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const require = createRequire(import.meta.url);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The five classes of one implementation: "ref" (mcp-use@1.34.6) or "addon" (this project). */
export async function loadImpl(impl) {
  if (impl === "ref") {
    // mcp-use logs on every stream create/delete and every TTL expiry; silence console.log/debug
    // so the table stays readable. This removes the reference's logging cost (it favours the
    // reference, never the addon).
    console.log = () => {};
    console.debug = () => {};
    return await import("mcp-use/server");
  }
  if (impl === "addon") return require(ROOT);
  throw new Error(`unknown impl ${impl}`);
}

/** A session id shaped like crypto.randomUUID(), derived from i (36 chars, no array needed). */
export function sid(i, tag = 0) {
  return `${(tag >>> 0).toString(16).padStart(8, "0")}-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
}

/** Session metadata as MCPServer keeps it (about 190 bytes of JSON). */
export function meta(i, now = Date.now()) {
  return {
    lastAccessedAt: now - (i % 1000),
    logLevel: "info",
    clientCapabilities: { roots: { listChanged: true }, sampling: {}, elicitation: {} },
    clientInfo: { name: "bench-client", version: `1.${i % 10}.0` },
    protocolVersion: "2025-06-18",
  };
}

export const SSE = `event: message\ndata: ${JSON.stringify({
  jsonrpc: "2.0",
  method: "notifications/message",
  params: { level: "info", logger: "bench", data: "x".repeat(120) },
})}\n\n`;

export function percentile(values, p) {
  if (!values.length) return NaN;
  const s = Float64Array.from(values).sort();
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx];
}
export const median = (v) => percentile(v, 50);

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const immediate = () => new Promise((r) => setImmediate(r));

export function gcFull() {
  if (typeof global.gc !== "function") throw new Error("run with --expose-gc");
  for (let i = 0; i < 3; i++) global.gc();
}

/** A stand-in for a ReadableStreamDefaultController: counts enqueues. */
export function countingController(onEnqueue) {
  return { desiredSize: 1, enqueue(chunk) { onEnqueue(chunk); }, close() {}, error() {} };
}
