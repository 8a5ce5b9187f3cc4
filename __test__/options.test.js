"use strict";
// Options checked the way users need (issue 24): an unknown option key gets one warning line
// naming it and the key it most likely meant, and the class still works (apps that pass extra
// keys keep running); a count must be a whole number. index.d.ts rejects both at compile time
// (types/usage.ts).
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { runNode, describeResult } = require("./helpers/child");

jest.setTimeout(60_000);

const INDEX = path.join(__dirname, "..", "index.js");
// Node's own require, as helpers/impls.js loads the addon (one realm for its errors).
const mod = (typeof __nodeRequire === "function" ? __nodeRequire : require)(INDEX);

describe("unknown option keys", () => {
  test("warn once each, with the nearest known key, at the default log level; the class works", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-options-"));
    try {
      const code = `
        const { FileSystemSessionStore, RedisStreamManager, InMemoryStreamManager } = require(${JSON.stringify(INDEX)});
        (async () => {
          const store = new FileSystemSessionStore({ pth: "x.json", debounceMs: 0 });
          await store.set("s", { lastAccessedAt: Date.now() });
          await store.flush();
          const manager = new RedisStreamManager({ url: "redis://127.0.0.1:1", urll: "redis://x", heartbeatInteval: 5, notAnOption: 1 });
          new InMemoryStreamManager({ pendingTTL: 10 });
          console.log(JSON.stringify({ path: store.path }));
          await manager.close().catch(() => {});
          process.exit(0);
        })();`;
      // Empty: the default filter, as with the variable unset.
      const r = await runNode(code, { cwd: dir, env: { MCP_SESSIONS_LOG: "" } });
      expect([r.code, r.timedOut]).toEqual([0, false]);
      const warned = (line) => r.stderr.split("\n").filter((l) => l.includes(line));
      expect(warned('unknown option "pth" is ignored (did you mean "path"?)')).toHaveLength(1);
      expect(warned('unknown option "urll" is ignored (did you mean "url"?)')).toHaveLength(1);
      expect(warned('unknown option "heartbeatInteval" is ignored (did you mean "heartbeatInterval"?)')).toHaveLength(1);
      expect(warned('unknown option "notAnOption" is ignored')).toHaveLength(1);
      expect(warned('unknown option "pendingTTL" is ignored (did you mean "pendingTtl"?)')).toHaveLength(1);
      expect(r.stderr).toMatch(/new FileSystemSessionStore: unknown option "pth"/);
      // The typo was ignored: the default path was written.
      expect(JSON.parse(r.stdout.trim().split("\n").pop()).path).toBe(path.join(fs.realpathSync(dir), ".mcp-use", "sessions.json"));
      expect(fs.existsSync(path.join(dir, ".mcp-use", "sessions.json"))).toBe(true);
      if (!r.stderr) throw new Error(describeResult(r));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("counts are whole numbers", () => {
  test.each([
    ["InMemoryStreamManager", () => new mod.InMemoryStreamManager({ pendingMaxMessages: 1.5 }), /pendingMaxMessages must be a whole number/],
    ["InMemoryStreamManager", () => new mod.InMemoryStreamManager({ pendingMaxBytes: 1024.5 }), /pendingMaxBytes must be a whole number/],
    ["RedisStreamManager", () => new mod.RedisStreamManager({ url: "redis://127.0.0.1:1", pendingMaxMessages: 2.5 }), /pendingMaxMessages must be a whole number/],
    ["RedisServerEventBus", () => new mod.RedisServerEventBus({ url: "redis://127.0.0.1:1", outboxMaxLength: 10.5 }), /outboxMaxLength must be a whole number/],
  ])("%s: a fraction is a RangeError naming the option", (_, make, message) => {
    let thrown;
    try {
      make();
    } catch (e) {
      thrown = e;
    }
    expect(thrown && thrown.constructor.name).toBe("RangeError");
    expect(thrown.message).toMatch(message);
  });
});
