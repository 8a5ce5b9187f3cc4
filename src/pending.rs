//! Store-and-forward of server-to-client messages: what a stream manager keeps for a session
//! whose stream is not open anywhere (its client is reconnecting, its instance died, or its
//! GET stream has not subscribed yet), and hands to the next stream the session opens.
//!
//! MCPServer sends through the stream manager only messages its transport cannot write
//! itself, and mcp-use's managers drop those when no stream takes them. Ours keep them,
//! bounded by [`PendingLimits`], and count what happened to them ([`PendingStats`]). The
//! Redis manager keeps them in Redis (see `crate::redis::native` for the scripts); the
//! in-memory manager in [`PendingQueues`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
    /// Messages kept for all sessions together; beyond it the oldest across sessions are
    /// dropped, so a flood of sessions that never come back cannot hold sessions x
    /// `max_bytes` (default 100,000).
    pub max_total_messages: u64,
    /// Bytes kept for all sessions together (default 256 MiB).
    pub max_total_bytes: u64,
}

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits {
            ttl_secs: 3600,
            max_messages: 1000,
            max_bytes: 1 << 20,
            max_total_messages: 100_000,
            max_total_bytes: 256 << 20,
        }
    }
}

impl PendingLimits {
    pub fn enabled(&self) -> bool {
        self.ttl_secs > 0
    }

    /// The keys of the store-and-forward options.
    pub const KEYS: [&'static str; 5] = [
        "pendingTtl",
        "pendingMaxMessages",
        "pendingMaxBytes",
        "pendingMaxTotalMessages",
        "pendingMaxTotalBytes",
    ];

    /// [`PendingLimits::read`] for a config that holds nothing else (`InMemoryStreamManager`'s):
    /// warns about keys no option has.
    pub fn read_all(config: Option<&Object>, class: &str) -> ConfigResult<Self> {
        if let Some(config) = config {
            warn_unknown_keys(config, &Self::KEYS, class);
        }
        Self::read(config, class)
    }

    /// The store-and-forward options of a stream manager's config (`pendingTtl` seconds,
    /// `pendingMaxMessages`, `pendingMaxBytes`, `pendingMaxTotalMessages`,
    /// `pendingMaxTotalBytes`) over the defaults.
    pub fn read(config: Option<&Object>, class: &str) -> ConfigResult<Self> {
        let d = Self::default();
        let count = |field: &str, max: u64| count_field(config, field, class, 1, max);
        let ttl = number_field(config, "pendingTtl", class, 0.0, MAX_TIMER_MS / 1000.0)?;
        Ok(PendingLimits {
            ttl_secs: ttl.map_or(d.ttl_secs, |t| t.ceil() as u64),
            max_messages: count("pendingMaxMessages", 10_000_000)?.unwrap_or(d.max_messages),
            max_bytes: count("pendingMaxBytes", 10_000_000_000)?.unwrap_or(d.max_bytes),
            max_total_messages: count("pendingMaxTotalMessages", 1_000_000_000)?
                .unwrap_or(d.max_total_messages),
            max_total_bytes: count("pendingMaxTotalBytes", 1 << 50)?.unwrap_or(d.max_total_bytes),
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

/// One kept message: its number (the order it was kept in, across sessions), when, the text.
struct Kept {
    seq: u64,
    at: Instant,
    text: String,
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<Kept>,
    bytes: u64,
}

/// The in-memory manager's pending messages, per session, bounded per session and in total.
/// Expiry is checked when a session's queue is touched and by [`PendingQueues::sweep`], which
/// callers run now and then (at most once per [`SWEEP_EVERY`]), so an abandoned session's
/// messages do not outlive the TTL by much and no timer is needed.
///
/// Over the total bound the message dropped is the front (oldest) of the session whose front
/// was kept first: `oldest` indexes each session by its front's number. Messages put back
/// after a failed replay get new numbers, so they count as kept then.
pub struct PendingQueues {
    limits: PendingLimits,
    queues: HashMap<Arc<str>, Queue>,
    /// Each non-empty session by the number of its front message.
    oldest: BTreeMap<u64, Arc<str>>,
    next_seq: u64,
    total_messages: u64,
    total_bytes: u64,
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
            oldest: BTreeMap::new(),
            next_seq: 0,
            total_messages: 0,
            total_bytes: 0,
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

    /// Messages and bytes kept now, for all sessions.
    pub fn kept(&self) -> (u64, u64) {
        (self.total_messages, self.total_bytes)
    }

    fn next(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Takes `id`'s queue out of the maps (its index entry and its share of the totals go
    /// with it); [`PendingQueues::store`] puts it back.
    fn take_queue(&mut self, id: &str) -> Option<(Arc<str>, Queue)> {
        let (id, queue) = self.queues.remove_entry(id)?;
        if let Some(front) = queue.messages.front() {
            self.oldest.remove(&front.seq);
        }
        self.total_messages -= queue.messages.len() as u64;
        self.total_bytes -= queue.bytes;
        Some((id, queue))
    }

    /// Stores `queue` for `id` after dropping (and counting) its oldest messages beyond the
    /// per-session limits, then drops the oldest across sessions beyond the total limits.
    fn store(&mut self, id: Arc<str>, mut queue: Queue) {
        while queue.messages.len() as u64 > self.limits.max_messages
            || queue.bytes > self.limits.max_bytes
        {
            let Some(old) = queue.messages.pop_front() else {
                break;
            };
            queue.bytes -= old.text.len() as u64;
            self.stats.dropped += 1;
        }
        if let Some(front) = queue.messages.front() {
            self.oldest.insert(front.seq, id.clone());
            self.total_messages += queue.messages.len() as u64;
            self.total_bytes += queue.bytes;
            self.queues.insert(id, queue);
        }
        self.enforce_total();
    }

    /// Drops the oldest messages across sessions while the totals are over their limits.
    fn enforce_total(&mut self) {
        while self.total_messages > self.limits.max_total_messages
            || self.total_bytes > self.limits.max_total_bytes
        {
            let Some((_, id)) = self.oldest.pop_first() else {
                break;
            };
            let Some(queue) = self.queues.get_mut(&id) else {
                continue;
            };
            let Some(old) = queue.messages.pop_front() else {
                continue;
            };
            queue.bytes -= old.text.len() as u64;
            self.total_messages -= 1;
            self.total_bytes -= old.text.len() as u64;
            self.stats.dropped += 1;
            match queue.messages.front() {
                Some(front) => {
                    self.oldest.insert(front.seq, id);
                }
                None => {
                    self.queues.remove(&id);
                }
            }
        }
    }

    /// Keeps `message` for `id`, after any it already holds; the oldest go beyond the limits.
    pub fn push(&mut self, id: &str, message: String, now: Instant) {
        if !self.limits.enabled() {
            return;
        }
        let (id, mut queue) = self
            .take_queue(id)
            .unwrap_or_else(|| (Arc::from(id), Queue::default()));
        queue.bytes += message.len() as u64;
        let seq = self.next();
        queue.messages.push_back(Kept {
            seq,
            at: now,
            text: message,
        });
        self.stats.buffered += 1;
        self.store(id, queue);
    }

    /// Takes the messages kept for `id`, oldest first, leaving out (and counting) those older
    /// than the TTL.
    pub fn take(&mut self, id: &str, now: Instant) -> Vec<String> {
        let Some((_, queue)) = self.take_queue(id) else {
            return Vec::new();
        };
        let ttl = Duration::from_secs(self.limits.ttl_secs);
        let mut out = Vec::with_capacity(queue.messages.len());
        for kept in queue.messages {
            if now.saturating_duration_since(kept.at) >= ttl {
                self.stats.expired += 1;
            } else {
                out.push(kept.text);
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
        let (id, later) = self
            .take_queue(id)
            .unwrap_or_else(|| (Arc::from(id), Queue::default()));
        let mut queue = Queue::default();
        for text in messages {
            let seq = self.next();
            queue.bytes += text.len() as u64;
            queue.messages.push_back(Kept { seq, at: now, text });
        }
        queue.bytes += later.bytes;
        queue.messages.extend(later.messages);
        self.store(id, queue);
    }

    /// Forgets what is kept for `id` (its session ended).
    pub fn remove(&mut self, id: &str) {
        self.take_queue(id);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.queues.clear();
        self.oldest.clear();
        self.total_messages = 0;
        self.total_bytes = 0;
    }

    /// Drops (and counts) every message older than the TTL.
    pub fn sweep(&mut self, now: Instant) {
        self.last_sweep = now;
        let ttl = Duration::from_secs(self.limits.ttl_secs);
        let stale: Vec<Arc<str>> = self
            .queues
            .iter()
            .filter(|(_, q)| {
                q.messages
                    .front()
                    .is_some_and(|m| now.saturating_duration_since(m.at) >= ttl)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            let Some((id, mut queue)) = self.take_queue(&id) else {
                continue;
            };
            while let Some(front) = queue.messages.front() {
                if now.saturating_duration_since(front.at) < ttl {
                    break;
                }
                if let Some(old) = queue.messages.pop_front() {
                    queue.bytes -= old.text.len() as u64;
                    self.stats.expired += 1;
                }
            }
            self.store(id, queue);
        }
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
            ..PendingLimits::default()
        }
    }

    #[test]
    fn a_flood_of_sessions_stays_within_the_total_dropping_the_oldest_first() {
        let limits = PendingLimits {
            max_total_messages: 1000,
            max_total_bytes: 1 << 20,
            ..PendingLimits::default()
        };
        let mut q = PendingQueues::new(limits);
        let now = Instant::now();
        // 10,000 sessions that never come back, 3 messages each.
        for round in 0..3 {
            for s in 0..10_000 {
                q.push(&format!("s{s}"), format!("m{round}"), now);
            }
        }
        assert_eq!(q.kept().0, 1000);
        assert_eq!(q.stats().buffered, 30_000);
        assert_eq!(q.stats().dropped, 29_000);
        // What is left is the newest: the last 1,000 sessions of the last round.
        assert!(q.take("s0", now).is_empty());
        assert_eq!(q.take("s9999", now), vec!["m2"]);
        assert_eq!(q.kept().0, 999);

        // Bytes too: a few big messages push out the oldest small ones.
        let mut q = PendingQueues::new(PendingLimits {
            max_total_bytes: 100,
            ..PendingLimits::default()
        });
        q.push("a", "x".repeat(40), now);
        q.push("b", "y".repeat(40), now);
        q.push("c", "z".repeat(40), now);
        assert_eq!(q.kept(), (2, 80));
        assert!(q.take("a", now).is_empty(), "the oldest went");
        assert_eq!(q.take("c", now), vec!["z".repeat(40)]);
    }

    #[test]
    fn totals_follow_takes_put_backs_removals_and_expiry() {
        let mut q = PendingQueues::new(limits(10, 100, 1 << 20));
        let now = Instant::now();
        q.push("a", "12345".into(), now);
        q.push("a", "678".into(), now);
        q.push("b", "9".into(), now);
        assert_eq!(q.kept(), (3, 9));
        let taken = q.take("a", now);
        assert_eq!(q.kept(), (1, 1));
        q.put_back("a", taken, now);
        assert_eq!(q.kept(), (3, 9));
        q.remove("b");
        assert_eq!(q.kept(), (2, 8));
        q.sweep(now + Duration::from_secs(11));
        assert_eq!(q.kept(), (0, 0));
        assert_eq!(q.sessions(), 0);
        assert_eq!(q.stats().expired, 2);
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
