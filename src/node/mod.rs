//! The napi shell: one file per exported class, plus the helpers they share. Nothing here
//! talks to Redis or the disk directly; it checks arguments, converts values and calls the
//! core.

mod args;
mod bus_listeners;
mod completion;
mod controllers;
mod event_bus;
mod exit;
mod file_store;
mod js;
mod local_store;
mod memory_store;
mod memory_stream;
mod promise;
mod raw;
mod redis_client;
mod redis_driver;
mod redis_inbound;
mod redis_store;
mod redis_stream;

/// Process-wide set-up, run by every constructor: diagnostics.
fn init() {
    crate::diagnostics::init();
}
