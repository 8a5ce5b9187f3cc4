"use strict";
// End-to-end, distributed: two MCPServer processes A and B on the addon's Redis classes,
// behind a round-robin proxy. The client's GET SSE stream is held by A; a tool call handled
// by B sends a notification that reaches the client through Redis and A. Then both
// processes restart and the session keeps working without a new initialize.
const { routingProxy } = require("./helpers/routing-proxy");
const { startServer, sdk, toolJson, withOneRetry, waitFor, freePort } = require("./helpers/mcp");
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");

jest.setTimeout(180_000);

/** GET (the SSE stream) always goes to the first backend; POSTs alternate between all. */
describeRedis("e2e: two MCPServer processes on RedisSessionStore + RedisStreamManager behind a proxy", () => {
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

  test("a notification sent by B reaches the stream held by A; both restart and the session lives on", async () => {
    const { Client, StreamableHTTPClientTransport } = sdk();
    const [portA, portB, portProxy] = [await freePort(), await freePort(), await freePort()];
    const env = { REDIS_URL: redisUrl(), PREFIX: uniquePrefix("e2e") };
    const start = async () => {
      const pair = await Promise.all([startServer("redis-app.mjs", { port: portA, env }), startServer("redis-app.mjs", { port: portB, env })]);
      servers.push(...pair);
      return pair;
    };
    let [a, b] = await start();
    // GET streams stay on A; every other request alternates between A and B.
    let next = 0;
    const ports = [portA, portB];
    proxy = routingProxy(({ method }) => (method === "GET" ? portA : ports[next++ % ports.length]));
    await new Promise((r) => proxy.server.listen(portProxy, "localhost", r));
    const url = new URL(`http://localhost:${portProxy}/mcp`);

    const notifications = [];
    const client = new Client({ name: "e2e-redis-client", version: "1.0.0" });
    client.fallbackNotificationHandler = async (n) => notifications.push(n);
    clients.push(client);
    const transport = new StreamableHTTPClientTransport(url);
    await client.connect(transport);
    const sid = transport.sessionId;
    expect(typeof sid).toBe("string");

    // Calls alternate between A and B: both serve the session (metadata from Redis).
    const pids = new Set();
    for (let i = 0; i < 4; i++) pids.add(toolJson(await client.callTool({ name: "whoami", arguments: {} })).pid);
    expect(pids).toEqual(new Set([a.proc.pid, b.proc.pid]));

    // Wait for the GET stream (always proxied to A), then have B notify until one is seen.
    await waitFor(() => proxy.log.some((r) => r.method === "GET"), 15_000, "the client's GET SSE stream");
    await waitFor(
      async () => {
        const handledBy = toolJson(await client.callTool({ name: "ping-me", arguments: {} })).pid;
        return handledBy === b.proc.pid && notifications.some((n) => n.method === "custom/ping" && n.params.from === b.proc.pid);
      },
      20_000,
      "custom/ping sent by B, delivered on A's stream",
    );
    // It came over the GET stream, which only A serves: B -> Redis -> A -> controller -> client.
    const onStream = proxy.getStreamText.join("");
    expect(onStream).toContain('"method":"custom/ping"');
    expect(onStream).toContain(`"from":${b.proc.pid}`);
    expect(proxy.log.filter((r) => r.method === "GET").every((r) => r.port === portA)).toBe(true);

    // Restart both processes (SIGKILL: no cleanup), same ports, same Redis.
    await client.close().catch(() => {});
    await Promise.all([a.kill("SIGKILL"), b.kill("SIGKILL")]);
    [a, b] = await start();

    const client2 = new Client({ name: "e2e-redis-client", version: "1.0.0" });
    const notifications2 = [];
    client2.fallbackNotificationHandler = async (n) => notifications2.push(n);
    clients.push(client2);
    const transport2 = new StreamableHTTPClientTransport(url, { sessionId: sid });
    await client2.connect(transport2); // sessionId given: no initialize
    const pids2 = new Set();
    for (let i = 0; i < 4; i++) pids2.add(toolJson(await withOneRetry(() => client2.callTool({ name: "whoami", arguments: {} }))).pid);
    expect(pids2).toEqual(new Set([a.proc.pid, b.proc.pid]));
    expect(transport2.sessionId).toBe(sid);
    await client2.close().catch(() => {});
  });
});
