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

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::value::RawValue;

use crate::metadata::{now_ms, Metadata};
use crate::store::memory::MemoryStore;
use crate::store::LocalStore;

#[derive(Clone, Debug)]
pub struct FileStoreConfig {
    pub path: PathBuf,
    pub debounce: Duration,
    /// Sessions whose `lastAccessedAt` is older than this are dropped on load.
    pub max_age_ms: f64,
}

/// A disk failure, naming the file and the operation.
#[derive(Debug)]
pub struct FileStoreError {
    pub op: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

impl std::fmt::Display for FileStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} failed: {}",
            self.op,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for FileStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// What loading found, for the caller to report.
#[derive(Debug, Default, PartialEq)]
pub struct LoadReport {
    pub loaded: usize,
    pub dropped_stale: usize,
    /// Where an unparseable file was moved.
    pub moved_corrupt_to: Option<PathBuf>,
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
}

/// An exclusive advisory lock on `<path>.lock`, released when the store is dropped (or the
/// process dies).
struct FileLock {
    _file: File,
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
            return Ok(());
        }
        let snapshot = self.map.snapshot();
        let started = std::time::Instant::now();
        write_atomically(&self.path, &self.tmp_path, &encode(&snapshot))?;
        *saved = target;
        tracing::debug!(
            sessions = snapshot.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sessions saved"
        );
        Ok(())
    }
}

/// Removes `<file>.<pid>.tmp` files left by a process that died during a save. Called with
/// the lock held, so no other process is writing one.
fn remove_stale_temp_files(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let is_temp = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if is_temp {
            match fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::debug!(file = %file_name, "removed a temp file left by an interrupted save")
                }
                Err(e) => {
                    tracing::debug!(file = %file_name, error = %e, "cannot remove a stale temp file")
                }
            }
        }
    }
}

/// How long opening a store waits for another process to release the file.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// `path` with its directory resolved (symlinks, `..`), so two spellings of one file
/// are recognized as one. The file itself may not exist yet.
fn canonical(path: &Path) -> PathBuf {
    match (
        path.parent().filter(|d| !d.as_os_str().is_empty()),
        path.file_name(),
    ) {
        (Some(dir), Some(name)) => fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// An exclusive advisory lock (`flock` on Unix) on `<path>.lock`, waiting up to [`LOCK_WAIT`] for a holder that is
/// exiting. (Stores of this process on the same file share one `Inner`, hence one lock.)
fn acquire_lock(path: &Path) -> Result<FileLock, FileStoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let fail = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| FileStoreError {
            op,
            path: p,
            source,
        }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    private_dir()
        .create(dir)
        .map_err(fail("create directory", dir))?;
    let mut file = private_file()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(fail("open lock file", &lock_path))?;
    // A process that is exiting (a restart that starts the new process first) still holds
    // the lock while it writes its last save: give it a moment before refusing.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        // std's advisory lock: flock(LOCK_EX | LOCK_NB) on Unix, LockFileEx on Windows.
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(err)) => return Err(fail("lock", &lock_path)(err)),
        }
        if std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(25));
            continue;
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() {
            "another process".to_owned()
        } else {
            format!("another process (pid {holder})")
        };
        return Err(fail("lock", &lock_path)(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("the session file is in use by {who}; two stores writing one file would overwrite each other's sessions"),
        )));
    }
    let _ = file
        .set_len(0)
        .and_then(|_| file.write_all(std::process::id().to_string().as_bytes()));
    Ok(FileLock { _file: file })
}

/// `{\n"id":<metadata>,\n...}\n`: one session a line, valid JSON for any reader.
fn encode(snapshot: &[(String, Metadata)]) -> Vec<u8> {
    let size: usize = snapshot.iter().map(|(k, m)| k.len() + m.len() + 8).sum();
    let mut out = Vec::with_capacity(size + 4);
    out.extend_from_slice(b"{");
    for (i, (id, metadata)) in snapshot.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        // Serializing a &str to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, id);
        out.push(b':');
        out.extend_from_slice(metadata.as_json().as_bytes());
    }
    out.extend_from_slice(b"\n}\n");
    out
}

fn write_atomically(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), FileStoreError> {
    let fail = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| FileStoreError {
            op,
            path: p,
            source,
        }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    private_dir()
        .create(dir)
        .map_err(fail("create directory", dir))?;
    let result = (|| {
        let mut file = private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)
            .map_err(fail("create", tmp))?;
        file.write_all(bytes).map_err(fail("write", tmp))?;
        file.sync_all().map_err(fail("fsync", tmp))?;
        drop(file);
        fs::rename(tmp, path).map_err(fail("rename into", path))?;
        // Make the rename itself durable (Unix: fsync of the directory; Windows cannot open
        // a directory as a file, and its rename is durable once it returns).
        #[cfg(unix)]
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail("fsync directory", dir))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

fn load(
    path: &Path,
    max_age_ms: f64,
    now: f64,
) -> Result<(Vec<(String, Metadata)>, LoadReport), FileStoreError> {
    let mut report = LoadReport::default();
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(path = %path.display(), "no session file, starting empty");
            return Ok((Vec::new(), report));
        }
        Err(e) => {
            return Err(FileStoreError {
                op: "read",
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let parsed = match serde_json::from_slice::<Sessions<'_>>(&bytes) {
        Ok(p) => p.0,
        Err(parse_error) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".corrupt-{}", now as u64));
            let aside = PathBuf::from(aside);
            fs::rename(path, &aside).map_err(|source| FileStoreError {
                op: "move aside corrupt",
                path: path.to_path_buf(),
                source,
            })?;
            tracing::warn!(
                path = %path.display(),
                moved_to = %aside.display(),
                error = %parse_error,
                "session file is not a JSON object of sessions; moved it aside and started empty"
            );
            report.moved_corrupt_to = Some(aside);
            return Ok((Vec::new(), report));
        }
    };
    let mut sessions = Vec::with_capacity(parsed.len());
    for (id, raw) in parsed {
        let metadata = Metadata::from_json(minify(raw.get()));
        // As the reference (`now - lastAccessedAt > maxAgeMs` with JS coercion): a session
        // whose timestamp coerces to NaN (missing, non-numeric) is kept.
        if metadata
            .last_accessed_at_coerced()
            .is_some_and(|t| now - t > max_age_ms)
        {
            report.dropped_stale += 1;
            continue;
        }
        sessions.push((id.into_owned(), metadata));
    }
    report.loaded = sessions.len();
    tracing::debug!(path = %path.display(), loaded = report.loaded, dropped = report.dropped_stale, "sessions loaded");
    Ok((sessions, report))
}

/// The top-level object of a session file, borrowed from the file's bytes: one pass, no
/// per-value allocation until the metadata text is stored. Later duplicates of an id win
/// when the sessions are inserted, as with `JSON.parse`.
struct Sessions<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Sessions<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Sessions<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of sessions")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(1024));
                while let Some(entry) =
                    map.next_entry::<std::borrow::Cow<'de, str>, &'de RawValue>()?
                {
                    out.push(entry);
                }
                Ok(Sessions(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Removes insignificant whitespace from valid JSON text (mcp-use writes its file
/// pretty-printed), keeping key order and number spelling.
fn minify(json: &str) -> String {
    if !json
        .bytes()
        .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A recursive directory builder: owner-only (0700) where permissions are Unix modes.
fn private_dir() -> fs::DirBuilder {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

/// Open options for a file only its owner may read (0600) where permissions are Unix modes.
fn private_file() -> OpenOptions {
    #[allow(unused_mut)]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> FileStoreConfig {
        FileStoreConfig {
            path: dir.join("sub/sessions.json"),
            debounce: Duration::from_millis(5),
            max_age_ms: 86_400_000.0,
        }
    }

    fn meta(t: f64) -> Metadata {
        Metadata::from_json(format!(
            r#"{{"lastAccessedAt":{t},"clientInfo":{{"name":"x y"}}}}"#
        ))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn flush_writes_a_0600_json_object_that_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (store, report) = FileStore::open(config(dir.path())).unwrap();
        assert_eq!(report, LoadReport::default());
        store.set("a\"b".into(), meta(now_ms()));
        store.set("c".into(), meta(now_ms()));
        store.flush().await.unwrap();
        let path = dir.path().join("sub/sessions.json");
        let text = fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 2);
        assert_eq!(v["a\"b"]["clientInfo"]["name"], "x y");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(store);
        let (again, report) = FileStore::open(config(dir.path())).unwrap();
        assert_eq!(report.loaded, 2);
        assert_eq!(
            again.get("c"),
            Some(meta(v["c"]["lastAccessedAt"].as_f64().unwrap()))
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn debounced_save_happens_without_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = FileStore::open(config(dir.path())).unwrap();
        store.set("a".into(), meta(now_ms()));
        let path = dir.path().join("sub/sessions.json");
        for _ in 0..200 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert!(v.get("a").is_some());
    }

    #[test]
    fn drops_stale_and_keeps_sessions_without_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let now = now_ms();
        fs::write(
            &path,
            format!(
                r#"{{"old":{{"lastAccessedAt":{}}},"new":{{"lastAccessedAt":{now}}},"none":{{}}}}"#,
                now - 10_000.0
            ),
        )
        .unwrap();
        let cfg = FileStoreConfig {
            path,
            debounce: Duration::from_millis(5),
            max_age_ms: 5_000.0,
        };
        let (store, report) = FileStore::open(cfg).unwrap();
        assert_eq!(report.dropped_stale, 1);
        let mut keys = store.keys();
        keys.sort();
        assert_eq!(keys, vec!["new", "none"]);
    }

    #[test]
    fn corrupt_file_is_moved_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, b"{\"a\": {\"lastAcc").unwrap();
        let cfg = FileStoreConfig {
            path: path.clone(),
            debounce: Duration::from_millis(5),
            max_age_ms: 1e9,
        };
        let (store, report) = FileStore::open(cfg).unwrap();
        assert!(store.is_empty());
        let aside = report.moved_corrupt_to.unwrap();
        assert_eq!(fs::read(&aside).unwrap(), b"{\"a\": {\"lastAcc");
        assert!(aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("s.json.corrupt-"));
        assert!(!path.exists());
    }

    #[test]
    fn non_object_file_counts_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, b"[1,2]").unwrap();
        let cfg = FileStoreConfig {
            path,
            debounce: Duration::from_millis(5),
            max_age_ms: 1e9,
        };
        let (_, report) = FileStore::open(cfg).unwrap();
        assert!(report.moved_corrupt_to.is_some());
    }

    #[test]
    fn unreadable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: read fails with something other than NotFound.
        let path = dir.path().join("s.json");
        fs::create_dir(&path).unwrap();
        let cfg = FileStoreConfig {
            path,
            debounce: Duration::from_millis(5),
            max_age_ms: 1e9,
        };
        let err = FileStore::open(cfg).err().unwrap();
        assert!(err.to_string().contains("s.json"), "{err}");
        assert_eq!(err.op, "read");
    }

    #[test]
    fn reference_pretty_file_loads_minified_with_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let now = now_ms();
        fs::write(&path, format!("{{\n  \"s1\": {{\n    \"zeta\": \"a b\\\" c\",\n    \"lastAccessedAt\": {now}\n  }}\n}}")).unwrap();
        let cfg = FileStoreConfig {
            path,
            debounce: Duration::from_millis(5),
            max_age_ms: 1e9,
        };
        let (store, _) = FileStore::open(cfg).unwrap();
        assert_eq!(
            store.get("s1").unwrap().as_json(),
            format!("{{\"zeta\":\"a b\\\" c\",\"lastAccessedAt\":{now}}}")
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn flush_all_blocking_writes_pending_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FileStoreConfig {
            debounce: Duration::from_secs(3600),
            ..config(dir.path())
        };
        let (store, _) = FileStore::open(cfg).unwrap();
        store.set("pending".into(), meta(now_ms()));
        tokio::task::spawn_blocking(flush_all_blocking)
            .await
            .unwrap();
        let text = fs::read_to_string(dir.path().join("sub/sessions.json")).unwrap();
        assert!(text.contains("\"pending\""));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_flushes_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = FileStore::open(config(dir.path())).unwrap();
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.set(format!("id{i}"), meta(now_ms()));
                s.flush().await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let v: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(dir.path().join("sub/sessions.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(v.as_object().unwrap().len(), 20);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn another_process_is_refused_by_the_lock_and_a_newer_store_takes_over() {
        let dir = tempfile::tempdir().unwrap();
        // (A pending debounced save keeps its store, and so the lock, until it has run.)
        let cfg = FileStoreConfig {
            path: dir.path().join("s.json"),
            debounce: Duration::from_millis(5),
            max_age_ms: 1e9,
        };
        let (first, _) = FileStore::open(cfg.clone()).unwrap();
        first.set("from-first".into(), Metadata::from_json("{}"));
        // Another open file description, as another process would have: refused.
        let other = File::open(dir.path().join("s.json.lock")).unwrap();
        assert!(other.try_lock().is_err(), "the lock is held");
        // Same process: the newer store loads what the older had (written at takeover)...
        let (second, report) = FileStore::open(cfg.clone()).unwrap();
        assert_eq!(report.loaded, 1);
        assert!(second.has("from-first"));
        // ...and the older one no longer writes the file.
        first.set("late-write-of-first".into(), Metadata::from_json("{}"));
        second.set("from-second".into(), Metadata::from_json("{}"));
        flush_all_blocking();
        std::thread::sleep(Duration::from_millis(50)); // the older store's debounced save runs (and skips)
        let saved: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
        let mut keys: Vec<&String> = saved.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["from-first", "from-second"]);
        assert!(other.try_lock().is_err(), "the newer store holds the lock");
        drop(first);
        drop(second);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while other.try_lock().is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the lock must be released with the last store"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn stale_temp_files_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(dir.path().join("s.json.12345.tmp"), b"{partial").unwrap();
        fs::write(dir.path().join("s.json.notes.tmp"), b"keep").unwrap();
        fs::write(dir.path().join("other.json.1.tmp"), b"keep").unwrap();
        let cfg = FileStoreConfig {
            path,
            debounce: Duration::from_millis(5),
            max_age_ms: 1e9,
        };
        let _store = FileStore::open(cfg).unwrap();
        assert!(!dir.path().join("s.json.12345.tmp").exists());
        assert!(dir.path().join("s.json.notes.tmp").exists());
        assert!(dir.path().join("other.json.1.tmp").exists());
    }

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(
            minify("{ \"a b\" : [ 1 , \"x\\\\\" ] }"),
            "{\"a b\":[1,\"x\\\\\"]}"
        );
    }
}
