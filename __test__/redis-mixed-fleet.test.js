"use strict";
// Mixed fleet: one RedisStreamManager from mcp-use/server and one from the addon on one
// Redis, as during a rolling migration. Every feature is exercised in both directions.
const { createClient } = __nodeRequire("redis");
const ref = __nodeRequire(require.resolve("mcp-use/server"));
const native = __nodeRequire(require.resolve(".."));
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { openStream, waitFor, sleep } = require("./redis/streams");
const { untag } = require("./helpers/journal-tag");
const { spawn } = require("node:child_process");
const path = require("node:path");

describeRedis("mixed fleet: mcp-use and native RedisStreamManager on one Redis", () => {
  const clients = [];
  const client0 = async () => clients[0];
  async function client() {
    const c = createClient({ url: redisUrl() });
    await c.connect();
    clients.push(c);
    return c;
  }
  let prefix, managers;
  beforeEach(async () => {
    prefix = uniquePrefix("fleet");
    managers = {
      "mcp-use": new ref.RedisStreamManager({ client: await client(), pubSubClient: await client(), prefix, heartbeatInterval: 5 }),
      native: new native.RedisStreamManager({ client: await client(), pubSubClient: await client(), prefix, heartbeatInterval: 5 }),
    };
  });
  afterEach(async () => {
    await Promise.allSettled(Object.values(managers).map((m) => m.close()));
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.quit()));
  });

  const directions = [
    ["mcp-use", "native"],
    ["native", "mcp-use"],
  ];

  test.each(directions)("targeted send from %s reaches the stream held by %s", async (from, holder) => {
    const s = openStream();
    await managers[holder].create("sid-1", s.controller);
    expect(await managers[from].has("sid-1")).toBe(true);
    await managers[from].send(["sid-1"], "event: message\ndata: {\"n\":1}\n\n");
    await managers[from].send(["sid-1"], "event: message\ndata: {\"n\":2}\n\n");
    await waitFor(() => s.received.length === 2, "two messages");
    // Ours journal a send and tag it with an SSE comment, which an mcp-use holder passes on.
    const received = from === "native" && holder === "mcp-use" ? s.received.map(untag) : s.received;
    expect(received).toEqual(["event: message\ndata: {\"n\":1}\n\n", "event: message\ndata: {\"n\":2}\n\n"]);
  });

  test.each(directions)("broadcast from %s reaches streams on both instances (holder of the second: %s)", async (from, other) => {
    const mine = openStream();
    const theirs = openStream();
    await managers[from].create("local-one", mine.controller);
    await managers[other].create("remote-one", theirs.controller);
    await managers[from].send(undefined, "data: everyone\n\n");
    await waitFor(() => mine.received.length === 1 && theirs.received.length === 1, "broadcast on both");
    expect([mine.received, theirs.received]).toEqual([["data: everyone\n\n"], ["data: everyone\n\n"]]);
  });

  test.each(directions)("delete on %s closes the stream held by %s", async (from, holder) => {
    const s = openStream();
    await managers[holder].create("doomed", s.controller);
    await managers[from].delete("doomed");
    await waitFor(() => s.closed, "the holder to close the stream");
    await waitFor(async () => !(await managers[holder].has("doomed")), "availability key removed");
  });

  test.each(directions)("a response received by %s is routed to %s, which sent the request", async (receiver, origin) => {
    const got = [];
    managers[origin].onForwardedResponse((message, sid) => got.push({ message, sid }));
    // onForwardedResponse subscribes in the background: wait until Redis has the channel.
    const probe = clients[0];
    await waitFor(async () => (await probe.sendCommand(["PUBSUB", "CHANNELS", `${prefix}server:*`])).length === 1, "the server channel subscription");
    await managers[origin].registerOutboundRequest(7, "sess-r");
    const response = { jsonrpc: "2.0", id: 7, result: { content: [{ type: "text", text: "hi" }] } };
    expect(await managers[receiver].forwardInboundResponse(response, "sess-r")).toBe(true);
    await waitFor(() => got.length === 1, "the forwarded response");
    expect(got[0]).toEqual({ message: response, sid: "sess-r" });
    // The route was consumed; and the origin itself does not forward its own requests.
    expect(await managers[receiver].forwardInboundResponse(response, "sess-r")).toBe(false);
    await managers[origin].registerOutboundRequest("abc", "sess-r");
    expect(await managers[origin].forwardInboundResponse({ jsonrpc: "2.0", id: "abc", result: {} }, "sess-r")).toBe(false);
  });

  // Our liveness is per instance (one heartbeat key, availability keys on a long lease),
  // mcp-use's per session; its has() reads our availability keys.
  test("mcp-use's has() sees an idle stream of ours as long as our instance lives, and gone after it dies", async () => {
    const survivor = new native.RedisStreamManager({ url: redisUrl(), prefix, heartbeatInterval: 1 });
    // Our instance holding the stream, in its own process (heartbeatInterval 1), to be SIGKILLed.
    const child = spawn(process.execPath, [path.join(__dirname, "fixtures", "faults-redis-instance.js"), require.resolve(".."), redisUrl(), prefix, "ours-idle"], {
      env: { ...process.env, MCP_SESSIONS_LOG: "off" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise((r) => child.on("close", r));
    try {
      let out = "";
      await new Promise((resolve, reject) => {
        child.stdout.on("data", (d) => ((out += d), out.includes("READY") && resolve()));
        exited.then(() => reject(new Error(`instance exited: ${out}`)));
      });
      // Idle for longer than twice its interval: no per-session refresh, still available.
      await sleep(3000);
      expect(await managers["mcp-use"].has("ours-idle")).toBe(true);
      child.kill("SIGKILL");
      await exited;
      await waitFor(async () => !(await managers["mcp-use"].has("ours-idle")), "mcp-use's has() to report the dead instance's stream gone", 10_000);
      expect(Number(await (await client0()).sIsMember(`${prefix}active`, "ours-idle"))).toBe(0);
    } finally {
      child.kill("SIGKILL");
      await survivor.close();
    }
  });
});
