//! Store-and-forward of server-to-client messages: what a stream manager keeps for a session
//! whose stream is not open anywhere (its client is reconnecting, its instance died, or its
//! GET stream has not subscribed yet), and hands to the next stream the session opens.
//!
//! MCPServer sends through the stream manager only messages its transport cannot write
//! itself, and mcp-use's managers drop those when no stream takes them. Ours keep them,
//! bounded by [`PendingLimits`], and count what happened to them ([`PendingStats`]). The
//! Redis manager keeps them in Redis (see `crate::redis::native` for the scripts); the
//! in-memory manager in [`PendingQueues`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::{
    count_field, number_field, warn_unknown_keys, ConfigResult, Object, MAX_TIMER_MS,
};

/// How much is kept per session, and for how long. `ttl_secs == 0` turns store-and-forward
/// off: messages that reach no stream are dropped, as mcp-use does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingLimits {
    /// Seconds a message is kept (default: an hour, the session TTL of the Redis store).
    pub ttl_secs: u64,
    /// Messages kept per session; beyond it the oldest are dropped (default 1,000).
    pub max_messages: u64,
    /// Bytes of message text kept per session; beyond it the oldest are dropped (default
    /// 1 MiB).
    pub max_bytes: u64,
}

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits {
            ttl_secs: 3600,
            max_messages: 1000,
            max_bytes: 1 << 20,
        }
    }
}

impl PendingLimits {
    pub fn enabled(&self) -> bool {
        self.ttl_secs > 0
    }

    /// The keys of the store-and-forward options.
    pub const KEYS: [&'static str; 3] = ["pendingTtl", "pendingMaxMessages", "pendingMaxBytes"];

    /// [`PendingLimits::read`] for a config that holds nothing else (`InMemoryStreamManager`'s):
    /// warns about keys no option has.
    pub fn read_all(config: Option<&Object>, class: &str) -> ConfigResult<Self> {
        if let Some(config) = config {
            warn_unknown_keys(config, &Self::KEYS, class);
        }
        Self::read(config, class)
    }

    /// The store-and-forward options of a stream manager's config (`pendingTtl` seconds,
    /// `pendingMaxMessages`, `pendingMaxBytes`) over the defaults.
    pub fn read(config: Option<&Object>, class: &str) -> ConfigResult<Self> {
        let defaults = Self::default();
        let ttl = number_field(config, "pendingTtl", class, 0.0, MAX_TIMER_MS / 1000.0)?;
        let max_messages = count_field(config, "pendingMaxMessages", class, 1, 10_000_000)?;
        let max_bytes = count_field(config, "pendingMaxBytes", class, 1, 10_000_000_000)?;
        Ok(PendingLimits {
            ttl_secs: ttl.map_or(defaults.ttl_secs, |t| t.ceil() as u64),
            max_messages: max_messages.unwrap_or(defaults.max_messages),
            max_bytes: max_bytes.unwrap_or(defaults.max_bytes),
        })
    }
}

/// Counters of one manager, since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingStats {
    /// Messages kept because no stream took them (including ones handed back by a stream
    /// whose write failed).
    pub buffered: u64,
    /// Kept messages delivered to a stream that opened.
    pub replayed: u64,
    /// Kept messages that outlived `ttl_secs` before a stream opened.
    pub expired: u64,
    /// Kept messages dropped to stay within `max_messages` / `max_bytes`.
    pub dropped: u64,
}

/// [`PendingStats`] updated from several threads.
#[derive(Debug, Default)]
pub struct PendingCounters {
    buffered: AtomicU64,
    replayed: AtomicU64,
    expired: AtomicU64,
    dropped: AtomicU64,
}

impl PendingCounters {
    pub fn add(&self, delta: PendingStats) {
        self.buffered.fetch_add(delta.buffered, Ordering::Relaxed);
        self.replayed.fetch_add(delta.replayed, Ordering::Relaxed);
        self.expired.fetch_add(delta.expired, Ordering::Relaxed);
        self.dropped.fetch_add(delta.dropped, Ordering::Relaxed);
    }

    pub fn get(&self) -> PendingStats {
        PendingStats {
            buffered: self.buffered.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<(Instant, String)>,
    bytes: u64,
}

/// The in-memory manager's pending messages, per session. Expiry is checked when a session's
/// queue is touched and by [`PendingQueues::sweep`], which callers run now and then (at most
/// once per [`SWEEP_EVERY`]), so an abandoned session's messages do not outlive the TTL by
/// much and no timer is needed.
pub struct PendingQueues {
    limits: PendingLimits,
    queues: HashMap<String, Queue>,
    stats: PendingStats,
    last_sweep: Instant,
}

/// How often [`PendingQueues::maybe_sweep`] sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl PendingQueues {
    pub fn new(limits: PendingLimits) -> Self {
        PendingQueues {
            limits,
            queues: HashMap::new(),
            stats: PendingStats::default(),
            last_sweep: Instant::now(),
        }
    }

    pub fn limits(&self) -> PendingLimits {
        self.limits
    }

    pub fn stats(&self) -> PendingStats {
        self.stats
    }

    /// Sessions with messages waiting.
    pub fn sessions(&self) -> usize {
        self.queues.len()
    }

    /// Keeps `message` for `id`, after any it already holds; the oldest go beyond the limits.
    pub fn push(&mut self, id: &str, message: String, now: Instant) {
        if !self.limits.enabled() {
            return;
        }
        let mut queue = self.queues.remove(id).unwrap_or_default();
        queue.bytes += message.len() as u64;
        queue.messages.push_back((now, message));
        self.stats.buffered += 1;
        self.store_bounded(id, queue);
    }

    /// Stores `queue` for `id` after dropping (and counting) its oldest messages beyond the
    /// limits.
    fn store_bounded(&mut self, id: &str, mut queue: Queue) {
        while queue.messages.len() as u64 > self.limits.max_messages
            || queue.bytes > self.limits.max_bytes
        {
            let Some((_, old)) = queue.messages.pop_front() else {
                break;
            };
            queue.bytes -= old.len() as u64;
            self.stats.dropped += 1;
        }
        if !queue.messages.is_empty() {
            self.queues.insert(id.to_owned(), queue);
        }
    }

    /// Takes the messages kept for `id`, oldest first, leaving out (and counting) those older
    /// than the TTL.
    pub fn take(&mut self, id: &str, now: Instant) -> Vec<String> {
        let Some(queue) = self.queues.remove(id) else {
            return Vec::new();
        };
        let ttl = Duration::from_secs(self.limits.ttl_secs);
        let mut out = Vec::with_capacity(queue.messages.len());
        for (at, message) in queue.messages {
            if now.saturating_duration_since(at) >= ttl {
                self.stats.expired += 1;
            } else {
                out.push(message);
            }
        }
        self.stats.replayed += out.len() as u64;
        out
    }

    /// Puts back, ahead of anything kept since, messages taken by [`PendingQueues::take`]
    /// that could not be delivered after all. They count as kept again, not as replayed.
    pub fn put_back(&mut self, id: &str, messages: Vec<String>, now: Instant) {
        if messages.is_empty() || !self.limits.enabled() {
            return;
        }
        self.stats.replayed = self.stats.replayed.saturating_sub(messages.len() as u64);
        let later = self.queues.remove(id).unwrap_or_default();
        let mut queue = Queue::default();
        for (at, m) in messages.into_iter().map(|m| (now, m)).chain(later.messages) {
            queue.bytes += m.len() as u64;
            queue.messages.push_back((at, m));
        }
        self.store_bounded(id, queue);
    }

    /// Forgets what is kept for `id` (its session ended).
    pub fn remove(&mut self, id: &str) {
        self.queues.remove(id);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.queues.clear();
    }

    /// Drops (and counts) every message older than the TTL.
    pub fn sweep(&mut self, now: Instant) {
        self.last_sweep = now;
        let ttl = Duration::from_secs(self.limits.ttl_secs);
        let mut expired = 0;
        self.queues.retain(|_, queue| {
            while let Some((at, _)) = queue.messages.front() {
                if now.saturating_duration_since(*at) < ttl {
                    break;
                }
                if let Some((_, old)) = queue.messages.pop_front() {
                    queue.bytes -= old.len() as u64;
                    expired += 1;
                }
            }
            !queue.messages.is_empty()
        });
        self.stats.expired += expired;
    }

    /// [`PendingQueues::sweep`] if the last one is [`SWEEP_EVERY`] ago.
    pub fn maybe_sweep(&mut self, now: Instant) {
        if !self.queues.is_empty() && now.saturating_duration_since(self.last_sweep) >= SWEEP_EVERY
        {
            self.sweep(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(ttl_secs: u64, max_messages: u64, max_bytes: u64) -> PendingLimits {
        PendingLimits {
            ttl_secs,
            max_messages,
            max_bytes,
        }
    }

    #[test]
    fn limits_read_from_a_config_round_up_the_ttl_and_take_whole_counts() {
        use crate::config::{ConfigError, Value};
        let config = |pairs: Vec<(&str, f64)>| {
            Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), Value::Number(v)))
                    .collect(),
            )
        };
        assert_eq!(PendingLimits::read(None, "C"), Ok(PendingLimits::default()));
        let read = PendingLimits::read(
            Some(&config(vec![
                ("pendingTtl", 0.5),
                ("pendingMaxMessages", 10.0),
                ("pendingMaxBytes", 2048.0),
            ])),
            "C",
        );
        assert_eq!(read, Ok(limits(1, 10, 2048)));
        assert!(matches!(
            PendingLimits::read(Some(&config(vec![("pendingMaxMessages", 1.5)])), "C"),
            Err(ConfigError::Range(_))
        ));
        assert_eq!(
            PendingLimits::read(Some(&config(vec![("pendingTtl", 0.0)])), "C").map(|l| l.enabled()),
            Ok(false)
        );
        assert!(matches!(
            PendingLimits::read(Some(&config(vec![("pendingMaxMessages", 0.0)])), "C"),
            Err(ConfigError::Range(_))
        ));
    }

    #[test]
    fn keeps_in_order_and_hands_over_once() {
        let mut q = PendingQueues::new(PendingLimits::default());
        let now = Instant::now();
        q.push("s", "a".into(), now);
        q.push("s", "b".into(), now);
        q.push("t", "x".into(), now);
        assert_eq!(q.take("s", now), vec!["a", "b"]);
        assert!(q.take("s", now).is_empty(), "exactly once");
        assert_eq!(
            q.stats(),
            PendingStats {
                buffered: 3,
                replayed: 2,
                expired: 0,
                dropped: 0
            }
        );
        assert_eq!(q.sessions(), 1);
    }

    #[test]
    fn drops_the_oldest_beyond_the_count_and_byte_limits() {
        let mut q = PendingQueues::new(limits(60, 3, 1000));
        let now = Instant::now();
        for i in 0..10 {
            q.push("s", format!("m{i}"), now);
        }
        assert_eq!(q.take("s", now), vec!["m7", "m8", "m9"]);
        assert_eq!(q.stats().dropped, 7);

        let mut q = PendingQueues::new(limits(60, 100, 10));
        q.push("s", "12345".into(), now);
        q.push("s", "67890".into(), now);
        q.push("s", "abc".into(), now);
        assert_eq!(q.take("s", now), vec!["67890", "abc"]);
        q.push("s", "much too long for the limit".into(), now);
        assert!(
            q.take("s", now).is_empty(),
            "a message larger than the limit is not kept"
        );
        assert_eq!(q.stats().dropped, 2);
    }

    #[test]
    fn expires_after_the_ttl_on_take_and_on_sweep() {
        let mut q = PendingQueues::new(limits(10, 100, 1000));
        let t0 = Instant::now();
        q.push("s", "old".into(), t0);
        q.push("s", "new".into(), t0 + Duration::from_secs(5));
        assert_eq!(q.take("s", t0 + Duration::from_secs(12)), vec!["new"]);
        assert_eq!(q.stats().expired, 1);

        q.push("gone", "x".into(), t0);
        q.maybe_sweep(t0 + Duration::from_secs(11));
        assert_eq!(q.sessions(), 0, "an abandoned session's messages are swept");
        assert_eq!(q.stats().expired, 2);
    }

    #[test]
    fn put_back_goes_ahead_of_later_messages() {
        let mut q = PendingQueues::new(PendingLimits::default());
        let now = Instant::now();
        q.push("s", "1".into(), now);
        q.push("s", "2".into(), now);
        let taken = q.take("s", now);
        q.push("s", "3".into(), now);
        q.put_back("s", taken, now);
        assert_eq!(q.take("s", now), vec!["1", "2", "3"]);
    }

    #[test]
    fn zero_ttl_keeps_nothing() {
        let mut q = PendingQueues::new(limits(0, 100, 1000));
        q.push("s", "a".into(), Instant::now());
        assert!(q.take("s", Instant::now()).is_empty());
        assert_eq!(q.stats(), PendingStats::default());
    }
}
