//! [`Outage`]: Redis not answering, reported the way an operator reads a log: one WARN line
//! when it starts, then one per period with how many failures it stood for, and one line at
//! the default level when it is over, saying how long it lasted and what was restored.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Repeats;

/// The target of the lines that say an outage is over; the default filter shows them at
/// `info` (see [`super::DEFAULT_FILTER`]).
pub const RECOVERY_TARGET: &str = "mcp_sessions_native::recovery";

/// One component's view of Redis being unreachable.
#[derive(Debug)]
pub struct Outage {
    /// Who reports, e.g. `"RedisStreamManager"`.
    who: &'static str,
    /// Whether `state` holds an outage: lets [`Outage::over`] on the happy path skip the lock.
    on: AtomicBool,
    state: Mutex<Option<State>>,
    repeats: Repeats,
}

#[derive(Debug)]
struct State {
    since: Instant,
    failures: u64,
    restored: BTreeMap<&'static str, u64>,
}

impl Outage {
    /// Failure lines at most once per `period`.
    pub const fn new(who: &'static str, period: Duration) -> Self {
        Outage {
            who,
            on: AtomicBool::new(false),
            state: Mutex::new(None),
            repeats: Repeats::new(period),
        }
    }

    /// `doing` failed with `error`: starts the outage, or counts one more failure of it.
    /// `then` says what happens next (`"retrying until Redis answers"`).
    pub fn failed(&self, doing: &str, error: &dyn Display, then: &str) {
        let now = Instant::now();
        self.on.store(true, Ordering::Release);
        self.state
            .lock()
            .get_or_insert_with(|| State {
                since: now,
                failures: 0,
                restored: BTreeMap::new(),
            })
            .failures += 1;
        let who = self.who;
        match self.repeats.failed_at(now) {
            Some(0) => tracing::warn!(%error, "{who}: {doing} failed; {then}"),
            Some(n) => {
                tracing::warn!(%error, also_failed_since_last_report = n, "{who}: {doing} failed; {then}")
            }
            None => {}
        }
    }

    /// Whether an outage is going on.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// Counts `n` things restored while the outage lasts (streams re-opened, say), for the line
    /// that ends it.
    pub fn restored(&self, what: &'static str, n: u64) {
        if let Some(state) = self.state.lock().as_mut() {
            *state.restored.entry(what).or_default() += n;
        }
    }

    /// Redis answers again: ends the outage, if one was going on, with one line. Returns how
    /// long it lasted.
    pub fn over(&self) -> Option<Duration> {
        if !self.is_on() {
            return None;
        }
        let state = self.state.lock().take()?;
        self.on.store(false, Ordering::Release);
        self.repeats.recovered();
        let lasted = state.since.elapsed();
        let restored = if state.restored.is_empty() {
            String::from("nothing to restore")
        } else {
            state
                .restored
                .iter()
                .map(|(what, n)| format!("{n} {what}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        tracing::info!(
            target: RECOVERY_TARGET,
            "{}: Redis answers again after {:.1} s ({} failures meanwhile); restored: {restored}",
            self.who,
            lasted.as_secs_f64(),
            state.failures
        );
        Some(lasted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_starts_at_the_first_failure_and_ends_once() {
        let o = Outage::new("T", Duration::from_secs(5));
        assert!(!o.is_on());
        assert_eq!(o.over(), None, "nothing to end");
        o.restored("streams re-opened", 3);
        o.failed("heartbeat", &"refused", "retrying");
        o.failed("heartbeat", &"refused", "retrying");
        assert!(o.is_on());
        o.restored("streams re-opened", 2);
        assert!(o.over().is_some());
        assert!(!o.is_on());
        assert_eq!(o.over(), None, "one line per outage");
    }
}
