//! The single-node Lua scripts of broadcast, prune and release (on a cluster, `cluster.rs`
//! does their work in steps).

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
pub(super) const PRUNE_STEP_LUA: &str = r"
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

pub(super) static BROADCAST_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(BROADCAST_LUA));
pub(super) static RELEASE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RELEASE_LUA));
