//! The typed settings against what the redis crate parses from the equivalent URL.

use super::*;
use crate::redis::native::conn::address::bracket;

fn info(settings: &RedisSettings) -> ConnectionInfo {
    settings.connection_info().expect("typed settings")
}

/// The parts reach redis as the equivalent URL would: same
/// address, user, password and database.
fn assert_same(parts: &RedisEndpoint, url: &str) {
    let typed = info(&RedisSettings::from_parts(parts));
    let parsed = url.into_connection_info().expect("URL parses");
    assert_eq!(typed.addr(), parsed.addr(), "{url}");
    let (a, b) = (typed.redis_settings(), parsed.redis_settings());
    assert_eq!(a.username(), b.username(), "{url}");
    assert_eq!(a.password(), b.password(), "{url}");
    assert_eq!(a.db(), b.db(), "{url}");
}

#[test]
fn from_parts_carries_typed_settings() {
    let tls = RedisEndpoint {
        host: "::1".into(),
        port: 6380,
        username: Some("u@x:y".into()),
        password: Some("p@ss:/w %ü".into()),
        db: 2,
        tls: true,
        ..Default::default()
    };
    let s = RedisSettings::from_parts(&tls);
    let i = info(&s);
    assert_eq!(
        i.addr(),
        &ConnectionAddr::TcpTls {
            host: "::1".into(),
            port: 6380,
            insecure: false,
            tls_params: None
        }
    );
    assert_eq!(i.redis_settings().username(), Some("u@x:y"));
    assert_eq!(i.redis_settings().password(), Some("p@ss:/w %ü"));
    assert_eq!(i.redis_settings().db(), 2);
    assert_eq!(s.redacted_url(), "rediss://***@[::1]:6380/2");
    assert_same(
        &tls,
        "rediss://u%40x%3Ay:p%40ss%3A%2Fw%20%25%C3%BC@[::1]:6380/2",
    );

    let plain = RedisEndpoint {
        host: "h".into(),
        ..Default::default()
    };
    assert_eq!(
        RedisSettings::from_parts(&plain).redacted_url(),
        "redis://h:6379/0"
    );
    assert_same(&plain, "redis://h:6379/0");

    let pw_only = RedisEndpoint {
        host: "h".into(),
        port: 1,
        password: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(
        RedisSettings::from_parts(&pw_only).redacted_url(),
        "redis://***@h:1/0"
    );
    assert_same(&pw_only, "redis://:x@h:1/0");

    // Defaults, brackets and empty credentials as the URL had them.
    let defaults = RedisEndpoint {
        username: Some(String::new()),
        password: Some(String::new()),
        ..Default::default()
    };
    assert_same(&defaults, "redis://127.0.0.1:6379/0");
    let bracketed = RedisEndpoint {
        host: "[::1]".into(),
        db: 5,
        ..Default::default()
    };
    assert_same(&bracketed, "redis://[::1]:6379/5");
}

#[test]
fn from_parts_unix_socket() {
    let s = RedisSettings::from_parts(&RedisEndpoint {
        path: Some("/tmp/redis test.sock".into()),
        password: Some("p".into()),
        db: 4,
        tls: true,
        ..Default::default()
    });
    let i = info(&s);
    assert_eq!(
        i.addr(),
        &ConnectionAddr::Unix("/tmp/redis test.sock".into())
    );
    assert_eq!(i.redis_settings().db(), 4);
    assert_eq!(i.redis_settings().password(), Some("p"));
    assert_eq!(s.redacted_url(), "redis+unix:///tmp/redis test.sock?db=4");
}

#[test]
fn urls_are_parsed_as_given_and_redacted() {
    let s = RedisSettings::from_url("rediss://u:secret@h:1/3");
    assert_eq!(s.redacted_url(), "rediss://***@h:1/3");
    let i = info(&s);
    assert_eq!(i.redis_settings().password(), Some("secret"));
    assert!(format!("{s:?}").contains("***@h"), "{s:?}");
    assert!(!format!("{s:?}").contains("secret"), "{s:?}");
    let endpoint = RedisEndpoint {
        username: Some("who".into()),
        password: Some("secret".into()),
        ..Default::default()
    };
    assert!(!format!("{endpoint:?}").contains("secret"), "{endpoint:?}");
    assert!(!format!("{endpoint:?}").contains("who"), "{endpoint:?}");
    assert!(RedisSettings::from_url("nonsense")
        .connection_info()
        .is_err());
}

#[test]
fn wildcard_hosts_are_refused_as_in_a_url() {
    for host in ["0.0.0.0", "::", "[::]"] {
        let s = RedisSettings::from_parts(&RedisEndpoint {
            host: host.into(),
            ..Default::default()
        });
        let err = s.client().expect_err(host);
        assert_eq!(err.kind(), RedisErrorKind::Config, "{err}");
        let url = RedisSettings::from_url(format!(
            "redis://{}:6379",
            bracket(host.trim_matches(['[', ']']))
        ));
        assert!(url.client().is_err(), "{host}");
    }
}
