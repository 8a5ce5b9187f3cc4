"use strict";
// The Redis classes accept the clients mcp-use users have: node-redis v5, node-redis v4 and
// ioredis. The addon reads each one's settings (here: host, port and a non-default
// database) and opens its own connections; close() quits the passed client.
const native = __nodeRequire(require.resolve(".."));
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { openStream, waitFor } = require("./redis/streams");
const { expectThrow } = require("./helpers/errors");

function clientKinds() {
  const url = new URL(redisUrl());
  const host = url.hostname;
  const port = Number(url.port);
  return [
    ["node-redis v5", 1, async () => {
      const c = __nodeRequire("redis").createClient({ socket: { host, port }, database: 1 });
      await c.connect();
      return { client: c, get: (k) => c.get(k), closed: () => !c.isOpen, quit: () => c.isOpen && c.quit() };
    }],
    ["node-redis v4", 2, async () => {
      const c = __nodeRequire("redis-v4").createClient({ url: `redis://${host}:${port}/2` });
      await c.connect();
      return { client: c, get: (k) => c.get(k), closed: () => !c.isOpen, quit: () => c.isOpen && c.quit() };
    }],
    ["ioredis", 3, async () => {
      const IORedis = __nodeRequire("ioredis");
      const c = new IORedis({ host, port, db: 3, lazyConnect: true });
      await c.connect();
      return { client: c, get: (k) => c.get(k), closed: () => c.status === "end", quit: () => c.status !== "end" && c.quit() };
    }],
  ];
}

describeRedis("Redis classes with node-redis v4/v5 and ioredis clients", () => {
  test.each(clientKinds())("%s: settings are read (database %i), data lands there, close() quits the client", async (_name, db, make) => {
    const prefix = uniquePrefix("clients");
    const opened = [];
    const open = async () => {
      const c = await make();
      opened.push(c);
      return c;
    };
    let manager;
    try {
      const probe = await open(); // a second client on the same database, to look at the data
      const { client, closed } = await open();
      const store = new native.RedisSessionStore({ client, prefix });
      await store.set("s1", { lastAccessedAt: 1, db });
      expect(await store.get("s1")).toEqual({ lastAccessedAt: 1, db });
      expect(JSON.parse(await probe.get(`${prefix}s1`))).toEqual({ lastAccessedAt: 1, db });

      const pub = await open();
      manager = new native.RedisStreamManager({ client: pub.client, pubSubClient: pub.client, prefix: `${prefix}st:` });
      const s = openStream();
      await manager.create("sid", s.controller);
      await manager.send(["sid"], "hello");
      await waitFor(() => s.received.length === 1, "delivery through the addon's own connections");
      expect(await probe.get(`available:${prefix}st:sid`)).toBe("active");

      await store.close();
      await waitFor(closed, "the passed client to be closed by store.close()");
    } finally {
      if (manager) await manager.close().catch(() => {});
      await Promise.allSettled(opened.map((c) => c.quit()));
    }
  });

  test("driver \"native\": a keyPrefix or a node-redis v4 cluster (settings the addon cannot reproduce) is a TypeError, not a silent wrong connection; Cluster and Sentinel clients are read", async () => {
    const IORedis = __nodeRequire("ioredis");
    const url = new URL(redisUrl());
    const cluster = new IORedis.Cluster([{ host: url.hostname, port: Number(url.port) }], { lazyConnect: true });
    const sentinel = new IORedis({ sentinels: [{ host: url.hostname, port: 26379 }], name: "mymaster", lazyConnect: true });
    const prefixed = new IORedis({ host: url.hostname, port: Number(url.port), keyPrefix: "app:", lazyConnect: true });
    const prefixedCluster = new IORedis.Cluster([{ host: url.hostname, port: Number(url.port) }], { lazyConnect: true, redisOptions: { keyPrefix: "app:" } });
    const v4Cluster = __nodeRequire("redis-v4").createCluster({ rootNodes: [{ url: redisUrl() }] });
    try {
      expectThrow(() => new native.RedisSessionStore({ client: prefixed, driver: "native" }), "TypeError", /keyPrefix/);
      expectThrow(() => new native.RedisSessionStore({ client: prefixedCluster, driver: "native" }), "TypeError", /keyPrefix/);
      expectThrow(() => new native.RedisStreamManager({ client: prefixed, pubSubClient: prefixed, driver: "native" }), "TypeError", /keyPrefix/);
      expectThrow(() => new native.RedisSessionStore({ client: v4Cluster, driver: "native" }), "TypeError", /node-redis v4 cluster/);
      // The default ("auto") refuses a keyPrefix too; driver "client" drives it on request.
      expectThrow(() => new native.RedisSessionStore({ client: prefixed }), "TypeError", /driver "client"/);
      expect(new native.RedisSessionStore({ client: prefixed, driver: "client" }).driver).toBe("client");
      // ioredis Cluster and Sentinel clients: their settings are read (no connection is made
      // until the first command), by "native" and by "auto".
      for (const client of [cluster, sentinel]) {
        expect(new native.RedisSessionStore({ client, driver: "native" }).driver).toBe("native");
        expect(new native.RedisSessionStore({ client }).driver).toBe("native");
        expect(new native.RedisSessionStore({ client, driver: "client" }).driver).toBe("client");
      }
    } finally {
      cluster.disconnect();
      sentinel.disconnect();
      prefixed.disconnect();
      prefixedCluster.disconnect();
    }
  });

  test("an ioredis client with keyPrefix, driven with driver \"client\", writes keys with the prefix as mcp-use does", async () => {
    const IORedis = __nodeRequire("ioredis");
    const ref = __nodeRequire(require.resolve("mcp-use/server"));
    const url = new URL(redisUrl());
    const prefixed = new IORedis({ host: url.hostname, port: Number(url.port), keyPrefix: "app:" });
    const plain = new IORedis({ host: url.hostname, port: Number(url.port) });
    const prefix = uniquePrefix("kp");
    try {
      const ours = new native.RedisSessionStore({ client: prefixed, prefix, driver: "client" });
      const theirs = new ref.RedisSessionStore({ client: prefixed, prefix });
      expect(ours.driver).toBe("client");
      await ours.set("ours", { lastAccessedAt: 1 });
      await theirs.set("theirs", { lastAccessedAt: 2 });
      expect(await plain.get(`app:${prefix}ours`)).toBe('{"lastAccessedAt":1}');
      expect(await plain.get(`app:${prefix}theirs`)).toBe('{"lastAccessedAt":2}');
      expect(await ours.get("theirs")).toEqual({ lastAccessedAt: 2 });
      expect(await theirs.get("ours")).toEqual({ lastAccessedAt: 1 });
      expect(await ours.has("theirs")).toBe(true);
      await ours.delete("theirs");
      expect(await plain.exists(`app:${prefix}theirs`)).toBe(0);
      await ours.delete("ours");
    } finally {
      prefixed.disconnect();
      plain.disconnect();
    }
  });

  // ioredis calls subscribe's second argument as (err, count) when subscribed and delivers
  // messages as "message" events: driven, its pub/sub must follow that convention.
  test("ioredis clients driven with driver \"client\" carry a RedisStreamManager's pub/sub", async () => {
    const IORedis = __nodeRequire("ioredis");
    const url = new URL(redisUrl());
    const opts = { host: url.hostname, port: Number(url.port) };
    const client = new IORedis(opts);
    const pubSubClient = new IORedis(opts);
    const prefix = uniquePrefix("io");
    const driven = new native.RedisStreamManager({ client, pubSubClient, prefix, driver: "client" });
    const other = new native.RedisStreamManager({ url: redisUrl(), prefix });
    try {
      expect(driven.driver).toBe("client");
      const s = openStream();
      await driven.create("s", s.controller);
      expect(await other.has("s")).toBe(true);
      await other.send(["s"], "one");
      await other.send(["s"], "two");
      await waitFor(() => s.received.length >= 2, "two messages through the ioredis subscriber");
      expect(s.received).toEqual(["one", "two"]);
      expect(s.closed).toBe(false);
      await other.delete("s");
      await waitFor(() => s.closed, "the delete from the other instance to close the stream");

      // The object holds no subscription now. It reconnects, and a stream opens at once: its
      // SUBSCRIBE must still wait until ioredis is ready, as the first one did.
      await waitFor(async () => (await client.pubsub("NUMSUB", `${prefix}s`))[1] === 0, "the deleted stream unsubscribed");
      // The window: connected again, its ready check not answered yet.
      const connected = new Promise((r) => pubSubClient.once("connect", r));
      pubSubClient.disconnect(true);
      await connected;
      const t = openStream();
      await driven.create("t", t.controller);
      await other.send(["t"], "three");
      await waitFor(() => t.received.length >= 1, "a message through the reconnected ioredis subscriber");
      expect(t.received).toEqual(["three"]);
    } finally {
      await Promise.allSettled([driven.close(), other.close()]);
      client.disconnect();
      pubSubClient.disconnect();
    }
  });
});
