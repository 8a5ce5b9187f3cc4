//! What the bus reports about itself, as the other Redis classes do: `stats()` (its event
//! counters and both connections' counters), `health()` (the Redis classes' rule and the
//! bus's own reasons, [`crate::metrics::health::bus_health`]) and `ready()` (both connections
//! answer a PING). The connections are measured where the bus wraps its backends
//! ([`crate::redis::metered`]); the event counters are kept by its tasks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::EventBus;
use crate::metrics::connection::ConnectionStats;
use crate::metrics::health::{bus_health, BusHealth};
use crate::redis::ready::{probe_log, probe_subscriber, ready_when};
use crate::redis::{RedisError, RedisErrorKind, Result};

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

/// A snapshot of the event counters and gauges.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventStats {
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
    /// Events published after `close`, or still in the outbox when `close` gave up waiting
    /// for Redis.
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

/// A bus's counters, read at once: its events, and its two connections as the other Redis
/// classes report theirs.
#[derive(Debug, Clone, PartialEq)]
pub struct BusStats {
    pub events: EventStats,
    /// The connection the log is written and read through.
    pub commands: ConnectionStats,
    pub subscriber: ConnectionStats,
}

impl EventBus {
    /// A snapshot of the counters.
    pub fn stats(&self) -> BusStats {
        let inner = &self.inner;
        let c = &inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BusStats {
            events: EventStats {
                published: get(&c.published),
                appended: get(&c.appended),
                append_failures: get(&c.append_failures),
                delivered_local: get(&c.delivered_local),
                received_remote: get(&c.received_remote),
                replayed: get(&c.replayed),
                duplicates_skipped: get(&c.duplicates_skipped),
                lost: get(&c.lost),
                outbox_dropped: get(&c.outbox_dropped),
                outbox_expired: get(&c.outbox_expired),
                unsent_at_close: get(&c.unsent_at_close),
                listener_errors: get(&c.listener_errors),
                catch_ups: get(&c.catch_ups),
                malformed: get(&c.malformed),
                outbox: inner.outbox.lock().0.len() as u64,
                origins: get(&inner.origins),
            },
            commands: inner.commands_meter.stats(),
            subscriber: inner.subscriber_meter.stats(),
        }
    }

    /// `down` only when the bus is closed; `degraded` when a connection does not reach Redis
    /// (or not yet), events have waited [`crate::metrics::health::OUTBOX_LATE`] to be
    /// appended, or the bus is pub/sub only ([`bus_health`]). An idle connection gets a PING
    /// in the background, whose outcome the next call reports (the bus's own idle check runs
    /// only every `healthIntervalMs`).
    pub fn health(&self) -> BusHealth {
        let inner = &self.inner;
        let closed = inner.closed.load(Ordering::Acquire);
        if !closed {
            probe_log(&inner.commands_meter, &inner.log);
            probe_subscriber(&inner.subscriber_meter, &inner.subscriber);
        }
        let (waiting, oldest) = {
            let outbox = inner.outbox.lock();
            (outbox.0.len() as u64, outbox.0.oldest_age(Instant::now()))
        };
        bus_health(
            inner.commands_meter.health(),
            inner.subscriber_meter.health(),
            closed,
            inner.log.retains(),
            waiting,
            oldest,
        )
    }

    /// Resolves once both connections answer a PING, trying until `timeout`. A closed bus
    /// fails at once.
    pub fn ready(
        &self,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            if inner.closed.load(Ordering::Acquire) {
                return Err(RedisError::new(
                    RedisErrorKind::Closed,
                    "PING",
                    "the event bus is closed",
                ));
            }
            let (log, subscriber) = (&inner.log, &inner.subscriber);
            ready_when(
                || async move {
                    log.ping().await?;
                    subscriber.ping().await
                },
                timeout,
            )
            .await
        }
    }
}
