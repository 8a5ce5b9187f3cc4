//! Redis for the Redis-backed store and stream manager (plain Rust, no Node).
//!
//! * [`backend`]: the two traits the classes are written against, [`Commands`] and
//!   [`PubSub`], with the batch type [`Write`].
//! * [`native`]: their implementation on the redis crate (the fast path).
//! * The other implementation drives a user's client object; it lives in the bindings
//!   (`src/node/redis_driver/`), which know Node but not the redis crate.
//! * [`RedisError`]: what any of them fails with; the message names Redis, the operation
//!   and the cause.
//! * [`slot`]: Redis Cluster hash slots of keys.
//! * [`metered`]: both traits measured at the boundary (operations, errors, latency, up/down),
//!   around whichever backend a class got; [`ready`]: PINGs on purpose (`ready()`, and the
//!   one `health()` sends on an idle connection).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

pub mod backend;
pub mod config;
pub mod event_log;
pub mod fallback;
pub mod metered;
pub mod native;
pub mod ready;
pub mod slot;

pub use backend::{
    scan_all, Beat, BoxFuture, Commands, Describe, HandOver, Liveness, PendingKeys, PruneOutcome,
    PruneStep, PubSub, PubSubEvent, Taken, TakenMessage, Write, HANDBACK_TTL_SECS,
    HANDOVER_MARK_SECS, JOURNAL_MAX, JOURNAL_TAG, JOURNAL_TTL_SECS,
};
pub use native::*;

/// What kind of failure a [`RedisError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisErrorKind {
    /// The settings are unusable (bad URL, TLS not available, ...).
    Config,
    /// No connection to Redis could be used (refused, reset, DNS, TLS handshake, ...).
    Connection,
    /// The command did not complete within the configured time.
    Timeout,
    /// Redis answered with an error reply (wrong type, NOSCRIPT, auth, ...).
    Server,
    /// Redis answered with something this crate did not expect.
    Protocol,
    /// The object was closed; it issues no more Redis commands.
    Closed,
    /// The backend cannot do this: a driven client object lacks the method (`publish`,
    /// `subscribe`, ...), or has no server-side scripts.
    Unsupported,
    /// A driven client object threw or rejected; [`RedisError::cause`] holds what it threw.
    Client,
}

/// What a driven client object threw, kept so the bindings can re-throw that very value.
/// Opaque to the core.
pub type Cause = Arc<dyn Any + Send + Sync>;

/// A failed Redis operation. The message names Redis, the operation and the cause, e.g.
/// `Redis SET mcp:session:abc failed: connection refused`.
#[derive(Clone)]
pub struct RedisError {
    kind: RedisErrorKind,
    operation: String,
    detail: String,
    cause: Option<Cause>,
}

impl fmt::Debug for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisError")
            .field("kind", &self.kind)
            .field("operation", &self.operation)
            .field("detail", &self.detail)
            .field("cause", &self.cause.is_some())
            .finish()
    }
}

impl RedisError {
    /// Builds an error for `operation` (e.g. `"GET mcp:session:abc"`).
    pub fn new(
        kind: RedisErrorKind,
        operation: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation: operation.into(),
            detail: detail.into(),
            cause: None,
        }
    }

    /// The same error, carrying what a driven client threw.
    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// What a driven client threw, if that is what failed.
    pub fn cause(&self) -> Option<&Cause> {
        self.cause.as_ref()
    }

    /// The cause as text, without the operation.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The kind of failure.
    pub fn kind(&self) -> RedisErrorKind {
        self.kind
    }

    /// The operation that failed, e.g. `"SET mcp:session:abc"`.
    pub fn operation(&self) -> &str {
        &self.operation
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis {} failed: {}", self.operation, self.detail)
    }
}

impl std::error::Error for RedisError {}

/// Result of the Redis core.
pub type Result<T, E = RedisError> = std::result::Result<T, E>;

/// Escapes the glob characters of Redis patterns (`* ? [ ] \`) so `s` matches only itself in
/// `SCAN MATCH` / `KEYS` patterns.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escape_escapes_all_special_chars() {
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
        assert_eq!(glob_escape("mcp:session:"), "mcp:session:");
    }
}
