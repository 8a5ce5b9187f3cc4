// Types of mcp-sessions-native. Structurally compatible with mcp-use/server's
// SessionStore and StreamManager, so instances can be passed to `new MCPServer(...)`.

/** Serializable session metadata, as mcp-use's `SessionMetadata`. Unknown JSON fields round-trip. */
export interface SessionMetadata {
  /** Timestamp of last activity (ms since the epoch), used for idle-timeout tracking. */
  lastAccessedAt: number
  /** Minimum log level for filtering log messages (RFC 5424 levels). */
  logLevel?: string
  /** Client capabilities advertised during initialization. */
  clientCapabilities?: Record<string, unknown>
  /** Client info (name, version). */
  clientInfo?: { name: string; version: string; [key: string]: any }
  /** Protocol version negotiated during initialization. */
  protocolVersion?: string
  /** Progress token for the current tool call, if any. */
  progressToken?: number
  [key: string]: unknown
}

/** The contract of mcp-use's `SessionStore`. */
export interface SessionStore {
  get(sessionId: string): Promise<SessionMetadata | null>
  set(sessionId: string, data: SessionMetadata): Promise<void>
  delete(sessionId: string): Promise<void>
  has(sessionId: string): Promise<boolean>
  keys(): Promise<string[]>
  setWithTTL?(sessionId: string, data: SessionMetadata, ttlMs: number): Promise<void>
}

/** The contract of mcp-use's `StreamManager`. */
export interface StreamManager {
  create(sessionId: string, controller: ReadableStreamDefaultController): Promise<void>
  send(sessionIds: string[] | undefined, data: string): Promise<void>
  delete(sessionId: string): Promise<void>
  has(sessionId: string): Promise<boolean>
  close?(): Promise<void>
  registerOutboundRequest?(requestId: string | number, sessionId: string): Promise<void>
  forwardInboundResponse?(message: { id: string | number; [key: string]: unknown }, sessionId: string): Promise<boolean>
  onForwardedResponse?(handler: (message: unknown, sessionId: string) => void): void
}

/**
 * Sessions in memory, held natively (outside the V8 heap). Lost on restart.
 * TTLs are enforced by one native timer per store; a later `set`/`setWithTTL` of the
 * same id replaces the earlier deadline, and pending TTLs never keep the process alive.
 */
export declare class InMemorySessionStore implements SessionStore {
  constructor()
  /** Resolves a copy of the metadata, or `null` when the session is not present. */
  get(sessionId: string): Promise<SessionMetadata | null>
  /** Stores the metadata as `JSON.stringify` would; rejects with a TypeError for a cycle or a BigInt. */
  set(sessionId: string, data: SessionMetadata): Promise<void>
  delete(sessionId: string): Promise<void>
  has(sessionId: string): Promise<boolean>
  keys(): Promise<string[]>
  /** Stores the metadata and removes it after `ttlMs` milliseconds (finite, >= 0). */
  setWithTTL(sessionId: string, data: SessionMetadata, ttlMs: number): Promise<void>
  /** The number of sessions. */
  get size(): number
  clear(): Promise<void>
}

export interface FileSystemSessionStoreConfig {
  /** Path of the session file, resolved against `process.cwd()`. Default `.mcp-use/sessions.json`. */
  path?: string
  /** A change is written at most this many ms after it is made. Default 100. */
  debounceMs?: number
  /** Sessions whose `lastAccessedAt` is older than this are dropped on load. Default 86400000 (24 h). */
  maxAgeMs?: number
}

/**
 * Sessions in memory, persisted to one JSON file (mcp-use's format) so they survive a
 * restart. Saves are serialized and written off the JS thread, atomically and durably
 * (temp file with mode 0600, fsync, rename, fsync of the directory). Unsaved changes are
 * written when the process exits normally.
 */
export declare class FileSystemSessionStore implements SessionStore {
  /** Loads the file synchronously. A corrupt file is moved aside to `<path>.corrupt-<ms>`; an unreadable one throws. */
  constructor(config?: FileSystemSessionStoreConfig)
  get(sessionId: string): Promise<SessionMetadata | null>
  set(sessionId: string, data: SessionMetadata): Promise<void>
  delete(sessionId: string): Promise<void>
  has(sessionId: string): Promise<boolean>
  keys(): Promise<string[]>
  /** As the reference: stamps `lastAccessedAt` with now and removes the session after `ttlMs`. */
  setWithTTL(sessionId: string, data: SessionMetadata, ttlMs: number): Promise<void>
  get size(): number
  clear(): Promise<void>
  /** Resolves once every change made before the call is on disk; rejects with the disk error. */
  flush(): Promise<void>
  /** Absolute path of the session file. */
  get path(): string
}

/**
 * Live SSE streams of this process, by session id. `send` encodes the payload to UTF-8
 * once and enqueues the same `Uint8Array` to each target; a controller whose `enqueue`
 * throws is dropped.
 */
/**
 * Store-and-forward: a send to listed sessions that reaches no live stream is kept, and the
 * next stream the session opens gets the kept messages first, in order, exactly once.
 */
export interface PendingOptions {
  /** Seconds a kept message lives; `0` keeps nothing (mcp-use's behaviour). Default 3600. */
  pendingTtl?: number
  /** Messages kept per session; the oldest are dropped beyond it. Default 1000. */
  pendingMaxMessages?: number
  /** Bytes of message text kept per session; the oldest are dropped beyond it. Default 1048576. */
  pendingMaxBytes?: number
}

/** Store-and-forward counters of one manager, since it was made. */
export interface PendingStats {
  /** Messages kept because no stream took them. */
  buffered: number
  /** Kept messages delivered to a stream that opened. */
  replayed: number
  /** Kept messages that outlived `pendingTtl`. */
  expired: number
  /** Kept messages dropped over `pendingMaxMessages` / `pendingMaxBytes`. */
  dropped: number
}

export declare class InMemoryStreamManager implements StreamManager {
  constructor(config?: PendingOptions)
  create(sessionId: string, controller: ReadableStreamDefaultController): Promise<void>
  /** `undefined` broadcasts to every stream. */
  send(sessionIds: string[] | undefined, data: string): Promise<void>
  /** Closes the stream's controller (an already-closed one is ignored) and releases it. */
  delete(sessionId: string): Promise<void>
  has(sessionId: string): Promise<boolean>
  /** Closes every stream. */
  close(): Promise<void>
  get size(): number
  /** Store-and-forward counters. */
  pendingStats(): PendingStats
}

/**
 * mcp-use's minimal Redis client contract: any object with these methods works (an
 * in-memory fake, a wrapper, an instrumented client). The optional ones are probed as
 * mcp-use does: `setEx`, then `setex`, then `set(key, value, { EX })`; `expire`, `sAdd`,
 * `sRem`, `sMembers` are used when present; `publish`/`subscribe`/`unsubscribe` only by
 * `RedisStreamManager`.
 */
export interface RedisClient {
  get(key: string): Promise<string | null>
  set(key: string, value: string, options?: any): Promise<string | null>
  setEx?(key: string, seconds: number, value: string): Promise<string | null>
  setex?(key: string, seconds: number, value: string): Promise<string | null>
  del(key: string | string[]): Promise<number>
  exists(key: string | string[]): Promise<number>
  keys(pattern: string): Promise<string[]>
  expire?(key: string, seconds: number): Promise<boolean | number>
  sAdd?(key: string, ...members: string[]): Promise<number>
  sRem?(key: string, ...members: string[]): Promise<number>
  sMembers?(key: string): Promise<string[]>
  publish?(channel: string, message: string): Promise<number>
  subscribe?(channel: string, callback: (message: string) => void): Promise<number | void>
  unsubscribe?(channel: string): Promise<number | void>
  quit(): Promise<string | "OK">
}

/**
 * A connected node-redis (v4/v5) or ioredis client. With `driver: "auto"` (the default) or
 * `"native"` the addon reads its connection settings (`options`: url or host/port, username,
 * password, database, TLS) and opens its own native connections; the client itself is then
 * only used for `quit()` on `close()`.
 */
export interface RedisClientLike {
  options?: unknown
  quit?(): Promise<unknown>
  [key: string]: any
}

/**
 * How the Redis classes reach Redis:
 * - `"auto"` (default): native connections for a node-redis or ioredis client whose
 *   settings can be read; any other object (or a Cluster client, an ioredis `keyPrefix`)
 *   is driven through its own methods;
 * - `"native"`: always the native connections (a TypeError when settings cannot be read);
 * - `"client"`: always the passed objects' own methods.
 */
export type RedisDriver = "auto" | "native" | "client"

/** Where to connect: a client to read settings from or to drive, or a URL. */
export interface RedisConnectionConfig {
  /** `redis://[user[:password]@]host[:port][/db]`, `rediss://` for TLS. Takes precedence over `client`. */
  url?: string
  /**
   * Limit in ms for one operation, including waiting for a reconnect: while Redis is
   * unreachable a command fails after this long with an error naming Redis. A driven
   * client's call that has not settled after this long fails too. Default 5000.
   */
  commandTimeoutMs?: number
  /** Native connections or the client's own methods. Default `"auto"`. */
  driver?: RedisDriver
}

interface RedisSessionStoreOptions extends RedisConnectionConfig {
  /** Key prefix. Default `"mcp:session:"`. */
  prefix?: string
  /** TTL of `set` in seconds. Default 3600. */
  defaultTTL?: number
  /** Accepted for compatibility; values are always JSON, as in mcp-use. */
  serialize?: boolean
}

/** A client (node-redis, ioredis or any `RedisClient`; `close()` calls its `quit()`), or a `url`. */
export type RedisSessionStoreConfig =
  | (RedisSessionStoreOptions & { client: RedisClient | RedisClientLike })
  | (RedisSessionStoreOptions & { url: string; client?: RedisClient | RedisClientLike; driver?: "auto" | "native" })

/**
 * Session metadata in Redis under `{prefix}{sessionId}` as JSON, the keys and values of
 * mcp-use's class. `get`/`has`/`keys` log a Redis failure and resolve `null`/`false`/`[]`;
 * the other methods reject with an error naming Redis and the command.
 */
export declare class RedisSessionStore implements SessionStore {
  constructor(config: RedisSessionStoreConfig)
  get(sessionId: string): Promise<SessionMetadata | null>
  /** `SET key json EX defaultTTL`. */
  set(sessionId: string, data: SessionMetadata): Promise<void>
  delete(sessionId: string): Promise<void>
  has(sessionId: string): Promise<boolean>
  /** Session ids under the prefix, found with `SCAN` (never `KEYS`). */
  keys(): Promise<string[]>
  /** `SET key json EX ceil(ttlMs / 1000)`. */
  setWithTTL(sessionId: string, data: SessionMetadata, ttlMs: number): Promise<void>
  /** Closes the native connection and calls the client's `quit()`. */
  close(): Promise<void>
  /** Deletes every session under the prefix (`SCAN` + `UNLINK` in batches). */
  clear(): Promise<void>
  /** `"client"` when the passed client's own methods are driven, else `"native"`. */
  get driver(): "native" | "client"
}

interface RedisStreamManagerOptions extends RedisConnectionConfig, PendingOptions {
  /** Channel and key prefix. Default `"mcp:stream:"`. */
  prefix?: string
  /** Heartbeat interval in seconds; availability keys expire after twice this. Default 10. */
  heartbeatInterval?: number
}

/**
 * `client` (commands, publishing) and `pubSubClient` (whose settings the dedicated
 * subscriber connection uses, or which is driven for subscriptions), as in mcp-use; or a
 * `url` for both.
 */
export type RedisStreamManagerConfig =
  | (RedisStreamManagerOptions & { client: RedisClient | RedisClientLike; pubSubClient: RedisClient | RedisClientLike })
  | (RedisStreamManagerOptions & { url: string; client?: RedisClient | RedisClientLike; pubSubClient?: RedisClient | RedisClientLike; driver?: "auto" | "native" })

/**
 * SSE streams routed across instances by Redis pub/sub, on the channels and keys of
 * mcp-use's class. One subscriber connection and one heartbeat per manager; it reconnects
 * and re-subscribes by itself after a Redis restart.
 */
export declare class RedisStreamManager implements StreamManager {
  constructor(config: RedisStreamManagerConfig)
  /** Idempotent: a reconnecting stream replaces the earlier controller. */
  create(sessionId: string, controller: ReadableStreamDefaultController): Promise<void>
  /** Publishes to the listed sessions, or to every active session when `undefined`. */
  send(sessionIds: string[] | undefined, data: string): Promise<void>
  delete(sessionId: string): Promise<void>
  /** Whether the session has a stream on any instance. */
  has(sessionId: string): Promise<boolean>
  /** Closes local streams and removes only this instance's sessions from Redis. */
  close(): Promise<void>
  /** Streams held by this instance. */
  get localSize(): number
  /** Store-and-forward counters (messages kept in Redis by this instance, replayed to its streams, ...). */
  pendingStats(): PendingStats
  /** `"client"` when the passed clients' own methods are driven, else `"native"`. */
  get driver(): "native" | "client"
  registerOutboundRequest(requestId: string | number, sessionId: string): Promise<void>
  forwardInboundResponse(message: { id: string | number; [key: string]: unknown }, sessionId: string): Promise<boolean>
  onForwardedResponse(handler: (message: unknown, sessionId: string) => void): void
}
