//! Where and how to connect: the settings of the native connections (a `redis://` /
//! `rediss://` URL, or the parts a node-redis / ioredis client exposes), the time limits and
//! the TLS material.

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::{IntoConnectionInfo, ProtocolVersion};

use crate::redis::{RedisError, RedisErrorKind, Result};

/// Connection settings as a node-redis / ioredis client exposes them (the bindings read these
/// from the client object the user passes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisEndpoint {
    /// Host name or IP address (IPv6 without brackets is fine).
    pub host: String,
    /// TCP port (6379 when unknown).
    pub port: u16,
    /// ACL user name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Database number (`SELECT`), 0 by default.
    pub db: i64,
    /// Connect with TLS (`rediss://`).
    pub tls: bool,
}

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

/// Where and how to connect. Build it with [`RedisSettings::from_url`] or
/// [`RedisSettings::from_parts`], then adjust the public fields.
///
/// TLS (`rediss://`) uses rustls with the system's trust store, or [`RedisSettings::tls`].
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user[:password]@]host[:port][/db]` or `rediss://...` for TLS.
    pub url: String,
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
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url(&self.url))
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("reconnect_min_delay", &self.reconnect_min_delay)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .field("custom_tls", &!self.tls.is_empty())
            .finish()
    }
}

impl RedisSettings {
    /// Settings for `url` with the default time limits.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            reconnect_retries: 4,
            reconnect_min_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(2),
            tls: RedisTls::default(),
        }
    }

    /// Settings from the parts of a node-redis / ioredis client's options. User name and
    /// password are percent-encoded into the URL.
    pub fn from_parts(parts: &RedisEndpoint) -> Self {
        let scheme = if parts.tls { "rediss" } else { "redis" };
        let mut auth = String::new();
        if parts.username.is_some() || parts.password.is_some() {
            if let Some(user) = &parts.username {
                auth.push_str(&percent_encode(user));
            }
            if let Some(password) = &parts.password {
                auth.push(':');
                auth.push_str(&percent_encode(password));
            }
            auth.push('@');
        }
        let host = if parts.host.is_empty() {
            "127.0.0.1"
        } else {
            parts.host.as_str()
        };
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let port = if parts.port == 0 { 6379 } else { parts.port };
        Self::from_url(format!("{scheme}://{auth}{host}:{port}/{}", parts.db))
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    pub(super) fn client(&self) -> Result<redis::Client> {
        let what = || format!("connect to {}", self.redacted_url());
        let info = self
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| RedisError::from_redis(what(), &e))?;
        if !info.addr().is_supported() {
            return Err(RedisError::new(
                RedisErrorKind::Config,
                what(),
                "this address type is not supported by this build",
            ));
        }
        let redis_info = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(redis_info);
        if self.tls.is_empty() {
            return redis::Client::open(info).map_err(|e| RedisError::from_redis(what(), &e));
        }
        if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
            return Err(RedisError::new(
                RedisErrorKind::Config,
                what(),
                "TLS certificates were given but the URL is not rediss://",
            ));
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
        let certs = redis::TlsCertificates {
            client_tls,
            root_cert: self.tls.ca_pem.clone(),
        };
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

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn redact_url(url: &str) -> String {
    // scheme://user:password@host... -> scheme://user:***@host...
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{}://{}@{}", &url[..scheme_end], masked, &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_parts_builds_url() {
        let s = RedisSettings::from_parts(&RedisEndpoint {
            host: "::1".into(),
            port: 6380,
            username: Some("u".into()),
            password: Some("p@ss:/w".into()),
            db: 2,
            tls: true,
        });
        assert_eq!(s.url, "rediss://u:p%40ss%3A%2Fw@[::1]:6380/2");
        assert_eq!(s.redacted_url(), "rediss://u:***@[::1]:6380/2");
        let info = s.url.as_str().into_connection_info();
        assert!(info.is_ok());
        let plain = RedisSettings::from_parts(&RedisEndpoint {
            host: "h".into(),
            ..Default::default()
        });
        assert_eq!(plain.url, "redis://h:6379/0");
        let pw_only = RedisSettings::from_parts(&RedisEndpoint {
            host: "h".into(),
            port: 1,
            password: Some("x".into()),
            ..Default::default()
        });
        assert_eq!(pw_only.url, "redis://:x@h:1/0");
    }
}
