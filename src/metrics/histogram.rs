//! A latency histogram with fixed buckets: one atomic counter per bucket, so recording is a
//! few relaxed increments, never a lock, and reading it never stops a writer. The buckets
//! are Prometheus' kind (upper bounds, cumulative when read), so the text exposition and
//! `histogram_quantile` take them as they are.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds: from a loopback round trip (0.1 ms) to the
/// longest command timeout one would set (10 s). Anything slower counts in the count and sum
/// only (Prometheus' `+Inf` bucket).
pub const BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Durations recorded into [`BOUNDS_US`] buckets.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per bucket (not cumulative): durations above the previous bound, up to this one.
    buckets: [AtomicU64; BOUNDS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// What a [`LatencyHistogram`] held when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySnapshot {
    /// Durations recorded.
    pub count: u64,
    /// Their sum, in milliseconds.
    pub sum_ms: f64,
    /// `(upper bound in ms, durations at most that long)`, cumulative, one per
    /// [`BOUNDS_US`] entry; the `+Inf` bucket is `count`.
    pub buckets: Vec<(f64, u64)>,
}

impl LatencyHistogram {
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = BOUNDS_US.iter().position(|&b| us <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The buckets made cumulative. Read while others record, a bucket may include a
    /// duration the count does not yet (or the reverse); the count is raised to the largest
    /// bucket so the snapshot stays monotonic, as Prometheus requires.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut total = 0;
        let buckets: Vec<(f64, u64)> = BOUNDS_US
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, n)| {
                total += n.load(Ordering::Relaxed);
                (bound as f64 / 1000.0, total)
            })
            .collect();
        LatencySnapshot {
            count: self.count.load(Ordering::Relaxed).max(total),
            sum_ms: self.sum_us.load(Ordering::Relaxed) as f64 / 1000.0,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_that_holds_them_and_read_back_cumulative() {
        let h = LatencyHistogram::default();
        h.record(Duration::from_micros(100)); // on a bound: that bucket
        h.record(Duration::from_micros(101));
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(60)); // beyond the last bound: +Inf only
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert!((s.sum_ms - 60_003.201).abs() < 1e-9);
        assert_eq!(s.buckets.len(), BOUNDS_US.len());
        assert_eq!(s.buckets[0], (0.1, 1));
        assert_eq!(s.buckets[1], (0.25, 2));
        assert_eq!(s.buckets[4], (2.5, 2));
        assert_eq!(s.buckets[5], (5.0, 3));
        assert_eq!(s.buckets.last(), Some(&(10_000.0, 3)));
        assert!(s.buckets.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn an_empty_histogram_reads_as_zeros() {
        let s = LatencyHistogram::default().snapshot();
        assert_eq!((s.count, s.sum_ms), (0, 0.0));
        assert!(s.buckets.iter().all(|&(_, n)| n == 0));
    }
}
