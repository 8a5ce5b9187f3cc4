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
import net from "node:net";
import path from "node:path";
import { z } from "zod";
import {
  FileSystemSessionStore,
  InMemoryStreamManager,
  RedisSessionStore,
  RedisStreamManager,
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

/** A URL for humans: the password is masked. */
function displayUrl(url) {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString().replace(/\/$/, "");
}

// Redis: connected node-redis clients, exactly as with mcp-use's classes. Unreachable at
// startup: retry for about 5 s, then exit with one clear line. After startup, an outage is
// ridden out (the addon's connections reconnect by themselves; commands fail after 5 s).
const REDIS_CONNECT_ATTEMPTS = 10;
const REDIS_CONNECT_DELAY_MS = 500;

async function connectRedis(url) {
  const { createClient } = await import("redis");
  const where = displayUrl(url);
  let connected = false;
  let down = false;
  const client = createClient({
    url,
    socket: {
      reconnectStrategy: (retries, cause) => {
        if (connected) return Math.min(100 * 2 ** retries, 5000);
        if (retries + 1 >= REDIS_CONNECT_ATTEMPTS) return new Error(`${cause?.message ?? cause}`);
        return REDIS_CONNECT_DELAY_MS;
      },
    },
  });
  const pubSubClient = client.duplicate();
  for (const c of [client, pubSubClient]) {
    c.on("error", (e) => {
      if (!connected && !down) console.error(`[redis] waiting for ${where} (${e.message})`);
      else if (connected && !down) console.error(`[redis] connection to ${where} lost (${e.message}); reconnecting`);
      down = true;
    });
    c.on("ready", () => {
      if (connected && down) console.error(`[redis] reconnected to ${where}`);
      down = false;
    });
  }
  try {
    await client.connect();
    await pubSubClient.connect();
  } catch (e) {
    fail(
      `cannot reach Redis at ${where} after ${REDIS_CONNECT_ATTEMPTS} attempts (${e.message}).\n` +
        "  Start redis-server, or point REDIS_URL at a reachable server, or unset REDIS_URL to use the file store.",
    );
  }
  connected = true;
  down = false;
  return { client, pubSubClient, where };
}

let sessionStore;
let streamManager;
let redisClients = [];
let layer; // what the startup line and session-info say about the session layer

if (process.env.REDIS_URL) {
  const { client, pubSubClient, where } = await connectRedis(process.env.REDIS_URL);
  redisClients = [client, pubSubClient];
  sessionStore = new RedisSessionStore({ client });
  streamManager = new RedisStreamManager({ client, pubSubClient });
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
    if (sessionStore.close) await sessionStore.close(); // Redis: closes its connections, quits the client
    for (const c of redisClients) if (c.isOpen) await c.quit().catch(() => {});
  } finally {
    process.exit(0);
  }
}
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
