// The second process of bench/bus.mjs: one bus (RedisServerEventBus, or the SDK's
// InMemoryServerEventBus as the control) with listeners, driven over IPC. Times are
// performance.timeOrigin + performance.now(): one clock for both processes of this machine.
import { createRequire } from "node:module";
import { ROOT } from "../lib/common.mjs";

const require = createRequire(import.meta.url);
const { RedisServerEventBus } = require(ROOT);
const { InMemoryServerEventBus } = require("@modelcontextprotocol/server");

const clock = () => performance.timeOrigin + performance.now();
const send = (m) => process.send(m);

let bus = null;
let mode = null; // what the listeners do now
let count = 0;
let expected = 0;
const unsubs = [];

function listener(event) {
  if (mode === "latency") {
    send({ op: "got", at: clock(), t: event.params.t });
  } else if (mode === "throughput") {
    count++;
    if (count === expected) send({ op: "all", at: clock() });
  } else if (mode === "fanout") {
    count++;
    if (count === expected) send({ op: "all", at: clock() });
  }
}

process.on("message", async (m) => {
  switch (m.op) {
    case "bus":
      bus = m.kind === "memory" ? new InMemoryServerEventBus() : new RedisServerEventBus({ url: m.url, prefix: m.prefix });
      if (m.kind !== "memory") {
        while (!(bus.health().subscriber.state === "up" && bus.stats().catchUps > 0)) await new Promise((r) => setTimeout(r, 10));
      }
      send({ op: "ready" });
      break;
    case "listeners":
      for (const u of unsubs.splice(0)) u();
      // A closure each: one function subscribed twice is one listener (the SDK keeps a Set).
      for (let i = 0; i < m.n; i++) unsubs.push(bus.subscribe((e) => listener(e)));
      send({ op: "ready" });
      break;
    case "mode":
      mode = m.mode;
      count = 0;
      expected = m.expected || 0;
      send({ op: "ready" });
      break;
    case "stats":
      send({ op: "stats", stats: bus.stats ? bus.stats() : null });
      break;
    case "close":
      if (bus && bus.close) await bus.close().catch(() => {});
      send({ op: "closed" });
      process.exit(0);
  }
});
send({ op: "up" });
