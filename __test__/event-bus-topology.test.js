"use strict";
// RedisServerEventBus on a private Redis Cluster and a Sentinel group (helpers/topology.js), as
// redis-topology-native.test.js does for the stream manager: every way to connect; the bus's
// key and channel on one slot (sharded pub/sub by default, classic on request); the primary of
// that slot killed under load; a forced Sentinel failover under load and the Sentinel primary
// killed (no duplicate, order kept, what the old primary had not replicated counted as lost
// and missing from the new primary's log too, everything after the promotion delivered).
const { describeTopology, startCluster, startSentinelGroup, cli } = require("./helpers/topology");
const { uniquePrefix } = require("./helpers/redis");

const nodeRequire = typeof __nodeRequire === "function" ? __nodeRequire : require;
const { RedisServerEventBus } = nodeRequire("../../index.js");

jest.setTimeout(120_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pred()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Two buses on `config`, B collecting the uris of A's resource_updated events. */
async function pair(config) {
  const a = new RedisServerEventBus(config);
  const b = new RedisServerEventBus(config);
  const atB = [];
  b.subscribe((e) => atB.push(e.uri));
  for (const bus of [a, b]) {
    await waitFor(() => bus.health().subscriber.state === "up" && bus.stats().catchUps > 0, "the bus to be ready");
  }
  return { a, b, atB, close: () => Promise.allSettled([a.close(), b.close()]) };
}

const ev = (n) => ({ kind: "resource_updated", uri: `u://${n}` });
const uris = (from, to) => Array.from({ length: to - from }, (_, i) => `u://${from + i}`);

/** Publishes on `a` every 15 ms until stopped; returns { stop(), published }. */
function load(a, from) {
  let n = from;
  let stopped = false;
  const published = [];
  const run = (async () => {
    while (!stopped) {
      a.publish(ev(n));
      published.push(`u://${n}`);
      n++;
      await sleep(15);
    }
  })();
  return {
    published,
    next: () => n,
    async stop() {
      stopped = true;
      await run;
    },
  };
}

/** Received in publish order, without duplicates. */
function expectOrderedUnique(received, published) {
  expect(new Set(received).size).toBe(received.length);
  const index = new Map(published.map((u, i) => [u, i]));
  const positions = received.map((u) => index.get(u));
  expect(positions.every((p) => p !== undefined)).toBe(true);
  expect(positions).toEqual([...positions].sort((x, y) => x - y));
}

describeTopology("RedisServerEventBus on a Redis Cluster", () => {
  let cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  afterAll(async () => {
    if (cluster) await cluster.stop();
  }, 30_000);

  const ways = [
    ["{ url } of one node, sharded pub/sub (default)", () => ({ url: cluster.url })],
    ["{ nodes }, sharded pub/sub (default)", () => ({ nodes: cluster.nodes })],
    ["{ nodes }, classic pub/sub", () => ({ nodes: cluster.nodes, shardedPubSub: false })],
  ];

  test.each(ways)("%s: events cross, the log is on the slot of its hash tag", async (_label, config) => {
    const prefix = uniquePrefix("cbus");
    const p = await pair({ ...config(), prefix });
    try {
      for (let n = 0; n < 20; n++) p.a.publish(ev(n));
      await waitFor(() => p.atB.length >= 20, "20 events at B");
      await sleep(200);
      expect(p.atB).toEqual(uris(0, 20));
      const key = `{${prefix}}log`;
      const owner = await cluster.primaryOf(key);
      expect(Number(await cli(owner.port, ["XLEN", key]))).toBe(20);
      expect(await cluster.slotOf(`{${prefix}}live`)).toBe(await cluster.slotOf(key));
    } finally {
      await p.close();
    }
  });

  test("the primary of the bus's slot killed under load: no duplicate, order kept, losses counted, delivery resumes", async () => {
    const prefix = uniquePrefix("ckill");
    const p = await pair({ nodes: cluster.nodes, prefix, commandTimeoutMs: 2000 });
    try {
      const l = load(p.a, 0);
      await sleep(300);
      await cluster.killPrimaryOf(`{${prefix}}log`);
      await sleep(500);
      await l.stop();
      const after = l.next();
      for (let n = after; n < after + 20; n++) p.a.publish(ev(n));
      const all = [...l.published, ...uris(after, after + 20)];
      await waitFor(() => uris(after, after + 20).every((u) => p.atB.includes(u)), "the events after the promotion", 60_000).catch((e) => {
        console.log(JSON.stringify({ a: [p.a.stats(), p.a.health()], b: [p.b.stats(), p.b.health()], got: p.atB.length, all: all.length }, null, 1));
        throw e;
      });
      await sleep(300);
      expectOrderedUnique(p.atB, all);
      // What B missed was appended to the dead primary and never replicated: counted, not silent.
      const missing = all.length - p.atB.length;
      expect(p.b.stats().eventsLost).toBe(missing);
      expect(p.a.stats().outboxEvents).toBe(0);
    } finally {
      await p.close();
    }
  });
});

describeTopology("RedisServerEventBus on a Sentinel group", () => {
  let group;
  beforeAll(async () => {
    group = await startSentinelGroup();
  }, 60_000);
  afterAll(async () => {
    if (group) await group.stop();
  }, 30_000);

  test.each([
    ["redis+sentinel:// URL", () => ({ url: group.url })],
    ["{ sentinels, name }", () => ({ sentinels: group.sentinels, name: group.name })],
  ])("%s: events cross through the primary", async (_label, config) => {
    const p = await pair({ ...config(), prefix: uniquePrefix("sbus") });
    try {
      for (let n = 0; n < 10; n++) p.a.publish(ev(n));
      await waitFor(() => p.atB.length >= 10, "10 events at B");
      expect(p.atB).toEqual(uris(0, 10));
    } finally {
      await p.close();
    }
  });

  // Replication is asynchronous, so even a forced failover may lose what the old primary took
  // between the replica's promotion and the publisher's switch: B, already on the new primary,
  // never sees it, and the new primary's log never had it. The bus's part is what this checks:
  // nothing twice, order kept, every gap counted, nothing the log holds left undelivered, and
  // everything published once the failover settled delivered.
  test("a forced failover under load: no duplicate, order kept, losses counted and only where the log lost them", async () => {
    const prefix = uniquePrefix("sfail");
    const p = await pair({ url: group.url, prefix, commandTimeoutMs: 2000 });
    try {
      const l = load(p.a, 0);
      await sleep(300);
      const { from, to } = await group.failover({ demote: true });
      expect(to.port).not.toBe(from.port);
      await sleep(1000);
      await l.stop();
      const after = l.next();
      for (let n = after; n < after + 20; n++) p.a.publish(ev(n));
      const all = [...l.published, ...uris(after, after + 20)];
      await waitFor(() => uris(after, after + 20).every((u) => p.atB.includes(u)), "the events after the failover", 60_000);
      await sleep(300);
      expectOrderedUnique(p.atB, all);
      const missing = all.filter((u) => !p.atB.includes(u));
      expect(p.b.stats().eventsLost).toBe(missing.length);
      const log = await cli(to.port, ["XRANGE", `{${prefix}}log`, "-", "+"]);
      expect(uris(after, after + 20).every((u) => log.includes(`"${u}"`))).toBe(true); // the right log
      expect(missing.filter((u) => log.includes(`"${u}"`))).toEqual([]);
    } finally {
      await p.close();
    }
  }, 120_000);

  test("the primary killed: no duplicate, order kept, losses counted, delivery resumes on the promoted node", async () => {
    const p = await pair({ sentinels: group.sentinels, name: group.name, prefix: uniquePrefix("skill"), commandTimeoutMs: 2000 });
    try {
      const l = load(p.a, 0);
      await sleep(300);
      await group.killPrimary();
      await sleep(500);
      await l.stop();
      const after = l.next();
      for (let n = after; n < after + 20; n++) p.a.publish(ev(n));
      const all = [...l.published, ...uris(after, after + 20)];
      await waitFor(() => uris(after, after + 20).every((u) => p.atB.includes(u)), "the events after the promotion", 60_000);
      await sleep(300);
      expectOrderedUnique(p.atB, all);
      expect(p.b.stats().eventsLost).toBe(all.length - p.atB.length);
    } finally {
      await p.close();
    }
  }, 120_000);
});
