//! [`Repeats`]: one log line for a failure that repeats, then one per period with how many
//! times it happened meanwhile, so an outage does not flood the log.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Paces the reports of one kind of failure.
#[derive(Debug)]
pub struct Repeats {
    period: Duration,
    /// When the last line was written, and how many failures happened since.
    last: Mutex<Option<(Instant, u64)>>,
}

impl Repeats {
    pub const fn new(period: Duration) -> Self {
        Repeats {
            period,
            last: Mutex::new(None),
        }
    }

    /// One more failure at `now`: `Some(n)` when a line is due, `n` being how many failures
    /// since the last line it did not report (0 for the first one), `None` when it is counted
    /// for the next line.
    pub fn failed_at(&self, now: Instant) -> Option<u64> {
        self.failed_times_at(1, now)
    }

    /// `times` failures found at once at `now` (events found lost together): paced as one,
    /// counted as `times`. `Some(n)` when a line is due (it reports these `times` plus the
    /// `n` earlier ones it did not), `None` when they are counted for the next line.
    pub fn failed_times_at(&self, times: u64, now: Instant) -> Option<u64> {
        let mut last = self.last.lock();
        match &mut *last {
            Some((at, unreported)) if now.saturating_duration_since(*at) < self.period => {
                *unreported = unreported.saturating_add(times);
                None
            }
            _ => {
                let unreported = last.map_or(0, |(_, n)| n);
                *last = Some((now, 0));
                Some(unreported)
            }
        }
    }

    /// [`Repeats::failed_at`] now.
    pub fn failed(&self) -> Option<u64> {
        self.failed_at(Instant::now())
    }

    /// [`Repeats::failed_times_at`] now.
    pub fn failed_times(&self, times: u64) -> Option<u64> {
        self.failed_times_at(times, Instant::now())
    }

    /// The failures are over: `Some(n)` with the failures not yet reported when there were
    /// any since the first line, so the next failure is reported at once.
    pub fn recovered(&self) -> Option<u64> {
        self.last.lock().take().map(|(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_then_one_per_period_with_the_count() {
        let r = Repeats::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(r.failed_at(at(0)), Some(0));
        assert_eq!(r.failed_at(at(1)), None);
        assert_eq!(r.failed_at(at(4)), None);
        assert_eq!(r.failed_at(at(5)), Some(2));
        assert_eq!(r.failed_at(at(6)), None);
        assert_eq!(r.recovered(), Some(1));
        assert_eq!(r.recovered(), None);
        assert_eq!(r.failed_at(at(7)), Some(0), "after a recovery, at once");
    }

    #[test]
    fn failures_found_together_are_paced_as_one_and_counted_each() {
        let r = Repeats::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(
            r.failed_times_at(3, at(0)),
            Some(0),
            "the line reports these 3"
        );
        assert_eq!(r.failed_times_at(4, at(1)), None);
        assert_eq!(r.failed_times_at(5, at(2)), None);
        assert_eq!(
            r.failed_times_at(1, at(10)),
            Some(9),
            "1 now and the 9 held back"
        );
    }
}
