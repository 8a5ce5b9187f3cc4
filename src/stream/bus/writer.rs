//! The writer task: appends what the outbox holds, in batches and in order, and retries with
//! backoff while Redis fails. One task per bus, so batches never overlap and the log holds
//! each publisher's events in publish order.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::status::Counters;
use super::Inner;

/// Most events per append script: large enough that a burst costs few round trips, small
/// enough that one script never holds Redis long (about 1 µs of work per event).
const MAX_APPEND: usize = 512;
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub(super) async fn writer_loop(inner: Arc<Inner>) {
    let mut backoff = MIN_BACKOFF;
    // Whether the last append failed: warn once per outage, not per retry.
    let mut failing = false;
    loop {
        let batch = {
            let mut guard = inner.outbox.lock();
            let dropped = guard.0.expire(Instant::now());
            Counters::add(&inner.counters.outbox_expired, dropped.expired);
            if dropped.expired > 0 {
                tracing::warn!(
                    expired = dropped.expired,
                    "event bus: events waited in the outbox longer than outboxMaxAgeMs and were dropped"
                );
            }
            guard.0.take_batch(MAX_APPEND)
        };
        if batch.is_empty() {
            if inner.closed.load(Ordering::Acquire) {
                return;
            }
            inner.wake.notified().await;
            continue;
        }
        let result = inner
            .log
            .append(&inner.names, inner.options.retention, &inner.origin, &batch)
            .await;
        match result {
            Ok(()) => {
                let n = inner.outbox.lock().0.appended();
                Counters::add(&inner.counters.appended, n as u64);
                if failing {
                    tracing::info!(
                        appended = n,
                        "event bus: Redis takes appends again; the outbox is being flushed"
                    );
                }
                failing = false;
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                inner.outbox.lock().0.failed();
                Counters::add(&inner.counters.append_failures, 1);
                if !failing {
                    tracing::warn!(error = %e, "event bus: append failed; events wait in the outbox and are retried");
                }
                failing = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
