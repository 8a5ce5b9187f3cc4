// What the fleet left in Redis, by kind (the wire layout of docs/redis.md, default prefixes):
// keys by SCAN, subscriptions by PUBSUB CHANNELS / NUMSUB. Read through a separate admin
// connection; check.mjs compares the snapshot after the clients closed with the one before they
// connected.
import { createClient } from "redis";

const S = "mcp:stream:";

export async function redisState(url) {
  const c = createClient({ url, socket: { reconnectStrategy: false } });
  c.on("error", () => {});
  await c.connect();
  try {
    const keys = [];
    for await (const batch of c.scanIterator({ COUNT: 1000 })) keys.push(...(Array.isArray(batch) ? batch : [batch]));
    const out = { sessions: 0, available: 0, active: 0, pending: [], routes: [], instances: [], instanceSets: [], keptTotals: null, keptIndex: 0, keptSizes: 0, other: [], channels: { server: [], session: 0, delete: 0, other: [] } };
    for (const k of keys) {
      if (k.startsWith("mcp:session:")) out.sessions++;
      else if (k.startsWith(`available:${S}`)) out.available++;
      else if (k === `${S}active`) out.active = await c.sCard(k);
      // A session's kept list, its byte count, the record of an instance handing its stream
      // over (deleted by its put-back, or expiring within 10 s if it died), and a moved
      // stream's wait for that hand-back (expiring within 30 s).
      else if (["pending:", "pending-bytes:", "pending-handover:", "pending-awaited:", "pending-opening:", "pending-journal:"].some((p) => k.startsWith(`${S}${p}`))) out.pending.push(k);
      else if (k.startsWith(`${S}req-route:`)) out.routes.push({ key: k, ttl: await c.ttl(k) });
      else if (k === `${S}instances`) {
        const now = Number((await c.time())[0]) * 1000;
        const members = await c.zRangeWithScores(k, 0, -1);
        out.instances = members.map((m) => ({ id: m.value, aliveForMs: Math.round(m.score - now) }));
      } else if (k === `${S}pending-total`) {
        // The total bound's running sums (docs/redis.md): may stay, at zero, until its TTL.
        const [n, b] = await c.hmGet(k, ["n", "b"]);
        out.keptTotals = { n: Number(n ?? 0), b: Number(b ?? 0) };
      } else if (k === `${S}pending-index`) out.keptIndex = await c.zCard(k);
      else if (k === `${S}pending-sizes`) out.keptSizes = await c.hLen(k);
      else if (k.startsWith(`${S}instance:`)) out.instanceSets.push({ id: k.slice(`${S}instance:`.length), card: await c.sCard(k) });
      else out.other.push(k);
    }
    const channels = await c.sendCommand(["PUBSUB", "CHANNELS", "*"]);
    for (const ch of channels) {
      if (ch.startsWith(`${S}server:`)) {
        const [, n] = await c.sendCommand(["PUBSUB", "NUMSUB", ch]);
        out.channels.server.push({ id: ch.slice(`${S}server:`.length), subscribers: Number(n) });
      } else if (ch.startsWith(`delete:${S}`)) out.channels.delete++;
      else if (ch.startsWith(S)) out.channels.session++;
      else out.channels.other.push(ch);
    }
    return out;
  } finally {
    await c.quit().catch(() => {});
  }
}
