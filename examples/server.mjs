// A runnable MCP server (mcp-use) whose session layer is mcp-sessions-native.
//
//   npm start                       FileSystemSessionStore (.mcp-use/sessions.json) + InMemoryStreamManager
//   REDIS_URL=redis://... npm start RedisSessionStore + RedisStreamManager (node-redis clients)
//   PORT=8080 npm start             listen on another port (default 3000)
//
// Sessions survive a restart: stop the server, start it again, and a connected client keeps
// its session id without re-initializing.
//
// NODE_ENV defaults to "production" here: in development mode MCPServer.listen() mounts
// mcp-use's dev tooling (vite widget server, inspector), which needs extra packages
// (vite, @vitejs/plugin-react, @tailwindcss/vite) and creates a resources/ folder in the cwd.
process.env.NODE_ENV ||= "production";
const { MCPServer, text } = await import("mcp-use/server");
import { z } from "zod";
import {
  FileSystemSessionStore,
  InMemoryStreamManager,
  RedisSessionStore,
  RedisStreamManager,
} from "../index.mjs";

const port = Number(process.env.PORT || 3000);

let sessionStore;
let streamManager;
let redisClients = [];
let backend;

if (process.env.REDIS_URL) {
  const { createClient } = await import("redis");
  const client = createClient({ url: process.env.REDIS_URL });
  const pubSubClient = client.duplicate();
  for (const c of [client, pubSubClient]) c.on("error", (e) => console.error("[redis]", e.message));
  await client.connect();
  await pubSubClient.connect();
  redisClients = [client, pubSubClient];
  sessionStore = new RedisSessionStore({ client });
  streamManager = new RedisStreamManager({ client, pubSubClient });
  backend = `Redis (${new URL(process.env.REDIS_URL).host})`;
} else {
  sessionStore = new FileSystemSessionStore(); // .mcp-use/sessions.json under the cwd
  streamManager = new InMemoryStreamManager();
  backend = "file system (.mcp-use/sessions.json)";
}

const server = new MCPServer({
  name: "mcp-sessions-native-example",
  version: "0.1.0",
  description: "mcp-use server with native session storage",
  sessionStore,
  streamManager,
});

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
    name: "session-info",
    description: "Show this session's id and the metadata the session store holds for it",
  },
  async (_args, ctx) => {
    const sessionId = ctx.session.sessionId;
    const metadata = await sessionStore.get(sessionId);
    return text(JSON.stringify({ sessionId, backend, metadata }, null, 2));
  },
);

server.tool(
  {
    name: "notify-me",
    description: "Send a custom/hello notification to the calling session over its SSE stream",
    schema: z.object({ greeting: z.string().default("hello") }),
  },
  async ({ greeting }, ctx) => {
    const sent = await server.sendNotificationToSession(ctx.session.sessionId, "custom/hello", { greeting });
    return text(sent ? "notification sent" : "session has no open stream");
  },
);

await server.listen(port);
console.log(`mcp-sessions-native example listening on http://localhost:${port}/mcp (sessions: ${backend})`);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  try {
    await streamManager.close?.();
    if (sessionStore.flush) await sessionStore.flush();
    if (sessionStore.close) await sessionStore.close(); // Redis: quits the client
    for (const c of redisClients) if (c.isOpen) await c.quit().catch(() => {});
  } finally {
    process.exit(0);
  }
}
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
