// A real mcp-use MCPServer on the Redis classes of one implementation (session store and stream
// manager), in its own process, for bench/fleet.mjs's MCPServer mode:
//
//   IMPL=addon|ref PORT=... REDIS_URL=... HEARTBEAT=10 NODE_ENV=production node --expose-gc bench/fleet/server-app.mjs
//
// Answers IPC {op:"cpu"} with process.cpuUsage(), CPU per thread and GC pauses (probe.mjs), and {op:"mem"} with memory after gc(), so
// the parent can bracket an idle window without adding work of its own to this process.
import * as reference from "mcp-use/server";
import { createRequire } from "node:module";
import { createClient } from "redis";
import { probe } from "./probe.mjs";

const require = createRequire(import.meta.url);
const impl = process.env.IMPL === "ref" ? reference : require("../../index.js");

const client = createClient({ url: process.env.REDIS_URL });
const pubSubClient = client.duplicate();
client.on("error", (e) => process.stderr.write(`node-redis error: ${e.message}\n`));
pubSubClient.on("error", (e) => process.stderr.write(`node-redis error: ${e.message}\n`));
await client.connect();
await pubSubClient.connect();

const streamManager = new impl.RedisStreamManager({ client, pubSubClient, heartbeatInterval: Number(process.env.HEARTBEAT || 10) });
const server = new reference.MCPServer({
  name: `fleet-bench-${process.env.IMPL}`,
  version: "1.0.0",
  sessionStore: new impl.RedisSessionStore({ client }),
  streamManager,
});

process.on("message", (m) => {
  if (m.op === "cpu") process.send({ op: "cpu", ...probe() });
  else if (m.op === "mem") {
    if (global.gc) for (let i = 0; i < 3; i++) global.gc();
    const u = process.memoryUsage();
    process.send({ op: "mem", rss: u.rss, heapUsed: u.heapUsed });
  }
});

await server.listen(Number(process.env.PORT));
process.send({ op: "listening" });
