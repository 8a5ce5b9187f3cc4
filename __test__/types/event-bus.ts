// Type test of RedisServerEventBus against @modelcontextprotocol/server 2.x's own
// declarations: the bus is a ServerEventBus for createMcpHandler, the SDK's ServerEvent and
// ours are assignable both ways, and stats()/health()/ready() are typed as the other Redis
// classes' (a bus's health() is a RedisHealth; renderPrometheus takes it).
import { createMcpHandler, McpServer, type ServerEvent as SdkEvent, type ServerEventBus } from "@modelcontextprotocol/server";
import { createClient } from "redis";
import { RedisServerEventBus, renderPrometheus, type RedisHealth, type ServerEvent } from "mcp-sessions-native";

const bus = new RedisServerEventBus({ url: "redis://127.0.0.1:6379", prefix: "app:events:", retentionMaxAgeMs: 60_000 });
const asSdk: ServerEventBus = bus;
const handler = createMcpHandler(() => new McpServer({ name: "x", version: "1.0.0" }), { bus });
handler.notify.resourceUpdated("test://r");

declare const sdkEvent: SdkEvent;
const ours: ServerEvent = sdkEvent;
const back: SdkEvent = ours;
bus.publish(sdkEvent);
const unsubscribe: () => void = bus.subscribe((e: SdkEvent) => void e.params);

const client = createClient();
const fromClients = new RedisServerEventBus({ client, pubSubClient: client.duplicate(), onerror: (e: Error) => void e.message });
const cluster = new RedisServerEventBus({ nodes: ["redis://127.0.0.1:7000"], shardedPubSub: false });
const sentinel = new RedisServerEventBus({ sentinels: [{ host: "127.0.0.1", port: 26379 }], name: "mymaster" });

const s = bus.stats();
const numbers: number[] = [
  s.listeners, s.eventsPublished, s.eventsAppended, s.appendErrors, s.localDeliveries, s.listenerErrors, s.eventsReceived,
  s.eventsReplayed, s.duplicatesSkipped, s.eventsLost, s.outboxEvents, s.outboxDropped, s.outboxExpired, s.unsentAtClose,
  s.catchUps, s.malformedMessages, s.publishers, s.redisOperations, s.redisErrors, s.redisReconnects, s.redisUp,
  s.redisLatency.count, s.subscriberOperations, s.subscriberErrors, s.subscriberReconnects, s.subscriberUp,
];
const h = bus.health();
const status: "ok" | "degraded" | "down" = h.status;
const mode: "log" | "pubsub" = h.mode;
const since: number | undefined = h.commands.downSince;
const err: string | undefined = h.subscriber.lastError;
const state: "connecting" | "up" | "down" = h.subscriber.state;
const asRedisHealth: RedisHealth = h;
const ready: Promise<void> = bus.ready({ timeoutMs: 2000 });
const text: string = renderPrometheus({ bus });
const closing: Promise<void> = bus.close();

function negatives() {
  // @ts-expect-error not a ServerEvent kind
  bus.publish({ kind: "tools/list_changed" });
  // @ts-expect-error resource_updated needs its uri
  bus.publish({ kind: "resource_updated" });
  // @ts-expect-error publish returns nothing to await
  const p: Promise<void> = bus.publish({ kind: "tools_list_changed" });
  // @ts-expect-error health().status is one of three
  const bad: "up" = bus.health().status;
  // @ts-expect-error the old shape: the connections are health().commands and .subscriber
  bus.health().redis;
  // @ts-expect-error the old key: stats().eventsPublished
  bus.stats().published;
  // @ts-expect-error ready()'s timeoutMs is a number of milliseconds
  bus.ready({ timeoutMs: "2s" });
  // @ts-expect-error a connection is needed
  new RedisServerEventBus({ prefix: "x:" });
}

export { asSdk, handler, back, unsubscribe, fromClients, cluster, sentinel, numbers, status, mode, since, err, state, asRedisHealth, ready, text, closing, negatives };
