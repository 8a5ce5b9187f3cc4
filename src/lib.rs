//! mcp-sessions-native: the session layer of mcp-use MCP servers in Rust.
//!
//! The core (`metadata`, `store`, `stream`, `redis`) is plain Rust and knows nothing of
//! Node; `node` is the napi shell that checks arguments and converts values.

pub mod config;
pub mod diagnostics;
pub mod metadata;
pub mod pending;
pub mod redis;
pub mod runtime;
pub mod store;
pub mod stream;

#[cfg(feature = "node")]
mod node;
