//! `RedisSessionStore` core: session metadata in Redis, one string key per session.
//!
//! Wire layout, identical to mcp-use's TypeScript `RedisSessionStore` so both can share one
//! Redis: key `{prefix}{sessionId}` (prefix `mcp:session:` by default) holding the JSON text
//! of the metadata, with `EX defaultTTL` (3600 s) or `EX ceil(ttlMs / 1000)`.
//!
//! Differences from the reference:
//! * `keys()` and `clear()` use `SCAN` with the prefix glob-escaped (never `KEYS`, which
//!   blocks Redis, and a prefix containing `* ? [ ] \` matches only itself); `clear()`
//!   removes the keys page by page with `UNLINK`.
//! * `set_with_ttl` with `ttl_ms <= 0` deletes the key (the session is already expired);
//!   the reference sends `EX 0`, which Redis rejects. A non-finite `ttl_ms` is an error.
//! * A default TTL of 0 stores without expiry (the reference would send the invalid `EX 0`).
//!
//! The store is written once against [`Commands`]: the native connection, or a user's client
//! object driven by the bindings (see [`crate::redis::backend`]). Whichever it is, it is
//! measured ([`crate::redis::metered`]): `stats()` and `health()` read that.
//!
//! Every method returns errors; the bindings decide, like the reference, that `get`, `has` and
//! `keys` log and answer `null` / `false` / `[]` while the others throw.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    number_field, string_field, warn_unknown_keys, ConfigResult, Object, MAX_TTL_MS,
};
use crate::metrics::connection::{ConnectionMeter, ConnectionStats};
use crate::metrics::health::{redis_health, RedisHealth};
use crate::redis::config::CONNECTION_KEYS;
use crate::redis::metered::MeteredCommands;
use crate::redis::ready::{probe_commands, ready};
use crate::redis::{glob_escape, scan_all, Commands, RedisError, RedisErrorKind, Result, Write};

/// Default key prefix, as in the reference.
pub const DEFAULT_PREFIX: &str = "mcp:session:";
/// Default TTL in seconds, as in the reference.
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// What a `RedisSessionStore` config sets beyond its connection: `prefix` and `defaultTTL`
/// (seconds, rounded up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    pub prefix: String,
    pub default_ttl_secs: u64,
}

impl StoreOptions {
    /// The keys of a `RedisSessionStore` config beyond [`CONNECTION_KEYS`].
    pub const KEYS: [&'static str; 2] = ["prefix", "defaultTTL"];

    /// Reads them, and warns about keys no option has (a typo is not ignored silently).
    pub fn read(config: &Object, class: &str) -> ConfigResult<Self> {
        let known: Vec<&'static str> = CONNECTION_KEYS.iter().chain(&Self::KEYS).copied().collect();
        warn_unknown_keys(config, &known, class);
        let prefix = string_field(Some(config), "prefix", class)?
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        let ttl = number_field(Some(config), "defaultTTL", class, 1.0, MAX_TTL_MS / 1000.0)?;
        Ok(StoreOptions {
            prefix,
            default_ttl_secs: ttl.map_or(DEFAULT_TTL_SECS, |t| t.ceil() as u64),
        })
    }
}

/// Session metadata store backed by Redis. Values are already-serialized JSON text.
#[derive(Clone)]
pub struct RedisSessionStore {
    conn: Arc<dyn Commands>,
    meter: Arc<ConnectionMeter>,
    prefix: String,
    default_ttl_secs: u64,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .field("default_ttl_secs", &self.default_ttl_secs)
            .finish()
    }
}

impl RedisSessionStore {
    /// A store on `conn` (a native [`crate::redis::Connection`] or any other [`Commands`])
    /// with keys `{prefix}{id}` that expire after `default_ttl_secs` (0: no expiry).
    pub fn new(conn: impl Commands, prefix: String, default_ttl_secs: u64) -> Self {
        Self::with_backend(Arc::new(conn), prefix, default_ttl_secs)
    }

    /// Like [`RedisSessionStore::new`], on a shared backend.
    pub fn with_backend(conn: Arc<dyn Commands>, prefix: String, default_ttl_secs: u64) -> Self {
        let meter = Arc::new(ConnectionMeter::default());
        Self {
            conn: Arc::new(MeteredCommands::new(conn, meter.clone())),
            meter,
            prefix,
            default_ttl_secs,
        }
    }

    /// What the connection went through; it outlives the store (`health()` after `close()`).
    pub fn meter(&self) -> Arc<ConnectionMeter> {
        self.meter.clone()
    }

    /// The connection's counters.
    pub fn stats(&self) -> ConnectionStats {
        self.meter.stats()
    }

    /// Whether the store can serve (see [`crate::metrics::health`]). An idle connection gets
    /// a PING in the background, whose outcome the next call reports.
    pub fn health(&self) -> RedisHealth {
        probe_commands(&self.meter, &self.conn);
        redis_health(self.meter.health(), None, false)
    }

    /// Resolves once Redis answers a PING, trying until `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<()> {
        ready(self.conn.as_ref(), None, timeout).await
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The default TTL in seconds.
    pub fn default_ttl_secs(&self) -> u64 {
        self.default_ttl_secs
    }

    /// The Redis key of session `id`.
    pub fn key(&self, id: &str) -> String {
        format!("{}{}", self.prefix, id)
    }

    /// `GET {prefix}{id}`: the stored JSON text, `None` when absent.
    pub async fn get(&self, id: &str) -> Result<Option<String>> {
        let key = self.key(id);
        let value = self.conn.get(&key).await?;
        // The reference treats an empty string like a missing key (`if (!data) return null`).
        Ok(value.filter(|v| !v.is_empty()))
    }

    /// `SET {prefix}{id} json EX default_ttl`.
    pub async fn set(&self, id: &str, json: &str) -> Result<()> {
        let key = self.key(id);
        let expire_secs = (self.default_ttl_secs > 0).then_some(self.default_ttl_secs);
        let write = Write::Set {
            key: key.clone(),
            value: json.to_owned(),
            expire_secs,
        };
        self.conn.write(vec![write], &|| format!("SET {key}")).await
    }

    /// `SET {prefix}{id} json EX ceil(ttl_ms / 1000)`. `ttl_ms <= 0` deletes the key instead
    /// (Redis rejects `EX 0`); NaN or infinity is an error.
    pub async fn set_with_ttl(&self, id: &str, json: &str, ttl_ms: f64) -> Result<()> {
        let key = self.key(id);
        if !ttl_ms.is_finite() {
            return Err(RedisError::new(
                RedisErrorKind::Config,
                format!("SET {key}"),
                format!("invalid TTL {ttl_ms} ms"),
            ));
        }
        if ttl_ms <= 0.0 {
            return self
                .conn
                .write(vec![Write::Del(vec![key.clone()])], &|| {
                    format!("DEL {key}")
                })
                .await;
        }
        // f64 -> u64 saturates; Redis caps EX itself and answers with an error if too large.
        let secs = (ttl_ms / 1000.0).ceil().max(1.0) as u64;
        let write = Write::Set {
            key: key.clone(),
            value: json.to_owned(),
            expire_secs: Some(secs),
        };
        self.conn
            .write(vec![write], &|| format!("SET {key} EX {secs}"))
            .await
    }

    /// `DEL {prefix}{id}`.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let key = self.key(id);
        self.conn
            .write(vec![Write::Del(vec![key.clone()])], &|| {
                format!("DEL {key}")
            })
            .await
    }

    /// `EXISTS {prefix}{id}`.
    pub async fn has(&self, id: &str) -> Result<bool> {
        self.conn.exists(&self.key(id)).await
    }

    /// All session ids (prefix stripped), found with `SCAN MATCH <escaped prefix>*` (a driven
    /// client: `keys(pattern)`). Order is unspecified; each id appears once.
    pub async fn keys(&self) -> Result<Vec<String>> {
        let mut seen = HashSet::new();
        let keys = scan_all(self.conn.as_ref(), &self.pattern()).await?;
        Ok(keys
            .iter()
            .filter_map(|key| key.strip_prefix(self.prefix.as_str()))
            .filter(|id| seen.insert(*id))
            .map(str::to_owned)
            .collect())
    }

    /// Deletes every key of this prefix: `SCAN` pages, each removed with one `UNLINK` (a
    /// driven client: `keys(pattern)`, then one `del` of them all).
    pub async fn clear(&self) -> Result<()> {
        let pattern = self.pattern();
        let mut cursor = "0".to_owned();
        loop {
            let (next, page) = self.conn.scan(&cursor, &pattern).await?;
            let page: Vec<String> = page
                .into_iter()
                .filter(|k| k.starts_with(self.prefix.as_str()))
                .collect();
            if !page.is_empty() {
                let n = page.len();
                self.conn
                    .write(vec![Write::Unlink(page)], &|| {
                        format!("UNLINK ({n} keys matching {pattern})")
                    })
                    .await?;
            }
            if next == "0" {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn pattern(&self) -> String {
        format!("{}*", glob_escape(&self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, Value};

    #[test]
    fn options_default_as_mcp_use_and_round_the_ttl_up() {
        assert_eq!(
            StoreOptions::read(&Object::default(), "S"),
            Ok(StoreOptions {
                prefix: DEFAULT_PREFIX.to_owned(),
                default_ttl_secs: DEFAULT_TTL_SECS
            })
        );
        let config = Object(vec![
            ("prefix".into(), Value::String("app:".into())),
            ("defaultTTL".into(), Value::Number(1.5)),
        ]);
        assert_eq!(
            StoreOptions::read(&config, "S"),
            Ok(StoreOptions {
                prefix: "app:".to_owned(),
                default_ttl_secs: 2
            })
        );
        let zero = Object(vec![("defaultTTL".into(), Value::Number(0.0))]);
        assert!(matches!(
            StoreOptions::read(&zero, "S"),
            Err(ConfigError::Range(_))
        ));
    }
}
