//! The file's advisory lock (`<path>.lock`, std's `File::try_lock`: `flock` on Unix,
//! `LockFileEx` on Windows): a second process that opens the same file fails with an error
//! naming the holder instead of overwriting its sessions.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::durable::{create_parent_dir, private_file};
use super::error::fail;
use super::error::FileStoreError;

/// An exclusive advisory lock on `<path>.lock`, released when the store is dropped (or the
/// process dies).
pub(super) struct FileLock {
    _file: File,
}

/// How long opening a store waits for another process to release the file.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// `path` with its directory resolved (symlinks, `..`), so two spellings of one file
/// are recognized as one. The file itself may not exist yet.
pub(super) fn canonical(path: &Path) -> PathBuf {
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
pub(super) fn acquire_lock(path: &Path) -> Result<FileLock, FileStoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    create_parent_dir(path)?;
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
