// A minimal Streamable HTTP client on node:http for bench/fleet.mjs's MCPServer mode: opens
// many sessions (initialize + notifications/initialized over a keep-alive agent) and holds one
// GET SSE stream per session on its own socket, draining whatever arrives.
import http from "node:http";

const PROTOCOL_VERSION = "2025-06-18";
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function headersFor(session, extra = {}) {
  const h = { accept: "application/json, text/event-stream", ...extra };
  if (session) { h["mcp-session-id"] = session.sid; h["mcp-protocol-version"] = session.protocolVersion; }
  return h;
}

function post(port, session, message) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(message);
    const req = http.request({
      host: "localhost", port, method: "POST", path: "/mcp", agent,
      headers: headersFor(session, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The first JSON-RPC message with `id` in a JSON or SSE body. */
function findReply(text, id) {
  const tryParse = (s) => { try { return JSON.parse(s); } catch { return null; } };
  const whole = tryParse(text);
  if (whole) return [whole].flat().find((m) => m.id === id) ?? null;
  for (const line of text.split(/\r?\n/)) {
    if (!line.startsWith("data:")) continue;
    const m = tryParse(line.slice(5).trimStart());
    if (m && m.id === id) return m;
  }
  return null;
}

export async function openSession(port) {
  const init = await post(port, null, {
    jsonrpc: "2.0", id: 1, method: "initialize",
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "fleet-bench", version: "1.0.0" } },
  });
  const sid = init.headers["mcp-session-id"];
  const reply = findReply(init.text, 1);
  if (init.status !== 200 || !sid || !reply?.result) throw new Error(`initialize answered ${init.status}: ${init.text.slice(0, 300)}`);
  const session = { sid, protocolVersion: reply.result.protocolVersion };
  const ack = await post(port, session, { jsonrpc: "2.0", method: "notifications/initialized" });
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}: ${ack.text.slice(0, 300)}`);
  return session;
}

/** Opens the session's GET stream on its own socket; resolves with { close(), bytes } once headers arrive. */
export function openStream(port, session) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "localhost", port, method: "GET", path: "/mcp", agent: false, headers: headersFor(session, { accept: "text/event-stream" }) });
    req.on("response", (res) => {
      if (res.statusCode !== 200) { reject(new Error(`GET stream answered ${res.statusCode}`)); req.destroy(); return; }
      const stream = { bytes: 0, ended: false, close: () => req.destroy() };
      res.on("data", (d) => { stream.bytes += d.length; });
      res.on("close", () => { stream.ended = true; });
      res.on("error", () => {});
      resolve(stream);
    });
    req.on("error", (e) => (e.code === "ECONNRESET" ? undefined : reject(e)));
    req.end();
  });
}

/** Opens `n` sessions with a GET stream each, `concurrency` at a time. */
export async function openFleet(port, n, concurrency = 32) {
  const streams = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const s = await openSession(port);
      streams.push(await openStream(port, s));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return streams;
}

export function closeAgent() { agent.destroy(); }
