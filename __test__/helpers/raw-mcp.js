"use strict";
// A minimal Streamable HTTP client on node:http, for tests that need what the SDK client
// hides: which instance each request goes to, and GET streams opened and dropped at will.
// Every request has its own socket (agent: false), so dropping a stream closes its TCP
// connection as a proxy timeout or a network blip would.
const http = require("node:http");

const PROTOCOL_VERSION = "2025-06-18";

function headersFor(session, extra = {}) {
  const h = { accept: "application/json, text/event-stream", ...extra };
  if (session) {
    h["mcp-session-id"] = session.sid;
    h["mcp-protocol-version"] = session.protocolVersion;
  }
  return h;
}

/** The JSON-RPC messages in SSE text (events without JSON data, e.g. priming, are skipped). */
function sseMessages(text) {
  const out = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart())
      .join("\n");
    if (!data) continue;
    try {
      out.push(JSON.parse(data));
    } catch {
      // not JSON: not a message
    }
  }
  return out;
}

/** POSTs one JSON-RPC message; resolves with the status, headers and every message of the body. */
function post(port, session, message) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(message);
    const req = http.request(
      {
        host: "localhost",
        port,
        method: "POST",
        path: "/mcp",
        agent: false,
        headers: headersFor(session, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }),
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          const json = /application\/json/.test(res.headers["content-type"] || "");
          let messages;
          try {
            messages = json ? [JSON.parse(text)].flat() : sseMessages(text);
          } catch {
            messages = [];
          }
          resolve({ status: res.statusCode, headers: res.headers, text, messages });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** initialize + notifications/initialized on the instance at `port`; resolves with the session. */
async function initialize(port) {
  const init = await post(port, null, {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw-mcp", version: "1.0.0" } },
  });
  if (init.status !== 200) throw new Error(`initialize on :${port} answered ${init.status}: ${init.text}`);
  const sid = init.headers["mcp-session-id"];
  const result = init.messages.find((m) => m.id === 1);
  if (!sid || !result || !result.result) throw new Error(`initialize on :${port} gave no session: ${init.text}`);
  const session = { sid, protocolVersion: result.result.protocolVersion, nextId: 2 };
  const ack = await post(port, session, { jsonrpc: "2.0", method: "notifications/initialized" });
  if (ack.status !== 202) throw new Error(`notifications/initialized on :${port} answered ${ack.status}: ${ack.text}`);
  return session;
}

/** tools/call on the instance at `port`; resolves with the tool's JSON text result. */
async function callTool(port, session, name, args) {
  const id = session.nextId++;
  const r = await post(port, session, { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });
  const reply = r.messages.find((m) => m.id === id);
  if (r.status !== 200 || !reply || reply.error || reply.result.isError) throw new Error(`tools/call ${name} on :${port} failed (${r.status}): ${r.text}`);
  return JSON.parse(reply.result.content[0].text);
}

/**
 * Opens the session's GET SSE stream on the instance at `port`. Resolves once the response
 * headers arrive with { status, messages, ended, text, drop(), waitFor(pred, ms) }.
 */
function openStream(port, session) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "localhost", port, method: "GET", path: "/mcp", agent: false, headers: headersFor(session, { accept: "text/event-stream" }) });
    req.on("response", (res) => {
      const stream = {
        status: res.statusCode,
        text: "",
        ended: false,
        get messages() {
          return sseMessages(stream.text);
        },
        /** Drops the connection without DELETE, as a proxy timeout or network blip does. */
        drop() {
          req.destroy();
        },
        async waitFor(pred, ms, what) {
          const deadline = Date.now() + ms;
          while (!pred(stream.messages)) {
            if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} on the GET stream of :${port}; it ${stream.ended ? "ended" : "is open"} and holds: ${stream.text}`);
            await new Promise((r) => setTimeout(r, 25));
          }
        },
      };
      res.setEncoding("utf8");
      res.on("data", (d) => (stream.text += d));
      res.on("end", () => (stream.ended = true));
      res.on("close", () => (stream.ended = true));
      res.on("error", () => {});
      resolve(stream);
    });
    req.on("error", (e) => (e.code === "ECONNRESET" ? undefined : reject(e)));
    req.end();
  });
}

module.exports = { initialize, post, callTool, openStream, sseMessages, PROTOCOL_VERSION };
