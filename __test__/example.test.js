"use strict";
// examples/server.mjs (`npm start`), driven with the official TypeScript SDK client:
// - file-system sessions: starts with NODE_ENV unset, says which session layer it uses, prints
//   no stack traces, serves the tools (progress, logging, a notification to another session),
//   writes .mcp-use/sessions.json, exits on SIGINT, and the session survives a restart;
// - REDIS_URL: the Redis classes, metadata under mcp:session:<sid>;
// - REDIS_URL with no server behind it, or a port in use: one clear line and exit code 1.
//
// MCP_TEST_IMPL=mcp-use runs a copy of the example that imports mcp-use's classes instead.
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { e2eImpl, ROOT, nodeRequire } = require("./helpers/impls");
const { startServer, freePort, FIXTURES } = require("./helpers/mcp");
const { runNode } = require("./helpers/child");
const example = require("./helpers/example-client");
const { describeRedis, redisUrl } = require("./helpers/redis");

jest.setTimeout(120_000);

const EXAMPLE = path.join(ROOT, "examples", "server.mjs");
const READY = /example listening on http:\/\//; // printed once the socket accepts connections
const ENV = { NODE_ENV: "", REDIS_URL: "", MCP_USE_ANONYMIZED_TELEMETRY: "false" };

// mcp-use's own classes log as they go (and on close): only our output is held to "clean".
const expectCleanOutput = (output) => e2eImpl === "native" && example.expectCleanOutput(output);

let script = EXAMPLE;
beforeAll(() => {
  if (e2eImpl === "mcp-use") {
    script = path.join(FIXTURES, `.example-mcp-use-${process.pid}.mjs`);
    fs.writeFileSync(script, fs.readFileSync(EXAMPLE, "utf8").replace('from "../index.mjs"', 'from "mcp-use/server"'));
  }
});
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

  test("REDIS_URL with nothing listening: one clear line, exit code 1, never listens", async () => {
    const port = await freePort(); // nothing listens there
    const r = await runNode([script], {
      env: { ...ENV, REDIS_URL: `redis://127.0.0.1:${port}`, PORT: String(await freePort()) },
      timeoutMs: 60_000,
    });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach Redis at redis://127.0.0.1:${port} after 10 attempts (connect ECONNREFUSED`);
    expect(r.stdout + r.stderr).not.toMatch(/listening on|^\s+at /m);
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

describeRedis(`examples/server.mjs with REDIS_URL [${e2eImpl}]`, () => {
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
});
