//! The active set (`{prefix}active`, mcp-use's SET of session ids): broadcast to the ids
//! whose stream is alive, prune the ids whose availability key expired, and release the ids
//! nobody listens to any more. On one node each is one Lua script (atomic); on a Cluster,
//! whose keys live in different slots, the same work runs in steps.
//!
//! What is lost against one node: the steps of a broadcast, a prune or a release are not
//! one atomic script. A stream that subscribes on another instance between the check and the
//! removal of its keys has them written again by its own instance's next heartbeat.

use redis::cluster_async::ClusterConnection;

use super::fan_out::{cmd1, cmd2, forget, gone, publish_cmd, run_all, unheld};
use crate::redis::backend::{PruneOutcome, PruneStep};
use crate::redis::native::conn::Connection;
use crate::redis::Result;

/// Lua: publish to every id of the active set whose availability key exists or whose
/// channel a live stream listens to, remove the others. KEYS[1] active set; ARGV[1] availability key prefix; ARGV[2] channel prefix;
/// ARGV[3] message. Returns how many were published to.
const BROADCAST_LUA: &str = r"
local ids = redis.call('SMEMBERS', KEYS[1])
local sent = 0
for i = 1, #ids do
  local id = ids[i]
  if redis.call('EXISTS', ARGV[1] .. id) == 1 or redis.call('PUBSUB', 'NUMSUB', ARGV[2] .. id)[2] > 0 then
    redis.call('PUBLISH', ARGV[2] .. id, ARGV[3])
    sent = sent + 1
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return sent
";

/// Lua: one incremental prune step. KEYS[1] active set; ARGV[1] availability key prefix;
/// ARGV[2] SSCAN cursor; ARGV[3] COUNT; ARGV[4] channel prefix; ARGV[5] restore TTL. Removes
/// ids whose availability key is gone and nobody listens to; puts the key back for those a
/// live stream still listens to. Returns { next cursor, removed }.
const PRUNE_STEP_LUA: &str = r"
local page = redis.call('SSCAN', KEYS[1], ARGV[2], 'COUNT', ARGV[3])
local removed = 0
for _, id in ipairs(page[2]) do
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    if redis.call('PUBSUB', 'NUMSUB', ARGV[4] .. id)[2] > 0 then
      redis.call('SET', ARGV[1] .. id, 'active', 'EX', ARGV[5])
    else
      removed = removed + redis.call('SREM', KEYS[1], id)
    end
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

/// One prune step as a plain `EVAL`, so it can ride in the heartbeat's pipeline.
pub(super) fn prune_cmd(step: &PruneStep) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(PRUNE_STEP_LUA)
        .arg(1)
        .arg(&step.set_key)
        .arg(&step.available_prefix)
        .arg(&step.cursor)
        .arg(step.count)
        .arg(&step.channel_prefix)
        .arg(step.restore_ttl_secs);
    cmd
}

/// Publishes `message` to every id of `set_key` whose stream is alive, removing the others;
/// returns how many were published to.
pub(super) async fn broadcast(
    conn: &Connection,
    set_key: &str,
    available_prefix: &str,
    channel_prefix: &str,
    message: &str,
) -> Result<u64> {
    if let Some(c) = conn.cluster(|| format!("broadcast on {set_key}")).await? {
        return broadcast_steps(conn, &c, set_key, available_prefix, channel_prefix, message).await;
    }
    let mut invocation = BROADCAST_SCRIPT.key(set_key);
    invocation
        .arg(available_prefix)
        .arg(channel_prefix)
        .arg(message);
    conn.invoke_script(&invocation, || format!("broadcast script on {set_key}"))
        .await
}

/// One step of the incremental prune.
pub(super) async fn prune_step(conn: &Connection, prune: &PruneStep) -> Result<PruneOutcome> {
    if let Some(c) = conn
        .cluster(|| format!("prune step on {}", prune.set_key))
        .await?
    {
        return prune_steps(conn, &c, prune).await;
    }
    conn.query(&prune_cmd(prune), || {
        format!("prune step on {} at {}", prune.set_key, prune.cursor)
    })
    .await
}

/// Forgets the ids of `ids` nobody listens to; returns how many.
pub(super) async fn release_unheld(
    conn: &Connection,
    set_key: &str,
    available_prefix: &str,
    channel_prefix: &str,
    ids: &[String],
) -> Result<u64> {
    if let Some(c) = conn.cluster(|| format!("release on {set_key}")).await? {
        return release_steps(conn, &c, set_key, available_prefix, channel_prefix, ids).await;
    }
    let mut invocation = RELEASE_SCRIPT.key(set_key);
    invocation
        .arg(available_prefix)
        .arg(channel_prefix)
        .arg(ids);
    conn.invoke_script(&invocation, || {
        format!("release script on {set_key} for {} sessions", ids.len())
    })
    .await
}

/// The broadcast script's work, in steps: publish to every id of the active set whose key
/// exists or whose channel someone listens to; remove the others.
async fn broadcast_steps(
    conn: &Connection,
    cluster: &ClusterConnection,
    set_key: &str,
    available_prefix: &str,
    channel_prefix: &str,
    message: &str,
) -> Result<u64> {
    let ids: Vec<String> = conn
        .query(&cmd1("SMEMBERS", set_key), || format!("SMEMBERS {set_key}"))
        .await?;
    let dead: Vec<&String> = gone(conn, cluster, available_prefix, channel_prefix, &ids)
        .await?
        .into_iter()
        .filter(|(_, heard)| !heard)
        .map(|(id, _)| id)
        .collect();
    let alive: Vec<&String> = ids.iter().filter(|id| !dead.contains(id)).collect();
    let mut cmds: Vec<redis::Cmd> = alive
        .iter()
        .map(|id| publish_cmd(conn, &format!("{channel_prefix}{id}"), message))
        .collect();
    if !dead.is_empty() {
        cmds.push(cmd2("SREM", set_key, &dead));
    }
    run_all(conn, cluster, cmds, || format!("broadcast to {set_key}")).await?;
    Ok(alive.len() as u64)
}

/// One prune step, in steps: a page of the set; ids whose key is gone are removed unless
/// someone listens to them, whose key is put back.
async fn prune_steps(
    conn: &Connection,
    cluster: &ClusterConnection,
    step: &PruneStep,
) -> Result<PruneOutcome> {
    let mut sscan = redis::cmd("SSCAN");
    sscan
        .arg(&step.set_key)
        .arg(&step.cursor)
        .arg("COUNT")
        .arg(step.count);
    let (next, ids): (String, Vec<String>) = conn
        .query(&sscan, || format!("SSCAN {} {}", step.set_key, step.cursor))
        .await?;
    let missing = gone(
        conn,
        cluster,
        &step.available_prefix,
        &step.channel_prefix,
        &ids,
    )
    .await?;
    let mut cmds = Vec::new();
    let mut dead = Vec::new();
    for (id, heard) in missing {
        if heard {
            let mut set = redis::cmd("SET");
            set.arg(format!("{}{id}", step.available_prefix))
                .arg("active")
                .arg("EX")
                .arg(step.restore_ttl_secs);
            cmds.push(set);
        } else {
            dead.push(id);
        }
    }
    if !dead.is_empty() {
        cmds.push(cmd2("SREM", &step.set_key, &dead));
    }
    run_all(conn, cluster, cmds, || {
        format!("prune step on {}", step.set_key)
    })
    .await?;
    Ok((next, dead.len() as u64))
}

/// The release script's work, in steps: ids nobody listens to lose their key and set entry.
async fn release_steps(
    conn: &Connection,
    cluster: &ClusterConnection,
    set_key: &str,
    available_prefix: &str,
    channel_prefix: &str,
    ids: &[String],
) -> Result<u64> {
    let unheld = unheld(conn, cluster, channel_prefix, ids).await?;
    forget(conn, cluster, set_key, available_prefix, &unheld).await?;
    Ok(unheld.len() as u64)
}
