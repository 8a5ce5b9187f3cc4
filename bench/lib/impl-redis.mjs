// Constructing the Redis classes of either implementation the way an application does.
import { loadImpl } from "./common.mjs";
import { nodeRedis } from "./redis.mjs";

/** A RedisStreamManager: the reference gets node-redis clients (client + pubSubClient), the
 * addon gets the same kind of clients too (it reads their settings and opens its own native
 * connections), so both are configured exactly as an mcp-use user would. */
export async function streamManager(impl, url, opts = {}) {
  const { RedisStreamManager } = await loadImpl(impl);
  const client = await nodeRedis(url);
  const pubSubClient = await nodeRedis(url);
  const mgr = new RedisStreamManager({ client, pubSubClient, ...opts });
  return { mgr, client, pubSubClient };
}

export async function sessionStore(impl, url, opts = {}) {
  const { RedisSessionStore } = await loadImpl(impl);
  const client = await nodeRedis(url);
  return { store: new RedisSessionStore({ client, ...opts }), client };
}

/** FLUSHALL + reset of the stats on the private server, through a separate admin connection. */
export async function resetRedis(url) {
  const admin = await nodeRedis(url);
  await admin.flushAll();
  await admin.sendCommand(["CONFIG", "RESETSTAT"]);
  await admin.sendCommand(["SLOWLOG", "RESET"]);
  return admin;
}
