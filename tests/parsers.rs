//! Every parser of outside input, under property-based fire: connection URLs (`redis://`,
//! `rediss://`, `redis+unix://`, `redis+sentinel://`), cluster node lists, the session file,
//! and what the event bus reads back from Redis. None may panic or hang; each answers a value
//! or its documented error, and no error shows a password.

use std::time::Duration;

use mcp_sessions_native::config::{ConfigError, Value};
use mcp_sessions_native::redis::event_log::EntryId;
use mcp_sessions_native::redis::native::conn::{nodes_settings, url_settings};
use mcp_sessions_native::redis::{connect_lazy, RedisSettings};
use mcp_sessions_native::store::filesystem::{FileStore, FileStoreConfig};
use mcp_sessions_native::store::LocalStore;
use mcp_sessions_native::stream::bus::wire;
use proptest::prelude::*;

const SECRET: &str = "Pw0rdMark";

/// URL-ish text: a scheme of ours (or none), user-info carrying the secret, hosts, ports,
/// paths and queries built from the characters parsers trip on.
fn url() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("redis://"),
        Just("rediss://"),
        Just("redis+unix://"),
        Just("unix://"),
        Just("redis+sentinel://"),
        Just(""),
        Just("http://"),
    ];
    let piece = "[a-zA-Z0-9:@/?&=%\\[\\].,{}\u{e9}\u{1F600} -]{0,12}";
    (scheme, any::<bool>(), piece, piece, piece, piece).prop_map(
        |(scheme, with_secret, user, host, path, query)| {
            let userinfo = if with_secret {
                format!("{user}:{SECRET}@")
            } else {
                String::new()
            };
            format!("{scheme}{userinfo}{host}/{path}?{query}")
        },
    )
}

/// A JSON value, nested up to `depth` levels.
fn json(depth: u32) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-1e300f64..1e300).prop_map(|n| serde_json::json!(n)),
        ".{0,20}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(depth, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn no_secret(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!text.contains(SECRET), "a password in {text:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn connection_urls_parse_or_refuse_without_showing_secrets(text in url()) {
        // `{ url }` as a class reads it.
        match url_settings(&Value::String(text.clone()), "C") {
            Ok(settings) => {
                no_secret(&settings.redacted_url())?;
                no_secret(&format!("{settings:?}"))?;
                // Opening parses what `url_settings` left to the redis crate.
                if let Err(e) = connect_lazy(&settings) {
                    no_secret(&e.to_string())?;
                }
            }
            Err(ConfigError::Type(message)) => no_secret(&message)?,
            Err(other) => prop_assert!(false, "a url is refused with a TypeError, got {other:?}"),
        }
        // Any text given straight to the settings, as a client's `url` option is.
        let settings = RedisSettings::from_url(text.clone());
        no_secret(&settings.redacted_url())?;
        if let Err(e) = connect_lazy(&settings) {
            no_secret(&e.to_string())?;
        }
        if let Err(why) = RedisSettings::from_sentinel_url(&text) {
            prop_assert!(why.starts_with("url "), "{why}");
            no_secret(&why)?;
        }
    }

    #[test]
    fn cluster_node_lists_parse_or_refuse(
        nodes in proptest::collection::vec(
            prop_oneof![
                url().prop_map(Value::String),
                "[a-z0-9:.\\[\\]]{0,20}".prop_map(Value::String),
                any::<f64>().prop_map(Value::Number),
                (0u32..70000).prop_map(|p| Value::Number(f64::from(p))),
                Just(Value::Null),
                Just(Value::Bool(true)),
            ],
            0..6,
        )
    ) {
        match nodes_settings(&Value::Array(nodes), None, "config.nodes", "C") {
            Ok(settings) => no_secret(&settings.redacted_url())?,
            Err(ConfigError::Type(m)) | Err(ConfigError::Range(m)) => {
                prop_assert!(m.starts_with("new C: config.nodes"), "{m}");
                no_secret(&m)?;
            }
            Err(other) => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn stream_ids_and_bus_messages_read_back_from_redis(text in ".{0,80}", bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = text.parse::<EntryId>();
        let _ = wire::parse(text.as_bytes());
        let _ = wire::parse(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A session file of any bytes: a JSON object of objects loads, every session; anything
    /// else is moved aside and the store starts empty. Never a panic, never a lost valid file.
    #[test]
    fn the_session_file_loads_or_is_moved_aside(
        sessions in proptest::collection::btree_map("[a-z0-9-]{1,12}", json(4), 0..8),
        garbage in proptest::collection::vec(any::<u8>(), 0..200),
        valid in any::<bool>(),
        pretty in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sessions.json");
        let object = serde_json::Value::Object(
            sessions.iter().map(|(k, v)| (k.clone(), serde_json::json!({"meta": v}))).collect(),
        );
        let bytes = match (valid, pretty) {
            (true, true) => serde_json::to_vec_pretty(&object).expect("json"),
            (true, false) => serde_json::to_vec(&object).expect("json"),
            (false, _) => garbage.clone(),
        };
        std::fs::write(&path, &bytes).expect("write");
        let config = FileStoreConfig { path: path.clone(), debounce: Duration::from_millis(10), max_age_ms: f64::MAX };
        let (store, report) = FileStore::open(config).expect("a readable file never fails the store");
        let is_object = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.is_object());
        if is_object {
            prop_assert!(report.moved_corrupt_to.is_none());
            let expected = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).expect("object");
            prop_assert_eq!(store.len(), expected.len());
            for (id, value) in expected {
                let stored = store.get(&id).expect("every session loads");
                let parsed: serde_json::Value = serde_json::from_str(stored.as_json()).expect("stored JSON");
                prop_assert_eq!(parsed, value);
            }
        } else {
            prop_assert!(report.moved_corrupt_to.is_some(), "{} bytes not moved aside", bytes.len());
            prop_assert_eq!(store.len(), 0);
        }
    }
}

/// Deeper than serde_json's default recursion limit (128), still a valid file for mcp-use
/// (`JSON.parse` takes it): it loads, and is not taken for corrupt.
#[test]
fn a_deeply_nested_session_loads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sessions.json");
    let depth = 1000;
    let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    std::fs::write(
        &path,
        format!(r#"{{"s":{{"lastAccessedAt":1,"deep":{deep}}}}}"#),
    )
    .expect("write");
    let config = FileStoreConfig {
        path,
        debounce: Duration::from_millis(10),
        max_age_ms: f64::MAX,
    };
    let (store, report) = FileStore::open(config).expect("open");
    assert!(
        report.moved_corrupt_to.is_none(),
        "a valid file was moved aside"
    );
    assert!(store.get("s").is_some());
}
