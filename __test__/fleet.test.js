"use strict";
// `npm run start:fleet` (examples/fleet/fleet.mjs), driven through its round-robin proxy with
// the official TypeScript SDK client: its own redis-server, two instances of the example on
// the Redis classes, every request to the next instance (GET streams included). Progress and
// logging notifications, notifications between sessions wherever their streams are held,
// both instances serving one session, a reconnect to the same session, and Ctrl-C stopping
// all of it (Redis included) with clean output.
const { ping } = require("./helpers/redis-server");
const { startFleet, describeWithRedisServer } = require("./helpers/fleet");
const { openSession, tour, resume, expectCleanOutput } = require("./helpers/example-client");

jest.setTimeout(180_000);

describeWithRedisServer("npm run start:fleet", () => {
  let fleet;
  afterAll(() => fleet?.kill());

  test("one URL, two instances, round robin: notifications cross instances, sessions are shared, Ctrl-C stops it all", async () => {
    fleet = await startFleet();
    expect(fleet.url).toBe(`http://localhost:${fleet.port}/mcp`);
    expect(fleet.output()).toContain(`round robin over a (:${fleet.instancePorts[0]}), b (:${fleet.instancePorts[1]})`);
    expect(await ping(fleet.redisPort)).toBe(true);

    // Through the proxy MCPServer keeps clientInfo only where notifications/initialized landed.
    const { sid } = await tour(fleet.url, { clientInfo: false });

    // Any instance serves the session: the store is shared.
    const s = await openSession(fleet.url, { sessionId: sid });
    try {
      const seen = new Set();
      for (let i = 0; i < 4; i++) {
        const info = await s.info();
        expect(info.sessionId).toBe(sid);
        seen.add(info.instance);
      }
      expect(seen).toEqual(new Set(["a", "b"]));
    } finally {
      await s.close();
    }

    await resume(fleet.url, sid);

    expect(await fleet.stop("SIGINT")).toEqual({ code: 0, signal: null });
    expect(fleet.output()).toMatch(/\[a\] SIGINT: shutting down|\[a\] SIGTERM: shutting down/);
    expect(fleet.output()).toContain("[fleet] stopped");
    expect(await ping(fleet.redisPort)).toBe(false);
    expectCleanOutput(fleet.output());
  });
});
