//! The native backend: the redis crate's connections.
//!
//! * [`conn`]: reaching Redis (settings, addresses, links to one node, a Cluster or a
//!   Sentinel-followed primary, the command connection and the subscriber), knowing no
//!   session keys;
//! * `ops`: what to ask it ([`Commands`](crate::redis::Commands) on a [`Connection`]), each
//!   scripted feature in one file with both topologies. `ops` imports `conn`, never the
//!   reverse.
//!
//! [`Subscriber`] implements [`PubSub`](crate::redis::PubSub).

pub mod conn;
mod ops;

pub use conn::{
    connect, connect_lazy, connect_subscriber, connect_subscriber_lazy, parse_sentinel_url,
    Connection, RedisEndpoint, RedisSettings, RedisTls, SentinelGroup, Subscriber, SENTINEL_PORT,
};
