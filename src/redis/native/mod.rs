//! The native backend: connections of the redis crate.
//!
//! * [`RedisSettings`] (`settings.rs`, `topology.rs`): where to connect (a `redis://` /
//!   `rediss://` / `redis+sentinel://` URL, the nodes of a cluster, a Sentinel group, or the
//!   parts a node-redis / ioredis client exposes, carried as redis' typed `ConnectionInfo`) and
//!   the time limits.
//! * `link.rs`: what a connection talks to, opened on first use: one node (a
//!   `redis::aio::ConnectionManager`, RESP3, reconnecting with backoff), a Redis Cluster (the
//!   crate's cluster connection; a single URL that is a cluster node is detected), or a node
//!   followed across failures (`follow.rs`: the primary a Sentinel group names, watched for
//!   `+switch-master` in `sentinel_watch.rs`; or, for a classic subscriber, one cluster node).
//! * [`connect`] / [`connect_lazy`] (`connection.rs`): a cloneable [`Connection`] for commands;
//!   every command is bounded by [`RedisSettings::command_timeout`], so a command issued while
//!   Redis is unreachable fails with a [`RedisError`](crate::redis::RedisError) naming Redis
//!   instead of hanging.
//! * [`connect_subscriber`] / [`connect_subscriber_lazy`] (`subscriber.rs`): a dedicated pub/sub
//!   [`Subscriber`] (RESP3 push messages) whose subscriptions survive reconnects and moves.
//!
//! [`Connection`] implements [`Commands`](crate::redis::Commands) (`commands.rs`): on one node a
//! batch of writes is one pipeline and broadcast, prune and release are Lua scripts
//! (`scripts.rs`; liveness in `liveness.rs`, store-and-forward in `pending.rs`); on a cluster
//! the same work runs as single-slot commands (`cluster.rs`, `cluster_liveness.rs`).
//! [`Subscriber`] implements [`PubSub`](crate::redis::PubSub).
//!
//! RESP3 needs Redis 6 or newer; sharded pub/sub, Redis 7.

mod cluster;
mod cluster_liveness;
mod cluster_open;
mod commands;
mod connection;
mod describe;
mod event_log;
mod follow;
mod link;
mod liveness;
mod pending;
mod scripts;
mod sentinel_watch;
mod settings;
mod subscriber;
mod topology;

pub use connection::{connect, connect_lazy, Connection};
pub use settings::{RedisEndpoint, RedisSettings, RedisTls};
pub use subscriber::{connect_subscriber, connect_subscriber_lazy, Subscriber};
pub use topology::{parse_sentinel_url, SentinelGroup, SENTINEL_PORT};
