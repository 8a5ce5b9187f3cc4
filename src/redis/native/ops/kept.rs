//! Kept messages (store-and-forward, see [`crate::pending`] and [`PendingKeys`]): publish or
//! keep, take, and put back. Each is one atomic script: a message is either received by a
//! subscriber or kept, and kept messages are taken by exactly one stream. On a Cluster only
//! with sharded pub/sub, where a session's keys share its channel's slot ([`Layout`]).

use std::sync::LazyLock;

use futures_util::future::try_join_all;
use redis::cluster_async::ClusterConnection;

use super::fan_out::run_all;
use crate::pending::{PendingLimits, PendingStats};
use crate::redis::backend::{unsupported, PendingKeys, Taken};
use crate::redis::native::conn::Connection;
use crate::redis::{RedisError, RedisErrorKind, Result};

/// Lua helper shared by the scripts that add to a list: drops the oldest entries beyond the
/// limits and refreshes both keys' expiry. Entries are `"<unix seconds>:<message>"`; the
/// byte count counts message text only.
const TRIM_LUA: &str = r"
local function trim(key, bkey, n, b, ttl, maxn, maxb)
  local dropped = 0
  while (n > maxn or b > maxb) and n > 0 do
    local old = redis.call('LPOP', key)
    n = n - 1
    b = redis.call('DECRBY', bkey, #old - string.find(old, ':', 1, true))
    dropped = dropped + 1
  end
  redis.call('EXPIRE', key, ttl)
  redis.call('EXPIRE', bkey, ttl)
  return dropped
end
";

/// KEYS: list and bytes key of each session, in pairs; ARGV: message, ttl, max messages,
/// max bytes, the publish command (`PUBLISH`, or `SPUBLISH` on a sharded cluster), then each
/// session's channel. Publishes to each channel; where that reached nobody, appends the
/// message to the session's list. Returns { buffered, dropped }.
const PUBLISH_OR_KEEP_LUA: &str = r"
local now = redis.call('TIME')[1]
local msg = ARGV[1]
local ttl, maxn, maxb = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local buffered, dropped = 0, 0
for i = 1, #KEYS / 2 do
  if redis.call(ARGV[5], ARGV[5 + i], msg) == 0 then
    local key, bkey = KEYS[2 * i - 1], KEYS[2 * i]
    local n = redis.call('RPUSH', key, now .. ':' .. msg)
    local b = redis.call('INCRBY', bkey, #msg)
    buffered = buffered + 1
    dropped = dropped + trim(key, bkey, n, b, ttl, maxn, maxb)
  end
end
return { buffered, dropped }
";

/// KEYS: list key, bytes key; ARGV: ttl, max messages, max bytes, channel, the subscriber
/// count command (`NUMSUB`, or `SHARDNUMSUB` on a sharded cluster), messages (oldest
/// first)... Puts the messages at the head of the list, unless another instance listens to
/// the session's channel: its stream was open when they were published (a client that
/// moved while our stream lingered), so they reached it, and keeping them would deliver them
/// twice. Returns { buffered, dropped }.
const REQUEUE_LUA: &str = r"
if redis.call('PUBSUB', ARGV[5], ARGV[4])[2] > 0 then
  return { 0, 0 }
end
local now = redis.call('TIME')[1]
local size = 0
for i = #ARGV, 6, -1 do
  redis.call('LPUSH', KEYS[1], now .. ':' .. ARGV[i])
  size = size + #ARGV[i]
end
local n = redis.call('LLEN', KEYS[1])
local b = redis.call('INCRBY', KEYS[2], size)
local dropped = trim(KEYS[1], KEYS[2], n, b, tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return { #ARGV - 5, dropped }
";

/// KEYS: list and bytes key of each session, in pairs; ARGV: ttl. Reads and deletes each
/// list. Returns, per session, { expired, messages... } with the messages that are younger
/// than the TTL.
const TAKE_LUA: &str = r"
local now = tonumber(redis.call('TIME')[1])
local ttl = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local key = KEYS[2 * i - 1]
  local entries = redis.call('LRANGE', key, 0, -1)
  local res = { 0 }
  if #entries > 0 then
    redis.call('DEL', key, KEYS[2 * i])
    for _, e in ipairs(entries) do
      local at = string.find(e, ':', 1, true)
      if now - tonumber(string.sub(e, 1, at - 1)) >= ttl then
        res[1] = res[1] + 1
      else
        res[#res + 1] = string.sub(e, at + 1)
      end
    end
  end
  out[#out + 1] = res
end
return out
";

static PUBLISH_OR_KEEP: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&format!("{TRIM_LUA}{PUBLISH_OR_KEEP_LUA}")));
static REQUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&format!("{TRIM_LUA}{REQUEUE_LUA}")));
static TAKE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(TAKE_LUA));

fn counts((buffered, dropped): (u64, u64)) -> PendingStats {
    PendingStats {
        buffered,
        dropped,
        ..PendingStats::default()
    }
}

fn add(a: PendingStats, b: PendingStats) -> PendingStats {
    PendingStats {
        buffered: a.buffered + b.buffered,
        dropped: a.dropped + b.dropped,
        ..PendingStats::default()
    }
}

/// Publishes `message` to each of `ids`, keeping it for those nobody received it (see
/// [`crate::redis::Commands::publish_or_keep`]).
pub(super) async fn publish_or_keep(
    conn: &Connection,
    keys: &PendingKeys,
    ids: &[String],
    message: &str,
    limits: PendingLimits,
) -> Result<PendingStats> {
    let what = || format!("store-and-forward on {}*", keys.list_prefix);
    let cluster = conn.cluster(what).await?;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let layout = Layout::of(conn, cluster, keys, &refs, what)?;
    publish_or_keep_in(conn, &layout, ids, message, limits).await
}

/// Takes the kept messages of each of `ids` (see [`crate::redis::Commands::take_pending`]).
pub(super) async fn take(
    conn: &Connection,
    keys: &PendingKeys,
    ids: &[String],
    limits: PendingLimits,
) -> Result<Vec<Taken>> {
    let what = || format!("take of {}*", keys.list_prefix);
    let cluster = conn.cluster(what).await?;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let layout = Layout::of(conn, cluster, keys, &refs, what)?;
    take_in(conn, &layout, ids, limits).await
}

/// Puts `messages` back ahead of what was kept since (see [`crate::redis::Commands::requeue`]).
pub(super) async fn requeue(
    conn: &Connection,
    keys: &PendingKeys,
    id: &str,
    messages: &[String],
    limits: PendingLimits,
) -> Result<PendingStats> {
    let what = || format!("requeue to {}{id}", keys.list_prefix);
    let cluster = conn.cluster(what).await?;
    let layout = Layout::of(conn, cluster, keys, &[id], what)?;
    requeue_in(conn, &layout, id, messages, limits).await
}

/// Plain PUBLISH first (one command, or one pipeline for several ids): a session whose
/// stream is open costs what it costs without store-and-forward. Only the ids nobody
/// received go through the script, which publishes again and keeps the message if still
/// nobody receives it; the first PUBLISH reached nobody, so publishing again duplicates
/// nothing, and the decision to keep stays atomic. On a sharded cluster, each session's
/// script runs on its channel's shard.
async fn publish_or_keep_in(
    conn: &Connection,
    layout: &Layout<'_>,
    ids: &[String],
    message: &str,
    limits: PendingLimits,
) -> Result<PendingStats> {
    let keys = layout.keys;
    let describe = |ids: &[String]| match ids {
        [one] => format!("{} {}{one}", layout.publish(), keys.channel_prefix),
        _ => format!(
            "{} to {} channels {}*",
            layout.publish(),
            ids.len(),
            keys.channel_prefix
        ),
    };
    let publish = |id: &String| {
        let mut cmd = redis::cmd(layout.publish());
        cmd.arg(format!("{}{id}", keys.channel_prefix)).arg(message);
        cmd
    };
    let received: Vec<u64> = match (ids, &layout.cluster) {
        ([one], _) => vec![conn.query(&publish(one), || describe(ids)).await?],
        (_, Some(cluster)) => {
            let cmds = ids.iter().map(publish).collect();
            let replies = run_all(conn, cluster, cmds, || describe(ids)).await?;
            replies
                .into_iter()
                .map(|v| redis::from_redis_value(v).unwrap_or(1))
                .collect()
        }
        (_, None) => {
            let mut pipe = redis::pipe();
            for id in ids {
                pipe.add_command(publish(id));
            }
            conn.query_pipeline(&pipe, || describe(ids)).await?
        }
    };
    let missed: Vec<String> = ids
        .iter()
        .zip(received)
        .filter(|(_, n)| *n == 0)
        .map(|(id, _)| id.clone())
        .collect();
    let keep = layout.groups(&missed).into_iter().map(|group| async move {
        let mut invocation = PUBLISH_OR_KEEP.prepare_invoke();
        for id in group {
            invocation.key(layout.list(id)).key(layout.bytes(id));
        }
        invocation
            .arg(message)
            .arg(limits.ttl_secs)
            .arg(limits.max_messages)
            .arg(limits.max_bytes)
            .arg(layout.publish());
        for id in group {
            invocation.arg(format!("{}{id}", keys.channel_prefix));
        }
        conn.invoke_script(&invocation, || describe(group))
            .await
            .map(counts)
    });
    let kept = try_join_all(keep).await?;
    Ok(kept.into_iter().fold(PendingStats::default(), add))
}

async fn requeue_in(
    conn: &Connection,
    layout: &Layout<'_>,
    id: &str,
    messages: &[String],
    limits: PendingLimits,
) -> Result<PendingStats> {
    let keys = layout.keys;
    let mut invocation = REQUEUE.key(layout.list(id));
    invocation
        .key(layout.bytes(id))
        .arg(limits.ttl_secs)
        .arg(limits.max_messages)
        .arg(limits.max_bytes)
        .arg(format!("{}{id}", keys.channel_prefix))
        .arg(layout.numsub())
        .arg(messages);
    conn.invoke_script(&invocation, || {
        format!("requeue to {}{id}", keys.list_prefix)
    })
    .await
    .map(counts)
}

async fn take_in(
    conn: &Connection,
    layout: &Layout<'_>,
    ids: &[String],
    limits: PendingLimits,
) -> Result<Vec<Taken>> {
    let keys = layout.keys;
    let what = || format!("take of {} lists {}*", ids.len(), keys.list_prefix);
    let takes = layout.groups(ids).into_iter().map(|group| async move {
        let mut invocation = TAKE.prepare_invoke();
        for id in group {
            invocation.key(layout.list(id)).key(layout.bytes(id));
        }
        invocation.arg(limits.ttl_secs);
        let replies: Vec<Vec<redis::Value>> = conn.invoke_script(&invocation, what).await?;
        replies
            .into_iter()
            .map(|reply| {
                taken(reply)
                    .map_err(|detail| RedisError::new(RedisErrorKind::Protocol, what(), detail))
            })
            .collect::<Result<Vec<Taken>>>()
    });
    let taken = try_join_all(takes).await?;
    Ok(taken.into_iter().flatten().collect())
}

/// Where each session's pending keys are. On one node: `{list_prefix}{id}` and
/// `{bytes_prefix}{id}`, and one script serves many sessions. On a cluster with sharded pub/sub
/// the keys carry the channel as hash tag, `{list_prefix}{{channel}}`, so a session's keys
/// live in its channel's slot and the script that publishes with `SPUBLISH` and keeps runs on
/// that shard, one session per script.
struct Layout<'a> {
    keys: &'a PendingKeys,
    cluster: Option<ClusterConnection>,
}

impl<'a> Layout<'a> {
    /// Where the pending keys of `ids` live. On a cluster only with sharded pub/sub, where a
    /// session's keys can share its channel's slot; otherwise
    /// [`RedisErrorKind::Unsupported`]: with classic pub/sub a `PUBLISH` counts the
    /// subscribers of one node only, so "nobody received it" cannot be decided atomically,
    /// and nothing is kept, as mcp-use.
    fn of(
        conn: &Connection,
        cluster: Option<ClusterConnection>,
        keys: &'a PendingKeys,
        ids: &[&str],
        what: impl FnOnce() -> String,
    ) -> Result<Layout<'a>> {
        let fits =
            || Self::fits(keys) && ids.iter().all(|id| !id.contains('{') && !id.contains('}'));
        if cluster.is_some() && !(conn.sharded() && fits()) {
            return Err(unsupported(
                what(),
                "store-and-forward on Redis Cluster without shardedPubSub",
            ));
        }
        Ok(Layout { keys, cluster })
    }
    /// Whether a cluster layout can hold `keys`' sessions: the hash tag must be the channel.
    fn fits(keys: &PendingKeys) -> bool {
        ![&keys.list_prefix, &keys.bytes_prefix, &keys.channel_prefix]
            .iter()
            .any(|p| p.contains('{') || p.contains('}'))
    }

    fn tagged(&self, prefix: &str, id: &str) -> String {
        match &self.cluster {
            Some(_) => format!("{prefix}{{{}{id}}}", self.keys.channel_prefix),
            None => format!("{prefix}{id}"),
        }
    }

    fn list(&self, id: &str) -> String {
        self.tagged(&self.keys.list_prefix, id)
    }

    fn bytes(&self, id: &str) -> String {
        self.tagged(&self.keys.bytes_prefix, id)
    }

    fn publish(&self) -> &'static str {
        if self.cluster.is_some() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    fn numsub(&self) -> &'static str {
        if self.cluster.is_some() {
            "SHARDNUMSUB"
        } else {
            "NUMSUB"
        }
    }

    /// The sessions one script may serve: all of them on one node, one each on a cluster.
    fn groups<'s>(&self, ids: &'s [String]) -> Vec<&'s [String]> {
        match (&self.cluster, ids.is_empty()) {
            (_, true) => Vec::new(),
            (Some(_), false) => ids.chunks(1).collect(),
            (None, false) => vec![ids],
        }
    }
}

/// `{ expired, messages... }` as [`Taken`].
fn taken(reply: Vec<redis::Value>) -> std::result::Result<Taken, String> {
    let mut values = reply.into_iter();
    let expired = match values.next() {
        Some(redis::Value::Int(n)) => u64::try_from(n).unwrap_or(0),
        other => return Err(format!("expected the expired count, got {other:?}")),
    };
    let messages = values
        .map(|v| match v {
            redis::Value::BulkString(bytes) => Ok(String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
            other => Err(format!("expected a message, got {other:?}")),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((expired, messages))
}
