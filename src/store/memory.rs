//! `InMemorySessionStore`: a map of session id to metadata, with expiry.
//!
//! TTLs are kept in one ordered deadline index and enforced by one sweeper task per store
//! (started on the first `set_with_ttl`), not one timer per session. A later `set` or
//! `set_with_ttl` of the same id replaces the earlier deadline. The sweeper runs on the
//! shared tokio runtime and holds only a weak reference, so it never keeps the process or
//! the store alive.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metadata::Metadata;
use crate::store::LocalStore;

/// Called by the sweeper with the ids it expired.
pub type ExpiryHook = Box<dyn Fn(&[String]) + Send + Sync>;

type DeadlineKey = (Instant, u64);

#[derive(Default)]
struct State {
    sessions: HashMap<String, Entry>,
    deadlines: BTreeMap<DeadlineKey, String>,
    next_seq: u64,
    sweeper_started: bool,
    /// Sessions removed when their deadline passed.
    expired: u64,
}

/// Sessions held now, and removed by their TTL so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub sessions: u64,
    pub expired: u64,
}

struct Entry {
    metadata: Metadata,
    deadline: Option<DeadlineKey>,
}

struct Shared {
    state: Mutex<State>,
    on_expire: Option<ExpiryHook>,
}

pub struct MemoryStore {
    shared: Arc<Shared>,
    wake: Arc<Notify>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::build(None)
    }

    /// A store that reports expired ids to `hook` (the file store saves after expiries).
    pub fn with_expiry_hook(hook: ExpiryHook) -> Self {
        Self::build(Some(hook))
    }

    fn build(on_expire: Option<ExpiryHook>) -> Self {
        MemoryStore {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                on_expire,
            }),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Every session, for a save. Cheap: metadata is shared, not copied.
    pub fn snapshot(&self) -> Vec<(String, Metadata)> {
        let state = self.shared.state.lock();
        state
            .sessions
            .iter()
            .map(|(k, e)| (k.clone(), e.metadata.clone()))
            .collect()
    }

    pub fn stats(&self) -> MemoryStats {
        let state = self.shared.state.lock();
        MemoryStats {
            sessions: state.sessions.len() as u64,
            expired: state.expired,
        }
    }

    /// Loads many sessions at once (no expiry), as on start-up.
    pub fn extend(&self, sessions: impl ExactSizeIterator<Item = (String, Metadata)>) {
        let mut state = self.shared.state.lock();
        state.sessions.reserve(sessions.len());
        for (id, metadata) in sessions {
            state.insert(id, metadata, None);
        }
    }
}

impl LocalStore for MemoryStore {
    fn get(&self, id: &str) -> Option<Metadata> {
        self.shared
            .state
            .lock()
            .sessions
            .get(id)
            .map(|e| e.metadata.clone())
    }

    fn has(&self, id: &str) -> bool {
        self.shared.state.lock().sessions.contains_key(id)
    }

    fn set(&self, id: String, metadata: Metadata) {
        let mut state = self.shared.state.lock();
        state.insert(id, metadata, None);
    }

    /// A TTL too large to represent never expires.
    fn set_with_ttl(&self, id: String, metadata: Metadata, ttl: Duration) -> std::io::Result<()> {
        let Some(at) = Instant::now().checked_add(ttl) else {
            self.set(id, metadata);
            return Ok(());
        };
        let start_sweeper;
        let wake_sweeper;
        {
            let mut state = self.shared.state.lock();
            let earliest = state.deadlines.keys().next().map(|k| k.0);
            state.insert(id, metadata, Some(at));
            start_sweeper = !state.sweeper_started;
            state.sweeper_started = true;
            wake_sweeper = earliest.is_none_or(|e| at < e);
        }
        if start_sweeper {
            let handle = match crate::runtime::handle() {
                Ok(h) => h,
                Err(e) => {
                    self.shared.state.lock().sweeper_started = false;
                    return Err(e);
                }
            };
            handle.spawn(sweep(Arc::downgrade(&self.shared), self.wake.clone()));
        } else if wake_sweeper {
            self.wake.notify_one();
        }
        Ok(())
    }

    fn delete(&self, id: &str) -> bool {
        let mut state = self.shared.state.lock();
        state.remove(id)
    }

    fn keys(&self) -> Vec<String> {
        self.shared.state.lock().sessions.keys().cloned().collect()
    }

    fn len(&self) -> usize {
        self.shared.state.lock().sessions.len()
    }

    fn clear(&self) {
        let mut state = self.shared.state.lock();
        state.sessions.clear();
        state.deadlines.clear();
    }
}

impl Drop for MemoryStore {
    fn drop(&mut self) {
        // The sweeper holds only a weak reference: wake it so it sees the store is gone.
        self.wake.notify_one();
    }
}

impl State {
    fn insert(&mut self, id: String, metadata: Metadata, at: Option<Instant>) {
        let deadline = at.map(|at| {
            self.next_seq += 1;
            (at, self.next_seq)
        });
        if let Some(key) = deadline {
            self.deadlines.insert(key, id.clone());
        }
        if let Some(old) = self.sessions.insert(id, Entry { metadata, deadline }) {
            if let Some(key) = old.deadline {
                self.deadlines.remove(&key);
            }
        }
    }

    fn remove(&mut self, id: &str) -> bool {
        match self.sessions.remove(id) {
            Some(entry) => {
                if let Some(key) = entry.deadline {
                    self.deadlines.remove(&key);
                }
                true
            }
            None => false,
        }
    }

    /// Removes every session whose deadline has passed; returns them and the next deadline.
    fn expire_due(&mut self, now: Instant) -> (Vec<String>, Option<Instant>) {
        let mut expired = Vec::new();
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            self.sessions.remove(&id);
            expired.push(id);
            self.expired += 1;
        }
        (expired, self.deadlines.keys().next().map(|k| k.0))
    }
}

async fn sweep(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let (expired, next) = shared.state.lock().expire_due(Instant::now());
            if !expired.is_empty() {
                tracing::debug!(count = expired.len(), "sessions expired");
                if let Some(hook) = &shared.on_expire {
                    hook(&expired);
                }
            }
            next
        };
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(n: u32) -> Metadata {
        Metadata::from_json(format!(r#"{{"lastAccessedAt":{n}}}"#))
    }

    #[test]
    fn set_get_delete() {
        let s = MemoryStore::new();
        assert!(s.get("a").is_none());
        s.set("a".into(), meta(1));
        assert_eq!(s.get("a"), Some(meta(1)));
        assert!(s.has("a"));
        assert_eq!(s.len(), 1);
        assert!(s.delete("a"));
        assert!(!s.delete("a"));
        assert!(s.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn ttl_expires() {
        let s = MemoryStore::new();
        s.set_with_ttl("a".into(), meta(1), Duration::from_millis(50))
            .unwrap();
        s.set("b".into(), meta(2));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(s.has("a"));
        tokio::time::sleep(Duration::from_millis(20)).await;
        tokio::task::yield_now().await;
        assert!(!s.has("a"));
        assert!(s.has("b"));
        assert_eq!(
            s.stats(),
            MemoryStats {
                sessions: 1,
                expired: 1
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn later_ttl_replaces_earlier_deadline() {
        let s = MemoryStore::new();
        s.set_with_ttl("a".into(), meta(1), Duration::from_millis(50))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        s.set_with_ttl("a".into(), meta(2), Duration::from_millis(100))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        tokio::task::yield_now().await;
        assert_eq!(
            s.get("a"),
            Some(meta(2)),
            "old deadline must not delete the refreshed session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        tokio::task::yield_now().await;
        assert!(!s.has("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn plain_set_clears_deadline() {
        let s = MemoryStore::new();
        s.set_with_ttl("a".into(), meta(1), Duration::from_millis(50))
            .unwrap();
        s.set("a".into(), meta(2));
        tokio::time::sleep(Duration::from_millis(100)).await;
        tokio::task::yield_now().await;
        assert!(s.has("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn earlier_deadline_wakes_sweeper() {
        let s = MemoryStore::new();
        s.set_with_ttl("late".into(), meta(1), Duration::from_secs(3600))
            .unwrap();
        tokio::task::yield_now().await;
        s.set_with_ttl("soon".into(), meta(2), Duration::from_millis(10))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        tokio::task::yield_now().await;
        assert!(!s.has("soon"));
        assert!(s.has("late"));
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_hook_sees_ids() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let s =
            MemoryStore::with_expiry_hook(Box::new(move |ids| sink.lock().extend_from_slice(ids)));
        s.set_with_ttl("x".into(), meta(1), Duration::from_millis(5))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        tokio::task::yield_now().await;
        assert_eq!(*seen.lock(), vec!["x".to_string()]);
    }

    #[test]
    fn huge_ttl_never_expires_and_does_not_panic() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = MemoryStore::new();
            s.set_with_ttl("a".into(), meta(1), Duration::MAX).unwrap();
            assert!(s.has("a"));
        });
    }
}
