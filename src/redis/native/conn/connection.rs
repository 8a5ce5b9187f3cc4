//! The command connection: a cloneable, multiplexed, reconnecting [`Connection`], every
//! operation bounded in time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::cluster_async::ClusterConnection;
use redis::FromRedisValue;

use super::bounded::bounded;
use super::lazy::LazyLink;
use super::link::{Conn, Link};
use super::settings::{Deployment, RedisSettings};
use crate::redis::{RedisError, Result};

/// A cloneable multiplexed command connection that reconnects by itself: to one node, to a
/// Redis Cluster or to the primary of a Sentinel group (see `lazy.rs`), opened on first use.
///
/// Every operation is bounded by [`RedisSettings::command_timeout`].
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    command_timeout: Duration,
}

struct Shared {
    link: LazyLink,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.shared.link.settings().redacted_url())
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

impl Connection {
    /// The overall per-operation limit.
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// The link, opened on first use (a failed opening is tried again by the next call).
    async fn link(&self, what: impl FnOnce() -> String) -> Result<Link> {
        self.shared.link.get(self.command_timeout, what).await
    }

    /// The Cluster connection when the link (opened on first use) is a Redis Cluster;
    /// `None` on one node or a Sentinel primary.
    pub(in crate::redis::native) async fn cluster(
        &self,
        what: impl FnOnce() -> String,
    ) -> Result<Option<ClusterConnection>> {
        Ok(self.link(what).await?.cluster().cloned())
    }

    /// Reports a failed operation (a cluster link that lost a node is opened again).
    pub(in crate::redis::native) fn failed<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.shared.link.failed(e);
        }
        result
    }

    /// Whether this connection's SPUBLISH / SSUBSCRIBE setting applies: on a cluster, with
    /// [`RedisSettings::sharded_pub_sub`].
    pub(in crate::redis::native) fn sharded(&self) -> bool {
        self.shared.link.settings().sharded_pub_sub
    }

    /// Runs `f` on the link within the time limit; a failure is reported to the link.
    async fn on_link<T, F, Fut>(
        &self,
        idempotent: bool,
        what: impl FnOnce() -> String + Clone,
        f: F,
    ) -> Result<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let link = self.link(what.clone()).await?;
        let result = bounded(self.command_timeout, link.run(idempotent, f), what).await;
        self.failed(result)
    }

    /// Runs one command. `what` describes it for the error message (evaluated only on error).
    pub async fn query<T: FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        what: impl FnOnce() -> String + Clone,
    ) -> Result<T> {
        self.on_link(idempotent(cmd), what, |mut conn| async move {
            cmd.query_async(&mut conn).await
        })
        .await
    }

    /// Runs a pipeline in one round trip (on a cluster, its commands must share a slot).
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        what: impl FnOnce() -> String + Clone,
    ) -> Result<T> {
        self.on_link(false, what, |mut conn| async move {
            pipe.query_async(&mut conn).await
        })
        .await
    }

    /// Runs a Lua script (EVALSHA, falling back to EVAL when Redis does not know it yet).
    pub async fn invoke_script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        what: impl FnOnce() -> String + Clone,
    ) -> Result<T> {
        self.on_link(false, what, |mut conn| async move {
            invocation.invoke_async(&mut conn).await
        })
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

/// Whether `cmd` may run twice without harm: anything but a publish (the writes this crate
/// sends alone are SET, DEL, UNLINK, EXPIRE, SADD, SREM).
fn idempotent(cmd: &redis::Cmd) -> bool {
    !matches!(
        cmd.args_iter().next(),
        Some(redis::Arg::Simple(name)) if name.eq_ignore_ascii_case(b"PUBLISH") || name.eq_ignore_ascii_case(b"SPUBLISH")
    )
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

/// Creates the connection without waiting for it: the first command connects (and finds out
/// whether a single address is a cluster node). Works outside a tokio runtime.
pub fn connect_lazy(settings: &RedisSettings) -> Result<Connection> {
    if let Deployment::Node = settings.deployment()? {
        settings.client()?; // a URL that does not parse fails here, not on first use
    }
    Ok(Connection {
        shared: Arc::new(Shared {
            link: LazyLink::new(settings.clone(), None),
        }),
        command_timeout: settings.command_timeout,
    })
}
