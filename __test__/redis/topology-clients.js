"use strict";
// Client objects for a private cluster or sentinel group (helpers/topology.js), of the two
// libraries mcp-use users pass: node-redis v5 (`createCluster`, `createSentinel`) and ioredis
// (`Cluster`, `new Redis({ sentinels, name })`). Each factory resolves once the object is
// usable; `closeAll()` disconnects every object made so far.
const { nodeRequire } = require("../helpers/impls");
const { cli } = require("../helpers/topology");

const { createCluster, createSentinel } = nodeRequire("redis");
const IORedis = nodeRequire("ioredis");

const made = [];

function ready(emitter) {
  return new Promise((resolve) => emitter.once("ready", resolve));
}

/** [[label, make()]] for a cluster. */
function clusterFlavours(cluster) {
  return [
    [
      "node-redis v5 createCluster",
      async () => {
        const c = createCluster({ rootNodes: [{ url: cluster().url }] });
        c.on("error", () => {});
        await c.connect();
        made.push(() => c.destroy());
        return c;
      },
    ],
    [
      "ioredis Cluster",
      async () => {
        const c = new IORedis.Cluster([cluster().nodes[0]]);
        c.on("error", () => {});
        await ready(c);
        made.push(() => c.disconnect());
        return c;
      },
    ],
  ];
}

/** [[label, make()]] for a sentinel group. */
function sentinelFlavours(group) {
  return [
    [
      "node-redis v5 createSentinel",
      async () => {
        const c = createSentinel({ name: group().name, sentinelRootNodes: group().sentinels });
        c.on("error", () => {});
        await c.connect();
        made.push(() => c.destroy());
        return c;
      },
    ],
    [
      "ioredis with sentinels",
      async () => {
        const c = new IORedis({ sentinels: group().sentinels, name: group().name });
        c.on("error", () => {});
        await ready(c);
        made.push(() => c.disconnect());
        return c;
      },
    ],
  ];
}

async function closeAll() {
  for (const close of made.splice(0)) {
    try {
      await close();
    } catch {}
  }
}

/** How many keys matching `pattern` each primary of `cluster` holds, by primary port. */
async function keysPerPrimary(cluster, pattern) {
  const counts = {};
  for (const p of await cluster.primaries()) {
    counts[p.port] = (await cli(p.port, ["KEYS", pattern])).split("\n").filter(Boolean).length;
  }
  return counts;
}

/** Silences the reference's console chatter ("Created stream for session ...") in a suite. */
function quietReference() {
  beforeAll(() => {
    jest.spyOn(console, "log").mockImplementation(() => {});
    jest.spyOn(console, "error").mockImplementation(() => {});
    jest.spyOn(console, "debug").mockImplementation(() => {});
  });
}

/** `n` session ids `tag-0` ... */
const ids = (n, tag) => Array.from({ length: n }, (_, i) => `${tag}-${i}`);
const sorted = (a) => [...a].sort();

module.exports = { clusterFlavours, sentinelFlavours, closeAll, keysPerPrimary, quietReference, ids, sorted };
