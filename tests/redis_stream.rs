//! RedisStreamManager core: two managers on one private Redis simulate two instances.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{raw, redis_or_skip, Collector, RedisServer};
use mcp_sessions_native::redis::{Connection, PubSub, PubSubEvent, RedisErrorKind};
use mcp_sessions_native::stream::redis::{Inbound, RedisStreamManager, DEFAULT_PREFIX};

const WAIT: Duration = Duration::from_secs(5);

async fn manager(
    server: &RedisServer,
    prefix: &str,
    heartbeat: u64,
) -> (RedisStreamManager, Collector) {
    let collector = Collector::default();
    let m = RedisStreamManager::new(
        server.conn().await,
        server.subscriber().await,
        prefix.to_string(),
        heartbeat,
        collector.sink(),
    )
    .expect("manager");
    (m, collector)
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn members(conn: &Connection, key: &str) -> HashSet<String> {
    let v: Vec<String> = raw(conn, &["SMEMBERS", key]).await;
    v.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn targeted_send_reaches_the_other_instance() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, a_in) = manager(&server, DEFAULT_PREFIX, 10).await;
    let (b, b_in) = manager(&server, DEFAULT_PREFIX, 10).await;
    a.create("s1").await.expect("create");
    a.create("s2").await.expect("create");
    assert_eq!(a.local_len(), 2);
    assert_eq!(b.local_len(), 0);
    assert!(
        b.has("s1").await.expect("has"),
        "availability is visible from every instance"
    );
    assert!(!b.has("nope").await.expect("has"));

    let data = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n";
    b.send(Some(&ids(&["s1"])), data).await.expect("send");
    b.send(Some(&ids(&["s1", "s2", "nobody"])), "two")
        .await
        .expect("send many");
    assert!(
        a_in.wait_for(WAIT, |i| i.len() >= 3).await,
        "{:?}",
        a_in.snapshot()
    );
    assert_eq!(
        a_in.messages_for("s1"),
        vec![data.to_string(), "two".to_string()]
    );
    assert_eq!(a_in.messages_for("s2"), vec!["two".to_string()]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a_in.snapshot().len(), 3, "nothing else delivered");
    assert!(b_in.snapshot().is_empty(), "B holds no stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn wire_layout_matches_the_reference() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = manager(&server, DEFAULT_PREFIX, 10).await;
    a.create("w1").await.expect("create");

    let v: Option<String> = raw(&conn, &["GET", "available:mcp:stream:w1"]).await;
    assert_eq!(v.as_deref(), Some("active"));
    // Same names and values as the reference; the expiry is the liveness lease (a leak
    // guard), not twice the heartbeat: the instance's heartbeat keeps its streams alive.
    let ttl: i64 = raw(&conn, &["TTL", "available:mcp:stream:w1"]).await;
    assert!((86_390..=86_400).contains(&ttl), "lease, got {ttl}");
    assert!(members(&conn, "mcp:stream:active").await.contains("w1"));
    let set_ttl: i64 = raw(&conn, &["TTL", "mcp:stream:active"]).await;
    assert!(
        set_ttl > 20,
        "the active set lives while the fleet does, got {set_ttl}"
    );
    let own: Vec<String> = raw(
        &conn,
        &[
            "SMEMBERS",
            &format!("mcp:stream:instance:{}", a.server_id()),
        ],
    )
    .await;
    assert_eq!(
        own,
        vec!["w1".to_string()],
        "new key: the sessions this instance holds"
    );
    let channels: Vec<String> = raw(&conn, &["PUBSUB", "CHANNELS", "*w1"]).await;
    let channels: HashSet<String> = channels.into_iter().collect();
    assert_eq!(
        channels,
        ["mcp:stream:w1", "delete:mcp:stream:w1"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );

    // What a reference (TypeScript) instance does: plain PUBLISH on the session channel ...
    let n: i64 = raw(&conn, &["PUBLISH", "mcp:stream:w1", "from-ts"]).await;
    assert_eq!(n, 1, "exactly one subscriber");
    // ... and PUBLISH "" on the delete channel.
    let _: i64 = raw(&conn, &["PUBLISH", "delete:mcp:stream:w1", ""]).await;
    assert!(a_in.wait_for(WAIT, |i| i.len() >= 2).await);
    assert_eq!(
        a_in.snapshot(),
        vec![
            Inbound::Message {
                session_id: "w1".into(),
                payload: "from-ts".into()
            },
            Inbound::Delete {
                session_id: "w1".into()
            },
        ]
    );
    assert_eq!(a.local_len(), 0);
    // the delete unsubscribed both channels
    let deadline = Instant::now() + WAIT;
    loop {
        let channels: Vec<String> = raw(&conn, &["PUBSUB", "CHANNELS", "*w1"]).await;
        if channels.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still subscribed: {channels:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn broadcast_reaches_all_live_sessions_and_drops_dead_ids() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = manager(&server, "bc:", 10).await;
    let (b, b_in) = manager(&server, "bc:", 10).await;
    a.create("a1").await.expect("create");
    a.create("a2").await.expect("create");
    b.create("b1").await.expect("create");
    // an id left behind by a crashed instance: in the set, no availability key
    let _: i64 = raw(&conn, &["SADD", "bc:active", "ghost"]).await;

    b.send(None, "all").await.expect("broadcast");
    assert!(a_in.wait_for(WAIT, |i| i.len() >= 2).await);
    assert!(b_in.wait_for(WAIT, |i| !i.is_empty()).await);
    assert_eq!(a_in.messages_for("a1"), vec!["all"]);
    assert_eq!(a_in.messages_for("a2"), vec!["all"]);
    assert_eq!(b_in.messages_for("b1"), vec!["all"]);
    let set = members(&conn, "bc:active").await;
    assert!(!set.contains("ghost"), "broadcast removed the dead id");
    assert_eq!(set.len(), 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a_in.snapshot().len(), 2);
    assert_eq!(b_in.snapshot().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_with_glob_chars_reach_only_themselves() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, a_in) = manager(&server, "g*[x]?:", 10).await;
    let (b, _b_in) = manager(&server, "g*[x]?:", 10).await;
    for id in ["*", "a*", "ab", "a?", "[ab]"] {
        a.create(id).await.expect("create");
    }
    b.send(Some(&ids(&["a*"])), "star").await.expect("send");
    b.send(Some(&ids(&["*"])), "only-star").await.expect("send");
    b.send(Some(&ids(&["a?"])), "q").await.expect("send");
    assert!(a_in.wait_for(WAIT, |i| i.len() >= 3).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a_in.messages_for("a*"), vec!["star"]);
    assert_eq!(a_in.messages_for("*"), vec!["only-star"]);
    assert_eq!(a_in.messages_for("a?"), vec!["q"]);
    assert!(a_in.messages_for("ab").is_empty());
    assert!(a_in.messages_for("[ab]").is_empty());
    assert_eq!(a_in.snapshot().len(), 3);
    b.send(None, "bc").await.expect("broadcast");
    assert!(a_in.wait_for(WAIT, |i| i.len() >= 8).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        a_in.snapshot().len(),
        8,
        "one broadcast message per session"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_propagates_to_the_holding_instance() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = manager(&server, "del:", 10).await;
    let (b, b_in) = manager(&server, "del:", 10).await;
    a.create("s").await.expect("create");
    a.create("keep").await.expect("create");

    b.delete("s").await.expect("delete from the other instance");
    assert!(a_in.wait_for(WAIT, |i| !i.is_empty()).await);
    assert_eq!(
        a_in.snapshot(),
        vec![Inbound::Delete {
            session_id: "s".into()
        }]
    );
    assert!(!a.is_local("s"));
    assert_eq!(a.local_len(), 1);
    assert!(!a.has("s").await.expect("has"));
    assert!(!members(&conn, "del:active").await.contains("s"));
    assert!(
        b_in.snapshot().is_empty(),
        "B held nothing, so it closes nothing"
    );

    // A no longer receives for s; "keep" is untouched
    b.send(Some(&ids(&["s", "keep"])), "after")
        .await
        .expect("send");
    assert!(a_in.wait_for(WAIT, |i| i.len() >= 2).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a_in.messages_for("keep"), vec!["after"]);
    assert!(a_in.messages_for("s").is_empty());

    // A deleting its own session: no Delete comes back to A, and a re-create right after is
    // not torn down by the delete it published.
    a.create("own").await.expect("create");
    a.delete("own").await.expect("delete");
    a.create("own").await.expect("re-create");
    b.send(Some(&ids(&["own"])), "still-here")
        .await
        .expect("send");
    assert!(a_in.wait_for(WAIT, |i| i.len() >= 3).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a_in.messages_for("own"), vec!["still-here"]);
    assert!(
        !a_in
            .snapshot()
            .iter()
            .any(|i| matches!(i, Inbound::Delete { session_id } if session_id == "own")),
        "{:?}",
        a_in.snapshot()
    );
    assert!(a.is_local("own"));
    assert!(a.has("own").await.expect("has"));
}

#[tokio::test(flavor = "multi_thread")]
async fn create_is_idempotent() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = manager(&server, "idem:", 10).await;
    let (b, _) = manager(&server, "idem:", 10).await;
    for _ in 0..3 {
        a.create("s").await.expect("create");
    }
    assert_eq!(a.local_len(), 1);
    let n: i64 = raw(&conn, &["PUBLISH", "idem:s", "probe"]).await;
    assert_eq!(n, 1, "one subscription, not three");
    b.send(Some(&ids(&["s"])), "once").await.expect("send");
    assert!(a_in.wait_for(WAIT, |i| i.len() >= 2).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a_in.messages_for("s"), vec!["probe", "once"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn many_messages_arrive_in_order_in_batches() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, a_in) = manager(&server, "ord:", 10).await;
    let (b, _) = manager(&server, "ord:", 10).await;
    a.create("x").await.expect("create");
    a.create("y").await.expect("create");
    let n = 2000;
    for i in 0..n {
        // x one by one, y in pairs through the pipelined path
        b.send(Some(&ids(&["x"])), &format!("x{i}"))
            .await
            .expect("send");
        if i % 2 == 0 {
            b.send(Some(&ids(&["y", "y"])), &format!("y{i}"))
                .await
                .expect("send");
        }
    }
    assert!(
        a_in.wait_for(Duration::from_secs(20), |i| i.len() >= n + n)
            .await,
        "{}",
        a_in.snapshot().len()
    );
    let xs = a_in.messages_for("x");
    assert_eq!(xs, (0..n).map(|i| format!("x{i}")).collect::<Vec<_>>());
    let ys = a_in.messages_for("y");
    let expected: Vec<String> = (0..n)
        .filter(|i| i % 2 == 0)
        .flat_map(|i| [format!("y{i}"), format!("y{i}")])
        .collect();
    assert_eq!(ys, expected);
    let batches = a_in.batches.lock().clone();
    assert_eq!(batches.iter().sum::<usize>(), 2 * n);
    assert!(batches.iter().all(|&b| b > 0), "no empty batches");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_routing_works_both_ways() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = manager(&server, DEFAULT_PREFIX, 10).await;
    let (b, b_in) = manager(&server, DEFAULT_PREFIX, 10).await;
    assert_ne!(a.server_id(), b.server_id());
    a.enable_forwarded_responses().await.expect("enable");
    a.enable_forwarded_responses()
        .await
        .expect("enable twice is fine");
    b.enable_forwarded_responses().await.expect("enable");

    // Watch A's server channel with a plain subscriber to check the exact wire JSON.
    let watcher = server.subscriber().await;
    let mut watch_rx = watcher.take_events().expect("receiver");
    watcher
        .subscribe(&[format!("mcp:stream:server:{}", a.server_id())])
        .await
        .expect("subscribe");

    a.register_outbound_request("5", "sess-1")
        .await
        .expect("register");
    let route_key = "mcp:stream:req-route:sess-1:5";
    let route: Option<String> = raw(&conn, &["GET", route_key]).await;
    assert_eq!(
        route,
        Some(format!(
            r#"{{"serverId":"{}","sessionId":"sess-1"}}"#,
            a.server_id()
        ))
    );
    let ttl: i64 = raw(&conn, &["TTL", route_key]).await;
    assert!((295..=300).contains(&ttl), "{ttl}");

    // A sees its own route: not forwarded.
    let resp = r#"{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"hi"}]}}"#;
    assert!(!a
        .forward_inbound_response("5", resp, "sess-1")
        .await
        .expect("own"));
    // B forwards it to A.
    assert!(b
        .forward_inbound_response("5", resp, "sess-1")
        .await
        .expect("forward"));
    let exists: i64 = raw(&conn, &["EXISTS", route_key]).await;
    assert_eq!(exists, 0, "route removed after forwarding");
    assert!(a_in.wait_for(WAIT, |i| !i.is_empty()).await);
    assert_eq!(
        a_in.snapshot(),
        vec![Inbound::ForwardedResponse {
            session_id: "sess-1".into(),
            response_json: resp.into()
        }]
    );
    // exact wire JSON: {"response": <response>, "sessionId"}
    let deadline = Instant::now() + WAIT;
    let wire = loop {
        let event = tokio::time::timeout(WAIT, watch_rx.recv())
            .await
            .expect("watch")
            .expect("event");
        if let PubSubEvent::Message { payload, .. } = event {
            break String::from_utf8(payload).expect("utf8");
        }
        assert!(Instant::now() < deadline);
    };
    assert_eq!(
        wire,
        format!(r#"{{"response":{resp},"sessionId":"sess-1"}}"#)
    );
    // second attempt: the route is gone
    assert!(!b
        .forward_inbound_response("5", resp, "sess-1")
        .await
        .expect("gone"));

    // Reverse direction, string id with odd characters.
    b.register_outbound_request("req-\"7\"", "sess-2")
        .await
        .expect("register");
    let resp2 = r#"{"jsonrpc":"2.0","id":"req-\"7\"","error":{"code":-1,"message":"no"}}"#;
    assert!(a
        .forward_inbound_response("req-\"7\"", resp2, "sess-2")
        .await
        .expect("forward"));
    assert!(b_in.wait_for(WAIT, |i| !i.is_empty()).await);
    assert_eq!(
        b_in.snapshot(),
        vec![Inbound::ForwardedResponse {
            session_id: "sess-2".into(),
            response_json: resp2.into()
        }]
    );

    // No route, or an unparseable one: false.
    assert!(!a
        .forward_inbound_response("404", resp, "sess-1")
        .await
        .expect("none"));
    let _: () = raw(&conn, &["SET", "mcp:stream:req-route:sess-1:9", "not json"]).await;
    assert!(!a
        .forward_inbound_response("9", resp, "sess-1")
        .await
        .expect("bad route"));

    // A route written by a reference (TypeScript) instance with its own key order / spacing.
    let _: () = raw(
        &conn,
        &[
            "SET",
            "mcp:stream:req-route:sess-3:11",
            &format!(
                r#"{{ "sessionId": "sess-3", "serverId": "{}" }}"#,
                b.server_id()
            ),
        ],
    )
    .await;
    assert!(a
        .forward_inbound_response("11", r#"{"jsonrpc":"2.0","id":11,"result":{}}"#, "sess-3")
        .await
        .expect("forward"));
    assert!(b_in.wait_for(WAIT, |i| i.len() >= 2).await);
    assert_eq!(
        b_in.snapshot()[1],
        Inbound::ForwardedResponse {
            session_id: "sess-3".into(),
            response_json: r#"{"jsonrpc":"2.0","id":11,"result":{}}"#.into()
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn heartbeat_keeps_availability_alive_and_stops_with_the_instance() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (survivor, _) = manager(&server, "hb:", 1).await;
    survivor.create("kept").await.expect("create");
    let (a, _a_in) = manager(&server, "hb:", 1).await;
    a.create("s").await.expect("create");
    a.create("t").await.expect("create");
    // Well past 2*interval the keys exist: the instance's heartbeat stands for its streams.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(a.has("s").await.expect("has"));
    assert!(a.has("t").await.expect("has"));
    let beat: Option<f64> = raw(&conn, &["ZSCORE", "hb:instances", a.server_id()]).await;
    assert!(beat.is_some(), "A is in the registry");
    // An instance that dies (dropped without close) stops beating: a survivor removes its
    // streams' keys within 2 * interval (here 2 s) of the death.
    let died = Instant::now();
    drop(a);
    loop {
        let n: i64 = raw(&conn, &["EXISTS", "available:hb:s", "available:hb:t"]).await;
        if n == 0 {
            break;
        }
        assert!(
            died.elapsed() < Duration::from_secs(15),
            "dead instance's keys still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        survivor.has("kept").await.expect("has"),
        "the survivor's own stream stays"
    );
    assert_eq!(
        members(&conn, "hb:active").await,
        ["kept".to_string()].into_iter().collect()
    );
}

/// Idle cost does not grow with sessions: a beat is one script whatever the number of
/// streams, and nothing per session is written between the lease refreshes.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_instance_writes_nothing_per_session() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, _) = manager(&server, "idle:", 1).await;
    let many: Vec<String> = (0..2000).map(|i| format!("s{i}")).collect();
    for chunk in many.chunks(500) {
        futures_util::future::join_all(chunk.iter().map(|id| a.create(id))).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let _: () = raw(&conn, &["CONFIG", "RESETSTAT"]).await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let info: String = raw(&conn, &["INFO", "commandstats"]).await;
    let calls = |cmd: &str| -> u64 {
        info.lines()
            .find(|l| l.starts_with(&format!("cmdstat_{cmd}:")))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    // 3 s at interval 1: about 6 beats; per-session refreshes would be ~6,000 SETs.
    let beats = calls("zadd");
    assert!((4..=10).contains(&beats), "{info}");
    assert_eq!(calls("set"), 0, "no availability key is re-written: {info}");
    assert_eq!(
        calls("expire"),
        3 * beats,
        "only the beat's own three: {info}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_instance_ids_are_pruned_from_the_active_set() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (alive, _) = manager(&server, "pr:", 1).await;
    alive.create("alive1").await.expect("create");
    {
        let (dead, _) = manager(&server, "pr:", 1).await;
        dead.create("dead1").await.expect("create");
        dead.create("dead2").await.expect("create");
        // crash: dropped without close()
    }
    assert!(members(&conn, "pr:active").await.contains("dead1"));
    // keys expire after 2 s; the survivor prunes every 3 heartbeats (3 s)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let set = members(&conn, "pr:active").await;
        if !set.contains("dead1") && !set.contains("dead2") {
            assert!(set.contains("alive1"), "live id must stay: {set:?}");
            break;
        }
        assert!(Instant::now() < deadline, "dead ids not pruned: {set:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(alive.prune_now().await.expect("prune"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn close_removes_only_this_instances_sessions() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = manager(&server, "cl:", 10).await;
    let (b, b_in) = manager(&server, "cl:", 10).await;
    a.create("a1").await.expect("create");
    a.enable_forwarded_responses().await.expect("enable");
    b.create("b1").await.expect("create");
    a.close().await.expect("close");
    a.close().await.expect("second close is a no-op");
    assert_eq!(a.local_len(), 0);
    assert!(!b.has("a1").await.expect("has"));
    assert!(b.has("b1").await.expect("has"));
    let set = members(&conn, "cl:active").await;
    assert_eq!(set, ["b1".to_string()].into_iter().collect());
    let channels: Vec<String> = raw(&conn, &["PUBSUB", "CHANNELS", "*"]).await;
    assert!(
        !channels
            .iter()
            .any(|c| c.contains("a1") || c.contains(a.server_id())),
        "{channels:?}"
    );
    let err = a.create("a2").await.expect_err("closed");
    assert_eq!(err.kind(), RedisErrorKind::Closed);
    b.send(None, "x").await.expect("broadcast");
    assert!(b_in.wait_for(WAIT, |i| !i.is_empty()).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(a_in.snapshot().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_survive_a_redis_restart() {
    let Some(mut server) = redis_or_skip() else {
        return;
    };
    let (a, a_in) = manager(&server, "ft:", 1).await;
    let (b, b_in) = manager(&server, "ft:", 1).await;
    a.create("s").await.expect("create");
    a.enable_forwarded_responses().await.expect("enable");
    b.send(Some(&ids(&["s"])), "before").await.expect("send");
    assert!(a_in.wait_for(WAIT, |i| i.len() == 1).await);

    server.stop();
    // Liveness, not speed: the send must fail by itself (within command_timeout), not hang.
    let err = tokio::time::timeout(Duration::from_secs(30), b.send(Some(&ids(&["s"])), "lost"))
        .await
        .expect("send must not hang while Redis is down")
        .expect_err("Redis is down");
    assert!(
        err.to_string().starts_with("Redis PUBLISH ft:s failed:"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.start_again();

    // No caller action on A: its subscriber reconnects and re-subscribes by itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0;
    loop {
        i += 1;
        let _ = b.send(Some(&ids(&["s"])), &format!("after{i}")).await;
        if a_in
            .wait_for(Duration::from_millis(200), |items| items.len() >= 2)
            .await
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery after restart: {:?}",
            a_in.snapshot()
        );
    }
    assert!(a_in.messages_for("s")[1].starts_with("after"));
    // The heartbeat restores the availability key Redis lost (no persistence).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.has("s").await.unwrap_or(false) {
        assert!(Instant::now() < deadline, "availability not restored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Request routing channel is back too.
    a.register_outbound_request("r1", "s")
        .await
        .expect("register");
    assert!(b
        .forward_inbound_response("r1", r#"{"jsonrpc":"2.0","id":"r1","result":{}}"#, "s")
        .await
        .expect("forward"));
    assert!(
        a_in.wait_for(WAIT, |items| items
            .iter()
            .any(|x| matches!(x, Inbound::ForwardedResponse { .. })))
            .await
    );
    // broadcast works again (the set was rebuilt by the heartbeat)
    let before = a_in.messages_for("s").len();
    b.send(None, "bc").await.expect("broadcast");
    assert!(
        a_in.wait_for(WAIT, |items| {
            items
                .iter()
                .filter(|x| matches!(x, Inbound::Message { session_id, .. } if session_id == "s"))
                .count()
                > before
        })
        .await
    );
    assert!(b_in.snapshot().is_empty());
}

/// A stream whose client left without a delete (MCPServer never calls delete when a GET
/// stream closes) is released on its instance; the stream the client reopened on another
/// instance keeps its subscription, its keys and every message.
#[tokio::test(flavor = "multi_thread")]
async fn releasing_a_failed_stream_leaves_the_other_instances_stream_alone() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = manager(&server, "rel:", 10).await;
    let (b, b_in) = manager(&server, "rel:", 10).await;
    a.create("s").await.expect("create on A");
    b.create("s")
        .await
        .expect("the client reopened its stream on B");

    a.release("s", Vec::new()).await.expect("release on A");
    assert!(!a.is_local("s"));
    assert!(b.is_local("s"));
    assert!(a.has("s").await.expect("has"), "B still holds the session");
    assert!(members(&conn, "rel:active").await.contains("s"));
    let subscribers: (String, i64) = raw(&conn, &["PUBSUB", "NUMSUB", "rel:s"]).await;
    assert_eq!(subscribers.1, 1, "only B listens to the session now");

    a.send(Some(&ids(&["s"])), "one")
        .await
        .expect("send from A");
    b.send(Some(&ids(&["s"])), "two")
        .await
        .expect("send from B");
    assert!(
        b_in.wait_for(WAIT, |i| i.len() >= 2).await,
        "{:?}",
        b_in.snapshot()
    );
    assert_eq!(b_in.messages_for("s"), vec!["one", "two"]);
    assert!(
        !b_in
            .snapshot()
            .iter()
            .any(|i| matches!(i, Inbound::Delete { .. })),
        "B was never told to close: {:?}",
        b_in.snapshot()
    );
    assert!(a_in.messages_for("s").is_empty(), "A let go of the session");

    // The last holder releasing it: nobody listens, so its keys go at once.
    b.release("s", Vec::new()).await.expect("release on B");
    assert!(!a.has("s").await.expect("has"));
    assert!(!members(&conn, "rel:active").await.contains("s"));
}

/// A release that lost the race against a re-create on the same instance leaves the new
/// stream subscribed.
#[tokio::test(flavor = "multi_thread")]
async fn a_release_does_not_undo_a_later_create() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, a_in) = manager(&server, "rel2:", 10).await;
    let (b, _b_in) = manager(&server, "rel2:", 10).await;
    a.create("s").await.expect("create");
    let released = a.release("s", Vec::new());
    a.create("s")
        .await
        .expect("re-create before the release ran");
    released.await.expect("release");
    assert!(a.is_local("s"));
    assert!(a.has("s").await.expect("has"));
    b.send(Some(&ids(&["s"])), "still-here")
        .await
        .expect("send");
    assert!(a_in.wait_for(WAIT, |i| !i.is_empty()).await);
    assert_eq!(a_in.messages_for("s"), vec!["still-here"]);
}

/// `close` on an instance whose stream of a session lingered after the client moved to
/// another instance leaves that session's keys to the instance holding it.
#[tokio::test(flavor = "multi_thread")]
async fn close_leaves_sessions_another_instance_holds() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, _a_in) = manager(&server, "cl2:", 10).await;
    let (b, b_in) = manager(&server, "cl2:", 10).await;
    a.create("moved").await.expect("create");
    a.create("mine").await.expect("create");
    b.create("moved").await.expect("the client reopened on B");
    a.close().await.expect("close");
    assert!(
        b.has("moved").await.expect("has"),
        "B's stream keeps its availability key"
    );
    assert!(!b.has("mine").await.expect("has"));
    assert_eq!(
        members(&conn, "cl2:active").await,
        ["moved".to_string()].into_iter().collect()
    );
    b.send(None, "broadcast").await.expect("broadcast");
    assert!(b_in.wait_for(WAIT, |i| !i.is_empty()).await);
    assert_eq!(b_in.messages_for("moved"), vec!["broadcast"]);
}

async fn manager_with(
    server: &RedisServer,
    prefix: &str,
    pending: mcp_sessions_native::pending::PendingLimits,
) -> (RedisStreamManager, Collector) {
    let collector = Collector::default();
    let m = RedisStreamManager::with_backends(
        std::sync::Arc::new(server.conn().await),
        std::sync::Arc::new(server.subscriber().await),
        prefix.to_string(),
        10,
        pending,
        collector.sink(),
    )
    .expect("manager");
    (m, collector)
}

/// A targeted send that no stream receives is kept; the next stream of the session, on any
/// instance, gets the kept messages first, in order, exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn messages_no_stream_received_reach_the_next_stream_in_order_once() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, a_in) = manager(&server, "sf:", 10).await;
    let (b, b_in) = manager(&server, "sf:", 10).await;
    for i in 1..=3 {
        a.send(Some(&ids(&["s"])), &format!("m{i}"))
            .await
            .expect("send");
    }
    assert_eq!(a.pending_stats().buffered, 3);
    let kept: i64 = raw(&conn, &["LLEN", "sf:pending:s"]).await;
    assert_eq!(kept, 3);
    b.create("s").await.expect("the stream opens on B");
    a.send(Some(&ids(&["s"])), "m4").await.expect("send");
    assert!(
        b_in.wait_for(WAIT, |i| i.len() >= 4).await,
        "{:?}",
        b_in.snapshot()
    );
    assert_eq!(b_in.messages_for("s"), vec!["m1", "m2", "m3", "m4"]);
    assert_eq!(b.pending_stats().replayed, 3);
    let left: i64 = raw(&conn, &["EXISTS", "sf:pending:s", "sf:pending-bytes:s"]).await;
    assert_eq!(left, 0, "taken: nothing left");

    // Exactly once: a second stream of the session (A) gets nothing old.
    a.create("s").await.expect("create on A too");
    b.send(Some(&ids(&["s"])), "m5").await.expect("send");
    assert!(a_in.wait_for(WAIT, |i| !i.is_empty()).await);
    assert_eq!(a_in.messages_for("s"), vec!["m5"]);

    // A deleted session's kept messages go with it.
    a.delete("s").await.expect("delete");
    b.delete("s").await.expect("delete");
    a.send(Some(&ids(&["s"])), "late").await.expect("send");
    a.delete("s").await.expect("delete");
    let left: i64 = raw(&conn, &["EXISTS", "sf:pending:s"]).await;
    assert_eq!(left, 0);
}

/// Messages a failed stream did not take go back ahead of those kept after them.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_streams_messages_go_back_in_their_place() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let (a, _a_in) = manager(&server, "sf2:", 10).await;
    let (b, b_in) = manager(&server, "sf2:", 10).await;
    a.create("s").await.expect("create");
    // The bindings failed to write "m1" and "m2"; "m3" is sent after the stream was let go of.
    let released = a.release("s", ids(&["m1", "m2"]));
    released.await.expect("release");
    b.send(Some(&ids(&["s"])), "m3").await.expect("send");
    b.create("s").await.expect("reopened on B");
    assert!(
        b_in.wait_for(WAIT, |i| i.len() >= 3).await,
        "{:?}",
        b_in.snapshot()
    );
    assert_eq!(b_in.messages_for("s"), vec!["m1", "m2", "m3"]);
}

/// A flood to a session that never reconnects stays within the limits; the oldest go.
#[tokio::test(flavor = "multi_thread")]
async fn kept_messages_stay_within_the_limits() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    use mcp_sessions_native::pending::PendingLimits;
    let conn = server.conn().await;
    let limits = PendingLimits {
        ttl_secs: 60,
        max_messages: 5,
        max_bytes: 1 << 20,
        ..PendingLimits::default()
    };
    let (a, _a_in) = manager_with(&server, "sf3:", limits).await;
    for i in 0..50 {
        a.send(Some(&ids(&["s"])), &format!("m{i:02}"))
            .await
            .expect("send");
    }
    let kept: Vec<String> = raw(&conn, &["LRANGE", "sf3:pending:s", "0", "-1"]).await;
    assert_eq!(kept.len(), 5);
    assert!(
        kept[0].ends_with(":m45") && kept[4].ends_with(":m49"),
        "{kept:?}"
    );
    let ttl: i64 = raw(&conn, &["TTL", "sf3:pending:s"]).await;
    assert!(ttl > 0 && ttl <= 60, "{ttl}");
    assert_eq!(a.pending_stats().dropped, 45);

    let limits = PendingLimits {
        ttl_secs: 60,
        max_messages: 1000,
        max_bytes: 10,
        ..PendingLimits::default()
    };
    let (b, _b_in) = manager_with(&server, "sf4:", limits).await;
    for m in ["12345", "67890", "abc"] {
        b.send(Some(&ids(&["s"])), m).await.expect("send");
    }
    let bytes: String = raw(&conn, &["GET", "sf4:pending-bytes:s"]).await;
    assert_eq!(bytes, "8");
    assert_eq!(b.pending_stats().dropped, 1);

    // Off: nothing is kept, as mcp-use.
    let (c, _c_in) = manager_with(
        &server,
        "sf5:",
        PendingLimits {
            ttl_secs: 0,
            ..PendingLimits::default()
        },
    )
    .await;
    c.send(Some(&ids(&["s"])), "lost").await.expect("send");
    let keys: Vec<String> = raw(&conn, &["KEYS", "sf5:pending*"]).await;
    assert!(keys.is_empty(), "{keys:?}");
    assert_eq!(c.pending_stats(), Default::default());
}

/// An instance taken for dead (its beat looked old) loses nothing: its streams are still
/// subscribed, so their keys stay, and it registers its sessions again at its next beat.
/// When the whole fleet died, the next instance to start cleans up after it.
#[tokio::test(flavor = "multi_thread")]
async fn liveness_heals_a_false_death_and_cleans_up_after_a_whole_fleet() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let (a, _) = manager(&server, "heal:", 1).await;
    a.create("s").await.expect("create");
    let own = format!("heal:instance:{}", a.server_id());
    // Survivors only take a registered instance for dead: wait for A's first beat, or the
    // false death below would come before A ever was alive in the registry.
    let deadline = Instant::now() + Duration::from_secs(15);
    while raw::<Option<f64>>(&conn, &["ZSCORE", "heal:instances", a.server_id()])
        .await
        .is_none()
    {
        assert!(Instant::now() < deadline, "A never registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What survivors do to an instance they take for dead: its set taken apart, its registry
    // entry gone (its keys stay: it is still subscribed).
    let _: i64 = raw(&conn, &["DEL", &own]).await;
    let _: i64 = raw(&conn, &["ZREM", "heal:instances", a.server_id()]).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while raw::<i64>(&conn, &["SCARD", &own]).await != 1 {
        assert!(
            Instant::now() < deadline,
            "A did not register its session again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (survivor, _) = manager(&server, "heal:", 1).await;
    assert!(survivor.has("s").await.expect("has"));

    // The whole fleet dies; the next instance to start cleans up.
    drop(a);
    drop(survivor);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        raw::<i64>(&conn, &["EXISTS", "available:heal:s"]).await == 1,
        "nobody left to clean up yet"
    );
    let (_next, _) = manager(&server, "heal:", 1).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while raw::<i64>(&conn, &["EXISTS", "available:heal:s"]).await == 1 {
        assert!(
            Instant::now() < deadline,
            "the new instance did not clean up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
