"use strict";
// Smoke test of examples/server.mjs (`npm start`): it starts with NODE_ENV unset, serves MCP
// over Streamable HTTP with the addon's session classes, persists sessions, and shuts down
// on SIGINT. The Redis variant runs against the private test Redis.
//
// MCP_TEST_IMPL=mcp-use runs a copy of the example that imports mcp-use's classes instead.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { e2eImpl, ROOT, nodeRequire } = require("./helpers/impls");
const { startServer, sdk, toolJson, waitFor, freePort, FIXTURES } = require("./helpers/mcp");
const { describeRedis, redisUrl } = require("./helpers/redis");

jest.setTimeout(120_000);

const EXAMPLE = path.join(ROOT, "examples", "server.mjs");
const READY = /\[SERVER\] Listening on http:\/\//; // printed once the socket is bound

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

async function exercise(url) {
  const { Client, StreamableHTTPClientTransport } = sdk();
  const client = new Client({ name: "example-client", version: "1.0.0" });
  const notes = [];
  client.fallbackNotificationHandler = async (n) => notes.push(n);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  try {
    const sid = transport.sessionId;
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(["echo", "notify-me", "session-info"]);
    const echo = await client.callTool({ name: "echo", arguments: { message: "hi ✓" } });
    expect(echo.content[0].text).toBe("hi ✓");
    const info = await waitFor(
      async () => {
        const i = toolJson(await client.callTool({ name: "session-info", arguments: {} }));
        return i.metadata && i.metadata.clientInfo ? i : null;
      },
      10_000,
      "session metadata with clientInfo",
    );
    expect(info).toMatchObject({ sessionId: sid, metadata: { clientInfo: { name: "example-client" } } });
    await waitFor(
      async () => {
        const r = await client.callTool({ name: "notify-me", arguments: { greeting: "yo" } });
        return r.content[0].text === "notification sent" && notes.some((n) => n.method === "custom/hello");
      },
      10_000,
      "custom/hello notification",
    );
    return { sid, info };
  } finally {
    await client.close().catch(() => {});
  }
}

describe(`examples/server.mjs [${e2eImpl}]`, () => {
  test("file-system sessions: starts with NODE_ENV unset, serves tools, writes .mcp-use/sessions.json, exits on SIGINT", async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-example-"));
    const port = await freePort();
    const server = await startServer(script, {
      port,
      ready: READY,
      env: { CWD: cwd, NODE_ENV: "", REDIS_URL: "", MCP_USE_ANONYMIZED_TELEMETRY: "false" },
    });
    try {
      expect(server.output()).toContain(`example listening on http://localhost:${port}/mcp`);
      const { sid, info } = await exercise(server.url);
      expect(info.backend).toMatch(/file system/);
      server.proc.kill("SIGINT");
      const { code } = await server.exited;
      expect(code).toBe(0);
      const file = path.join(cwd, ".mcp-use", "sessions.json");
      expect(JSON.parse(fs.readFileSync(file, "utf8"))[sid]).toMatchObject({ clientInfo: { name: "example-client" } });
      // dev tooling was not started (it would create resources/ in the cwd)
      expect(fs.existsSync(path.join(cwd, "resources"))).toBe(false);
    } finally {
      await server.kill();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describeRedis(`examples/server.mjs with REDIS_URL [${e2eImpl}]`, () => {
  test("Redis sessions: metadata stored under mcp:session:<sid>, exits on SIGINT", async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-example-redis-"));
    const port = await freePort();
    const server = await startServer(script, {
      port,
      ready: READY,
      env: { CWD: cwd, NODE_ENV: "", REDIS_URL: redisUrl(), MCP_USE_ANONYMIZED_TELEMETRY: "false" },
    });
    const { createClient } = nodeRequire("redis");
    const redis = createClient({ url: redisUrl() });
    await redis.connect();
    try {
      const { sid, info } = await exercise(server.url);
      expect(info.backend).toMatch(/Redis/);
      const raw = await redis.get(`mcp:session:${sid}`);
      expect(JSON.parse(raw)).toMatchObject({ clientInfo: { name: "example-client" } });
      const ttl = await redis.ttl(`mcp:session:${sid}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3600);
      server.proc.kill("SIGINT");
      const { code } = await server.exited;
      expect(code).toBe(0);
      expect(fs.existsSync(path.join(cwd, ".mcp-use", "sessions.json"))).toBe(false);
    } finally {
      await redis.quit().catch(() => {});
      await server.kill();
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  });
});
