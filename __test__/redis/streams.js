"use strict";
// Helpers for stream-manager tests: real WHATWG controllers and a reader that collects text.

function openStream() {
  let controller;
  const stream = new ReadableStream({ start(c) { controller = c; } });
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const received = [];
  let closed = false;
  let error = null;
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) { closed = true; return; }
        received.push(decoder.decode(value));
      }
    } catch (e) { error = e; }
  })();
  return { controller, received, get closed() { return closed; }, get error() { return error; } };
}

/** Polls `predicate` until it holds; fails with `what` after `ms` (a liveness bound, not a speed check). */
async function waitFor(predicate, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { openStream, waitFor, sleep };
