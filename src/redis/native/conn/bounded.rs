//! What bounds every operation of the native connections: redis-rs errors as
//! [`RedisError`]s, a time limit on each operation, and the runtime their background tasks
//! run on.

use std::time::Duration;

use crate::redis::{RedisError, RedisErrorKind, Result};

impl RedisError {
    /// Wraps a redis-rs error.
    pub fn from_redis(operation: impl Into<String>, err: &redis::RedisError) -> Self {
        let kind = if err.is_timeout() {
            RedisErrorKind::Timeout
        } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
            RedisErrorKind::Connection
        } else {
            match err.kind() {
                redis::ErrorKind::InvalidClientConfig => RedisErrorKind::Config,
                redis::ErrorKind::UnexpectedReturnType | redis::ErrorKind::Parse => {
                    RedisErrorKind::Protocol
                }
                redis::ErrorKind::Io => RedisErrorKind::Connection,
                _ => RedisErrorKind::Server,
            }
        };
        Self::new(kind, operation, err.to_string())
    }
}

/// Runs `fut` under `limit`, mapping both failure kinds to [`RedisError`].
pub(in crate::redis::native) async fn bounded<T, F>(
    limit: Duration,
    fut: F,
    what: impl FnOnce() -> String,
) -> Result<T>
where
    F: std::future::Future<Output = redis::RedisResult<T>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(RedisError::from_redis(what(), &e)),
        Err(_) => Err(RedisError::new(
            RedisErrorKind::Timeout,
            what(),
            format!(
                "no answer within {} ms (Redis unreachable or busy)",
                limit.as_millis()
            ),
        )),
    }
}

/// The runtime the connections' background tasks (push forwarding, failover watches) run on.
pub(super) fn spawn_context() -> Result<tokio::runtime::Handle> {
    crate::runtime::handle()
        .map_err(|e| RedisError::new(RedisErrorKind::Config, "connection setup", e.to_string()))
}
