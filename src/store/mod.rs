//! Session metadata stores. Metadata is held as the JSON text `JSON.stringify` produced.

pub mod filesystem;
pub mod memory;
pub mod redis;
