//! `FileSystemSessionStore`: the in-memory store, persisted to one JSON file.
//!
//! The file is one JSON object `{ "<session id>": <metadata>, ... }`, the format of
//! mcp-use's class, so either can read the other's file. Differences from the reference:
//!
//! - saves run on the shared runtime's blocking pool: the snapshot is a list of shared
//!   pointers taken under the lock, the serialization and I/O happen off the JS thread;
//! - a save writes a temp file created with mode 0600, fsyncs it, renames it over the
//!   file and fsyncs the directory, so a crash leaves either the old or the new file;
//! - saves never overlap (one save lock per store), and `flush` returns only once every
//!   change made before it was called is on disk;
//! - a debounced save happens at most `debounce` after the first unsaved change (the
//!   reference restarts its timer on every change, so a steady stream of writes can
//!   postpone the save indefinitely);
//! - a file that does not parse is moved aside to `<path>.corrupt-<ms>` instead of being
//!   overwritten, and a file that cannot be read is an error rather than a fresh start;
//! - [`flush_all_blocking`] writes every store's unsaved changes; the addon calls it when
//!   the process exits;
//! - an advisory lock (`flock` on `<path>.lock`, held while the store lives) makes a second
//!   process that opens the same file fail with an error naming the holder, instead of two
//!   writers silently overwriting each other. Stores of one process share the lock.
//!
//! Files: this one is the store (the map, the debounced saves, who may write the file,
//! flush); `durable.rs` is the crash-safe write, `load.rs` reads and checks the file,
//! `lock.rs` is the file lock, `saves.rs` counts what the saves went through (`stats()`,
//! `health()`) and `error.rs` is the error they share. None of them imports this one.

mod config;
mod durable;
mod error;
mod load;
mod lock;
mod saves;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::metadata::{now_ms, Metadata};
use crate::metrics::health::{file_health, FileHealth};
use crate::store::memory::{MemoryStats, MemoryStore};
use crate::store::LocalStore;
use load::load;
use lock::{acquire_lock, canonical, FileLock};

use durable::{encode, remove_stale_temp_files, write_atomically};
pub use error::FileStoreError;
pub use load::LoadReport;
pub use saves::SaveStats;
use saves::Saves;

#[derive(Clone, Debug)]
pub struct FileStoreConfig {
    pub path: PathBuf,
    pub debounce: Duration,
    /// Sessions whose `lastAccessedAt` is older than this are dropped on load.
    pub max_age_ms: f64,
}

pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    map: MemoryStore,
    path: PathBuf,
    tmp_path: PathBuf,
    debounce: Duration,
    /// Bumped by every change.
    version: AtomicU64,
    /// The version last written; the lock is held for the whole of a save.
    saved: Mutex<u64>,
    timer_armed: AtomicBool,
    /// The file's lock; handed to a newer store of this process that opens the same file.
    lock: Mutex<Option<FileLock>>,
    /// A newer store of this process took over the file: this one no longer writes it.
    superseded: AtomicBool,
    saves: Saves,
}

static LIVE: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());

/// Writes the unsaved changes of every live file store, blocking. For process exit.
pub fn flush_all_blocking() {
    let live: Vec<Arc<Inner>> = {
        let mut list = LIVE.lock();
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    };
    for inner in live {
        if let Err(e) = inner.save() {
            tracing::error!(error = %e, "saving sessions at exit failed");
        }
    }
}

impl FileStore {
    /// Opens the store, loading the file synchronously.
    ///
    /// If a store of this process already has the file (same canonical path), the newer one
    /// takes over ("latest wins", what a hot reload wants): the older store's unsaved
    /// changes are written first, so the newer one loads them; the lock passes to the
    /// newer store; the older one keeps working in memory but no longer writes the file
    /// (one warning), so two writers never overwrite each other's sessions.
    pub fn open(config: FileStoreConfig) -> Result<(FileStore, LoadReport), FileStoreError> {
        let path = canonical(&config.path);
        let previous = {
            let mut list = LIVE.lock();
            list.retain(|w| w.strong_count() > 0);
            list.iter()
                .filter_map(Weak::upgrade)
                .find(|i| i.path == path && !i.superseded.load(Ordering::SeqCst))
        };
        let lock = match previous {
            Some(previous) => previous.hand_over()?,
            None => acquire_lock(&path)?,
        };
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        remove_stale_temp_files(&path);
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            Inner {
                map: MemoryStore::with_expiry_hook(Box::new(move |_| {
                    if let Some(inner) = weak.upgrade() {
                        inner.changed();
                    }
                })),
                path: path.clone(),
                tmp_path: PathBuf::from(tmp_name),
                debounce: config.debounce,
                version: AtomicU64::new(0),
                saved: Mutex::new(0),
                timer_armed: AtomicBool::new(false),
                lock: Mutex::new(Some(lock)),
                superseded: AtomicBool::new(false),
                saves: Saves::default(),
            }
        });
        let (sessions, report) = load(&path, config.max_age_ms, now_ms())?;
        inner.map.extend(sessions.into_iter());
        LIVE.lock().push(Arc::downgrade(&inner));
        Ok((FileStore { inner }, report))
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Sessions held and expired, and the saves' counters.
    pub fn stats(&self) -> (MemoryStats, SaveStats, u64) {
        let unsaved = self.unsaved();
        (self.inner.map.stats(), self.inner.saves.stats(), unsaved)
    }

    /// Changes not written to the file yet.
    fn unsaved(&self) -> u64 {
        self.inner
            .saves
            .unsaved(self.inner.version.load(Ordering::SeqCst))
    }

    /// Whether the store serves with its file (see [`crate::metrics::health`]).
    pub fn health(&self) -> FileHealth {
        file_health(
            self.inner.map.len() as u64,
            self.unsaved(),
            self.inner.saves.last(),
            self.inner.superseded.load(Ordering::SeqCst),
        )
    }

    /// Writes every change made before the call, off the caller's thread.
    pub async fn flush(&self) -> Result<(), FileStoreError> {
        let inner = self.inner.clone();
        let handle = crate::runtime::handle().map_err(|e| inner.error("save", e))?;
        match handle.spawn_blocking(move || inner.save()).await {
            Ok(result) => result,
            Err(join) => Err(self.inner.error("save", io::Error::other(join.to_string()))),
        }
    }
}

impl LocalStore for FileStore {
    fn get(&self, id: &str) -> Option<Metadata> {
        self.inner.map.get(id)
    }

    fn has(&self, id: &str) -> bool {
        self.inner.map.has(id)
    }

    fn keys(&self) -> Vec<String> {
        self.inner.map.keys()
    }

    fn len(&self) -> usize {
        self.inner.map.len()
    }

    fn set(&self, id: String, metadata: Metadata) {
        self.inner.map.set(id, metadata);
        self.inner.changed();
    }

    /// As the reference: stamps `lastAccessedAt` with the current time, then expires the
    /// session after `ttl` (the deadline is also enforced on the next load by `max_age_ms`).
    fn set_with_ttl(&self, id: String, metadata: Metadata, ttl: Duration) -> io::Result<()> {
        let stamped = metadata.with_last_accessed_at(now_ms());
        self.inner.map.set_with_ttl(id, stamped, ttl)?;
        self.inner.changed();
        Ok(())
    }

    fn delete(&self, id: &str) -> bool {
        let removed = self.inner.map.delete(id);
        if removed {
            self.inner.changed();
        }
        removed
    }

    fn clear(&self) {
        self.inner.map.clear();
        self.inner.changed();
    }
}

impl Inner {
    /// Writes this store's unsaved changes, stops it from writing again and gives up its
    /// lock, for a newer store of this process on the same file.
    fn hand_over(&self) -> Result<FileLock, FileStoreError> {
        self.save()?;
        let _saving = self.saved.lock(); // no save of ours is running past this point
        self.superseded.store(true, Ordering::SeqCst);
        tracing::warn!(
            path = %self.path.display(),
            "a newer FileSystemSessionStore of this process opened this file and takes it over; the older store keeps its sessions in memory but no longer saves them"
        );
        match self.lock.lock().take() {
            Some(lock) => Ok(lock),
            None => acquire_lock(&self.path),
        }
    }

    fn error(&self, op: &'static str, source: io::Error) -> FileStoreError {
        FileStoreError {
            op,
            path: self.path.clone(),
            source,
        }
    }

    /// Records a change and makes sure a save is scheduled within `debounce`.
    fn changed(self: &Arc<Self>) {
        self.version.fetch_add(1, Ordering::SeqCst);
        if self.timer_armed.swap(true, Ordering::SeqCst) {
            return;
        }
        let handle = match crate::runtime::handle() {
            Ok(h) => h,
            Err(e) => {
                self.timer_armed.store(false, Ordering::SeqCst);
                tracing::error!(error = %e, "cannot schedule a session save");
                return;
            }
        };
        let inner = self.clone();
        handle.spawn(async move {
            tokio::time::sleep(inner.debounce).await;
            // Changes from here on schedule another save.
            inner.timer_armed.store(false, Ordering::SeqCst);
            // A failed save (disk full, permissions) is retried with backoff until it
            // succeeds or a newer scheduled save takes over.
            let mut backoff = Duration::from_millis(250);
            loop {
                let saver = inner.clone();
                match tokio::task::spawn_blocking(move || saver.save()).await {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "debounced session save failed"),
                    Err(e) => {
                        tracing::error!(error = %e, path = %inner.path.display(), "session save task failed");
                        return;
                    }
                }
                tokio::time::sleep(backoff).await;
                if inner.timer_armed.load(Ordering::SeqCst) {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        });
    }

    fn save(&self) -> Result<(), FileStoreError> {
        let mut saved = self.saved.lock();
        let target = self.version.load(Ordering::SeqCst);
        if *saved >= target {
            return Ok(());
        }
        if self.superseded.load(Ordering::SeqCst) {
            *saved = target;
            self.saves.skipped(target);
            return Ok(());
        }
        let snapshot = self.map.snapshot();
        let started = std::time::Instant::now();
        let written = write_atomically(&self.path, &self.tmp_path, &encode(&snapshot));
        self.saves.record(target, &written, started.elapsed());
        written?;
        *saved = target;
        tracing::debug!(
            sessions = snapshot.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sessions saved"
        );
        Ok(())
    }
}
