//! What a disk operation of the file store fails with.

use std::io;
use std::path::{Path, PathBuf};

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

/// Turns an I/O error of `op` on `path` into a [`FileStoreError`] (for `map_err`).
pub(super) fn fail(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FileStoreError {
    let path = path.to_path_buf();
    move |source| FileStoreError { op, path, source }
}
