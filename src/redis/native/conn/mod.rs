//! Reaching Redis, knowing no session keys: where to connect ([`RedisSettings`]: a URL, a
//! client's parts, a Cluster's nodes or a Sentinel group, and the time limits), and the two
//! connections the classes use, each opened on first use and reconnecting by itself.
//!
//! From the bottom up:
//!
//! * `bounded.rs`: redis-rs errors as [`RedisError`](crate::redis::RedisError)s, the time
//!   limit of every operation, the runtime background tasks run on;
//! * `address.rs`: the one `host[:port]` parser, port check and redactor;
//! * `endpoint.rs`, `sentinel.rs`, `settings.rs`: one node's parts, a Sentinel group (and its
//!   `redis+sentinel://` URL), and the settings that name either or a Cluster;
//! * `client_options.rs`, `deployment_options.rs`: settings read off a config (`url`, `nodes`,
//!   `sentinels`) or a node-redis / ioredis client's options;
//! * `follow.rs`: a node followed across failures (a Sentinel primary, or one cluster node
//!   for a classic subscriber);
//! * `link.rs`: what a connection talks to (one node, a Cluster, a followed node);
//! * `cluster.rs`, `sentinel_watch.rs`: opening a Cluster link; following `+switch-master`;
//! * `lazy.rs`: a link opened on first use, and again when a cluster node is lost;
//! * `connection.rs`, `subscriber.rs`: the command connection and the pub/sub subscriber.
//!
//! RESP3 needs Redis 6 or newer; sharded pub/sub, Redis 7.

mod address;
mod bounded;
mod client_options;
mod cluster;
mod connection;
mod deployment_options;
mod endpoint;
mod follow;
mod lazy;
mod link;
mod sentinel;
mod sentinel_watch;
mod settings;
mod subscriber;

pub use address::{REDIS_PORT, SENTINEL_PORT};
pub(in crate::redis::native) use bounded::bounded;
pub use client_options::{client_settings, is_known_client, url_settings};
pub use connection::{connect, connect_lazy, Connection};
pub use deployment_options::{nodes_settings, sentinel_settings};
pub use endpoint::RedisEndpoint;
pub use sentinel::{parse_sentinel_url, SentinelGroup};
pub use settings::{RedisSettings, RedisTls};
pub use subscriber::{connect_subscriber, connect_subscriber_lazy, Subscriber};
