//! RedisSessionStore core against a private redis-server.

mod common;

use std::time::{Duration, Instant};

use common::{raw, redis_or_skip};
use mcp_sessions_native::store::redis::{RedisSessionStore, DEFAULT_PREFIX, DEFAULT_TTL_SECS};

/// A call that has not settled after this long hangs (a liveness bound, far above any
/// configured timeout; not a speed check).
const HANG: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn store_round_trip_uses_reference_keys() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let store = RedisSessionStore::new(conn.clone(), DEFAULT_PREFIX.to_string(), DEFAULT_TTL_SECS);

    assert_eq!(store.get("abc").await.expect("get"), None);
    assert!(!store.has("abc").await.expect("has"));

    let json = r#"{"lastAccessedAt":1700000000000,"logLevel":"info","clientInfo":{"name":"c","version":"1"}}"#;
    store.set("abc", json).await.expect("set");
    assert_eq!(store.get("abc").await.expect("get").as_deref(), Some(json));
    assert!(store.has("abc").await.expect("has"));
    // Same key and value as the reference: mcp:session:{sid} -> JSON text.
    let stored: Option<String> = raw(&conn, &["GET", "mcp:session:abc"]).await;
    assert_eq!(stored.as_deref(), Some(json));

    store
        .set("abc", r#"{"lastAccessedAt":2}"#)
        .await
        .expect("overwrite");
    assert_eq!(
        store.get("abc").await.expect("get").as_deref(),
        Some(r#"{"lastAccessedAt":2}"#)
    );

    store.delete("abc").await.expect("delete");
    assert_eq!(store.get("abc").await.expect("get"), None);
    assert!(!store.has("abc").await.expect("has"));
    store
        .delete("abc")
        .await
        .expect("delete of a missing id is fine");
}

#[tokio::test(flavor = "multi_thread")]
async fn store_ttls_are_set_on_the_key() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let store = RedisSessionStore::new(conn.clone(), "ttl:".to_string(), 3600);

    store.set("a", "{}").await.expect("set");
    let ttl: i64 = raw(&conn, &["TTL", "ttl:a"]).await;
    assert!((3590..=3600).contains(&ttl), "default TTL 3600, got {ttl}");

    // ceil(1500 / 1000) = 2
    store
        .set_with_ttl("b", "{}", 1500.0)
        .await
        .expect("set_with_ttl");
    let ttl: i64 = raw(&conn, &["TTL", "ttl:b"]).await;
    assert!((1..=2).contains(&ttl), "ceil(1.5 s) = 2, got {ttl}");

    // ceil(1 ms) = 1 s, and it really expires
    store
        .set_with_ttl("c", "{}", 1.0)
        .await
        .expect("set_with_ttl");
    let ttl: i64 = raw(&conn, &["TTL", "ttl:c"]).await;
    assert_eq!(ttl, 1);
    let pttl: i64 = raw(&conn, &["PTTL", "ttl:c"]).await;
    tokio::time::sleep(Duration::from_millis(pttl as u64 + 150)).await;
    assert!(!store.has("c").await.expect("has"), "expired after 1 s");

    // A refresh replaces the deadline (the in-memory reference keeps the old timer).
    store
        .set_with_ttl("d", "{}", 1000.0)
        .await
        .expect("set_with_ttl");
    store
        .set_with_ttl("d", "{}", 60_000.0)
        .await
        .expect("refresh");
    let ttl: i64 = raw(&conn, &["TTL", "ttl:d"]).await;
    assert!((59..=60).contains(&ttl), "refreshed TTL, got {ttl}");
    store.set("d", "{}").await.expect("set resets to default");
    let ttl: i64 = raw(&conn, &["TTL", "ttl:d"]).await;
    assert!(ttl > 3000);

    // ttl <= 0: already expired -> removed (Redis would reject EX 0)
    store.set("e", "{}").await.expect("set");
    store.set_with_ttl("e", "{}", 0.0).await.expect("ttl 0");
    assert!(!store.has("e").await.expect("has"));
    store
        .set_with_ttl("e", "{}", -5.0)
        .await
        .expect("negative ttl");
    assert!(!store.has("e").await.expect("has"));
    let err = store
        .set_with_ttl("e", "{}", f64::NAN)
        .await
        .expect_err("NaN is rejected");
    assert!(err.to_string().contains("Redis SET ttl:e"), "{err}");

    // default TTL 0 -> no expiry
    let forever = RedisSessionStore::new(conn.clone(), "ttl0:".to_string(), 0);
    forever.set("f", "{}").await.expect("set");
    let ttl: i64 = raw(&conn, &["TTL", "ttl0:f"]).await;
    assert_eq!(ttl, -1);
}

#[tokio::test(flavor = "multi_thread")]
async fn store_keys_and_clear_escape_glob_prefix() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    // Unescaped, `s*[ab]?\:*` would also match "sXXbQ:zz" and "sa1:q" below.
    let prefix = r"s*[ab]?\:";
    let store = RedisSessionStore::new(conn.clone(), prefix.to_string(), 3600);
    let other = RedisSessionStore::new(conn.clone(), "s".to_string(), 3600);

    for key in ["sXXbQ:zz", "sa1:q", r"s*[ab]?\", "unrelated"] {
        let _: () = raw(&conn, &["SET", key, "x"]).await;
    }
    // many ids: several SCAN pages and UNLINK batches
    let mut expected: Vec<String> = (0..2500).map(|i| format!("id{i}")).collect();
    expected.push("*".to_string());
    expected.push("[x]".to_string());
    for id in &expected {
        store.set(id, "{}").await.expect("set");
    }
    let mut keys = store.keys().await.expect("keys");
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected);

    assert!(store.has("*").await.expect("has *"));
    assert!(
        !store.has("?").await.expect("has ?"),
        "an id with glob chars matches only itself"
    );

    // The "s" store sees everything starting with "s" (its own prefix), including ours.
    let other_keys = other.keys().await.expect("keys");
    assert!(other_keys.contains(&"XXbQ:zz".to_string()));

    store.clear().await.expect("clear");
    assert!(store.keys().await.expect("keys").is_empty());
    for key in ["sXXbQ:zz", "sa1:q", r"s*[ab]?\", "unrelated"] {
        let n: i64 = raw(&conn, &["EXISTS", key]).await;
        assert_eq!(n, 1, "{key} must survive clear() of prefix {prefix}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn store_errors_name_redis_and_recover_after_restart() {
    let Some(mut server) = redis_or_skip() else {
        return;
    };
    let conn = server.conn().await;
    let store = RedisSessionStore::new(conn, DEFAULT_PREFIX.to_string(), 3600);
    store.set("x", "{}").await.expect("set");

    server.stop();
    // Liveness, not speed: the call must fail by itself (within command_timeout), not hang.
    let err = tokio::time::timeout(HANG, store.get("x"))
        .await
        .expect("get must not hang while Redis is down")
        .expect_err("get while Redis is down");
    let msg = err.to_string();
    assert!(msg.starts_with("Redis GET mcp:session:x failed:"), "{msg}");

    let err = tokio::time::timeout(HANG, store.set("x", "{}"))
        .await
        .expect("set must not hang while Redis is down")
        .expect_err("set while Redis is down");
    assert!(
        err.to_string()
            .starts_with("Redis SET mcp:session:x failed:"),
        "{err}"
    );

    let err = store.keys().await.expect_err("keys while down");
    assert!(err.to_string().starts_with("Redis SCAN"), "{err}");
    let err = store.has("x").await.expect_err("has while down");
    assert!(
        err.to_string().contains("Redis EXISTS mcp:session:x"),
        "{err}"
    );

    server.start_again();
    // The same store works again without any caller action beyond retrying.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.set("y", r#"{"v":1}"#).await {
            Ok(()) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "store did not recover: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(
        store.get("y").await.expect("get").as_deref(),
        Some(r#"{"v":1}"#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_to_nothing_fails_fast_naming_redis() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut settings =
        mcp_sessions_native::redis::RedisSettings::from_url(format!("redis://127.0.0.1:{port}"));
    settings.command_timeout = Duration::from_secs(2);
    settings.connect_timeout = Duration::from_millis(300);
    let err = tokio::time::timeout(HANG, mcp_sessions_native::redis::connect(&settings))
        .await
        .expect("connect must give up by itself")
        .expect_err("nothing listens there");
    assert!(
        err.to_string().starts_with(&format!(
            "Redis connect to redis://127.0.0.1:{port} failed:"
        )),
        "{err}"
    );
}
