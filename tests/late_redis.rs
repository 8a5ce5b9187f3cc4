//! Every feature comes up by itself whenever Redis does: a manager made while nothing listens
//! on its port (a container that starts before Redis) gets its server channel, the streams
//! created meanwhile and its heartbeat once Redis starts; and again after Redis goes down and
//! comes back while it runs.

mod common;

use std::time::{Duration, Instant};

use common::{raw, redis_or_skip, Collector, RedisServer};
use mcp_sessions_native::redis::{connect_lazy, connect_subscriber_lazy, RedisErrorKind};
use mcp_sessions_native::store::redis::RedisSessionStore;
use mcp_sessions_native::stream::redis::{Inbound, RedisStreamManager};

/// Generous: recovery is paced by backoff (at most 5 s between rounds) on a loaded machine.
const COME_UP: Duration = Duration::from_secs(30);

/// A manager on `server`'s settings, opened lazily: nothing is asked of Redis yet.
fn lazy_manager(server: &RedisServer, prefix: &str) -> (RedisStreamManager, Collector) {
    let collector = Collector::default();
    let settings = server.settings();
    let m = RedisStreamManager::new(
        connect_lazy(&settings).expect("settings"),
        connect_subscriber_lazy(&settings).expect("settings"),
        prefix.to_owned(),
        1,
        collector.sink(),
    )
    .expect("manager");
    (m, collector)
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + COME_UP;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn forwarded(items: &[Inbound]) -> usize {
    items
        .iter()
        .filter(|i| matches!(i, Inbound::ForwardedResponse { .. }))
        .count()
}

/// A with its server channel and stream `s`; B sends to `s` and forwards a response to A.
async fn a_works_for_b(server: &RedisServer, a: &RedisStreamManager, a_in: &Collector, n: usize) {
    let conn = server.conn().await;
    let b_in = Collector::default();
    let b = RedisStreamManager::new(
        server.conn().await,
        server.subscriber().await,
        "late:".into(),
        1,
        b_in.sink(),
    )
    .expect("manager b");
    let channel = format!("late:server:{}", a.server_id());
    eventually("A's server channel", async || {
        let subs: Vec<redis::Value> = raw(&conn, &["PUBSUB", "NUMSUB", &channel]).await;
        matches!(subs.get(1), Some(redis::Value::Int(1)))
    })
    .await;
    eventually("A's stream s", async || b.has("s").await.unwrap_or(false)).await;
    let before = a_in.messages_for("s").len();
    b.send(Some(&["s".to_owned()]), &format!("from b {n}"))
        .await
        .expect("send");
    let for_s = |items: &[Inbound]| {
        items
            .iter()
            .filter(|i| matches!(i, Inbound::Message { session_id, .. } if session_id == "s"))
            .count()
    };
    assert!(
        a_in.wait_for(COME_UP, |items| for_s(items) > before).await,
        "the message from B reached A's stream"
    );
    let request = format!("r{n}");
    a.register_outbound_request(&request, "s")
        .await
        .expect("register");
    let already = forwarded(&a_in.snapshot());
    assert!(b
        .forward_inbound_response(&request, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, "s")
        .await
        .expect("forward"));
    assert!(
        a_in.wait_for(COME_UP, |items| forwarded(items) > already)
            .await,
        "the response B forwarded reached A"
    );
    b.close().await.expect("close b");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_made_before_redis_comes_up_with_it() {
    let Some(mut server) = redis_or_skip() else {
        return;
    };
    server.stop();
    let (a, a_in) = lazy_manager(&server, "late:");

    // What MCPServer does at startup and on a client's GET, both while nothing listens.
    let err = a
        .enable_forwarded_responses()
        .await
        .expect_err("Redis is not there yet");
    assert_ne!(err.kind(), RedisErrorKind::Unsupported);
    let err = a.create("s").await.expect_err("Redis is not there yet");
    assert!(matches!(
        err.kind(),
        RedisErrorKind::Connection | RedisErrorKind::Timeout
    ));
    assert!(
        a.is_local("s"),
        "the stream stays, to be opened when Redis comes"
    );

    server.start_again();
    a_works_for_b(&server, &a, &a_in, 1).await;

    // And again, Redis going away and coming back while A runs.
    server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.start_again();
    a_works_for_b(&server, &a, &a_in, 2).await;
    a.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_made_before_redis_works_once_it_comes() {
    let Some(mut server) = redis_or_skip() else {
        return;
    };
    server.stop();
    let store = RedisSessionStore::new(
        connect_lazy(&server.settings()).expect("settings"),
        "late:session:".into(),
        60,
    );
    assert!(store.get("x").await.is_err(), "Redis is not there yet");
    server.start_again();
    let mut stored = false;
    eventually("the store", async || {
        stored = store.set("x", r#"{"a":1}"#).await.is_ok();
        stored
    })
    .await;
    assert_eq!(
        store.get("x").await.expect("get").as_deref(),
        Some(r#"{"a":1}"#)
    );
}
