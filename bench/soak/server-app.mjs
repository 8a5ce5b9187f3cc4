// One instance of the soak's fleet: mcp-use's MCPServer (NODE_ENV=production) on the
// RedisSessionStore + RedisStreamManager of one implementation, with a journal.
//
//   IMPL=native|mcp-use NAME=a PORT=... REDIS_URL=... JOURNAL=/tmp/.../a.jsonl HEARTBEAT=2 \
//     NODE_ENV=production node --expose-gc bench/soak/server-app.mjs      (forked: IPC for memory)
//
// Tools:
//   notify { target, seq }  streamManager.send([target], notifications/message { soak: "n", sid, seq }),
//                           the documented way to reach a session wherever its stream is held
//                           (docs/redis.md); the caller is the soak's sender, not the target
//   sample { nonce }        ctx.sample() to the CALLING session's client (sampling/createMessage),
//                           answers { ok, text } or { ok: false, error }
//
// The journal is what lets the checker tell "in flight on a dying socket" from a real loss. It
// is appended with fs.writeSync, one JSON line per event, so every line written before a
// SIGKILL is on disk (the page cache survives the process). Each controller MCPServer hands to
// streamManager.create is patched in place (its own `enqueue`), so every chunk either the
// stream manager or MCPServer's transport writes to that GET stream is journaled with the
// connection it went to: the proxy puts an `x-soak-conn` header on each request, and an
// AsyncLocalStorage started in a Hono middleware carries it to create().
import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { createClient } from "redis";
import { z } from "zod";

let journalFd;
// Before mcp-use loads: its listen() prints widget/CSP notices in production mode.
// MCPServer rebuilding a session's transport from the store is journaled too: two rebuilds of
// one session racing on one instance leave a tool call on a transport MCPServer no longer routes
// answers to (docs/soak.md, "Found on the way").
const consoleLog = console.log;
console.log = (...args) => {
  if (typeof args[0] === "string" && /^(\[WIDGETS\]|\[CSP\]|widgetsDir$|\[SAMPLING DEBUG\])/.test(args[0])) return;
  const recovering = typeof args[0] === "string" && /transport lost \(restart\/hot-reload\): (\S+) - recovering/.exec(args[0]);
  if (recovering && journalFd !== undefined) journal({ e: "recover", sid: recovering[1] });
  consoleLog(...args);
};
const reference = await import("mcp-use/server");
const require = createRequire(import.meta.url);
const IMPL = process.env.IMPL === "mcp-use" ? "mcp-use" : "native";
const impl = IMPL === "mcp-use" ? reference : require("../../index.js");
const NAME = process.env.NAME || `pid${process.pid}`;
const HEARTBEAT = Number(process.env.HEARTBEAT || 2);
const SAMPLE_TIMEOUT_MS = Number(process.env.SAMPLE_TIMEOUT_MS || 30_000);

const now = () => Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;
journalFd = fs.openSync(process.env.JOURNAL, "a");
const inst = `${NAME}#${process.pid}`;
function journal(event) {
  fs.writeSync(journalFd, `${JSON.stringify({ t: now(), inst, ...event })}\n`);
}

// node-redis clients as an mcp-use application passes them. An unhandled "error" event would
// end the process when Redis is killed, so errors are logged (once per outage).
let redisDown = false;
function redisClient() {
  const c = createClient({ url: process.env.REDIS_URL, socket: { reconnectStrategy: (n) => Math.min(50 * 2 ** n, 1000) } });
  c.on("error", (e) => {
    if (!redisDown) console.error(`[soak ${NAME}] redis: ${e.message}`);
    redisDown = true;
  });
  c.on("ready", () => (redisDown = false));
  return c;
}
const client = redisClient();
const pubSubClient = client.duplicate();
pubSubClient.on("error", () => {});
await client.connect();
await pubSubClient.connect();

const manager = new impl.RedisStreamManager({ client, pubSubClient, heartbeatInterval: HEARTBEAT });
const store = new impl.RedisSessionStore({ client });

/** What a chunk of SSE text carries that the checker needs: soak notifications and sampling requests. */
function describe(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("data:")) continue;
    let m;
    try {
      m = JSON.parse(line.slice(5));
    } catch {
      continue;
    }
    const d = m?.params?.data;
    if (m.method === "notifications/message" && d?.soak) out.push({ kind: d.soak, sid: d.sid, seq: d.seq });
    else if (m.method === "sampling/createMessage") out.push({ kind: "s", id: m.id, nonce: m.params?.messages?.[0]?.content?.text });
  }
  return out;
}

const connOf = new AsyncLocalStorage();
const decoder = new TextDecoder();
let controllers = 0;

/** Journals every enqueue to this GET stream's controller, whoever makes it. */
function instrument(sid, controller) {
  const conn = connOf.getStore() ?? `?${++controllers}`;
  const enqueue = controller.enqueue;
  controller.enqueue = function (chunk) {
    const items = describe(typeof chunk === "string" ? chunk : decoder.decode(chunk));
    try {
      const r = enqueue.call(controller, chunk);
      for (const it of items) journal({ e: "enq", conn, sid, ok: true, ...it });
      return r;
    } catch (err) {
      for (const it of items) journal({ e: "enq", conn, sid, ok: false, ...it });
      throw err;
    }
  };
  journal({ e: "create", conn, sid });
}

// The stream manager MCPServer sees: the real one, with create/send/routing journaled.
const streamManager = {
  async create(sid, controller) {
    instrument(sid, controller);
    return manager.create(sid, controller);
  },
  async send(ids, data) {
    const items = describe(data);
    try {
      await manager.send(ids, data);
      for (const it of items) journal({ e: "send", sid: ids?.[0], ok: true, ...it });
    } catch (err) {
      for (const it of items) journal({ e: "send", sid: ids?.[0], ok: false, err: String(err.message || err), ...it });
      throw err;
    }
  },
  async delete(sid) {
    journal({ e: "delete", sid });
    return manager.delete(sid);
  },
  has: (sid) => manager.has(sid),
  close: () => manager.close(),
  async registerOutboundRequest(id, sid) {
    journal({ e: "route", sid, id });
    return manager.registerOutboundRequest(id, sid);
  },
  async forwardInboundResponse(message, sid) {
    let r;
    try {
      r = await manager.forwardInboundResponse(message, sid);
      return r;
    } catch (err) {
      r = `error: ${err.message || err}`;
      throw err;
    } finally {
      journal({ e: "fwd", sid, id: message.id, r });
    }
  },
  onForwardedResponse(handler) {
    return manager.onForwardedResponse((message, sid) => {
      journal({ e: "fwdin", sid, id: message?.id });
      return handler(message, sid);
    });
  },
};

const server = new reference.MCPServer({ name: `soak-${IMPL}`, version: "1.0.0", sessionStore: store, streamManager });

// The connection id the proxy gave this request, for create(); and, for a GET stream, when
// this process saw its socket close (the end of that stream's life on the server side).
server.app.use("/mcp", async (c, next) => {
  const conn = c.req.header("x-soak-conn");
  if (c.req.method === "GET" && conn) c.env?.outgoing?.once("close", () => journal({ e: "close", conn }));
  return conn ? connOf.run(conn, next) : next();
});

server.tool(
  { name: "notify", description: "notifications/message { soak, sid, seq } to session `target`", schema: z.object({ target: z.string(), seq: z.number().int() }) },
  async ({ target, seq }) => {
    const n = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", logger: "soak", data: { soak: "n", sid: target, seq } } };
    await streamManager.send([target], `event: message\ndata: ${JSON.stringify(n)}\n\n`);
    return reference.text("sent");
  },
);

server.tool(
  { name: "sample", description: "sampling/createMessage to the calling session's client", schema: z.object({ nonce: z.string() }) },
  async ({ nonce }, ctx) => {
    const sid = ctx.session?.sessionId;
    journal({ e: "sample-start", sid, nonce });
    try {
      const r = await ctx.sample({ messages: [{ role: "user", content: { type: "text", text: nonce } }], maxTokens: 16 }, { timeout: SAMPLE_TIMEOUT_MS });
      const text = Array.isArray(r.content) ? r.content[0]?.text : r.content?.text;
      journal({ e: "sample-end", sid, nonce, ok: true, text });
      return reference.text(JSON.stringify({ ok: true, text }));
    } catch (err) {
      journal({ e: "sample-end", sid, nonce, ok: false, err: String(err.message || err) });
      return reference.text(JSON.stringify({ ok: false, error: String(err.message || err) }));
    }
  },
);

// Which server id the stream manager uses (neither implementation exposes it): register a
// route for a throwaway request and read the route back.
await manager.registerOutboundRequest(`whoami-${process.pid}`, "soak-whoami");
const routeKey = `mcp:stream:req-route:soak-whoami:whoami-${process.pid}`;
const serverId = JSON.parse(await client.get(routeKey)).serverId;
await client.del(routeKey);

process.on("message", (m) => {
  if (m.op === "mem") {
    if (m.gc && global.gc) for (let i = 0; i < 3; i++) global.gc();
    const u = process.memoryUsage();
    process.send({ op: "mem", rss: u.rss, heapUsed: u.heapUsed, external: u.external, pending: manager.pendingStats?.() ?? null });
  }
});

await server.listen(Number(process.env.PORT));
journal({ e: "start", pid: process.pid, serverId, impl: IMPL });
