"use strict";
// No secret leaves the addon (issue 24): every Redis class is given bad URLs, configs and
// client options that carry a marker where a secret goes (URL user-info, sentinelPassword and
// other credential parameters, client options' username and password, TLS key material),
// and the ones it accepts are pointed at a port where nothing listens, or at a real Redis
// with the wrong password, and used until they fail, with MCP_SESSIONS_LOG=trace. The marker
// appears in no error message and no log line (fixtures/secrets-sweep.js).
const path = require("node:path");
const { runNode, describeResult } = require("./helpers/child");
const { freePort } = require("./helpers/redis-server");
const { describeRedis, redisUrl } = require("./helpers/redis");

jest.setTimeout(120_000);

const MARKER = "S3cr3tMarker";

describeRedis("secrets never leave", () => {
  test("no error message and no log line shows a secret, at trace level", async () => {
    const live = new URL(redisUrl());
    const r = await runNode([path.join(__dirname, "fixtures", "secrets-sweep.js")], {
      env: { MARKER, DEAD_PORT: String(await freePort()), LIVE_REDIS: `${live.hostname}:${live.port}`, MCP_SESSIONS_LOG: "trace" },
      timeoutMs: 90_000,
    });
    expect([r.code, r.timedOut]).toEqual([0, false]);
    const { messages } = JSON.parse(r.stdout.trim().split("\n").pop());
    // The sweep did fail where it should: construction refusals and Redis failures alike.
    expect(messages.length).toBeGreaterThan(60);
    expect(messages.some((m) => m.startsWith("new RedisSessionStore: TypeError"))).toBe(true);
    expect(messages.some((m) => /RedisSessionStore\.set: Error: .*Redis/.test(m))).toBe(true);
    expect(messages.some((m) => m.includes("WRONGPASS") || m.includes("AUTH"))).toBe(true);
    // ...and logged at trace level.
    expect(r.stderr.split("\n").filter((l) => /TRACE|DEBUG|WARN/.test(l)).length).toBeGreaterThan(10);
    const leaks = [...messages, ...r.stderr.split("\n")].filter((line) => line.includes(MARKER));
    if (leaks.length) throw new Error(`the marker leaked:\n${leaks.slice(0, 10).join("\n")}\n${describeResult(r).slice(0, 4000)}`);
  });
});
