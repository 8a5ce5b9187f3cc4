//! `RedisStreamManager` core: which SSE streams this instance holds, and Redis pub/sub so a
//! message published by any instance reaches the instance holding the stream.
//!
//! The stream controllers live in JS; this core tracks the ids of the local sessions, talks to
//! Redis, and hands inbound messages to a sink in batches (everything available at one
//! wake-up, each session's messages in publish order).
//!
//! # Wire layout (identical to mcp-use's TypeScript `RedisStreamManager`)
//!
//! | what | name | value |
//! |---|---|---|
//! | stream channel | `{prefix}{sid}` | SSE text |
//! | delete channel | `delete:{prefix}{sid}` | any message: tear down the local stream |
//! | availability key | `available:{prefix}{sid}` | `"active"`, `EX heartbeat*2` |
//! | active set | `{prefix}active` | SET of session ids, `EXPIRE heartbeat*2` |
//! | request route | `{prefix}req-route:{sid}:{requestId}` | `{"serverId":..,"sessionId":..}`, `EX 300` |
//! | server channel | `{prefix}server:{serverId}` | `{"response":<JSON-RPC>,"sessionId":..}` |
//!
//! The server id is a random v4 UUID, as `crypto.randomUUID()` makes.
//!
//! # Differences from the reference
//! * `create` is two round trips (SUBSCRIBE both channels, then one pipeline), not eight.
//! * Broadcast is one Lua script that publishes to every id of the active set whose
//!   availability key exists, and removes the others from the set (dead instances' ids).
//! * One heartbeat task per manager: one pipelined round trip per interval sets every local
//!   availability key with its expiry (`SET … EX`, which also restores keys a Redis restart
//!   without persistence lost), re-adds the ids to the active set and refreshes its expiry.
//!   Every heartbeat also carries one prune step: a page of the active set (SSCAN, incremental
//!   across beats) from which ids whose availability key expired are removed.
//! * The delete message carries this instance's server id (the reference sends `""`; any
//!   payload means "delete" to both). A delete this instance published is never acted upon
//!   by itself: it unsubscribes before publishing, and ignores its own marker anyway.
//! * A local stream whose controller fails (its client left without a `delete`) is
//!   released ([`RedisStreamManager::release`]): unsubscribed here, and its keys removed
//!   only if no other instance listens to the session. mcp-use keeps such a stream
//!   subscribed and refreshed; publishing a delete instead would close the live stream the
//!   client reopened on another instance. `close` follows the same rule.
//! * Store-and-forward (on by default; `PendingLimits::ttl_secs == 0` turns it off): a
//!   targeted send that no subscriber receives is kept in the session's pending list
//!   (`{prefix}pending:{sid}`, one script with the PUBLISH), and the next `create` of the
//!   session, on any instance, delivers the kept messages before any newer one, exactly once
//!   (see [`super::handover`]). A local stream whose write fails hands the message back in
//!   its place. When a session's stream opens here while another instance still listens to
//!   it, the two settle what each received with markers on the session's channel
//!   ([`markers`]): the older stream is let go of, and what it could not deliver reaches the
//!   newer one first, once. A driven client without scripts behaves as mcp-use: unreceived
//!   messages are lost.
//! * Subscriptions survive Redis restarts (see [`crate::redis::native::Subscriber`]); a watchdog pings
//!   the subscriber after a disconnect until it is back.
//! * Nothing is logged on the happy path.
//!
//! # Files
//! `send.rs` (targeted sends, broadcast), `open.rs` (create batches, hand-over of kept
//! messages), `release.rs` (letting go of a failed stream), `end.rs` (`delete`, `close`),
//! `dispatch.rs` (what arrives from Redis, to the sink in order), `markers.rs` (the
//! hand-over markers on a session's channel), `routes.rs` (request
//! routing), `heartbeat.rs` and `liveness.rs` (keeping streams alive), `recover.rs` (what is
//! retried until Redis answers), `keys.rs` (names), `options.rs` (what a config sets),
//! `status.rs` (`stats`, `health`, `ready`).
//!
//! # Backends
//! The manager is written once against [`Commands`] and [`PubSub`]: the native connections,
//! or a user's client objects driven by the bindings. Where a driven client lacks something
//! the manager falls back as mcp-use does: broadcast reads the active set with `sMembers`
//! (or, without it, `keys("available:{prefix}*")`) and publishes to each id; the heartbeat
//! refreshes expiries with `expire` and has no prune step; a missing `publish`, `subscribe`
//! or `unsubscribe` fails the call that needs it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::JoinHandle;

use tokio::sync::oneshot;

use super::counters::StreamCounters;
use super::handover::{Barrier, Handover};
use crate::metrics::connection::ConnectionMeter;
use crate::pending::{PendingCounters, PendingLimits, PendingStats};
use crate::redis::metered::{MeteredCommands, MeteredPubSub};
use crate::redis::{
    Commands, HandOver, Liveness, PendingKeys, PubSub, RedisError, RedisErrorKind, Result,
};

mod acks;
mod dispatch;
mod end;
mod heartbeat;
mod keys;
mod liveness;
mod markers;
mod open;
mod options;
mod recover;
mod release;
mod routes;
mod send;
mod status;

pub use acks::Delivered;
use acks::{ack_loop, AckWork};
use dispatch::{dispatch_loop, Control};
use heartbeat::{heartbeat_loop, prune_once};
pub use options::ManagerOptions;
use recover::{recover_loop, Recovery};
pub use status::ManagerStats;

/// Default channel / key prefix, as in the reference.
pub const DEFAULT_PREFIX: &str = "mcp:stream:";
/// Default heartbeat interval in seconds, as in the reference.
pub const DEFAULT_HEARTBEAT_SECS: u64 = 10;
/// Lifetime of a request route, as in the reference.
pub const REQUEST_ROUTE_TTL_SECS: u64 = 300;
/// Ids per SADD / SREM / UNSUBSCRIBE command and per prune batch.
const BATCH: usize = 1000;
/// Most inbound messages handed to the sink in one call.
const MAX_BATCH: usize = 4096;

/// Something that arrived from Redis for this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A message published on the channel of a local session: enqueue `payload` (SSE text) to
    /// its stream.
    Message { session_id: String, payload: String },
    /// Another instance deleted this local session: close its stream. The core already
    /// forgot the session and unsubscribed its channels.
    Delete { session_id: String },
    /// A newer stream of this local session opened on another instance (its client
    /// reconnected there): forget ours, without closing it (its owner, MCPServer's
    /// transport, learns that the client left from the connection, and a stream closed
    /// behind its back would keep it writing into nothing). The core already forgot the
    /// session and lets go of it in Redis; what its stream could not deliver before goes to
    /// the newer one.
    Superseded { session_id: String },
    /// A response to a server-to-client request of this instance, received by another
    /// instance. `response_json` is the JSON-RPC response as JSON text.
    ForwardedResponse {
        session_id: String,
        response_json: String,
    },
    /// Drop it once every item handed to the sink before it has been processed (the core
    /// waits for that before it puts undelivered messages back in Redis).
    Barrier(Barrier),
    /// [`Delivered::acknowledge`] it once every item handed to the sink before it has been
    /// processed: that acknowledges the journaled messages among them.
    Delivered(Delivered),
}

/// A create waiting for its batch: the session, whether it only re-opens a session that must
/// still be local, and who waits for the result.
type QueuedCreate = (String, bool, oneshot::Sender<Result<()>>);

/// Receives inbound messages, in batches, on a background task. It must not block.
pub type InboundSink = Arc<dyn Fn(Vec<Inbound>) + Send + Sync>;

struct Inner {
    conn: Arc<dyn Commands>,
    subscriber: Arc<dyn PubSub>,
    prefix: String,
    heartbeat: Duration,
    /// Expiry of availability keys and the active set: twice the heartbeat (mcp-use's) when
    /// each session is refreshed every heartbeat; the liveness lease when the instance's
    /// heartbeat stands for all its sessions (see [`liveness`]).
    ttl_secs: u64,
    /// Per-instance liveness (a backend with scripts); `None`: per-session refresh, as mcp-use.
    liveness: Option<Liveness>,
    /// When each local session's availability key is next refreshed (liveness only).
    refresh_due: Mutex<std::collections::VecDeque<(tokio::time::Instant, String)>>,
    /// Whether a heartbeat has registered this instance (liveness only).
    registered: AtomicBool,
    server_id: String,
    /// This instance's hand-over markers (see [`markers`]).
    opened_marker: String,
    handed_back_marker: String,
    local: Mutex<HashSet<String>>,
    server_channel_subscribed: AtomicBool,
    closed: AtomicBool,
    /// Set when the subscriber reported a disconnect; the watchdog pings until it is back.
    subscriber_down: AtomicBool,
    /// Serializes changes of the session subscriptions with the local-set checks that decide
    /// them, so a late unsubscribe never cancels a newer subscribe of the same session.
    subscriptions: tokio::sync::Mutex<()>,
    /// Creates waiting for the next batch (see [`Inner::create_batched`]).
    pending_creates: Mutex<Vec<QueuedCreate>>,
    /// SSCAN cursor of the incremental prune that rides along with each heartbeat.
    prune_cursor: Mutex<String>,
    /// Pacing of that prune with per-instance liveness.
    active_prune: Mutex<liveness::PrunePace>,
    /// Store-and-forward: limits, keys, counters, and the sessions being opened or let go of.
    pending: PendingLimits,
    pending_keys: PendingKeys,
    counters: PendingCounters,
    handover: Handover,
    control: UnboundedSender<Control>,
    /// Where [`Delivered`]s send their acknowledgements.
    acks: UnboundedSender<AckWork>,
    /// What is retried until Redis answers (see [`recover`]).
    recovery: Recovery,
    /// What `conn` and `subscriber` went through (both are measured at the boundary).
    commands_meter: Arc<ConnectionMeter>,
    subscriber_meter: Arc<ConnectionMeter>,
    /// Messages sent and delivered, streams dropped.
    streams: StreamCounters,
}

/// Distributed stream manager on Redis pub/sub (see the module docs).
///
/// Dropping it stops its background tasks without touching Redis; call
/// [`RedisStreamManager::close`] first to remove this instance's sessions from Redis.
pub struct RedisStreamManager {
    inner: Arc<Inner>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisStreamManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamManager")
            .field("prefix", &self.inner.prefix)
            .field("server_id", &self.inner.server_id)
            .field("local", &self.inner.local.lock().len())
            .finish()
    }
}

impl Drop for RedisStreamManager {
    fn drop(&mut self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

impl RedisStreamManager {
    /// A manager publishing on `conn`, receiving on `subscriber` (its own dedicated pub/sub
    /// connection), with the given prefix and heartbeat interval (seconds, at least 1; keys
    /// expire after twice that). Inbound messages go to `sink`. Background tasks run on
    /// [`crate::runtime::handle`].
    pub fn new(
        conn: impl Commands,
        subscriber: impl PubSub,
        prefix: String,
        heartbeat_interval_secs: u64,
        sink: InboundSink,
    ) -> Result<Self> {
        Self::with_backends(
            Arc::new(conn),
            Arc::new(subscriber),
            prefix,
            heartbeat_interval_secs,
            PendingLimits::default(),
            sink,
        )
    }

    /// Like [`RedisStreamManager::new`], on shared backends, with the given store-and-forward
    /// limits.
    pub fn with_backends(
        conn: Arc<dyn Commands>,
        subscriber: Arc<dyn PubSub>,
        prefix: String,
        heartbeat_interval_secs: u64,
        pending: PendingLimits,
        sink: InboundSink,
    ) -> Result<Self> {
        let handle = crate::runtime::handle().map_err(|e| {
            RedisError::new(
                RedisErrorKind::Config,
                "stream manager setup",
                e.to_string(),
            )
        })?;
        let receiver = subscriber.take_events().ok_or_else(|| {
            RedisError::new(
                RedisErrorKind::Config,
                "stream manager setup",
                "the subscriber is already used by another stream manager",
            )
        })?;
        let commands_meter = Arc::new(ConnectionMeter::default());
        let subscriber_meter = Arc::new(ConnectionMeter::default());
        let conn: Arc<dyn Commands> = Arc::new(MeteredCommands::new(conn, commands_meter.clone()));
        let subscriber: Arc<dyn PubSub> =
            Arc::new(MeteredPubSub::new(subscriber, subscriber_meter.clone()));
        let interval_secs = heartbeat_interval_secs.max(1);
        let server_id = random_uuid_v4();
        let liveness = conn.scripts().then(|| Liveness {
            server_id: server_id.clone(),
            registry: format!("{prefix}instances"),
            instance_prefix: format!("{prefix}instance:"),
            available_prefix: format!("available:{prefix}"),
            channel_prefix: prefix.clone(),
            active: format!("{prefix}active"),
            lease_secs: liveness::LEASE_SECS.max(interval_secs.saturating_mul(2)),
            pending: pending
                .enabled()
                .then(|| (PendingKeys::for_prefix(&prefix), pending.ttl_secs)),
        });
        let ttl_secs = liveness
            .as_ref()
            .map_or(interval_secs.saturating_mul(2), |l| l.lease_secs);
        let (control, control_rx) = unbounded_channel();
        let (acks, acks_rx) = unbounded_channel();
        let pending_keys = PendingKeys::for_prefix(&prefix);
        let inner = Arc::new(Inner {
            conn,
            subscriber,
            prefix,
            heartbeat: Duration::from_secs(interval_secs),
            ttl_secs,
            liveness,
            refresh_due: Mutex::default(),
            registered: AtomicBool::new(false),
            opened_marker: markers::opened(&server_id),
            handed_back_marker: markers::handed_back(&server_id),
            server_id,
            local: Mutex::new(HashSet::new()),
            server_channel_subscribed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            subscriber_down: AtomicBool::new(false),
            subscriptions: tokio::sync::Mutex::new(()),
            pending_creates: Mutex::new(Vec::new()),
            prune_cursor: Mutex::new("0".to_owned()),
            active_prune: Mutex::default(),
            pending,
            pending_keys,
            counters: PendingCounters::default(),
            handover: Handover::with_cap(pending.max_messages.min(usize::MAX as u64) as usize),
            control,
            acks,
            recovery: Recovery::new(Duration::from_secs(interval_secs)),
            commands_meter,
            subscriber_meter,
            streams: StreamCounters::default(),
        });
        let dispatcher = handle.spawn(dispatch_loop(inner.clone(), receiver, control_rx, sink));
        let heartbeat = handle.spawn(heartbeat_loop(inner.clone()));
        let recover = handle.spawn(recover_loop(inner.clone()));
        let acknowledge = handle.spawn(ack_loop(inner.clone(), acks_rx));
        Ok(Self {
            inner,
            tasks: Mutex::new(vec![dispatcher, heartbeat, recover, acknowledge]),
        })
    }

    /// This instance's id (a v4 UUID), used for request routing.
    pub fn server_id(&self) -> &str {
        &self.inner.server_id
    }

    /// The channel / key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Number of sessions whose stream this instance holds.
    pub fn local_len(&self) -> usize {
        self.inner.local.lock().len()
    }

    /// Whether this instance holds the stream of `session_id`.
    pub fn is_local(&self, session_id: &str) -> bool {
        self.inner.local.lock().contains(session_id)
    }

    /// Registers a local stream for `session_id`: subscribes to its channel and delete
    /// channel (one command, confirmed), then marks it available and adds it to the active
    /// set (one pipeline). Idempotent: calling it again for a local session refreshes the
    /// keys and does not duplicate the subscription.
    pub async fn create(&self, session_id: &str) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(closed_error(format!(
                "create {}",
                inner.channel(session_id)
            )));
        }
        inner.create_batched(session_id).await
    }

    /// The store-and-forward counters of this manager.
    pub fn pending_stats(&self) -> PendingStats {
        self.inner.counters.get()
    }

    /// The store-and-forward limits of this manager.
    pub fn pending_limits(&self) -> PendingLimits {
        self.inner.pending
    }

    /// Whether any instance holds a stream for `session_id` (`EXISTS` of its availability
    /// key).
    pub async fn has(&self, session_id: &str) -> Result<bool> {
        self.inner
            .conn
            .exists(&self.inner.available_key(session_id))
            .await
    }

    /// Prunes the active set now: removes ids whose availability key is gone. Returns how many
    /// were removed.
    pub async fn prune_now(&self) -> Result<u64> {
        prune_once(&self.inner).await
    }
}

impl Inner {
    /// This instance and its handed-back marker, for [`Commands::requeue`]; `superseded`:
    /// what it puts back was collected before another stream's opened marker.
    fn hand_over(&self, superseded: bool) -> HandOver<'_> {
        HandOver {
            server_id: &self.server_id,
            marker: &self.handed_back_marker,
            instances: None,
            superseded,
        }
    }

    /// This instance, its opened marker and where the instances list their sessions, for
    /// [`Commands::take_pending`].
    fn announce(&self) -> HandOver<'_> {
        HandOver {
            server_id: &self.server_id,
            marker: &self.opened_marker,
            instances: self
                .liveness
                .as_ref()
                .map(|l| (l.registry.as_str(), l.instance_prefix.as_str())),
            superseded: false,
        }
    }
}

fn closed_error(operation: String) -> RedisError {
    RedisError::new(
        RedisErrorKind::Closed,
        operation,
        "the stream manager is closed",
    )
}

/// A random v4 UUID in the `crypto.randomUUID()` format (lowercase, hyphenated), as
/// mcp-use's server ids are.
fn random_uuid_v4() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}
