//! The napi shell: one file per exported class, converting arguments and results around the
//! core, plus what they share. Nothing here talks to Redis or the disk itself.
//!
//! * `js/`: JS plumbing (values, raw N-API parts, arguments, the completion queue, promises,
//!   stream controllers, exit hooks);
//! * `redis/`: what the two Redis classes share (driver choice, client options, errors, the
//!   driven-client implementation, inbound messages);
//! * `local_store.rs`: the methods the two local session stores share;
//! * `report.rs`: `stats()` and `health()` as JS objects; `prometheus.rs`:
//!   `renderPrometheus`;
//! * one file per class: `memory_session_store.rs`, `file_session_store.rs`,
//!   `redis_session_store.rs`, `memory_stream_manager.rs`, `redis_stream_manager.rs`,
//!   `redis_server_event_bus.rs`.

// `report` first: napi-derive names a method's return type in index.d.ts by the `js_name` of
// an object type it has already seen, and by its Rust name otherwise.
mod report;

mod file_session_store;
mod js;
mod local_store;
mod memory_session_store;
mod memory_stream_manager;
// napi-derive registers a free function only outside `cfg(test)`: unused in test builds.
#[cfg_attr(test, allow(dead_code))]
mod prometheus;
mod redis;
mod redis_server_event_bus;
mod redis_session_store;
mod redis_stream_manager;

/// Process-wide set-up, run by every constructor: diagnostics.
fn init() {
    crate::diagnostics::init();
}
