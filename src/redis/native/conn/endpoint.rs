//! The parts of one node's address as a node-redis / ioredis client exposes them, and how
//! they become the redis crate's typed settings (no URL is assembled or parsed for them).

use std::path::PathBuf;

use redis::{ConnectionAddr, RedisConnectionInfo};

/// Connection settings as a node-redis / ioredis client exposes them (the bindings read these
/// from the client object the user passes). Its `Debug` shows no user name or password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RedisEndpoint {
    /// Host name or IP address (IPv6 with or without brackets); `127.0.0.1` when empty.
    pub host: String,
    /// TCP port (6379 when 0).
    pub port: u16,
    /// A Unix socket to connect to instead of `host` and `port` (node-redis' `socket.path`,
    /// ioredis' `path`); `tls` does not apply to it.
    pub path: Option<PathBuf>,
    /// ACL user name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Database number (`SELECT`), 0 by default.
    pub db: i64,
    /// Connect with TLS (`rediss://`).
    pub tls: bool,
}

impl std::fmt::Debug for RedisEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("username", &self.username.as_ref().map(|_| "***"))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .field("tls", &self.tls)
            .finish()
    }
}

impl RedisEndpoint {
    /// The same settings as redis' typed address and connection info.
    pub(super) fn typed(&self) -> (ConnectionAddr, RedisConnectionInfo) {
        let addr = match &self.path {
            Some(path) => ConnectionAddr::Unix(path.clone()),
            None => {
                let host = match self.host.as_str() {
                    "" => "127.0.0.1",
                    h => h
                        .strip_prefix('[')
                        .and_then(|h| h.strip_suffix(']'))
                        .unwrap_or(h),
                }
                .to_owned();
                let port = if self.port == 0 { 6379 } else { self.port };
                if self.tls {
                    ConnectionAddr::TcpTls {
                        host,
                        port,
                        insecure: false,
                        tls_params: None,
                    }
                } else {
                    ConnectionAddr::Tcp(host, port)
                }
            }
        };
        let mut redis = RedisConnectionInfo::default().set_db(self.db);
        if let Some(user) = self.username.as_deref().filter(|u| !u.is_empty()) {
            redis = redis.set_username(user);
        }
        if let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) {
            redis = redis.set_password(password);
        }
        (addr, redis)
    }
}
