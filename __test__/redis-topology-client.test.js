"use strict";
// driver "client" on Redis beyond one node: the addon's Redis classes driving node-redis v5
// and ioredis Cluster and Sentinel objects through their own methods, on a private cluster
// (three primaries, three replicas) and a private sentinel group (helpers/topology.js).
//
// Cluster: the store's keys() and clear() reach every primary (a cluster client's own
// `keys` asks one node, and a `del` of keys in several slots fails with CROSSSLOT); the
// stream manager's send, broadcast, delete and close work across slots and instances, also
// in a mixed fleet with mcp-use's classes. Sentinel: round trips, the store recovers after a
// failover, and a live stream stays visible and reachable across 10 forced failovers.
const { impls } = require("./helpers/impls");
const { describeTopology, startCluster, startSentinelGroup, cli } = require("./helpers/topology");
const { uniquePrefix } = require("./helpers/redis");
const { openStream, waitFor, sleep } = require("./redis/streams");
const { clusterFlavours, sentinelFlavours, closeAll, keysPerPrimary, quietReference, ids, sorted } = require("./redis/topology-clients");

const native = impls.find(([n]) => n === "native")?.[1];
const ref = impls.find(([n]) => n === "mcp-use")?.[1];
const describeNative = native ? describeTopology : describe.skip;

quietReference();

describeNative("driver \"client\" on a Redis Cluster", () => {
  let cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  afterAll(async () => {
    await closeAll();
    if (cluster) await cluster.stop();
  }, 30_000);

  describe.each(clusterFlavours(() => cluster))("%s", (_label, make) => {
    let prefix;
    beforeEach(() => {
      prefix = uniquePrefix("topo");
    });

    async function managers(n) {
      const out = [];
      for (let i = 0; i < n; i++) {
        out.push(new native.RedisStreamManager({ client: await make(), pubSubClient: await make(), prefix, driver: "client", heartbeatInterval: 5 }));
      }
      return out;
    }

    test("RedisSessionStore: 60 sessions spread over the three primaries; get, keys, delete and clear see every one", async () => {
      const store = new native.RedisSessionStore({ client: await make(), prefix, driver: "client" });
      expect(store.driver).toBe("client");
      const sids = ids(60, "s");
      await Promise.all(sids.map((sid, i) => store.set(sid, { lastAccessedAt: i })));
      const spread = await keysPerPrimary(cluster, `${prefix}*`);
      expect(Object.keys(spread)).toHaveLength(3);
      expect(Object.values(spread).every((n) => n > 0)).toBe(true);
      expect(Object.values(spread).reduce((a, b) => a + b, 0)).toBe(60);

      for (const [i, sid] of sids.entries()) expect(await store.get(sid)).toEqual({ lastAccessedAt: i });
      expect(sorted(await store.keys())).toEqual(sorted(sids));
      await store.delete(sids[0]);
      expect(await store.has(sids[0])).toBe(false);
      expect(sorted(await store.keys())).toEqual(sorted(sids.slice(1)));

      await store.clear();
      expect(Object.values(await keysPerPrimary(cluster, `${prefix}*`))).toEqual([0, 0, 0]);
      expect(await store.keys()).toEqual([]);
    });

    test("RedisStreamManager: send and broadcast between two instances, over sessions in many slots", async () => {
      const [a, b] = await managers(2);
      try {
        const onA = openStream();
        await a.create("on-a", onA.controller);
        const onB = Object.fromEntries(ids(6, "on-b").map((sid) => [sid, openStream()]));
        for (const [sid, s] of Object.entries(onB)) await b.create(sid, s.controller);
        expect(Object.values(await keysPerPrimary(cluster, `available:${prefix}*`)).filter((n) => n > 0).length).toBeGreaterThan(1);

        await a.send(["on-b-3"], "data: one\n\n");
        await b.send(["on-a"], "data: two\n\n");
        await waitFor(() => onB["on-b-3"].received.length === 1 && onA.received.length === 1, "the targeted sends");
        expect([onB["on-b-3"].received, onA.received]).toEqual([["data: one\n\n"], ["data: two\n\n"]]);

        await a.send(undefined, "data: all\n\n");
        const every = [onA, ...Object.values(onB)];
        await waitFor(() => every.every((s) => s.received.includes("data: all\n\n")), "the broadcast on both instances");
        expect(await a.has("on-b-5")).toBe(true);
      } finally {
        await Promise.allSettled([a.close(), b.close()]);
      }
    });

    test("RedisStreamManager: delete of another instance's stream, and close, leave no key of theirs", async () => {
      const [a, b] = await managers(2);
      try {
        const onA = openStream();
        await a.create("kept", onA.controller);
        const onB = Object.fromEntries(ids(8, "b").map((sid) => [sid, openStream()]));
        for (const [sid, s] of Object.entries(onB)) await b.create(sid, s.controller);

        await a.delete("b-0");
        await waitFor(() => onB["b-0"].closed, "the holder to close the deleted stream");
        expect(await a.has("b-0")).toBe(false);
        expect(await b.has("b-0")).toBe(false);

        await b.close();
        const left = await Promise.all((await cluster.primaries()).map((p) => cli(p.port, ["KEYS", `available:${prefix}*`])));
        expect(left.join("\n").split("\n").filter(Boolean)).toEqual([`available:${prefix}kept`]);
        for (const sid of Object.keys(onB)) expect(await a.has(sid)).toBe(false);
        expect(await a.has("kept")).toBe(true);
      } finally {
        await Promise.allSettled([a.close(), b.close()]);
      }
    });
  });

  const describeMixed = ref ? describe.each(clusterFlavours(() => cluster)) : describe.skip.each([["-", null]]);
  describeMixed("mixed fleet: mcp-use's classes on node-redis cluster objects, ours driving %s", (label, make) => {
    const [, nodeRedisCluster] = clusterFlavours(() => cluster)[0];
    let prefix, mine, theirs;
    beforeEach(async () => {
      prefix = uniquePrefix("topo-mixed");
      mine = new native.RedisStreamManager({ client: await make(), pubSubClient: await make(), prefix, driver: "client", heartbeatInterval: 5 });
      theirs = new ref.RedisStreamManager({ client: await nodeRedisCluster(), pubSubClient: await nodeRedisCluster(), prefix, heartbeatInterval: 5 });
    });
    afterEach(async () => {
      await Promise.allSettled([mine.close(), theirs.close()]);
    });

    async function pair() {
      const atMine = openStream();
      const atTheirs = openStream();
      await mine.create("held-by-ours", atMine.controller);
      await theirs.create("held-by-mcp-use", atTheirs.controller);
      return { atMine, atTheirs };
    }

    test("targeted sends both ways", async () => {
      const { atMine, atTheirs } = await pair();
      await mine.send(["held-by-mcp-use"], "data: from ours\n\n");
      await theirs.send(["held-by-ours"], "data: from mcp-use\n\n");
      await waitFor(() => atMine.received.length === 1 && atTheirs.received.length === 1, "the targeted sends");
      expect([atMine.received, atTheirs.received]).toEqual([["data: from mcp-use\n\n"], ["data: from ours\n\n"]]);
    });

    test("broadcasts both ways (mcp-use's reaches ours when our client has sAdd: node-redis)", async () => {
      const { atMine, atTheirs } = await pair();
      await mine.send(undefined, "data: ours to all\n\n");
      await waitFor(() => atMine.received.length === 1 && atTheirs.received.length === 1, "our broadcast on both");
      expect([atMine.received, atTheirs.received]).toEqual([["data: ours to all\n\n"], ["data: ours to all\n\n"]]);
      const owner = await cluster.primaryOf(`${prefix}active`);
      const members = (await cli(owner.port, ["SMEMBERS", `${prefix}active`])).split("\n").sort();
      if (label.startsWith("ioredis")) {
        // [known gap, not the topology's: ioredis has sadd, not sAdd, so a driven ioredis
        // object adds nothing to the active set, which is all mcp-use's broadcast reads]
        expect(members).toEqual(["held-by-mcp-use"]);
        return;
      }
      expect(members).toEqual(["held-by-mcp-use", "held-by-ours"]);
      await theirs.send(undefined, "data: mcp-use to all\n\n");
      await waitFor(() => atMine.received.length === 2 && atTheirs.received.length === 2, "mcp-use's broadcast on both");
      expect([atMine.received[1], atTheirs.received[1]]).toEqual(["data: mcp-use to all\n\n", "data: mcp-use to all\n\n"]);
    });

    test("deletes both ways", async () => {
      const { atMine, atTheirs } = await pair();
      await mine.delete("held-by-mcp-use");
      // One at a time: mcp-use's holder unsubscribes in its delete listener, and two
      // concurrent UNSUBSCRIBEs on a node-redis cluster object fail (ClientClosedError).
      await waitFor(() => atTheirs.closed, "mcp-use's holder to close the stream ours deleted");
      await theirs.delete("held-by-ours");
      await waitFor(() => atMine.closed, "our holder to close the stream mcp-use deleted");
      expect([await mine.has("held-by-mcp-use"), await theirs.has("held-by-ours")]).toEqual([false, false]);
    });

    test("sessions written by mcp-use's store are all seen by ours, and the other way round [reference defect shown: its keys() asks one primary]", async () => {
      const refStore = new ref.RedisSessionStore({ client: await nodeRedisCluster(), prefix });
      const ours = new native.RedisSessionStore({ client: await make(), prefix, driver: "client" });
      const sids = ids(60, "m");
      for (const [i, sid] of sids.entries()) await refStore.set(sid, { lastAccessedAt: i, by: "mcp-use" });
      expect(sorted(await ours.keys())).toEqual(sorted(sids));
      expect((await refStore.keys()).length).toBeLessThan(60);
      await ours.set("from-ours", { lastAccessedAt: 1, by: "ours" });
      expect(await refStore.get("from-ours")).toEqual({ lastAccessedAt: 1, by: "ours" });
      expect(await ours.get("m-7")).toEqual({ lastAccessedAt: 7, by: "mcp-use" });
      await ours.clear();
      expect(Object.values(await keysPerPrimary(cluster, `${prefix}*`))).toEqual([0, 0, 0]);
    });
  });
});

describeNative("driver \"client\" on a Sentinel group", () => {
  let group;
  beforeAll(async () => {
    group = await startSentinelGroup();
  }, 60_000);
  afterAll(async () => {
    await closeAll();
    if (group) await group.stop();
  }, 30_000);

  describe.each(sentinelFlavours(() => group))("%s", (_label, make) => {
    let prefix;
    beforeEach(() => {
      prefix = uniquePrefix("topo-sentinel");
    });

    test("RedisSessionStore round trip, on the primary the sentinels name", async () => {
      const store = new native.RedisSessionStore({ client: await make(), prefix, driver: "client" });
      await store.set("a", { lastAccessedAt: 1 });
      await store.setWithTTL("b", { lastAccessedAt: 2 }, 60_000);
      expect(await store.get("a")).toEqual({ lastAccessedAt: 1 });
      expect(await store.has("b")).toBe(true);
      expect(sorted(await store.keys())).toEqual(["a", "b"]);
      const primary = await group.currentPrimary();
      expect(await cli(primary.port, ["GET", `${prefix}a`])).toBe('{"lastAccessedAt":1}');
      await store.delete("a");
      expect(await store.get("a")).toBeNull();
      await store.clear();
      expect(await store.keys()).toEqual([]);
    });

    test("RedisStreamManager: send and delete between two instances", async () => {
      const make2 = async () => new native.RedisStreamManager({ client: await make(), pubSubClient: await make(), prefix, driver: "client", heartbeatInterval: 5 });
      const a = await make2();
      const b = await make2();
      try {
        const s = openStream();
        await b.create("sid", s.controller);
        await a.send(["sid"], "data: over sentinel\n\n");
        await a.send(undefined, "data: everyone\n\n");
        await waitFor(() => s.received.length === 2, "the send and the broadcast");
        expect(s.received).toEqual(["data: over sentinel\n\n", "data: everyone\n\n"]);
        await a.delete("sid");
        await waitFor(() => s.closed, "the holder to close the deleted stream");
        expect(await b.has("sid")).toBe(false);
      } finally {
        await Promise.allSettled([a.close(), b.close()]);
      }
    });

    test("after a failover the store's set and get work again, on the new primary", async () => {
      const store = new native.RedisSessionStore({ client: await make(), prefix, driver: "client", commandTimeoutMs: 2000 });
      await store.set("before", { lastAccessedAt: 1 });
      const { to } = await group.failover();
      // Liveness bound, not a speed check: the client follows the sentinels by itself. Until
      // the sentinels demote the old primary (and cut its clients) a write may still land
      // there and be lost: recovered means written through the store, read back through it,
      // and found on the new primary.
      let n = 0;
      await waitFor(async () => {
        const meta = { lastAccessedAt: ++n };
        try {
          await store.set("after", meta);
          const got = await store.get("after");
          const onNew = await cli(to.port, ["GET", `${prefix}after`]);
          return got !== null && got.lastAccessedAt === n && onNew === JSON.stringify(meta);
        } catch {
          return false;
        }
      }, "the store to write to the new primary after the failover", 30_000);
      expect(await store.get("before")).toEqual({ lastAccessedAt: 1 });
    }, 120_000);
  });

  // Issue 24 point 5. A driven client's heartbeat refreshes each availability key (expiry two
  // intervals). The refreshes the old primary takes after the promotion are lost with it, and
  // the client reaches the new primary only after its reconnect: when that is later than the
  // last replicated refresh plus the expiry, the key expires there. mcp-use's `expire` then
  // never brings it back (has() false, left out of broadcasts, for as long as the stream
  // lives); re-writing it as create did does. `demote` makes the old primary cut its clients
  // at once, as the sentinels do a few seconds later, so the loop is quick and every client
  // switches through a reconnect.
  test("a live stream held through each client stays visible and reachable across 10 forced failovers", async () => {
    const FAILOVERS = 10;
    const prefix = uniquePrefix("topo-failovers");
    const holders = [];
    for (const [label, make] of sentinelFlavours(() => group)) {
      const manager = new native.RedisStreamManager({ client: await make(), pubSubClient: await make(), prefix, driver: "client", heartbeatInterval: 1 });
      const stream = openStream();
      const sid = `live-${holders.length}`;
      await manager.create(sid, stream.controller);
      holders.push({ label, manager, stream, sid });
    }
    // The other side: a manager on the addon's own connections (which follow the sentinels
    // themselves) and, for each stream, the manager driving the other client.
    const observer = new native.RedisStreamManager({ url: group.url, prefix, heartbeatInterval: 1 });
    const other = (h) => holders.find((o) => o !== h).manager;
    const has = (manager, sid) => manager.has(sid).catch(() => false);
    try {
      for (const h of holders) expect([h.label, await has(observer, h.sid), await has(other(h), h.sid)]).toEqual([h.label, true, true]);
      for (let round = 1; round <= FAILOVERS; round++) {
        await group.failover({ demote: true });
        for (const h of holders) {
          const what = `after failover ${round} of ${FAILOVERS}, the stream held through ${h.label}`;
          // Liveness bounds (ten heartbeats), not speed checks.
          await waitFor(async () => (await has(observer, h.sid)) && (await has(other(h), h.sid)), `${what}: has() true on both other managers`, 10_000);
          // A send can land on a node the holder's subscription is not on yet: again until
          // one arrives.
          const text = `data: ${h.label} ${round}\n\n`;
          await waitFor(async () => {
            if (!h.stream.received.includes(text)) await other(h).send([h.sid], text).catch(() => {});
            await sleep(100);
            return h.stream.received.includes(text);
          }, `${what}: a message sent from the other manager to arrive`, 10_000);
          expect([h.label, h.stream.closed, h.stream.error]).toEqual([h.label, false, null]);
        }
      }
    } finally {
      await Promise.allSettled([observer.close(), ...holders.map((h) => h.manager.close())]);
    }
  }, 300_000);
});
