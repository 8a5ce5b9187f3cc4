//! What the Redis classes need from Redis, as two traits with two implementations each:
//!
//! * the native connections of [`super::native`] (the redis crate: pipelines, Lua scripts,
//!   `SCAN`, a RESP3 subscriber that reconnects by itself);
//! * an object the user passed that honours mcp-use's `RedisClient` contract (get, set,
//!   setEx/setex, del, exists, keys, expire, sAdd, sRem, sMembers, publish, subscribe,
//!   unsubscribe), driven by the bindings in `src/node/redis_driver/`.
//!
//! The logic of each class (which keys, in what order, which fallbacks) lives once, in
//! [`crate::store::redis`] and [`crate::stream::redis`]; a backend only carries out
//! Redis-level operations. Where a backend cannot do something it answers
//! [`RedisErrorKind::Unsupported`] and the class falls back as the seed describes (no Lua:
//! `SMEMBERS` then `PUBLISH` each; no `sMembers`: `KEYS available:{prefix}*`).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc::UnboundedReceiver;

use super::{RedisError, RedisErrorKind, Result};
use crate::pending::{PendingLimits, PendingStats};

/// A boxed, sendable future: what the trait methods return (object-safe async).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Describes an operation for an error message; called only when it failed.
pub type Describe<'a> = &'a (dyn Fn() -> String + Send + Sync);

/// One write of a batch (see [`Commands::write`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// `SET key value [EX secs]`. A driven client uses `setEx`, else `setex`, else
    /// `set(key, value, { EX })` (plain `set(key, value)` without an expiry).
    Set {
        key: String,
        value: String,
        expire_secs: Option<u64>,
    },
    /// Keeps `key` alive for `secs` more seconds, restoring it if it is gone (a Redis restart
    /// without persistence, a Sentinel failover that lost the last refreshes). Native:
    /// `SET key value EX secs`. A driven client: the same write through `setEx` / `setex` /
    /// `set` (not mcp-use's `expire`, which cannot restore a key); `expire` only when the
    /// object has none of them.
    Refresh {
        key: String,
        value: String,
        secs: u64,
    },
    /// `DEL keys...`.
    Del(Vec<String>),
    /// `UNLINK keys...` (a driven client: `del`).
    Unlink(Vec<String>),
    /// `EXPIRE key secs` (a driven client without `expire`: nothing).
    Expire { key: String, secs: u64 },
    /// `SADD key members...` (a driven client without `sAdd`: nothing).
    SAdd { key: String, members: Vec<String> },
    /// `SREM key members...` (a driven client without `sRem`: nothing).
    SRem { key: String, members: Vec<String> },
    /// `PUBLISH channel message` (a driven client without `publish`: the whole batch fails
    /// with [`RedisErrorKind::Unsupported`] before anything is sent).
    Publish { channel: String, message: String },
}

/// One step of the incremental prune of an active set: `SSCAN set cursor COUNT count`, and
/// every id of that page whose key `{available_prefix}{id}` is gone is removed, unless some
/// instance still listens to `{channel_prefix}{id}`: then its key is put back with
/// `restore_ttl_secs` (in a mixed fleet, an mcp-use instance the session left may still
/// expire the key of a stream that lives on elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneStep {
    pub set_key: String,
    pub available_prefix: String,
    pub channel_prefix: String,
    pub restore_ttl_secs: u64,
    pub cursor: String,
    pub count: usize,
}

/// The result of a [`PruneStep`]: the next cursor (`"0"` when the pass is complete) and how
/// many ids were removed.
pub type PruneOutcome = (String, u64);

/// Where a stream manager keeps the messages of sessions with no live stream (see
/// [`crate::pending`]): a list `{list_prefix}{id}` of `"<unix seconds>:<message>"` entries
/// and its byte count `{bytes_prefix}{id}`, both expiring after the TTL. New keys, which
/// mcp-use's classes never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingKeys {
    /// Prefix of the session channels (`{prefix}`).
    pub channel_prefix: String,
    /// `{prefix}pending:`.
    pub list_prefix: String,
    /// `{prefix}pending-bytes:`.
    pub bytes_prefix: String,
    /// `{prefix}pending-handover:`: `{handover_prefix}{id}` names the instance letting go of
    /// the session's stream while it does (see [`Commands::mark_releasing`]).
    pub handover_prefix: String,
    /// `{prefix}pending-awaited:`: `{awaited_prefix}{id}` says a stream of the session that
    /// opened while another instance listened awaits what that one hands back (see
    /// [`Commands::requeue`]), for [`HANDBACK_TTL_SECS`].
    pub awaited_prefix: String,
    /// `{prefix}pending-opening:`: `{opening_prefix}{id}` names an instance opening a stream
    /// of the session, from before its SUBSCRIBE until its take (see
    /// [`Commands::mark_opening`]).
    pub opening_prefix: String,
    /// `{prefix}pending-journal:`: `{journal_prefix}{id}` is a stream of the messages sent to
    /// the session that a subscriber was counted for but no instance of ours has acknowledged
    /// yet (see [`Commands::acknowledge`]), for [`JOURNAL_TTL_SECS`].
    pub journal_prefix: String,
}

/// How long a hand-back (see [`Commands::requeue`]) is kept, and a stream awaits one: it is
/// for a stream that opened while another instance listened, which takes it at once; kept
/// longer, a stream opened later could get a message that one already delivered.
pub const HANDBACK_TTL_SECS: u64 = 30;

/// How long [`Commands::mark_releasing`]'s record lasts if its instance dies before its
/// requeue.
pub const HANDOVER_MARK_SECS: u64 = 10;

/// How long a journaled message waits for its acknowledgement (see
/// [`Commands::publish_or_keep`]), and the oldest entry a take or the clean-up after a dead
/// instance still counts as not delivered: as long as a hand-back. Only a message Redis handed
/// to an instance that died before it acknowledged it outlives its first milliseconds, and the
/// session's next stream takes it within seconds (or the survivors' clean-up moves it to the
/// pending list); an older entry is one whose acknowledgement was lost. Each journaled send
/// renews the journal's expiry, so it bounds only what an instance that never acknowledges
/// (mcp-use's) leaves behind once the sends stop.
pub const JOURNAL_TTL_SECS: u64 = HANDBACK_TTL_SECS;

/// What a journaled message is published with, before its journal id, a line feed and the
/// message: an SSE comment, which an mcp-use instance holding the stream writes to its client
/// as it is (the client ignores it); ours take it off.
pub const JOURNAL_TAG: &str = ": mcp-sessions-native journal ";

/// Most journaled messages per session: a dead instance is counted as a subscriber for
/// milliseconds, so a handful is what it can miss; the bound is for instances that never
/// acknowledge.
pub const JOURNAL_MAX: u64 = 64;

impl PendingKeys {
    /// The keys of a stream manager whose channel / key prefix is `prefix`.
    pub fn for_prefix(prefix: &str) -> Self {
        PendingKeys {
            channel_prefix: prefix.to_owned(),
            list_prefix: format!("{prefix}pending:"),
            bytes_prefix: format!("{prefix}pending-bytes:"),
            handover_prefix: format!("{prefix}pending-handover:"),
            awaited_prefix: format!("{prefix}pending-awaited:"),
            opening_prefix: format!("{prefix}pending-opening:"),
            journal_prefix: format!("{prefix}pending-journal:"),
        }
    }
}

/// One message [`Commands::take_pending`] took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenMessage {
    pub text: String,
    /// Put back by an instance that let go of the session's stream while another instance
    /// listened to it (see [`Commands::requeue`]): that listener may have received it too.
    pub handed_back: bool,
}

/// What [`Commands::take_pending`] found for one session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Taken {
    /// How many kept messages had expired.
    pub expired: u64,
    /// Whether another instance of ours held the session, or was letting go of it, when the
    /// take ran: a hand-back may come. (The take published its marker on the session's
    /// channel, when one was given, whenever another instance listened.)
    pub contested: bool,
    /// The others, oldest first.
    pub messages: Vec<TakenMessage>,
}

/// Who takes or hands back kept messages, and the marker it publishes on the session's
/// channel when another instance may be concerned (see `crate::stream::handover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandOver<'a> {
    pub server_id: &'a str,
    pub marker: &'a str,
    /// The instance registry and the prefix of each instance's session set (see
    /// [`Liveness`]), if any: a take waits for a hand-back only from an instance of ours that
    /// holds the session (an mcp-use instance never hands back).
    pub instances: Option<(&'a str, &'a str)>,
    /// For a requeue: the instance saw the opened marker of the stream that awaits its
    /// hand-back, and collected nothing after it.
    pub superseded: bool,
}

/// The keys of the per-instance liveness (see [`Commands::beat`]); new keys, which mcp-use's
/// classes never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    /// This instance's id.
    pub server_id: String,
    /// `{prefix}instances`: sorted set of instance ids, scored by the time (ms, Redis' clock)
    /// until which each counts as alive.
    pub registry: String,
    /// `{prefix}instance:`: prefix of each instance's set of the sessions it holds.
    pub instance_prefix: String,
    /// `available:{prefix}`.
    pub available_prefix: String,
    /// `{prefix}` (session channels).
    pub channel_prefix: String,
    /// `{prefix}active`.
    pub active: String,
    /// Expiry of the instance-held keys (availability keys, session sets, registry): a leak
    /// guard for a fleet that stops all at once, refreshed rarely.
    pub lease_secs: u64,
    /// Store-and-forward's keys and how long a kept message lives (0: nothing is kept): the
    /// clean-up after a dead instance keeps what its sessions' journals hold (see
    /// [`Commands::prune_instance`]).
    pub pending: Option<(PendingKeys, u64)>,
}

impl Liveness {
    pub fn instance_set(&self, server_id: &str) -> String {
        format!("{}{server_id}", self.instance_prefix)
    }
}

/// What one [`Commands::beat`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Beat {
    /// Whether this instance was in the registry before this beat (false on the first beat,
    /// after a Redis restart, or when survivors took it for dead).
    pub registered: bool,
    /// Instances whose heartbeat lapsed.
    pub dead: Vec<String>,
}

/// Commands on one connection (or one driven client object).
pub trait Commands: Send + Sync + 'static {
    /// `GET key`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>>;

    /// `EXISTS key` is 1.
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// One page of the keys matching `pattern` (a glob, already escaped where needed),
    /// from `cursor` (`"0"` to start). Returns the next cursor, `"0"` when done. Native:
    /// `SCAN`; a driven client: all of `keys(pattern)` in one page.
    fn scan<'a>(
        &'a self,
        cursor: &'a str,
        pattern: &'a str,
    ) -> BoxFuture<'a, Result<(String, Vec<String>)>>;

    /// `SMEMBERS key`. A driven client without `sMembers`: [`RedisErrorKind::Unsupported`].
    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>>>;

    /// Runs `writes` in order, as one batch: native, one pipeline (one round trip); a driven
    /// client, every call issued at once, then all awaited. Fails with the first error.
    fn write<'a>(&'a self, writes: Vec<Write>, what: Describe<'a>) -> BoxFuture<'a, Result<()>>;

    /// `writes`, then `prune` (one round trip natively). A backend without server-side
    /// scripts runs `writes` only and answers `None`.
    fn write_and_prune<'a>(
        &'a self,
        writes: Vec<Write>,
        prune: PruneStep,
        what: Describe<'a>,
    ) -> BoxFuture<'a, Result<Option<PruneOutcome>>> {
        let _ = prune;
        Box::pin(async move { self.write(writes, what).await.map(|()| None) })
    }

    /// One [`PruneStep`] on its own. Default: [`RedisErrorKind::Unsupported`].
    fn prune_step<'a>(&'a self, prune: PruneStep) -> BoxFuture<'a, Result<PruneOutcome>> {
        Box::pin(async move {
            Err(unsupported(
                format!("prune step on {}", prune.set_key),
                "server-side scripts",
            ))
        })
    }

    /// Publishes `message` to `{channel_prefix}{id}` for every id of `set_key` whose key
    /// `{available_prefix}{id}` exists, removing the others from the set, in one server-side
    /// script. Returns how many were published to. Default: [`RedisErrorKind::Unsupported`].
    fn broadcast<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        message: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        let _ = (available_prefix, channel_prefix, message);
        Box::pin(async move {
            Err(unsupported(
                format!("broadcast script on {set_key}"),
                "server-side scripts",
            ))
        })
    }

    /// Publishes `message` on the channel of each of `ids`; where no subscriber received it,
    /// appends it to that session's pending list instead, dropping the oldest beyond
    /// `limits`. "Nobody received it" and "kept" are one atomic step (a script), so a stream
    /// that subscribes meanwhile either receives the message or finds it kept. Where a
    /// subscriber was counted (on one node, not a Cluster), the message also goes to the
    /// session's journal (`{journal_prefix}{id}`, a Redis stream, at most [`JOURNAL_MAX`], for
    /// [`JOURNAL_TTL_SECS`]) in the same step, and is published tagged with its journal id
    /// (see `crate::stream::redis::markers`): the instance that received it acknowledges it
    /// ([`Commands::acknowledge`]); what no instance acknowledged was handed to one that died
    /// first, and the session's next stream takes it ([`Commands::take_pending`]). Returns the
    /// `buffered` and `dropped` counts. Default: [`RedisErrorKind::Unsupported`].
    fn publish_or_keep<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        message: &'a str,
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        let _ = (ids, message, limits);
        Box::pin(async move {
            Err(unsupported(
                format!("store-and-forward on {}*", keys.list_prefix),
                "server-side scripts",
            ))
        })
    }

    /// Takes (reads and deletes, atomically, so exactly one stream gets them) the pending
    /// messages of each of `ids`, leaving out those older than the TTL (and hand-backs older
    /// than [`HANDBACK_TTL_SECS`]). With `announce`, a session that another instance listens
    /// to or is letting go of is [`Taken::contested`], and the take publishes the marker on
    /// its channel in the same step. Default: [`RedisErrorKind::Unsupported`].
    fn take_pending<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        limits: PendingLimits,
        announce: Option<HandOver<'a>>,
    ) -> BoxFuture<'a, Result<Vec<Taken>>> {
        let _ = (ids, limits, announce);
        Box::pin(async move {
            Err(unsupported(
                format!("take of {}*", keys.list_prefix),
                "server-side scripts",
            ))
        })
    }

    /// Puts `messages` (oldest first) back at the head of the pending list of `id`, ahead of
    /// anything kept since, within `limits`. When a stream of the session awaits a hand-back
    /// from `from` (its take announced it, and `from` saw that marker, or was letting go of
    /// the session when the take ran: either way `messages` were all published before it)
    /// they are kept as hand-backs, which that stream tells apart from what it received
    /// itself, and the marker of `from` is published on the channel so it takes them;
    /// likewise when a stream of the session is opening (its [`Commands::mark_opening`]
    /// record is there: its take has not run yet, and will take them); otherwise nothing is
    /// kept while another instance listens to the session's channel (its stream received
    /// them). Ends `from`'s
    /// [`Commands::mark_releasing`]. Returns the `buffered` and `dropped` counts. Default:
    /// [`RedisErrorKind::Unsupported`].
    fn requeue<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        messages: &'a [String],
        limits: PendingLimits,
        from: HandOver<'a>,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        let _ = (messages, limits, from);
        Box::pin(async move {
            Err(unsupported(
                format!("requeue to {}{id}", keys.list_prefix),
                "server-side scripts",
            ))
        })
    }

    /// Records that `server_id` is letting go of the stream of `id` (for
    /// [`HANDOVER_MARK_SECS`], or until its [`Commands::requeue`]), so a take meanwhile
    /// waits for what it hands back. Default: [`RedisErrorKind::Unsupported`].
    fn mark_releasing<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        server_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        let _ = server_id;
        Box::pin(async move {
            Err(unsupported(
                format!("SET {}{id}", keys.handover_prefix),
                "server-side scripts",
            ))
        })
    }

    /// Records that `server_id` is opening a stream of each of `ids` (for
    /// [`HANDOVER_MARK_SECS`], or until its take): written before the SUBSCRIBE, so a
    /// [`Commands::requeue`] that sees the new stream listening before its take ran keeps
    /// what it puts back as hand-backs, which the take tells apart from what the stream
    /// received itself. Default: [`RedisErrorKind::Unsupported`].
    fn mark_opening<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        server_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        let _ = (ids, server_id);
        Box::pin(async move {
            Err(unsupported(
                format!("SET {}*", keys.opening_prefix),
                "server-side scripts",
            ))
        })
    }

    /// Acknowledges journaled messages (see [`Commands::publish_or_keep`]) this instance
    /// received: each `(session id, journal id)` leaves the session's journal, and a journal
    /// left empty goes. Default: [`RedisErrorKind::Unsupported`].
    fn acknowledge<'a>(
        &'a self,
        keys: &'a PendingKeys,
        entries: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<()>> {
        let _ = entries;
        Box::pin(async move {
            Err(unsupported(
                format!("acknowledgement in {}*", keys.journal_prefix),
                "server-side scripts",
            ))
        })
    }

    /// `PING`: whether Redis answers (what `ready()` waits for). A driven client without a
    /// `ping` method, or any backend without one: [`RedisErrorKind::Unsupported`], which
    /// means there is nothing to check.
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Err(unsupported("PING", "ping")) })
    }

    /// Whether this backend runs server-side scripts: the per-instance liveness
    /// ([`Commands::beat`]) and store-and-forward need them.
    fn scripts(&self) -> bool {
        false
    }

    /// One heartbeat of this instance (one script): records in the registry that it is alive
    /// for `dead_after_ms` more, keeps its session set, the registry and the active set alive
    /// for the lease, and lists up to `max_dead` instances past their own deadline. Default:
    /// [`RedisErrorKind::Unsupported`].
    fn beat<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_after_ms: u64,
        max_dead: usize,
    ) -> BoxFuture<'a, Result<Beat>> {
        let _ = (dead_after_ms, max_dead);
        Box::pin(async move {
            Err(unsupported(
                format!("heartbeat in {}", keys.registry),
                "server-side scripts",
            ))
        })
    }

    /// Cleans up after dead instance `dead_id`: takes up to `count` of its sessions and
    /// removes the availability key and active-set entry of each that no live instance
    /// listens to; what such a session's journal holds (no instance acknowledged it: it went
    /// to the dead one) moves to the head of its pending list, for its next stream. The
    /// instance leaves the registry once its set is empty. Returns (taken, removed). Default:
    /// [`RedisErrorKind::Unsupported`].
    fn prune_instance<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_id: &'a str,
        count: usize,
    ) -> BoxFuture<'a, Result<(u64, u64)>> {
        let _ = count;
        Box::pin(async move {
            Err(unsupported(
                format!("prune of {dead_id} in {}", keys.registry),
                "server-side scripts",
            ))
        })
    }

    /// For each of `ids` whose channel `{channel_prefix}{id}` has no subscriber left on any
    /// instance (`PUBSUB NUMSUB` is 0), deletes `{available_prefix}{id}` and removes the id
    /// from `set_key`, in one server-side script; ids another instance still listens to are
    /// left alone (their keys are that instance's). Returns how many were removed. Default:
    /// [`RedisErrorKind::Unsupported`].
    fn release_unheld<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64>> {
        let _ = (available_prefix, channel_prefix, ids);
        Box::pin(async move {
            Err(unsupported(
                format!("release script on {set_key}"),
                "server-side scripts",
            ))
        })
    }
}

/// Every key matching `pattern`, following [`Commands::scan`] pages to the end.
pub async fn scan_all(conn: &dyn Commands, pattern: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let (next, page) = conn.scan(&cursor, pattern).await?;
        keys.extend(page);
        if next == "0" {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// Something that arrived on a subscribed channel, or news of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubEvent {
    /// A message published on `channel`, as bytes (UTF-8 for text).
    Message { channel: String, payload: Vec<u8> },
    /// The connection dropped; subscriptions are restored when it is back.
    Disconnected,
}

/// A dedicated pub/sub connection (or a driven client object used as one).
pub trait PubSub: Send + Sync + 'static {
    /// Subscribes to `channels`; returns once they are confirmed. Subscribing a channel that
    /// is already subscribed does not deliver its messages twice.
    fn subscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>>;

    /// Unsubscribes from `channels`; returns once confirmed.
    fn unsubscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>>;

    /// Checks the connection (and starts a reconnect round natively). A driven client
    /// reconnects by itself: always `Ok`.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;

    /// The receiver of every [`PubSubEvent`], in order. `None` after the first call.
    fn take_events(&self) -> Option<UnboundedReceiver<PubSubEvent>>;
}

/// The error of a backend that lacks `capability` for `operation`.
pub fn unsupported(operation: impl Into<String>, capability: &str) -> RedisError {
    RedisError::new(
        RedisErrorKind::Unsupported,
        operation,
        format!("the backend has no {capability}"),
    )
}
