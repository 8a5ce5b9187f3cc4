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
//!   its place. A driven client without scripts behaves as mcp-use: unreceived messages are
//!   lost.
//! * Subscriptions survive Redis restarts (see [`crate::redis::native::Subscriber`]); a watchdog pings
//!   the subscriber after a disconnect until it is back.
//! * Nothing is logged on the happy path.
//!
//! # Backends
//! The manager is written once against [`Commands`] and [`PubSub`]: the native connections,
//! or a user's client objects driven by the bindings. Where a driven client lacks something
//! the manager falls back as mcp-use does: broadcast reads the active set with `sMembers`
//! (or, without it, `keys("available:{prefix}*")`) and publishes to each id; the heartbeat
//! refreshes expiries with `expire` and has no prune step; a missing `publish`, `subscribe`
//! or `unsubscribe` fails the call that needs it.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::value::RawValue;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use tokio::sync::oneshot;

use super::handover::{Barrier, Handover};
use crate::pending::{PendingCounters, PendingLimits, PendingStats};
use crate::redis::{
    glob_escape, scan_all, Commands, Liveness, PendingKeys, PruneStep, PubSub, PubSubEvent,
    RedisError, RedisErrorKind, Result, Write,
};

mod liveness;

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
/// How often the watchdog pings the subscriber while it is disconnected.
const WATCHDOG_INTERVAL: Duration = Duration::from_millis(500);

/// Something that arrived from Redis for this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A message published on the channel of a local session: enqueue `payload` (SSE text) to
    /// its stream.
    Message { session_id: String, payload: String },
    /// Another instance deleted this local session: close its stream. The core already
    /// forgot the session and unsubscribed its channels.
    Delete { session_id: String },
    /// A response to a server-to-client request of this instance, received by another
    /// instance. `response_json` is the JSON-RPC response as JSON text.
    ForwardedResponse {
        session_id: String,
        response_json: String,
    },
    /// Drop it once every item handed to the sink before it has been processed (the core
    /// waits for that before it puts undelivered messages back in Redis).
    Barrier(Barrier),
}

/// Work for the dispatcher, in order with what arrives from Redis.
enum Control {
    /// `create` took the session's pending messages: deliver them, then what was held.
    Opened {
        session_id: String,
        taken: Vec<String>,
    },
    /// Hand this barrier to the sink after everything received so far.
    Barrier(Barrier),
}

/// How long letting go of a stream waits for the bindings to process what they were handed.
const BARRIER_WAIT: Duration = Duration::from_secs(5);

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
    local: Mutex<HashSet<String>>,
    server_channel_subscribed: AtomicBool,
    closed: AtomicBool,
    /// Set when the subscriber reported a disconnect; the watchdog pings until it is back.
    subscriber_down: AtomicBool,
    /// Serializes changes of the session subscriptions with the local-set checks that decide
    /// them, so a late unsubscribe never cancels a newer subscribe of the same session.
    subscriptions: tokio::sync::Mutex<()>,
    /// Creates waiting for the next batch (see [`Inner::create_batched`]).
    pending_creates: Mutex<Vec<(String, oneshot::Sender<Result<()>>)>>,
    /// SSCAN cursor of the incremental prune that rides along with each heartbeat.
    prune_cursor: Mutex<String>,
    /// Store-and-forward: limits, keys, counters, and the sessions being opened or let go of.
    pending: PendingLimits,
    pending_keys: PendingKeys,
    counters: PendingCounters,
    handover: Handover,
    control: UnboundedSender<Control>,
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
        });
        let ttl_secs = liveness
            .as_ref()
            .map_or(interval_secs.saturating_mul(2), |l| l.lease_secs);
        let (control, control_rx) = unbounded_channel();
        let pending_keys = PendingKeys {
            channel_prefix: prefix.clone(),
            list_prefix: format!("{prefix}pending:"),
            bytes_prefix: format!("{prefix}pending-bytes:"),
        };
        let inner = Arc::new(Inner {
            conn,
            subscriber,
            prefix,
            heartbeat: Duration::from_secs(interval_secs),
            ttl_secs,
            liveness,
            refresh_due: Mutex::default(),
            registered: AtomicBool::new(false),
            server_id,
            local: Mutex::new(HashSet::new()),
            server_channel_subscribed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            subscriber_down: AtomicBool::new(false),
            subscriptions: tokio::sync::Mutex::new(()),
            pending_creates: Mutex::new(Vec::new()),
            prune_cursor: Mutex::new("0".to_owned()),
            pending,
            pending_keys,
            counters: PendingCounters::default(),
            handover: Handover::default(),
            control,
        });
        let dispatcher = handle.spawn(dispatch_loop(inner.clone(), receiver, control_rx, sink));
        let heartbeat = handle.spawn(heartbeat_loop(inner.clone()));
        Ok(Self {
            inner,
            tasks: Mutex::new(vec![dispatcher, heartbeat]),
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

    /// Publishes `data` to the listed sessions (one batch of PUBLISH), or with `None` to
    /// every session of the active set whose availability key exists (one Lua script; ids
    /// whose key is gone are removed from the set). Channels are literal names: an id with
    /// glob characters reaches only itself. Without scripts (a driven client) the active set
    /// is read with `SMEMBERS`, or without that with `KEYS available:{prefix}*`, and each id
    /// is published to, as mcp-use does.
    pub async fn send(&self, session_ids: Option<&[String]>, data: &str) -> Result<()> {
        let inner = &self.inner;
        let ids: Vec<String> = match session_ids {
            Some(ids) => ids.to_vec(),
            None => {
                let active = inner.active_key();
                let available = format!("available:{}", inner.prefix);
                match inner
                    .conn
                    .broadcast(&active, &available, &inner.prefix, data)
                    .await
                {
                    Err(e) if e.kind() == RedisErrorKind::Unsupported => {
                        inner.broadcast_targets().await?
                    }
                    other => return other.map(|_sent| ()),
                }
            }
        };
        if ids.is_empty() {
            return Ok(());
        }
        if inner.pending.enabled() {
            match inner
                .conn
                .publish_or_keep(&inner.pending_keys, &ids, data, inner.pending)
                .await
            {
                Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
                Ok(kept) => {
                    if kept.buffered > 0 {
                        tracing::debug!(buffered = kept.buffered, dropped = kept.dropped, prefix = %inner.prefix, "kept messages no stream received");
                    }
                    inner.counters.add(kept);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        let writes = ids
            .iter()
            .map(|id| Write::Publish {
                channel: inner.channel(id),
                message: data.to_owned(),
            })
            .collect();
        let n = ids.len();
        let describe = || match &ids[..] {
            [one] => format!("PUBLISH {}", inner.channel(one)),
            _ => format!("PUBLISH to {n} channels {}*", inner.prefix),
        };
        inner.conn.write(writes, &describe).await
    }

    /// Deletes the stream of `session_id` everywhere: forgets it locally, unsubscribes both
    /// its channels (confirmed before going on), then in one batch publishes on its delete
    /// channel (so the instance holding it closes it), removes its availability key and its
    /// active-set entry. Works for sessions held by other instances too.
    pub async fn delete(&self, session_id: &str) -> Result<()> {
        let inner = &self.inner;
        let channel = inner.channel(session_id);
        let delete_channel = inner.delete_channel(session_id);
        let unsubscribed = {
            let _guard = inner.subscriptions.lock().await;
            inner.local.lock().remove(session_id);
            inner
                .subscriber
                .unsubscribe(&[channel, delete_channel.clone()])
                .await
        };
        // A pub/sub client that cannot unsubscribe fails the delete before anything else
        // (as mcp-use's); a failed unsubscribe on a connection still cleans up Redis.
        if let Err(e) = &unsubscribed {
            if e.kind() == RedisErrorKind::Unsupported {
                return unsubscribed;
            }
        }
        inner.handover.forget(session_id);
        let available = inner.available_key(session_id);
        let active = inner.active_key();
        let mut gone = vec![available.clone()];
        if inner.pending.enabled() {
            // The session ended: nothing kept for it is wanted any more.
            gone.push(format!("{}{session_id}", inner.pending_keys.list_prefix));
            gone.push(format!("{}{session_id}", inner.pending_keys.bytes_prefix));
        }
        let mut writes = vec![
            Write::Publish {
                channel: delete_channel.clone(),
                message: inner.server_id.clone(),
            },
            Write::Del(gone),
            Write::SRem {
                key: active.clone(),
                members: vec![session_id.to_owned()],
            },
        ];
        if let Some(l) = &inner.liveness {
            writes.push(Write::SRem {
                key: l.instance_set(&inner.server_id),
                members: vec![session_id.to_owned()],
            });
        }
        let cleaned = inner
            .conn
            .write(writes, &|| {
                format!("PUBLISH {delete_channel} / DEL {available} / SREM {active}")
            })
            .await;
        unsubscribed.and(cleaned)
    }

    /// Lets go of this instance's stream of `session_id` after its controller failed (its
    /// client went away without a `delete`, or it stopped reading), touching nothing another
    /// instance holds for the same session: no delete message is published. The session stops
    /// being local at once (its messages are no longer handed to the sink); the returned
    /// future unsubscribes its channels (unless a `create` made it local again meanwhile) and
    /// then removes its availability key and active-set entry only if no other instance is
    /// subscribed to it (one script). Without scripts (a driven client) those keys are left
    /// to expire after `2 * heartbeat`, since another instance may be refreshing them.
    ///
    /// With store-and-forward, `undelivered` (the message the stream failed to take and any
    /// after it, in order), the messages the bindings report with
    /// [`RedisStreamManager::undeliverable`] and those still arriving here until the
    /// unsubscribe are put back at the head of the session's pending list, for the next
    /// stream the session opens.
    pub fn release(
        &self,
        session_id: &str,
        undelivered: Vec<String>,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let inner = self.inner.clone();
        if inner.pending.enabled() {
            inner.handover.releasing(session_id, undelivered);
        }
        inner.local.lock().remove(session_id);
        let sid = session_id.to_owned();
        async move {
            {
                let _guard = inner.subscriptions.lock().await;
                if inner.local.lock().contains(&sid) {
                    return Ok(()); // re-created here meanwhile: the new stream keeps it all
                }
                inner
                    .subscriber
                    .unsubscribe(&[inner.channel(&sid), inner.delete_channel(&sid)])
                    .await?;
            }
            if inner.pending.enabled() {
                inner.put_back(&sid).await?;
            }
            if let Some(l) = &inner.liveness {
                let set = l.instance_set(&inner.server_id);
                inner
                    .conn
                    .write(
                        vec![Write::SRem {
                            key: set.clone(),
                            members: vec![sid.clone()],
                        }],
                        &|| format!("SREM {set}"),
                    )
                    .await?;
            }
            match inner.release_unheld(std::slice::from_ref(&sid)).await {
                Err(e) if e.kind() == RedisErrorKind::Unsupported => Ok(()),
                other => other.map(|_| ()),
            }
        }
    }

    /// A message the bindings could not deliver because the stream of `session_id` is gone
    /// (after [`RedisStreamManager::release`]). Returns whether it was kept for the next
    /// stream.
    pub fn undeliverable(&self, session_id: &str, payload: String) -> bool {
        self.inner.pending.enabled() && self.inner.handover.undeliverable(session_id, payload)
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

    /// Shuts down: stops the heartbeat, unsubscribes everything, removes the availability
    /// keys and active-set entries of the sessions this instance holds (and only those, and
    /// of those only the ones no other instance is subscribed to: a client may have reopened
    /// its stream elsewhere while ours lingered) and stops the background tasks. Later calls
    /// of `create` fail; `close` again is a no-op.
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let tasks: Vec<JoinHandle<()>> = self.tasks.lock().drain(..).collect();
        let _guard = inner.subscriptions.lock().await;
        let ids: Vec<String> = inner.local.lock().drain().collect();
        inner.handover.clear();

        let mut first_error: Option<RedisError> = None;
        let mut channels: Vec<String> = Vec::with_capacity(ids.len() * 2 + 1);
        for id in &ids {
            channels.push(inner.channel(id));
            channels.push(inner.delete_channel(id));
        }
        if inner.server_channel_subscribed.load(Ordering::Acquire) {
            channels.push(inner.server_channel(&inner.server_id));
        }
        for chunk in channels.chunks(BATCH) {
            match inner.subscriber.unsubscribe(chunk).await {
                Ok(()) => {}
                // A driven pub/sub client without unsubscribe: nothing to undo (mcp-use's
                // close does not unsubscribe either).
                Err(e) if e.kind() == RedisErrorKind::Unsupported => break,
                Err(e) => {
                    first_error.get_or_insert(e);
                    break;
                }
            }
        }
        // Unsubscribed first, so the script sees whether another instance still holds a
        // session (a client that reconnected elsewhere while our stream lingered): its keys
        // are that instance's and stay.
        if !ids.is_empty() {
            if let Err(e) = inner.remove_unheld(&ids).await {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = inner.leave_registry().await {
            first_error.get_or_insert(e);
        }
        for task in tasks {
            task.abort();
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records that the server-to-client request `request_id` of `session_id` was sent by
    /// this instance: `SET {prefix}req-route:{sid}:{requestId} {"serverId","sessionId"} EX 300`.
    /// `request_id` is the id as JS would interpolate it into a string (number 5 -> "5").
    pub async fn register_outbound_request(
        &self,
        request_id: &str,
        session_id: &str,
    ) -> Result<()> {
        let inner = &self.inner;
        let key = inner.route_key(session_id, request_id);
        let value = format!(
            "{{\"serverId\":{},\"sessionId\":{}}}",
            json_string(&inner.server_id),
            json_string(session_id)
        );
        let write = Write::Set {
            key: key.clone(),
            value,
            expire_secs: Some(REQUEST_ROUTE_TTL_SECS),
        };
        inner
            .conn
            .write(vec![write], &|| format!("SET {key}"))
            .await
    }

    /// Routes an inbound JSON-RPC response (JSON text, with id `request_id`) of `session_id`
    /// to the instance that sent the request. Returns `true` when a route names another
    /// instance: the response was published to that instance's server channel as
    /// `{"response":..,"sessionId":..}` and the route removed. Returns `false` when there is no
    /// route, the route is unparseable, the route is this instance's own, or `response_json`
    /// is not JSON.
    pub async fn forward_inbound_response(
        &self,
        request_id: &str,
        response_json: &str,
        session_id: &str,
    ) -> Result<bool> {
        let inner = &self.inner;
        let key = inner.route_key(session_id, request_id);
        let raw = inner.conn.get(&key).await?;
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(false);
        };
        let Ok(route) = serde_json::from_str::<serde_json::Value>(&raw) else {
            return Ok(false);
        };
        let Some(target) = route.get("serverId").and_then(|v| v.as_str()) else {
            return Ok(false);
        };
        if target == inner.server_id {
            return Ok(false);
        }
        let response = response_json.trim();
        if serde_json::from_str::<serde_json::Value>(response).is_err() {
            tracing::warn!(
                session = session_id,
                "inbound response is not JSON; not forwarded"
            );
            return Ok(false);
        }
        let route_session = match route.get("sessionId") {
            Some(v) if !v.is_null() => v.to_string(),
            _ => json_string(session_id),
        };
        let payload = format!("{{\"response\":{response},\"sessionId\":{route_session}}}");
        let channel = inner.server_channel(target);
        let writes = vec![
            Write::Publish {
                channel: channel.clone(),
                message: payload,
            },
            Write::Del(vec![key.clone()]),
        ];
        inner
            .conn
            .write(writes, &|| format!("PUBLISH {channel} / DEL {key}"))
            .await?;
        Ok(true)
    }

    /// Subscribes (once) to this instance's server channel; responses forwarded by other
    /// instances then reach the sink as [`Inbound::ForwardedResponse`].
    pub async fn enable_forwarded_responses(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(closed_error(format!(
                "SUBSCRIBE {}",
                inner.server_channel(&inner.server_id)
            )));
        }
        if inner.server_channel_subscribed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let channel = inner.server_channel(&inner.server_id);
        if let Err(e) = inner.subscriber.subscribe(&[channel]).await {
            // A subscriber that cannot subscribe at all (a driven client without `subscribe`)
            // stays disabled, so the caller reports it once; other failures may be retried.
            if e.kind() != RedisErrorKind::Unsupported {
                inner
                    .server_channel_subscribed
                    .store(false, Ordering::Release);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Prunes the active set now: removes ids whose availability key is gone. Returns how many
    /// were removed.
    pub async fn prune_now(&self) -> Result<u64> {
        prune_once(&self.inner).await
    }
}

impl Inner {
    fn channel(&self, sid: &str) -> String {
        format!("{}{}", self.prefix, sid)
    }
    fn delete_channel(&self, sid: &str) -> String {
        format!("delete:{}{}", self.prefix, sid)
    }
    fn available_key(&self, sid: &str) -> String {
        format!("available:{}{}", self.prefix, sid)
    }
    fn active_key(&self) -> String {
        format!("{}active", self.prefix)
    }
    fn route_key(&self, sid: &str, request_id: &str) -> String {
        format!("{}req-route:{}:{}", self.prefix, sid, request_id)
    }
    fn server_channel(&self, server_id: &str) -> String {
        format!("{}server:{}", self.prefix, server_id)
    }

    /// [`Commands::release_unheld`] for `ids`, in batches. Returns how many were removed.
    async fn release_unheld(&self, ids: &[String]) -> Result<u64> {
        let (active, available) = (self.active_key(), format!("available:{}", self.prefix));
        let mut removed = 0;
        for chunk in ids.chunks(BATCH) {
            removed += self
                .conn
                .release_unheld(&active, &available, &self.prefix, chunk)
                .await?;
        }
        Ok(removed)
    }

    /// Removes the availability keys and active-set entries of `ids` (sessions this instance
    /// no longer holds nor listens to) where no other instance holds them; a backend without
    /// scripts cannot tell, and removes them all, as mcp-use's `close` does.
    async fn remove_unheld(&self, ids: &[String]) -> Result<()> {
        match self.release_unheld(ids).await {
            Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
            other => return other.map(|_| ()),
        }
        let active = self.active_key();
        let mut writes = Vec::new();
        for chunk in ids.chunks(BATCH) {
            writes.push(Write::Del(
                chunk.iter().map(|id| self.available_key(id)).collect(),
            ));
            writes.push(Write::SRem {
                key: active.clone(),
                members: chunk.to_vec(),
            });
        }
        let n = ids.len();
        self.conn
            .write(writes, &|| format!("DEL/SREM of {n} sessions in {active}"))
            .await
    }

    /// After the SUBSCRIBE of a create: takes the sessions' pending messages (when `take`) and
    /// has the dispatcher deliver them ahead of what was held meanwhile. A failed take leaves
    /// them in Redis for the next stream.
    async fn take_pending(&self, ids: &[&String], take: bool) {
        let owned: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
        let mut taken = vec![Vec::new(); owned.len()];
        if take {
            match self
                .conn
                .take_pending(&self.pending_keys, &owned, self.pending)
                .await
            {
                Ok(found) => {
                    for (slot, (expired, messages)) in taken.iter_mut().zip(found) {
                        self.counters.add(PendingStats {
                            replayed: messages.len() as u64,
                            expired,
                            ..PendingStats::default()
                        });
                        if !messages.is_empty() {
                            tracing::debug!(replayed = messages.len(), expired, prefix = %self.prefix, "delivering kept messages to a new stream");
                        }
                        *slot = messages;
                    }
                }
                Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
                Err(e) => {
                    tracing::warn!(error = %e, "taking kept messages failed; they stay for the next stream")
                }
            }
        }
        for (session_id, taken) in owned.into_iter().zip(taken) {
            let _ = self.control.send(Control::Opened { session_id, taken });
        }
    }

    /// Puts what was collected while letting go of `sid` back at the head of its pending
    /// list, once the bindings have processed everything handed to them before.
    async fn put_back(&self, sid: &str) -> Result<()> {
        let (barrier, processed) = Barrier::new();
        if self.control.send(Control::Barrier(barrier)).is_ok()
            && tokio::time::timeout(BARRIER_WAIT, processed).await.is_err()
        {
            tracing::debug!(prefix = %self.prefix, "the bindings did not process a barrier in time");
        }
        let messages = self.handover.released(sid);
        if messages.is_empty() {
            return Ok(());
        }
        let n = messages.len();
        match self
            .conn
            .requeue(&self.pending_keys, sid, &messages, self.pending)
            .await
        {
            Ok(kept) => {
                tracing::debug!(requeued = n, dropped = kept.dropped, prefix = %self.prefix, "kept the messages a failed stream did not take");
                self.counters.add(kept);
                Ok(())
            }
            Err(e) if e.kind() == RedisErrorKind::Unsupported => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Applies a dispatcher [`Control`], appending what it delivers to `out`.
    fn apply(self: &Arc<Self>, control: Control, out: &mut Vec<Inbound>) {
        match control {
            Control::Barrier(b) => out.push(Inbound::Barrier(b)),
            Control::Opened { session_id, taken } => {
                let held = self.handover.opened(&session_id).unwrap_or_default();
                if self.local.lock().contains(&session_id) {
                    out.extend(
                        taken
                            .into_iter()
                            .chain(held)
                            .map(|payload| Inbound::Message {
                                session_id: session_id.clone(),
                                payload,
                            }),
                    );
                    return;
                }
                // The create failed (or the session went meanwhile): keep them for the next.
                let messages: Vec<String> = taken.into_iter().chain(held).collect();
                if messages.is_empty() {
                    return;
                }
                let inner = self.clone();
                tokio::spawn(async move {
                    match inner
                        .conn
                        .requeue(&inner.pending_keys, &session_id, &messages, inner.pending)
                        .await
                    {
                        Ok(kept) => inner.counters.add(kept),
                        Err(e) => {
                            tracing::warn!(error = %e, "keeping the messages of a failed create failed")
                        }
                    }
                });
            }
        }
    }

    fn prune_step(&self, cursor: String) -> PruneStep {
        PruneStep {
            set_key: self.active_key(),
            available_prefix: format!("available:{}", self.prefix),
            cursor,
            count: BATCH,
        }
    }

    /// The ids a broadcast goes to when the backend has no scripts: the active set
    /// (`SMEMBERS`), or without sets the ids of the availability keys (`KEYS`), as mcp-use.
    async fn broadcast_targets(&self) -> Result<Vec<String>> {
        match self.conn.members(&self.active_key()).await {
            Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
            other => return other,
        }
        let available = format!("available:{}", self.prefix);
        let keys = scan_all(self.conn.as_ref(), &format!("{}*", glob_escape(&available))).await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(available.as_str()))
            .map(str::to_owned)
            .collect())
    }

    /// Turns one pub/sub event into an inbound item (or nothing).
    fn classify(&self, event: PubSubEvent, out: &mut Vec<Inbound>, deleted: &mut Vec<String>) {
        let (channel, payload) = match event {
            PubSubEvent::Disconnected => {
                self.subscriber_down.store(true, Ordering::Release);
                tracing::debug!(prefix = %self.prefix, "Redis subscriber disconnected; reconnecting");
                return;
            }
            PubSubEvent::Message { channel, payload } => (channel, payload),
        };
        let channel = channel.as_str();

        if self.server_channel_subscribed.load(Ordering::Acquire) {
            if let Some(rest) = channel.strip_prefix(self.prefix.as_str()) {
                if rest.strip_prefix("server:") == Some(self.server_id.as_str()) {
                    self.forwarded(&payload, out);
                    return;
                }
            }
        }
        if let Some(sid) = channel
            .strip_prefix("delete:")
            .and_then(|c| c.strip_prefix(self.prefix.as_str()))
        {
            if payload == self.server_id.as_bytes() {
                return; // our own delete, seen after a re-create: not a request to close it
            }
            self.handover.forget(sid);
            if self.local.lock().remove(sid) {
                deleted.push(sid.to_string());
                out.push(Inbound::Delete {
                    session_id: sid.to_string(),
                });
            }
            return;
        }
        if let Some(sid) = channel.strip_prefix(self.prefix.as_str()) {
            let payload = || match String::from_utf8(payload) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            if !self.pending.enabled() {
                if self.local.lock().contains(sid) {
                    out.push(Inbound::Message {
                        session_id: sid.to_string(),
                        payload: payload(),
                    });
                }
                return;
            }
            // Held while the session is being opened or let go of here, else delivered if it
            // is local.
            if let Some(payload) = self.handover.hold(sid, payload()) {
                if self.local.lock().contains(sid) {
                    out.push(Inbound::Message {
                        session_id: sid.to_string(),
                        payload,
                    });
                }
            }
        }
    }

    fn forwarded(&self, payload: &[u8], out: &mut Vec<Inbound>) {
        // Keep the response's JSON text as published (key order, number spelling).
        let parsed = serde_json::from_slice::<HashMap<String, Box<RawValue>>>(payload);
        let Ok(mut obj) = parsed else {
            tracing::warn!(prefix = %self.prefix, "forwarded response is not a JSON object; dropped");
            return;
        };
        let session_id = match obj
            .get("sessionId")
            .map(|raw| serde_json::from_str(raw.get()))
        {
            Some(Ok(serde_json::Value::String(s))) => s,
            Some(Ok(serde_json::Value::Null)) | None => String::new(),
            Some(Ok(other)) => other.to_string(),
            Some(Err(_)) => String::new(),
        };
        let response_json = match obj.remove("response") {
            Some(raw) => raw.get().to_string(),
            None => "null".to_string(),
        };
        out.push(Inbound::ForwardedResponse {
            session_id,
            response_json,
        });
    }
}

impl Inner {
    /// Registers `session_id` as local: SUBSCRIBE to its two channels, then one pipeline
    /// that sets its availability key and adds it to the active set.
    ///
    /// Creates that arrive while another batch is in flight queue up; the first of them
    /// (the leader) runs both steps for the whole queue once the previous batch is done. A
    /// burst of 2,000 concurrent creates therefore costs a few round trips, not 2,000
    /// sequential SUBSCRIBEs. If a step fails, the sessions the batch added are rolled back
    /// and every create of the batch gets the error.
    async fn create_batched(self: &Arc<Self>, session_id: &str) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let leader = {
            let mut queue = self.pending_creates.lock();
            queue.push((session_id.to_owned(), tx));
            queue.len() == 1
        };
        if leader {
            // The batch runs in its own task: a caller that stops waiting cannot strand it.
            let inner = self.clone();
            tokio::spawn(async move { inner.run_create_batch().await });
        }
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(RedisError::new(
                RedisErrorKind::Closed,
                format!("create {}", self.channel(session_id)),
                "the creating task was cancelled",
            )),
        }
    }

    async fn run_create_batch(&self) {
        let _guard = self.subscriptions.lock().await;
        let batch = std::mem::take(&mut *self.pending_creates.lock());
        let ids: Vec<&String> = batch.iter().map(|(sid, _)| sid).collect();
        let result = self.create_all(&ids).await;
        for (_, waiter) in batch {
            let _ = waiter.send(result.clone());
        }
    }

    /// Both steps of [`Inner::create_batched`] for `ids`; call with `subscriptions` held.
    async fn create_all(&self, ids: &[&String]) -> Result<()> {
        let mut channels = Vec::with_capacity(ids.len() * 2);
        let mut added = Vec::new();
        {
            let mut local = self.local.lock();
            for sid in ids {
                if self.pending.enabled() {
                    self.handover.opening(sid); // before SUBSCRIBE: nothing overtakes the kept ones
                }
                if local.insert((*sid).clone()) {
                    added.push((*sid).clone());
                }
                channels.push(self.channel(sid));
                channels.push(self.delete_channel(sid));
            }
        }
        let active = self.active_key();
        let result = async {
            self.subscriber.subscribe(&channels).await?;
            let mut writes: Vec<Write> = ids
                .iter()
                .map(|sid| Write::Set {
                    key: self.available_key(sid),
                    value: "active".to_owned(),
                    expire_secs: Some(self.ttl_secs),
                })
                .collect();
            for chunk in ids.chunks(BATCH) {
                writes.push(Write::SAdd {
                    key: active.clone(),
                    members: chunk.iter().map(|s| (*s).clone()).collect(),
                });
            }
            writes.push(Write::Expire {
                key: active.clone(),
                secs: self.ttl_secs,
            });
            if let Some(l) = &self.liveness {
                let set = l.instance_set(&self.server_id);
                writes.push(Write::SAdd {
                    key: set.clone(),
                    members: ids.iter().map(|s| (*s).clone()).collect(),
                });
                writes.push(Write::Expire {
                    key: set,
                    secs: l.lease_secs,
                });
            }
            let n = ids.len();
            self.conn
                .write(writes, &|| {
                    format!(
                        "SET EX of {n} keys available:{}* / SADD {active}",
                        self.prefix
                    )
                })
                .await
        }
        .await;
        if self.pending.enabled() {
            self.take_pending(ids, result.is_ok()).await;
        }
        if result.is_ok() {
            self.schedule_refresh(&added);
        }
        if result.is_err() && !added.is_empty() {
            {
                let mut local = self.local.lock();
                for sid in &added {
                    local.remove(sid);
                }
            }
            let channels: Vec<String> = added
                .iter()
                .flat_map(|sid| [self.channel(sid), self.delete_channel(sid)])
                .collect();
            let _ = self.subscriber.unsubscribe(&channels).await;
        }
        result
    }
}

fn closed_error(operation: String) -> RedisError {
    RedisError::new(
        RedisErrorKind::Closed,
        operation,
        "the stream manager is closed",
    )
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Reads the subscriber's push messages and the manager's [`Control`]s, and hands them to
/// the sink in batches, in order.
async fn dispatch_loop(
    inner: Arc<Inner>,
    mut rx: UnboundedReceiver<PubSubEvent>,
    mut control: UnboundedReceiver<Control>,
    sink: InboundSink,
) {
    let mut batch = Vec::new();
    let mut deleted = Vec::new();
    let mut controls = Vec::new();
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => inner.classify(event, &mut batch, &mut deleted),
                None => break,
            },
            Some(c) = control.recv() => controls.push(c),
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(push) => inner.classify(push, &mut batch, &mut deleted),
                Err(_) => break,
            }
        }
        while let Ok(c) = control.try_recv() {
            controls.push(c);
        }
        if controls.iter().any(|c| matches!(c, Control::Barrier(_))) {
            // Everything received before the unsubscribe that a barrier follows is in `rx`:
            // classify all of it first, so no message of a session being let go of is missed.
            while let Ok(push) = rx.try_recv() {
                inner.classify(push, &mut batch, &mut deleted);
            }
        }
        for c in controls.drain(..) {
            inner.apply(c, &mut batch);
        }
        if !deleted.is_empty() {
            // Another instance deleted these sessions: drop our subscriptions (the deleter
            // already removed the keys).
            let sids = std::mem::take(&mut deleted);
            let inner2 = inner.clone();
            tokio::spawn(async move {
                let _guard = inner2.subscriptions.lock().await;
                let mut channels = Vec::with_capacity(sids.len() * 2);
                {
                    let local = inner2.local.lock();
                    // a session re-created meanwhile keeps its (new) subscription
                    for sid in sids.iter().filter(|sid| !local.contains(sid.as_str())) {
                        channels.push(inner2.channel(sid));
                        channels.push(inner2.delete_channel(sid));
                    }
                }
                if let Err(e) = inner2.subscriber.unsubscribe(&channels).await {
                    tracing::debug!(error = %e, "unsubscribe after remote delete failed");
                }
            });
        }
        if !batch.is_empty() {
            let items = std::mem::take(&mut batch);
            let sink = sink.clone();
            if std::panic::catch_unwind(AssertUnwindSafe(move || sink(items))).is_err() {
                tracing::warn!(prefix = %inner.prefix, "stream message sink panicked; batch dropped");
            }
        }
    }
}

/// Heartbeat (+ periodic prune) and subscriber watchdog.
async fn heartbeat_loop(inner: Arc<Inner>) {
    // Per-instance liveness beats twice per interval (see [`liveness`]); per-session refresh
    // once, skipping the immediate first tick (create() already set the keys).
    let live = inner.liveness.is_some();
    let mut heartbeat = tokio::time::interval(if live {
        inner.heartbeat / 2
    } else {
        inner.heartbeat
    });
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !live {
        heartbeat.tick().await;
    }
    let mut watchdog = tokio::time::interval(WATCHDOG_INTERVAL);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                ticks += 1;
                let beat = match &inner.liveness {
                    Some(keys) => inner.beat_once(keys, ticks).await,
                    None => heartbeat_once(&inner).await,
                };
                if let Err(e) = beat {
                    tracing::warn!(error = %e, "stream heartbeat failed");
                }
                // Also catches a subscriber connection that died silently (no disconnect seen),
                // once per interval.
                if (!live || ticks.is_multiple_of(2)) && inner.subscriber.ping().await.is_err() {
                    inner.subscriber_down.store(true, Ordering::Release);
                }
            }
            _ = watchdog.tick() => {
                if inner.subscriber_down.load(Ordering::Acquire) {
                    // A command makes the connection manager start a new reconnect round if the
                    // previous one gave up; on success the subscriptions are replayed.
                    if inner.subscriber.ping().await.is_ok() {
                        inner.subscriber_down.store(false, Ordering::Release);
                        tracing::debug!(prefix = %inner.prefix, "Redis subscriber reconnected");
                        if inner.pending.enabled() || inner.liveness.is_some() {
                            // Sends while we were away found no subscriber and were kept,
                            // and a restarted Redis lost our keys: open the local sessions
                            // again to deliver the one and restore the other.
                            inner.reopen_local();
                        }
                    }
                }
            }
        }
    }
}

/// One pipelined round trip per interval: SET (refresh, or restore after a Redis restart
/// without persistence) every local availability key with its expiry, SADD the ids to the
/// active set, EXPIRE the set, and one prune step (a page of the active set checked for ids
/// whose availability key expired, e.g. those of a crashed instance). The prune runs after
/// the SETs in the same pipeline, so it never sees this instance's own ids as dead. A
/// driven client refreshes with `expire` and has no prune step.
async fn heartbeat_once(inner: &Inner) -> Result<()> {
    let ids: Vec<String> = inner.local.lock().iter().cloned().collect();
    let active = inner.active_key();
    let mut writes: Vec<Write> = ids
        .iter()
        .map(|id| Write::Refresh {
            key: inner.available_key(id),
            value: "active".to_owned(),
            secs: inner.ttl_secs,
        })
        .collect();
    for chunk in ids.chunks(BATCH) {
        writes.push(Write::SAdd {
            key: active.clone(),
            members: chunk.to_vec(),
        });
    }
    if !ids.is_empty() {
        writes.push(Write::Expire {
            key: active.clone(),
            secs: inner.ttl_secs,
        });
    }
    let prune = inner.prune_step(inner.prune_cursor.lock().clone());
    let n = ids.len();
    let outcome = inner
        .conn
        .write_and_prune(writes, prune, &|| {
            format!(
                "heartbeat SET EX of {n} keys available:{}* + prune step",
                inner.prefix
            )
        })
        .await?;
    if let Some((next_cursor, removed)) = outcome {
        if removed > 0 {
            tracing::debug!(removed, prefix = %inner.prefix, "pruned dead ids from the active set");
        }
        *inner.prune_cursor.lock() = next_cursor;
    }
    Ok(())
}

/// A whole prune pass: prune steps from cursor 0 until SSCAN wraps around.
async fn prune_once(inner: &Inner) -> Result<u64> {
    let mut cursor = "0".to_owned();
    let mut removed: u64 = 0;
    loop {
        let (next, n) = inner.conn.prune_step(inner.prune_step(cursor)).await?;
        removed += n;
        if next == "0" {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// A random v4 UUID in the `crypto.randomUUID()` format (lowercase, hyphenated).
fn random_uuid_v4() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::random_uuid_v4;

    #[test]
    fn server_id_is_a_v4_uuid() {
        let id = random_uuid_v4();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(id, random_uuid_v4());
    }
}
