"use strict";
// Two MCPServer instances on the addon's Redis classes, started while Redis is down (issue 24,
// point 1, as MCPServer uses the classes). Once Redis comes up, everything works without a
// restart, including the cross-instance path that broke before: a sampling request sent from
// instance A whose answer the client POSTs to instance B, which forwards it to A through A's
// server channel. Before the fix A never subscribed that channel (one WARN at startup,
// "response forwarding is disabled"), so the tool waited for its answer until the timeout.
// Then Redis goes down and comes back (empty: the test server keeps nothing) while both run,
// and the same works again with a new session.
const { routingProxy, clientAnswer } = require("./helpers/routing-proxy");
const { startServer, sdk, toolJson, waitFor, freePort } = require("./helpers/mcp");
const { describeRedis, redisUrl, uniquePrefix, stopRedis, startRedis } = require("./helpers/redis");
const { nodeRequire } = require("./helpers/impls");
const { createClient } = require("redis");

jest.setTimeout(180_000);

/** The server channels subscribed under `prefix` (PUBSUB CHANNELS, as the check). */
async function serverChannels(prefix) {
  const c = createClient({ url: redisUrl(), socket: { reconnectStrategy: false } });
  c.on("error", () => {});
  try {
    await c.connect();
    return (await c.sendCommand(["PUBSUB", "CHANNELS", `${prefix}mcp:stream:server:*`])).length;
  } catch {
    return -1;
  } finally {
    await c.disconnect().catch(() => {});
  }
}

async function readyz(port) {
  try {
    const res = await fetch(`http://localhost:${port}/readyz`);
    return { status: res.status, body: await res.json() };
  } catch (e) {
    return { status: 0, body: String(e) };
  }
}

describeRedis(
  "two MCPServer instances started before Redis",
  () => {
    const servers = [];
    const clients = [];
    let proxy;

    afterAll(async () => {
      for (const c of clients) await c.close().catch(() => {});
      for (const s of servers) await s.kill();
      if (proxy) {
        proxy.server.closeAllConnections();
        await new Promise((r) => proxy.server.close(r));
      }
    });

    /** A new session on A (through the proxy) whose client answers sampling requests. */
    async function connect(url) {
      const { Client, StreamableHTTPClientTransport } = sdk();
      const { CreateMessageRequestSchema } = nodeRequire("@modelcontextprotocol/sdk/types.js");
      const client = new Client({ name: "late-redis-client", version: "1.0.0" }, { capabilities: { sampling: {} } });
      client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
        model: "echo",
        role: "assistant",
        content: { type: "text", text: `echo: ${req.params.messages[0].content.text}` },
      }));
      clients.push(client);
      await client.connect(new StreamableHTTPClientTransport(url));
      return client;
    }

    /** A's sampling request answered through B: the answer POST went to B, A's tool got it. */
    async function sampledThroughB(client, a) {
      // Only answers are routed to B.
      const toB = () => proxy.log.filter((r) => r.port === proxy.portB).length;
      const before = toB();
      const r = toolJson(await client.callTool({ name: "sample", arguments: {} }));
      expect(r).toEqual({ pid: a.proc.pid, answer: `echo: from ${a.proc.pid}` });
      expect(toB() - before).toBe(1);
    }

    test("once Redis comes up, a sampling answer POSTed to B reaches A's tool; again after Redis went down and up", async () => {
      await stopRedis(); // nothing listens on the URL's port while the instances start
      const [portA, portB, portProxy] = [await freePort(), await freePort(), await freePort()];
      const env = { REDIS_URL: redisUrl(), PREFIX: uniquePrefix("late") };
      const [a, b] = await Promise.all([
        startServer("late-redis-app.mjs", { port: portA, env }),
        startServer("late-redis-app.mjs", { port: portB, env }),
      ]);
      servers.push(a, b);
      expect((await readyz(portA)).status).toBe(503);

      // Everything goes to A, but a client's answer to a server-to-client request goes to B.
      proxy = routingProxy(({ method, body }) => (method === "POST" && clientAnswer(body) ? portB : portA));
      proxy.portB = portB;
      await new Promise((r) => proxy.server.listen(portProxy, "localhost", r));
      const url = new URL(`http://localhost:${portProxy}/mcp`);

      await startRedis();
      for (const port of [portA, portB]) {
        await waitFor(async () => (await readyz(port)).status === 200, 30_000, `/readyz of :${port} once Redis is up`);
      }
      // Each instance's response-forwarding channel: what stayed unsubscribed for good.
      await waitFor(async () => (await serverChannels(env.PREFIX)) === 2, 30_000, "both server channels subscribed");
      const first = await connect(url);
      expect(toolJson(await first.callTool({ name: "whoami", arguments: {} })).pid).toBe(a.proc.pid);
      await sampledThroughB(first, a);

      // Redis goes away and comes back empty while both instances run.
      await stopRedis();
      await waitFor(async () => (await readyz(portA)).status === 503, 30_000, "/readyz of A: 503 while Redis is down");
      await startRedis();
      for (const port of [portA, portB]) {
        await waitFor(async () => (await readyz(port)).status === 200, 30_000, `/readyz of :${port} after Redis came back`);
      }
      await waitFor(async () => (await serverChannels(env.PREFIX)) === 2, 30_000, "both server channels subscribed again");
      const second = await connect(url);
      await sampledThroughB(second, a);
    });
  },
  { needsControl: true },
);
