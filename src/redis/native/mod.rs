//! The native backend: connections of the redis crate.
//!
//! * [`RedisSettings`] (`settings.rs`): where to connect (a `redis://` / `rediss://` URL, or
//!   the parts a node-redis / ioredis client exposes, carried as redis' typed
//!   `ConnectionInfo`) and the time limits.
//! * [`connect`] / [`connect_lazy`] (`connection.rs`): a cloneable, multiplexed [`Connection`] for commands. It
//!   is a `redis::aio::ConnectionManager` speaking RESP3: when Redis goes away it reconnects in
//!   the background with exponential backoff, and every command is bounded by
//!   [`RedisSettings::command_timeout`], so a command issued while Redis is unreachable fails
//!   with a [`RedisError`](crate::redis::RedisError) naming Redis instead of hanging.
//! * [`connect_subscriber`] / [`connect_subscriber_lazy`] (`subscriber.rs`): a dedicated pub/sub
//!   [`Subscriber`] (RESP3 push messages). After a reconnect it re-subscribes every channel it
//!   was subscribed to by itself (redis-rs' automatic resubscription), so callers never have to.
//!
//! [`Connection`] implements [`Commands`](crate::redis::Commands) (`commands.rs`: a batch of writes is one pipeline,
//! broadcast and prune are Lua scripts; the liveness and store-and-forward scripts are
//! `liveness.rs` and `pending.rs`) and [`Subscriber`] implements [`PubSub`](crate::redis::PubSub).
//!
//! RESP3 needs Redis 6 or newer.

mod cluster;
mod cluster_liveness;
mod commands;
mod connection;
mod describe;
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
