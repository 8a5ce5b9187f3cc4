"use strict";
// Private Redis topologies for tests: a Redis Cluster and a Sentinel group, each on free
// loopback ports with its own temp dir, every process killed and the dir removed by stop().
//
//   const { describeTopology, startCluster, startSentinelGroup } = require("./helpers/topology");
//   describeTopology("on a cluster", () => { let c; beforeAll(async () => { c = await startCluster(); }); ... });
//
// Needs redis-server and redis-cli; without them a describeTopology suite FAILS, unless
// MCP_TEST_SKIP_REDIS=1 (never honoured with CI=true), as describeRedis does. Processes are
// registered next to the jest state file, so the global teardown kills what a crashed suite
// left behind.

const rs = require("./redis-server");
const { HOST, Group, cli, cliRaw, infoFields, missingBinaries } = require("./topology-procs");

const SLOTS = 16384;

function describeTopology(name, fn) {
  const why = missingBinaries();
  if (!why) return describe(name, fn);
  if (!rs.redisSkipAllowed()) {
    return describe(name, () => {
      test(`redis-server and redis-cli required (MCP_TEST_SKIP_REDIS=1 skips): ${why}`, () => {
        throw new Error(`topology suite "${name}" cannot run: ${why}`);
      });
    });
  }
  return describe.skip(`${name} [SKIPPED: ${why}]`, fn);
}

/** The lines of `CLUSTER NODES`, parsed. */
function parseNodes(text) {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim())
    .map((line) => {
      const [id, addr, flags, master, , , , link, ...slots] = line.trim().split(/\s+/);
      const [hostPort] = addr.split("@");
      const i = hostPort.lastIndexOf(":");
      const ranges = slots
        .filter((s) => !s.startsWith("["))
        .map((s) => s.split("-").map(Number))
        .map(([from, to = from]) => [from, to]);
      const f = flags.split(",");
      return {
        id,
        host: hostPort.slice(0, i),
        port: Number(hostPort.slice(i + 1)),
        primary: f.includes("master"),
        failed: f.includes("fail") || f.includes("fail?"),
        master,
        connected: link === "connected",
        ranges,
      };
    });
}

/**
 * A Redis Cluster of `primaries` primaries with `replicas` replicas each (`--cluster-node-timeout
 * 1000`, `--cluster-replica-validity-factor 0`, so a replica takes over within seconds of
 * its primary's SIGKILL). Resolves once every node says `cluster_state:ok` with all 16384
 * slots served and every replica has synced.
 */
async function startCluster({ replicas = 1, primaries = 3 } = {}) {
  const group = new Group("cluster");
  try {
    const ports = [];
    for (let i = 0; i < primaries * (1 + replicas); i++) {
      ports.push(
        await group.spawn(async (port) => [
          "--port", String(port),
          "--cluster-port", String(await rs.freePort()),
          "--bind", HOST,
          "--save", "",
          "--appendonly", "no",
          "--cluster-enabled", "yes",
          "--cluster-config-file", `${group.dir}/nodes-${port}.conf`,
          "--cluster-node-timeout", "1000",
          "--cluster-replica-validity-factor", "0",
          "--dir", group.dir,
        ]),
      );
    }
    await cliRaw(["--cluster", "create", ...ports.map((p) => `${HOST}:${p}`), "--cluster-replicas", String(replicas), "--cluster-yes"]);
    const cluster = clusterHandle(group, ports);
    await cluster.waitForState("ok");
    await rs.waitFor(async () => {
      const nodes = parseNodes(await cli(ports[0], ["CLUSTER", "NODES"]));
      if (nodes.length !== ports.length || nodes.filter((n) => n.primary).length !== primaries) return false;
      for (const n of nodes.filter((n) => !n.primary)) {
        if (infoFields(await cli(n.port, ["INFO", "replication"])).master_link_status !== "up") return false;
      }
      return true;
    }, 30_000, "every cluster replica to sync with its primary");
    return cluster;
  } catch (e) {
    await group.stop();
    throw e;
  }
}

function clusterHandle(group, ports) {
  const paused = new Set(); // SIGSTOPped nodes: never asked (they would not answer)
  const live = () => ports.filter((p) => group.procs.has(p) && !paused.has(p));
  const nodesView = async () => parseNodes(await cli(live()[0], ["CLUSTER", "NODES"]));
  const servingPrimaries = async () =>
    (await nodesView())
      .filter((n) => n.primary && !n.failed && n.ranges.length > 0 && group.procs.has(n.port) && !paused.has(n.port))
      .sort((a, b) => a.port - b.port);
  const ownerOf = async (slot) => (await servingPrimaries()).find((n) => n.ranges.some(([a, b]) => slot >= a && slot <= b));

  const cluster = {
    nodes: ports.map((port) => ({ host: HOST, port })),
    url: `redis://${HOST}:${ports[0]}`,
    dir: group.dir,
    /** The primaries serving slots now (from CLUSTER NODES), by port. */
    async primaries() {
      return (await servingPrimaries()).map(({ host, port }) => ({ host, port }));
    },
    /** Whether every live node says `cluster_state:<state>` (for ok: all slots served). */
    async waitForState(state = "ok", timeoutMs = 30_000) {
      await rs.waitFor(async () => {
        for (const port of live()) {
          let info;
          try {
            info = infoFields(await cli(port, ["CLUSTER", "INFO"]));
          } catch {
            return false;
          }
          if (info.cluster_state !== state) return false;
          if (state === "ok" && (Number(info.cluster_slots_assigned) !== SLOTS || Number(info.cluster_slots_ok) !== SLOTS)) return false;
        }
        return true;
      }, timeoutMs, `cluster_state:${state} on every live node`);
    },
    /** The slot of `key` (CLUSTER KEYSLOT). */
    async slotOf(key) {
      return Number(await cli(live()[0], ["CLUSTER", "KEYSLOT", key]));
    },
    /** The primary serving `key` now. */
    async primaryOf(key) {
      const owner = await ownerOf(await cluster.slotOf(key));
      return owner && { host: owner.host, port: owner.port };
    },
    /** SIGKILLs the node on `port`; resolves once its port refuses. */
    async killNode(port) {
      await group.killAndWait(port);
    },
    /**
     * SIGKILLs the primary serving `key`, and resolves once a replica serves its slot and
     * the cluster is ok again: `{ killed, promoted }`.
     */
    async killPrimaryOf(key) {
      const slot = await cluster.slotOf(key);
      const killed = await ownerOf(slot);
      if (!killed) throw new Error(`no live primary serves slot ${slot}`);
      await group.killAndWait(killed.port);
      let promoted;
      await rs.waitFor(async () => {
        promoted = await ownerOf(slot).catch(() => undefined);
        return Boolean(promoted) && promoted.port !== killed.port;
      }, 30_000, `a replica to take over slot ${slot} from ${killed.port}`);
      await cluster.waitForState("ok");
      return { killed: { host: HOST, port: killed.port }, promoted: { host: HOST, port: promoted.port } };
    },
    /**
     * SIGSTOPs the primary serving `key` (it hangs: connections stay open, nothing answers)
     * and resolves once a replica serves its slot: `{ paused, promoted, resume() }`; resume()
     * sends SIGCONT, and the node rejoins as a replica.
     */
    async pausePrimaryOf(key) {
      const slot = await cluster.slotOf(key);
      const stopped = await ownerOf(slot);
      if (!stopped) throw new Error(`no live primary serves slot ${slot}`);
      group.signal(stopped.port, true);
      paused.add(stopped.port);
      let promoted;
      await rs.waitFor(async () => {
        const view = await nodesView().catch(() => []);
        promoted = view.find((n) => n.primary && !n.failed && n.port !== stopped.port && n.ranges.some(([a, b]) => slot >= a && slot <= b));
        return Boolean(promoted);
      }, 30_000, `a replica to take over slot ${slot} from the paused ${stopped.port}`);
      return {
        paused: { host: HOST, port: stopped.port },
        promoted: { host: HOST, port: promoted.port },
        resume: () => {
          group.signal(stopped.port, false);
          paused.delete(stopped.port);
        },
      };
    },
    async stop() {
      await group.stop();
    },
  };
  return cluster;
}

/** Ports listed as `port <n>` in a flattened (redis-cli --raw) SENTINEL reply. */
function portsIn(raw) {
  const lines = raw.split(/\r?\n/);
  const ports = [];
  for (let i = 0; i + 1 < lines.length; i++) if (lines[i] === "port") ports.push(Number(lines[i + 1]));
  return ports;
}

/**
 * A Sentinel group: a primary, one replica and three sentinels (quorum 2,
 * `down-after-milliseconds 1000`, `failover-timeout 5000`). Resolves once the replica has
 * synced and every sentinel knows the replica and the other two sentinels.
 */
async function startSentinelGroup({ name = "mymaster" } = {}) {
  const group = new Group("sentinel");
  const plain = (port) => ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", group.dir];
  try {
    const primaryPort = await group.spawn(async (port) => plain(port));
    const replicaPort = await group.spawn(async (port) => [...plain(port), "--replicaof", HOST, String(primaryPort)]);
    await rs.waitFor(async () => infoFields(await cli(replicaPort, ["INFO", "replication"])).master_link_status === "up", 15_000, "the replica to sync");
    const sentinelPorts = [];
    for (let i = 0; i < 3; i++) {
      sentinelPorts.push(
        await group.spawn(async (port) => {
          const conf = `${group.dir}/sentinel-${port}.conf`;
          require("node:fs").writeFileSync(
            conf,
            [
              `port ${port}`,
              `bind ${HOST}`,
              `dir ${group.dir}`,
              "sentinel resolve-hostnames no",
              `sentinel monitor ${name} ${HOST} ${primaryPort} 2`,
              `sentinel down-after-milliseconds ${name} 1000`,
              `sentinel failover-timeout ${name} 5000`,
              "",
            ].join("\n"),
          );
          return [conf, "--sentinel"];
        }),
      );
    }
    await rs.waitFor(async () => {
      for (const s of sentinelPorts) {
        if (!portsIn(await cli(s, ["SENTINEL", "REPLICAS", name])).includes(replicaPort)) return false;
        if (portsIn(await cli(s, ["SENTINEL", "SENTINELS", name])).length !== sentinelPorts.length - 1) return false;
      }
      return true;
    }, 30_000, "every sentinel to know the replica and the other sentinels");
    return sentinelHandle(group, name, primaryPort, replicaPort, sentinelPorts);
  } catch (e) {
    await group.stop();
    throw e;
  }
}

function sentinelHandle(group, name, primaryPort, replicaPort, sentinelPorts) {
  const liveSentinels = () => sentinelPorts.filter((p) => group.procs.has(p));
  const askedPrimary = async (port) => {
    const [host, p] = (await cli(port, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name])).split(/\r?\n/);
    return { host, port: Number(p) };
  };
  const role = async (port) => (await cli(port, ["ROLE"])).split(/\r?\n/)[0];
  /** Resolves once every live sentinel names `port` and its ROLE is master. */
  const settledOn = (port, what) =>
    rs.waitFor(async () => {
      try {
        for (const s of liveSentinels()) if ((await askedPrimary(s)).port !== port) return false;
        return (await role(port)) === "master";
      } catch {
        return false;
      }
    }, 30_000, what);

  const handle = {
    name,
    primary: { host: HOST, port: primaryPort },
    replica: { host: HOST, port: replicaPort },
    sentinels: sentinelPorts.map((port) => ({ host: HOST, port })),
    url: `redis+sentinel://${sentinelPorts.map((p) => `${HOST}:${p}`).join(",")}/${name}`,
    dir: group.dir,
    /** The primary the sentinels name now (SENTINEL get-master-addr-by-name). */
    async currentPrimary() {
      return askedPrimary(liveSentinels()[0]);
    },
    /**
     * `SENTINEL FAILOVER` on a sentinel, once the replica has caught up; resolves once every
     * sentinel names the other node and that node's ROLE says master: `{ from, to }`.
     *
     * The old primary stays a primary until the sentinels convert it (`+convert-to-slave`,
     * 8 to 10 s later), and a failover back must wait for that. `demote: true` does at once
     * what they would do then: `REPLICAOF` the new primary and `CLIENT KILL` of its normal
     * and pub/sub clients (which then look for the primary again), so failovers can follow
     * each other within seconds.
     */
    async failover({ demote = false } = {}) {
      const from = await handle.currentPrimary();
      const to = from.port === primaryPort ? replicaPort : primaryPort;
      // Sentinel promotes without waiting for the replica to catch up: first wait until it
      // has everything the primary had (its offset read after the primary's), so no write
      // acknowledged before failover() is lost.
      await rs.waitFor(async () => {
        try {
          const primaryOffset = Number(infoFields(await cli(from.port, ["INFO", "replication"])).master_repl_offset);
          const replica = infoFields(await cli(to, ["INFO", "replication"]));
          return replica.master_link_status === "up" && Number(replica.slave_repl_offset) >= primaryOffset;
        } catch {
          return false;
        }
      }, 30_000, `the replica ${to} to catch up with the primary ${from.port}`);
      // The demoted node may still be syncing from an earlier failover (NOGOODSLAVE): retry.
      await rs.waitFor(async () => {
        try {
          return (await cli(liveSentinels()[0], ["SENTINEL", "FAILOVER", name])) === "OK";
        } catch (e) {
          if (/NOGOODSLAVE|INPROG/.test(e.message)) return false;
          throw e;
        }
      }, 30_000, "SENTINEL FAILOVER to be accepted");
      await settledOn(to, `the sentinels to name ${to} the primary after SENTINEL FAILOVER`);
      if (demote) {
        await cli(from.port, ["REPLICAOF", HOST, String(to)]);
        await cli(from.port, ["CLIENT", "KILL", "TYPE", "normal"]);
        await cli(from.port, ["CLIENT", "KILL", "TYPE", "pubsub"]);
      }
      return { from, to: { host: HOST, port: to } };
    },
    /** SIGKILLs the current primary; resolves once the other node is primary: `{ killed, promoted }`. */
    async killPrimary() {
      const killed = await handle.currentPrimary();
      const to = killed.port === primaryPort ? replicaPort : primaryPort;
      await group.killAndWait(killed.port);
      await settledOn(to, `the sentinels to promote ${to} after ${killed.port} was killed`);
      return { killed, promoted: { host: HOST, port: to } };
    },
    async stop() {
      await group.stop();
    },
  };
  return handle;
}

module.exports = { describeTopology, startCluster, startSentinelGroup, parseNodes, cli };
