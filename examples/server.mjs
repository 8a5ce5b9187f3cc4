// A runnable MCP server (mcp-use's MCPServer) whose session layer is mcp-sessions-native.
//
//   npm start                          FileSystemSessionStore (.mcp-use/sessions.json) + InMemoryStreamManager
//   REDIS_URL=redis://host:6379 npm start   RedisSessionStore + RedisStreamManager: run several behind a
//                                      load balancer (npm run start:fleet, docker compose up)
//   PORT=8080 npm start                listen on another port (default 3000); HOST=0.0.0.0 for all interfaces
//   INSTANCE=a npm start               the name session-info and the startup line give this process
//
// Tools that show what the session layer is for:
//   work            reports progress (notifications/progress) and logs (notifications/message) while it works
//   notify          sends a log notification to ANOTHER session (or to all), wherever its stream is held
//   session-info    this session's id, the instance that answered, and the metadata the store holds
//   echo            the smallest tool there is
// Sessions survive a restart: stop the server, start it again, and a client that kept its session id
// goes on without a new initialize.
//
// Operations, next to /mcp:
//   GET /healthz    200 while the process serves HTTP (liveness)
//   GET /readyz     health() of the session store and the stream manager: 200 when each is ok or
//                   degraded (still serving), 503 with the reason when one is down (readiness)
//   GET /metrics    their stats() in the Prometheus text format (renderPrometheus)
import net from "node:net";
import path from "node:path";
import { z } from "zod";
import {
  FileSystemSessionStore,
  InMemoryStreamManager,
  RedisSessionStore,
  RedisStreamManager,
  renderPrometheus,
} from "../index.mjs";

// mcp-use 1.34.6's listen() looks for a built widget bundle (./dist/mcp-use.json,
// dist/resources/widgets) in production mode and prints each miss with a stack trace. This
// server has no widgets, so those lines (and the CSP notice that precedes them) are dropped.
const MCP_USE_NOISE = /^(\[WIDGETS\]|\[CSP\]|widgetsDir$)/;
const consoleLog = console.log;
console.log = (...args) => {
  if (typeof args[0] === "string" && MCP_USE_NOISE.test(args[0])) return;
  consoleLog(...args);
};

// NODE_ENV defaults to "production" here: in development mode MCPServer.listen() mounts mcp-use's
// dev tooling (vite widget server, inspector), which needs extra packages and creates resources/.
process.env.NODE_ENV ||= "production";
const { MCPServer, text } = await import("mcp-use/server");

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || "localhost";
const instance = process.env.INSTANCE || `pid ${process.pid}`;

function fail(message) {
  console.error(`mcp-sessions-native example: ${message}`);
  process.exit(1);
}

/** A URL for humans: the whole user-info is masked, as the addon masks it in its errors and logs. */
function displayUrl(url) {
  try {
    const u = new URL(url);
    const masked = u.username || u.password ? "***@" : "";
    return `${u.protocol}//${masked}${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "the configured Redis"; // never echo a URL that did not parse: it may hold a password
  }
}

let sessionStore;
let streamManager;
let layer; // what the startup line and session-info say about the session layer

if (process.env.REDIS_URL) {
  // The addon's own connections: they connect on first use and reconnect by themselves, so the
  // server starts whether or not Redis is up yet, and /readyz says when it can serve.
  const url = process.env.REDIS_URL;
  try {
    sessionStore = new RedisSessionStore({ url });
    streamManager = new RedisStreamManager({ url });
  } catch (e) {
    fail(`REDIS_URL: ${e.message}`);
  }
  const where = displayUrl(url);
  layer = {
    sessions: `RedisSessionStore at ${where}`,
    streams: `RedisStreamManager at ${where} (pub/sub across instances)`,
  };
} else {
  const file = path.resolve(".mcp-use/sessions.json"); // the default path, under the cwd
  sessionStore = new FileSystemSessionStore({ path: file });
  streamManager = new InMemoryStreamManager();
  layer = { sessions: `FileSystemSessionStore in ${file}`, streams: "InMemoryStreamManager in this process" };
}

const server = new MCPServer({
  name: "mcp-sessions-native-example",
  version: "0.1.0",
  description: "mcp-use server with native session storage",
  sessionStore,
  streamManager,
});

/** health() of both: ready unless one is down (a degraded one still serves every request). */
function readiness() {
  const sessions = sessionStore.health();
  const streams = streamManager.health();
  const parts = { sessions, streams };
  const down = Object.entries(parts).filter(([, h]) => h.status === "down");
  const degraded = Object.entries(parts).filter(([, h]) => h.status === "degraded");
  const status = down.length ? "down" : degraded.length ? "degraded" : "ok";
  const reason = [...down, ...degraded].map(([name, h]) => `${name}: ${h.reason}`).join("; ");
  return { status, ...(reason ? { reason } : {}), sessions, streams };
}

server.app.get("/healthz", (c) => c.text("ok\n"));
server.app.get("/readyz", (c) => {
  const r = readiness();
  return c.json(r, r.status === "down" ? 503 : 200);
});
server.app.get("/metrics", (c) =>
  c.body(renderPrometheus({ sessions: sessionStore, streams: streamManager }), 200, {
    "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
  }),
);

// One line whenever the status changes (nothing while connections are still opening): an
// outage and its end show in the log too. health() also keeps an idle connection checked.
let reported = "ok";
setInterval(() => {
  const r = readiness();
  const opening = [r.sessions, r.streams].some((h) => h.commands?.state === "connecting" || h.subscriber?.state === "connecting");
  if (opening || r.status === reported) return;
  console.error(`[health] ${r.status}${r.reason ? `: ${r.reason}` : ""}`);
  reported = r.status;
}, 1000).unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

server.tool(
  {
    name: "echo",
    description: "Echo a message back",
    schema: z.object({ message: z.string().describe("What to echo") }),
  },
  async ({ message }) => text(message),
);

server.tool(
  {
    name: "work",
    description:
      "Work in steps; after each step send a progress notification (when the call has a progress token) " +
      "and an info log notification to the caller",
    schema: z.object({
      steps: z.number().int().min(1).max(50).default(3).describe("How many steps"),
      delayMs: z.number().int().min(0).max(5000).default(200).describe("Time per step"),
    }),
  },
  async ({ steps, delayMs }, ctx) => {
    for (let i = 1; i <= steps; i++) {
      await sleep(delayMs);
      await ctx.reportProgress?.(i, steps, `step ${i} of ${steps}`);
      await ctx.log("info", `work: step ${i} of ${steps} done on ${instance}`, "work");
    }
    return text(`done: ${steps} steps on ${instance}`);
  },
);

server.tool(
  {
    name: "notify",
    description:
      "Send a log notification (notifications/message) to another session, or to every session with an open " +
      "stream when sessionId is omitted; the stream manager delivers it wherever that session's stream is held",
    schema: z.object({
      message: z.string().describe("What to tell"),
      sessionId: z.string().optional().describe("The session to notify; omit to notify every session"),
    }),
  },
  async ({ message, sessionId }, ctx) => {
    if (sessionId && !(await sessionStore.has(sessionId))) {
      return { isError: true, content: [{ type: "text", text: `no session ${sessionId}` }] };
    }
    const notification = {
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level: "info", logger: "notify", data: { from: ctx.session.sessionId, message } },
    };
    await streamManager.send(sessionId ? [sessionId] : undefined, `event: message\ndata: ${JSON.stringify(notification)}\n\n`);
    if (!sessionId) return text("sent to every session with an open stream");
    return text(
      (await streamManager.has(sessionId))
        ? `sent to ${sessionId}`
        : `${sessionId} has no open stream now; the stream manager keeps the message for its next one`,
    );
  },
);

server.tool(
  {
    name: "session-info",
    description: "This session's id, the instance that answered, and the metadata the session store holds for it",
  },
  async (_args, ctx) => {
    const sessionId = ctx.session.sessionId;
    const metadata = await sessionStore.get(sessionId);
    return text(JSON.stringify({ sessionId, instance, pid: process.pid, ...layer, metadata }, null, 2));
  },
);

/** Resolves once something accepts connections on host:port (MCPServer.listen() resolves before that). */
async function accepting() {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host, port }, () => s.end(() => resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  fail(`nothing accepts connections on ${host}:${port}`);
}

// A port in use would otherwise surface as an uncaught EADDRINUSE stack trace.
await new Promise((resolve) => {
  const probe = net.createServer();
  probe.once("error", (e) => fail(e.code === "EADDRINUSE" ? `port ${port} is in use; set PORT to another port` : e.message));
  probe.listen({ host, port, exclusive: true }, () => probe.close(resolve));
});

await server.listen(port);
await accepting();
const endpoint = `http://${host === "0.0.0.0" || host === "::" ? "localhost" : host}:${port}/mcp`;
console.log(`mcp-sessions-native example listening on ${endpoint} (${instance}); sessions: ${layer.sessions}; streams: ${layer.streams}`);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  try {
    await streamManager.close?.();
    if (sessionStore.flush) await sessionStore.flush(); // file store: everything is on disk
    if (sessionStore.close) await sessionStore.close(); // Redis: closes its connections
  } finally {
    process.exit(0);
  }
}
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
