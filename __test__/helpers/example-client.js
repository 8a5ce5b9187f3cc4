"use strict";
// Drive examples/server.mjs (one instance, or the fleet's proxy) with the official TypeScript
// SDK client, as a user would: initialize, tools, progress and logging notifications, a
// notification from another session, and a reconnect to the same session.
const { sdk, toolJson, withOneRetry, waitFor } = require("./mcp");

const TOOLS = ["echo", "notify", "session-info", "work"];

/** One connected session; `notes` collects every notification it receives. */
async function openSession(url, { sessionId, name = "example-client" } = {}) {
  const { Client, StreamableHTTPClientTransport } = sdk();
  const client = new Client({ name, version: "1.0.0" });
  const notes = [];
  client.fallbackNotificationHandler = async (n) => notes.push(n);
  const transport = new StreamableHTTPClientTransport(new URL(url), sessionId ? { sessionId } : {});
  await withOneRetry(() => client.connect(transport)); // with a sessionId: no initialize
  const logs = (logger) => notes.filter((n) => n.method === "notifications/message" && n.params.logger === logger);
  return {
    client,
    notes,
    logs,
    sid: () => transport.sessionId,
    info: async () => toolJson(await withOneRetry(() => client.callTool({ name: "session-info", arguments: {} }))),
    close: () => client.close().catch(() => {}),
  };
}

/** `work`: 3 progress notifications and 3 log notifications, on the call's own stream. */
async function expectWorkNotifications(s) {
  const progress = [];
  const before = s.logs("work").length;
  const r = await s.client.callTool({ name: "work", arguments: { steps: 3, delayMs: 10 } }, undefined, {
    onprogress: (p) => progress.push(p),
  });
  expect(r.content[0].text).toMatch(/^done: 3 steps on /);
  expect(progress.map((p) => [p.progress, p.total])).toEqual([[1, 3], [2, 3], [3, 3]]);
  const logs = s.logs("work").slice(before);
  expect(logs).toHaveLength(3);
  expect(logs.every((n) => n.params.level === "info")).toBe(true);
}

/** `notify` from `from` to `to` (or to everyone), until `to` has it on its GET stream. */
async function expectNotified(from, to, { broadcast = false } = {}) {
  const message = `hello ${Math.random().toString(36).slice(2)}`;
  const fromSid = from.sid();
  const args = broadcast ? { message } : { message, sessionId: to.sid() };
  await waitFor(
    async () => {
      await from.client.callTool({ name: "notify", arguments: args });
      return to.logs("notify").some((n) => n.params.data.from === fromSid && n.params.data.message === message);
    },
    20_000,
    `${broadcast ? "broadcast" : "notify"} from ${fromSid} reaching ${to.sid()}`,
  );
}

/**
 * The whole tour. `clientInfo`: the stored metadata must carry the client's name (true on
 * one instance; through a round-robin proxy MCPServer may keep it only on the instance that
 * received notifications/initialized). Returns the first session's id and its session-info.
 */
async function tour(url, { clientInfo = true } = {}) {
  const a = await openSession(url, { name: "example-client" });
  const b = await openSession(url, { name: "example-client-b" });
  try {
    expect((await a.client.listTools()).tools.map((t) => t.name).sort()).toEqual(TOOLS);
    const echo = await a.client.callTool({ name: "echo", arguments: { message: "hi ✓" } });
    expect(echo.content[0].text).toBe("hi ✓");
    const info = await waitFor(
      async () => {
        const i = await a.info();
        const m = i.metadata || {};
        return (clientInfo ? m.clientInfo : m.lastAccessedAt) ? i : null;
      },
      10_000,
      "the session's metadata in the store",
    );
    expect(info.sessionId).toBe(a.sid());
    if (clientInfo) expect(info.metadata.clientInfo).toMatchObject({ name: "example-client" });
    await expectWorkNotifications(a);
    await expectNotified(a, b);
    await expectNotified(b, a);
    await expectNotified(a, b, { broadcast: true });
    const unknown = await a.client.callTool({ name: "notify", arguments: { message: "x", sessionId: "no-such-session" } });
    expect(unknown.isError).toBe(true);
    return { sid: a.sid(), info };
  } finally {
    await a.close();
    await b.close();
  }
}

/** Reconnect to `sid` without initialize: same session, its metadata, notifications again. */
async function resume(url, sid) {
  const s = await openSession(url, { sessionId: sid });
  try {
    const info = await s.info();
    expect(info.sessionId).toBe(sid);
    expect(info.metadata).toEqual(expect.objectContaining({ lastAccessedAt: expect.any(Number) }));
    await expectWorkNotifications(s);
    return info;
  } finally {
    await s.close();
  }
}

/** What `npm start` must never print on a clean run. */
function expectCleanOutput(output) {
  expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // a stack frame
  expect(output).not.toMatch(/\[WIDGETS\]|ENOENT|WARN|Error/);
}

module.exports = { TOOLS, openSession, tour, resume, expectCleanOutput };
