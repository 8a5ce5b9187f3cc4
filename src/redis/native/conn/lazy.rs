//! A link opened on first use: to one node (which may turn out to be a cluster node, found
//! with `INFO cluster`), to a Redis Cluster, or to the primary a Sentinel group names; and
//! opened again from every known node when a cluster node becomes unreachable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use redis::ConnectionInfo;

use super::cluster::{cluster_nodes, open_cluster};
use super::follow::{Finder, Followed};
use super::link::{manager_config, Link, PushSink};
use super::sentinel_watch::watch;
use super::settings::{Deployment, RedisSettings};
use crate::redis::{RedisError, RedisErrorKind, Result};

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
    let topology = match (settings.deployment()?, known.is_empty()) {
        (Deployment::Node | Deployment::Cluster(_), false) => Deployment::Cluster(known),
        (topology, _) => topology,
    };
    match topology {
        Deployment::Node => {
            let client = settings.client()?;
            if let Some(nodes) = cluster_nodes(settings, &client).await? {
                return open_cluster(settings, nodes, push).await;
            }
            let config = manager_config(settings, push);
            let manager = ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|e| RedisError::from_redis(what(), &e))?;
            Ok((Link::Node(manager), Vec::new()))
        }
        Deployment::Cluster(seeds) => {
            // Every seed is asked at once: a hung one must not use up the time.
            let asks = seeds.iter().map(|seed| {
                Box::pin(async move {
                    let client = redis::Client::open(seed.clone())
                        .map_err(|e| RedisError::from_redis(what(), &e))?;
                    match cluster_nodes(settings, &client).await? {
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
            open_cluster(settings, found.unwrap_or(seeds), push).await
        }
        Deployment::Sentinel(group, node) => {
            let finder = Finder::Sentinel {
                client: Box::new(tokio::sync::Mutex::new(group.client(&node)?)),
                name: group.name.clone(),
            };
            let primary =
                Followed::open(finder, manager_config(settings, push.clone()), settings).await?;
            let primary = Arc::new(primary);
            watch(&primary, push)?;
            Ok((Link::Followed(primary), Vec::new()))
        }
    }
}
