//! The journal of store-and-forward: a message Redis handed to an instance that died before
//! handling it reaches the session's next stream; one the holder handled does not come twice.
//!
//! "Died" here is what a SIGKILL leaves: the instance's tasks stop where they are, nothing
//! is cleaned up in Redis, and its connections close.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{raw, redis_or_skip, Collector, RedisServer};
use mcp_sessions_native::stream::redis::{Inbound, InboundSink, RedisStreamManager};
use parking_lot::Mutex;

const WAIT: Duration = Duration::from_secs(5);

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn plain(server: &RedisServer, prefix: &str) -> (RedisStreamManager, Collector) {
    let c = Collector::default();
    let m = RedisStreamManager::new(
        server.conn().await,
        server.subscriber().await,
        prefix.to_string(),
        10,
        c.sink(),
    )
    .expect("manager");
    (m, c)
}

/// A manager whose bindings never get to what it hands them (a JS thread that stays busy
/// until the process is killed): the batches are kept, unprocessed, in the returned list.
async fn stuck(
    server: &RedisServer,
    prefix: &str,
) -> (RedisStreamManager, Arc<Mutex<Vec<Vec<Inbound>>>>) {
    let stash: Arc<Mutex<Vec<Vec<Inbound>>>> = Arc::default();
    let kept = stash.clone();
    let sink: InboundSink = Arc::new(move |batch| kept.lock().push(batch));
    let m = RedisStreamManager::new(
        server.conn().await,
        server.subscriber().await,
        prefix.to_string(),
        10,
        sink,
    )
    .expect("manager");
    (m, stash)
}

async fn numsub(server: &RedisServer, channel: &str) -> i64 {
    let conn = server.conn().await;
    let (_, n): (String, i64) = raw(&conn, &["PUBSUB", "NUMSUB", channel]).await;
    n
}

/// Drops `m` as a kill would leave it (no `close`), and waits until Redis has seen its
/// subscriber go.
async fn kill(server: &RedisServer, m: RedisStreamManager, channel: &str) {
    drop(m);
    let deadline = Instant::now() + WAIT;
    while numsub(server, channel).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the killed instance's subscriber stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a stuck manager's sink was handed `text` (Redis delivered it to that instance).
async fn received(batches: &Mutex<Vec<Vec<Inbound>>>, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = batches
            .lock()
            .iter()
            .flatten()
            .any(|i| matches!(i, Inbound::Message { payload, .. } if payload == text));
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the instance never received {text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_its_instance_died_before_handling_reaches_the_next_stream() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, a_batches) = stuck(&server, "jd:").await;
    let (b, b_in) = plain(&server, "jd:").await;
    let (c, _) = plain(&server, "jd:").await;
    a.create("s").await.expect("create on A");
    c.send(Some(&ids(&["s"])), "m1").await.expect("send");
    received(&a_batches, "m1").await;
    // Redis handed m1 to A (it counted A's subscriber, so nothing was kept), and A dies
    // before its bindings write it.
    kill(&server, a, "jd:s").await;
    c.send(Some(&ids(&["s"])), "m2").await.expect("send");
    b.create("s").await.expect("create on B");
    c.send(Some(&ids(&["s"])), "m3").await.expect("send");
    assert!(
        b_in.wait_for(WAIT, |i| i.len() >= 3).await,
        "{:?}",
        b_in.snapshot()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b_in.messages_for("s"),
        vec!["m1", "m2", "m3"],
        "each once, in order"
    );
    drop(a_batches);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_its_holder_handled_is_not_taken_again() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = plain(&server, "jh:").await;
    let (b, b_in) = plain(&server, "jh:").await;
    let (c, _) = plain(&server, "jh:").await;
    a.create("s").await.expect("create on A");
    c.send(Some(&ids(&["s"])), "m1").await.expect("send");
    assert!(a_in.wait_for(WAIT, |i| i.len() == 1).await);
    // A's bindings handled it: A acknowledges it, and its journal goes.
    let deadline = Instant::now() + WAIT;
    while raw::<i64>(&conn, &["EXISTS", "jh:pending-journal:s"]).await == 1 {
        assert!(Instant::now() < deadline, "m1 was never acknowledged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill(&server, a, "jh:s").await;
    b.create("s").await.expect("create on B");
    c.send(Some(&ids(&["s"])), "m2").await.expect("send");
    assert!(b_in.wait_for(WAIT, |i| !i.is_empty()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b_in.messages_for("s"),
        vec!["m2"],
        "m1 reached A's client already"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_left_by_an_instance_that_is_not_ours_is_not_replayed() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (b, b_in) = plain(&server, "jm:").await;
    let (c, _) = plain(&server, "jm:").await;
    // A plain subscriber stands for an mcp-use instance holding the stream: it receives the
    // message and never acknowledges it.
    let other = server.subscriber().await;
    mcp_sessions_native::redis::PubSub::subscribe(&other, &ids(&["jm:s"]))
        .await
        .expect("subscribe");
    c.send(Some(&ids(&["s"])), "m1").await.expect("send");
    assert_eq!(
        raw::<i64>(&conn, &["XLEN", "jm:pending-journal:s"]).await,
        1,
        "journaled: a subscriber was counted"
    );
    drop(other);
    while numsub(&server, "jm:s").await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.create("s").await.expect("create on B");
    c.send(Some(&ids(&["s"])), "m2").await.expect("send");
    assert!(b_in.wait_for(WAIT, |i| !i.is_empty()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b_in.messages_for("s"),
        vec!["m2"],
        "not held by an instance of ours"
    );
    assert_eq!(
        raw::<i64>(&conn, &["EXISTS", "jm:pending-journal:s"]).await,
        0,
        "the stale journal went with the take"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clean_up_after_a_dead_instance_keeps_its_journal_for_the_next_stream() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_batches) = stuck(&server, "jp:").await;
    // A survivor beating every second takes a dead instance apart 1.5 s after its last beat.
    let survivor_in = Collector::default();
    let survivor = RedisStreamManager::new(
        server.conn().await,
        server.subscriber().await,
        "jp:".to_string(),
        1,
        survivor_in.sink(),
    )
    .expect("manager");
    let (c, _) = plain(&server, "jp:").await;
    a.create("s").await.expect("create on A");
    c.send(Some(&ids(&["s"])), "m1").await.expect("send");
    received(&a_batches, "m1").await;
    let a_id = a.server_id().to_owned();
    kill(&server, a, "jp:s").await;
    // A was registered with the default interval (10 s): wait for the survivor to find it dead.
    let deadline = Instant::now() + Duration::from_secs(30);
    while raw::<Option<String>>(&conn, &["ZSCORE", "jp:instances", &a_id])
        .await
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the dead instance was never cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        raw::<i64>(&conn, &["EXISTS", "jp:pending-journal:s"]).await,
        0,
        "the journal moved"
    );
    let (b, b_in) = plain(&server, "jp:").await;
    b.create("s").await.expect("create on B");
    assert!(b_in.wait_for(WAIT, |i| !i.is_empty()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b_in.messages_for("s"), vec!["m1"]);
    drop((a_batches, survivor));
}
