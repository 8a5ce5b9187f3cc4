//! What the saves of a file store went through, for `stats()` and `health()`: how many
//! succeeded and failed, how long they took, the last one's outcome, and which change the
//! file holds (read without the save lock, which a long save holds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::error::FileStoreError;
use crate::metadata::now_ms;
use crate::metrics::health::SaveRecord;
use crate::metrics::histogram::{LatencyHistogram, LatencySnapshot};

#[derive(Debug, Default)]
pub(super) struct Saves {
    succeeded: AtomicU64,
    failed: AtomicU64,
    latency: LatencyHistogram,
    /// The change count the file holds (the store's version when its last good save began).
    saved_version: AtomicU64,
    last: Mutex<Option<SaveRecord>>,
}

/// The save counters, read at once.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveStats {
    pub saves: u64,
    pub save_errors: u64,
    pub latency: LatencySnapshot,
}

impl Saves {
    /// A save of `version` that took `elapsed` and ended with `result`.
    pub(super) fn record(
        &self,
        version: u64,
        result: &Result<(), FileStoreError>,
        elapsed: Duration,
    ) {
        self.latency.record(elapsed);
        let error = match result {
            Ok(()) => {
                self.succeeded.fetch_add(1, Ordering::Relaxed);
                self.saved_version.fetch_max(version, Ordering::AcqRel);
                None
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                Some(e.to_string())
            }
        };
        *self.last.lock() = Some(SaveRecord {
            at: now_ms(),
            error,
        });
    }

    /// Nothing to write up to `version` (a store that no longer writes the file).
    pub(super) fn skipped(&self, version: u64) {
        self.saved_version.fetch_max(version, Ordering::AcqRel);
    }

    /// Changes made (up to `version`) that the file does not hold.
    pub(super) fn unsaved(&self, version: u64) -> u64 {
        version.saturating_sub(self.saved_version.load(Ordering::Acquire))
    }

    pub(super) fn last(&self) -> Option<SaveRecord> {
        self.last.lock().clone()
    }

    pub(super) fn stats(&self) -> SaveStats {
        SaveStats {
            saves: self.succeeded.load(Ordering::Relaxed),
            save_errors: self.failed.load(Ordering::Relaxed),
            latency: self.latency.snapshot(),
        }
    }
}
