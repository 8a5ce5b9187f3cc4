// Repro of the soak's "published-to-dying-instance" (docs/soak.md, seed 25 at 30 minutes): a
// message published while the session's only stream is on an instance that dies before writing
// it is lost, although the session opens a new stream on another instance right after.
//
//   node bench/soak/repro/published-to-dying-instance.mjs [--runs 10]
//
// Exits 1 while the loss reproduces (or m1 arrives twice), 0 once m1 arrives exactly once.
//
// Instance A (a child process) holds the session's stream. Its JS thread is made busy, as a
// loaded instance's is, so the message it receives from Redis waits for it; C sends m1 (Redis
// counts A as a listener, so nothing is kept); A is SIGKILLed; the client's new stream opens on
// B and takes the pending list, which is empty. Nothing in Redis says m1 was not written.
// The control run kills A first and waits until Redis has dropped its connection: then m1 is
// kept and B receives it.
import { fork } from "node:child_process";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { startRedis } from "../../lib/redis.mjs";

const require = createRequire(import.meta.url);
const INDEX = fileURLToPath(new URL("../../../index.js", import.meta.url));
const { RedisStreamManager } = require(INDEX);
const { values: opt } = parseArgs({ options: { runs: { type: "string", default: "10" }, child: { type: "boolean", default: false } } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sse = (text) => `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: text } })}\n\n`;

if (opt.child) {
  // Instance A: one stream, then on request a busy JS thread until it is killed.
  const A = new RedisStreamManager({ url: process.env.URL, heartbeatInterval: 2, prefix: process.env.PREFIX });
  await A.create(process.env.SID, { desiredSize: 1, enqueue() {}, close() {}, error() {} });
  process.send("ready");
  process.on("message", () => {
    process.send("busy");
    for (;;); // never returns: the SIGKILL ends it
  });
} else {
  const redis = await startRedis();
  const numsub = async (channel) => {
    const { createClient } = await import("redis");
    const c = createClient({ url: redis.url });
    await c.connect();
    const [, n] = await c.sendCommand(["PUBSUB", "NUMSUB", channel]);
    await c.quit();
    return Number(n);
  };
  async function once(i, race) {
    const prefix = `repro${i}:`;
    const sid = `session-${i}`;
    const child = fork(fileURLToPath(import.meta.url), ["--child"], { env: { ...process.env, URL: redis.url, PREFIX: prefix, SID: sid } });
    const next = () => new Promise((r) => child.once("message", r));
    await next(); // ready: A holds the stream
    const B = new RedisStreamManager({ url: redis.url, heartbeatInterval: 2, prefix });
    const C = new RedisStreamManager({ url: redis.url, heartbeatInterval: 2, prefix });
    const got = [];
    try {
      const gone = new Promise((r) => child.once("exit", r));
      if (race) {
        child.send("hold");
        await next(); // A's JS thread is busy
        await C.send([sid], sse("m1")); // Redis hands m1 to A, which never writes it
        child.kill("SIGKILL");
        await gone;
      } else {
        child.kill("SIGKILL");
        await gone;
        while ((await numsub(`${prefix}${sid}`)) > 0) await sleep(10); // Redis saw A go
        await C.send([sid], sse("m1")); // nobody listens: kept
      }
      await B.create(sid, { desiredSize: 1, enqueue(chunk) { got.push(/"data":"([^"]*)"/.exec(Buffer.from(chunk).toString())?.[1]); }, close() {}, error() {} });
      await sleep(300);
      return got;
    } finally {
      await Promise.all([B.close(), C.close()]).catch(() => {});
    }
  }
  try {
    const runs = Number(opt.runs);
    let lost = 0;
    let controlLost = 0;
    let twice = 0;
    const count = (got) => got.filter((m) => m === "m1").length;
    for (let i = 0; i < runs; i++) {
      const raced = count(await once(i, true));
      const control = count(await once(runs + i, false));
      if (raced === 0) lost++;
      if (control === 0) controlLost++;
      if (raced > 1 || control > 1) twice++;
    }
    console.log(`published while the stream's instance was about to die: m1 lost in ${lost}/${runs} runs`);
    console.log(`control (published after Redis saw the instance go): m1 lost in ${controlLost}/${runs} runs`);
    console.log(`m1 delivered more than once in ${twice}/${runs} runs`);
    process.exitCode = lost || controlLost || twice ? 1 : 0;
  } finally {
    await redis.stop();
  }
}
