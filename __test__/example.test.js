"use strict";
// examples/server.mjs (`npm start`), driven with the official TypeScript SDK client:
// - file-system sessions: starts with NODE_ENV unset, says which session layer it uses, prints
//   no stack traces, serves the tools (progress, logging, a notification to another session),
//   writes .mcp-use/sessions.json, exits on SIGINT, and the session survives a restart;
//   /healthz, /readyz and /metrics answer;
// - REDIS_URL: the Redis classes (the addon's own { url } connections), metadata under
//   mcp:session:<sid>;
// - REDIS_URL while Redis is down: it starts anyway, /readyz answers 503 with the reason, and
//   200 once a redis-server comes up on that port (it used to exit after ~5 s: the addon's
//   connections reconnect by themselves, and a probe can now tell when it can serve);
// - a port in use: one clear line and exit code 1.
//
// MCP_TEST_IMPL=mcp-use runs a copy of the example that imports mcp-use's classes instead
// (the file-system cases only: mcp-use's Redis classes take no { url }, and it has no
// health(), stats() or renderPrometheus, for which the copy gets stand-ins).
const fs = require("node:fs");
const net = require("node:net");
const parsePrometheus = require("parse-prometheus-text-format");
const os = require("node:os");
const path = require("node:path");
const { e2eImpl, ROOT, nodeRequire } = require("./helpers/impls");
const { startServer, freePort, waitFor, FIXTURES } = require("./helpers/mcp");
const { runNode } = require("./helpers/child");
const example = require("./helpers/example-client");
const { describeRedis, redisUrl, stopRedis, startRedis } = require("./helpers/redis");

jest.setTimeout(120_000);

const EXAMPLE = path.join(ROOT, "examples", "server.mjs");
const READY = /example listening on http:\/\//; // printed once the socket accepts connections
const ENV = { NODE_ENV: "", REDIS_URL: "", MCP_USE_ANONYMIZED_TELEMETRY: "false" };

// mcp-use's own classes log as they go (and on close): only our output is held to "clean".
const expectCleanOutput = (output) => e2eImpl === "native" && example.expectCleanOutput(output);

const IMPORT = /^import \{[^}]*\} from "\.\.\/index\.mjs";$/m;
const MCP_USE_IMPORT = `import { FileSystemSessionStore, InMemoryStreamManager, RedisSessionStore, RedisStreamManager } from "mcp-use/server";
const renderPrometheus = () => "";
for (const C of [FileSystemSessionStore, InMemoryStreamManager]) C.prototype.health ??= () => ({ status: "ok" });`;

let script = EXAMPLE;
beforeAll(() => {
  if (e2eImpl === "mcp-use") {
    script = path.join(FIXTURES, `.example-mcp-use-${process.pid}.mjs`);
    const source = fs.readFileSync(EXAMPLE, "utf8");
    expect(source).toMatch(IMPORT);
    fs.writeFileSync(script, source.replace(IMPORT, MCP_USE_IMPORT));
  }
});

/** The example's /healthz, /readyz (parsed) and /metrics (parsed) at `mcpUrl`'s origin. */
async function operations(mcpUrl) {
  const origin = new URL(mcpUrl).origin;
  const health = await fetch(`${origin}/healthz`);
  const ready = await fetch(`${origin}/readyz`);
  const metrics = await fetch(`${origin}/metrics`);
  const text = await metrics.text();
  return {
    healthz: [health.status, await health.text()],
    readyz: [ready.status, await ready.json()],
    metrics: [metrics.status, metrics.headers.get("content-type"), Object.fromEntries(parsePrometheus(text).map((f) => [f.name, f]))],
  };
}

const sample = (families, name, labels) => families[name]?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels[k] === v));
afterAll(() => {
  if (script !== EXAMPLE) fs.rmSync(script, { force: true });
});

describe(`examples/server.mjs [${e2eImpl}]`, () => {
  test("file-system sessions: startup line, clean output, tools and notifications, SIGINT, survives a restart", async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-example-"));
    const port = await freePort();
    const start = () => startServer(script, { port, ready: READY, env: { ...ENV, CWD: cwd } });
    let server = await start();
    try {
      const file = path.join(fs.realpathSync(cwd), ".mcp-use", "sessions.json");
      expect(server.output()).toContain(
        `example listening on http://localhost:${port}/mcp (pid ${server.proc.pid}); ` +
          `sessions: FileSystemSessionStore in ${file}; streams: InMemoryStreamManager in this process`,
      );
      const { sid, info } = await example.tour(server.url);
      expect(info.sessions).toMatch(/^FileSystemSessionStore/);
      if (e2eImpl === "native") {
        const ops = await operations(server.url);
        expect(ops.healthz).toEqual([200, "ok\n"]);
        const [readyStatus, readyBody] = ops.readyz;
        expect([readyStatus, readyBody]).toEqual([200, { status: "ok", sessions: expect.objectContaining({ status: "ok" }), streams: { status: "ok", streams: expect.any(Number) } }]);
        const [status, type, families] = ops.metrics;
        expect([status, type]).toEqual([200, "text/plain; version=0.0.4; charset=utf-8"]);
        const held = sample(families, "mcp_sessions_sessions", { name: "sessions", class: "FileSystemSessionStore" }).value;
        expect(Number(held)).toBe(readyBody.sessions.sessions);
        expect(Number(sample(families, "mcp_sessions_messages_sent_total", { name: "streams", class: "InMemoryStreamManager" }).value)).toBeGreaterThan(0);
      }
      server.proc.kill("SIGINT");
      expect((await server.exited).code).toBe(0);
      expectCleanOutput(server.output());
      expect(JSON.parse(fs.readFileSync(file, "utf8"))[sid]).toMatchObject({ clientInfo: { name: "example-client" } });
      // dev tooling was not started (it would create resources/ in the cwd)
      expect(fs.existsSync(path.join(cwd, "resources"))).toBe(false);

      server = await start();
      const again = await example.resume(server.url, sid);
      expect(again.metadata.clientInfo).toMatchObject({ name: "example-client" });
      server.proc.kill("SIGTERM");
      expect((await server.exited).code).toBe(0);
      expectCleanOutput(server.output());
    } finally {
      await server.kill();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  test("a port in use: one clear line, exit code 1", async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, "localhost", r));
    try {
      const { port } = blocker.address();
      const r = await runNode([script], { env: { ...ENV, PORT: String(port) }, cwd: os.tmpdir(), timeoutMs: 60_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${port} is in use; set PORT to another port`);
      expect(r.stdout + r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      blocker.close();
    }
  });
});

// mcp-use's Redis classes take no { url }: the example's Redis mode is the addon's.
const describeRedisExample = e2eImpl === "native" ? describeRedis : describe.skip;

describeRedisExample(`examples/server.mjs with REDIS_URL [${e2eImpl}]`, () => {
  test("Redis sessions: startup line, metadata stored under mcp:session:<sid>, exits on SIGINT", async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-example-redis-"));
    const port = await freePort();
    const url = redisUrl();
    const server = await startServer(script, { port, ready: READY, env: { ...ENV, CWD: cwd, REDIS_URL: url, INSTANCE: "r1" } });
    const { createClient } = nodeRequire("redis");
    const redis = createClient({ url });
    await redis.connect();
    try {
      expect(server.output()).toContain(
        `example listening on http://localhost:${port}/mcp (r1); sessions: RedisSessionStore at ${url}; ` +
          `streams: RedisStreamManager at ${url} (pub/sub across instances)`,
      );
      const { sid, info } = await example.tour(server.url);
      expect(info.instance).toBe("r1");
      const raw = await redis.get(`mcp:session:${sid}`);
      expect(JSON.parse(raw)).toMatchObject({ clientInfo: { name: "example-client" } });
      const ttl = await redis.ttl(`mcp:session:${sid}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3600);
      server.proc.kill("SIGINT");
      expect((await server.exited).code).toBe(0);
      expectCleanOutput(server.output());
      expect(fs.existsSync(path.join(cwd, ".mcp-use", "sessions.json"))).toBe(false);
    } finally {
      await redis.quit().catch(() => {});
      await server.kill();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });

  test("a REDIS_URL with credentials: the startup line masks the whole user-info, as the addon's errors do", async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-example-secret-"));
    const port = await freePort();
    const redisPort = await freePort(); // nothing listens there: the example starts anyway
    const url = `redis://operator:s3cret-pw@127.0.0.1:${redisPort}/2`;
    const server = await startServer(script, { port, ready: READY, env: { ...ENV, CWD: cwd, REDIS_URL: url } });
    try {
      expect(server.output()).toContain(`sessions: RedisSessionStore at redis://***@127.0.0.1:${redisPort}/2;`);
      const ready = await (await fetch(`http://localhost:${port}/readyz`)).text();
      expect(server.output() + ready).not.toMatch(/s3cret-pw|operator/);
      server.proc.kill("SIGINT");
      expect((await server.exited).code).toBe(0);
      expect(server.output()).not.toMatch(/s3cret-pw|operator/);
    } finally {
      await server.kill();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describeRedisExample(
  `examples/server.mjs while Redis is down [${e2eImpl}]`,
  () => {
    test("it starts anyway; /readyz answers 503 with the reason, then 200 once redis-server comes up on the URL's port", async () => {
      await stopRedis(); // nothing listens on the URL's port now
      const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-example-late-"));
      const port = await freePort();
      const url = redisUrl();
      const server = await startServer(script, { port, ready: READY, env: { ...ENV, CWD: cwd, REDIS_URL: url } });
      const origin = `http://localhost:${port}`;
      try {
        expect((await fetch(`${origin}/healthz`)).status).toBe(200); // alive, not ready
        const unreachable = /^sessions: Redis unreachable: Redis \S+ failed: .*refused.*; streams: Redis unreachable: /i;
        const down = await waitFor(
          async () => {
            const res = await fetch(`${origin}/readyz`);
            const body = await res.json();
            return res.status === 503 && unreachable.test(body.reason) ? body : null;
          },
          30_000,
          "/readyz: 503, Redis unreachable",
        );
        expect(down.status).toBe("down");
        expect(down.sessions.commands).toMatchObject({ state: "down", downSince: expect.any(Number) });
        expect(JSON.stringify(down)).not.toMatch(/password|mcp:session:/);

        await startRedis();
        const up = await waitFor(
          async () => {
            const res = await fetch(`${origin}/readyz`);
            return res.status === 200 ? res.json() : null;
          },
          60_000,
          "/readyz: 200 once Redis is up",
        );
        expect(up).toMatchObject({ status: "ok", sessions: { commands: { state: "up", reconnects: 1 } }, streams: { subscriber: { state: "up" } } });

        // it serves, and the outage is in its metrics and its log
        const s = await example.openSession(server.url);
        try {
          expect((await s.client.callTool({ name: "echo", arguments: { message: "back" } })).content[0].text).toBe("back");
        } finally {
          await s.close();
        }
        const { metrics } = await operations(server.url);
        const families = metrics[2];
        const labels = { name: "sessions", class: "RedisSessionStore", connection: "commands" };
        expect(sample(families, "mcp_sessions_redis_reconnects_total", labels).value).toBe("1");
        expect(Number(sample(families, "mcp_sessions_redis_errors_total", labels).value)).toBeGreaterThan(0);
        expect(sample(families, "mcp_sessions_redis_up", labels).value).toBe("1");
        await waitFor(() => /\[health\] ok$/m.test(server.output()), 10_000, "the [health] ok line");
        expect(server.output()).toMatch(/^\[health\] down: sessions: Redis unreachable: /m);
        server.proc.kill("SIGINT");
        expect((await server.exited).code).toBe(0);
      } finally {
        await server.kill();
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    });
  },
  { needsControl: true },
);
