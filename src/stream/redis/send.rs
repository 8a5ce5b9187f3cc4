//! Sending: targeted sends (with store-and-forward) and broadcasts.

use super::{Inner, RedisStreamManager};
use crate::redis::{glob_escape, scan_all, RedisErrorKind, Result, Write};

impl RedisStreamManager {
    /// Publishes `data` to the listed sessions (one batch of PUBLISH), or with `None` to
    /// every session of the active set whose availability key exists (one Lua script; ids
    /// whose key is gone are removed from the set). Channels are literal names: an id with
    /// glob characters reaches only itself. Without scripts (a driven client) the active set
    /// is read with `SMEMBERS`, or without that with `KEYS available:{prefix}*`, and each id
    /// is published to, as mcp-use does.
    pub async fn send(&self, session_ids: Option<&[String]>, data: &str) -> Result<()> {
        let inner = &self.inner;
        inner.streams.sent(session_ids);
        let ids: Vec<String> = match session_ids {
            Some(ids) => ids.to_vec(),
            None => {
                let active = inner.active_key();
                let available = format!("available:{}", inner.prefix);
                match inner
                    .conn
                    .broadcast(&active, &available, &inner.prefix, data)
                    .await
                {
                    Err(e) if e.kind() == RedisErrorKind::Unsupported => {
                        inner.broadcast_targets().await?
                    }
                    other => return other.map(|_sent| ()),
                }
            }
        };
        if ids.is_empty() {
            return Ok(());
        }
        if inner.pending.enabled() {
            match inner
                .conn
                .publish_or_keep(&inner.pending_keys, &ids, data, inner.pending)
                .await
            {
                Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
                Ok(kept) => {
                    if kept.buffered > 0 {
                        tracing::debug!(buffered = kept.buffered, dropped = kept.dropped, prefix = %inner.prefix, "kept messages no stream received");
                    }
                    inner.counters.add(kept);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        let writes = ids
            .iter()
            .map(|id| Write::Publish {
                channel: inner.channel(id),
                message: data.to_owned(),
            })
            .collect();
        let n = ids.len();
        let describe = || match &ids[..] {
            [one] => format!("PUBLISH {}", inner.channel(one)),
            _ => format!("PUBLISH to {n} channels {}*", inner.prefix),
        };
        inner.conn.write(writes, &describe).await
    }
}

impl Inner {
    /// The ids a broadcast goes to when the backend has no scripts: the active set
    /// (`SMEMBERS`), or without sets the ids of the availability keys (`KEYS`), as mcp-use.
    pub(super) async fn broadcast_targets(&self) -> Result<Vec<String>> {
        match self.conn.members(&self.active_key()).await {
            Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
            other => return other,
        }
        let available = format!("available:{}", self.prefix);
        let keys = scan_all(self.conn.as_ref(), &format!("{}*", glob_escape(&available))).await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(available.as_str()))
            .map(str::to_owned)
            .collect())
    }
}
