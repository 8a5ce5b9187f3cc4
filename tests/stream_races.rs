//! Races of the stream manager's hand-overs (found in review; each test failed before its
//! fix).
//!
//! Two thin wrappers around the native backends add latency (or one failure) where a real
//! network can, to make otherwise narrow interleavings deterministic.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{raw, redis_or_skip, Collector, RedisServer};
use mcp_sessions_native::pending::{PendingLimits, PendingStats};
use mcp_sessions_native::redis::{
    Beat, BoxFuture, Commands, Connection, Describe, HandOver, Liveness, PendingKeys, PruneOutcome,
    PruneStep, PubSub, PubSubEvent, RedisError, RedisErrorKind, Result, Subscriber, Taken, Write,
};
use mcp_sessions_native::stream::redis::{Inbound, InboundSink, RedisStreamManager};
use parking_lot::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(5);

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The native connection, with an optional delay before each `requeue` script.
struct SlowCmds {
    inner: Connection,
    requeue_delay: Arc<Mutex<Duration>>,
    take_delay: Arc<Mutex<Duration>>,
}

impl Commands for SlowCmds {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Commands::get(&self.inner, key)
    }
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.inner.exists(key)
    }
    fn scan<'a>(
        &'a self,
        cursor: &'a str,
        pattern: &'a str,
    ) -> BoxFuture<'a, Result<(String, Vec<String>)>> {
        self.inner.scan(cursor, pattern)
    }
    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        self.inner.members(key)
    }
    fn write<'a>(&'a self, writes: Vec<Write>, what: Describe<'a>) -> BoxFuture<'a, Result<()>> {
        self.inner.write(writes, what)
    }
    fn write_and_prune<'a>(
        &'a self,
        writes: Vec<Write>,
        prune: PruneStep,
        what: Describe<'a>,
    ) -> BoxFuture<'a, Result<Option<PruneOutcome>>> {
        self.inner.write_and_prune(writes, prune, what)
    }
    fn prune_step<'a>(&'a self, prune: PruneStep) -> BoxFuture<'a, Result<PruneOutcome>> {
        self.inner.prune_step(prune)
    }
    fn broadcast<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        message: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        self.inner
            .broadcast(set_key, available_prefix, channel_prefix, message)
    }
    fn publish_or_keep<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        message: &'a str,
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        self.inner.publish_or_keep(keys, ids, message, limits)
    }
    fn take_pending<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        limits: PendingLimits,
        announce: Option<HandOver<'a>>,
    ) -> BoxFuture<'a, Result<Vec<Taken>>> {
        Box::pin(async move {
            let delay = *self.take_delay.lock();
            tokio::time::sleep(delay).await;
            self.inner.take_pending(keys, ids, limits, announce).await
        })
    }
    fn requeue<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        messages: &'a [String],
        limits: PendingLimits,
        from: HandOver<'a>,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        Box::pin(async move {
            let delay = *self.requeue_delay.lock();
            tokio::time::sleep(delay).await;
            self.inner.requeue(keys, id, messages, limits, from).await
        })
    }
    fn mark_releasing<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        server_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.mark_releasing(keys, id, server_id)
    }
    fn mark_opening<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        server_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.mark_opening(keys, ids, server_id)
    }
    fn acknowledge<'a>(
        &'a self,
        keys: &'a PendingKeys,
        entries: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.acknowledge(keys, entries)
    }
    fn scripts(&self) -> bool {
        true
    }
    fn beat<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_after_ms: u64,
        max_dead: usize,
    ) -> BoxFuture<'a, Result<Beat>> {
        self.inner.beat(keys, dead_after_ms, max_dead)
    }
    fn prune_instance<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_id: &'a str,
        count: usize,
    ) -> BoxFuture<'a, Result<(u64, u64)>> {
        self.inner.prune_instance(keys, dead_id, count)
    }
    fn release_unheld<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64>> {
        self.inner
            .release_unheld(set_key, available_prefix, channel_prefix, ids)
    }
}

/// The native subscriber, with an optional delay before each UNSUBSCRIBE, or one UNSUBSCRIBE
/// that fails as a dropped connection does (the subscription stays, as redis-rs' tracker
/// replays it after a reconnect).
struct FlakySub {
    inner: Subscriber,
    unsubscribe_delay: Arc<Mutex<Duration>>,
    fail_next_unsubscribe: Arc<AtomicBool>,
}

impl PubSub for FlakySub {
    fn subscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        PubSub::subscribe(&self.inner, channels)
    }
    fn unsubscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if self.fail_next_unsubscribe.swap(false, Ordering::AcqRel) {
                return Err(RedisError::new(
                    RedisErrorKind::Connection,
                    "UNSUBSCRIBE",
                    "connection dropped (simulated)",
                ));
            }
            let delay = *self.unsubscribe_delay.lock();
            tokio::time::sleep(delay).await;
            PubSub::unsubscribe(&self.inner, channels).await
        })
    }
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        PubSub::ping(&self.inner)
    }
    fn take_events(&self) -> Option<UnboundedReceiver<PubSubEvent>> {
        self.inner.take_events()
    }
}

struct Knobs {
    requeue_delay: Arc<Mutex<Duration>>,
    take_delay: Arc<Mutex<Duration>>,
    unsubscribe_delay: Arc<Mutex<Duration>>,
    fail_next_unsubscribe: Arc<AtomicBool>,
}

async fn instrumented(
    server: &RedisServer,
    prefix: &str,
    heartbeat: u64,
    sink: InboundSink,
) -> (RedisStreamManager, Knobs) {
    let knobs = Knobs {
        requeue_delay: Arc::default(),
        take_delay: Arc::default(),
        unsubscribe_delay: Arc::default(),
        fail_next_unsubscribe: Arc::default(),
    };
    let m = RedisStreamManager::with_backends(
        Arc::new(SlowCmds {
            inner: server.conn().await,
            requeue_delay: knobs.requeue_delay.clone(),
            take_delay: knobs.take_delay.clone(),
        }),
        Arc::new(FlakySub {
            inner: server.subscriber().await,
            unsubscribe_delay: knobs.unsubscribe_delay.clone(),
            fail_next_unsubscribe: knobs.fail_next_unsubscribe.clone(),
        }),
        prefix.to_string(),
        heartbeat,
        PendingLimits::default(),
        sink,
    )
    .expect("manager");
    (m, knobs)
}

async fn plain(server: &RedisServer, prefix: &str) -> (RedisStreamManager, Collector) {
    plain_with_heartbeat(server, prefix, 10).await
}

async fn plain_with_heartbeat(
    server: &RedisServer,
    prefix: &str,
    heartbeat: u64,
) -> (RedisStreamManager, Collector) {
    let c = Collector::default();
    let m = RedisStreamManager::new(
        server.conn().await,
        server.subscriber().await,
        prefix.to_string(),
        heartbeat,
        c.sink(),
    )
    .expect("manager");
    (m, c)
}

async fn numsub(conn: &Connection, channel: &str) -> i64 {
    let (_, n): (String, i64) = raw(conn, &["PUBSUB", "NUMSUB", channel]).await;
    n
}

async fn wait_unsubscribed(conn: &Connection, channel: &str) {
    let deadline = Instant::now() + WAIT;
    while numsub(conn, channel).await != 0 {
        assert!(Instant::now() < deadline, "never unsubscribed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A session deleted through another instance stays in the holder's instance set for the
/// holder's whole life (its beat keeps re-expiring the set): one id leaks per such session.
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_delete_leaves_nothing_in_the_holders_instance_set() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = plain(&server, "rd:").await;
    let (b, _b_in) = plain(&server, "rd:").await;
    for i in 0..20 {
        a.create(&format!("s{i}")).await.expect("create on A");
    }
    for i in 0..20 {
        b.delete(&format!("s{i}"))
            .await
            .expect("session ended via B");
    }
    assert!(
        a_in.wait_for(WAIT, |i| i
            .iter()
            .filter(|x| matches!(x, Inbound::Delete { .. }))
            .count()
            == 20)
            .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.local_len(), 0, "A let go of every stream");
    let set = format!("rd:instance:{}", a.server_id());
    let left: i64 = raw(&conn, &["SCARD", &set]).await;
    assert_eq!(left, 0, "ids of deleted sessions left in {set}: {left}");
}

/// reopen_local (subscriber reconnect / registry loss) snapshots the local ids, then
/// re-creates them. A release between the two makes the session local again for good, with
/// no stream in the bindings: its messages are taken off Redis (not kept) and dropped there,
/// its availability key says it is held, and the message the failed stream handed back is
/// not requeued.
#[tokio::test(flavor = "multi_thread")]
async fn a_reopen_racing_a_release_leaves_no_zombie_session() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let collector = Collector::default();
    let (a, knobs) = instrumented(&server, "zb:", 1, collector.sink()).await;
    a.create("s1").await.expect("create");
    a.create("s2").await.expect("create");
    tokio::time::sleep(Duration::from_millis(700)).await; // registered by a first beat

    // An unrelated release holds the subscriptions lock for a while (a slow UNSUBSCRIBE).
    *knobs.unsubscribe_delay.lock() = Duration::from_millis(2500);
    let slow = tokio::spawn(a.release("s1", Vec::new()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The registry lost this instance (Redis restart, false death): next beat reopens.
    let _: i64 = raw(&conn, &["ZREM", "zb:instances", a.server_id()]).await;
    tokio::time::sleep(Duration::from_millis(900)).await; // the beat snapshotted {s2}
    *knobs.unsubscribe_delay.lock() = Duration::ZERO;
    // Now s2's stream fails in the bindings: released, with the message it did not take.
    let released = a.release("s2", ids(&["undelivered"]));
    assert!(!a.is_local("s2"));
    slow.await.expect("join").expect("release s1");
    released.await.expect("release s2");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let kept: Vec<String> = raw(&conn, &["LRANGE", "zb:pending:s2", "0", "-1"]).await;
    let has = a.has("s2").await.expect("has");
    assert!(
        !a.is_local("s2") && !has && kept.len() == 1,
        "s2 was released, yet: is_local={} has={} kept={:?} handed to the sink (no stream there)={:?}",
        a.is_local("s2"),
        has,
        kept,
        collector.messages_for("s2")
    );
}

/// A release whose UNSUBSCRIBE fails returns early: the session's hand-over entry is never
/// put back, and since the channel is still subscribed (redis-rs replays it after the
/// reconnect) every later message for the session is received here (so never kept) and held
/// in memory, without bound, for a stream that never comes back here. The client's next
/// stream, on another instance, never gets them.
#[tokio::test(flavor = "multi_thread")]
async fn a_release_whose_unsubscribe_fails_retries_and_strands_nothing() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let collector = Collector::default();
    let (a, knobs) = instrumented(&server, "fr:", 10, collector.sink()).await;
    let (b, b_in) = plain(&server, "fr:").await;
    a.create("s").await.expect("create");
    knobs.fail_next_unsubscribe.store(true, Ordering::Release);
    a.release("s", ids(&["m0"]))
        .await
        .expect("the unsubscribe is retried until it succeeds");
    for i in 1..=3 {
        b.send(Some(&ids(&["s"])), &format!("m{i}"))
            .await
            .expect("send");
    }
    b.create("s").await.expect("the client's next stream, on B");
    b.send(Some(&ids(&["s"])), "m4").await.expect("send");
    assert!(b_in.wait_for(WAIT, |i| !i.is_empty()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b_in.messages_for("s"),
        ids(&["m0", "m1", "m2", "m3", "m4"]),
        "A kept the rest in memory; stats of A: {:?}",
        a.pending_stats()
    );
}

/// A re-create on the same instance after the release unsubscribed, but while its put_back is
/// in flight (REQUEUE on the wire): the REQUEUE script sees this instance's own new
/// subscription (NUMSUB 1), takes it for "another instance received them", and drops them.
#[tokio::test(flavor = "multi_thread")]
async fn a_recreate_during_put_back_loses_nothing() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let collector = Collector::default();
    let (a, knobs) = instrumented(&server, "pb:", 10, collector.sink()).await;
    a.create("s").await.expect("create");
    *knobs.requeue_delay.lock() = Duration::from_millis(500);
    let rel = tokio::spawn(a.release("s", ids(&["m1"])));
    wait_unsubscribed(&conn, "pb:s").await;
    tokio::time::sleep(Duration::from_millis(100)).await; // barrier done, REQUEUE in flight
    a.create("s")
        .await
        .expect("the client reconnected to the same instance");
    rel.await.expect("join").expect("release");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let kept: Vec<String> = raw(&conn, &["LRANGE", "pb:pending:s", "0", "-1"]).await;
    assert!(
        collector.messages_for("s") == ids(&["m1"]) || kept.len() == 1,
        "m1 neither delivered to the new stream ({:?}) nor kept ({kept:?})",
        collector.messages_for("s")
    );
}

/// A re-create on the same instance while the release waits for its barrier: the messages the
/// failed stream handed back (older) are carried into the new stream's held list, but the
/// new stream delivers what was kept in Redis after the unsubscribe (newer) first.
#[tokio::test(flavor = "multi_thread")]
async fn a_recreate_during_the_barrier_wait_keeps_the_order() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    // A sink like the bindings' when the JS thread is busy: barriers processed 400 ms late.
    let items: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink_items = items.clone();
    let sink: InboundSink = Arc::new(move |batch: Vec<Inbound>| {
        for item in batch {
            match item {
                Inbound::Barrier(b) => {
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(400));
                        drop(b);
                    });
                }
                Inbound::Message { payload, .. } => sink_items.lock().push(payload),
                _ => {}
            }
        }
    });
    let (a, _knobs) = instrumented(&server, "ro:", 10, sink).await;
    let (b, _b_in) = plain(&server, "ro:").await;
    a.create("s").await.expect("create");
    let rel = tokio::spawn(a.release("s", ids(&["m1"])));
    wait_unsubscribed(&conn, "ro:s").await;
    b.send(Some(&ids(&["s"])), "m2").await.expect("send"); // nobody listens: kept
    a.create("s")
        .await
        .expect("the client reconnected to the same instance");
    rel.await.expect("join").expect("release");
    let deadline = Instant::now() + WAIT;
    while items.lock().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*items.lock(), ids(&["m1", "m2"]), "order of delivery");
}

/// Mixed fleet: mcp-use's RedisStreamManager re-expires `available:{prefix}{sid}` to
/// 2 * heartbeat every heartbeat for every session it ever created a stream for (its interval
/// is cleared only by delete / re-create, not when its controller fails). Once the client's
/// stream is on one of ours, our liveness refreshes the key every half lease (12 h): when the
/// mcp-use instance stops, the key expires within 2 * heartbeat while our stream is live.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_streams_key_expired_by_a_stopped_mcp_use_instance_comes_back() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = plain_with_heartbeat(&server, "mx:", 2).await;
    let (b, _b_in) = plain_with_heartbeat(&server, "mx:", 2).await;
    a.create("s")
        .await
        .expect("the client's stream moved to our instance A");
    // What the mcp-use instance's leftover setInterval does (heartbeatInterval 1 here).
    let _: i64 = raw(&conn, &["EXPIRE", "available:mx:s", "2"]).await;
    // ... and then that instance stops (rolling restart): the key expires.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert!(a.is_local("s"));
    // A broadcast still reaches the live stream (its channel is listened to) ...
    b.send(None, "broadcast").await.expect("broadcast");
    assert!(a_in.wait_for(WAIT, |i| !i.is_empty()).await);
    assert_eq!(a_in.messages_for("s"), ids(&["broadcast"]));
    // ... and a prune step puts the key back (here a whole pass, at once).
    b.prune_now().await.expect("prune");
    assert!(
        b.has("s").await.expect("has"),
        "the key of a live stream came back"
    );
}

/// What the bindings do with a stream whose client is gone, on a JS thread that is busy
/// until `open` is called: each batch waits, then a message for the dead stream fails its
/// write (the stream is let go of with it), later ones are reported undeliverable, and a
/// barrier is dropped once everything before it was processed.
struct DeadStream {
    manager: Arc<std::sync::OnceLock<std::sync::Weak<RedisStreamManager>>>,
    gate: Arc<tokio::sync::Notify>,
    seen: Collector,
}

impl DeadStream {
    fn new() -> (Self, InboundSink) {
        let manager: Arc<std::sync::OnceLock<std::sync::Weak<RedisStreamManager>>> = Arc::default();
        let gate = Arc::new(tokio::sync::Notify::new());
        let seen = Collector::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Inbound>>();
        let (m, g, record) = (manager.clone(), gate.clone(), seen.sink());
        tokio::spawn(async move {
            g.notified().await;
            let mut dead_dropped = false;
            while let Some(batch) = rx.recv().await {
                let Some(core) = m.get().and_then(|w| w.upgrade()) else {
                    continue;
                };
                for item in batch {
                    match item {
                        Inbound::Message {
                            session_id,
                            payload,
                        } => {
                            record(vec![Inbound::Message {
                                session_id: session_id.clone(),
                                payload: payload.clone(),
                            }]);
                            if !dead_dropped {
                                dead_dropped = true;
                                tokio::spawn(core.release(&session_id, vec![payload]));
                            } else if !core.undeliverable(&session_id, payload.clone())
                                && core.is_local(&session_id)
                            {
                                tokio::spawn(core.release(&session_id, vec![payload]));
                            }
                        }
                        Inbound::Barrier(b) => drop(b),
                        Inbound::Delivered(d) => d.acknowledge(),
                        other => record(vec![other]),
                    }
                }
            }
        });
        let sink: InboundSink = Arc::new(move |batch| {
            let _ = tx.send(batch);
        });
        (
            DeadStream {
                manager,
                gate,
                seen,
            },
            sink,
        )
    }

    fn attach(&self, m: &Arc<RedisStreamManager>) {
        let _ = self.manager.set(Arc::downgrade(m));
    }

    fn open(&self) {
        self.gate.notify_one();
    }
}

fn messages(c: &Collector, sid: &str) -> Vec<String> {
    c.messages_for(sid)
}

/// How many messages of `sid` are among `items`.
fn count_for(items: &[Inbound], sid: &str) -> usize {
    items
        .iter()
        .filter(|i| matches!(i, Inbound::Message { session_id, .. } if session_id == sid))
        .count()
}

/// The soak's "stream-move race" (`bench/soak/repro/stream-move-race.mjs`): A holds a stream
/// whose client is gone, not yet found out; m1 is published while only A listens; the
/// client's new stream opens on B; A's write of m1 fails after B subscribed. A used to see B
/// listening and drop m1 as received there: lost. B's take now announces B's stream; A stops
/// at that marker and hands m1 back; B waits for it, and gets m1, then what was published
/// after, each once.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_only_the_old_stream_received_reaches_the_moved_stream_first() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (dead, a_sink) = DeadStream::new();
    let a = Arc::new(
        RedisStreamManager::with_backends(
            Arc::new(server.conn().await),
            Arc::new(server.subscriber().await),
            "mv:".into(),
            10,
            PendingLimits::default(),
            a_sink,
        )
        .expect("manager"),
    );
    dead.attach(&a);
    let (b, b_in) = plain(&server, "mv:").await;
    let (c, _) = plain(&server, "mv:").await;
    a.create("s").await.expect("create on A");
    c.send(Some(&ids(&["s"])), "m1").await.expect("send m1");
    assert_eq!(c.pending_stats().buffered, 0, "A listens: m1 is not kept");
    b.create("s").await.expect("the stream moves to B");
    c.send(Some(&ids(&["s"])), "m2").await.expect("send m2");
    dead.open(); // A's JS thread gets to m1 now: its write fails
    assert!(
        b_in.wait_for(WAIT, |i| count_for(i, "s") >= 2).await,
        "B got {:?}",
        messages(&b_in, "s")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(messages(&b_in, "s"), ["m1", "m2"], "each once, in order");
    assert!(
        dead.seen
            .snapshot()
            .iter()
            .any(|i| matches!(i, Inbound::Superseded { session_id } if session_id == "s")),
        "A let its stream go when B's opened: {:?}",
        dead.seen.snapshot()
    );
    assert!(!a.is_local("s"));
    assert!(
        messages(&dead.seen, "s").iter().all(|m| m == "m1"),
        "A saw nothing after B's marker, and no marker as a message: {:?}",
        messages(&dead.seen, "s")
    );
}

/// A lets go of its failed stream (unsubscribed, its put-back slow) when the session's new
/// stream opens on B: B's take finds nobody listening, but A's record of the hand-over, and
/// waits for what A puts back. Before, A's put-back saw B listening and dropped m1; without
/// the wait, m1 would come after m2.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_opening_during_a_release_elsewhere_waits_for_its_hand_back() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, knobs) = instrumented(&server, "hb:", 10, Collector::default().sink()).await;
    let (b, b_in) = plain(&server, "hb:").await;
    let (c, _) = plain(&server, "hb:").await;
    a.create("s").await.expect("create on A");
    *knobs.requeue_delay.lock() = Duration::from_millis(400);
    let released = tokio::spawn(a.release("s", ids(&["m1"])));
    wait_unsubscribed(&conn, "hb:s").await;
    b.create("s").await.expect("the stream opens on B");
    c.send(Some(&ids(&["s"])), "m2").await.expect("send m2");
    released.await.expect("task").expect("release");
    assert!(
        b_in.wait_for(WAIT, |i| count_for(i, "s") >= 2).await,
        "B got {:?}",
        messages(&b_in, "s")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(messages(&b_in, "s"), ["m1", "m2"]);
    let left: i64 = raw(&conn, &["EXISTS", "hb:pending-handover:s", "hb:pending:s"]).await;
    assert_eq!(left, 0, "the hand-over record and the list are gone");
}

/// Who may hand back to a stream that awaits it: only an instance that saw its opened marker
/// (it collected nothing after it) or was letting go of the session when its take ran (it
/// unsubscribed before the marker, or saw it). The 30-minute soak delivered a message twice
/// when an instance that had missed the marker (it was opening the session again after a
/// Redis restart) later failed a write of a message the new stream had received too, and put
/// it back as a hand-back: the new stream delivered it again.
#[tokio::test(flavor = "multi_thread")]
async fn only_an_instance_that_saw_the_marker_or_was_letting_go_hands_back() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (listener, got) = plain(&server, "aw:").await;
    listener
        .create("s")
        .await
        .expect("a stream listens to the session");
    let keys = PendingKeys::for_prefix("aw:");
    let from = |superseded| HandOver {
        server_id: "X",
        marker: ": mcp-sessions-native handed-back X\n\n",
        instances: None,
        superseded,
    };
    let limits = PendingLimits::default();
    let requeue = |superseded| {
        let (conn, keys) = (&conn, &keys);
        async move {
            conn.requeue(keys, "s", &ids(&["m"]), limits, from(superseded))
                .await
                .expect("requeue")
        }
    };
    let delivered = |n: usize| {
        let got = &got;
        async move { got.wait_for(WAIT, |i| count_for(i, "s") >= n).await }
    };

    // Awaited from whoever saw the marker (a listener's take announced its stream).
    let _: () = raw(&conn, &["SET", "aw:pending-awaited:s", "-", "EX", "30"]).await;
    assert_eq!(
        requeue(false).await.buffered,
        0,
        "missed the marker: the old rule"
    );
    let left: i64 = raw(&conn, &["EXISTS", "aw:pending:s"]).await;
    assert_eq!(left, 0, "the listener received it: nothing kept");
    assert_eq!(
        requeue(true).await.buffered,
        1,
        "saw the marker: a hand-back"
    );
    assert!(
        delivered(1).await,
        "the listener takes it on the handed-back marker"
    );

    // Awaited from X, which was letting go when the take ran.
    let _: () = raw(&conn, &["SET", "aw:pending-awaited:s", "X", "EX", "30"]).await;
    assert_eq!(requeue(false).await.buffered, 1, "X was letting go");
    assert!(delivered(2).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        messages(&got, "s"),
        ["m", "m"],
        "once per hand-back, none for the first"
    );
}

/// The 10-minute soak's stream-move race after the markers: B subscribed to the session, A's
/// put-back ran before B's take (so nothing awaited a hand-back yet, and A's hand-over record
/// was gone when B's take ran), and A saw B listening and dropped m1, which was published
/// before B's SUBSCRIBE. B now records that it is opening the session before it subscribes,
/// and A's put-back keeps m1 as a hand-back for B's take.
#[tokio::test(flavor = "multi_thread")]
async fn a_put_back_between_a_new_streams_subscribe_and_its_take_keeps_the_messages() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, _a_in) = plain(&server, "op:").await;
    let b_in = Collector::default();
    let (b, knobs) = instrumented(&server, "op:", 10, b_in.sink()).await;
    let (c, _) = plain(&server, "op:").await;
    a.create("s").await.expect("create on A");
    c.send(Some(&ids(&["s"])), "m1").await.expect("send m1"); // only A listens
    *knobs.take_delay.lock() = Duration::from_millis(400);
    let b = Arc::new(b);
    let created = tokio::spawn({
        let b = b.clone();
        async move { b.create("s").await }
    });
    let deadline = Instant::now() + WAIT;
    while numsub(&conn, "op:s").await < 2 {
        assert!(Instant::now() < deadline, "B never subscribed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A's write of m1 fails now; its put-back runs while B's take waits.
    a.release("s", ids(&["m1"])).await.expect("release");
    created.await.expect("task").expect("create on B");
    c.send(Some(&ids(&["s"])), "m2").await.expect("send m2");
    assert!(
        b_in.wait_for(WAIT, |i| count_for(i, "s") >= 2).await,
        "B got {:?}",
        messages(&b_in, "s")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(messages(&b_in, "s"), ["m1", "m2"], "each once, in order");
}
