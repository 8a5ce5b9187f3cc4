//! [`Commands`], [`PubSub`] and the event bus's [`EventLog`] measured at the backend
//! boundary: a wrapper that times every operation and records its outcome in a
//! [`ConnectionMeter`], around whichever backend a class got (the native connections or a
//! driven client object), so both are counted the same way and the classes need not count
//! anything themselves.
//!
//! What an error says about the connection is decided here ([`outcome`]): Redis answered
//! (an error reply: it is there), except replies that say it cannot serve (`NOAUTH`,
//! `WRONGPASS`, `NOPERM`, `LOADING`, `CLUSTERDOWN`, `MASTERDOWN`, `READONLY`); Redis could
//! not be reached (refused, dropped, no answer within `commandTimeoutMs`); or, for a driven
//! client, whatever its method threw, the only evidence it gives. An operation the backend
//! cannot do at all ([`RedisErrorKind::Unsupported`]: the class falls back to another way)
//! never reached Redis and is not counted. The error kept for `health()` names the command
//! but not its keys, which carry session ids.
//!
//! Every method of the traits is forwarded explicitly, the provided ones included: a
//! default left in place would silently replace the backend's own implementation (the tests
//! below check each reaches the backend).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedReceiver;

use super::backend::{
    Beat, BoxFuture, Commands, Describe, HandOver, Liveness, PendingKeys, PruneOutcome, PruneStep,
    PubSub, PubSubEvent, Taken, Write,
};
use super::event_log::{Entry, EntryId, EventLog, LogNames, Outgoing, Retention};
use super::{RedisError, RedisErrorKind, Result};
use crate::metrics::connection::{ConnectionMeter, Outcome};
use crate::pending::{PendingLimits, PendingStats};

/// Error replies of a Redis that is there but cannot serve the class.
const CANNOT_SERVE: [&str; 8] = [
    "NOAUTH",
    "WRONGPASS",
    "AUTHENTICATION",
    "NOPERM",
    "LOADING",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "READONLY",
];

/// What `result` says about the connection (see the module docs); `None`: nothing to count.
pub fn outcome<T>(result: &Result<T>) -> Option<Outcome> {
    let e = match result {
        Ok(_) => return Some(Outcome::Succeeded),
        Err(e) => e,
    };
    let unreachable = match e.kind() {
        RedisErrorKind::Unsupported => return None,
        RedisErrorKind::Server => {
            let detail = e.detail().to_ascii_uppercase();
            CANNOT_SERVE.iter().any(|c| detail.contains(c))
        }
        RedisErrorKind::Protocol => false,
        RedisErrorKind::Config
        | RedisErrorKind::Connection
        | RedisErrorKind::Timeout
        | RedisErrorKind::Closed
        | RedisErrorKind::Client => true,
    };
    let said = summary(e);
    Some(if unreachable {
        Outcome::Unreachable(said)
    } else {
        Outcome::Answered(said)
    })
}

/// `Redis <COMMAND> failed: <cause>` for `e`: its operation's first word (`GET`, `PUBLISH`,
/// `connect`, `heartbeat`), never its keys.
fn summary(e: &RedisError) -> String {
    let verb = e
        .operation()
        .split_whitespace()
        .next()
        .unwrap_or("operation");
    format!("Redis {verb} failed: {}", e.detail())
}

/// `fut`, timed and recorded in `meter`.
fn measured<'a, T: Send + 'a>(
    meter: &'a ConnectionMeter,
    fut: impl Future<Output = Result<T>> + Send + 'a,
) -> BoxFuture<'a, Result<T>> {
    Box::pin(async move {
        let started = Instant::now();
        let result = fut.await;
        if let Some(outcome) = outcome(&result) {
            meter.record(outcome, started.elapsed());
        }
        result
    })
}

/// A [`Commands`] backend whose operations are recorded in a [`ConnectionMeter`].
pub struct MeteredCommands {
    inner: Arc<dyn Commands>,
    meter: Arc<ConnectionMeter>,
}

impl MeteredCommands {
    pub fn new(inner: Arc<dyn Commands>, meter: Arc<ConnectionMeter>) -> Self {
        MeteredCommands { inner, meter }
    }
}

impl Commands for MeteredCommands {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        measured(&self.meter, self.inner.get(key))
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        measured(&self.meter, self.inner.exists(key))
    }

    fn scan<'a>(
        &'a self,
        cursor: &'a str,
        pattern: &'a str,
    ) -> BoxFuture<'a, Result<(String, Vec<String>)>> {
        measured(&self.meter, self.inner.scan(cursor, pattern))
    }

    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        measured(&self.meter, self.inner.members(key))
    }

    fn write<'a>(&'a self, writes: Vec<Write>, what: Describe<'a>) -> BoxFuture<'a, Result<()>> {
        measured(&self.meter, self.inner.write(writes, what))
    }

    fn write_and_prune<'a>(
        &'a self,
        writes: Vec<Write>,
        prune: PruneStep,
        what: Describe<'a>,
    ) -> BoxFuture<'a, Result<Option<PruneOutcome>>> {
        measured(&self.meter, self.inner.write_and_prune(writes, prune, what))
    }

    fn prune_step<'a>(&'a self, prune: PruneStep) -> BoxFuture<'a, Result<PruneOutcome>> {
        measured(&self.meter, self.inner.prune_step(prune))
    }

    fn broadcast<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        message: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        measured(
            &self.meter,
            self.inner
                .broadcast(set_key, available_prefix, channel_prefix, message),
        )
    }

    fn publish_or_keep<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        message: &'a str,
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        measured(
            &self.meter,
            self.inner.publish_or_keep(keys, ids, message, limits),
        )
    }

    fn take_pending<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        limits: PendingLimits,
        announce: Option<HandOver<'a>>,
    ) -> BoxFuture<'a, Result<Vec<Taken>>> {
        measured(
            &self.meter,
            self.inner.take_pending(keys, ids, limits, announce),
        )
    }

    fn requeue<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        messages: &'a [String],
        limits: PendingLimits,
        from: HandOver<'a>,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        measured(
            &self.meter,
            self.inner.requeue(keys, id, messages, limits, from),
        )
    }

    fn mark_releasing<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        server_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        measured(&self.meter, self.inner.mark_releasing(keys, id, server_id))
    }

    fn mark_opening<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        server_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        measured(&self.meter, self.inner.mark_opening(keys, ids, server_id))
    }

    fn acknowledge<'a>(
        &'a self,
        keys: &'a PendingKeys,
        entries: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<()>> {
        measured(&self.meter, self.inner.acknowledge(keys, entries))
    }

    fn scripts(&self) -> bool {
        self.inner.scripts()
    }

    fn beat<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_after_ms: u64,
        max_dead: usize,
    ) -> BoxFuture<'a, Result<Beat>> {
        measured(&self.meter, self.inner.beat(keys, dead_after_ms, max_dead))
    }

    fn prune_instance<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_id: &'a str,
        count: usize,
    ) -> BoxFuture<'a, Result<(u64, u64)>> {
        measured(&self.meter, self.inner.prune_instance(keys, dead_id, count))
    }

    fn release_unheld<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64>> {
        measured(
            &self.meter,
            self.inner
                .release_unheld(set_key, available_prefix, channel_prefix, ids),
        )
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        measured(&self.meter, self.inner.ping())
    }
}

/// A [`PubSub`] backend whose operations are recorded in a [`ConnectionMeter`]. The events
/// pass untouched (no extra hop per message): whoever reads them reports a disconnect with
/// [`ConnectionMeter::disconnected`].
pub struct MeteredPubSub {
    inner: Arc<dyn PubSub>,
    meter: Arc<ConnectionMeter>,
}

impl MeteredPubSub {
    pub fn new(inner: Arc<dyn PubSub>, meter: Arc<ConnectionMeter>) -> Self {
        MeteredPubSub { inner, meter }
    }
}

impl PubSub for MeteredPubSub {
    fn subscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        measured(&self.meter, self.inner.subscribe(channels))
    }

    fn unsubscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        measured(&self.meter, self.inner.unsubscribe(channels))
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        measured(&self.meter, self.inner.ping())
    }

    fn take_events(&self) -> Option<UnboundedReceiver<PubSubEvent>> {
        self.inner.take_events()
    }
}

/// An [`EventLog`] whose operations are recorded in a [`ConnectionMeter`]: the event bus's
/// command connection, measured like the other classes' (an append is one operation: one
/// script natively, one batch of `publish` calls on a driven client). What the backend
/// cannot do (the log of a pub/sub-only backend) is not counted, as for [`Commands`].
pub struct MeteredEventLog {
    inner: Arc<dyn EventLog>,
    meter: Arc<ConnectionMeter>,
}

impl MeteredEventLog {
    pub fn new(inner: Arc<dyn EventLog>, meter: Arc<ConnectionMeter>) -> Self {
        MeteredEventLog { inner, meter }
    }
}

impl EventLog for MeteredEventLog {
    fn append<'a>(
        &'a self,
        names: &'a LogNames,
        retention: Retention,
        origin: &'a str,
        events: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<()>> {
        measured(
            &self.meter,
            self.inner.append(names, retention, origin, events),
        )
    }

    fn read_after<'a>(
        &'a self,
        names: &'a LogNames,
        after: EntryId,
        count: usize,
    ) -> BoxFuture<'a, Result<Vec<Entry>>> {
        measured(&self.meter, self.inner.read_after(names, after, count))
    }

    fn last_id<'a>(&'a self, names: &'a LogNames) -> BoxFuture<'a, Result<Option<EntryId>>> {
        measured(&self.meter, self.inner.last_id(names))
    }

    fn now_ms(&self) -> BoxFuture<'_, Result<u64>> {
        measured(&self.meter, self.inner.now_ms())
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        measured(&self.meter, self.inner.ping())
    }

    fn retains(&self) -> bool {
        self.inner.retains()
    }

    fn describe(&self) -> &'static str {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use super::*;
    use crate::metrics::connection::ConnectionState;

    fn failed(kind: RedisErrorKind, detail: &str) -> Option<Outcome> {
        outcome::<()>(&Err(RedisError::new(
            kind,
            "GET mcp:session:secret-id",
            detail,
        )))
    }

    #[test]
    fn errors_are_judged_by_what_they_say_of_redis_and_name_no_key() {
        assert_eq!(
            failed(RedisErrorKind::Connection, "connection refused"),
            Some(Outcome::Unreachable(
                "Redis GET failed: connection refused".into()
            ))
        );
        assert!(matches!(
            failed(RedisErrorKind::Server, "WRONGTYPE Operation against a key"),
            Some(Outcome::Answered(_))
        ));
        for cannot in [
            "LOADING Redis is loading",
            "WRONGPASS invalid",
            "NOAUTH Authentication required",
        ] {
            assert!(matches!(
                failed(RedisErrorKind::Server, cannot),
                Some(Outcome::Unreachable(_))
            ));
        }
        assert!(matches!(
            failed(RedisErrorKind::Client, "The client is closed"),
            Some(Outcome::Unreachable(_))
        ));
        assert!(matches!(
            failed(RedisErrorKind::Timeout, "no answer"),
            Some(Outcome::Unreachable(_))
        ));
        assert_eq!(failed(RedisErrorKind::Unsupported, "no scripts"), None);
        assert_eq!(outcome(&Ok(())), Some(Outcome::Succeeded));
    }

    /// Records which methods were called; each fails as a connection error would, except
    /// `ping`, which succeeds.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<&'static str>>);

    impl Recorder {
        fn hit<T: Send + 'static>(&self, name: &'static str) -> BoxFuture<'_, Result<T>> {
            self.0.lock().push(name);
            Box::pin(
                async move { Err(RedisError::new(RedisErrorKind::Connection, name, "refused")) },
            )
        }
    }

    impl Commands for Recorder {
        fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
            self.hit("get")
        }
        fn exists<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool>> {
            self.hit("exists")
        }
        fn scan<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<(String, Vec<String>)>> {
            self.hit("scan")
        }
        fn members<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
            self.hit("members")
        }
        fn write<'a>(&'a self, _: Vec<Write>, _: Describe<'a>) -> BoxFuture<'a, Result<()>> {
            self.hit("write")
        }
        fn write_and_prune<'a>(
            &'a self,
            _: Vec<Write>,
            _: PruneStep,
            _: Describe<'a>,
        ) -> BoxFuture<'a, Result<Option<PruneOutcome>>> {
            self.hit("write_and_prune")
        }
        fn prune_step<'a>(&'a self, _: PruneStep) -> BoxFuture<'a, Result<PruneOutcome>> {
            self.hit("prune_step")
        }
        fn broadcast<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<u64>> {
            self.hit("broadcast")
        }
        fn publish_or_keep<'a>(
            &'a self,
            _: &'a PendingKeys,
            _: &'a [String],
            _: &'a str,
            _: PendingLimits,
        ) -> BoxFuture<'a, Result<PendingStats>> {
            self.hit("publish_or_keep")
        }
        fn take_pending<'a>(
            &'a self,
            _: &'a PendingKeys,
            _: &'a [String],
            _: PendingLimits,
            _: Option<HandOver<'a>>,
        ) -> BoxFuture<'a, Result<Vec<Taken>>> {
            self.hit("take_pending")
        }
        fn requeue<'a>(
            &'a self,
            _: &'a PendingKeys,
            _: &'a str,
            _: &'a [String],
            _: PendingLimits,
            _: HandOver<'a>,
        ) -> BoxFuture<'a, Result<PendingStats>> {
            self.hit("requeue")
        }
        fn mark_releasing<'a>(
            &'a self,
            _: &'a PendingKeys,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<()>> {
            self.hit("mark_releasing")
        }
        fn scripts(&self) -> bool {
            self.0.lock().push("scripts");
            true
        }
        fn beat<'a>(&'a self, _: &'a Liveness, _: u64, _: usize) -> BoxFuture<'a, Result<Beat>> {
            self.hit("beat")
        }
        fn prune_instance<'a>(
            &'a self,
            _: &'a Liveness,
            _: &'a str,
            _: usize,
        ) -> BoxFuture<'a, Result<(u64, u64)>> {
            self.hit("prune_instance")
        }
        fn release_unheld<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
            _: &'a [String],
        ) -> BoxFuture<'a, Result<u64>> {
            self.hit("release_unheld")
        }
        fn ping(&self) -> BoxFuture<'_, Result<()>> {
            self.0.lock().push("ping");
            Box::pin(async { Ok(()) })
        }
    }

    fn step() -> PruneStep {
        PruneStep {
            set_key: "s".into(),
            available_prefix: "a:".into(),
            channel_prefix: "c:".into(),
            restore_ttl_secs: 1,
            cursor: "0".into(),
            count: 1,
        }
    }

    fn liveness() -> Liveness {
        Liveness {
            server_id: "x".into(),
            registry: "r".into(),
            instance_prefix: "i:".into(),
            available_prefix: "a:".into(),
            channel_prefix: "c:".into(),
            active: "act".into(),
            lease_secs: 1,
            pending: None,
        }
    }

    #[tokio::test]
    async fn every_command_reaches_the_backend_and_is_counted() {
        let backend = Arc::new(Recorder::default());
        let meter = Arc::new(ConnectionMeter::default());
        let m = MeteredCommands::new(backend.clone(), meter.clone());
        let keys = PendingKeys::for_prefix("c:");
        let ids = vec!["s".to_owned()];
        let limits = PendingLimits::default();
        let live = liveness();
        let what = || String::from("op");
        assert!(m.get("k").await.is_err());
        assert!(m.exists("k").await.is_err());
        assert!(m.scan("0", "*").await.is_err());
        assert!(m.members("k").await.is_err());
        assert!(m.write(vec![], &what).await.is_err());
        assert!(m.write_and_prune(vec![], step(), &what).await.is_err());
        assert!(m.prune_step(step()).await.is_err());
        assert!(m.broadcast("s", "a:", "c:", "m").await.is_err());
        assert!(m.publish_or_keep(&keys, &ids, "m", limits).await.is_err());
        let from = HandOver {
            server_id: "x",
            marker: ": m",
            instances: None,
            superseded: false,
        };
        assert!(m
            .take_pending(&keys, &ids, limits, Some(from))
            .await
            .is_err());
        assert!(m.requeue(&keys, "s", &ids, limits, from).await.is_err());
        assert!(m.mark_releasing(&keys, "s", "x").await.is_err());
        assert!(m.scripts());
        assert!(m.beat(&live, 1, 1).await.is_err());
        assert!(m.prune_instance(&live, "y", 1).await.is_err());
        assert!(m.release_unheld("s", "a:", "c:", &ids).await.is_err());
        assert!(m.ping().await.is_ok());
        let called = backend.0.lock().clone();
        assert_eq!(
            called,
            [
                "get",
                "exists",
                "scan",
                "members",
                "write",
                "write_and_prune",
                "prune_step",
                "broadcast",
                "publish_or_keep",
                "take_pending",
                "requeue",
                "mark_releasing",
                "scripts",
                "beat",
                "prune_instance",
                "release_unheld",
                "ping"
            ]
        );
        let stats = meter.stats();
        assert_eq!(
            (stats.operations, stats.errors, stats.reconnects),
            (16, 15, 1)
        );
        assert!(stats.up, "the last one, ping, succeeded");
        assert_eq!(meter.state(), ConnectionState::Up);
    }

    impl EventLog for Recorder {
        fn append<'a>(
            &'a self,
            _: &'a LogNames,
            _: Retention,
            _: &'a str,
            _: &'a [Outgoing],
        ) -> BoxFuture<'a, Result<()>> {
            self.hit("append")
        }
        fn read_after<'a>(
            &'a self,
            _: &'a LogNames,
            _: EntryId,
            _: usize,
        ) -> BoxFuture<'a, Result<Vec<Entry>>> {
            self.hit("read_after")
        }
        fn last_id<'a>(&'a self, _: &'a LogNames) -> BoxFuture<'a, Result<Option<EntryId>>> {
            self.hit("last_id")
        }
        fn now_ms(&self) -> BoxFuture<'_, Result<u64>> {
            self.0.lock().push("now_ms");
            Box::pin(async {
                Err(RedisError::new(
                    RedisErrorKind::Unsupported,
                    "TIME",
                    "server-side log",
                ))
            })
        }
        fn ping(&self) -> BoxFuture<'_, Result<()>> {
            self.0.lock().push("ping");
            Box::pin(async { Ok(()) })
        }
        fn retains(&self) -> bool {
            self.0.lock().push("retains");
            false
        }
        fn describe(&self) -> &'static str {
            self.0.lock().push("describe");
            "recorder"
        }
    }

    #[tokio::test]
    async fn every_event_log_operation_reaches_the_backend_and_is_counted() {
        let backend = Arc::new(Recorder::default());
        let meter = Arc::new(ConnectionMeter::default());
        let m = MeteredEventLog::new(backend.clone(), meter.clone());
        let names = LogNames::new("p:").expect("names");
        let retention = Retention {
            max_len: 1,
            max_age_ms: 0,
        };
        let events = [Outgoing {
            seq: 1,
            event: "{}".into(),
        }];
        assert!(m.append(&names, retention, "o", &events).await.is_err());
        assert!(m.read_after(&names, EntryId::at(0), 1).await.is_err());
        assert!(m.last_id(&names).await.is_err());
        assert!(m.now_ms().await.is_err());
        assert!(m.ping().await.is_ok());
        assert!(!m.retains());
        assert_eq!(m.describe(), "recorder");
        assert_eq!(
            backend.0.lock().clone(),
            [
                "append",
                "read_after",
                "last_id",
                "now_ms",
                "ping",
                "retains",
                "describe"
            ]
        );
        let stats = meter.stats();
        assert_eq!(
            (stats.operations, stats.errors, stats.reconnects, stats.up),
            (4, 3, 1, true),
            "what the backend cannot do (now_ms here) is not an operation"
        );
    }
}
