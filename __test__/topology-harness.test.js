"use strict";
// The topology harness itself (helpers/topology.js): a private Redis Cluster whose keys spread
// over its primaries and whose replica takes over a killed primary, and a Sentinel group
// whose failover swaps the primary; stop() leaves no process and no temp dir behind.
const fs = require("node:fs");
const { describeTopology, startCluster, startSentinelGroup, cli } = require("./helpers/topology");
const rs = require("./helpers/redis-server");
const { nodeRequire } = require("./helpers/impls");

const IORedis = nodeRequire("ioredis");

async function refused(ports) {
  const answers = await Promise.all(ports.map((p) => rs.ping(p, 200)));
  return answers.every((a) => a === false);
}

describeTopology("topology harness: cluster", () => {
  let cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  afterAll(async () => {
    if (cluster) await cluster.stop();
  }, 30_000);

  test("six loopback nodes, three primaries serving every slot, a redis:// url on the first node", async () => {
    expect(cluster.nodes).toHaveLength(6);
    for (const n of cluster.nodes) expect(n.host).toBe("127.0.0.1");
    expect(cluster.url).toBe(`redis://127.0.0.1:${cluster.nodes[0].port}`);
    const primaries = await cluster.primaries();
    expect(primaries).toHaveLength(3);
    for (const p of cluster.nodes) {
      const info = await cli(p.port, ["CLUSTER", "INFO"]);
      expect(info).toMatch(/cluster_state:ok/);
      expect(info).toMatch(/cluster_slots_ok:16384/);
    }
  });

  test("keys written through a cluster client land on every primary", async () => {
    const client = new IORedis.Cluster([cluster.nodes[0]]);
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `harness:spread:${i}`);
      for (const k of keys) await client.set(k, "v");
      const primaries = await cluster.primaries();
      const counts = await Promise.all(primaries.map(async (p) => (await cli(p.port, ["KEYS", "harness:spread:*"])).split("\n").filter(Boolean).length));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(30);
      for (const c of counts) expect(c).toBeGreaterThan(0);
      // primaryOf agrees with where the key is.
      const owner = await cluster.primaryOf(keys[0]);
      expect(await cli(owner.port, ["GET", keys[0]])).toBe("v");
    } finally {
      client.disconnect();
    }
  });

  test("killPrimaryOf SIGKILLs the key's primary and resolves once a replica serves its slot", async () => {
    await cluster.waitForState("ok");
    const before = await cluster.primaryOf("harness:victim");
    const { killed, promoted } = await cluster.killPrimaryOf("harness:victim");
    expect(killed).toEqual(before);
    expect(promoted.port).not.toBe(killed.port);
    expect(await rs.ping(killed.port, 200)).toBe(false);
    expect(await cluster.primaryOf("harness:victim")).toEqual(promoted);
    expect((await cluster.primaries()).map((p) => p.port)).not.toContain(killed.port);
    expect(await cli(promoted.port, ["ROLE"])).toMatch(/^master/);
  }, 60_000);

  test("stop() kills every node and removes the temp dir", async () => {
    const other = await startCluster();
    const ports = other.nodes.map((n) => n.port);
    expect(fs.existsSync(other.dir)).toBe(true);
    await other.stop();
    expect(await refused(ports)).toBe(true);
    expect(fs.existsSync(other.dir)).toBe(false);
  }, 60_000);
});

describeTopology("topology harness: sentinel", () => {
  let group;
  beforeAll(async () => {
    group = await startSentinelGroup();
  }, 60_000);
  afterAll(async () => {
    if (group) await group.stop();
  }, 30_000);

  test("a primary, a synced replica and three sentinels that name the primary", async () => {
    expect(group.name).toBe("mymaster");
    expect(group.sentinels).toHaveLength(3);
    expect(group.url).toBe(`redis+sentinel://${group.sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/mymaster`);
    expect(await group.currentPrimary()).toEqual(group.primary);
    expect(await cli(group.replica.port, ["ROLE"])).toMatch(/^slave/);
  });

  test("failover() swaps the primary: the sentinels name the replica, whose ROLE is master, and back", async () => {
    const first = await group.failover();
    expect(first).toEqual({ from: group.primary, to: group.replica });
    expect(await group.currentPrimary()).toEqual(group.replica);
    expect(await cli(group.replica.port, ["ROLE"])).toMatch(/^master/);
    const second = await group.failover();
    expect(second).toEqual({ from: group.replica, to: group.primary });
    expect(await group.currentPrimary()).toEqual(group.primary);
  }, 90_000);

  test("failover({ demote: true }) makes the old primary a replica of the new one at once", async () => {
    const { from, to } = await group.failover({ demote: true });
    expect(await group.currentPrimary()).toEqual(to);
    const role = (await cli(from.port, ["ROLE"])).split(/\r?\n/);
    expect(role.slice(0, 3)).toEqual(["slave", to.host, String(to.port)]);
    // and the next failover goes back to it
    expect(await group.failover({ demote: true })).toEqual({ from: to, to: from });
  }, 90_000);

  test("killPrimary() SIGKILLs the primary and resolves once the sentinels promoted the other node", async () => {
    const before = await group.currentPrimary();
    const { killed, promoted } = await group.killPrimary();
    expect(killed).toEqual(before);
    expect(promoted.port).not.toBe(killed.port);
    expect(await rs.ping(killed.port, 200)).toBe(false);
    expect(await group.currentPrimary()).toEqual(promoted);
  }, 60_000);

  test("stop() kills every process and removes the temp dir", async () => {
    const other = await startSentinelGroup();
    const ports = [other.primary, other.replica, ...other.sentinels].map((n) => n.port);
    await other.stop();
    expect(await refused(ports)).toBe(true);
    expect(fs.existsSync(other.dir)).toBe(false);
  }, 60_000);
});
