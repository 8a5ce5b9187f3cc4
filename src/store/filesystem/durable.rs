//! The durable write: a save writes a 0600 temp file, fsyncs it, renames it over the file and
//! fsyncs the directory, so a crash leaves the old file or the new one; temp files a crashed
//! save left are removed on open.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::error::{fail, FileStoreError};
use crate::metadata::Metadata;

/// Removes `<file>.<pid>.tmp` files left by a process that died during a save. Called with
/// the lock held, so no other process is writing one.
pub(super) fn remove_stale_temp_files(path: &Path) {
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

/// `{\n"id":<metadata>,\n...}\n`: one session a line, valid JSON for any reader.
pub(super) fn encode(snapshot: &[(String, Metadata)]) -> Vec<u8> {
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

pub(super) fn write_atomically(
    path: &Path,
    tmp: &Path,
    bytes: &[u8],
) -> Result<(), FileStoreError> {
    let dir = create_parent_dir(path)?;
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

/// A recursive directory builder: owner-only (0700) where permissions are Unix modes.
/// Creates the directory of `path` (owner-only where modes are Unix's) and returns it.
pub(super) fn create_parent_dir(path: &Path) -> Result<&Path, FileStoreError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    private_dir()
        .create(dir)
        .map_err(fail("create directory", dir))?;
    Ok(dir)
}

fn private_dir() -> fs::DirBuilder {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

/// Open options for a file only its owner may read (0600) where permissions are Unix modes.
pub(super) fn private_file() -> OpenOptions {
    #[allow(unused_mut)]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}
