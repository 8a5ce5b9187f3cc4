"use strict";
// End-to-end, distributed: a client's GET SSE stream moves from instance A to instance B
// without a DELETE (a proxy timeout, a network blip). MCPServer never calls
// streamManager.delete when a GET stream closes, so A keeps its dead controller until a write
// to it fails. That failure must release A's stream only: B's live stream of the same session
// keeps receiving, stays open, and B's transport keeps accepting a new GET once the client
// closes that one.
//
// Raw HTTP (helpers/raw-mcp.js) pins every request to an instance. Instances run
// fixtures/fleet-app.mjs on the Redis classes of the addon ("native") or of mcp-use.
const { startServer, freePort } = require("./helpers/mcp");
const { describeRedis, redisUrl, uniquePrefix } = require("./helpers/redis");
const { initialize, callTool, openStream } = require("./helpers/raw-mcp");

jest.setTimeout(120_000);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The seq of every notifications/message on a stream, in arrival order. */
const seqs = (messages) => messages.filter((m) => m.method === "notifications/message").map((m) => m.params.data.seq);
const upTo = (n) => Array.from({ length: n }, (_, i) => i + 1);

describeRedis("e2e: a session's GET stream moving between instances (no DELETE)", () => {
  const instances = {};
  const open = [];

  beforeAll(async () => {
    const env = { REDIS_URL: redisUrl(), PREFIX: uniquePrefix("moves") };
    const specs = { N1: "native", N2: "native", N3: "native", M1: "mcp-use" };
    await Promise.all(
      Object.entries(specs).map(async ([name, impl]) => {
        instances[name] = await startServer("fleet-app.mjs", { port: await freePort(), env: { ...env, IMPL: impl } });
      }),
    );
  });

  afterAll(async () => {
    for (const s of open) s.drop();
    await Promise.all(Object.values(instances).map((s) => s.kill()));
  });

  /**
   * initialize on A; GET on A; the client's GET moves to B (A's dropped before B's opens, or
   * after); tool calls on `senders` each notify the session; every notification arrives on
   * B's stream in order, the stream stays open, and once the client closes it a new GET on B
   * is accepted and served.
   */
  async function streamMoves({ a, b, senders, dropAfterReopen = false }) {
    const [A, B] = [instances[a], instances[b]];
    const session = await initialize(A.port);
    const first = await openStream(A.port, session);
    open.push(first);
    expect(first.status).toBe(200);
    let second;
    if (dropAfterReopen) {
      second = await openStream(B.port, session);
      first.drop();
    } else {
      first.drop();
      await sleep(500);
      second = await openStream(B.port, session);
    }
    open.push(second);
    expect(second.status).toBe(200);
    // Let A's transport see its GET connection gone (as in the report: 500 ms).
    if (dropAfterReopen) await sleep(500);

    for (const [i, sender] of senders.entries()) {
      const r = await callTool(instances[sender].port, session, "notify", { seq: i + 1 });
      expect(r).toEqual({ sent: true, pid: instances[sender].proc.pid });
    }
    const n = senders.length;
    await second.waitFor((m) => seqs(m).length >= n, 10_000, `${n} notifications`);
    expect(seqs(second.messages)).toEqual(upTo(n));

    // Still open and still served: one more, through A.
    await callTool(A.port, session, "notify", { seq: n + 1 });
    await second.waitFor((m) => seqs(m).length >= n + 1, 10_000, "one more notification");
    expect(seqs(second.messages)).toEqual(upTo(n + 1));
    expect(second.ended).toBe(false);

    // The client closes its stream; B's transport accepts the next GET (never a 409 from a
    // stream the session layer closed behind its back) and it is served.
    second.drop();
    let third;
    const deadline = Date.now() + 10_000;
    for (;;) {
      third = await openStream(B.port, session);
      open.push(third);
      if (third.status === 200 || Date.now() > deadline) break;
      third.drop();
      await sleep(100);
    }
    expect(third.status).toBe(200);
    await callTool(A.port, session, "notify", { seq: n + 2 });
    await third.waitFor((m) => seqs(m).includes(n + 2), 10_000, "a notification on the new stream");
    expect(seqs(third.messages)).toEqual([n + 2]);
    third.drop();
  }

  test("stream dropped on A, reopened on B: notifications from A, A, B, A all arrive on B", () =>
    streamMoves({ a: "N1", b: "N2", senders: ["N1", "N1", "N2", "N1"] }));

  test("stream reopened on B first, then the one on A dropped", () =>
    streamMoves({ a: "N1", b: "N2", senders: ["N1", "N1", "N2", "N1"], dropAfterReopen: true }));

  test("three instances: notifications from A, C, B, A", () =>
    streamMoves({ a: "N1", b: "N2", senders: ["N1", "N3", "N2", "N1"] }));

  test("mixed fleet: mcp-use's classes on A, ours on B", () =>
    streamMoves({ a: "M1", b: "N1", senders: ["M1", "M1", "N1", "M1"] }));

  test("mixed fleet: ours on A, mcp-use's classes on B", () =>
    streamMoves({ a: "N1", b: "M1", senders: ["N1", "N1", "M1", "N1"] }));
});
