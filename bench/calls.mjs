// Per-call cost of the addon's in-memory store against the pieces it is made of: what the
// README's "Where a target is missed" cites. `node bench/calls.mjs` (needs the built addon).
// Sequential loops (awaited for the store), ns per operation, median of 5 rounds.
import { createRequire } from "node:module";

const { InMemorySessionStore } = createRequire(import.meta.url)("../index.js");
const store = new InMemorySessionStore();
const meta = { lastAccessedAt: Date.now(), clientInfo: { name: "bench", version: "1.0.0" }, protocolVersion: "2025-06-18", logLevel: "info" };
const N = 200_000;

async function nsPerOp(fn, { awaited = true } = {}) {
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    if (awaited) for (let i = 0; i < N; i++) await fn(i);
    else for (let i = 0; i < N; i++) fn(i);
    rounds.push(Number(process.hrtime.bigint() - t) / N);
  }
  return Math.round(rounds.sort((a, b) => a - b)[2]);
}

for (let i = 0; i < 10_000; i++) await store.set(`k${i}`, meta);
const text = JSON.stringify(meta);
const rows = {
  "addon set": await nsPerOp((i) => store.set(`k${i % 10_000}`, meta)),
  "addon get": await nsPerOp((i) => store.get(`k${i % 10_000}`)),
  "addon has": await nsPerOp((i) => store.has(`k${i % 10_000}`)),
  "JSON.stringify(metadata), no await": await nsPerOp(() => JSON.stringify(meta), { awaited: false }),
  "JSON.parse(metadata), no await": await nsPerOp(() => JSON.parse(text), { awaited: false }),
  "await of a resolved promise": await nsPerOp(() => Promise.resolve(1)),
};
for (const [what, ns] of Object.entries(rows)) console.log(`${what.padEnd(48)} ${String(ns).padStart(6)} ns/op`);
