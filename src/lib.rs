//! mcp-sessions-native: the session layer of mcp-use MCP servers in Rust.
//!
//! # Layout
//!
//! Folders by role, each importing only the ones below it:
//!
//! * [`metadata`], [`pending`], [`runtime`], [`config`], [`diagnostics`], [`metrics`]: what
//!   everything shares: session metadata as JSON text, the store-and-forward limits and
//!   queues, the one tokio runtime, a class's options as plain values (and their checks),
//!   logging, and what the classes report about themselves (counters, health, Prometheus).
//! * [`store`]: the three session stores.
//! * [`stream`]: stream routing, in one process and across a fleet over Redis.
//! * [`redis`]: what the Redis classes need from Redis, as two traits; their native
//!   implementation is `redis::native`, split into reaching Redis (`conn`) and what to ask it
//!   (`ops`).
//! * `node` (feature `node`): the napi shell. It converts arguments and results around the
//!   core and holds no rule of its own.
//!
//! The core knows nothing of Node and is tested with `cargo test`. `docs/architecture.md`
//! names every file and its job.

pub mod config;
pub mod diagnostics;
pub mod metadata;
pub mod metrics;
pub mod pending;
pub mod redis;
pub mod runtime;
pub mod store;
pub mod stream;

#[cfg(feature = "node")]
mod node;
