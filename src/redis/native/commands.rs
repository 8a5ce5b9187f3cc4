//! [`Commands`] on the native [`Connection`]: a batch of writes is one pipeline; broadcast,
//! prune and release are Lua scripts.

use super::connection::Connection;
use crate::pending::{PendingLimits, PendingStats};
use crate::redis::backend::{
    Beat, BoxFuture, Commands, Describe, Liveness, PendingKeys, PruneOutcome, PruneStep, Taken,
    Write,
};
use crate::redis::Result;

/// Keys fetched per `SCAN` page.
const SCAN_COUNT: usize = 2500;

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
        .arg(step.count)
        .arg(&step.channel_prefix)
        .arg(step.restore_ttl_secs);
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
