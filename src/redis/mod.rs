//! Redis connections for the Redis-backed store and stream manager (plain Rust, no Node).
//!
//! * [`RedisSettings`]: where to connect (a `redis://` / `rediss://` URL, or the parts a
//!   node-redis / ioredis client exposes) and the time limits.
//! * [`connect`] / [`connect_lazy`]: a cloneable, multiplexed [`Connection`] for commands. It
//!   is a `redis::aio::ConnectionManager` speaking RESP3: when Redis goes away it reconnects in
//!   the background with exponential backoff, and every command is bounded by
//!   [`RedisSettings::command_timeout`], so a command issued while Redis is unreachable fails
//!   with a [`RedisError`] naming Redis instead of hanging.
//! * [`connect_subscriber`] / [`connect_subscriber_lazy`]: a dedicated pub/sub
//!   [`Subscriber`] (RESP3 push messages). After a reconnect it re-subscribes every channel it
//!   was subscribed to by itself (redis-rs' automatic resubscription), so callers never have to.
//!
//! RESP3 needs Redis 6 or newer.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo, ProtocolVersion, PushInfo};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// What kind of failure a [`RedisError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisErrorKind {
    /// The settings are unusable (bad URL, TLS not available, ...).
    Config,
    /// No connection to Redis could be used (refused, reset, DNS, TLS handshake, ...).
    Connection,
    /// The command did not complete within the configured time.
    Timeout,
    /// Redis answered with an error reply (wrong type, NOSCRIPT, auth, ...).
    Server,
    /// Redis answered with something this crate did not expect.
    Protocol,
    /// The object was closed; it issues no more Redis commands.
    Closed,
}

/// A failed Redis operation. The message names Redis, the operation and the cause, e.g.
/// `Redis SET mcp:session:abc failed: connection refused`.
#[derive(Debug, Clone)]
pub struct RedisError {
    kind: RedisErrorKind,
    operation: String,
    detail: String,
}

impl RedisError {
    /// Builds an error for `operation` (e.g. `"GET mcp:session:abc"`).
    pub fn new(
        kind: RedisErrorKind,
        operation: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            operation: operation.into(),
            detail: detail.into(),
        }
    }

    /// Wraps a redis-rs error.
    pub fn from_redis(operation: impl Into<String>, err: &redis::RedisError) -> Self {
        let kind = if err.is_timeout() {
            RedisErrorKind::Timeout
        } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
            RedisErrorKind::Connection
        } else {
            match err.kind() {
                redis::ErrorKind::InvalidClientConfig => RedisErrorKind::Config,
                redis::ErrorKind::UnexpectedReturnType | redis::ErrorKind::Parse => {
                    RedisErrorKind::Protocol
                }
                redis::ErrorKind::Io => RedisErrorKind::Connection,
                _ => RedisErrorKind::Server,
            }
        };
        Self::new(kind, operation, err.to_string())
    }

    /// The kind of failure.
    pub fn kind(&self) -> RedisErrorKind {
        self.kind
    }

    /// The operation that failed, e.g. `"SET mcp:session:abc"`.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// True when the command ran out of time (Redis unreachable or too slow).
    pub fn is_timeout(&self) -> bool {
        self.kind == RedisErrorKind::Timeout
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis {} failed: {}", self.operation, self.detail)
    }
}

impl std::error::Error for RedisError {}

/// Result of the Redis core.
pub type Result<T, E = RedisError> = std::result::Result<T, E>;

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

    fn client(&self) -> Result<redis::Client> {
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

    fn manager_config(&self) -> ConnectionManagerConfig {
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

/// Escapes the glob characters of Redis patterns (`* ? [ ] \`) so `s` matches only itself in
/// `SCAN MATCH` / `KEYS` patterns.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A cloneable multiplexed command connection that reconnects by itself.
///
/// Every operation is bounded by [`RedisSettings::command_timeout`].
#[derive(Clone)]
pub struct Connection {
    manager: ConnectionManager,
    command_timeout: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// Runs `fut` under `limit`, mapping both failure kinds to [`RedisError`].
async fn bounded<T, F>(limit: Duration, fut: F, what: impl FnOnce() -> String) -> Result<T>
where
    F: std::future::Future<Output = redis::RedisResult<T>>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(RedisError::from_redis(what(), &e)),
        Err(_) => Err(RedisError::new(
            RedisErrorKind::Timeout,
            what(),
            format!(
                "no answer within {} ms (Redis unreachable or busy)",
                limit.as_millis()
            ),
        )),
    }
}

impl Connection {
    /// The overall per-operation limit.
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Runs one command. `what` describes it for the error message (evaluated only on error).
    pub async fn query<T: FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        what: impl FnOnce() -> String,
    ) -> Result<T> {
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { cmd.query_async(&mut conn).await },
            what,
        )
        .await
    }

    /// Runs a pipeline in one round trip.
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        what: impl FnOnce() -> String,
    ) -> Result<T> {
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { pipe.query_async(&mut conn).await },
            what,
        )
        .await
    }

    /// Runs a Lua script (EVALSHA, falling back to EVAL when Redis does not know it yet).
    pub async fn invoke_script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        what: impl FnOnce() -> String,
    ) -> Result<T> {
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { invocation.invoke_async(&mut conn).await },
            what,
        )
        .await
    }

    /// `PING`: checks that Redis answers.
    pub async fn ping(&self) -> Result<()> {
        let _: String = self
            .query(&redis::cmd("PING"), || "PING".to_string())
            .await?;
        Ok(())
    }
}

fn spawn_context() -> Result<tokio::runtime::Handle> {
    crate::runtime::handle()
        .map_err(|e| RedisError::new(RedisErrorKind::Config, "connection setup", e.to_string()))
}

/// Connects and waits until the first connection answers `PING` (at most
/// [`RedisSettings::command_timeout`]).
pub async fn connect(settings: &RedisSettings) -> Result<Connection> {
    let conn = connect_lazy(settings)?;
    conn.ping().await.map_err(|e| {
        RedisError::new(
            e.kind(),
            format!("connect to {}", settings.redacted_url()),
            e.detail,
        )
    })?;
    Ok(conn)
}

/// Creates the connection without waiting for it: the first command connects. Works outside a
/// tokio runtime (the shared runtime of [`crate::runtime`] is used).
pub fn connect_lazy(settings: &RedisSettings) -> Result<Connection> {
    let client = settings.client()?;
    let handle = spawn_context()?;
    let _guard = handle.enter();
    let manager = ConnectionManager::new_lazy_with_config(client, settings.manager_config())
        .map_err(|e| {
            RedisError::from_redis(format!("connect to {}", settings.redacted_url()), &e)
        })?;
    Ok(Connection {
        manager,
        command_timeout: settings.command_timeout,
    })
}

/// A dedicated pub/sub connection. Messages of subscribed channels arrive, in order, on the
/// receiver returned once by [`Subscriber::take_receiver`] (the stream manager takes it).
/// Subscriptions survive reconnects: redis-rs replays them on every new connection.
pub struct Subscriber {
    manager: ConnectionManager,
    command_timeout: Duration,
    receiver: Mutex<Option<UnboundedReceiver<PushInfo>>>,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

impl Subscriber {
    /// `SUBSCRIBE` to all `channels` in one command; returns when Redis confirmed them.
    pub async fn subscribe(&self, channels: &[String]) -> Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { conn.subscribe(channels).await },
            || format!("SUBSCRIBE {}", channels.join(" ")),
        )
        .await
    }

    /// `UNSUBSCRIBE` from `channels`; returns when Redis confirmed. Messages published after
    /// that are not delivered any more.
    pub async fn unsubscribe(&self, channels: &[String]) -> Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { conn.unsubscribe(channels).await },
            || format!("UNSUBSCRIBE {}", channels.join(" ")),
        )
        .await
    }

    /// `PING` on the subscriber connection. Besides checking it, this starts a new reconnect
    /// round when an earlier one gave up (Redis was down longer than the backoff lasted).
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.manager.clone();
        let cmd = redis::cmd("PING");
        bounded(
            self.command_timeout,
            async move { cmd.query_async::<redis::Value>(&mut conn).await },
            || "PING (subscriber)".to_string(),
        )
        .await
        .map(|_| ())
    }

    /// The push-message receiver (message, subscribe confirmations, disconnect notices).
    /// `None` after the first call.
    pub fn take_receiver(&self) -> Option<UnboundedReceiver<PushInfo>> {
        self.receiver.lock().take()
    }
}

/// Connects a [`Subscriber`] and waits until the connection is up.
pub async fn connect_subscriber(settings: &RedisSettings) -> Result<Subscriber> {
    let sub = connect_subscriber_lazy(settings)?;
    sub.ping().await.map_err(|e| {
        RedisError::new(
            e.kind(),
            format!("connect to {} (subscriber)", settings.redacted_url()),
            e.detail,
        )
    })?;
    Ok(sub)
}

/// Creates a [`Subscriber`] without waiting for the connection.
pub fn connect_subscriber_lazy(settings: &RedisSettings) -> Result<Subscriber> {
    let client = settings.client()?;
    let (tx, rx) = unbounded_channel();
    let config = settings
        .manager_config()
        .set_push_sender(tx)
        .set_automatic_resubscription();
    let handle = spawn_context()?;
    let _guard = handle.enter();
    let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
        RedisError::from_redis(
            format!("connect to {} (subscriber)", settings.redacted_url()),
            &e,
        )
    })?;
    Ok(Subscriber {
        manager,
        command_timeout: settings.command_timeout,
        receiver: Mutex::new(Some(rx)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escape_escapes_all_special_chars() {
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
        assert_eq!(glob_escape("mcp:session:"), "mcp:session:");
    }

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
