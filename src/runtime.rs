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
        // One worker: every Redis command goes JS thread -> worker -> JS thread, and a second
        // worker only adds hand-offs between workers (measured with bench/: sequential get
        // p50 1.2x -> 0.93x of node-redis, cross-instance latency p50 1.3x -> 0.92x).
        // Disk writes run on the blocking pool, not on the worker.
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mcp-sessions")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match runtime {
        Ok(rt) => Ok(rt.handle().clone()),
        Err(e) => Err(std::io::Error::other(format!(
            "cannot start the tokio runtime: {e}"
        ))),
    }
}
