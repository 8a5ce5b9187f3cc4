//! Stream routing: which sessions have a live SSE stream, and how messages reach them.

pub mod bus;
pub mod counters;
pub mod handover;
pub mod local;
pub mod memory;
pub mod redis;
