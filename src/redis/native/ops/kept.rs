//! Kept messages (store-and-forward, see [`crate::pending`] and [`PendingKeys`]): publish or
//! keep, take, and put back. Each is one atomic script: a message is either received by a
//! subscriber or kept, and kept messages are taken by exactly one stream. On a Cluster only
//! with sharded pub/sub, where a session's keys share its channel's slot ([`Layout`]).

use std::sync::LazyLock;

use futures_util::future::try_join_all;
use redis::cluster_async::ClusterConnection;

use super::fan_out::run_all;
use super::journal;
use crate::pending::{PendingLimits, PendingStats};
use crate::redis::backend::{
    unsupported, HandOver, PendingKeys, Taken, TakenMessage, HANDBACK_TTL_SECS, HANDOVER_MARK_SECS,
};
use crate::redis::native::conn::Connection;
use crate::redis::{RedisError, RedisErrorKind, Result};

/// Lua helpers shared by the scripts. Entries are `"<unix seconds>.<micros>:<message>"` (the
/// micros order the entries of one second; entries of earlier versions have seconds only,
/// which read the same); the byte counts count message text only. What anyone else wrote
/// cannot make a script fail: an entry without a number before its `:` is sized as a whole
/// or a time in the future counts as expired when taken, a byte count that is no integer starts again from 0,
/// and a key of another type is left alone (a message for it is dropped, counted).
///
/// The total bound (one node or a Sentinel primary; on a Cluster the sessions' keys live in
/// different slots and only the per-session bounds apply): `G.index` (ZSET: each session by
/// the time of its front entry), `G.sizes` (HASH: each session's `"<messages> <bytes>"` as
/// last seen) and `G.totals` (HASH `n`, `b`: their sums). `note` derives a session's
/// contribution from its list again whenever a script touches it, so keys that changed
/// outside the scripts (a session's `DEL` on delete, an expiry) are corrected the next time:
/// `sweep` visits sessions whose front is older than the TTL, and `enforce` visits the
/// oldest first when over the totals.
const HELPERS_LUA: &str = r"
local function stamp()
  local t = redis.call('TIME')
  return string.format('%s.%06d', t[1], tonumber(t[2])), tonumber(t[1])
end
local function is_list(key)
  local t = redis.call('TYPE', key).ok
  return t == 'list' or t == 'none'
end
local function add_bytes(bkey, delta)
  local cur = redis.call('GET', bkey)
  if cur and not string.match(cur, '^%-?%d+$') then
    redis.call('SET', bkey, 0)
    cur = '0'
  end
  -- 0 would be sent as the Lua number -0 after a negation, which INCRBY refuses.
  if delta == 0 then return tonumber(cur or '0') end
  return redis.call('INCRBY', bkey, delta)
end
local function entry_stamp(e)
  local at = string.find(e, ':', 1, true)
  if not at then return nil, false end
  local s = string.sub(e, 1, at - 1)
  if string.sub(s, -1) == 'h' then return tonumber(string.sub(s, 1, -2)), true end
  return tonumber(s), false
end
local function entry_secs(e)
  local secs = entry_stamp(e)
  return secs
end
local function entry_size(e)
  local at = string.find(e, ':', 1, true)
  if not at then return #e end
  return #e - at
end
local function trim(key, bkey, n, b, ttl, maxn, maxb)
  local dropped = 0
  while (n > maxn or b > maxb) and n > 0 do
    local old = redis.call('LPOP', key)
    if not old then break end
    n = n - 1
    b = add_bytes(bkey, -entry_size(old))
    dropped = dropped + 1
  end
  redis.call('EXPIRE', key, ttl)
  redis.call('EXPIRE', bkey, ttl)
  return dropped
end
local function globals(at)
  return { on = ARGV[at] == '1', index = ARGV[at + 1], totals = ARGV[at + 2], sizes = ARGV[at + 3],
    lprefix = ARGV[at + 4], bprefix = ARGV[at + 5], maxn = tonumber(ARGV[at + 6]),
    maxb = tonumber(ARGV[at + 7]), ttl = tonumber(ARGV[at + 8]) }
end
local function note(G, sid)
  if not G.on then return end
  local key, bkey = G.lprefix .. sid, G.bprefix .. sid
  local n = 0
  if is_list(key) then n = redis.call('LLEN', key) end
  local b = 0
  if n > 0 then b = tonumber(redis.call('GET', bkey) or '0') or 0 end
  local was, on, ob = redis.call('HGET', G.sizes, sid), 0, 0
  if was then
    local c = string.find(was, ' ', 1, true)
    if c then on, ob = tonumber(string.sub(was, 1, c - 1)) or 0, tonumber(string.sub(was, c + 1)) or 0 end
  end
  if n ~= on then redis.call('HINCRBY', G.totals, 'n', n - on) end
  if b ~= ob then redis.call('HINCRBY', G.totals, 'b', b - ob) end
  if n > 0 then
    redis.call('HSET', G.sizes, sid, n .. ' ' .. b)
    redis.call('ZADD', G.index, entry_secs(redis.call('LINDEX', key, 0)) or 0, sid)
  else
    redis.call('HDEL', G.sizes, sid)
    redis.call('ZREM', G.index, sid)
    redis.call('DEL', bkey)
  end
end
local function sweep(G, now)
  local expired = 0
  if not G.on then return 0 end
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', G.index, '-inf', now - G.ttl, 'LIMIT', 0, 16)) do
    local key, bkey = G.lprefix .. sid, G.bprefix .. sid
    while is_list(key) do
      local front = redis.call('LINDEX', key, 0)
      if not front or (entry_secs(front) or 0) > now - G.ttl then break end
      redis.call('LPOP', key)
      add_bytes(bkey, -entry_size(front))
      expired = expired + 1
    end
    note(G, sid)
  end
  return expired
end
local function enforce(G)
  local dropped = 0
  if not G.on then return 0 end
  for _ = 1, 100000 do
    local n = tonumber(redis.call('HGET', G.totals, 'n') or '0') or 0
    local b = tonumber(redis.call('HGET', G.totals, 'b') or '0') or 0
    if n <= G.maxn and b <= G.maxb then break end
    local first = redis.call('ZRANGE', G.index, 0, 0)
    if #first == 0 then
      redis.call('DEL', G.totals)
      break
    end
    local sid = first[1]
    local old = nil
    if is_list(G.lprefix .. sid) then old = redis.call('LPOP', G.lprefix .. sid) end
    if old then
      add_bytes(G.bprefix .. sid, -entry_size(old))
      dropped = dropped + 1
    end
    note(G, sid)
  end
  for _, k in ipairs({ G.index, G.totals, G.sizes }) do
    redis.call('EXPIRE', k, G.ttl)
  end
  return dropped
end
";

/// KEYS: list and bytes key of each session, in pairs; ARGV: the totals (9, see
/// `globals`), message, ttl, max messages, max bytes, the publish command (`PUBLISH`, or
/// `SPUBLISH` on a sharded cluster), then each session's id and channel, in pairs. Publishes
/// to each channel; where that reached nobody, appends the message to the session's list.
/// Returns { buffered, dropped, expired }.
const PUBLISH_OR_KEEP_LUA: &str = r"
local G = globals(1)
local at, now = stamp()
local msg = ARGV[10]
local ttl, maxn, maxb = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local buffered, dropped = 0, 0
for i = 1, #KEYS / 2 do
  if redis.call(ARGV[14], ARGV[14 + 2 * i], msg) == 0 then
    local key, bkey = KEYS[2 * i - 1], KEYS[2 * i]
    buffered = buffered + 1
    if is_list(key) then
      local n = redis.call('RPUSH', key, at .. ':' .. msg)
      local b = add_bytes(bkey, #msg)
      dropped = dropped + trim(key, bkey, n, b, ttl, maxn, maxb)
      note(G, ARGV[13 + 2 * i])
    else
      dropped = dropped + 1
    end
  end
end
local expired = sweep(G, now)
dropped = dropped + enforce(G)
return { buffered, dropped, expired }
";

/// KEYS: list key, bytes key, hand-over key, awaited key, opening key; ARGV: the totals (9),
/// ttl, max messages, max bytes, session id, channel, the subscriber count command (`NUMSUB`,
/// or `SHARDNUMSUB` on a sharded cluster), the publish command, the requeuing instance's id,
/// its marker, whether it saw the opened marker of the stream that awaits it (`1`), messages
/// (oldest first)... Ends this instance's hand-over record. Then:
/// * a stream that opened meanwhile awaits this hand-back (its take announced it, and we saw
///   that marker, or were letting go when it ran: what we collected was all published before
///   it, and it tells what it received itself from what only we did): the messages go to
///   the head of the list as hand-backs (stamp suffix `h`) and, while anyone listens, the
///   marker tells it to take them;
/// * likewise, but without the marker, when a stream of the session is opening on another
///   instance (its opening record is there): it may have subscribed after they were
///   published, and its take, still to come, takes them and tells them apart;
/// * else, another instance listening to the session's channel received them (its stream was
///   open when they were published): nothing is kept, or they would be delivered twice;
/// * else they go to the head of the list for the next stream.
///
/// Returns { buffered, dropped, expired }.
const REQUEUE_LUA: &str = r"
local G = globals(1)
local marked = redis.pcall('GET', KEYS[3]) == ARGV[17]
if marked then redis.call('DEL', KEYS[3]) end
local count = #ARGV - 19
local waiting = redis.pcall('GET', KEYS[4])
local awaited = type(waiting) == 'string' and (ARGV[19] == '1' or waiting == ARGV[17])
local opener = redis.pcall('GET', KEYS[5])
local opening = type(opener) == 'string' and opener ~= ARGV[17]
local listened = redis.call('PUBSUB', ARGV[15], ARGV[14])[2] > 0
local res = { 0, 0, 0 }
if count > 0 and listened and not awaited and not opening then
  return res
elseif count > 0 and not is_list(KEYS[1]) then
  res = { count, count, 0 }
elseif count > 0 then
  local at, now = stamp()
  if awaited or (opening and listened) then at = at .. 'h' end
  local size = 0
  for i = #ARGV, 20, -1 do
    redis.call('LPUSH', KEYS[1], at .. ':' .. ARGV[i])
    size = size + #ARGV[i]
  end
  local n = redis.call('LLEN', KEYS[1])
  local b = add_bytes(KEYS[2], size)
  local dropped = trim(KEYS[1], KEYS[2], n, b, tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]))
  note(G, ARGV[13])
  local expired = sweep(G, now)
  dropped = dropped + enforce(G)
  res = { count, dropped, expired }
end
if awaited and listened and (count > 0 or marked) then
  redis.call(ARGV[16], ARGV[14], ARGV[18])
end
return res
";

/// KEYS: list, bytes, hand-over, awaited, opening and journal key of each session, in sixes
/// (the taker's own opening record goes); ARGV: the
/// totals (9), ttl, hand-back ttl, the taking instance's id (empty: announce nothing), its
/// marker, the subscriber count command, the publish command, the instance registry and the
/// prefix of the instances' session sets (empty: not readable here, a Cluster), then each
/// session's id and channel, in pairs. Reads and deletes each list. Returns, per session,
/// { expired, contested, flags, messages... } with the messages that are younger than the TTL
/// (a foreign entry counts as expired; a hand-back older than its own ttl too), `flags`
/// holding `1` for each hand-back and `0` for the others, in order. When another instance
/// listens to the session's channel or is letting go of it, the marker is published on the
/// channel, after the take and in the same step, and the awaited key says for the hand-back
/// ttl that a hand-back is awaited (from whoever saw the marker, and from the one letting go,
/// whose id it holds). The session is contested (the new stream waits for that hand-back)
/// when the one letting go, or a listener, is an instance of ours that lists the session (an
/// mcp-use instance never hands back; on a Cluster, where the sets are in other slots, only
/// one letting go counts).
///
/// The session's journal (see `journal.rs`), when nobody else listens and nobody lets go: what
/// is in it no instance acknowledged. A new stream takes it, ahead of the list (it is older:
/// the list's messages reached no subscriber, so the dead one was gone by then), as
/// hand-backs (it received those published after its SUBSCRIBE itself), and publishes its
/// marker, which tells them apart; only when an instance of ours that lists the session held
/// it (mcp-use's never acknowledge, so theirs holds what they delivered). Either way, and on a
/// re-open (the same stream), the journal goes.
const TAKE_LUA: &str = r"
local function held_elsewhere(registry, sets, taker, sid)
  if registry == '' then return false end
  for _, id in ipairs(redis.call('ZRANGE', registry, 0, -1)) do
    if id ~= taker and redis.call('SISMEMBER', sets .. id, sid) == 1 then return true end
  end
  return false
end
local G = globals(1)
local _, now = stamp()
local ttl, handback_ttl = tonumber(ARGV[10]), tonumber(ARGV[11])
local taker, marker = ARGV[12], ARGV[13]
local out = {}
local registry, sets = ARGV[16], ARGV[17]
for i = 1, (#ARGV - 17) / 2 do
  local key, bkey, hkey, akey, okey, jkey = KEYS[6 * i - 5], KEYS[6 * i - 4], KEYS[6 * i - 3], KEYS[6 * i - 2], KEYS[6 * i - 1], KEYS[6 * i]
  local sid, channel = ARGV[16 + 2 * i], ARGV[17 + 2 * i]
  local expired, contested = 0, 0
  local messages, flags = {}, {}
  if redis.pcall('GET', okey) == taker then redis.call('DEL', okey) end
  local journal = redis.pcall('XRANGE', jkey, '-', '+')
  if type(journal) ~= 'table' or journal.err then journal = {} end
  local entries = {}
  if is_list(key) then entries = redis.call('LRANGE', key, 0, -1) end
  if #entries > 0 then redis.call('DEL', key, bkey) end
  note(G, sid)
  local holder = redis.pcall('GET', hkey)
  local releasing = type(holder) == 'string' and holder ~= taker
  local listened = (taker ~= '' or #journal > 0) and redis.call('PUBSUB', ARGV[14], channel)[2] > 1
  local replay = false
  if #journal > 0 and not releasing and not listened then
    replay = taker ~= '' and held_elsewhere(registry, sets, taker, sid)
    if replay then
      for _, e in ipairs(journal) do
        local fields = e[2]
        -- Older than a hand-back is kept: an acknowledgement was lost, not a message.
        local ms = tonumber(string.match(e[1], '^(%d+)')) or 0
        if now * 1000 - ms >= handback_ttl * 1000 then
          expired = expired + 1
        elseif type(fields) == 'table' and type(fields[2]) == 'string' then
          messages[#messages + 1] = fields[2]
          flags[#flags + 1] = '1'
        end
      end
    end
    redis.call('DEL', jkey)
  end
  for _, e in ipairs(entries) do
    local secs, back = entry_stamp(e)
    -- From the future (beyond clock skew): not one of ours either.
    if not secs or now - secs >= ttl or secs > now + 60 or (back and now - secs >= handback_ttl) then
      expired = expired + 1
    else
      messages[#messages + 1] = string.sub(e, string.find(e, ':', 1, true) + 1)
      flags[#flags + 1] = back and '1' or '0'
    end
  end
  if taker ~= '' then
    if releasing or listened then
      -- Whom the hand-back is awaited from without seeing the marker: the one letting go.
      redis.call('SET', akey, releasing and holder or '-', 'EX', handback_ttl)
      redis.call(ARGV[15], channel, marker)
      if releasing or held_elsewhere(registry, sets, taker, sid) then contested = 1 end
    elseif replay then
      -- Splits what this stream received itself from the replayed ones (it had subscribed).
      redis.call(ARGV[15], channel, marker)
    end
  end
  local res = { expired, contested, table.concat(flags) }
  for _, m in ipairs(messages) do res[#res + 1] = m end
  out[#out + 1] = res
end
return out
";

static PUBLISH_OR_KEEP: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&format!("{HELPERS_LUA}{PUBLISH_OR_KEEP_LUA}")));
static REQUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&format!("{HELPERS_LUA}{REQUEUE_LUA}")));
static TAKE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&format!("{HELPERS_LUA}{TAKE_LUA}")));

fn counts((buffered, dropped, expired): (u64, u64, u64)) -> PendingStats {
    PendingStats {
        buffered,
        dropped,
        expired,
        ..PendingStats::default()
    }
}

fn add(a: PendingStats, b: PendingStats) -> PendingStats {
    PendingStats {
        buffered: a.buffered + b.buffered,
        dropped: a.dropped + b.dropped,
        expired: a.expired + b.expired,
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
    announce: Option<HandOver<'_>>,
) -> Result<Vec<Taken>> {
    let what = || format!("take of {}*", keys.list_prefix);
    let cluster = conn.cluster(what).await?;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let layout = Layout::of(conn, cluster, keys, &refs, what)?;
    take_in(conn, &layout, ids, limits, announce).await
}

/// Puts `messages` back ahead of what was kept since (see [`crate::redis::Commands::requeue`]).
pub(super) async fn requeue(
    conn: &Connection,
    keys: &PendingKeys,
    id: &str,
    messages: &[String],
    limits: PendingLimits,
    from: HandOver<'_>,
) -> Result<PendingStats> {
    let what = || format!("requeue to {}{id}", keys.list_prefix);
    let cluster = conn.cluster(what).await?;
    let layout = Layout::of(conn, cluster, keys, &[id], what)?;
    requeue_in(conn, &layout, id, messages, limits, from).await
}

/// Records that `server_id` lets go of the stream of `id` (see
/// [`crate::redis::Commands::mark_releasing`]).
pub(super) async fn mark_releasing(
    conn: &Connection,
    keys: &PendingKeys,
    id: &str,
    server_id: &str,
) -> Result<()> {
    let what = || format!("SET {}{id}", keys.handover_prefix);
    let cluster = conn.cluster(what).await?;
    let layout = Layout::of(conn, cluster, keys, &[id], what)?;
    let mut cmd = redis::cmd("SET");
    cmd.arg(layout.handover(id))
        .arg(server_id)
        .arg("EX")
        .arg(HANDOVER_MARK_SECS);
    conn.query::<()>(&cmd, what).await
}

/// Records that `server_id` opens a stream of each of `ids` (see
/// [`crate::redis::Commands::mark_opening`]): one pipeline on one node, single-slot commands
/// issued together on a cluster.
pub(super) async fn mark_opening(
    conn: &Connection,
    keys: &PendingKeys,
    ids: &[String],
    server_id: &str,
) -> Result<()> {
    let what = || format!("SET of {} keys {}*", ids.len(), keys.opening_prefix);
    let cluster = conn.cluster(what).await?;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let layout = Layout::of(conn, cluster, keys, &refs, what)?;
    let cmds: Vec<redis::Cmd> = ids
        .iter()
        .map(|id| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(layout.opening(id))
                .arg(server_id)
                .arg("EX")
                .arg(HANDOVER_MARK_SECS);
            cmd
        })
        .collect();
    match &layout.cluster {
        Some(cluster) => run_all(conn, cluster, cmds, what).await.map(|_| ()),
        None => {
            let mut pipe = redis::pipe();
            for cmd in cmds {
                pipe.add_command(cmd).ignore();
            }
            conn.query_pipeline::<()>(&pipe, what).await
        }
    }
}

/// Publishes first (on one node the journal's script, `journal.rs`; on a sharded cluster plain
/// SPUBLISH, one per session, each on its channel's shard). Only the ids nobody received go
/// through the keep script, which publishes again and keeps the message if still nobody
/// receives it; the first publish reached nobody, so publishing again duplicates nothing,
/// and the decision to keep stays atomic.
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
        ([one], Some(_)) => vec![conn.query(&publish(one), || describe(ids)).await?],
        (_, Some(cluster)) => {
            let cmds = ids.iter().map(publish).collect();
            let replies = run_all(conn, cluster, cmds, || describe(ids)).await?;
            replies
                .into_iter()
                .map(|v| redis::from_redis_value(v).unwrap_or(1))
                .collect()
        }
        (_, None) => journal::publish(conn, keys, ids, message, || describe(ids)).await?,
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
        layout.totals(&mut invocation, limits);
        invocation
            .arg(message)
            .arg(limits.ttl_secs)
            .arg(limits.max_messages)
            .arg(limits.max_bytes)
            .arg(layout.publish());
        for id in group {
            invocation
                .arg(id)
                .arg(format!("{}{id}", keys.channel_prefix));
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
    from: HandOver<'_>,
) -> Result<PendingStats> {
    let keys = layout.keys;
    let mut invocation = REQUEUE.key(layout.list(id));
    invocation
        .key(layout.bytes(id))
        .key(layout.handover(id))
        .key(layout.awaited(id))
        .key(layout.opening(id));
    layout.totals(&mut invocation, limits);
    invocation
        .arg(limits.ttl_secs)
        .arg(limits.max_messages)
        .arg(limits.max_bytes)
        .arg(id)
        .arg(format!("{}{id}", keys.channel_prefix))
        .arg(layout.numsub())
        .arg(layout.publish())
        .arg(from.server_id)
        .arg(from.marker)
        .arg(if from.superseded { "1" } else { "0" })
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
    announce: Option<HandOver<'_>>,
) -> Result<Vec<Taken>> {
    let keys = layout.keys;
    let what = || format!("take of {} lists {}*", ids.len(), keys.list_prefix);
    let takes = layout.groups(ids).into_iter().map(|group| async move {
        let mut invocation = TAKE.prepare_invoke();
        for id in group {
            invocation
                .key(layout.list(id))
                .key(layout.bytes(id))
                .key(layout.handover(id))
                .key(layout.awaited(id))
                .key(layout.opening(id))
                .key(layout.journal(id));
        }
        layout.totals(&mut invocation, limits);
        invocation
            .arg(limits.ttl_secs)
            .arg(HANDBACK_TTL_SECS)
            .arg(announce.map_or("", |a| a.server_id))
            .arg(announce.map_or("", |a| a.marker))
            .arg(layout.numsub())
            .arg(layout.publish());
        // The registry and the session sets are in other slots than a session's keys on a
        // Cluster: readable by a script on one node only.
        let (registry, sets) = match (&layout.cluster, announce.and_then(|a| a.instances)) {
            (None, Some(instances)) => instances,
            _ => ("", ""),
        };
        invocation.arg(registry).arg(sets);
        for id in group {
            invocation
                .arg(id)
                .arg(format!("{}{id}", keys.channel_prefix));
        }
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
        ![
            &keys.list_prefix,
            &keys.bytes_prefix,
            &keys.handover_prefix,
            &keys.awaited_prefix,
            &keys.opening_prefix,
            &keys.journal_prefix,
            &keys.channel_prefix,
        ]
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

    fn handover(&self, id: &str) -> String {
        self.tagged(&self.keys.handover_prefix, id)
    }

    fn awaited(&self, id: &str) -> String {
        self.tagged(&self.keys.awaited_prefix, id)
    }

    fn opening(&self, id: &str) -> String {
        self.tagged(&self.keys.opening_prefix, id)
    }

    fn journal(&self, id: &str) -> String {
        self.tagged(&self.keys.journal_prefix, id)
    }

    fn publish(&self) -> &'static str {
        if self.cluster.is_some() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// The scripts' first nine arguments: whether the total bound applies (one node, where
    /// a script may touch every session's keys), its keys, the per-session key prefixes, the
    /// totals and the TTL.
    fn totals(&self, invocation: &mut redis::ScriptInvocation<'_>, limits: PendingLimits) {
        let prefix = &self.keys.channel_prefix;
        invocation
            .arg(if self.cluster.is_none() { "1" } else { "0" })
            .arg(format!("{prefix}pending-index"))
            .arg(format!("{prefix}pending-total"))
            .arg(format!("{prefix}pending-sizes"))
            .arg(&self.keys.list_prefix)
            .arg(&self.keys.bytes_prefix)
            .arg(limits.max_total_messages)
            .arg(limits.max_total_bytes)
            .arg(limits.ttl_secs);
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

/// `{ expired, contested, flags, messages... }` as [`Taken`].
fn taken(reply: Vec<redis::Value>) -> std::result::Result<Taken, String> {
    let mut values = reply.into_iter();
    let mut int = |what: &str| match values.next() {
        Some(redis::Value::Int(n)) => Ok(u64::try_from(n).unwrap_or(0)),
        other => Err(format!("expected the {what}, got {other:?}")),
    };
    let expired = int("expired count")?;
    let contested = int("contested flag")? != 0;
    let text = |v: redis::Value| match v {
        redis::Value::BulkString(bytes) => Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
        other => Err(format!("expected a message, got {other:?}")),
    };
    let flags = text(values.next().ok_or("expected the hand-back flags")?)?;
    let messages = values
        .zip(flags.bytes().chain(std::iter::repeat(b'0')))
        .map(|(v, flag)| {
            text(v).map(|text| TakenMessage {
                text,
                handed_back: flag == b'1',
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Taken {
        expired,
        contested,
        messages,
    })
}
