//! Where a native connection's commands go: one node, a Redis Cluster (the crate's
//! `ClusterConnection`: slot routing, MOVED/ASK, a connection per node), or the primary a
//! Sentinel group names ([`Followed`]). A link opens on first use, so a single-node address
//! that turns out to be a cluster node (`INFO cluster`) becomes a cluster link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionInfo, Pipeline, PushInfo, RedisFuture, Value};

use super::follow::{Finder, Followed};
use super::settings::{RedisSettings, Topology};
use crate::redis::{RedisError, RedisErrorKind, Result};

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

/// A link opened on first use. A cluster link that cannot reach a node is opened again (at
/// most once per [`REOPEN_GAP`]) from every node it knew: the crate reconnects to a dead node
/// rather than asking the others for the new slot owner.
pub(super) struct LazyLink {
    settings: RedisSettings,
    push: Option<PushSink>,
    state: Mutex<State>,
    opening: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    link: Option<Link>,
    /// Every cluster node seen (from `CLUSTER SLOTS`), to open the cluster again from.
    known: Vec<ConnectionInfo>,
    opened: Option<Instant>,
}

/// At most one re-opening of a cluster link per this long.
const REOPEN_GAP: Duration = Duration::from_secs(1);

impl LazyLink {
    /// For `settings`; with `push`, a subscriber's (RESP3 push messages to `push`,
    /// subscriptions restored after reconnects).
    pub(super) fn new(settings: RedisSettings, push: Option<PushSink>) -> LazyLink {
        LazyLink {
            settings,
            push,
            state: Mutex::new(State::default()),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// The link, opened when there is none (within `limit`).
    pub(super) async fn get(&self, limit: Duration, what: impl FnOnce() -> String) -> Result<Link> {
        if let Some(link) = self.state.lock().link.clone() {
            return Ok(link);
        }
        let opening = async {
            let _one = self.opening.lock().await;
            if let Some(link) = self.state.lock().link.clone() {
                return Ok(link);
            }
            let known = self.state.lock().known.clone();
            let (link, nodes) = open(&self.settings, self.push.clone(), known).await?;
            let mut state = self.state.lock();
            state.link = Some(link.clone());
            state.opened = Some(Instant::now());
            if !nodes.is_empty() {
                state.known = nodes;
            }
            Ok::<_, RedisError>(link)
        };
        match tokio::time::timeout(limit, opening).await {
            Ok(Ok(link)) => Ok(link),
            Ok(Err(e)) => Err(RedisError::new(e.kind(), what(), e.detail().to_owned())),
            Err(_) => Err(RedisError::new(
                RedisErrorKind::Timeout,
                what(),
                format!(
                    "could not connect to {} within {} ms",
                    self.settings.redacted_url(),
                    limit.as_millis()
                ),
            )),
        }
    }

    /// An operation failed with `e`: a cluster link that could not reach a node (refused,
    /// dropped, or no answer in time) is dropped, so the next operation opens the cluster again.
    pub(super) fn failed(&self, e: &RedisError) {
        if !matches!(
            e.kind(),
            RedisErrorKind::Connection | RedisErrorKind::Timeout
        ) {
            return;
        }
        let mut state = self.state.lock();
        let stale = state.opened.is_none_or(|t| t.elapsed() >= REOPEN_GAP);
        if stale && state.link.as_ref().is_some_and(|l| l.cluster().is_some()) {
            tracing::debug!(target = %self.settings.redacted_url(), "Redis Cluster: a node is unreachable; finding the slots' owners again");
            state.link = None;
        }
    }
}

/// Opens the link `settings` name, or (`known`, not empty) the cluster of those nodes. Also
/// returns the nodes of a cluster.
async fn open(
    settings: &RedisSettings,
    push: Option<PushSink>,
    known: Vec<ConnectionInfo>,
) -> Result<(Link, Vec<ConnectionInfo>)> {
    let what = || format!("connect to {}", settings.redacted_url());
    let topology = match (settings.topology()?, known.is_empty()) {
        (Topology::Node | Topology::Cluster(_), false) => Topology::Cluster(known),
        (topology, _) => topology,
    };
    match topology {
        Topology::Node => {
            let client = settings.client()?;
            if let Some(nodes) = super::cluster_open::cluster_nodes(settings, &client).await? {
                return super::cluster_open::open_cluster(settings, nodes, push).await;
            }
            let config = manager_config(settings, push);
            let manager = ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|e| RedisError::from_redis(what(), &e))?;
            Ok((Link::Node(manager), Vec::new()))
        }
        Topology::Cluster(seeds) => {
            // Every seed is asked at once: a hung one must not use up the time.
            let asks = seeds.iter().map(|seed| {
                Box::pin(async move {
                    let client = redis::Client::open(seed.clone())
                        .map_err(|e| RedisError::from_redis(what(), &e))?;
                    match super::cluster_open::cluster_nodes(settings, &client).await? {
                        Some(nodes) => Ok(nodes),
                        None => Err(RedisError::new(
                            RedisErrorKind::Config,
                            what(),
                            format!("{} is not a cluster node", seed.addr()),
                        )),
                    }
                })
            });
            let found = futures_util::future::select_ok(asks)
                .await
                .map(|(nodes, _)| nodes);
            // The nodes the cluster names (a failed one is left out); none answered: the seeds.
            super::cluster_open::open_cluster(settings, found.unwrap_or(seeds), push).await
        }
        Topology::Sentinel(group, node) => {
            let finder = Finder::Sentinel {
                client: Box::new(tokio::sync::Mutex::new(group.client(&node)?)),
                name: group.name.clone(),
            };
            let primary =
                Followed::open(finder, manager_config(settings, push.clone()), settings).await?;
            let primary = Arc::new(primary);
            super::sentinel_watch::watch(&primary, push)?;
            Ok((Link::Followed(primary), Vec::new()))
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
