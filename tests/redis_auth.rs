//! Typed connection settings (what the bindings read off a node-redis / ioredis client)
//! against a private redis-server: an ACL user and password with URL-special characters, and a
//! non-default database, reach Redis as they are.

mod common;

use std::time::Duration;

use common::{raw, redis_or_skip};
use mcp_sessions_native::redis::{connect, RedisEndpoint, RedisErrorKind, RedisSettings};

const USER: &str = "us@r:/x%20y";
const PASSWORD: &str = "p@ss:/w?#[]%41 ü";

#[tokio::test(flavor = "multi_thread")]
async fn user_password_and_db_with_special_characters() {
    let Some(server) = redis_or_skip() else {
        return;
    };
    let admin = server.conn().await;
    let password = format!(">{PASSWORD}");
    let _: () = raw(
        &admin,
        &["ACL", "SETUSER", USER, "on", &password, "~*", "&*", "+@all"],
    )
    .await;

    let endpoint = |password: &str| RedisEndpoint {
        host: "127.0.0.1".into(),
        port: server.port,
        username: Some(USER.into()),
        password: Some(password.into()),
        db: 3,
        ..Default::default()
    };
    let limits = |mut s: RedisSettings| {
        s.command_timeout = Duration::from_secs(2);
        s.connect_timeout = Duration::from_millis(500);
        s.reconnect_retries = 0;
        s
    };

    let conn = connect(&limits(RedisSettings::from_parts(&endpoint(PASSWORD))))
        .await
        .expect("connect as the ACL user");
    let who: String = raw(&conn, &["ACL", "WHOAMI"]).await;
    assert_eq!(who, USER);
    let _: () = raw(&conn, &["SET", "typed:k", "v"]).await;
    // The key is in database 3, not in the admin connection's 0.
    let in_db0: Option<String> = raw(&admin, &["GET", "typed:k"]).await;
    assert_eq!(in_db0, None);
    let _: () = raw(&admin, &["SELECT", "3"]).await;
    let in_db3: Option<String> = raw(&admin, &["GET", "typed:k"]).await;
    assert_eq!(in_db3.as_deref(), Some("v"));

    let wrong = limits(RedisSettings::from_parts(&endpoint("nope")));
    let err = connect(&wrong).await.expect_err("wrong password");
    assert_ne!(err.kind(), RedisErrorKind::Timeout, "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "Redis connect to redis://***@127.0.0.1:{}/3 failed:",
            server.port
        )),
        "{message}"
    );
    assert!(!message.contains("nope"), "{message}");
    assert!(
        !message.contains(USER),
        "the user name is not shown either: {message}"
    );
}
