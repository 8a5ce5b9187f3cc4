// An mcp-use MCPServer on one build of the addon (ADDON: path of its .node), with the Redis
// classes, for bench/completion.mjs's end-to-end measure.
//   ADDON=... REDIS_URL=... PORT=... NODE_ENV=production node bench/completion/server.mjs
import { createRequire } from "node:module";
import { MCPServer, text } from "mcp-use/server";
import { createClient } from "redis";

const { RedisSessionStore, RedisStreamManager } = createRequire(import.meta.url)(process.env.ADDON);
const client = createClient({ url: process.env.REDIS_URL });
const pubSubClient = client.duplicate();
await client.connect();
await pubSubClient.connect();

const server = new MCPServer({
  name: "bench-completion",
  version: "1.0.0",
  sessionStore: new RedisSessionStore({ client }),
  streamManager: new RedisStreamManager({ client, pubSubClient }),
});
server.tool({ name: "echo", description: "Returns its input" }, async (args) => text(JSON.stringify(args ?? {})));
await server.listen(Number(process.env.PORT));
