//! What one connection went through, read off the operations made on it: how many, how many
//! failed, how long they took, and whether its server is reachable (a state with the time it
//! last changed, the last error and the reconnects). Every outcome costs a few relaxed atomic
//! updates; the lock is taken only when the state changes or an error is kept.
//!
//! The state is what the last operation showed, not a guess:
//! * `Connecting`: nothing finished yet (connections open on first use);
//! * `Up`: the last operation got an answer ([`Outcome::Answered`], an error reply included:
//!   the server is there);
//! * `Down`: the last operation could not reach the server or it said it cannot serve
//!   ([`Outcome::Unreachable`]), or the connection reported a drop
//!   ([`ConnectionMeter::disconnected`]); only a success brings it back.
//!
//! A reconnect is a `Down` -> `Up` change. What an error means for the state is the
//! caller's call (`crate::redis::metered` decides it for Redis errors).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::histogram::{LatencyHistogram, LatencySnapshot};
use crate::metadata::now_ms;

/// Whether Redis answers on a connection, as its last operation showed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectionState {
    Connecting = 0,
    Up = 1,
    Down = 2,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Up => "up",
            ConnectionState::Down => "down",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => ConnectionState::Up,
            2 => ConnectionState::Down,
            _ => ConnectionState::Connecting,
        }
    }
}

/// A connection's counters, read at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStats {
    /// Operations that reached (or tried to reach) the server.
    pub operations: u64,
    /// Those that failed.
    pub errors: u64,
    /// `Down` -> `Up` changes.
    pub reconnects: u64,
    /// Whether the state is `Up`.
    pub up: bool,
    /// How long the operations took, failures included.
    pub latency: LatencySnapshot,
}

/// A connection's state, for `health()`. Times are ms since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionHealth {
    pub state: ConnectionState,
    /// When the state last changed (for `Connecting`: when the connection was made).
    pub since: f64,
    /// Since when Redis has been unreachable, while `Down`.
    pub down_since: Option<f64>,
    /// The last failure, as the caller worded it.
    pub last_error: Option<String>,
    pub last_error_at: Option<f64>,
    pub reconnects: u64,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// The server answered with an error (`error`, as `health()` shows it): it is there.
    Answered(String),
    /// The server could not be reached, or said it cannot serve.
    Unreachable(String),
}

#[derive(Debug)]
struct Detail {
    since: f64,
    down_since: Option<f64>,
    last_error: Option<(String, f64)>,
}

/// The counters and state of one connection (see the module docs).
#[derive(Debug)]
pub struct ConnectionMeter {
    operations: AtomicU64,
    errors: AtomicU64,
    reconnects: AtomicU64,
    latency: LatencyHistogram,
    state: AtomicU8,
    /// Monotonic base of `last_activity`.
    made: Instant,
    /// Ms after `made` (plus one) when an operation last finished; 0: none yet.
    last_activity: AtomicU64,
    /// A probe (see [`ConnectionMeter::probe_due`]) is running.
    probing: AtomicBool,
    detail: Mutex<Detail>,
}

impl Default for ConnectionMeter {
    fn default() -> Self {
        ConnectionMeter {
            operations: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            latency: LatencyHistogram::default(),
            state: AtomicU8::new(0),
            made: Instant::now(),
            last_activity: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            detail: Mutex::new(Detail {
                since: now_ms(),
                down_since: None,
                last_error: None,
            }),
        }
    }
}

/// Clears [`ConnectionMeter`]'s probing flag when the probe ends, however it ends.
#[derive(Debug)]
pub struct Probe(Arc<ConnectionMeter>);

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.probing.store(false, Ordering::Release);
    }
}

impl ConnectionMeter {
    pub fn state(&self) -> ConnectionState {
        ConnectionState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Records an operation that took `elapsed` and ended with `outcome`.
    pub fn record(&self, outcome: Outcome, elapsed: Duration) {
        self.operations.fetch_add(1, Ordering::Relaxed);
        self.latency.record(elapsed);
        let since_made = u64::try_from(self.made.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_activity.store(since_made + 1, Ordering::Relaxed);
        match outcome {
            Outcome::Succeeded => self.set(ConnectionState::Up),
            Outcome::Unreachable(error) => {
                self.failed(error);
                self.set(ConnectionState::Down);
            }
            Outcome::Answered(error) => {
                self.failed(error);
                // The server is there: a connection not seen yet is up; a down one stays
                // down until an operation succeeds.
                if self.state() == ConnectionState::Connecting {
                    self.set(ConnectionState::Up);
                }
            }
        }
    }

    fn failed(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.detail.lock().last_error = Some((error, now_ms()));
    }

    /// Nothing can be checked on the connection (a driven client without `ping`): one never
    /// seen counts as up, as `ready()` counts it ready, until an operation says otherwise.
    pub fn unchecked(&self) {
        if self.state() == ConnectionState::Connecting {
            self.set(ConnectionState::Up);
        }
    }

    /// The connection reported that it dropped (a pub/sub connection's disconnect event):
    /// down until an operation succeeds on it again.
    pub fn disconnected(&self, error: &str) {
        self.detail.lock().last_error = Some((error.to_owned(), now_ms()));
        self.set(ConnectionState::Down);
    }

    fn set(&self, to: ConnectionState) {
        if self.state() == to {
            return;
        }
        let mut detail = self.detail.lock();
        let from = self.state.swap(to as u8, Ordering::AcqRel);
        let from = ConnectionState::from_u8(from);
        if from == to {
            return;
        }
        let now = now_ms();
        detail.since = now;
        match to {
            ConnectionState::Down => detail.down_since = Some(now),
            _ => {
                detail.down_since = None;
                if from == ConnectionState::Down {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// A probe of the connection is due when no operation finished in the last `idle` (or
    /// none ever did) and no probe is running; the returned guard marks it running until it
    /// is dropped.
    pub fn probe_due(self: &Arc<Self>, idle: Duration) -> Option<Probe> {
        let last = self.last_activity.load(Ordering::Relaxed);
        let now = u64::try_from(self.made.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < idle_ms {
            return None;
        }
        if self.probing.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Probe(self.clone()))
    }

    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            operations: self.operations.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            up: self.state() == ConnectionState::Up,
            latency: self.latency.snapshot(),
        }
    }

    pub fn health(&self) -> ConnectionHealth {
        let detail = self.detail.lock();
        ConnectionHealth {
            state: self.state(),
            since: detail.since,
            down_since: detail.down_since,
            last_error: detail.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_at: detail.last_error.as_ref().map(|(_, at)| *at),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn refused() -> Outcome {
        Outcome::Unreachable("Redis GET failed: connection refused".into())
    }

    #[test]
    fn the_state_follows_what_operations_show_and_counts_reconnects() {
        let m = ConnectionMeter::default();
        assert_eq!(m.state(), ConnectionState::Connecting);
        m.record(refused(), MS);
        let h = m.health();
        assert_eq!(h.state, ConnectionState::Down);
        assert!(h.down_since.is_some());
        assert_eq!(
            h.last_error.as_deref(),
            Some("Redis GET failed: connection refused")
        );
        m.record(Outcome::Unreachable("timeout".into()), MS);
        assert_eq!(m.health().down_since, h.down_since, "down since the first");
        m.record(Outcome::Succeeded, MS);
        let up = m.health();
        assert_eq!(
            (up.state, up.down_since, up.reconnects),
            (ConnectionState::Up, None, 1)
        );
        assert_eq!(
            up.last_error.as_deref(),
            Some("timeout"),
            "the last error stays for the record"
        );
        let s = m.stats();
        assert_eq!(
            (s.operations, s.errors, s.reconnects, s.up),
            (3, 2, 1, true)
        );
        assert_eq!(s.latency.count, 3);
    }

    #[test]
    fn an_error_answer_means_the_server_is_there_but_does_not_bring_it_back() {
        let m = ConnectionMeter::default();
        m.record(Outcome::Answered("WRONGTYPE".into()), MS);
        assert_eq!(m.state(), ConnectionState::Up);
        m.record(refused(), MS);
        m.record(Outcome::Answered("WRONGTYPE".into()), MS);
        assert_eq!(
            m.state(),
            ConnectionState::Down,
            "only a success brings it back"
        );
        assert_eq!(m.stats().errors, 3);
    }

    #[test]
    fn a_connection_that_cannot_be_checked_counts_as_up_until_an_operation_fails() {
        let m = ConnectionMeter::default();
        m.unchecked();
        assert_eq!((m.state(), m.stats().operations), (ConnectionState::Up, 0));
        m.record(refused(), MS);
        m.unchecked();
        assert_eq!(
            m.state(),
            ConnectionState::Down,
            "only a success brings it back"
        );
    }

    #[test]
    fn a_reported_drop_is_down_until_an_operation_succeeds() {
        let m = ConnectionMeter::default();
        m.record(Outcome::Succeeded, MS);
        m.disconnected("Redis connection lost");
        assert_eq!(m.state(), ConnectionState::Down);
        assert_eq!(m.stats().operations, 1, "a drop is not an operation");
        m.record(Outcome::Succeeded, MS);
        assert_eq!((m.state(), m.stats().reconnects), (ConnectionState::Up, 1));
    }

    #[test]
    fn one_probe_at_a_time_and_only_when_idle() {
        let m = Arc::new(ConnectionMeter::default());
        let first = m.probe_due(Duration::from_secs(1));
        assert!(first.is_some(), "never active: due");
        assert!(m.probe_due(Duration::from_secs(1)).is_none(), "one running");
        drop(first);
        m.record(Outcome::Succeeded, MS);
        assert!(
            m.probe_due(Duration::from_secs(60)).is_none(),
            "active just now"
        );
        assert!(m.probe_due(Duration::ZERO).is_some());
    }
}
