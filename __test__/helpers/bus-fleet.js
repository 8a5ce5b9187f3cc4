"use strict";
// Two instances of examples/bus-fleet/server.mjs (createMcpHandler from
// @modelcontextprotocol/server 2.x, over Node's http) in child processes, the project's
// round-robin proxy (examples/fleet/proxy.mjs) in front, and the official SDK v2 client pinned
// to the 2026-07-28 protocol with one `subscriptions/listen` stream through the proxy.
const { spawn } = require("node:child_process");
const path = require("node:path");
const { freePort } = require("./redis-server");
const { ROOT } = require("./impls");

const nodeRequire = typeof __nodeRequire === "function" ? __nodeRequire : require;
const SERVER = path.join(ROOT, "examples", "bus-fleet", "server.mjs");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts one instance; resolves once it listens. `server`: another server script and the node
 * binary to run it with (the mcp-use 2.x fixture under Node 22), default the example's.
 */
async function startInstance({ name, redisUrl, bus, prefix, server = {} }) {
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), INSTANCE: name, REDIS_URL: redisUrl, BUS: bus, BUS_PREFIX: prefix, ...server.env };
  const proc = spawn(server.node || process.execPath, [server.script || SERVER], { cwd: server.cwd || ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`instance ${name} did not listen:\n${out}`)), 30_000);
    const onData = (d) => {
      out += d;
      if (/MCP \(2026-07-28\) on /.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`instance ${name} exited (${code}):\n${out}`));
    });
  });
  return {
    name,
    port,
    output: () => out,
    async notify(kind, uri) {
      const r = await fetch(`http://127.0.0.1:${port}/notify`, { method: "POST", body: JSON.stringify({ kind, uri }) });
      if (r.status !== 204) throw new Error(`notify on ${name}: ${r.status} ${await r.text()}`);
    },
    async bus() {
      return (await fetch(`http://127.0.0.1:${port}/bus`)).json();
    },
    stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        const force = setTimeout(() => proc.kill("SIGKILL"), 5000);
        proc.on("exit", () => {
          clearTimeout(force);
          resolve();
        });
        proc.kill("SIGTERM");
      });
    },
  };
}

const METHODS = {
  tools: "notifications/tools/list_changed",
  prompts: "notifications/prompts/list_changed",
  resources: "notifications/resources/list_changed",
  resource: "notifications/resources/updated",
};

/**
 * Two instances, the proxy and a listening client. `uris`: the resource URIs the listen stream
 * subscribes to. `received` collects `kind` (and `kind uri` for updates) per notification.
 */
async function startBusFleet({ redisUrl, bus, prefix, uris, server }) {
  const instances = [];
  let proxy;
  let client;
  try {
    for (const name of ["a", "b"]) instances.push(await startInstance({ name, redisUrl, bus, prefix, server }));
    const { roundRobinProxy } = nodeRequire(path.join(ROOT, "examples", "fleet", "proxy.mjs"));
    proxy = roundRobinProxy(instances.map((i) => ({ host: "127.0.0.1", port: i.port })));
    await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const { Client, StreamableHTTPClientTransport } = nodeRequire("@modelcontextprotocol/client");
    client = new Client({ name: "bus-fleet-test", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    const received = [];
    for (const [kind, method] of Object.entries(METHODS)) {
      client.setNotificationHandler(method, (n) => received.push(kind === "resource" ? `${kind} ${n.params.uri}` : kind));
    }
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${proxy.address().port}/mcp`)));
    const subscription = await client.listen({
      toolsListChanged: true,
      promptsListChanged: true,
      resourcesListChanged: true,
      resourceSubscriptions: uris,
    });
    return {
      instances,
      received,
      subscription,
      async stop() {
        await subscription.close().catch(() => {});
        await client.close().catch(() => {});
        proxy.closeAllConnections();
        proxy.close();
        await Promise.all(instances.map((i) => i.stop()));
      },
    };
  } catch (e) {
    if (client) await client.close().catch(() => {});
    if (proxy) proxy.close();
    await Promise.all(instances.map((i) => i.stop()));
    throw e;
  }
}

/** Waits until `pred()` holds or `ms` pass (then returns false). */
async function until(pred, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await sleep(20);
  }
  return pred();
}

module.exports = { startBusFleet, until, sleep };
