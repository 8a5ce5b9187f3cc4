"use strict";
// `npm run start:bus-fleet` (examples/bus-fleet/fleet.mjs) as a person would use it: its own
// redis-server, two createMcpHandler instances on RedisServerEventBus, the round-robin proxy.
// The official SDK v2 client listens through the proxy; a notify on each instance reaches it;
// the `touch` tool (a tools/call through the proxy) too; each instance's /readyz and /metrics
// report its bus; Ctrl-C stops all of it, Redis included.
const { spawn } = require("node:child_process");
const path = require("node:path");
const { freePort, ping } = require("./helpers/redis-server");
const { describeWithRedisServer } = require("./helpers/fleet");
const { ROOT } = require("./helpers/impls");

const nodeRequire = typeof __nodeRequire === "function" ? __nodeRequire : require;
jest.setTimeout(120_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describeWithRedisServer("npm run start:bus-fleet", () => {
  let proc;
  afterAll(() => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {}
  });

  test("one URL, two instances: events published on either reach the listening client once; Ctrl-C stops it all", async () => {
    const port = await freePort();
    const ports = [await freePort(), await freePort()];
    const env = { ...process.env, PORT: String(port), INSTANCE_PORTS: ports.join(",") };
    delete env.REDIS_URL;
    // = npm run start:bus-fleet (docs.test.js checks the script), without npm in between so that
    // SIGINT reaches the fleet as Ctrl-C would.
    proc = spawn(process.execPath, [path.join(ROOT, "examples", "bus-fleet", "fleet.mjs")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    proc.stdout.on("data", (d) => (out += d));
    proc.stderr.on("data", (d) => (out += d));
    const exited = new Promise((r) => proc.on("exit", (code, signal) => r({ code, signal })));
    const deadline = Date.now() + 60_000;
    while (!/\[bus-fleet\] ready: /.test(out) && Date.now() < deadline) await sleep(50);
    const m = /\[bus-fleet\] ready: (\S+), round robin over a \(:(\d+)\), b \(:(\d+)\); bus Redis redis:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    expect([m && m[1], out]).toEqual([`http://127.0.0.1:${port}/mcp`, out]);
    expect([Number(m[2]), Number(m[3])]).toEqual(ports);
    const redisPort = Number(m[4]);

    const { Client, StreamableHTTPClientTransport } = nodeRequire("@modelcontextprotocol/client");
    const client = new Client({ name: "bus-fleet", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const got = [];
    client.setNotificationHandler("notifications/tools/list_changed", () => got.push("tools"));
    client.setNotificationHandler("notifications/resources/updated", (n) => got.push(n.params.uri));
    await client.connect(new StreamableHTTPClientTransport(new URL(m[1])));
    const sub = await client.listen({ toolsListChanged: true, resourceSubscriptions: ["note://a", "note://b", "note://touched"] });
    for (const [i, p] of ports.entries()) {
      const name = i === 0 ? "a" : "b";
      const r = await fetch(`http://127.0.0.1:${p}/notify`, { method: "POST", body: JSON.stringify({ kind: "resource", uri: `note://${name}` }) });
      expect(r.status).toBe(204);
    }
    await fetch(`http://127.0.0.1:${ports[1]}/notify`, { method: "POST", body: JSON.stringify({ kind: "tools" }) });
    const touched = await client.callTool({ name: "touch", arguments: { uri: "note://touched" } });
    expect(touched.content[0].text).toMatch(/^touched note:\/\/touched on [ab]$/);
    const until = Date.now() + 15_000;
    while (got.length < 4 && Date.now() < until) await sleep(20);
    await sleep(300);
    expect(got.sort()).toEqual(["note://a", "note://b", "note://touched", "tools"]);

    // The probes: each bus ready and ok; its stats() as Prometheus text. Between them the two
    // instances published 4 events, every one appended, and the listening one received the
    // other's.
    const parsePrometheus = require("parse-prometheus-text-format");
    const metric = (families, name) => Number(families.find((f) => f.name === name).metrics[0].value);
    const totals = { published: 0, appended: 0, received: 0 };
    for (const p of ports) {
      const ready = await fetch(`http://127.0.0.1:${p}/readyz`);
      const health = await ready.json();
      expect([ready.status, health]).toMatchObject([200, { status: "ok", mode: "log", outboxEvents: 0, commands: { state: "up" }, subscriber: { state: "up" } }]);
      const r = await fetch(`http://127.0.0.1:${p}/metrics`);
      expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const families = parsePrometheus(await r.text());
      expect(families.find((f) => f.name === "mcp_sessions_bus_events_published_total").metrics[0].labels).toEqual({ name: "bus", class: "RedisServerEventBus" });
      expect(metric(families, "mcp_sessions_redis_up")).toBe(1);
      totals.published += metric(families, "mcp_sessions_bus_events_published_total");
      totals.appended += metric(families, "mcp_sessions_bus_events_appended_total");
      totals.received += metric(families, "mcp_sessions_bus_events_received_total");
    }
    expect(totals.published).toBe(4);
    expect(totals.appended).toBe(4);
    expect(totals.received).toBe(4); // each event by the other instance
    expect((await fetch(`http://127.0.0.1:${ports[0]}/healthz`)).status).toBe(200);

    await sub.close();
    await client.close();

    proc.kill("SIGINT");
    const { code } = await exited;
    expect(code).toBe(0);
    expect(out).toMatch(/\[bus-fleet\] stopped/);
    expect(await ping(redisPort)).toBe(false);
  });
});
