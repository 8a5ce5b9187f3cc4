//! Where a native connection's commands go: one node, a Redis Cluster (the crate's
//! `ClusterConnection`: slot routing, MOVED/ASK, a connection per node), or the primary a
//! Sentinel group names ([`Followed`]). `lazy.rs` opens a link on first use.

use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, PushInfo, RedisFuture, Value};

use super::follow::Followed;
use super::settings::RedisSettings;

/// Where push messages (pub/sub) go, for a subscriber's link.
pub(super) type PushSink = Arc<dyn Fn(PushInfo) + Send + Sync>;

/// An open link.
#[derive(Clone)]
pub(super) enum Link {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
    /// The primary of a Sentinel group, or (a classic subscriber on a cluster) one node.
    Followed(Arc<Followed>),
}

/// One connection of a link, as the crate's commands take it.
#[derive(Clone)]
pub(super) enum Conn {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Link {
    /// Runs `f` on this link's connection. On a followed link, an answer saying the node is no
    /// longer the primary (READONLY) or an unreachable node makes it look for the node again;
    /// `f` runs once more there only when that cannot apply it twice (see
    /// [`Followed::may_retry`]; `idempotent`: `f` sends one command that may run twice).
    pub(super) async fn run<T, F, Fut>(&self, idempotent: bool, f: F) -> redis::RedisResult<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match self {
            Link::Node(m) => f(Conn::Node(m.clone())).await,
            Link::Cluster(c) => f(Conn::Cluster(c.clone())).await,
            Link::Followed(node) => {
                let (seen, conn) = node.current();
                match f(Conn::Node(conn)).await {
                    Err(e) if Followed::may_have_moved(&e) => match node.follow(seen).await {
                        Some(conn) if Followed::may_retry(&e, idempotent) => {
                            f(Conn::Node(conn)).await
                        }
                        _ => Err(e),
                    },
                    other => other,
                }
            }
        }
    }

    /// The cluster connection, on a cluster link.
    pub(super) fn cluster(&self) -> Option<&ClusterConnection> {
        match self {
            Link::Cluster(c) => Some(c),
            _ => None,
        }
    }
}

/// The connection manager's settings, with `push` and resubscription for a subscriber.
pub(super) fn manager_config(
    settings: &RedisSettings,
    push: Option<PushSink>,
) -> ConnectionManagerConfig {
    let config = settings.manager_config();
    match push {
        Some(push) => config
            .set_push_sender(move |info: PushInfo| {
                push(info);
                Ok::<(), ()>(())
            })
            .set_automatic_resubscription(),
        None => config,
    }
}
