// Repro of the soak's "stream-move-race" (docs/soak.md, seed 25 at 30 minutes): a message is
// lost when a session's stream moves to another instance while the old instance still holds
// the dead stream, and the message is published between the new stream's create() and its
// SUBSCRIBE.
//
//   node bench/soak/repro/stream-move-race.mjs [--runs 20]
//
// Exits 1 while the loss reproduces, 0 once it does not (a regression check for the fix).
//
// The sequence, made deterministic by holding the JS thread (so A cannot write m1 until B has
// subscribed; in the soak the same order came from ordinary scheduling):
//   1. instance A holds the session's stream, but its client is gone: the controller's enqueue
//      throws (MCPServer never calls delete when a GET stream closes; a write finds out);
//   2. C sends m1: A is subscribed, so Redis counts one listener and nothing is kept;
//   3. the client's new stream opens on B: B subscribes (after m1 was published);
//   4. A writes m1, which fails. Before the fix A saw another instance listening and dropped
//      m1, taking it as received there; B's create had taken the pending list, which was
//      empty. m1 reached nobody, in every run. Now B's take publishes its opened marker after
//      its SUBSCRIBE, A lets go of its stream at that marker and hands m1 back, and B waits
//      for it (docs/redis.md, "Store-and-forward"): m1 arrives in every run.
// The control run does the same without step 3 before A's write: A hands m1 back to the
// pending list and B's stream, opened later, receives it.
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { startRedis } from "../../lib/redis.mjs";

const require = createRequire(import.meta.url);
const { RedisStreamManager } = require("../../../index.js");
const { values: opt } = parseArgs({ options: { runs: { type: "string", default: "20" } } });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Keeps the JS thread busy: the addon's deliveries to controllers wait, its Redis I/O does not. */
const hold = (ms) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
};
const sse = (text) => `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: text } })}\n\n`;
const dead = () => ({ desiredSize: 1, enqueue() { throw new TypeError("Invalid state: Controller is already closed"); }, close() {}, error() {} });
const live = (got) => ({ desiredSize: 1, enqueue(chunk) { got.push(/"data":"([^"]*)"/.exec(Buffer.from(chunk).toString())?.[1]); }, close() {}, error() {} });

async function once(url, i, race) {
  const opts = { url, heartbeatInterval: 2, prefix: `repro${i}:` };
  const [A, B, C] = [new RedisStreamManager(opts), new RedisStreamManager(opts), new RedisStreamManager(opts)];
  const sid = `session-${i}`;
  const got = [];
  try {
    await A.create(sid, dead()); // 1
    const sent = C.send([sid], sse("m1")); // 2
    hold(50); // the PUBLISH runs; A's delivery of m1 waits for this thread
    let created;
    if (race) {
      created = B.create(sid, live(got)); // 3: B subscribes now
      hold(50);
    }
    await sent;
    await sleep(300); // 4: A writes m1, fails, and decides what to do with it
    if (!race) await B.create(sid, live(got)); // control: B opens after A let go
    await created;
    await sleep(300);
    return got;
  } finally {
    await Promise.all([A.close(), B.close(), C.close()]).catch(() => {});
  }
}

const redis = await startRedis();
try {
  const runs = Number(opt.runs);
  let lost = 0;
  let controlLost = 0;
  for (let i = 0; i < runs; i++) {
    if (!(await once(redis.url, i, true)).includes("m1")) lost++;
    if (!(await once(redis.url, runs + i, false)).includes("m1")) controlLost++;
  }
  console.log(`stream moved while the old instance held the dead stream: m1 lost in ${lost}/${runs} runs`);
  console.log(`control (the new stream opens after the old instance let go): m1 lost in ${controlLost}/${runs} runs`);
  process.exitCode = lost ? 1 : 0;
} finally {
  await redis.stop();
}
