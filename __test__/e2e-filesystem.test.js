"use strict";
// End-to-end: a real mcp-use MCPServer (child process, NODE_ENV=production) with the
// addon's FileSystemSessionStore + InMemoryStreamManager, driven by the official SDK client
// over Streamable HTTP. The server is killed and restarted on the same file and port; the
// SAME session id keeps working without a new initialize.
//
// MCP_TEST_IMPL=mcp-use runs the same scenario with mcp-use's own classes (the baseline).

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { e2eImpl } = require("./helpers/impls");
const { startServer, sdk, toolJson, withOneRetry, waitFor, freePort } = require("./helpers/mcp");

jest.setTimeout(120_000);

describe(`e2e: MCPServer + FileSystemSessionStore/InMemoryStreamManager [${e2eImpl}]`, () => {
  let dir;
  let file;
  let port;
  const servers = [];
  const clients = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-e2e-fs-"));
    file = path.join(dir, "sessions.json");
    port = await freePort();
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const s of servers) await s.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start() {
    const s = await startServer("fs-server.mjs", {
      port,
      env: { SESSIONS_FILE: file, SESSIONS_IMPL: e2eImpl, CWD: dir },
    });
    servers.push(s);
    return s;
  }

  function readFile() {
    try {
      return JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      return null;
    }
  }

  test("initialize, tool calls, notifications on the GET SSE stream; restart keeps the session", async () => {
    try {
      await scenario();
    } catch (e) {
      // attach the servers' output (tail) to the failure
      const outs = servers.map((s, i) => `--- server #${i + 1} (pid ${s.proc.pid}, exit ${s.proc.exitCode ?? s.proc.signalCode}) ---\n${s.output().slice(-4000)}`);
      e.message += `\n${outs.join("\n")}`;
      throw e;
    }
  });

  async function scenario() {
    const { Client, StreamableHTTPClientTransport } = sdk();
    let server = await start();

    // ---- first server process
    const notifications = [];
    const client = new Client({ name: "e2e-client", version: "9.9.9" });
    client.fallbackNotificationHandler = async (n) => {
      notifications.push(n);
    };
    clients.push(client);
    const transport = new StreamableHTTPClientTransport(new URL(server.url));
    await client.connect(transport);
    const sid = transport.sessionId;
    expect(typeof sid).toBe("string");
    expect(sid.length).toBeGreaterThan(0);

    const who = toolJson(await client.callTool({ name: "whoami", arguments: {} }));
    expect(who).toMatchObject({ sessionId: sid, pid: server.proc.pid, impl: e2eImpl });

    // The client opens its GET SSE stream after initialization; MCPServer registers the
    // stream's controller with streamManager.create(). Wait until the manager has it.
    const status = await waitFor(
      async () => {
        const st = toolJson(await client.callTool({ name: "stream-status", arguments: {} }));
        return st.streamHas ? st : null;
      },
      15_000,
      "streamManager.has(sid) after the GET SSE stream opened",
    );
    expect(status).toMatchObject({ streamHas: true, streamSize: 1, storeHas: true });
    // MCPServer captured client info into the store (get -> mutate -> set through our store)
    expect(status.metadata).toMatchObject({ clientInfo: { name: "e2e-client", version: "9.9.9" } });
    expect(typeof status.metadata.lastAccessedAt).toBe("number");

    // server notification (MCPServer.sendNotificationToSession) arrives on the GET stream
    expect(toolJson(await client.callTool({ name: "ping-me", arguments: { n: 1 } }))).toEqual({ sent: true });
    await waitFor(() => notifications.some((n) => n.method === "custom/ping"), 10_000, "custom/ping notification");
    expect(notifications.find((n) => n.method === "custom/ping").params).toMatchObject({ n: 1, pid: server.proc.pid });

    // a message written straight through streamManager.send() reaches the client through
    // the controller MCPServer registered (bytes enqueued by the implementation under test)
    expect(toolJson(await client.callTool({ name: "push-via-manager", arguments: { n: 2 } }))).toEqual({ pushed: true });
    await waitFor(() => notifications.some((n) => n.method === "custom/via-manager"), 10_000, "custom/via-manager");
    expect(notifications.find((n) => n.method === "custom/via-manager").params).toEqual({ n: 2, text: "héllo ✓" });

    // the session is on disk (debounced write) before we kill the process
    const onDisk = await waitFor(
      () => {
        const f = readFile();
        return f && f[sid] && f[sid].clientInfo ? f : null;
      },
      10_000,
      "session with clientInfo in the session file",
    );
    expect(onDisk[sid]).toMatchObject({ clientInfo: { name: "e2e-client" }, protocolVersion: expect.any(String) });
    const lastBefore = onDisk[sid].lastAccessedAt;

    // ---- kill the server (no graceful shutdown) and start a new process on the same file/port
    await client.close().catch(() => {});
    const dead = await server.kill("SIGKILL");
    expect(dead.signal).toBe("SIGKILL");
    server = await start();

    const transport2 = new StreamableHTTPClientTransport(new URL(server.url), { sessionId: sid });
    const client2 = new Client({ name: "e2e-client", version: "9.9.9" });
    clients.push(client2);
    await client2.connect(transport2); // sessionId set: no initialize is sent
    expect(transport2.sessionId).toBe(sid);

    const who2 = toolJson(await withOneRetry(() => client2.callTool({ name: "whoami", arguments: {} })));
    expect(who2).toMatchObject({ sessionId: sid, pid: server.proc.pid });
    expect(who2.pid).not.toBe(who.pid);

    // the new process keeps writing the same session through the store
    await new Promise((r) => setTimeout(r, 5)); // make Date.now() move
    const st2 = toolJson(await withOneRetry(() => client2.callTool({ name: "stream-status", arguments: {} })));
    expect(st2).toMatchObject({ storeHas: true, metadata: { clientInfo: { name: "e2e-client" } } });
    await waitFor(
      () => {
        const f = readFile();
        return f && f[sid] && f[sid].lastAccessedAt > lastBefore;
      },
      10_000,
      "lastAccessedAt of the session updated in the file by the restarted server",
    );
    await client2.close().catch(() => {});
  }
});
