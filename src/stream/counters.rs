//! What both stream managers count about messages and streams, beyond store-and-forward's own
//! counters ([`crate::pending::PendingStats`]): messages given to `send`, messages handed to
//! a stream held here, and streams let go of because a write to them failed.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::pending::PendingStats;

/// The counters, updated from any thread.
#[derive(Debug, Default)]
pub struct StreamCounters {
    sent: AtomicU64,
    delivered: AtomicU64,
    streams_dropped: AtomicU64,
}

/// A manager's counters and gauges, read at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Streams held here now.
    pub streams: u64,
    /// Messages given to `send`: one per listed session, one per broadcast.
    pub sent: u64,
    /// Messages handed to a stream held here (replays of kept messages included).
    pub delivered: u64,
    /// Streams let go of because a write to them failed (the client left, or stopped
    /// reading).
    pub streams_dropped: u64,
    /// Store-and-forward: kept, replayed, expired, dropped.
    pub pending: PendingStats,
}

impl StreamCounters {
    /// A send to `ids` (`None`: a broadcast, one message).
    pub fn sent(&self, ids: Option<&[String]>) {
        let n = ids.map_or(1, <[String]>::len) as u64;
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    pub fn delivered(&self, n: usize) {
        self.delivered.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn stream_dropped(&self) {
        self.streams_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, with the number of streams held now and the store-and-forward counters.
    pub fn stats(&self, streams: usize, pending: PendingStats) -> StreamStats {
        StreamStats {
            streams: streams as u64,
            sent: self.sent.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            streams_dropped: self.streams_dropped.load(Ordering::Relaxed),
            pending,
        }
    }
}
