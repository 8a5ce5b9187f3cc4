//! A node followed across failures: the primary of a Sentinel group, or (for a classic pub/sub
//! subscriber on a Redis Cluster, which must subscribe each channel on one node only) any
//! reachable node of a cluster. [`Followed`] holds a connection manager on the node it found,
//! and looks again when a command says the node is not the primary any more (READONLY after a
//! failover demoted it), when the node cannot be reached, when a subscriber's ping asks it to,
//! and at once when a sentinel announces `+switch-master` (`sentinel_watch.rs`).

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Client, ConnectionInfo, ErrorKind, ServerErrorKind};

use super::bounded::bounded;
use super::settings::RedisSettings;
use crate::redis::Result;

/// At most one look-up per this long while the sentinels keep naming the same node (a burst
/// of failing commands during a failover asks the sentinels once, not once each).
pub(super) const LOOKUP_GAP: Duration = Duration::from_millis(100);

/// How the node to follow is found.
pub(super) enum Finder {
    /// Ask the sentinels for the primary named `name` (the crate checks its `ROLE`).
    Sentinel {
        client: Box<tokio::sync::Mutex<SentinelClient>>,
        name: String,
    },
    /// The first of these nodes that answers, the current one last (it just failed).
    Nodes(Vec<ConnectionInfo>),
}

impl Finder {
    /// A client for the node to use now, within `budget`; a cluster node that does not answer
    /// within `per_node` is passed over, so one hung node cannot use up the budget.
    async fn find(
        &self,
        current: Option<&str>,
        per_node: Duration,
        budget: Duration,
    ) -> redis::RedisResult<Client> {
        let timed_out = || redis::RedisError::from((ErrorKind::Io, "no answer in time"));
        match self {
            Finder::Sentinel { client, .. } => {
                let ask = async { client.lock().await.async_get_client().await };
                tokio::time::timeout(budget, ask)
                    .await
                    .unwrap_or_else(|_| Err(timed_out()))
            }
            Finder::Nodes(nodes) => {
                let mut order: Vec<&ConnectionInfo> = nodes.iter().collect();
                order.sort_by_key(|n| Some(n.addr().to_string().as_str()) == current);
                let mut last = redis::RedisError::from((ErrorKind::Io, "no cluster node answers"));
                for node in order {
                    let client = Client::open(node.clone())?;
                    let config = AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(per_node))
                        .set_response_timeout(Some(per_node));
                    let ping = async {
                        let mut conn = client
                            .get_multiplexed_async_connection_with_config(&config)
                            .await?;
                        redis::cmd("PING").query_async::<()>(&mut conn).await
                    };
                    match tokio::time::timeout(per_node, ping).await {
                        Ok(Ok(())) => return Ok(client),
                        Ok(Err(e)) => last = e,
                        Err(_) => last = timed_out(),
                    }
                }
                Err(last)
            }
        }
    }

    /// The sentinels and the primary's name, for the `+switch-master` watch.
    pub(super) fn sentinels(&self) -> Option<(&tokio::sync::Mutex<SentinelClient>, &str)> {
        match self {
            Finder::Sentinel { client, name } => Some((client, name)),
            Finder::Nodes(_) => None,
        }
    }
}

/// A connection to the node a [`Finder`] names.
pub(super) struct Followed {
    pub(super) finder: Finder,
    /// The connection to the node the sentinels named last, its address and a generation that
    /// grows with each move.
    pub(super) current: Mutex<Current>,
    config: ConnectionManagerConfig,
    pub(super) timeout: Duration,
    /// Limit for one node to answer (the connect timeout).
    per_node: Duration,
    group: String,
    /// One look-up at a time.
    looking: tokio::sync::Mutex<()>,
    /// Dropped with it: ends its `+switch-master` watch.
    pub(super) alive: tokio::sync::watch::Sender<()>,
}

pub(super) struct Current {
    generation: u64,
    address: String,
    manager: ConnectionManager,
    /// When the finder was last asked; `None`: ask at the next chance.
    looked_up: Option<Instant>,
}

impl Followed {
    /// Finds the node and connects to it.
    pub(super) async fn open(
        finder: Finder,
        config: ConnectionManagerConfig,
        settings: &RedisSettings,
    ) -> Result<Followed> {
        let group = settings.redacted_url();
        let what = || format!("connect to {group}");
        let timeout = settings.command_timeout;
        let per_node = settings.connect_timeout;
        let node = bounded(timeout, finder.find(None, per_node, timeout), what).await?;
        let address = node.get_connection_info().addr().to_string();
        let manager = bounded(
            timeout,
            ConnectionManager::new_with_config(node, config.clone()),
            what,
        )
        .await?;
        tracing::debug!(%group, %address, "Redis: node found");
        Ok(Followed {
            finder,
            current: Mutex::new(Current {
                generation: 0,
                address,
                manager,
                looked_up: Some(Instant::now()),
            }),
            config,
            timeout,
            per_node,
            group,
            looking: tokio::sync::Mutex::new(()),
            alive: tokio::sync::watch::channel(()).0,
        })
    }

    /// The connection to the current primary and its generation.
    pub(super) fn current(&self) -> (u64, ConnectionManager) {
        let current = self.current.lock();
        (current.generation, current.manager.clone())
    }

    /// Whether `e` may mean the primary moved: the node refuses writes (READONLY), or cannot
    /// be reached.
    pub(super) fn may_have_moved(e: &redis::RedisError) -> bool {
        e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
            || e.is_connection_refusal()
            || e.is_connection_dropped()
            || e.is_io_error()
            || e.is_timeout()
    }

    /// Whether the command that failed with `e` may run again on the new node without being
    /// applied twice: a refused connection ran nothing; `READONLY` only when `idempotent` (a
    /// script or a pipeline may have published before its first write was refused, and
    /// `PUBLISH` itself runs on a replica).
    pub(super) fn may_retry(e: &redis::RedisError, idempotent: bool) -> bool {
        e.is_connection_refusal()
            || (idempotent && e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly))
    }

    /// Makes the next [`Followed::follow`] ask the finder at once (a sentinel announced a
    /// switch).
    pub(super) fn look_again(&self) {
        self.current.lock().looked_up = None;
    }

    /// Whether the current node answers in time and, followed through sentinels, is still the
    /// primary (`ROLE`; a demoted primary keeps answering as a replica).
    pub(super) async fn healthy(&self, manager: &ConnectionManager) -> bool {
        let mut conn = manager.clone();
        let primary = matches!(self.finder, Finder::Sentinel { .. });
        let check = async move {
            if primary {
                let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
                Ok::<_, redis::RedisError>(matches!(
                    role.first(),
                    Some(redis::Value::BulkString(r)) if r.as_slice() == b"master"
                ))
            } else {
                redis::cmd("PING").query_async::<()>(&mut conn).await?;
                Ok(true)
            }
        };
        matches!(
            tokio::time::timeout(self.per_node, check).await,
            Ok(Ok(true))
        )
    }

    /// Asks the sentinels where the primary is, unless a move already happened since
    /// generation `seen`. Returns the connection to a new primary, or `None` when the
    /// sentinels still name the same node (or cannot be asked).
    pub(super) async fn follow(&self, seen: u64) -> Option<ConnectionManager> {
        self.follow_generation(seen).await.map(|(_, m)| m)
    }

    /// [`Followed::follow`], with the generation of the connection returned.
    pub(super) async fn follow_generation(&self, seen: u64) -> Option<(u64, ConnectionManager)> {
        let _one_at_a_time = self.looking.lock().await;
        let address = {
            let current = self.current.lock();
            if current.generation != seen {
                return Some((current.generation, current.manager.clone()));
            }
            if current.looked_up.is_some_and(|t| t.elapsed() < LOOKUP_GAP) {
                return None;
            }
            current.address.clone()
        };
        let found = self
            .finder
            .find(Some(&address), self.per_node, self.timeout)
            .await;
        self.current.lock().looked_up = Some(Instant::now());
        let node = match found {
            Ok(node) => node,
            Err(e) => {
                tracing::debug!(group = %self.group, error = %e, "Redis: no node to follow yet");
                return None;
            }
        };
        let address = node.get_connection_info().addr().to_string();
        if address == self.current.lock().address {
            return None;
        }
        let manager = tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(node, self.config.clone()),
        )
        .await
        .ok()?
        .ok()?;
        let mut current = self.current.lock();
        tracing::info!(group = %self.group, from = %current.address, to = %address, "Redis: moved to another node");
        current.generation += 1;
        current.address = address;
        current.manager = manager.clone();
        Some((current.generation, manager))
    }
}
