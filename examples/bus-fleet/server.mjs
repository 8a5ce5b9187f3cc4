// One instance of an MCP server on the 2026-07-28 protocol (@modelcontextprotocol/server 2.x,
// createMcpHandler) whose change notifications go through a RedisServerEventBus, so a client
// whose `subscriptions/listen` stream is held by another instance still receives them.
//
//   REDIS_URL=redis://127.0.0.1:6379 PORT=3001 node examples/bus-fleet/server.mjs
//
// Environment: PORT (default 3001), REDIS_URL (default redis://127.0.0.1:6379), BUS=memory for
// the SDK's InMemoryServerEventBus (the control: events stay in their process), INSTANCE (a
// name for logs and results), BUS_PREFIX (the bus's key prefix).
//
// Besides /mcp it serves POST /notify, `{ "kind": "tools" | "prompts" | "resources" |
// "resource", "uri"? }`, which calls handler.notify.* on this instance (the fleet's demo and
// the tests use it to choose which instance publishes), GET /bus, the bus's stats() and
// health(), and the probes of examples/server.mjs:
//   GET /healthz    200 while the process serves HTTP (liveness)
//   GET /readyz     the bus's health(): 200 when ok or degraded (still serving, Redis outages
//                   included: events wait in the outbox), 503 when down (closed)
//   GET /metrics    its stats() in the Prometheus text format (renderPrometheus)
import http from "node:http";
import { createMcpHandler, InMemoryServerEventBus, McpServer } from "@modelcontextprotocol/server";
import { RedisServerEventBus, renderPrometheus } from "mcp-sessions-native";
import { z } from "zod";
import { nodeHandler } from "./http-adapter.mjs";

const port = Number(process.env.PORT || 3001);
const instance = process.env.INSTANCE || `:${port}`;
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const bus =
  process.env.BUS === "memory"
    ? new InMemoryServerEventBus()
    : new RedisServerEventBus({ url: redisUrl, prefix: process.env.BUS_PREFIX || "mcp:events:" });

/** A fresh McpServer per request, as createMcpHandler asks; the registrations turn on listChanged. */
function factory() {
  const server = new McpServer(
    { name: "bus-fleet-example", version: "1.0.0" },
    { capabilities: { resources: { subscribe: true } } },
  );
  server.registerTool("whoami", { description: "Which instance answered" }, async () => ({
    content: [{ type: "text", text: instance }],
  }));
  server.registerTool(
    "touch",
    { description: "Announces that a resource changed (notifications/resources/updated on every instance)", inputSchema: { uri: z.string() } },
    async ({ uri }) => {
      handler.notify.resourceUpdated(uri);
      return { content: [{ type: "text", text: `touched ${uri} on ${instance}` }] };
    },
  );
  server.registerPrompt("hello", { description: "A prompt" }, async () => ({
    messages: [{ role: "user", content: { type: "text", text: "hello" } }],
  }));
  server.registerResource("note", "note://1", { description: "A note" }, async (uri) => ({
    contents: [{ uri: uri.href, text: `note from ${instance}` }],
  }));
  return server;
}

const handler = createMcpHandler(factory, { bus });

const notifiers = {
  tools: () => handler.notify.toolsChanged(),
  prompts: () => handler.notify.promptsChanged(),
  resources: () => handler.notify.resourcesChanged(),
  resource: (uri) => handler.notify.resourceUpdated(uri),
};

const mcp = nodeHandler(handler.fetch);
const httpServer = http.createServer((req, res) => {
  const path = (req.url || "").split("?")[0];
  if (path === "/notify" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        const { kind, uri } = JSON.parse(body || "{}");
        if (!notifiers[kind]) throw new Error(`kind must be one of ${Object.keys(notifiers).join(", ")}`);
        notifiers[kind](uri);
        res.writeHead(204).end();
      } catch (e) {
        res.writeHead(400, { "content-type": "text/plain" }).end(`${e.message}\n`);
      }
    });
    return;
  }
  if (path === "/bus" && req.method === "GET") {
    const report = bus.stats ? { stats: bus.stats(), health: bus.health() } : { listeners: bus.listenerCount };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(report));
    return;
  }
  if (path === "/healthz" && req.method === "GET") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    return;
  }
  if (path === "/readyz" && req.method === "GET") {
    // The SDK's in-memory bus has no health(): nothing it depends on can fail.
    const health = bus.health ? bus.health() : { status: "ok" };
    res.writeHead(health.status === "down" ? 503 : 200, { "content-type": "application/json" }).end(JSON.stringify(health));
    return;
  }
  if (path === "/metrics" && req.method === "GET") {
    const text = bus.stats ? renderPrometheus({ bus }) : "";
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(text);
    return;
  }
  if (path === "/mcp") return mcp(req, res);
  res.writeHead(404).end();
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`[${instance}] MCP (2026-07-28) on http://127.0.0.1:${port}/mcp, bus ${process.env.BUS === "memory" ? "in-memory" : `Redis ${redisUrl}`}`);
});

async function shutdown() {
  httpServer.closeAllConnections?.();
  httpServer.close();
  await handler.close?.();
  if (bus.close) await bus.close().catch((e) => console.error(`[${instance}] ${e.message}`));
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
