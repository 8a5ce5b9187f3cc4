"use strict";
// Tests of the Redis test harness itself (helpers/redis.js): the private server is ours,
// reachable, and can be stopped/restarted on the same port for fault tests.
const {
  describeRedis,
  redisUrl,
  canControlRedis,
  stopRedis,
  startRedis,
  restartRedis,
  pingRedis,
  uniquePrefix,
} = require("./helpers/redis");
const { nodeRequire } = require("./helpers/impls");

const { createClient } = nodeRequire("redis");

describeRedis("redis test harness", () => {
  test("redisUrl() is the explicit REDIS_URL or a private loopback server (never the default 6379)", async () => {
    const url = new URL(redisUrl());
    if (process.env.REDIS_URL) {
      expect(redisUrl()).toBe(process.env.REDIS_URL);
    } else {
      expect(url.hostname).toBe("127.0.0.1");
      expect(url.port).not.toBe("6379");
      expect(url.port).not.toBe("");
    }
    expect(canControlRedis()).toBe(false); // only inside needsControl suites
    const c = createClient({ url: redisUrl() });
    await c.connect();
    try {
      expect(await c.ping()).toBe("PONG");
      const k = `${uniquePrefix("harness")}k`;
      await c.set(k, "v");
      expect(await c.get(k)).toBe("v");
      await c.del(k);
    } finally {
      await c.quit();
    }
  });
});

describeRedis(
  "redis test harness: stop/start/restart on the same port",
  () => {
    test("a needsControl suite gets its own server, not the shared one", () => {
      expect(canControlRedis()).toBe(true);
      const shared = process.env.REDIS_URL || process.env.MCP_TEST_REDIS_URL;
      expect(redisUrl()).not.toBe(shared);
      expect(new URL(redisUrl()).hostname).toBe("127.0.0.1");
    });

    test("stopRedis makes it unreachable, startRedis brings it back on the same URL, data is gone", async () => {
      const url = redisUrl();
      const c = createClient({ url });
      await c.connect();
      await c.set("harness:restart", "before");
      await c.quit();

      await stopRedis();
      expect(await pingRedis()).toBe(false);
      await startRedis();
      expect(await pingRedis()).toBe(true);
      expect(redisUrl()).toBe(url);

      await restartRedis("SIGKILL"); // crash + start again
      expect(await pingRedis()).toBe(true);

      const c2 = createClient({ url });
      await c2.connect();
      try {
        expect(await c2.get("harness:restart")).toBeNull(); // --save "": nothing persisted
      } finally {
        await c2.quit();
      }
    });
  },
  { needsControl: true },
);
