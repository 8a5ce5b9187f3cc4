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

use super::connection::bounded;
use super::settings::RedisSettings;
use crate::redis::Result;

/// At most one look-up per this long while the sentinels keep naming the same node (a burst
/// of failing commands during a failover asks the sentinels once, not once each).
pub(super) const LOOKUP_GAP: Duration = Duration::from_millis(100);

/// A connection to the current primary of a Sentinel group.
/// How the node to follow is found.
pub(super) enum Finder {
    /// Ask the sentinels for the primary (the crate checks its `ROLE`).
    Sentinel(Box<tokio::sync::Mutex<SentinelClient>>),
    /// The first of these nodes that answers, the current one first.
    Nodes(Vec<ConnectionInfo>),
}

impl Finder {
    /// A client for the node to use now.
    async fn find(&self, current: Option<&str>, timeout: Duration) -> redis::RedisResult<Client> {
        match self {
            Finder::Sentinel(sentinels) => sentinels.lock().await.async_get_client().await,
            Finder::Nodes(nodes) => {
                let mut order: Vec<&ConnectionInfo> = nodes.iter().collect();
                order.sort_by_key(|n| Some(n.addr().to_string().as_str()) != current);
                let mut last = redis::RedisError::from((ErrorKind::Io, "no cluster node answers"));
                for node in order {
                    let client = Client::open(node.clone())?;
                    let config = AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(Some(timeout));
                    let ping = async {
                        let mut conn = client
                            .get_multiplexed_async_connection_with_config(&config)
                            .await?;
                        redis::cmd("PING").query_async::<()>(&mut conn).await
                    };
                    match ping.await {
                        Ok(()) => return Ok(client),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// The sentinels, for the `+switch-master` watch.
    pub(super) fn sentinels(&self) -> Option<&tokio::sync::Mutex<SentinelClient>> {
        match self {
            Finder::Sentinel(s) => Some(s),
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
    pub(super) looked_up: Instant,
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
        let node = bounded(timeout, finder.find(None, settings.connect_timeout), what).await?;
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
                looked_up: Instant::now(),
            }),
            config,
            timeout,
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

    /// Whether the command that failed with `e` was surely not carried out, so running it
    /// again on the new primary cannot apply it twice.
    pub(super) fn not_carried_out(e: &redis::RedisError) -> bool {
        e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly) || e.is_connection_refusal()
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
            if current.looked_up.elapsed() < LOOKUP_GAP {
                return None;
            }
            current.address.clone()
        };
        let found =
            tokio::time::timeout(self.timeout, self.finder.find(Some(&address), self.timeout))
                .await;
        self.current.lock().looked_up = Instant::now();
        let node = match found {
            Ok(Ok(node)) => node,
            Ok(Err(e)) => {
                tracing::debug!(group = %self.group, error = %e, "Redis: no node to follow yet");
                return None;
            }
            Err(_) => return None,
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
