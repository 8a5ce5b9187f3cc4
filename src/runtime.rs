//! The process's one tokio runtime.
//!
//! Every timer (TTL sweeps, debounced saves, heartbeats) and all Redis and disk I/O run
//! here, on threads Node does not know about, so none of them keeps the Node process alive.

use std::sync::OnceLock;
use tokio::runtime::{Handle, Runtime};

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Handle to the shared runtime, created on first use.
///
/// Inside a runtime already (a `#[tokio::test]`, say) the current one is used instead, so
/// the core can be tested without the global runtime.
pub fn handle() -> std::io::Result<Handle> {
    if let Ok(current) = Handle::try_current() {
        return Ok(current);
    }
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mcp-sessions")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(rt) => Ok(rt.handle().clone()),
        Err(e) => Err(std::io::Error::other(format!("cannot start the tokio runtime: {e}"))),
    }
}
