"use strict";
// The addon's own connections on Redis beyond one node (issue 14), on a private cluster
// (three primaries, three replicas) and a private sentinel group (helpers/topology.js).
//
// Cluster, for every way to connect ({ url } of one node, { nodes }, node-redis v5 and
// ioredis Cluster objects read by driver "auto"): keys()/clear() with sessions on every
// primary; send, broadcast, delete and close between two instances, with classic and with
// sharded pub/sub; a mixed fleet with mcp-use's classes; a primary killed. Sentinel, for every
// way to connect (redis+sentinel:// URL, { sentinels, name }, an ioredis Sentinel client): round
// trips, a forced failover under load (every send that resolved is delivered once, in order),
// and the primary killed. How long recovery takes is measured by bench/topology.mjs.
const { impls } = require("./helpers/impls");
const { describeTopology, startCluster, startSentinelGroup, cli } = require("./helpers/topology");
const { uniquePrefix } = require("./helpers/redis");
const { expectThrow } = require("./helpers/errors");
const { openStream, waitFor } = require("./redis/streams");
const { clusterFlavours, sentinelFlavours, closeAll, keysPerPrimary, quietReference, ids, sorted } = require("./redis/topology-clients");

const native = impls.find(([n]) => n === "native")?.[1];
const ref = impls.find(([n]) => n === "mcp-use")?.[1];
const describeNative = native ? describeTopology : describe.skip;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

quietReference();

/** Retries `fn` until it resolves (a topology change in progress), at most `ms`. */
async function eventually(fn, what, ms = 30_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await sleep(100);
    }
  }
  throw new Error(`${what} did not recover within ${ms} ms: ${last && last.message}`);
}

/** How often `command` ran on each node (INFO commandstats), summed. */
async function commandCount(ports, command) {
  let n = 0;
  for (const port of ports) {
    const stats = await cli(port, ["INFO", "commandstats"]);
    const m = stats.match(new RegExp(`cmdstat_${command}:calls=(\\d+)`));
    if (m) n += Number(m[1]);
  }
  return n;
}

describeNative("native connections on a Redis Cluster", () => {
  let cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  afterAll(async () => {
    await closeAll();
    if (cluster) await cluster.stop();
  }, 30_000);

  const forms = [
    ["{ url } of one node (the cluster is detected)", async () => ({ url: `redis://127.0.0.1:${cluster.nodes[1].port}` })],
    ["{ nodes: [...] }", async () => ({ nodes: [`redis://127.0.0.1:${cluster.nodes[0].port}`, { host: "127.0.0.1", port: cluster.nodes[2].port }] })],
    ...clusterFlavours(() => cluster).map(([label, make]) => [
      `${label} object (driver "auto" reads its settings)`,
      async () => ({ client: await make(), pubSubClient: await make() }),
    ]),
  ];

  describe.each(forms)("%s", (_label, config) => {
    test("the store sees and clears sessions on every primary", async () => {
      const prefix = uniquePrefix("ntopo");
      const { client, url, nodes } = await config();
      const store = new native.RedisSessionStore(client ? { client, prefix } : { url, nodes, prefix });
      expect(store.driver).toBe("native");
      const sessions = ids(60, "s");
      for (const id of sessions) await store.set(id, { lastAccessedAt: 1, id });
      const spread = await keysPerPrimary(cluster, `${prefix}*`);
      expect(Object.values(spread).filter((n) => n > 0)).toHaveLength(3);
      expect(sorted(await store.keys())).toEqual(sorted(sessions));
      expect(await store.get("s-7")).toEqual({ lastAccessedAt: 1, id: "s-7" });
      await store.delete("s-7");
      expect(await store.has("s-7")).toBe(false);
      await store.clear();
      expect(await store.keys()).toEqual([]);
      expect(Object.values(await keysPerPrimary(cluster, `${prefix}*`))).toEqual([0, 0, 0]);
    });

    test.each([["classic pub/sub", false], ["sharded pub/sub", true]])("two instances: send, broadcast, delete and close across slots (%s)", async (_mode, shardedPubSub) => {
      const prefix = uniquePrefix("ntopo");
      const make = async () => {
        const { client, pubSubClient, url, nodes } = await config();
        const base = client ? { client, pubSubClient } : { url, nodes };
        return new native.RedisStreamManager({ ...base, prefix, shardedPubSub, heartbeatInterval: 5 });
      };
      const ports = cluster.nodes.map((n) => n.port);
      const spublishBefore = await commandCount(ports, "spublish");
      const a = await make();
      const b = await make();
      try {
        expect(a.driver).toBe("native");
        const streams = {};
        for (const id of ids(7, "a")) {
          streams[id] = openStream();
          await a.create(id, streams[id].controller);
        }
        const onB = openStream();
        await b.create("b-0", onB.controller);
        expect(await b.has("a-3")).toBe(true);
        expect(await a.has("b-0")).toBe(true);

        await b.send(["a-3", "a-5"], "targeted");
        await a.send(["b-0"], "back");
        await b.send(undefined, "everyone");
        await waitFor(() => onB.received.length === 2 && Object.values(streams).every((s) => s.received.length >= 1), "targeted sends and the broadcast");
        await sleep(100);
        expect(onB.received).toEqual(["back", "everyone"]);
        for (const [id, s] of Object.entries(streams)) {
          expect(s.received).toEqual(id === "a-3" || id === "a-5" ? ["targeted", "everyone"] : ["everyone"]);
        }
        if (shardedPubSub) expect(await commandCount(ports, "spublish")).toBeGreaterThan(spublishBefore);

        await b.delete("a-2");
        await waitFor(() => streams["a-2"].closed, "the delete from the other instance to close the stream");
        expect(await b.has("a-2")).toBe(false);

        await a.close();
        for (const id of ids(7, "a")) expect(await b.has(id)).toBe(false);
        expect(await b.has("b-0")).toBe(true);
        const left = await keysPerPrimary(cluster, `available:${prefix}*`);
        expect(Object.values(left).reduce((x, y) => x + y, 0)).toBe(1); // b's own stream
      } finally {
        await Promise.allSettled([a.close(), b.close()]);
      }
    });
  });

  test("store-and-forward: with shardedPubSub, messages sent while no stream is open are delivered first, once, in order; with classic pub/sub nothing is kept, as mcp-use", async () => {
    const url = `redis://127.0.0.1:${cluster.nodes[2].port}`;
    for (const shardedPubSub of [true, false]) {
      const prefix = uniquePrefix("nsnf");
      const a = new native.RedisStreamManager({ url, prefix, shardedPubSub });
      const b = new native.RedisStreamManager({ url, prefix, shardedPubSub });
      try {
        const sessions = ids(6, "p"); // spread over the shards
        for (let i = 0; i < 4; i++) await b.send(sessions, `m${i}`);
        // Classic pub/sub reaches the other nodes over the cluster bus: let it settle, so
        // nothing published above is still on its way when the streams subscribe.
        await sleep(500);
        const streams = {};
        for (const id of sessions) {
          streams[id] = openStream();
          await a.create(id, streams[id].controller);
        }
        await b.send(sessions, "live");
        await waitFor(() => Object.values(streams).every((s) => s.received.includes("live")), "the live message");
        await sleep(200);
        const expected = shardedPubSub ? ["m0", "m1", "m2", "m3", "live"] : ["live"];
        for (const s of Object.values(streams)) expect(s.received).toEqual(expected);
        expect(b.pendingStats().buffered).toBe(shardedPubSub ? 24 : 0);
        expect(a.pendingStats().replayed).toBe(shardedPubSub ? 24 : 0);
      } finally {
        await Promise.allSettled([a.close(), b.close()]);
      }
    }
  });

  test("mixed fleet: mcp-use's classes on node-redis cluster clients and ours on { url }, both ways", async () => {
    const [, makeNodeRedis] = clusterFlavours(() => cluster)[0];
    const prefix = uniquePrefix("nmix");
    const url = `redis://127.0.0.1:${cluster.nodes[0].port}`;
    const theirs = new ref.RedisStreamManager({ client: await makeNodeRedis(), pubSubClient: await makeNodeRedis(), prefix });
    const ours = new native.RedisStreamManager({ url, prefix, heartbeatInterval: 5 });
    const theirStore = new ref.RedisSessionStore({ client: await makeNodeRedis(), prefix: `${prefix}s:` });
    const ourStore = new native.RedisSessionStore({ url, prefix: `${prefix}s:` });
    try {
      const onTheirs = openStream();
      const onOurs = openStream();
      await theirs.create("t", onTheirs.controller);
      await ours.create("o", onOurs.controller);
      expect(await ours.has("t")).toBe(true);
      expect(await theirs.has("o")).toBe(true);
      await ours.send(["t"], "from ours");
      await theirs.send(["o"], "from theirs");
      await waitFor(() => onTheirs.received.length === 1 && onOurs.received.length === 1, "a message each way");
      expect(onTheirs.received).toEqual(["from ours"]);
      expect(onOurs.received).toEqual(["from theirs"]);
      await ours.delete("t");
      await waitFor(() => onTheirs.closed, "our delete to close mcp-use's stream");

      for (const id of ids(30, "m")) await theirStore.set(id, { lastAccessedAt: 2 });
      expect(sorted(await ourStore.keys())).toEqual(sorted(ids(30, "m")));
      await ourStore.set("ours", { lastAccessedAt: 3 });
      expect(await theirStore.get("ours")).toEqual({ lastAccessedAt: 3 });
      await ourStore.clear();
      expect(Object.values(await keysPerPrimary(cluster, `${prefix}s:*`))).toEqual([0, 0, 0]);
    } finally {
      await Promise.allSettled([ours.close(), ourStore.close()]);
      await Promise.allSettled([theirs.close()]);
    }
  });

  // The last two change the topology.
  test("a primary that hangs (SIGSTOP, the node the URL names): writes resume through the promoted replica and the subscriber leaves the hung node", async () => {
    const prefix = uniquePrefix("npause");
    const owner = await cluster.primaryOf(`${prefix}k-0`);
    const url = `redis://127.0.0.1:${owner.port}`;
    const store = new native.RedisSessionStore({ url, prefix });
    const a = new native.RedisStreamManager({ url, prefix: `${prefix}st:`, heartbeatInterval: 1 });
    const b = new native.RedisStreamManager({ url, prefix: `${prefix}st:`, heartbeatInterval: 1 });
    let resume = () => {};
    try {
      const streams = {};
      for (const id of ids(6, "k")) {
        streams[id] = openStream();
        await a.create(id, streams[id].controller);
      }
      await store.set("k-0", { lastAccessedAt: 1 });
      ({ resume } = await cluster.pausePrimaryOf(`${prefix}k-0`));
      await eventually(() => store.set("k-0", { lastAccessedAt: 2 }), "a write to the hung primary's slot");
      expect(await store.get("k-0")).toEqual({ lastAccessedAt: 2 });
      // The subscriber was on the hung node: it moves, and a send then reaches every stream.
      let attempt = 0;
      await eventually(async () => {
        attempt += 1;
        await b.send(ids(6, "k"), `after-${attempt}`);
        await waitFor(() => Object.values(streams).every((s) => s.received.some((m) => m.startsWith("after-"))), "a send after the promotion", 1500);
      }, "a send that reaches every stream", 45_000);
      for (const s of Object.values(streams)) expect(new Set(s.received).size).toBe(s.received.length); // nothing twice
    } finally {
      resume();
      await Promise.allSettled([a.close(), b.close(), store.close()]);
    }
  }, 90_000);

  // Last: it changes the topology.
  test("a primary killed: its replica is promoted and the store and streams work again", async () => {
    const prefix = uniquePrefix("nkill");
    // The URL names the very primary that is killed: the cluster is then reached through the
    // nodes learnt from it.
    const owner = await cluster.primaryOf(`${prefix}k-0`);
    const url = `redis://127.0.0.1:${owner.port}`;
    const store = new native.RedisSessionStore({ url, prefix });
    const a = new native.RedisStreamManager({ url, prefix: `${prefix}st:`, heartbeatInterval: 1 });
    const b = new native.RedisStreamManager({ url, prefix: `${prefix}st:`, heartbeatInterval: 1 });
    try {
      const streams = {};
      for (const id of ids(12, "k")) {
        streams[id] = openStream();
        await a.create(id, streams[id].controller);
      }
      await store.set("k-0", { lastAccessedAt: 1 });
      await cluster.killPrimaryOf(`${prefix}k-0`);
      await eventually(() => store.set("k-0", { lastAccessedAt: 2 }), "a write to the killed primary's slot");
      expect(await store.get("k-0")).toEqual({ lastAccessedAt: 2 });
      // A classic message published before the subscriber left the dead node is lost (no
      // store-and-forward on a cluster without shardedPubSub): send until one arrives.
      let attempt = 0;
      await eventually(async () => {
        attempt += 1;
        await b.send(ids(12, "k"), `after-${attempt}`);
        await waitFor(() => Object.values(streams).every((s) => s.received.some((m) => m.startsWith("after-"))), "a send after the promotion", 1500);
      }, "a send that reaches every stream", 45_000);
      for (const s of Object.values(streams)) expect(new Set(s.received).size).toBe(s.received.length); // nothing twice
      expect(await b.has("k-0")).toBe(true);
    } finally {
      await Promise.allSettled([a.close(), b.close(), store.close()]);
    }
  }, 60_000);
});

describeNative("native connections to a Sentinel group", () => {
  let group;
  beforeAll(async () => {
    group = await startSentinelGroup();
  }, 60_000);
  afterAll(async () => {
    await closeAll();
    if (group) await group.stop();
  }, 30_000);

  const forms = [
    ["redis+sentinel:// URL", async () => ({ url: group.url })],
    ["{ sentinels, name }", async () => ({ sentinels: group.sentinels, name: group.name })],
    ["ioredis Sentinel client (driver \"auto\" reads its settings)", async () => {
      const [, make] = sentinelFlavours(() => group)[1];
      return { client: await make(), pubSubClient: await make() };
    }],
  ];

  test.each(forms)("%s: store and stream round trips on the primary", async (_label, config) => {
    const prefix = uniquePrefix("nsent");
    const { client, pubSubClient, ...rest } = await config();
    const store = new native.RedisSessionStore(client ? { client, prefix } : { ...rest, prefix });
    const a = new native.RedisStreamManager({ ...(client ? { client, pubSubClient } : rest), prefix: `${prefix}st:` });
    const b = new native.RedisStreamManager({ url: group.url, prefix: `${prefix}st:` });
    try {
      expect(store.driver).toBe("native");
      await store.set("x", { lastAccessedAt: 1 });
      expect(await store.get("x")).toEqual({ lastAccessedAt: 1 });
      const primary = await group.currentPrimary();
      expect(await cli(primary.port, ["GET", `${prefix}x`])).toBe('{"lastAccessedAt":1}');
      const s = openStream();
      await a.create("s", s.controller);
      await b.send(["s"], "hello");
      await waitFor(() => s.received.length === 1, "a message through the sentinel-found primary");
      expect(s.received).toEqual(["hello"]);
    } finally {
      await Promise.allSettled([a.close(), b.close(), store.close()]);
    }
  });

  test("bad Sentinel settings are TypeErrors naming the field", () => {
    expectThrow(() => new native.RedisSessionStore({ url: "redis+sentinel://127.0.0.1:1" }), "TypeError", /primary's name is missing/);
    expectThrow(() => new native.RedisSessionStore({ url: "redis+sentinel://127.0.0.1:x/m" }), "TypeError", /not a TCP port/);
    expectThrow(() => new native.RedisSessionStore({ sentinels: [{ host: "127.0.0.1", port: 1 }] }), "TypeError", /config.name is required/);
    expectThrow(() => new native.RedisSessionStore({ sentinels: [], name: "m" }), "TypeError", /config.sentinels must be a non-empty array/);
    expectThrow(() => new native.RedisSessionStore({ sentinels: [{ port: 1 }], name: "m", role: "slave" }), "TypeError", /role/);
    expectThrow(() => new native.RedisSessionStore({ url: group.url, sentinels: group.sentinels, name: "m" }), "TypeError", /one of url, nodes and sentinels/);
  });

  test("a forced failover under load: writes succeed again, every send that resolved is delivered once and in order, has() stays true", async () => {
    const prefix = uniquePrefix("nfail");
    const store = new native.RedisSessionStore({ url: group.url, prefix });
    const a = new native.RedisStreamManager({ url: group.url, prefix: `${prefix}st:`, heartbeatInterval: 1 });
    const b = new native.RedisStreamManager({ url: group.url, prefix: `${prefix}st:`, heartbeatInterval: 1 });
    try {
      const s = openStream();
      await a.create("s", s.controller);
      const sent = [];
      let stop = false;
      const load = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            await b.send(["s"], `m${i}`);
            sent.push(`m${i}`);
          } catch {
            // rejected: not sent, so not expected
          }
          await store.set("w", { lastAccessedAt: i }).catch(() => {});
          await sleep(20);
        }
      })();
      await sleep(300);
      const { from, to } = await group.failover();
      expect(to.port).not.toBe(from.port);
      await eventually(() => store.set("after", { lastAccessedAt: 1 }), "a write after the failover");
      expect(await cli(to.port, ["GET", `${prefix}after`])).toBe('{"lastAccessedAt":1}');
      await sleep(1500);
      stop = true;
      await load;
      await eventually(() => b.send(["s"], "last"), "a send after the failover");
      sent.push("last");
      await waitFor(() => s.received.includes("last"), "the last message", 20_000);
      await sleep(300);
      expect(s.received).toEqual(sent);
      expect(await b.has("s")).toBe(true);
    } finally {
      await Promise.allSettled([a.close(), b.close(), store.close()]);
    }
  }, 90_000);

  test("the primary killed: the other node is promoted and writes and streams work again", async () => {
    const prefix = uniquePrefix("nkillp");
    const store = new native.RedisSessionStore({ sentinels: group.sentinels, name: group.name, prefix });
    const a = new native.RedisStreamManager({ url: group.url, prefix: `${prefix}st:`, heartbeatInterval: 1 });
    const b = new native.RedisStreamManager({ url: group.url, prefix: `${prefix}st:`, heartbeatInterval: 1 });
    try {
      const s = openStream();
      await a.create("s", s.controller);
      await store.set("before", { lastAccessedAt: 1 });
      const { promoted } = await group.killPrimary();
      await eventually(() => store.set("after", { lastAccessedAt: 2 }), "a write after the primary was killed");
      expect(await cli(promoted.port, ["GET", `${prefix}after`])).toBe('{"lastAccessedAt":2}');
      await eventually(() => b.send(["s"], "after"), "a send after the primary was killed");
      await waitFor(() => s.received.includes("after"), "the send after the promotion", 30_000);
      expect(await b.has("s")).toBe(true);
    } finally {
      await Promise.allSettled([a.close(), b.close(), store.close()]);
    }
  }, 90_000);
});
