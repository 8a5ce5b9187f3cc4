//! `stats()` and `health()` as JS objects: the types `index.d.ts` declares (one per class,
//! each key documented), converted from the core's snapshots. Numbers are JS numbers
//! (counters stay exact up to 2^53); times are ms since the Unix epoch.

use napi_derive::napi;

use crate::metrics::connection::{ConnectionHealth, ConnectionStats};
use crate::metrics::health::{BusHealth, FileHealth, RedisHealth};
use crate::metrics::histogram::LatencySnapshot;
use crate::store::filesystem::SaveStats;
use crate::store::memory::MemoryStats;
use crate::stream::bus::status::BusStats;
use crate::stream::counters::StreamStats;
use crate::stream::redis::ManagerStats;

/// One bucket of a latency summary: how many operations took at most `leMs`.
#[napi(object, js_name = "LatencyBucket")]
pub struct LatencyBucketJs {
    pub le_ms: f64,
    pub count: f64,
}

/// Operation latencies in fixed buckets (cumulative, as Prometheus' histograms): `count`
/// operations took `sumMs` in all; slower than the last bucket counts in `count` only.
#[napi(object, js_name = "LatencySummary")]
pub struct LatencySummaryJs {
    pub count: f64,
    pub sum_ms: f64,
    pub buckets: Vec<LatencyBucketJs>,
}

impl From<LatencySnapshot> for LatencySummaryJs {
    fn from(s: LatencySnapshot) -> Self {
        LatencySummaryJs {
            count: s.count as f64,
            sum_ms: s.sum_ms,
            buckets: s
                .buckets
                .into_iter()
                .map(|(le_ms, n)| LatencyBucketJs {
                    le_ms,
                    count: n as f64,
                })
                .collect(),
        }
    }
}

/// `InMemorySessionStore.stats()`.
#[napi(object, js_name = "InMemorySessionStoreStats")]
pub struct MemoryStoreStatsJs {
    /// Sessions held.
    pub sessions: f64,
    /// Sessions removed when their TTL ran out.
    pub sessions_expired: f64,
}

impl From<MemoryStats> for MemoryStoreStatsJs {
    fn from(s: MemoryStats) -> Self {
        MemoryStoreStatsJs {
            sessions: s.sessions as f64,
            sessions_expired: s.expired as f64,
        }
    }
}

/// `FileSystemSessionStore.stats()`.
#[napi(object, js_name = "FileSystemSessionStoreStats")]
pub struct FileStoreStatsJs {
    /// Sessions held.
    pub sessions: f64,
    /// Sessions removed when their TTL ran out.
    pub sessions_expired: f64,
    /// Writes of the session file that succeeded.
    pub saves: f64,
    /// Writes of the session file that failed (each is retried).
    pub save_errors: f64,
    /// Changes not written to the file yet.
    pub unsaved_changes: f64,
    /// How long the writes took (serialize, write, fsync, rename), failures included.
    pub save_latency: LatencySummaryJs,
}

impl From<(MemoryStats, SaveStats, u64)> for FileStoreStatsJs {
    fn from((sessions, saves, unsaved): (MemoryStats, SaveStats, u64)) -> Self {
        FileStoreStatsJs {
            sessions: sessions.sessions as f64,
            sessions_expired: sessions.expired as f64,
            saves: saves.saves as f64,
            save_errors: saves.save_errors as f64,
            unsaved_changes: unsaved as f64,
            save_latency: saves.latency.into(),
        }
    }
}

/// `RedisSessionStore.stats()`: its command connection.
#[napi(object, js_name = "RedisSessionStoreStats")]
pub struct RedisStoreStatsJs {
    /// Operations on Redis: a command, a pipeline or a script (one round trip with the native
    /// connection), or one batch of calls on a driven client.
    pub redis_operations: f64,
    /// Those that failed.
    pub redis_errors: f64,
    /// Times the connection worked again after Redis was unreachable.
    pub redis_reconnects: f64,
    /// 1 when the last operation reached Redis, else 0.
    pub redis_up: f64,
    /// How long the operations took, failures included.
    pub redis_latency: LatencySummaryJs,
}

impl From<ConnectionStats> for RedisStoreStatsJs {
    fn from(c: ConnectionStats) -> Self {
        RedisStoreStatsJs {
            redis_operations: c.operations as f64,
            redis_errors: c.errors as f64,
            redis_reconnects: c.reconnects as f64,
            redis_up: f64::from(u8::from(c.up)),
            redis_latency: c.latency.into(),
        }
    }
}

/// `InMemoryStreamManager.stats()`.
#[napi(object, js_name = "InMemoryStreamManagerStats")]
pub struct MemoryManagerStatsJs {
    /// Streams held.
    pub streams: f64,
    /// Messages given to `send`: one per listed session, one per broadcast.
    pub messages_sent: f64,
    /// Messages handed to a stream, replays of kept messages included.
    pub messages_delivered: f64,
    /// Messages kept because no stream took them (as `pendingStats().buffered`).
    pub messages_kept: f64,
    /// Kept messages delivered to a stream that opened.
    pub messages_replayed: f64,
    /// Kept messages that outlived `pendingTtl`.
    pub messages_expired: f64,
    /// Kept messages dropped to stay within `pendingMaxMessages` / `pendingMaxBytes`.
    pub messages_dropped: f64,
    /// Streams let go of because a write to them failed (the client left, or stopped reading).
    pub streams_dropped: f64,
}

impl From<StreamStats> for MemoryManagerStatsJs {
    fn from(s: StreamStats) -> Self {
        MemoryManagerStatsJs {
            streams: s.streams as f64,
            messages_sent: s.sent as f64,
            messages_delivered: s.delivered as f64,
            messages_kept: s.pending.buffered as f64,
            messages_replayed: s.pending.replayed as f64,
            messages_expired: s.pending.expired as f64,
            messages_dropped: s.pending.dropped as f64,
            streams_dropped: s.streams_dropped as f64,
        }
    }
}

/// `RedisStreamManager.stats()`: its streams and messages, its command connection (`redis*`)
/// and its subscriber (`subscriber*`).
#[napi(object, js_name = "RedisStreamManagerStats")]
pub struct RedisManagerStatsJs {
    /// Streams held by this instance (as `localSize`).
    pub streams: f64,
    /// Messages given to `send` here: one per listed session, one per broadcast.
    pub messages_sent: f64,
    /// Messages handed to a stream held here (from any instance), replays included.
    pub messages_delivered: f64,
    /// Messages kept because no stream took them (as `pendingStats().buffered`).
    pub messages_kept: f64,
    /// Kept messages delivered to a stream that opened here.
    pub messages_replayed: f64,
    /// Kept messages found expired by this instance.
    pub messages_expired: f64,
    /// Kept messages dropped to stay within `pendingMaxMessages` / `pendingMaxBytes`.
    pub messages_dropped: f64,
    /// Streams let go of because a write to them failed (the client left, or stopped reading).
    pub streams_dropped: f64,
    /// Operations on the command connection (a command, a pipeline or a script).
    pub redis_operations: f64,
    pub redis_errors: f64,
    pub redis_reconnects: f64,
    pub redis_up: f64,
    pub redis_latency: LatencySummaryJs,
    /// Subscribes, unsubscribes and PINGs on the subscriber connection.
    pub subscriber_operations: f64,
    pub subscriber_errors: f64,
    /// Times the subscriber worked again after a drop or an outage.
    pub subscriber_reconnects: f64,
    pub subscriber_up: f64,
}

impl From<ManagerStats> for RedisManagerStatsJs {
    fn from(s: ManagerStats) -> Self {
        let streams = MemoryManagerStatsJs::from(s.streams);
        let commands = RedisStoreStatsJs::from(s.commands);
        RedisManagerStatsJs {
            streams: streams.streams,
            messages_sent: streams.messages_sent,
            messages_delivered: streams.messages_delivered,
            messages_kept: streams.messages_kept,
            messages_replayed: streams.messages_replayed,
            messages_expired: streams.messages_expired,
            messages_dropped: streams.messages_dropped,
            streams_dropped: streams.streams_dropped,
            redis_operations: commands.redis_operations,
            redis_errors: commands.redis_errors,
            redis_reconnects: commands.redis_reconnects,
            redis_up: commands.redis_up,
            redis_latency: commands.redis_latency,
            subscriber_operations: s.subscriber.operations as f64,
            subscriber_errors: s.subscriber.errors as f64,
            subscriber_reconnects: s.subscriber.reconnects as f64,
            subscriber_up: f64::from(u8::from(s.subscriber.up)),
        }
    }
}

/// `RedisServerEventBus.stats()`: its events, its command connection (`redis*`: the log's
/// appends and reads) and its subscriber (`subscriber*`), as the other Redis classes'.
#[napi(object, js_name = "RedisServerEventBusStats")]
pub struct BusStatsJs {
    /// Listeners registered here (gauge).
    pub listeners: f64,
    /// Events given to `publish` here.
    pub events_published: f64,
    /// Of those, appended to Redis (announced to the other processes).
    pub events_appended: f64,
    /// Appends that failed (their events wait in the outbox and are tried again).
    pub append_errors: f64,
    /// Listener calls made for events published here (one per listener and event).
    pub local_deliveries: f64,
    /// Listener calls that threw (each also goes to `onerror`).
    pub listener_errors: f64,
    /// Events of other processes delivered here, live or read back from the log.
    pub events_received: f64,
    /// Of those, read back from the log (after a reconnect, at start, or a gap).
    pub events_replayed: f64,
    /// Events that arrived twice (the channel and a catch-up read overlap) and were skipped.
    pub duplicates_skipped: f64,
    /// Events of other processes never received here (out of the retention window, dropped
    /// by their publisher's outbox; pub/sub only: published while this subscriber was away),
    /// counted when that publisher's next event arrives.
    pub events_lost: f64,
    /// Events published here waiting to be appended (gauge).
    pub outbox_events: f64,
    /// Events dropped from the outbox over `outboxMaxLength`.
    pub outbox_dropped: f64,
    /// Events dropped from the outbox over `outboxMaxAgeMs`.
    pub outbox_expired: f64,
    /// Events published after `close()`, or still waiting when it gave up.
    pub unsent_at_close: f64,
    /// Reads of the log after the last event seen.
    pub catch_ups: f64,
    /// Messages on the bus's channel that were not the bus's (ignored).
    pub malformed_messages: f64,
    /// Publishing buses (origins) whose order this process tracks (gauge).
    pub publishers: f64,
    /// Operations on the command connection: an append script, a read of the log (or of its
    /// newest id), a `TIME`, a PING.
    pub redis_operations: f64,
    pub redis_errors: f64,
    pub redis_reconnects: f64,
    pub redis_up: f64,
    pub redis_latency: LatencySummaryJs,
    /// Subscribes, unsubscribes and PINGs on the subscriber connection.
    pub subscriber_operations: f64,
    pub subscriber_errors: f64,
    /// Times the subscriber worked again after a drop or an outage.
    pub subscriber_reconnects: f64,
    pub subscriber_up: f64,
}

impl From<(BusStats, usize)> for BusStatsJs {
    fn from((s, listeners): (BusStats, usize)) -> Self {
        let e = s.events;
        let n = |v: u64| v as f64;
        let commands = RedisStoreStatsJs::from(s.commands);
        BusStatsJs {
            listeners: listeners as f64,
            events_published: n(e.published),
            events_appended: n(e.appended),
            append_errors: n(e.append_failures),
            local_deliveries: n(e.delivered_local),
            listener_errors: n(e.listener_errors),
            events_received: n(e.received_remote),
            events_replayed: n(e.replayed),
            duplicates_skipped: n(e.duplicates_skipped),
            events_lost: n(e.lost),
            outbox_events: n(e.outbox),
            outbox_dropped: n(e.outbox_dropped),
            outbox_expired: n(e.outbox_expired),
            unsent_at_close: n(e.unsent_at_close),
            catch_ups: n(e.catch_ups),
            malformed_messages: n(e.malformed),
            publishers: n(e.origins),
            redis_operations: commands.redis_operations,
            redis_errors: commands.redis_errors,
            redis_reconnects: commands.redis_reconnects,
            redis_up: commands.redis_up,
            redis_latency: commands.redis_latency,
            subscriber_operations: n(s.subscriber.operations),
            subscriber_errors: n(s.subscriber.errors),
            subscriber_reconnects: n(s.subscriber.reconnects),
            subscriber_up: f64::from(u8::from(s.subscriber.up)),
        }
    }
}

/// `health()` of the in-memory classes: always `ok` (nothing they depend on can fail).
#[napi(object, js_name = "InMemoryHealth")]
pub struct MemoryHealthJs {
    #[napi(ts_type = "\"ok\"")]
    pub status: String,
    /// Sessions held (`InMemorySessionStore`).
    pub sessions: Option<f64>,
    /// Streams held (`InMemoryStreamManager`).
    pub streams: Option<f64>,
}

impl MemoryHealthJs {
    pub fn sessions(n: usize) -> Self {
        MemoryHealthJs {
            status: "ok".to_owned(),
            sessions: Some(n as f64),
            streams: None,
        }
    }

    pub fn streams(n: usize) -> Self {
        MemoryHealthJs {
            status: "ok".to_owned(),
            sessions: None,
            streams: Some(n as f64),
        }
    }
}

/// `FileSystemSessionStore.health()`: `degraded` when the last save failed or a newer store
/// of this process took the file over (it serves from memory either way); never `down`.
#[napi(object, js_name = "FileSystemSessionStoreHealth")]
pub struct FileHealthJs {
    #[napi(ts_type = "HealthStatus")]
    pub status: String,
    pub reason: Option<String>,
    pub sessions: f64,
    /// Changes not written to the file yet.
    pub unsaved_changes: f64,
    /// When the last save ended (ms since the epoch), successful or not.
    pub last_save_at: Option<f64>,
    /// Why the last save failed (with the path); absent when it succeeded.
    pub last_save_error: Option<String>,
}

impl From<FileHealth> for FileHealthJs {
    fn from(h: FileHealth) -> Self {
        FileHealthJs {
            status: h.status.as_str().to_owned(),
            reason: h.reason,
            sessions: h.sessions as f64,
            unsaved_changes: h.unsaved_changes as f64,
            last_save_at: h.last_save.as_ref().map(|s| s.at),
            last_save_error: h.last_save.and_then(|s| s.error),
        }
    }
}

/// A Redis connection's state, as its last operation showed.
#[napi(object, js_name = "RedisConnectionHealth")]
pub struct ConnectionHealthJs {
    /// `connecting`: nothing finished on it yet; `up`: the last operation reached Redis;
    /// `down`: it could not (or Redis said it cannot serve).
    #[napi(ts_type = "\"connecting\" | \"up\" | \"down\"")]
    pub state: String,
    /// When the state last changed (ms since the epoch).
    pub since: f64,
    /// While `down`: since when.
    pub down_since: Option<f64>,
    /// The last failure: `Redis <COMMAND> failed: <cause>` (never a key, a password or
    /// session metadata).
    pub last_error: Option<String>,
    pub last_error_at: Option<f64>,
    /// Times it worked again after being down.
    pub reconnects: f64,
}

impl From<ConnectionHealth> for ConnectionHealthJs {
    fn from(c: ConnectionHealth) -> Self {
        ConnectionHealthJs {
            state: c.state.as_str().to_owned(),
            since: c.since,
            down_since: c.down_since,
            last_error: c.last_error,
            last_error_at: c.last_error_at,
            reconnects: c.reconnects as f64,
        }
    }
}

/// `health()` of the Redis classes: `down` when the command connection does not reach Redis
/// (or not yet) or the instance is closed; `degraded` when only a stream manager's subscriber
/// does not; else `ok`.
#[napi(object, js_name = "RedisHealth")]
pub struct RedisHealthJs {
    #[napi(ts_type = "HealthStatus")]
    pub status: String,
    pub reason: Option<String>,
    pub commands: ConnectionHealthJs,
    /// `RedisStreamManager` only.
    pub subscriber: Option<ConnectionHealthJs>,
}

impl From<RedisHealth> for RedisHealthJs {
    fn from(h: RedisHealth) -> Self {
        RedisHealthJs {
            status: h.status.as_str().to_owned(),
            reason: h.reason,
            commands: h.commands.into(),
            subscriber: h.subscriber.map(Into::into),
        }
    }
}

/// `RedisServerEventBus.health()`: the Redis classes' shape and rule (`down` when the command
/// connection does not reach Redis, not yet, or the bus is closed; `degraded` when only the
/// subscriber does not), plus the bus's own: `degraded` while events wait to be appended or
/// when it is pub/sub only.
#[napi(object, js_name = "RedisServerEventBusHealth")]
pub struct BusHealthJs {
    #[napi(ts_type = "HealthStatus")]
    pub status: String,
    pub reason: Option<String>,
    /// The connection the log is appended to and read from.
    pub commands: ConnectionHealthJs,
    pub subscriber: ConnectionHealthJs,
    /// `"log"`: a Redis Stream with catch-up; `"pubsub"`: pub/sub only (driver `"client"`).
    #[napi(ts_type = "\"log\" | \"pubsub\"")]
    pub mode: String,
    /// Events published here waiting to be appended.
    pub outbox_events: f64,
}

impl From<BusHealth> for BusHealthJs {
    fn from(h: BusHealth) -> Self {
        BusHealthJs {
            status: h.status.as_str().to_owned(),
            mode: h.mode().to_owned(),
            reason: h.reason,
            commands: h.commands.into(),
            subscriber: h.subscriber.into(),
            outbox_events: h.outbox_events as f64,
        }
    }
}
