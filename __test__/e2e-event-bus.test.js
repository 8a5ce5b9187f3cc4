"use strict";
// Issue 23, with the real SDK v2: two processes serving createMcpHandler({ bus }) from
// @modelcontextprotocol/server 2.x behind a round-robin proxy, the official client
// (@modelcontextprotocol/client 2.x, pinned to 2026-07-28) listening through the proxy, and
// notify.resourceUpdated / toolsChanged / promptsChanged / resourcesChanged called on each
// instance in turn. With RedisServerEventBus every event reaches the client exactly once,
// also across a Redis restart in the middle of the run (events published while Redis is down
// included); with the SDK's InMemoryServerEventBus (the control) the events published on the
// instance that does not hold the listen stream are lost.
const { describeRedis, redisUrl, stopRedis, startRedis, uniquePrefix } = require("./helpers/redis");
const { startBusFleet, until, sleep } = require("./helpers/bus-fleet");

jest.setTimeout(120_000);

const KINDS = ["resource", "tools", "prompts", "resources"];

/** Calls notify on each instance in turn, every kind; returns what the client must receive. */
async function publishRound(fleet, tag) {
  const expected = [];
  for (const instance of fleet.instances) {
    for (const kind of KINDS) {
      const uri = `note://${tag}-${instance.name}`;
      await instance.notify(kind, uri);
      expected.push(kind === "resource" ? `${kind} ${uri}` : kind);
    }
  }
  return expected;
}

const sorted = (a) => [...a].sort();

describeRedis(
  "SDK v2 fleet: createMcpHandler on two instances behind a proxy",
  () => {
    let fleet;
    afterEach(async () => {
      if (fleet) await fleet.stop();
      fleet = null;
    });
    const uris = (tags) => tags.flatMap((t) => ["a", "b"].map((n) => `note://${t}-${n}`));

    test("RedisServerEventBus: every event reaches the listening client exactly once", async () => {
      fleet = await startBusFleet({ redisUrl: redisUrl(), bus: "redis", prefix: uniquePrefix("bus"), uris: uris([1, 2, 3]) });
      const expected = [];
      for (const tag of [1, 2, 3]) expected.push(...(await publishRound(fleet, tag)));
      expect(await until(() => fleet.received.length >= expected.length, 15_000)).toBe(true);
      await sleep(300);
      expect(sorted(fleet.received)).toEqual(sorted(expected));
      // One instance held the stream and got the other's events through Redis.
      const stats = await Promise.all(fleet.instances.map((i) => i.bus()));
      expect(stats.map((s) => s.stats.listeners).sort()).toEqual([0, 1]);
      const holder = stats.find((s) => s.stats.listeners === 1);
      expect(holder.stats.eventsReceived).toBeGreaterThanOrEqual(12);
    });

    test("RedisServerEventBus: exactly once across a Redis restart, events published while it is down included", async () => {
      fleet = await startBusFleet({ redisUrl: redisUrl(), bus: "redis", prefix: uniquePrefix("bus"), uris: uris([1, 2, 3]) });
      const expected = [...(await publishRound(fleet, 1))];
      expect(await until(() => fleet.received.length >= expected.length, 15_000)).toBe(true);
      await stopRedis("SIGKILL");
      // notify() returns at once while Redis is down; the events wait in each bus's outbox.
      expected.push(...(await publishRound(fleet, 2)));
      await startRedis();
      expected.push(...(await publishRound(fleet, 3)));
      expect(await until(() => fleet.received.length >= expected.length, 30_000)).toBe(true);
      await sleep(500);
      expect(sorted(fleet.received)).toEqual(sorted(expected));
      const health = await Promise.all(fleet.instances.map((i) => i.bus()));
      for (const h of health) expect(h.stats.outboxEvents).toBe(0);
      expect(health.some((h) => h.stats.appendErrors > 0 || h.stats.catchUps > 1)).toBe(true);
    });

    test("control: InMemoryServerEventBus loses the events published on the other instance", async () => {
      fleet = await startBusFleet({ redisUrl: redisUrl(), bus: "memory", prefix: "unused:", uris: uris([1, 2, 3]) });
      const all = [];
      const byInstance = { a: [], b: [] };
      for (const tag of [1, 2, 3]) {
        const round = await publishRound(fleet, tag);
        all.push(...round);
        byInstance.a.push(...round.slice(0, KINDS.length));
        byInstance.b.push(...round.slice(KINDS.length));
      }
      expect(await until(() => fleet.received.length >= all.length / 2, 15_000)).toBe(true);
      await sleep(500);
      // Exactly the holder's own events: the other half never left its process.
      const got = sorted(fleet.received);
      expect([sorted(byInstance.a), sorted(byInstance.b)]).toContainEqual(got);
      expect(got.length).toBe(all.length / 2);
    });
  },
  { needsControl: true },
);
