// Type test: what a user writes after swapping `from "mcp-use/server"` for
// `from "mcp-sessions-native"`. Checked with `tsc --noEmit -p __test__/types/tsconfig.json`
// (and, as a baseline, against mcp-use itself with tsconfig.reference.json).
import {
  MCPServer,
  type SessionStore,
  type StreamManager,
  type FileSystemSessionStore as RefFileSystemSessionStore,
  type RedisSessionStore as RefRedisSessionStore,
  type RedisStreamManager as RefRedisStreamManager,
} from "mcp-use/server";
import { createClient } from "redis";
import {
  FileSystemSessionStore,
  InMemorySessionStore,
  InMemoryStreamManager,
  RedisSessionStore,
  RedisStreamManager,
  type RedisClient,
} from "mcp-sessions-native";

// ---- the five classes plug into MCPServer
const fsServer = new MCPServer({
  name: "fs",
  version: "1.0.0",
  sessionStore: new FileSystemSessionStore(),
  streamManager: new InMemoryStreamManager(),
});
const memServer = new MCPServer({
  name: "mem",
  version: "1.0.0",
  sessionStore: new InMemorySessionStore(),
  streamManager: new InMemoryStreamManager(),
});

async function redisServer() {
  const client = createClient({ url: "redis://127.0.0.1:1" });
  const pubSubClient = client.duplicate();
  const server = new MCPServer({
    name: "redis",
    version: "1.0.0",
    sessionStore: new RedisSessionStore({ client }),
    streamManager: new RedisStreamManager({ client, pubSubClient }),
  });
  // optional config fields, same names/types as mcp-use
  new RedisSessionStore({ client, prefix: "app:session:", defaultTTL: 60 });
  new RedisStreamManager({ client, pubSubClient, prefix: "app:stream:", heartbeatInterval: 5 });
  return server;
}

// ---- any object honouring the RedisClient contract (here: a minimal in-memory fake)
const data = new Map<string, string>();
const fake: RedisClient = {
  get: async (key) => data.get(key) ?? null,
  set: async (key, value) => (data.set(key, value), "OK"),
  del: async (key) => [key].flat().filter((k) => data.delete(k)).length,
  exists: async (key) => [key].flat().filter((k) => data.has(k)).length,
  keys: async () => [...data.keys()],
  quit: async () => "OK",
};
const fakeServer = new MCPServer({
  name: "fake",
  version: "1.0.0",
  sessionStore: new RedisSessionStore({ client: fake }),
  streamManager: new RedisStreamManager({ client: fake, pubSubClient: fake }),
});

// ---- assignable to mcp-use's interfaces
const stores: SessionStore[] = [new InMemorySessionStore(), new FileSystemSessionStore({ path: "/tmp/x.json" })];
const managers: StreamManager[] = [new InMemoryStreamManager()];

// ---- constructor configs accept exactly what mcp-use's accept
const fsCfg: ConstructorParameters<typeof RefFileSystemSessionStore>[0] = { path: "/tmp/s.json", debounceMs: 10, maxAgeMs: 1000 };
new FileSystemSessionStore(fsCfg);
declare const redisCfg: ConstructorParameters<typeof RefRedisSessionStore>[0];
new RedisSessionStore(redisCfg);
declare const streamCfg: ConstructorParameters<typeof RefRedisStreamManager>[0];
new RedisStreamManager(streamCfg);

// ---- method signatures
async function methods() {
  const mem = new InMemorySessionStore();
  const file = new FileSystemSessionStore({ debounceMs: 5 });
  const got = await mem.get("sid");
  if (got !== null) {
    const t: number = got.lastAccessedAt;
    void t;
  }
  await mem.set("sid", { lastAccessedAt: Date.now(), logLevel: "info", clientInfo: { name: "x", version: "1" } });
  await mem.setWithTTL("sid", { lastAccessedAt: Date.now() }, 1000);
  const has: boolean = await mem.has("sid");
  const keys: string[] = await mem.keys();
  await mem.delete("sid");
  await mem.clear();
  const n: number = mem.size + file.size;
  await file.flush();
  await file.setWithTTL("sid", { lastAccessedAt: 1 }, 10);

  const sm = new InMemoryStreamManager();
  let ctrl!: ReadableStreamDefaultController;
  new ReadableStream({ start(c) { ctrl = c; } });
  await sm.create("sid", ctrl);
  await sm.send(["sid"], "event: message\ndata: {}\n\n");
  await sm.send(undefined, "broadcast");
  await sm.delete("sid");
  const alive: boolean = await sm.has("sid");
  await sm.close();
  const streams: number = sm.size;

  const client = createClient();
  const rs = new RedisSessionStore({ client });
  await rs.close();
  const rm = new RedisStreamManager({ client, pubSubClient: client.duplicate() });
  const local: number = rm.localSize;
  await rm.registerOutboundRequest("req-1", "sid");
  const fwd: boolean = await rm.forwardInboundResponse({ id: 1, jsonrpc: "2.0", result: {} }, "sid");
  rm.onForwardedResponse((message: unknown, sessionId: string) => void [message, sessionId]);
  await rm.close();
  return [has, keys, n, alive, streams, local, fwd];
}

// ---- negative checks: these MUST be type errors (tsc fails if one is not: "Unused '@ts-expect-error'")
function negatives(client: ReturnType<typeof createClient>) {
  // @ts-expect-error debounceMs is a number
  new FileSystemSessionStore({ debounceMs: "10" });
  // @ts-expect-error RedisSessionStore needs a client (the constructor throws a TypeError without one)
  new RedisSessionStore({});
  // @ts-expect-error RedisStreamManager needs a client (a pubSubClient alone throws a TypeError)
  new RedisStreamManager({ pubSubClient: client });
  // @ts-expect-error driver is "auto", "native" or "client"
  new RedisSessionStore({ client, driver: "fast" });
  // @ts-expect-error driver "client" drives config.client: it cannot be combined with url
  new RedisSessionStore({ url: "redis://127.0.0.1:6379", driver: "client" });
  // @ts-expect-error heartbeatInterval is a number of seconds
  new RedisStreamManager({ client, pubSubClient: client, heartbeatInterval: "10" });
  // @ts-expect-error a typo of path: no such option (at run time, a warning naming path)
  new FileSystemSessionStore({ pth: "x.json" });
  // @ts-expect-error a typo of url: no such option
  new RedisSessionStore({ urll: "redis://127.0.0.1:6379" });
  // @ts-expect-error a typo of pendingMaxMessages: no such option
  new InMemoryStreamManager({ pendingMaxMessage: 10 });
  const mem = new InMemorySessionStore();
  // @ts-expect-error metadata must be an object with lastAccessedAt
  void mem.set("sid", "not metadata");
  // @ts-expect-error size is a number
  const s: string = mem.size;
  // @ts-expect-error get resolves metadata or null, not a string
  const p: Promise<string> = mem.get("sid");
  // @ts-expect-error send takes string ids
  void new InMemoryStreamManager().send([1, 2], "x");
  return [s, p];
}

export { fsServer, memServer, fakeServer, redisServer, stores, managers, methods, negatives };
