//! The change-event bus core (`stream::bus`) against a private redis-server: delivery across
//! instances, no echo of one's own events, params kept verbatim, nothing lost across a Redis
//! restart or a subscriber reconnect, retention bounds, and close.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_sessions_native::metrics::connection::ConnectionState;
use mcp_sessions_native::metrics::health::Status;
use mcp_sessions_native::redis::event_log::{EventLog, LogNames, Retention};
use mcp_sessions_native::redis::{connect_lazy, connect_subscriber_lazy, Connection};
use mcp_sessions_native::stream::bus::{BusOptions, BusSink, EventBus};
use parking_lot::Mutex;

use common::{raw, redis_or_skip, RedisServer};

/// What a bus's sink received.
#[derive(Clone, Default)]
struct Got(Arc<Mutex<Vec<String>>>);

impl Got {
    fn sink(&self) -> BusSink {
        let items = self.0.clone();
        Arc::new(move |batch: Vec<String>| items.lock().extend(batch))
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().clone()
    }

    async fn wait_len(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.0.lock().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.0.lock().len() >= n
    }
}

fn options(prefix: &str) -> BusOptions {
    BusOptions {
        prefix: prefix.to_owned(),
        health_interval: Duration::from_millis(300),
        close_timeout: Duration::from_secs(3),
        ..BusOptions::default()
    }
}

fn bus(server: &RedisServer, options: BusOptions) -> (EventBus, Got) {
    let got = Got::default();
    let settings = server.settings();
    let log: Arc<dyn EventLog> = Arc::new(connect_lazy(&settings).expect("connection"));
    let sub = Arc::new(connect_subscriber_lazy(&settings).expect("subscriber"));
    let bus = EventBus::new(log, sub, options, got.sink()).expect("bus");
    (bus, got)
}

fn event(n: usize) -> String {
    format!(r#"{{"kind":"resource_updated","uri":"test://r/{n}"}}"#)
}

/// Waits until the bus has subscribed and caught up (its first catch-up ran).
async fn ready(bus: &EventBus) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let h = bus.health();
        if h.subscriber.state == ConnectionState::Up && bus.stats().events.catch_ups > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("bus not ready: {:?}", bus.health());
}

#[tokio::test]
async fn events_reach_other_instances_once_in_order_and_never_echo() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, got_a) = bus(&server, options("t1:"));
    let (b, got_b) = bus(&server, options("t1:"));
    ready(&a).await;
    ready(&b).await;
    for n in 0..50 {
        assert!(a.publish(event(n)));
    }
    assert!(got_b.wait_len(50, Duration::from_secs(10)).await);
    assert_eq!(got_b.all(), (0..50).map(event).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        got_a.all().is_empty(),
        "the publisher's own sink got its events back"
    );
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(
        (sa.events.published, sa.events.appended, sa.events.outbox),
        (50, 50, 0)
    );
    assert_eq!((sb.events.received_remote, sb.events.lost), (50, 0));
    // Both connections are measured: A's appends (at least one script) and start (TIME,
    // XRANGE), B's subscribe; nothing failed.
    assert!(sa.commands.operations >= 3, "{:?}", sa.commands);
    assert!(sb.subscriber.operations >= 1, "{:?}", sb.subscriber);
    assert_eq!((sa.commands.errors, sa.subscriber.errors), (0, 0));
    assert!(sa.commands.up && sa.subscriber.up);
    assert_eq!(sa.commands.latency.count, sa.commands.operations);
    assert_eq!(a.health().status, Status::Ok);
    a.close().await.expect("close a");
    b.close().await.expect("close b");
}

#[tokio::test]
async fn params_survive_verbatim_and_other_prefixes_are_separate() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, _) = bus(&server, options("t2:"));
    let (b, got_b) = bus(&server, options("t2:"));
    let (c, got_c) = bus(&server, options("t2-other:"));
    for x in [&a, &b, &c] {
        ready(x).await;
    }
    let e = r#"{"kind":"tools_list_changed","params":{"_meta":{"n":1.5,"s":"é\"\\\u2028","a":[null,true,{}]}}}"#;
    a.publish(e.to_owned());
    assert!(got_b.wait_len(1, Duration::from_secs(10)).await);
    assert_eq!(got_b.all(), vec![e.to_owned()]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(got_c.all().is_empty());
}

#[tokio::test]
async fn a_bus_made_just_before_a_publish_receives_it() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, _) = bus(&server, options("t3:"));
    ready(&a).await;
    // B's subscription is not made yet when A publishes: the start mark covers it.
    let (b, got_b) = bus(&server, options("t3:"));
    a.publish(event(1));
    assert!(got_b.wait_len(1, Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(got_b.all(), vec![event(1)]);
    drop(b);
}

#[tokio::test]
async fn a_subscriber_that_reconnects_catches_up_without_duplicates() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, _) = bus(&server, options("t4:"));
    let (b, got_b) = bus(&server, options("t4:"));
    ready(&a).await;
    ready(&b).await;
    let admin: Connection = server.conn().await;
    for round in 0..5 {
        // Cut every pub/sub connection while A keeps publishing: B reads what it missed back.
        let _: redis::Value = raw(&admin, &["CLIENT", "KILL", "TYPE", "pubsub"]).await;
        for n in 0..20 {
            a.publish(event(round * 20 + n));
        }
    }
    assert!(got_b.wait_len(100, Duration::from_secs(15)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(got_b.all(), (0..100).map(event).collect::<Vec<_>>());
    let s = b.stats();
    assert!(s.events.catch_ups >= 2, "B never caught up: {s:?}");
    assert_eq!(s.events.lost, 0);
    // Each cut is a reported drop the subscriber came back from.
    assert!(s.subscriber.reconnects >= 1, "{:?}", s.subscriber);
}

#[tokio::test]
async fn events_published_while_redis_is_down_arrive_after_it_is_back() {
    let Some(mut server) = redis_or_skip() else {
        return;
    };
    let (a, _) = bus(&server, options("t5:"));
    let (b, got_b) = bus(&server, options("t5:"));
    ready(&a).await;
    ready(&b).await;
    a.publish(event(0));
    assert!(got_b.wait_len(1, Duration::from_secs(10)).await);
    server.stop();
    for n in 1..=10 {
        a.publish(event(n));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(a.stats().events.outbox, 10, "the events wait in the outbox");
    let h = a.health();
    assert_ne!(h.status, Status::Ok);
    assert_eq!(h.outbox_events, 10);
    server.start_again();
    assert!(got_b.wait_len(11, Duration::from_secs(20)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(got_b.all(), (0..=10).map(event).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.health().status != Status::Ok && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let h = a.health();
    assert_eq!(h.status, Status::Ok, "{h:?}");
    assert!(
        h.commands.last_error.is_some(),
        "the outage stays on record"
    );
    let s = a.stats();
    assert!(s.commands.errors > 0 && s.commands.reconnects >= 1, "{s:?}");
    assert!(s.events.append_failures > 0, "{s:?}");
}

#[tokio::test]
async fn the_log_is_bounded_by_count_and_expires_by_age() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let mut o = options("t6:");
    o.retention = Retention {
        max_len: 100,
        max_age_ms: 60_000,
    };
    let (a, _) = bus(&server, o);
    ready(&a).await;
    for n in 0..1000 {
        a.publish(event(n));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.stats().events.appended < 1000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let admin = server.conn().await;
    let names = LogNames::new("t6:").expect("names");
    let len: u64 = raw(&admin, &["XLEN", &names.log]).await;
    // MAXLEN ~ trims whole stream nodes (100 entries each by default): never below 100.
    assert!((100..300).contains(&len), "XLEN {len}");
    let ttl: i64 = raw(&admin, &["PTTL", &names.log]).await;
    assert!(ttl > 0 && ttl <= 60_000, "PTTL {ttl}");
}

#[tokio::test]
async fn close_flushes_the_outbox_or_says_what_it_could_not_send() {
    let Some(mut server) = redis_or_skip() else {
        return;
    };
    let (a, _) = bus(&server, options("t7:"));
    let (b, got_b) = bus(&server, options("t7:"));
    ready(&a).await;
    ready(&b).await;
    a.publish(event(1));
    a.close().await.expect("close flushes");
    assert!(got_b.wait_len(1, Duration::from_secs(10)).await);
    assert!(!a.publish(event(2)), "a closed bus takes nothing");
    let h = a.health();
    assert_eq!(
        (h.status, h.reason.as_deref()),
        (Status::Down, Some("closed"))
    );
    let err = a
        .ready(Duration::from_secs(1))
        .await
        .expect_err("a closed bus is never ready");
    assert!(err.to_string().contains("closed"), "{err}");

    let mut o = options("t7:");
    o.close_timeout = Duration::from_millis(300);
    let (c, _) = bus(&server, o);
    ready(&c).await;
    server.stop();
    c.publish(event(3));
    c.publish(event(4));
    let err = c.close().await.expect_err("Redis is down");
    assert!(err.to_string().contains("2 events"), "{err}");
    assert_eq!(c.stats().events.unsent_at_close, 2);
}

/// A subscriber that loses the channel messages whose payload contains "lost" (as a
/// subscription that silently missed them would), and forwards the rest.
struct Lossy(mcp_sessions_native::redis::Subscriber);

impl mcp_sessions_native::redis::PubSub for Lossy {
    fn subscribe<'a>(
        &'a self,
        channels: &'a [String],
    ) -> mcp_sessions_native::redis::BoxFuture<'a, mcp_sessions_native::redis::Result<()>> {
        Box::pin(self.0.subscribe(channels))
    }

    fn unsubscribe<'a>(
        &'a self,
        channels: &'a [String],
    ) -> mcp_sessions_native::redis::BoxFuture<'a, mcp_sessions_native::redis::Result<()>> {
        Box::pin(self.0.unsubscribe(channels))
    }

    fn ping(
        &self,
    ) -> mcp_sessions_native::redis::BoxFuture<'_, mcp_sessions_native::redis::Result<()>> {
        Box::pin(self.0.ping())
    }

    fn take_events(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<mcp_sessions_native::redis::PubSubEvent>> {
        use mcp_sessions_native::redis::PubSub;
        let mut inner = PubSub::take_events(&self.0)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = inner.recv().await {
                let lost = matches!(&event, mcp_sessions_native::redis::PubSubEvent::Message { payload, .. }
                    if String::from_utf8_lossy(payload).contains("lost"));
                if !lost && tx.send(event).is_err() {
                    return;
                }
            }
        });
        Some(rx)
    }
}

#[tokio::test]
async fn messages_a_subscription_missed_are_read_back_from_the_log() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, _) = bus(&server, options("t8:"));
    let got = Got::default();
    let settings = server.settings();
    let log: Arc<dyn EventLog> = Arc::new(connect_lazy(&settings).expect("connection"));
    let sub = Arc::new(Lossy(
        connect_subscriber_lazy(&settings).expect("subscriber"),
    ));
    let b = EventBus::new(log, sub, options("t8:"), got.sink()).expect("bus");
    ready(&a).await;
    ready(&b).await;
    let e = |name: &str| format!(r#"{{"kind":"resource_updated","uri":"test://{name}"}}"#);
    // A hole in A's numbers (2 never arrived live) makes B read the log before 3.
    for name in ["1", "2-lost", "3"] {
        a.publish(e(name));
    }
    assert!(got.wait_len(3, Duration::from_secs(10)).await);
    assert_eq!(got.all(), vec![e("1"), e("2-lost"), e("3")]);
    // The last event missed: no later one shows the hole; the idle check (300 ms here) sees the
    // log ahead of what the channel brought.
    a.publish(e("4-lost"));
    assert!(got.wait_len(4, Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(got.all(), vec![e("1"), e("2-lost"), e("3"), e("4-lost")]);
    let s = b.stats();
    assert_eq!((s.events.lost, s.events.received_remote), (0, 4));
    assert!(s.events.replayed >= 2, "{s:?}");
}

#[tokio::test]
async fn a_bus_made_while_redis_is_down_receives_what_was_published_since() {
    let Some(mut server) = redis_or_skip() else {
        return;
    };
    let (a, _) = bus(&server, options("t9:"));
    ready(&a).await;
    a.publish(event(0)); // before B exists: not for B
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.stats().events.appended < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop();
    let (b, got_b) = bus(&server, options("t9:"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.publish(event(1)); // after B was made, while Redis is down: waits in A's outbox
    server.start_again();
    assert!(got_b.wait_len(1, Duration::from_secs(20)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(got_b.all(), vec![event(1)]);
    drop(b);
}

#[tokio::test]
async fn ready_waits_for_redis_and_health_says_why_not_meanwhile() {
    let Some(mut server) = redis_or_skip() else {
        return;
    };
    server.stop();
    let (a, _) = bus(&server, options("t10:"));
    let err = a
        .ready(Duration::from_millis(400))
        .await
        .expect_err("Redis is down");
    assert!(err.to_string().contains("not ready within 400 ms"), "{err}");
    // Still serving (publish returns, local listeners run): degraded, never down for Redis.
    let h = a.health();
    assert_eq!(h.status, Status::Degraded, "{h:?}");
    assert!(
        h.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("Redis unreachable: Redis ")),
        "{h:?}"
    );
    assert_eq!(h.commands.state, ConnectionState::Down);
    assert!(a.stats().commands.errors > 0);
    server.start_again();
    a.ready(Duration::from_secs(20))
        .await
        .expect("ready once Redis is back");
    ready(&a).await;
    let h = a.health();
    assert_eq!((h.status, h.reason.as_deref()), (Status::Ok, None), "{h:?}");
    assert_eq!(h.mode(), "log");
}
