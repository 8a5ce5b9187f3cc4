//! The bus's counters and connection health, kept by its tasks and read by `stats()` and
//! `health()`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Monotonic counters (events unless said otherwise).
#[derive(Debug, Default)]
pub struct Counters {
    pub published: AtomicU64,
    pub appended: AtomicU64,
    pub append_failures: AtomicU64,
    pub delivered_local: AtomicU64,
    pub received_remote: AtomicU64,
    pub replayed: AtomicU64,
    pub duplicates_skipped: AtomicU64,
    pub lost: AtomicU64,
    pub outbox_dropped: AtomicU64,
    pub outbox_expired: AtomicU64,
    pub unsent_at_close: AtomicU64,
    pub listener_errors: AtomicU64,
    pub catch_ups: AtomicU64,
    pub malformed: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// A snapshot of the counters and gauges.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Events handed to `publish` here.
    pub published: u64,
    /// Of those, appended to Redis (announced to the other processes).
    pub appended: u64,
    /// Append attempts that failed (each is retried while its events are in the outbox).
    pub append_failures: u64,
    /// Listener calls made for events published here.
    pub delivered_local: u64,
    /// Events of other processes delivered here (live or caught up).
    pub received_remote: u64,
    /// Of those, delivered by a catch-up read of the log.
    pub replayed: u64,
    /// Events received twice (channel and log overlap, re-appended batches) and skipped.
    pub duplicates_skipped: u64,
    /// Events of other processes this one never received: out of the retention window
    /// before it caught up, dropped by their publisher's outbox, or (pub/sub only) published
    /// while its subscriber was away. Counted when the publisher's next event arrives.
    pub lost: u64,
    /// Events dropped from this process's outbox over the count limit.
    pub outbox_dropped: u64,
    /// Events dropped from this process's outbox over the age limit.
    pub outbox_expired: u64,
    /// Events still in the outbox when `close` gave up waiting for Redis.
    pub unsent_at_close: u64,
    /// Listener calls that threw.
    pub listener_errors: u64,
    /// Catch-up reads of the log (after a reconnect, at start, or a gap).
    pub catch_ups: u64,
    /// Channel messages that were not bus messages (ignored).
    pub malformed: u64,
    /// Gauge: events waiting in the outbox.
    pub outbox: u64,
    /// Gauge: publishing processes whose order this process tracks.
    pub origins: u64,
}

/// At most one warning per [`Throttle::EVERY`] for something that can happen per event (events
/// found lost), carrying the count since the last one, so a burst is one line, not thousands.
#[derive(Debug, Default)]
pub struct Throttle(Mutex<(Option<std::time::Instant>, u64)>);

impl Throttle {
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(10);

    /// Notes `n` more; returns the count to warn about now, if a warning is due.
    pub fn note(&self, n: u64, now: std::time::Instant) -> Option<u64> {
        let mut g = self.0.lock();
        g.1 += n;
        if g.0
            .is_some_and(|last| now.saturating_duration_since(last) < Self::EVERY)
        {
            return None;
        }
        g.0 = Some(now);
        Some(std::mem::take(&mut g.1))
    }
}

/// The state of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not used yet.
    Unknown,
    Up,
    Down,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Unknown => "unknown",
            LinkState::Up => "up",
            LinkState::Down => "down",
        }
    }
}

/// What `health()` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `"ok"`, `"degraded"` or `"down"`.
    pub status: &'static str,
    /// Why it is not ok (empty when ok).
    pub reason: String,
    pub commands: LinkState,
    pub subscriber: LinkState,
    pub last_error: Option<String>,
    /// Unix ms of the last error.
    pub last_error_at: Option<u64>,
    /// Unix ms since which a connection has been down.
    pub down_since: Option<u64>,
    /// `"log"` (Redis Streams, catch-up) or `"pubsub"` (pub/sub only).
    pub mode: &'static str,
}

#[derive(Debug)]
struct Links {
    commands: LinkState,
    subscriber: LinkState,
    last_error: Option<(String, u64)>,
    down_since: Option<u64>,
}

/// The connection health, updated by the writer and the reader.
#[derive(Debug)]
pub struct HealthState(Mutex<Links>);

impl Default for HealthState {
    fn default() -> Self {
        Self(Mutex::new(Links {
            commands: LinkState::Unknown,
            subscriber: LinkState::Unknown,
            last_error: None,
            down_since: None,
        }))
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Which connection.
#[derive(Debug, Clone, Copy)]
pub enum Link {
    Commands,
    Subscriber,
}

impl HealthState {
    /// Records the outcome of an operation on `link`.
    pub fn record(&self, link: Link, outcome: Result<(), &crate::redis::RedisError>) {
        let mut l = self.0.lock();
        let state = match outcome {
            Ok(()) => LinkState::Up,
            Err(e) => {
                l.last_error = Some((e.to_string(), unix_ms()));
                LinkState::Down
            }
        };
        match link {
            Link::Commands => l.commands = state,
            Link::Subscriber => l.subscriber = state,
        }
        let any_down = l.commands == LinkState::Down || l.subscriber == LinkState::Down;
        match (any_down, l.down_since) {
            (true, None) => l.down_since = Some(unix_ms()),
            (false, Some(_)) => l.down_since = None,
            _ => {}
        }
    }

    pub fn subscriber(&self) -> LinkState {
        self.0.lock().subscriber
    }

    /// The report, given the outbox size, whether the bus keeps a log, and whether it is
    /// closed.
    pub fn report(&self, outbox: u64, log: bool, closed: bool) -> Health {
        let l = self.0.lock();
        let down = [l.commands, l.subscriber]
            .iter()
            .filter(|s| **s == LinkState::Down)
            .count();
        let mut reasons = Vec::new();
        if closed {
            reasons.push("closed".to_owned());
        }
        if l.commands == LinkState::Down {
            reasons.push("Redis commands failing (events wait in the outbox)".to_owned());
        }
        if l.subscriber == LinkState::Down {
            reasons.push(
                "Redis subscriber disconnected (other processes' events are read back when it is up)"
                    .to_owned(),
            );
        }
        if outbox > 0 && l.commands != LinkState::Down {
            reasons.push(format!("{outbox} events waiting in the outbox"));
        }
        if !log {
            reasons.push("pub/sub only: no retention or catch-up (driver \"client\")".to_owned());
        }
        let status = if closed || down == 2 {
            "down"
        } else if reasons.is_empty() {
            "ok"
        } else {
            "degraded"
        };
        Health {
            status,
            reason: reasons.join("; "),
            commands: l.commands,
            subscriber: l.subscriber,
            last_error: l.last_error.as_ref().map(|(m, _)| m.clone()),
            last_error_at: l.last_error.as_ref().map(|(_, at)| *at),
            down_since: l.down_since,
            mode: if log { "log" } else { "pubsub" },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::{RedisError, RedisErrorKind};

    #[test]
    fn the_throttle_sums_what_it_holds_back() {
        let t = Throttle::default();
        let t0 = std::time::Instant::now();
        assert_eq!(t.note(3, t0), Some(3));
        assert_eq!(t.note(4, t0 + std::time::Duration::from_secs(1)), None);
        assert_eq!(t.note(5, t0 + std::time::Duration::from_secs(2)), None);
        assert_eq!(t.note(1, t0 + Throttle::EVERY), Some(10));
    }

    #[test]
    fn health_follows_the_links() {
        let h = HealthState::default();
        assert_eq!(h.report(0, true, false).status, "ok");
        let e = RedisError::new(RedisErrorKind::Connection, "PING", "refused");
        h.record(Link::Subscriber, Err(&e));
        let r = h.report(0, true, false);
        assert_eq!(r.status, "degraded");
        assert!(r.down_since.is_some());
        assert_eq!(r.last_error.as_deref(), Some("Redis PING failed: refused"));
        h.record(Link::Commands, Err(&e));
        assert_eq!(h.report(3, true, false).status, "down");
        h.record(Link::Commands, Ok(()));
        h.record(Link::Subscriber, Ok(()));
        let r = h.report(0, true, false);
        assert_eq!((r.status, r.down_since), ("ok", None));
        // The error is still reported, as the last one.
        assert!(r.last_error_at.is_some());
        assert_eq!(h.report(2, true, false).status, "degraded");
        assert_eq!(h.report(0, false, false).status, "degraded");
        assert_eq!(h.report(0, true, true).status, "down");
    }
}
