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
//! Every method returns errors; the bindings decide, like the reference, that `get`, `has` and
//! `keys` log and answer `null` / `false` / `[]` while the others throw.

use std::collections::HashSet;

use crate::redis::{glob_escape, Connection, RedisError, RedisErrorKind, Result};

/// Default key prefix, as in the reference.
pub const DEFAULT_PREFIX: &str = "mcp:session:";
/// Default TTL in seconds, as in the reference.
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// Keys fetched per `SCAN` page.
const SCAN_COUNT: usize = 2500;

/// Session metadata store backed by Redis. Values are already-serialized JSON text.
#[derive(Clone, Debug)]
pub struct RedisSessionStore {
    conn: Connection,
    prefix: String,
    default_ttl_secs: u64,
}

impl RedisSessionStore {
    /// A store on `conn` with keys `{prefix}{id}` that expire after `default_ttl_secs`
    /// (0: no expiry).
    pub fn new(conn: Connection, prefix: String, default_ttl_secs: u64) -> Self {
        Self {
            conn,
            prefix,
            default_ttl_secs,
        }
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
        let mut cmd = redis::cmd("GET");
        cmd.arg(&key);
        let value: Option<String> = self.conn.query(&cmd, || format!("GET {key}")).await?;
        // The reference treats an empty string like a missing key (`if (!data) return null`).
        Ok(value.filter(|v| !v.is_empty()))
    }

    /// `SET {prefix}{id} json EX default_ttl`.
    pub async fn set(&self, id: &str, json: &str) -> Result<()> {
        let key = self.key(id);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(json);
        if self.default_ttl_secs > 0 {
            cmd.arg("EX").arg(self.default_ttl_secs);
        }
        self.conn.query::<()>(&cmd, || format!("SET {key}")).await
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
            let mut cmd = redis::cmd("DEL");
            cmd.arg(&key);
            return self.conn.query::<()>(&cmd, || format!("DEL {key}")).await;
        }
        // f64 -> u64 saturates; Redis caps EX itself and answers with an error if too large.
        let secs = (ttl_ms / 1000.0).ceil().max(1.0) as u64;
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(json).arg("EX").arg(secs);
        self.conn
            .query::<()>(&cmd, || format!("SET {key} EX {secs}"))
            .await
    }

    /// `DEL {prefix}{id}`.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let key = self.key(id);
        let mut cmd = redis::cmd("DEL");
        cmd.arg(&key);
        self.conn.query::<()>(&cmd, || format!("DEL {key}")).await
    }

    /// `EXISTS {prefix}{id}`.
    pub async fn has(&self, id: &str) -> Result<bool> {
        let key = self.key(id);
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(&key);
        let n: i64 = self.conn.query(&cmd, || format!("EXISTS {key}")).await?;
        Ok(n == 1)
    }

    /// All session ids (prefix stripped), found with `SCAN MATCH <escaped prefix>*`.
    /// Order is unspecified; each id appears once.
    pub async fn keys(&self) -> Result<Vec<String>> {
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        self.scan_pages(|page| {
            for key in page {
                if let Some(id) = key.strip_prefix(self.prefix.as_str()) {
                    if seen.insert(id.to_string()) {
                        ids.push(id.to_string());
                    }
                }
            }
        })
        .await?;
        Ok(ids)
    }

    /// Deletes every key of this prefix: `SCAN` pages, each removed with one `UNLINK`.
    pub async fn clear(&self) -> Result<()> {
        let pattern = self.pattern();
        let mut cursor: u64 = 0;
        loop {
            let (next, page) = self.scan_once(cursor, &pattern).await?;
            let page: Vec<String> = page
                .into_iter()
                .filter(|k| k.starts_with(self.prefix.as_str()))
                .collect();
            if !page.is_empty() {
                let mut cmd = redis::cmd("UNLINK");
                cmd.arg(&page);
                let n = page.len();
                self.conn
                    .query::<()>(&cmd, || format!("UNLINK ({n} keys matching {pattern})"))
                    .await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn pattern(&self) -> String {
        format!("{}*", glob_escape(&self.prefix))
    }

    async fn scan_once(&self, cursor: u64, pattern: &str) -> Result<(u64, Vec<String>)> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        self.conn
            .query(&cmd, || format!("SCAN {cursor} MATCH {pattern}"))
            .await
    }

    async fn scan_pages(&self, mut on_page: impl FnMut(Vec<String>)) -> Result<()> {
        let pattern = self.pattern();
        let mut cursor: u64 = 0;
        loop {
            let (next, page) = self.scan_once(cursor, &pattern).await?;
            on_page(page);
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}
