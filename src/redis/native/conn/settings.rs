//! Where and how to connect: the settings of the native connections, the time limits and the
//! TLS material. The address is either a `redis://` / `rediss://` / `redis+unix://` URL
//! (`{ url }`, parsed by the redis crate when connecting) or typed parts read off a
//! node-redis / ioredis client's options ([`RedisEndpoint`]), which become a
//! [`redis::ConnectionInfo`] as they are: no URL is assembled, encoded or parsed for them.

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::{
    ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, RedisConnectionInfo,
};

use super::address::{describe, redact};
use super::endpoint::RedisEndpoint;
use super::sentinel::{parse_sentinel_url, SentinelGroup};
use crate::redis::{RedisError, RedisErrorKind, Result};

/// Certificates for `rediss://` beyond the system trust store (PEM bytes), as node-redis'
/// `socket.ca` / `socket.cert` / `socket.key` or ioredis' `tls.ca` / `tls.cert` / `tls.key`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// Trust these CA certificates instead of the system store.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain for mutual TLS (needs `client_key_pem` too).
    pub client_cert_pem: Option<Vec<u8>>,
    /// Client private key for mutual TLS.
    pub client_key_pem: Option<Vec<u8>>,
}

impl RedisTls {
    fn is_empty(&self) -> bool {
        self.ca_pem.is_none() && self.client_cert_pem.is_none() && self.client_key_pem.is_none()
    }
}

/// Where a [`RedisSettings`] connects.
#[derive(Clone)]
enum Target {
    /// A URL as the user wrote it, parsed by the redis crate when connecting.
    Url(String),
    /// Typed settings read off a client's options.
    Parts {
        addr: ConnectionAddr,
        redis: RedisConnectionInfo,
    },
    /// A Redis Cluster, from some of its nodes (each a `Url` or `Parts`).
    Cluster(Vec<Target>),
    /// The primary a Sentinel group names; `node` holds the data nodes' credentials and
    /// database (its host and port are unused).
    Sentinel {
        group: SentinelGroup,
        node: RedisEndpoint,
    },
}

/// Where the settings point, for the link to open (see `link.rs`).
pub(super) enum Deployment {
    /// One node, which may turn out to be a cluster node.
    Node,
    /// A Redis Cluster, from these nodes.
    Cluster(Vec<ConnectionInfo>),
    /// A Sentinel group.
    Sentinel(SentinelGroup, RedisEndpoint),
}

/// Where and how to connect. Build it with [`RedisSettings::from_url`] or
/// [`RedisSettings::from_parts`], then adjust the public fields.
///
/// TLS (`rediss://`) uses rustls with the system's trust store, or [`RedisSettings::tls`].
#[derive(Clone)]
pub struct RedisSettings {
    /// Where to connect.
    target: Target,
    /// Limit for one TCP (+TLS, +HELLO/AUTH) connection attempt. Default 2 s.
    pub connect_timeout: Duration,
    /// Limit for Redis to answer one request on a live connection. Default 5 s.
    pub response_timeout: Duration,
    /// Overall limit for one operation of this crate, including waiting for a reconnect in
    /// progress. A command issued while Redis is unreachable fails after at most this long.
    /// Default 5 s.
    pub command_timeout: Duration,
    /// Reconnect attempts per reconnect round (a later command or the stream manager's
    /// watchdog starts a new round). Default 4.
    pub reconnect_retries: usize,
    /// First reconnect backoff delay (grows exponentially, with jitter). Default 100 ms.
    pub reconnect_min_delay: Duration,
    /// Upper bound of the reconnect backoff delay. Default 2 s.
    pub reconnect_max_delay: Duration,
    /// Extra TLS material for `rediss://` (CA, client certificate). Empty by default.
    pub tls: RedisTls,
    /// On a Redis Cluster, publish with `SPUBLISH` and subscribe with `SSUBSCRIBE` (sharded
    /// pub/sub, Redis 7+): each message goes to its channel's shard only, instead of to every
    /// node. Only for fleets made of this crate's stream managers (mcp-use's use classic pub/sub).
    /// Off by default; no effect on a single node or a Sentinel group.
    pub sharded_pub_sub: bool,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("target", &self.redacted_url())
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("reconnect_min_delay", &self.reconnect_min_delay)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .field("custom_tls", &!self.tls.is_empty())
            .field("sharded_pub_sub", &self.sharded_pub_sub)
            .finish()
    }
}

impl RedisSettings {
    /// Settings for `url` (`redis://[user[:password]@]host[:port][/db]`, `rediss://...` for
    /// TLS, or `redis+unix:///path?db=N`) with the default time limits. The URL is parsed
    /// when connecting.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self::with_target(Target::Url(url.into()))
    }

    /// Settings from the parts of a node-redis / ioredis client's options, with the default
    /// time limits. The parts are carried typed, so user names and passwords need no escaping.
    pub fn from_parts(parts: &RedisEndpoint) -> Self {
        let (addr, redis) = parts.typed();
        Self::with_target(Target::Parts { addr, redis })
    }

    /// Settings for a Redis Cluster reached through any of `nodes` (URLs or parts; the first
    /// one's time limits and TLS material apply).
    pub fn cluster(nodes: &[RedisSettings]) -> Self {
        let mut settings = nodes.first().cloned().unwrap_or_else(|| Self::from_url(""));
        settings.target = Target::Cluster(nodes.iter().map(|n| n.target.clone()).collect());
        settings
    }

    /// Settings for the primary of a Sentinel `group`, connecting to it with `node`'s user
    /// name, password and database (its host and port are unused).
    pub fn sentinel(group: SentinelGroup, node: RedisEndpoint) -> Self {
        Self::with_target(Target::Sentinel { group, node })
    }

    /// Settings for a `redis+sentinel://` URL (see [`parse_sentinel_url`]); the error is the
    /// message of a `TypeError`.
    pub fn from_sentinel_url(url: &str) -> std::result::Result<Self, String> {
        let (group, node) = parse_sentinel_url(url)?;
        Ok(Self::sentinel(group, node))
    }

    /// The Sentinel group and data-node settings, for a Sentinel target.
    pub fn sentinel_parts(&self) -> Option<(&SentinelGroup, &RedisEndpoint)> {
        match &self.target {
            Target::Sentinel { group, node } => Some((group, node)),
            _ => None,
        }
    }

    pub(super) fn deployment(&self) -> Result<Deployment> {
        match &self.target {
            Target::Url(_) | Target::Parts { .. } => Ok(Deployment::Node),
            Target::Cluster(nodes) => {
                let what = || format!("connect to {}", self.redacted_url());
                let mut infos = Vec::with_capacity(nodes.len());
                for node in nodes {
                    let info = target_info(node).map_err(|e| RedisError::from_redis(what(), &e))?;
                    infos.push(with_resp3(info));
                }
                if infos.is_empty() {
                    return Err(RedisError::new(
                        RedisErrorKind::Config,
                        what(),
                        "a cluster needs at least one node",
                    ));
                }
                Ok(Deployment::Cluster(infos))
            }
            Target::Sentinel { group, node } => {
                Ok(Deployment::Sentinel(group.clone(), node.clone()))
            }
        }
    }

    /// The extra TLS material as the crate takes it, if any was given; a client certificate
    /// without its key (or the other way round) is an error for `what`.
    pub(super) fn certificates(
        &self,
        what: impl FnOnce() -> String,
    ) -> Result<Option<redis::TlsCertificates>> {
        if self.tls.is_empty() {
            return Ok(None);
        }
        let client_tls = match (&self.tls.client_cert_pem, &self.tls.client_key_pem) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(RedisError::new(
                    RedisErrorKind::Config,
                    what(),
                    "a TLS client certificate needs its key and the other way round",
                ))
            }
        };
        Ok(Some(redis::TlsCertificates {
            client_tls,
            root_cert: self.tls.ca_pem.clone(),
        }))
    }

    fn with_target(target: Target) -> Self {
        Self {
            target,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            reconnect_retries: 4,
            reconnect_min_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(2),
            tls: RedisTls::default(),
            sharded_pub_sub: false,
        }
    }

    /// Where this connects, as a URL with any password replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        describe_target(&self.target)
    }

    /// The redis crate's typed settings: the URL parsed, or the typed parts as they are.
    fn connection_info(&self) -> redis::RedisResult<ConnectionInfo> {
        target_info(&self.target)
    }

    pub(super) fn client(&self) -> Result<redis::Client> {
        let what = || format!("connect to {}", self.redacted_url());
        let info = self
            .connection_info()
            .map_err(|e| RedisError::from_redis(what(), &e))?;
        if !info.addr().is_supported() {
            return Err(RedisError::new(
                RedisErrorKind::Config,
                what(),
                "this address type is not supported by this build",
            ));
        }
        if let ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } = info.addr() {
            // As the redis crate refuses them in a URL.
            if host == "0.0.0.0" || host == "::" {
                return Err(RedisError::new(
                    RedisErrorKind::Config,
                    what(),
                    "cannot connect to a wildcard address (0.0.0.0 or ::)",
                ));
            }
        }
        let info = with_resp3(info);
        let Some(certs) = self.certificates(what)? else {
            return redis::Client::open(info).map_err(|e| RedisError::from_redis(what(), &e));
        };
        if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
            return Err(RedisError::new(
                RedisErrorKind::Config,
                what(),
                "TLS certificates were given but the URL is not rediss://",
            ));
        }
        redis::Client::build_with_tls(info, certs).map_err(|e| RedisError::from_redis(what(), &e))
    }

    pub(super) fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(self.reconnect_retries)
            .set_min_delay(self.reconnect_min_delay)
            .set_max_delay(self.reconnect_max_delay)
            .set_exponent_base(2.0)
    }
}

/// The crate's typed settings of one node's target.
fn target_info(target: &Target) -> redis::RedisResult<ConnectionInfo> {
    match target {
        Target::Url(url) => url.as_str().into_connection_info(),
        Target::Parts { addr, redis } => Ok(addr
            .clone()
            .into_connection_info()?
            .set_redis_settings(redis.clone())),
        Target::Cluster(_) | Target::Sentinel { .. } => Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "not a single node",
        ))),
    }
}

fn with_resp3(info: ConnectionInfo) -> ConnectionInfo {
    let redis_info = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    info.set_redis_settings(redis_info)
}

fn describe_target(target: &Target) -> String {
    match target {
        Target::Url(url) => redact(url),
        Target::Parts { addr, redis } => describe(addr, redis),
        Target::Cluster(nodes) => {
            let nodes: Vec<String> = nodes.iter().map(describe_target).collect();
            format!("Redis Cluster ({})", nodes.join(", "))
        }
        Target::Sentinel { group, .. } => group.describe(),
    }
}

#[cfg(test)]
mod tests;
