//! [`Commands`] on the native [`Connection`]: a batch of writes is one pipeline; broadcast,
//! prune and release are Lua scripts.

use super::cluster;
use super::connection::Connection;
use super::link::Link;
use super::pending::Layout;
use super::scripts::{BROADCAST_SCRIPT, PRUNE_STEP_LUA, RELEASE_SCRIPT};
use crate::pending::{PendingLimits, PendingStats};
use crate::redis::backend::unsupported;
use crate::redis::backend::{
    Beat, BoxFuture, Commands, Describe, Liveness, PendingKeys, PruneOutcome, PruneStep, Taken,
    Write,
};
use crate::redis::Result;

/// Keys fetched per `SCAN` page.
const SCAN_COUNT: usize = 2500;

/// `SCAN cursor MATCH pattern COUNT n`.
pub(super) fn scan_page(cursor: &str, pattern: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT);
    cmd
}

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

impl Connection {
    /// `write` as this connection's command: on a cluster with sharded pub/sub, a publish is
    /// `SPUBLISH`.
    fn command(&self, write: &Write) -> redis::Cmd {
        match write {
            Write::Publish { channel, message } => cluster::publish_cmd(self, channel, message),
            other => command(other),
        }
    }

    /// Where the pending keys of `ids` live (see [`Layout`]). On a cluster only with sharded
    /// pub/sub, where a session's keys can share its channel's slot; otherwise
    /// [`RedisErrorKind::Unsupported`](crate::redis::RedisErrorKind): with classic pub/sub a
    /// `PUBLISH` counts the subscribers of one node only, so "nobody received it" cannot be
    /// decided atomically, and nothing is kept, as mcp-use.
    async fn pending_layout<'a>(
        &self,
        link: &'a Link,
        keys: &'a PendingKeys,
        ids: &[&str],
        what: impl FnOnce() -> String,
    ) -> Result<Layout<'a>> {
        let cluster = link.cluster();
        let fits =
            || Layout::fits(keys) && ids.iter().all(|id| !id.contains('{') && !id.contains('}'));
        if cluster.is_some() && !(self.sharded() && fits()) {
            return Err(unsupported(
                what(),
                "store-and-forward on Redis Cluster without shardedPubSub",
            ));
        }
        Ok(Layout { keys, cluster })
    }
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
            let link = self.link(|| format!("SCAN MATCH {pattern}")).await?;
            if let Some(c) = link.cluster() {
                return Ok(("0".to_owned(), cluster::scan(self, c, pattern).await?));
            }
            self.query(&scan_page(cursor, pattern), || {
                format!("SCAN {cursor} MATCH {pattern}")
            })
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
            let link = self.link(what).await?;
            if let Some(c) = link.cluster() {
                let cmds = effective(&writes)
                    .into_iter()
                    .map(|w| self.command(w))
                    .collect();
                return cluster::run_all(self, c, cmds, what).await.map(|_| ());
            }
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
            let link = self.link(what).await?;
            if let Some(c) = link.cluster() {
                let cmds = effective(&writes)
                    .into_iter()
                    .map(|w| self.command(w))
                    .collect();
                cluster::run_all(self, c, cmds, what).await?;
                return cluster::prune_step(self, c, &prune).await.map(Some);
            }
            let mut pipe = pipeline(&effective(&writes));
            let step = prune_cmd(&prune);
            pipe.add_command(step);
            let (outcome,): (PruneOutcome,) = self.query_pipeline(&pipe, what).await?;
            Ok(Some(outcome))
        })
    }

    fn prune_step<'a>(&'a self, prune: PruneStep) -> BoxFuture<'a, Result<PruneOutcome>> {
        Box::pin(async move {
            let link = self
                .link(|| format!("prune step on {}", prune.set_key))
                .await?;
            if let Some(c) = link.cluster() {
                return cluster::prune_step(self, c, &prune).await;
            }
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
            let link = self.link(|| format!("broadcast on {set_key}")).await?;
            if let Some(c) = link.cluster() {
                return cluster::broadcast(
                    self,
                    c,
                    set_key,
                    available_prefix,
                    channel_prefix,
                    message,
                )
                .await;
            }
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
        Box::pin(async move {
            let link = self
                .link(|| format!("heartbeat in {}", keys.registry))
                .await?;
            match link.cluster() {
                Some(c) => {
                    super::cluster_liveness::beat(self, c, keys, dead_after_ms, max_dead).await
                }
                None => super::liveness::beat(self, keys, dead_after_ms, max_dead).await,
            }
        })
    }

    fn prune_instance<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_id: &'a str,
        count: usize,
    ) -> BoxFuture<'a, Result<(u64, u64)>> {
        Box::pin(async move {
            let link = self.link(|| format!("prune of {dead_id}")).await?;
            match link.cluster() {
                Some(c) => {
                    super::cluster_liveness::prune_instance(self, c, keys, dead_id, count).await
                }
                None => super::liveness::prune(self, keys, dead_id, count).await,
            }
        })
    }

    fn publish_or_keep<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        message: &'a str,
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        Box::pin(async move {
            let what = || format!("store-and-forward on {}*", keys.list_prefix);
            let link = self.link(what).await?;
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let layout = self.pending_layout(&link, keys, &refs, what).await?;
            super::pending::publish_or_keep(self, &layout, ids, message, limits).await
        })
    }

    fn take_pending<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<Vec<Taken>>> {
        Box::pin(async move {
            let what = || format!("take of {}*", keys.list_prefix);
            let link = self.link(what).await?;
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let layout = self.pending_layout(&link, keys, &refs, what).await?;
            super::pending::take(self, &layout, ids, limits).await
        })
    }

    fn requeue<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        messages: &'a [String],
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        Box::pin(async move {
            let what = || format!("requeue to {}{id}", keys.list_prefix);
            let link = self.link(what).await?;
            let layout = self.pending_layout(&link, keys, &[id], what).await?;
            super::pending::requeue(self, &layout, id, messages, limits).await
        })
    }

    fn release_unheld<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let link = self.link(|| format!("release on {set_key}")).await?;
            if let Some(c) = link.cluster() {
                return cluster::release_unheld(
                    self,
                    c,
                    set_key,
                    available_prefix,
                    channel_prefix,
                    ids,
                )
                .await;
            }
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
