//! The command connection: a cloneable, multiplexed, reconnecting [`Connection`], every
//! operation bounded in time, and how redis-rs errors become [`RedisError`]s.

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::FromRedisValue;

use super::settings::RedisSettings;
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

/// A cloneable multiplexed command connection that reconnects by itself.
///
/// Every operation is bounded by [`RedisSettings::command_timeout`].
#[derive(Clone)]
pub struct Connection {
    manager: ConnectionManager,
    command_timeout: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// Runs `fut` under `limit`, mapping both failure kinds to [`RedisError`].
pub(super) async fn bounded<T, F>(
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

impl Connection {
    /// The overall per-operation limit.
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Runs one command. `what` describes it for the error message (evaluated only on error).
    pub async fn query<T: FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        what: impl FnOnce() -> String,
    ) -> Result<T> {
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { cmd.query_async(&mut conn).await },
            what,
        )
        .await
    }

    /// Runs a pipeline in one round trip.
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        what: impl FnOnce() -> String,
    ) -> Result<T> {
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { pipe.query_async(&mut conn).await },
            what,
        )
        .await
    }

    /// Runs a Lua script (EVALSHA, falling back to EVAL when Redis does not know it yet).
    pub async fn invoke_script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        what: impl FnOnce() -> String,
    ) -> Result<T> {
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { invocation.invoke_async(&mut conn).await },
            what,
        )
        .await
    }

    /// `PING`: checks that Redis answers.
    pub async fn ping(&self) -> Result<()> {
        let _: String = self
            .query(&redis::cmd("PING"), || "PING".to_string())
            .await?;
        Ok(())
    }
}

pub(super) fn spawn_context() -> Result<tokio::runtime::Handle> {
    crate::runtime::handle()
        .map_err(|e| RedisError::new(RedisErrorKind::Config, "connection setup", e.to_string()))
}

/// Connects and waits until the first connection answers `PING` (at most
/// [`RedisSettings::command_timeout`]).
pub async fn connect(settings: &RedisSettings) -> Result<Connection> {
    let conn = connect_lazy(settings)?;
    conn.ping().await.map_err(|e| {
        RedisError::new(
            e.kind(),
            format!("connect to {}", settings.redacted_url()),
            e.detail().to_owned(),
        )
    })?;
    Ok(conn)
}

/// Creates the connection without waiting for it: the first command connects. Works outside a
/// tokio runtime (the shared runtime of [`crate::runtime`] is used).
pub fn connect_lazy(settings: &RedisSettings) -> Result<Connection> {
    let client = settings.client()?;
    let handle = spawn_context()?;
    let _guard = handle.enter();
    let manager = ConnectionManager::new_lazy_with_config(client, settings.manager_config())
        .map_err(|e| {
            RedisError::from_redis(format!("connect to {}", settings.redacted_url()), &e)
        })?;
    Ok(Connection {
        manager,
        command_timeout: settings.command_timeout,
    })
}
