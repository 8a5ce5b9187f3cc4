"use strict";
// Redis restarted under open streams: the addon reconnects and re-subscribes by itself.
const { createClient } = __nodeRequire("redis");
const native = __nodeRequire(require.resolve(".."));
const { describeRedis, redisUrl, uniquePrefix, restartRedis } = require("./helpers/redis");
const { openStream, waitFor } = require("./redis/streams");
const { expectRejection } = require("./helpers/errors");

describeRedis(
  "fault: redis-server restarted while streams are open",
  () => {
    test("after Redis returns, send reaches the existing controllers with no caller action", async () => {
      const prefix = uniquePrefix("fault");
      const url = redisUrl();
      const holder = new native.RedisStreamManager({ url, prefix, heartbeatInterval: 1, commandTimeoutMs: 1000 });
      const sender = new native.RedisStreamManager({ url, prefix, heartbeatInterval: 1, commandTimeoutMs: 1000 });
      const store = new native.RedisSessionStore({ url, prefix: `${prefix}s:`, commandTimeoutMs: 1000 });
      const a = openStream();
      const b = openStream();
      try {
        await holder.create("a", a.controller);
        await holder.create("b", b.controller);
        await sender.send(["a"], "before");
        await waitFor(() => a.received.length === 1, "delivery before the restart");

        await restartRedis("SIGKILL");

        // Redis lost everything (no persistence). Without any call by us, the subscriber
        // reconnects and re-subscribes, and the heartbeat restores the availability keys.
        await waitFor(async () => {
          await sender.send(["a", "b"], "after").catch(() => {});
          return a.received.includes("after") && b.received.includes("after");
        }, "delivery to streams created before the restart", 20_000);
        await waitFor(() => holder.has("b"), "availability restored by the heartbeat", 10_000);

        // Broadcast works again too (the active set is rebuilt).
        await sender.send(undefined, "broadcast");
        await waitFor(() => a.received.includes("broadcast") && b.received.includes("broadcast"), "broadcast after the restart");

        // And the store works without being recreated.
        await store.set("s", { lastAccessedAt: 1 });
        expect(await store.get("s")).toEqual({ lastAccessedAt: 1 });
        expect(a.closed || b.closed).toBe(false);
      } finally {
        await Promise.allSettled([holder.close(), sender.close(), store.close()]);
      }
    });

    test("while Redis is down, operations fail within the bound with an error naming Redis, and recover", async () => {
      const { stopRedis, startRedis } = require("./helpers/redis");
      const prefix = uniquePrefix("down");
      const store = new native.RedisSessionStore({ url: redisUrl(), prefix, commandTimeoutMs: 500 });
      await store.set("x", { lastAccessedAt: 1 });
      await stopRedis("SIGKILL");
      try {
        await expectRejection(store.set("y", { lastAccessedAt: 2 }), "Error", /Redis/);
        expect(await store.get("x")).toBeNull(); // logged, like the reference
      } finally {
        await startRedis();
      }
      await waitFor(async () => {
        try { await store.set("y", { lastAccessedAt: 2 }); return true; } catch { return false; }
      }, "the store to work again", 15_000);
      expect(await store.get("y")).toEqual({ lastAccessedAt: 2 });
      await store.close();
    });
  },
  { needsControl: true },
);
