// Type test of what the addon adds beyond mcp-use (checked against index.d.ts only; mcp-use
// has none of it): the driver option, the driver getter, url and commandTimeoutMs; stats(),
// health(), ready() and renderPrometheus.
import { MCPServer } from "mcp-use/server";
import { createClient } from "redis";
import {
  FileSystemSessionStore,
  InMemorySessionStore,
  InMemoryStreamManager,
  RedisSessionStore,
  RedisStreamManager,
  renderPrometheus,
  type HealthStatus,
  type RedisClient,
  type RedisDriver,
} from "mcp-sessions-native";

declare const fake: RedisClient;
const client = createClient();

const server = new MCPServer({
  name: "fake",
  version: "1.0.0",
  sessionStore: new RedisSessionStore({ client: fake, driver: "client", commandTimeoutMs: 1000 }),
  streamManager: new RedisStreamManager({ client: fake, pubSubClient: fake, driver: "auto" }),
});
const driver: RedisDriver = "native";
const stores = [
  new RedisSessionStore({ client, driver }),
  new RedisSessionStore({ url: "redis://127.0.0.1:6379", driver: "native" }),
  new RedisSessionStore({ url: "redis://127.0.0.1:6379", commandTimeoutMs: 500 }),
];
const used: Array<"native" | "client"> = [stores[0].driver, new RedisStreamManager({ url: "redis://127.0.0.1:6379" }).driver];

// What a probe and a scrape read.
const manager = new RedisStreamManager({ url: "redis://127.0.0.1:6379" });
const statuses: HealthStatus[] = [stores[0].health().status, manager.health().status, new FileSystemSessionStore().health().status];
const ok: "ok" = new InMemorySessionStore().health().status;
const subscriberState: "connecting" | "up" | "down" | undefined = manager.health().subscriber?.state;
const reconnects: number = manager.stats().subscriberReconnects + stores[0].stats().redisReconnects;
const p50Bucket: number | undefined = manager.stats().redisLatency.buckets.find((b) => b.leMs >= 1)?.count;
const kept: number = new InMemoryStreamManager().stats().messagesKept;
const ready: Promise<void> = Promise.all([stores[0].ready(), manager.ready({ timeoutMs: 2000 })]).then(() => {});
const text: string = renderPrometheus({ sessions: stores[0], streams: manager }) + renderPrometheus([["memory", new InMemorySessionStore()]]);

function negatives() {
  // @ts-expect-error ready()'s timeoutMs is a number of milliseconds
  manager.ready({ timeoutMs: "2s" });
  // @ts-expect-error the in-memory classes have no ready(): nothing to wait for
  new InMemorySessionStore().ready();
  // @ts-expect-error a store's stats() has no streams
  stores[0].stats().streams;
  // @ts-expect-error health().status is "ok", "degraded" or "down"
  const bad: "up" = manager.health().status;
  // @ts-expect-error renderPrometheus takes instances with stats(), not a list of them
  renderPrometheus([stores[0]]);
  // @ts-expect-error driver is "auto", "native" or "client"
  new RedisSessionStore({ client, driver: "fast" });
  // @ts-expect-error driver "client" drives config.client: it cannot be combined with url
  new RedisSessionStore({ url: "redis://127.0.0.1:6379", driver: "client" });
  // @ts-expect-error driver "client" drives config.client: it cannot be combined with url
  new RedisStreamManager({ url: "redis://127.0.0.1:6379", driver: "client" });
  // @ts-expect-error the driver getter is read-only
  stores[0].driver = "client";
}

export { server, used, negatives, statuses, ok, subscriberState, reconnects, p50Bucket, kept, ready, text };
