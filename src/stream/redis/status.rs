//! What the manager reports about itself: `stats()` (its streams and messages, and both
//! connections' counters), `health()` (see [`crate::metrics::health`]) and `ready()` (both
//! connections answer a PING).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{closed_error, RedisStreamManager};
use crate::metrics::connection::ConnectionStats;
use crate::metrics::health::{redis_health, RedisHealth};
use crate::redis::ready::{probe_commands, probe_subscriber, ready};
use crate::redis::Result;
use crate::stream::counters::StreamStats;

/// A manager's counters, read at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerStats {
    pub streams: StreamStats,
    pub commands: ConnectionStats,
    pub subscriber: ConnectionStats,
}

impl RedisStreamManager {
    pub fn stats(&self) -> ManagerStats {
        let inner = &self.inner;
        ManagerStats {
            streams: inner.streams.stats(self.local_len(), inner.counters.get()),
            commands: inner.commands_meter.stats(),
            subscriber: inner.subscriber_meter.stats(),
        }
    }

    /// `down` when the command connection does not reach Redis (or the manager is closed),
    /// `degraded` when only the subscriber does not. An idle connection gets a PING in the
    /// background, whose outcome the next call reports.
    pub fn health(&self) -> RedisHealth {
        let inner = &self.inner;
        let closed = inner.closed.load(Ordering::Acquire);
        if !closed {
            probe_commands(&inner.commands_meter, &inner.conn);
            probe_subscriber(&inner.subscriber_meter, &inner.subscriber);
        }
        redis_health(
            inner.commands_meter.health(),
            Some(inner.subscriber_meter.health()),
            closed,
        )
    }

    /// Resolves once both connections answer a PING, trying until `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(closed_error("PING".to_owned()));
        }
        ready(
            inner.conn.as_ref(),
            Some(inner.subscriber.as_ref()),
            timeout,
        )
        .await
    }
}
