//! The store-and-forward scripts of the native connection (see [`crate::pending`] and
//! [`PendingKeys`]). Each is one atomic step: a message is either received by a subscriber or
//! kept, and kept messages are taken by exactly one stream.

use std::sync::LazyLock;

use super::connection::Connection;
use crate::pending::{PendingLimits, PendingStats};
use crate::redis::backend::{PendingKeys, Taken};
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

/// ARGV: channel prefix, list prefix, bytes prefix, message, ttl, max messages, max bytes,
/// ids... Publishes to each id's channel; where PUBLISH reached nobody, appends the message
/// to the id's list. Returns { buffered, dropped }.
const PUBLISH_OR_KEEP_LUA: &str = r"
local now = redis.call('TIME')[1]
local msg = ARGV[4]
local ttl, maxn, maxb = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local buffered, dropped = 0, 0
for i = 8, #ARGV do
  local id = ARGV[i]
  if redis.call('PUBLISH', ARGV[1] .. id, msg) == 0 then
    local key, bkey = ARGV[2] .. id, ARGV[3] .. id
    local n = redis.call('RPUSH', key, now .. ':' .. msg)
    local b = redis.call('INCRBY', bkey, #msg)
    buffered = buffered + 1
    dropped = dropped + trim(key, bkey, n, b, ttl, maxn, maxb)
  end
end
return { buffered, dropped }
";

/// ARGV: list key, bytes key, ttl, max messages, max bytes, channel, messages (oldest
/// first)... Puts the messages at the head of the list, unless another instance listens to
/// the session's channel: its stream was open when they were published (a client that
/// moved while our stream lingered), so they reached it, and keeping them would deliver them
/// twice. Returns { buffered, dropped }.
const REQUEUE_LUA: &str = r"
if redis.call('PUBSUB', 'NUMSUB', ARGV[6])[2] > 0 then
  return { 0, 0 }
end
local now = redis.call('TIME')[1]
local size = 0
for i = #ARGV, 7, -1 do
  redis.call('LPUSH', ARGV[1], now .. ':' .. ARGV[i])
  size = size + #ARGV[i]
end
local n = redis.call('LLEN', ARGV[1])
local b = redis.call('INCRBY', ARGV[2], size)
local dropped = trim(ARGV[1], ARGV[2], n, b, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return { #ARGV - 6, dropped }
";

/// ARGV: list prefix, bytes prefix, ttl, ids... Reads and deletes each id's list. Returns,
/// per id, { expired, messages... } with the messages that are younger than the TTL.
const TAKE_LUA: &str = r"
local now = tonumber(redis.call('TIME')[1])
local ttl = tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV do
  local key = ARGV[1] .. ARGV[i]
  local entries = redis.call('LRANGE', key, 0, -1)
  local res = { 0 }
  if #entries > 0 then
    redis.call('DEL', key, ARGV[2] .. ARGV[i])
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

/// Plain PUBLISH first (one command, or one pipeline for several ids): a session whose
/// stream is open costs what it costs without store-and-forward. Only the ids nobody
/// received go through the script, which publishes again and keeps the message if still
/// nobody receives it; the first PUBLISH reached nobody, so publishing again duplicates
/// nothing, and the decision to keep stays atomic.
pub(super) async fn publish_or_keep(
    conn: &Connection,
    keys: &PendingKeys,
    ids: &[String],
    message: &str,
    limits: PendingLimits,
) -> Result<PendingStats> {
    let describe = |ids: &[String]| match ids {
        [one] => format!("PUBLISH {}{one}", keys.channel_prefix),
        _ => format!("PUBLISH to {} channels {}*", ids.len(), keys.channel_prefix),
    };
    let publish = |id: &String| {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(format!("{}{id}", keys.channel_prefix)).arg(message);
        cmd
    };
    let received: Vec<u64> = match ids {
        [one] => vec![conn.query(&publish(one), || describe(ids)).await?],
        _ => {
            let mut pipe = redis::pipe();
            for id in ids {
                pipe.add_command(publish(id));
            }
            conn.query_pipeline(&pipe, || describe(ids)).await?
        }
    };
    let missed: Vec<&String> = ids
        .iter()
        .zip(received)
        .filter(|(_, n)| *n == 0)
        .map(|(id, _)| id)
        .collect();
    if missed.is_empty() {
        return Ok(PendingStats::default());
    }
    let mut invocation = PUBLISH_OR_KEEP.prepare_invoke();
    invocation
        .arg(&keys.channel_prefix)
        .arg(&keys.list_prefix)
        .arg(&keys.bytes_prefix)
        .arg(message)
        .arg(limits.ttl_secs)
        .arg(limits.max_messages)
        .arg(limits.max_bytes)
        .arg(&missed);
    let missed: Vec<String> = missed.into_iter().cloned().collect();
    conn.invoke_script(&invocation, || describe(&missed))
        .await
        .map(counts)
}

pub(super) async fn requeue(
    conn: &Connection,
    keys: &PendingKeys,
    id: &str,
    messages: &[String],
    limits: PendingLimits,
) -> Result<PendingStats> {
    let mut invocation = REQUEUE.prepare_invoke();
    invocation
        .arg(format!("{}{id}", keys.list_prefix))
        .arg(format!("{}{id}", keys.bytes_prefix))
        .arg(limits.ttl_secs)
        .arg(limits.max_messages)
        .arg(limits.max_bytes)
        .arg(format!("{}{id}", keys.channel_prefix))
        .arg(messages);
    conn.invoke_script(&invocation, || {
        format!("requeue to {}{id}", keys.list_prefix)
    })
    .await
    .map(counts)
}

pub(super) async fn take(
    conn: &Connection,
    keys: &PendingKeys,
    ids: &[String],
    limits: PendingLimits,
) -> Result<Vec<Taken>> {
    let mut invocation = TAKE.prepare_invoke();
    invocation
        .arg(&keys.list_prefix)
        .arg(&keys.bytes_prefix)
        .arg(limits.ttl_secs)
        .arg(ids);
    let what = || format!("take of {} lists {}*", ids.len(), keys.list_prefix);
    let replies: Vec<Vec<redis::Value>> = conn.invoke_script(&invocation, what).await?;
    replies
        .into_iter()
        .map(|reply| {
            taken(reply).map_err(|detail| RedisError::new(RedisErrorKind::Protocol, what(), detail))
        })
        .collect()
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
