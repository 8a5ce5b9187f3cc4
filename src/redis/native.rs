//! The native backend: connections of the redis crate.
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
//! [`Connection`] implements [`Commands`] (a batch of writes is one pipeline, broadcast and
//! prune are Lua scripts) and [`Subscriber`] implements [`PubSub`].
//!
//! RESP3 needs Redis 6 or newer.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::backend::{
    Beat, BoxFuture, Commands, Describe, Liveness, PendingKeys, PruneOutcome, PruneStep, PubSub,
    PubSubEvent, Taken, Write,
};
use super::{RedisError, RedisErrorKind, Result};
use crate::pending::{PendingLimits, PendingStats};

/// Keys fetched per `SCAN` page.
const SCAN_COUNT: usize = 2500;

impl RedisError {
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
}

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

/// Lua: publish to every id of the active set whose availability key exists, remove the
/// others. KEYS[1] active set; ARGV[1] availability key prefix; ARGV[2] channel prefix;
/// ARGV[3] message. Returns how many were published to.
const BROADCAST_LUA: &str = r"
local ids = redis.call('SMEMBERS', KEYS[1])
local sent = 0
for i = 1, #ids do
  local id = ids[i]
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then
    redis.call('PUBLISH', ARGV[2] .. id, ARGV[3])
    sent = sent + 1
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return sent
";

/// Lua: one incremental prune step. KEYS[1] active set; ARGV[1] availability key prefix;
/// ARGV[2] SSCAN cursor; ARGV[3] COUNT. Removes ids whose availability key is gone and
/// returns { next cursor, removed }.
const PRUNE_STEP_LUA: &str = r"
local page = redis.call('SSCAN', KEYS[1], ARGV[2], 'COUNT', ARGV[3])
local removed = 0
for _, id in ipairs(page[2]) do
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    removed = removed + redis.call('SREM', KEYS[1], id)
  end
end
return { page[1], removed }
";

/// Lua: forget the sessions nobody listens to any more. KEYS[1] active set; ARGV[1]
/// availability key prefix; ARGV[2] channel prefix; ARGV[3..] ids. An id whose channel has no
/// subscriber (on any instance) loses its availability key and its active-set entry; an id
/// another instance still holds keeps both. Returns how many were removed. Atomic, so a
/// stream that subscribes on another instance is either counted here or sets its keys after.
const RELEASE_LUA: &str = r"
local removed = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('PUBSUB', 'NUMSUB', ARGV[2] .. id)[2] == 0 then
    redis.call('DEL', ARGV[1] .. id)
    redis.call('SREM', KEYS[1], id)
    removed = removed + 1
  end
end
return removed
";

static BROADCAST_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(BROADCAST_LUA));
static RELEASE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RELEASE_LUA));

/// `write` as one command.
fn command(write: &Write) -> redis::Cmd {
    let mut cmd;
    match write {
        Write::Set {
            key,
            value,
            expire_secs,
        } => {
            cmd = redis::cmd("SET");
            cmd.arg(key).arg(value);
            if let Some(secs) = expire_secs {
                cmd.arg("EX").arg(*secs);
            }
        }
        Write::Refresh { key, value, secs } => {
            cmd = redis::cmd("SET");
            cmd.arg(key).arg(value).arg("EX").arg(*secs);
        }
        Write::Del(keys) => {
            cmd = redis::cmd("DEL");
            cmd.arg(keys);
        }
        Write::Unlink(keys) => {
            cmd = redis::cmd("UNLINK");
            cmd.arg(keys);
        }
        Write::Expire { key, secs } => {
            cmd = redis::cmd("EXPIRE");
            cmd.arg(key).arg(*secs);
        }
        Write::SAdd { key, members } => {
            cmd = redis::cmd("SADD");
            cmd.arg(key).arg(members);
        }
        Write::SRem { key, members } => {
            cmd = redis::cmd("SREM");
            cmd.arg(key).arg(members);
        }
        Write::Publish { channel, message } => {
            cmd = redis::cmd("PUBLISH");
            cmd.arg(channel).arg(message);
        }
    }
    cmd
}

/// The writes Redis would reject as empty (`DEL`/`UNLINK`/`SADD`/`SREM` without keys) left
/// out.
fn effective(writes: &[Write]) -> Vec<&Write> {
    writes
        .iter()
        .filter(|write| match write {
            Write::Del(keys) | Write::Unlink(keys) => !keys.is_empty(),
            Write::SAdd { members, .. } | Write::SRem { members, .. } => !members.is_empty(),
            _ => true,
        })
        .collect()
}

/// The writes as one pipeline, replies ignored.
fn pipeline(writes: &[&Write]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for write in writes {
        pipe.add_command(command(write)).ignore();
    }
    pipe
}

fn prune_cmd(step: &PruneStep) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(PRUNE_STEP_LUA)
        .arg(1)
        .arg(&step.set_key)
        .arg(&step.available_prefix)
        .arg(&step.cursor)
        .arg(step.count);
    cmd
}

impl Commands for Connection {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("GET");
            cmd.arg(key);
            self.query(&cmd, || format!("GET {key}")).await
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("EXISTS");
            cmd.arg(key);
            let n: i64 = self.query(&cmd, || format!("EXISTS {key}")).await?;
            Ok(n == 1)
        })
    }

    fn scan<'a>(
        &'a self,
        cursor: &'a str,
        pattern: &'a str,
    ) -> BoxFuture<'a, Result<(String, Vec<String>)>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            self.query(&cmd, || format!("SCAN {cursor} MATCH {pattern}"))
                .await
        })
    }

    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SMEMBERS");
            cmd.arg(key);
            self.query(&cmd, || format!("SMEMBERS {key}")).await
        })
    }

    fn write<'a>(&'a self, writes: Vec<Write>, what: Describe<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match effective(&writes)[..] {
                [] => Ok(()),
                // One command on its own: Redis' error reply reads as it is, not as a
                // pipeline failure.
                [one] => self.query::<()>(&command(one), what).await,
                ref many => self.query_pipeline::<()>(&pipeline(many), what).await,
            }
        })
    }

    fn write_and_prune<'a>(
        &'a self,
        writes: Vec<Write>,
        prune: PruneStep,
        what: Describe<'a>,
    ) -> BoxFuture<'a, Result<Option<PruneOutcome>>> {
        Box::pin(async move {
            let mut pipe = pipeline(&effective(&writes));
            let step = prune_cmd(&prune);
            pipe.add_command(step);
            let (outcome,): (PruneOutcome,) = self.query_pipeline(&pipe, what).await?;
            Ok(Some(outcome))
        })
    }

    fn prune_step<'a>(&'a self, prune: PruneStep) -> BoxFuture<'a, Result<PruneOutcome>> {
        Box::pin(async move {
            let cmd = prune_cmd(&prune);
            self.query(&cmd, || {
                format!("prune step on {} at {}", prune.set_key, prune.cursor)
            })
            .await
        })
    }

    fn broadcast<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        message: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let mut invocation = BROADCAST_SCRIPT.key(set_key);
            invocation
                .arg(available_prefix)
                .arg(channel_prefix)
                .arg(message);
            self.invoke_script(&invocation, || format!("broadcast script on {set_key}"))
                .await
        })
    }

    fn scripts(&self) -> bool {
        true
    }

    fn beat<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_after_ms: u64,
        max_dead: usize,
    ) -> BoxFuture<'a, Result<Beat>> {
        Box::pin(super::liveness::beat(self, keys, dead_after_ms, max_dead))
    }

    fn prune_instance<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_id: &'a str,
        count: usize,
    ) -> BoxFuture<'a, Result<(u64, u64)>> {
        Box::pin(super::liveness::prune(self, keys, dead_id, count))
    }

    fn publish_or_keep<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        message: &'a str,
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        Box::pin(super::pending::publish_or_keep(
            self, keys, ids, message, limits,
        ))
    }

    fn take_pending<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<Vec<Taken>>> {
        Box::pin(super::pending::take(self, keys, ids, limits))
    }

    fn requeue<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        messages: &'a [String],
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        Box::pin(super::pending::requeue(self, keys, id, messages, limits))
    }

    fn release_unheld<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let mut invocation = RELEASE_SCRIPT.key(set_key);
            invocation
                .arg(available_prefix)
                .arg(channel_prefix)
                .arg(ids);
            self.invoke_script(&invocation, || {
                format!("release script on {set_key} for {} sessions", ids.len())
            })
            .await
        })
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
            e.detail().to_owned(),
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
/// receiver returned once by [`PubSub::take_events`] (the stream manager takes it).
/// Subscriptions survive reconnects: redis-rs replays them on every new connection.
pub struct Subscriber {
    manager: ConnectionManager,
    command_timeout: Duration,
    receiver: Mutex<Option<UnboundedReceiver<PubSubEvent>>>,
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
}

/// A push message as a [`PubSubEvent`]: messages and disconnects; confirmations are dropped.
fn to_event(push: PushInfo) -> Option<PubSubEvent> {
    if push.kind == PushKind::Disconnection {
        return Some(PubSubEvent::Disconnected);
    }
    let msg = redis::Msg::from_push_info(push)?;
    Some(PubSubEvent::Message {
        channel: msg.get_channel_name().to_owned(),
        payload: msg.get_payload_bytes().to_vec(),
    })
}

impl PubSub for Subscriber {
    fn subscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(Subscriber::subscribe(self, channels))
    }

    fn unsubscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(Subscriber::unsubscribe(self, channels))
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Subscriber::ping(self))
    }

    fn take_events(&self) -> Option<UnboundedReceiver<PubSubEvent>> {
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
            e.detail().to_owned(),
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
        .set_push_sender(move |push: PushInfo| match to_event(push) {
            Some(event) => tx.send(event).map_err(|_| ()),
            None => Ok(()),
        })
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
