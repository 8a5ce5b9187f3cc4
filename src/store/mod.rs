//! Session metadata stores. Metadata is held as the JSON text `JSON.stringify` produced.

pub mod filesystem;
pub mod memory;
pub mod redis;

use std::time::Duration;

use crate::metadata::Metadata;

/// The synchronous session map behind `InMemorySessionStore` and `FileSystemSessionStore`
/// (the file store is the memory store plus persistence); the napi layer serves both
/// classes through it.
pub trait LocalStore {
    fn get(&self, id: &str) -> Option<Metadata>;
    fn has(&self, id: &str) -> bool;
    /// Stores `metadata` with no expiry (clearing any earlier deadline of `id`).
    fn set(&self, id: String, metadata: Metadata);
    /// Stores `metadata` and expires it after `ttl`, replacing any earlier deadline.
    fn set_with_ttl(&self, id: String, metadata: Metadata, ttl: Duration) -> std::io::Result<()>;
    /// Whether `id` was present.
    fn delete(&self, id: &str) -> bool;
    fn keys(&self) -> Vec<String>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn clear(&self);
}
