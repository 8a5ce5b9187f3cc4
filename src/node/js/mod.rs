//! JS plumbing the classes share, knowing nothing of sessions or Redis: values through
//! napi-rs's handles (`values.rs`, with the few raw N-API calls in `raw.rs`), argument checks
//! (`args.rs`), configs read as plain values (`config.rs`), the completion queue that brings results back to the JS thread (`queue.rs`),
//! promises (`promise.rs`), values held from any thread (`shared_ref.rs`), stream
//! controllers (`controller.rs`), the process-exit hooks (`exit.rs`) and listener sets with
//! an `EventTarget`-like dispatch (`listeners.rs`).

pub mod args;
pub mod config;
pub mod controller;
pub mod exit;
pub mod listeners;
pub mod promise;
#[cfg(feature = "napi-async")]
mod promise_napi;
pub mod queue;
mod raw;
pub mod shared_ref;
mod values;

pub use values::*;
