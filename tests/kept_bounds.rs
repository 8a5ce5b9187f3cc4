//! Kept messages are bounded in total, not only per session: a flood of sessions that never
//! come back holds at most the total, the oldest across sessions dropped first; and what is
//! stored in the kept lists by anyone else cannot make the scripts fail.

mod common;

use std::sync::Arc;

use common::{raw, redis_or_skip, Collector};
use mcp_sessions_native::pending::PendingLimits;
use mcp_sessions_native::stream::redis::RedisStreamManager;

async fn manager(
    server: &common::RedisServer,
    prefix: &str,
    pending: PendingLimits,
) -> (RedisStreamManager, Collector) {
    let collector = Collector::default();
    let m = RedisStreamManager::with_backends(
        Arc::new(server.conn().await),
        Arc::new(server.subscriber().await),
        prefix.to_string(),
        10,
        pending,
        collector.sink(),
    )
    .expect("manager");
    (m, collector)
}

async fn kept_in_redis(conn: &mcp_sessions_native::redis::Connection, prefix: &str) -> (i64, i64) {
    let mut cursor = "0".to_owned();
    let (mut messages, mut lists) = (0, 0);
    loop {
        let (next, keys): (String, Vec<String>) = raw(
            conn,
            &[
                "SCAN",
                &cursor,
                "MATCH",
                &format!("{prefix}pending:*"),
                "COUNT",
                "1000",
            ],
        )
        .await;
        for key in keys {
            let n: i64 = raw(conn, &["LLEN", &key]).await;
            messages += n;
            lists += 1;
        }
        if next == "0" {
            return (messages, lists);
        }
        cursor = next;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_ten_thousand_sessions_stays_within_the_total() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let limits = PendingLimits {
        max_total_messages: 1000,
        ..PendingLimits::default()
    };
    let (m, _in) = manager(&server, "flood:", limits).await;
    let ids: Vec<String> = (0..10_000).map(|i| format!("s{i:05}")).collect();
    for round in 0..2 {
        for chunk in ids.chunks(500) {
            m.send(Some(chunk), &format!("message {round}"))
                .await
                .expect("send");
        }
    }
    let (messages, _) = kept_in_redis(&conn, "flood:").await;
    assert_eq!(messages, 1000, "the total holds");
    let total: Vec<String> = raw(&conn, &["HMGET", "flood:pending-total", "n", "b"]).await;
    assert_eq!(total[0], "1000", "the recorded total is the real one");
    let stats = m.pending_stats();
    assert_eq!(stats.buffered, 20_000);
    assert_eq!(
        stats.dropped, 19_000,
        "every message beyond the total is counted"
    );

    // The newest were kept: the first sessions lost theirs, the last one has its last one.
    let (first, first_in) = manager(&server, "flood:", limits).await;
    first.create("s00000").await.expect("create");
    first.create("s09999").await.expect("create");
    assert!(
        first_in
            .wait_for(std::time::Duration::from_secs(5), |i| !i.is_empty())
            .await
    );
    assert!(first_in.messages_for("s00000").is_empty());
    assert_eq!(first_in.messages_for("s09999"), vec!["message 1"]);
    let after: Vec<String> = raw(&conn, &["HMGET", "flood:pending-total", "n"]).await;
    assert_eq!(after[0], "999", "a take leaves the total");
    m.close().await.expect("close");
    first.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_written_by_anyone_else_do_not_break_keeping_or_taking() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (m, m_in) = manager(&server, "foreign:", PendingLimits::default()).await;
    for garbage in [
        "no colon here",
        ":",
        "notanumber:x",
        "99999999999999999999999:y",
        "",
    ] {
        let _: i64 = raw(&conn, &["RPUSH", "foreign:pending:s", garbage]).await;
    }
    let _: String = raw(&conn, &["SET", "foreign:pending-bytes:s", "not a number"]).await;
    // Keeping more after the foreign entries works (the byte count is corrected by the
    // script's own arithmetic on its entries)...
    m.send(Some(&["s".to_owned()]), "mine")
        .await
        .expect("send with foreign entries");
    // ...and so does taking: the foreign entries count as expired, ours is delivered.
    m.create("s").await.expect("create");
    assert!(
        m_in.wait_for(std::time::Duration::from_secs(5), |i| !i.is_empty())
            .await
    );
    assert_eq!(m_in.messages_for("s"), vec!["mine"]);
    assert!(m.pending_stats().expired >= 4, "{:?}", m.pending_stats());
    m.close().await.expect("close");
}
