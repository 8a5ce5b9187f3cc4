//! The napi shell: one file per exported class, plus the helpers they share. Nothing here
//! talks to Redis or the disk directly; it checks arguments, converts values and calls the
//! core.

mod args;
mod completion;
mod controllers;
mod file_store;
mod js;
mod memory_store;
mod memory_stream;
mod redis_client;
mod redis_store;
mod redis_stream;

use std::sync::Once;

/// Process-wide set-up, run by every constructor: diagnostics.
fn init() {
    crate::diagnostics::init();
}

/// Makes sure unsaved file-store changes are written when the process exits normally
/// (end of the event loop or `process.exit()`), via the C `atexit` list.
fn flush_file_stores_at_exit(_env: &napi::Env) {
    static REGISTERED: Once = Once::new();
    extern "C" fn at_exit() {
        crate::store::filesystem::flush_all_blocking();
    }
    REGISTERED.call_once(|| unsafe {
        libc::atexit(at_exit);
    });
}
