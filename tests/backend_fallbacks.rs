//! The Redis classes are written once against `redis::Commands` / `redis::PubSub`. Here a
//! small in-memory backend without server-side scripts (and optionally without sets or
//! unsubscribe) stands in for a driven client: the classes fall back as mcp-use does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use mcp_sessions_native::redis::{
    backend::unsupported, BoxFuture, Commands, Describe, PubSub, PubSubEvent, RedisErrorKind,
    Result, Write,
};
use mcp_sessions_native::store::redis::RedisSessionStore;
use mcp_sessions_native::stream::redis::RedisStreamManager;
use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

#[derive(Default)]
struct State {
    strings: BTreeMap<String, String>,
    sets: HashMap<String, BTreeSet<String>>,
    published: Vec<(String, String)>,
    calls: Vec<String>,
}

/// Keys, sets and publish; no scripts. `with_sets: false` also answers SMEMBERS with
/// Unsupported and skips SADD/SREM, like a client without sAdd/sRem/sMembers.
struct Memory {
    state: Arc<Mutex<State>>,
    with_sets: bool,
}

fn glob_prefix(pattern: &str) -> String {
    // The patterns here are `<literal>*` with the literal glob-escaped.
    let literal = pattern.strip_suffix('*').unwrap_or(pattern);
    let mut out = String::new();
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        });
    }
    out
}

impl Commands for Memory {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move { Ok(self.state.lock().strings.get(key).cloned()) })
    }
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.state.lock().strings.contains_key(key)) })
    }
    fn scan<'a>(
        &'a self,
        _cursor: &'a str,
        pattern: &'a str,
    ) -> BoxFuture<'a, Result<(String, Vec<String>)>> {
        Box::pin(async move {
            let mut st = self.state.lock();
            st.calls.push(format!("KEYS {pattern}"));
            let prefix = glob_prefix(pattern);
            Ok((
                "0".into(),
                st.strings
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect(),
            ))
        })
    }
    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            if !self.with_sets {
                return Err(unsupported(format!("SMEMBERS {key}"), "sMembers method"));
            }
            let mut st = self.state.lock();
            st.calls.push(format!("SMEMBERS {key}"));
            Ok(st
                .sets
                .get(key)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default())
        })
    }
    fn write<'a>(&'a self, writes: Vec<Write>, _what: Describe<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut st = self.state.lock();
            for w in writes {
                match w {
                    Write::Set { key, value, .. } | Write::Refresh { key, value, .. } => {
                        st.strings.insert(key, value);
                    }
                    Write::Del(keys) | Write::Unlink(keys) => keys.iter().for_each(|k| {
                        st.strings.remove(k);
                    }),
                    Write::Expire { .. } => {}
                    Write::SAdd { key, members } if self.with_sets => {
                        st.sets.entry(key).or_default().extend(members)
                    }
                    Write::SRem { key, members } if self.with_sets => {
                        members.iter().for_each(|m| {
                            st.sets.entry(key.clone()).or_default().remove(m);
                        })
                    }
                    Write::SAdd { .. } | Write::SRem { .. } => {}
                    Write::Publish { channel, message } => st.published.push((channel, message)),
                }
            }
            Ok(())
        })
    }
}

/// Subscriptions recorded; `unsubscribe` optionally missing.
struct Bus {
    subscribed: Mutex<BTreeSet<String>>,
    can_unsubscribe: bool,
    events: Mutex<Option<UnboundedReceiver<PubSubEvent>>>,
}

impl Bus {
    fn new(can_unsubscribe: bool) -> Bus {
        let (_tx, rx) = unbounded_channel();
        Bus {
            subscribed: Mutex::default(),
            can_unsubscribe,
            events: Mutex::new(Some(rx)),
        }
    }
}

impl PubSub for Bus {
    fn subscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.subscribed.lock().extend(channels.iter().cloned());
            Ok(())
        })
    }
    fn unsubscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if !self.can_unsubscribe {
                return Err(unsupported(
                    format!("UNSUBSCRIBE {}", channels.join(" ")),
                    "unsubscribe method",
                ));
            }
            let mut s = self.subscribed.lock();
            channels.iter().for_each(|c| {
                s.remove(c);
            });
            Ok(())
        })
    }
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn take_events(&self) -> Option<UnboundedReceiver<PubSubEvent>> {
        self.events.lock().take()
    }
}

fn manager(
    state: &Arc<Mutex<State>>,
    with_sets: bool,
    can_unsubscribe: bool,
) -> (RedisStreamManager, Arc<Bus>) {
    let bus = Arc::new(Bus::new(can_unsubscribe));
    let m = RedisStreamManager::with_backends(
        Arc::new(Memory {
            state: state.clone(),
            with_sets,
        }),
        bus.clone(),
        "mcp:stream:".into(),
        10,
        Default::default(),
        Arc::new(|_| {}),
    )
    .expect("manager");
    (m, bus)
}

#[tokio::test]
async fn broadcast_without_scripts_reads_the_active_set() {
    let state = Arc::new(Mutex::new(State::default()));
    let (m, bus) = manager(&state, true, true);
    m.create("a").await.expect("create a");
    m.create("b").await.expect("create b");
    assert!(bus.subscribed.lock().contains("delete:mcp:stream:a"));
    m.send(None, "data: all\n\n").await.expect("broadcast");
    let st = state.lock();
    assert!(
        st.calls.contains(&"SMEMBERS mcp:stream:active".to_string()),
        "{:?}",
        st.calls
    );
    assert!(
        !st.calls.iter().any(|c| c.starts_with("KEYS")),
        "{:?}",
        st.calls
    );
    let published: BTreeSet<_> = st.published.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(published, BTreeSet::from(["mcp:stream:a", "mcp:stream:b"]));
}

#[tokio::test]
async fn broadcast_without_sets_falls_back_to_keys_of_the_availability_keys() {
    let state = Arc::new(Mutex::new(State::default()));
    let (m, _bus) = manager(&state, false, true);
    m.create("a").await.expect("create a");
    m.create("b*").await.expect("create b*");
    m.send(None, "data: all\n\n").await.expect("broadcast");
    let st = state.lock();
    assert_eq!(st.calls, vec!["KEYS available:mcp:stream:*".to_string()]);
    let published: BTreeSet<_> = st
        .published
        .iter()
        .map(|(c, m)| (c.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        published,
        BTreeSet::from([
            ("mcp:stream:a", "data: all\n\n"),
            ("mcp:stream:b*", "data: all\n\n")
        ])
    );
}

#[tokio::test]
async fn delete_without_unsubscribe_fails_before_writing_and_close_tolerates_it() {
    let state = Arc::new(Mutex::new(State::default()));
    let (m, _bus) = manager(&state, true, false);
    m.create("a").await.expect("create");
    let err = m.delete("a").await.expect_err("no unsubscribe");
    assert_eq!(err.kind(), RedisErrorKind::Unsupported);
    {
        let st = state.lock();
        assert!(
            st.published.is_empty(),
            "nothing published: {:?}",
            st.published
        );
        assert!(st.strings.contains_key("available:mcp:stream:a"));
    }
    let (m2, _bus2) = manager(&state, true, false);
    m2.create("b").await.expect("create b");
    m2.close().await.expect("close does not need unsubscribe");
    assert!(!state.lock().strings.contains_key("available:mcp:stream:b"));
}

#[tokio::test]
async fn store_keys_and_clear_through_a_backend_without_scan_pages() {
    let state = Arc::new(Mutex::new(State::default()));
    let store = RedisSessionStore::new(
        Memory {
            state: state.clone(),
            with_sets: false,
        },
        "app[1]:".into(),
        60,
    );
    store.set("x", "{\"lastAccessedAt\":1}").await.expect("set");
    state
        .lock()
        .strings
        .insert("app1:other".into(), "{}".into());
    assert_eq!(store.keys().await.expect("keys"), vec!["x".to_string()]);
    store.clear().await.expect("clear");
    assert_eq!(
        state.lock().strings.keys().cloned().collect::<Vec<_>>(),
        vec!["app1:other".to_string()]
    );
    assert_eq!(
        state.lock().calls.first().map(String::as_str),
        Some("KEYS app\\[1\\]:*")
    );
}
