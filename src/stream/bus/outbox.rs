//! The publisher's outbox: events published here and not yet appended to Redis, oldest first.
//! Every publish goes through it (the writer task appends what it holds in batches), so while
//! Redis is unreachable events wait here and are appended in publish order once it is back.
//!
//! Bounded by count and age: beyond `max_len` the oldest waiting event is dropped, and an event
//! older than `max_age` is dropped rather than appended late (a change notification that old
//! would mislead more than inform; the listeners' clients re-list when they reconnect anyway).
//! The batch being appended (`in_flight`) is never dropped under the writer's feet: its fate is
//! decided by the append's result.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::redis::event_log::Outgoing;

/// What was dropped by a call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Over the count limit.
    pub overflow: u64,
    /// Older than the age limit.
    pub expired: u64,
}

#[derive(Debug)]
struct Waiting {
    event: Outgoing,
    at: Instant,
}

/// See the module docs.
#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Waiting>,
    in_flight: usize,
    max_len: usize,
    max_age: Duration,
}

impl Outbox {
    pub fn new(max_len: usize, max_age: Duration) -> Self {
        Self {
            queue: VecDeque::new(),
            in_flight: 0,
            max_len: max_len.max(1),
            max_age,
        }
    }

    /// Adds `event` at the back, dropping the oldest waiting event beyond the count limit.
    pub fn push(&mut self, event: Outgoing, now: Instant) -> Dropped {
        self.queue.push_back(Waiting { event, at: now });
        let mut dropped = Dropped::default();
        while self.queue.len() > self.max_len && self.queue.len() > self.in_flight {
            // The oldest that is not being appended right now.
            self.queue.remove(self.in_flight);
            dropped.overflow += 1;
        }
        dropped
    }

    /// Drops the waiting events older than the age limit (not the batch in flight).
    pub fn expire(&mut self, now: Instant) -> Dropped {
        let mut dropped = Dropped::default();
        while let Some(w) = self.queue.get(self.in_flight) {
            if now.saturating_duration_since(w.at) < self.max_age {
                break;
            }
            self.queue.remove(self.in_flight);
            dropped.expired += 1;
        }
        dropped
    }

    /// The next batch to append (at most `max` events, oldest first), marked in flight until
    /// [`Outbox::appended`] or [`Outbox::failed`]. Empty when nothing waits.
    pub fn take_batch(&mut self, max: usize) -> Vec<Outgoing> {
        self.in_flight = self.queue.len().min(max);
        self.queue
            .iter()
            .take(self.in_flight)
            .map(|w| w.event.clone())
            .collect()
    }

    /// The batch in flight was appended: it leaves the outbox.
    pub fn appended(&mut self) -> usize {
        let n = self.in_flight;
        self.queue.drain(..n);
        self.in_flight = 0;
        n
    }

    /// The batch in flight was not appended: it stays at the front, to be tried again.
    pub fn failed(&mut self) {
        self.in_flight = 0;
    }

    /// Events waiting (including the batch in flight).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// How long the oldest event (the batch in flight included) has waited.
    pub fn oldest_age(&self, now: Instant) -> Option<Duration> {
        self.queue
            .front()
            .map(|w| now.saturating_duration_since(w.at))
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Takes everything out (at close, what could not be appended in time).
    pub fn clear(&mut self) -> usize {
        let n = self.queue.len();
        self.queue.clear();
        self.in_flight = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Outgoing {
        Outgoing {
            seq,
            event: format!("e{seq}"),
        }
    }

    fn seqs(batch: &[Outgoing]) -> Vec<u64> {
        batch.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn batches_leave_in_order_and_a_failed_batch_is_retried_first() {
        let now = Instant::now();
        let mut o = Outbox::new(10, Duration::from_secs(60));
        for s in 1..=5 {
            o.push(ev(s), now);
        }
        assert_eq!(seqs(&o.take_batch(3)), vec![1, 2, 3]);
        o.push(ev(6), now);
        o.failed();
        assert_eq!(seqs(&o.take_batch(10)), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(o.appended(), 6);
        assert!(o.is_empty());
    }

    #[test]
    fn the_count_limit_drops_the_oldest_waiting_not_the_batch_in_flight() {
        let now = Instant::now();
        let mut o = Outbox::new(3, Duration::from_secs(60));
        for s in 1..=3 {
            o.push(ev(s), now);
        }
        assert_eq!(seqs(&o.take_batch(2)), vec![1, 2]);
        // 4 pushes 3 (the oldest not in flight) out.
        assert_eq!(o.push(ev(4), now).overflow, 1);
        assert_eq!(o.appended(), 2);
        assert_eq!(seqs(&o.take_batch(10)), vec![4]);
    }

    #[test]
    fn old_events_expire_but_not_in_flight() {
        let t0 = Instant::now();
        let mut o = Outbox::new(10, Duration::from_secs(5));
        o.push(ev(1), t0);
        o.push(ev(2), t0);
        o.push(ev(3), t0 + Duration::from_secs(4));
        assert_eq!(seqs(&o.take_batch(1)), vec![1]);
        assert_eq!(o.expire(t0 + Duration::from_secs(6)).expired, 1);
        o.failed();
        assert_eq!(seqs(&o.take_batch(10)), vec![1, 3]);
        o.failed();
        assert_eq!(o.expire(t0 + Duration::from_secs(6)).expired, 1);
        assert_eq!(o.len(), 1);
        assert_eq!(o.clear(), 1);
    }

    #[test]
    fn the_oldest_waiting_age_counts_the_batch_in_flight() {
        let t0 = Instant::now();
        let mut o = Outbox::new(10, Duration::from_secs(60));
        assert_eq!(o.oldest_age(t0), None);
        o.push(ev(1), t0);
        o.push(ev(2), t0 + Duration::from_secs(1));
        o.take_batch(1);
        assert_eq!(
            o.oldest_age(t0 + Duration::from_secs(3)),
            Some(Duration::from_secs(3))
        );
        o.appended();
        assert_eq!(
            o.oldest_age(t0 + Duration::from_secs(3)),
            Some(Duration::from_secs(2))
        );
    }
}
