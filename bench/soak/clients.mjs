// The soak's clients, all real SDK clients (@modelcontextprotocol/sdk StreamableHTTPClientTransport)
// through the proxy:
//   - sessions: each holds its GET stream, reconnects when it drops (the SDK's own reconnection,
//     without its retry limit), records every soak notification it receives (in order) and
//     answers sampling requests with "echo:<nonce>", every now and then calling the `sample`
//     tool itself;
//   - the sender: its own sessions (no GET stream) call `notify { target, seq }` on random
//     instances for random sessions, one call in flight per target session so that its
//     sequence numbers are sent in order. A notification is acknowledged when that call
//     succeeded; a failed call is never retried with the same seq (its outcome is unknown).
// What each side saw is kept in memory for check.mjs. A custom `fetch` records every GET
// (status) and every sampling answer POST (status or network error), which the SDK hides.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { performance } from "node:perf_hooks";

export const now = () => Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const errText = (e) => String(e?.cause?.code || e?.cause?.message || e?.message || e).slice(0, 200);

// The SDK's reconnection, without its default limit of 2 attempts: a real client that wants
// its notifications keeps trying while an instance or Redis is down.
const RECONNECT = { initialReconnectionDelay: 250, maxReconnectionDelay: 2000, reconnectionDelayGrowFactor: 1.5, maxRetries: Infinity };

function recordingFetch(s, { listen }) {
  return async (url, init = {}) => { // eslint-disable-line no-param-reassign
    const method = init.method || "GET";
    if (method === "GET" && !listen) return new Response(null, { status: 405 }); // the sender does not listen
    if (method === "DELETE") {
      // mcp-use 1.34.6 serves a request whose Accept lacks text/event-stream statelessly, and the
      // SDK's terminateSession() sends no Accept: MCPServer would answer 200 and end nothing.
      init = { ...init, headers: new Headers(init.headers) };
      init.headers.set("accept", "application/json, text/event-stream");
    }
    let answer;
    if (method === "POST" && typeof init.body === "string" && init.body.includes('"result"')) {
      try {
        const m = JSON.parse(init.body);
        const text = m.result?.content?.text;
        if (m.id !== undefined && typeof text === "string" && text.startsWith("echo:")) answer = { id: m.id, nonce: text.slice(5) };
      } catch {}
    }
    const t = now();
    try {
      const res = await fetch(url, init);
      if (method === "GET") s.gets.push({ t, status: res.status });
      if (answer) s.answers.push({ ...answer, t, status: res.status });
      return res;
    } catch (e) {
      if (method === "GET") s.gets.push({ t, err: errText(e) });
      if (answer) s.answers.push({ ...answer, t, err: errText(e) });
      throw e;
    }
  };
}

async function connect(url, s, { listen }) {
  for (let attempt = 1; ; attempt++) {
    const client = new Client({ name: `soak-${s.name}`, version: "1.0.0" }, { capabilities: listen ? { sampling: {} } : {} });
    const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: recordingFetch(s, { listen }), reconnectionOptions: RECONNECT });
    transport.onerror = () => s.errors++; // reconnects report here; counted, not printed
    client.onerror = () => {};
    try {
      await client.connect(transport);
      s.client = client;
      s.transport = transport;
      s.sid = transport.sessionId;
      return;
    } catch (e) {
      await client.close().catch(() => {});
      if (attempt >= 5) throw new Error(`session ${s.name} could not initialize: ${errText(e)}`);
      await sleep(500 * attempt);
    }
  }
}

/** The 30 listening sessions, connected, each with its GET stream open. */
export async function openSessions(url, n) {
  const sessions = [];
  for (let i = 0; i < n; i++) {
    // Each session takes three requests (initialize, initialized, GET), so under round robin
    // every GET would land on the same instance: one throwaway request in between spreads them.
    await fetch(url).then((r) => r.body?.cancel()).catch(() => {});
    const s = { name: `s${i}`, idx: i, sid: null, received: [], misdelivered: [], samplingSeen: [], answers: [], gets: [], samples: [], errors: 0 };
    await connect(url, s, { listen: true });
    s.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      const d = n.params?.data;
      if (!d?.soak) return;
      if (d.sid !== s.sid) s.misdelivered.push({ sid: d.sid, seq: d.seq, t: now() });
      else s.received.push({ seq: d.seq, kind: d.soak, t: now() });
    });
    s.client.setRequestHandler(CreateMessageRequestSchema, (req, extra) => {
      const nonce = req.params.messages?.[0]?.content?.text;
      s.samplingSeen.push({ nonce, id: extra.requestId, t: now() });
      return { role: "assistant", content: { type: "text", text: `echo:${nonce}` }, model: "soak" };
    });
    sessions.push(s);
  }
  // The SDK opens the GET after notifications/initialized and does not retry a first failure:
  // before the chaos starts, every session must hold one.
  const deadline = Date.now() + 30_000;
  for (const s of sessions) {
    while (!s.gets.some((g) => g.status === 200)) {
      if (Date.now() > deadline) throw new Error(`session ${s.name} has no GET stream 30 s after initialize: ${JSON.stringify(s.gets)}`);
      if (s.gets.length && s.gets.at(-1).status !== 200 && s.gets.at(-1).status !== undefined) s.transport.resumeStream(undefined).catch(() => {});
      await sleep(100);
    }
  }
  return sessions;
}

/**
 * The sender: `workers` calls in flight at most, about `rate` notifications/s in all, to
 * random sessions (`rand` from the seeded PRNG), one call per session at a time.
 */
export async function startSender(url, sessions, { rate, workers = 8, rand }) {
  const senders = [];
  for (let i = 0; i < 2; i++) {
    const s = { name: `sender${i}`, gets: [], answers: [], errors: 0 };
    await connect(url, s, { listen: false });
    senders.push(s);
  }
  const nextSeq = new Map(sessions.map((s) => [s.sid, 0]));
  const busy = new Set();
  const acks = []; // { sid, seq, ok, t0, t1, err, probe }
  let running = true;

  async function notify(target, { probe = false } = {}) {
    const seq = nextSeq.get(target) + 1;
    nextSeq.set(target, seq);
    const rec = { sid: target, seq, t0: now(), probe };
    acks.push(rec);
    const via = senders[seq % senders.length];
    try {
      const r = await via.client.callTool({ name: "notify", arguments: { target, seq } }, undefined, { timeout: 20_000 });
      rec.ok = !r.isError;
      if (r.isError) rec.err = String(r.content?.[0]?.text).slice(0, 200);
    } catch (e) {
      rec.ok = false;
      rec.err = errText(e);
    }
    rec.t1 = now();
    return rec;
  }

  const period = (workers * 1000) / rate;
  const loops = Array.from({ length: workers }, async (_, w) => {
    let slot = performance.now() + (w * period) / workers;
    while (running) {
      const free = sessions.filter((s) => !busy.has(s.sid));
      if (free.length) {
        const s = free[Math.floor(rand() * free.length)];
        busy.add(s.sid);
        await notify(s.sid);
        busy.delete(s.sid);
      }
      slot += period;
      const wait = slot - performance.now();
      if (wait > 0) await sleep(wait);
      else slot = performance.now();
    }
  });

  return {
    acks,
    senders,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
    /** One more acknowledged notification to each session (retried with a new seq until one is). */
    async probe(s) {
      for (let i = 0; i < 5; i++) {
        const r = await notify(s.sid, { probe: true });
        if (r.ok) return r;
        await sleep(1000);
      }
      return null;
    },
  };
}

/** Each session calls `sample` every `meanMs` on average (random), one call at a time. */
export function startSampler(sessions, { meanMs, rand }) {
  let running = true;
  let wake;
  const stopped = new Promise((r) => (wake = r));
  const pause = (ms) => Promise.race([sleep(ms), stopped]);
  let n = 0;
  const loops = sessions.map(async (s) => {
    await pause(rand() * meanMs);
    while (running) {
      const nonce = `${s.name}-${++n}`;
      const rec = { nonce, t0: now() };
      s.samples.push(rec);
      try {
        const r = await s.client.callTool({ name: "sample", arguments: { nonce } }, undefined, { timeout: 60_000 });
        const body = r.isError ? { ok: false, error: String(r.content?.[0]?.text) } : JSON.parse(r.content[0].text);
        rec.outcome = body.ok ? (body.text === `echo:${nonce}` ? "answered" : "wrong-answer") : "sampling-failed";
        rec.detail = body.ok ? body.text : body.error;
      } catch (e) {
        rec.outcome = "call-failed";
        rec.detail = errText(e);
      }
      rec.t1 = now();
      await pause(meanMs * (0.5 + rand()));
    }
  });
  return {
    async stop() {
      running = false;
      wake();
      await Promise.all(loops);
    },
  };
}

/** DELETE each session (MCPServer ends it: stream manager delete + store delete), then close. */
export async function closeAll(all) {
  await Promise.all(all.map(async (s) => {
    for (let i = 0; i < 3; i++) {
      try {
        await s.transport.terminateSession();
        break;
      } catch {
        await sleep(500);
      }
    }
    await s.client.close().catch(() => {});
  }));
}
