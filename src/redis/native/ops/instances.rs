//! The registry of instances (see [`crate::redis::backend::Liveness`]): an instance's
//! heartbeat is one entry per instance, not one key per session, and survivors clean up
//! after an instance whose heartbeat lapsed. On one node each is one script; on a Cluster
//! the registry's script runs on the registry's node (its clock is the fleet's) and the
//! other keys are handled by single-slot commands.

use std::sync::LazyLock;

use redis::cluster_async::ClusterConnection;

use super::fan_out::{cmd1, cmd2, forget, run_all, unheld};
use crate::redis::backend::{Beat, Liveness, JOURNAL_TTL_SECS};
use crate::redis::native::conn::Connection;
use crate::redis::Result;

/// KEYS[1]: registry; ARGV: own set, active set, server id, lease secs, dead after ms, max
/// dead, whether to expire the own and active sets here (1; on a cluster they live on other
/// nodes and are expired apart). Records until when this instance counts as alive (Redis'
/// clock plus its own allowance, so instances with different heartbeat intervals judge each
/// other right), keeps its keys and the active set alive for the lease, and lists instances
/// past their deadline. Returns { was this instance registered (0/1), dead ids... }.
const BEAT_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local known = redis.call('ZSCORE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[3])
local lease = tonumber(ARGV[4])
redis.call('EXPIRE', KEYS[1], lease)
if ARGV[7] == '1' then
  redis.call('EXPIRE', ARGV[1], lease)
  redis.call('EXPIRE', ARGV[2], lease)
end
local out = { known and 1 or 0 }
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[6]))
for _, id in ipairs(dead) do
  out[#out + 1] = id
end
return out
";

/// ARGV: registry, dead instance's set, dead id, availability prefix, channel prefix, active
/// set, count, then (store-and-forward on) journal prefix, pending list prefix, pending bytes
/// prefix, pending ttl, the journal's ttl (older entries were acknowledged late, not lost). Takes up to `count` of the dead instance's sessions; each one nobody
/// is subscribed to any more loses its availability key and active-set entry (a session
/// whose client reopened its stream on a live instance keeps both), and what its journal
/// holds goes to the head of its pending list (older than what the list holds: the list's
/// messages reached no subscriber, so the dead one was gone by then), with the list's
/// entry format (`kept.rs`). Once the set is empty the instance leaves the registry.
/// Returns { taken, removed }.
const PRUNE_LUA: &str = r"
local ids = redis.call('SPOP', ARGV[2], tonumber(ARGV[7]))
local removed = 0
local function keep_journal(id)
  local jkey = ARGV[8] .. id
  local journal = redis.pcall('XRANGE', jkey, '-', '+')
  if type(journal) ~= 'table' or journal.err or #journal == 0 then return end
  local key, bkey, ttl = ARGV[9] .. id, ARGV[10] .. id, tonumber(ARGV[11])
  local t = redis.call('TIME')
  local at = string.format('%s.%06d', t[1], tonumber(t[2]))
  local oldest = tonumber(t[1]) * 1000 - tonumber(ARGV[12]) * 1000
  local size = 0
  if redis.call('TYPE', key).ok == 'none' or redis.call('TYPE', key).ok == 'list' then
    for i = #journal, 1, -1 do
      local fields = journal[i][2]
      local ms = tonumber(string.match(journal[i][1], '^(%d+)')) or 0
      if ms > oldest and type(fields) == 'table' and type(fields[2]) == 'string' then
        redis.call('LPUSH', key, at .. ':' .. fields[2])
        size = size + #fields[2]
      end
    end
    if size > 0 then
      redis.pcall('INCRBY', bkey, size)
      redis.call('EXPIRE', key, ttl)
      redis.call('EXPIRE', bkey, ttl)
    end
  end
  redis.call('DEL', jkey)
end
for _, id in ipairs(ids) do
  if redis.call('PUBSUB', 'NUMSUB', ARGV[5] .. id)[2] == 0 then
    redis.call('DEL', ARGV[4] .. id)
    redis.call('SREM', ARGV[6], id)
    removed = removed + 1
    if ARGV[8] then keep_journal(id) end
  end
end
if redis.call('SCARD', ARGV[2]) == 0 then
  redis.call('ZREM', ARGV[1], ARGV[3])
end
return { #ids, removed }
";

static BEAT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(BEAT_LUA));
static PRUNE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(PRUNE_LUA));

/// One heartbeat of this instance (see [`crate::redis::Commands::beat`]).
pub(super) async fn beat(
    conn: &Connection,
    keys: &Liveness,
    dead_after_ms: u64,
    max_dead: usize,
) -> Result<Beat> {
    match conn
        .cluster(|| format!("heartbeat in {}", keys.registry))
        .await?
    {
        Some(c) => beat_on_cluster(conn, &c, keys, dead_after_ms, max_dead).await,
        None => beat_registry(conn, keys, dead_after_ms, max_dead, true).await,
    }
}

/// The clean-up after dead instance `dead_id` (see [`crate::redis::Commands::prune_instance`]).
pub(super) async fn prune_instance(
    conn: &Connection,
    keys: &Liveness,
    dead_id: &str,
    count: usize,
) -> Result<(u64, u64)> {
    match conn.cluster(|| format!("prune of {dead_id}")).await? {
        Some(c) => prune_on_cluster(conn, &c, keys, dead_id, count).await,
        None => prune_script(conn, keys, dead_id, count).await,
    }
}

/// The heartbeat script; `expire_sets`: also keep the instance's set and the active set
/// alive (one node: they are on it).
async fn beat_registry(
    conn: &Connection,
    keys: &Liveness,
    dead_after_ms: u64,
    max_dead: usize,
    expire_sets: bool,
) -> Result<Beat> {
    let mut invocation = BEAT.key(&keys.registry);
    invocation
        .arg(keys.instance_set(&keys.server_id))
        .arg(&keys.active)
        .arg(&keys.server_id)
        .arg(keys.lease_secs)
        .arg(dead_after_ms)
        .arg(max_dead)
        .arg(if expire_sets { "1" } else { "0" });
    let reply: Vec<redis::Value> = conn
        .invoke_script(&invocation, || {
            format!(
                "heartbeat of instance {} in {}",
                keys.server_id, keys.registry
            )
        })
        .await?;
    let mut values = reply.into_iter();
    let registered = matches!(values.next(), Some(redis::Value::Int(1)));
    let dead = values
        .filter_map(|v| match v {
            redis::Value::BulkString(b) => String::from_utf8(b).ok(),
            _ => None,
        })
        .collect();
    Ok(Beat { registered, dead })
}

async fn prune_script(
    conn: &Connection,
    keys: &Liveness,
    dead_id: &str,
    count: usize,
) -> Result<(u64, u64)> {
    let mut invocation = PRUNE.prepare_invoke();
    invocation
        .arg(&keys.registry)
        .arg(keys.instance_set(dead_id))
        .arg(dead_id)
        .arg(&keys.available_prefix)
        .arg(&keys.channel_prefix)
        .arg(&keys.active)
        .arg(count);
    if let Some((pending, ttl)) = &keys.pending {
        invocation
            .arg(&pending.journal_prefix)
            .arg(&pending.list_prefix)
            .arg(&pending.bytes_prefix)
            .arg(ttl)
            .arg(JOURNAL_TTL_SECS);
    }
    conn.invoke_script(&invocation, || {
        format!("prune of dead instance {dead_id} in {}", keys.registry)
    })
    .await
}

/// The heartbeat on a cluster: the registry part is one script on the registry's node (its
/// clock is the fleet's), the expiries of the instance's set and of the active set are
/// separate commands.
async fn beat_on_cluster(
    conn: &Connection,
    cluster: &ClusterConnection,
    keys: &Liveness,
    dead_after_ms: u64,
    max_dead: usize,
) -> Result<Beat> {
    let beat = beat_registry(conn, keys, dead_after_ms, max_dead, false);
    let cmds = vec![
        cmd2(
            "EXPIRE",
            &keys.instance_set(&keys.server_id),
            keys.lease_secs,
        ),
        cmd2("EXPIRE", &keys.active, keys.lease_secs),
    ];
    let expire = run_all(conn, cluster, cmds, || {
        format!("heartbeat expiries of instance {}", keys.server_id)
    });
    let (beat, _) = futures_util::future::try_join(beat, expire).await?;
    Ok(beat)
}

/// The clean-up after a dead instance on a cluster, in steps: up to `count` of its sessions
/// are taken, those nobody listens to are forgotten, and it leaves the registry once its set
/// is empty.
async fn prune_on_cluster(
    conn: &Connection,
    cluster: &ClusterConnection,
    keys: &Liveness,
    dead_id: &str,
    count: usize,
) -> Result<(u64, u64)> {
    let set = keys.instance_set(dead_id);
    let ids: Vec<String> = conn
        .query(&cmd2("SPOP", &set, count), || format!("SPOP {set}"))
        .await?;
    let unheld = unheld(conn, cluster, &keys.channel_prefix, &ids).await?;
    forget(conn, cluster, &keys.active, &keys.available_prefix, &unheld).await?;
    let left: i64 = conn
        .query(&cmd1("SCARD", &set), || format!("SCARD {set}"))
        .await?;
    if left == 0 {
        let _: i64 = conn
            .query(&cmd2("ZREM", &keys.registry, dead_id), || {
                format!("ZREM {} {dead_id}", keys.registry)
            })
            .await?;
    }
    Ok((ids.len() as u64, unheld.len() as u64))
}
