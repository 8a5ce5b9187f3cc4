//! rediss:// with rustls against a private TLS redis-server.

mod common;

use std::time::Duration;

use common::{redis_or_skip, Collector, RedisServer};
use mcp_sessions_native::redis::{connect, connect_subscriber, RedisEndpoint, RedisSettings};
use mcp_sessions_native::store::redis::RedisSessionStore;
use mcp_sessions_native::stream::redis::RedisStreamManager;

#[tokio::test(flavor = "multi_thread")]
async fn tls_store_and_stream_round_trip() {
    // redis_or_skip() checks that redis-server exists (and fails under CI=true if not).
    let Some(plain) = redis_or_skip() else { return };
    drop(plain);
    let Some((server, ca)) = RedisServer::start_tls() else {
        return;
    };
    let tls_port = server.tls_port.expect("tls port");

    // Without our CA the server certificate is not trusted.
    let mut untrusted = RedisSettings::from_url(format!("rediss://localhost:{tls_port}"));
    untrusted.command_timeout = Duration::from_secs(2);
    untrusted.reconnect_retries = 0;
    let err = connect(&untrusted)
        .await
        .expect_err("self-signed CA is not in the system store");
    assert!(
        err.to_string()
            .starts_with("Redis connect to rediss://localhost:"),
        "{err}"
    );

    let mut settings = RedisSettings::from_parts(&RedisEndpoint {
        host: "localhost".into(),
        port: tls_port,
        tls: true,
        ..Default::default()
    });
    settings.tls.ca_pem = Some(ca);
    let conn = connect(&settings).await.expect("TLS connect");
    let store = RedisSessionStore::new(conn.clone(), "tls:".into(), 60);
    store.set("a", r#"{"x":1}"#).await.expect("set over TLS");
    assert_eq!(
        store.get("a").await.expect("get").as_deref(),
        Some(r#"{"x":1}"#)
    );

    let collector = Collector::default();
    let sub = connect_subscriber(&settings).await.expect("TLS subscriber");
    let m = RedisStreamManager::new(conn, sub, "tls:stream:".into(), 10, collector.sink())
        .expect("manager");
    m.create("s").await.expect("create");
    m.send(Some(&["s".to_string()]), "hello")
        .await
        .expect("send");
    assert!(
        collector
            .wait_for(Duration::from_secs(5), |i| !i.is_empty())
            .await
    );
    assert_eq!(collector.messages_for("s"), vec!["hello"]);

    // A CA given for a plain redis:// URL is a configuration error, not silently ignored.
    let mut wrong = RedisSettings::from_url(format!("redis://127.0.0.1:{}", server.port));
    wrong.tls.ca_pem = Some(b"x".to_vec());
    assert!(connect(&wrong).await.is_err());
}
