// Type test of what the addon adds beyond mcp-use (checked against index.d.ts only; mcp-use
// has none of it): the driver option, the driver getter, url and commandTimeoutMs.
import { MCPServer } from "mcp-use/server";
import { createClient } from "redis";
import { RedisSessionStore, RedisStreamManager, type RedisClient, type RedisDriver } from "mcp-sessions-native";

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

function negatives() {
  // @ts-expect-error driver is "auto", "native" or "client"
  new RedisSessionStore({ client, driver: "fast" });
  // @ts-expect-error driver "client" drives config.client: it cannot be combined with url
  new RedisSessionStore({ url: "redis://127.0.0.1:6379", driver: "client" });
  // @ts-expect-error driver "client" drives config.client: it cannot be combined with url
  new RedisStreamManager({ url: "redis://127.0.0.1:6379", driver: "client" });
  // @ts-expect-error the driver getter is read-only
  stores[0].driver = "client";
}

export { server, used, negatives };
