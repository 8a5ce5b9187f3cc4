//! Writes: each [`Write`] as its command, a batch as one pipeline on one node or as
//! single-slot commands issued together on a Cluster, and a batch that ends with a prune step
//! of the active set (the heartbeat's one round trip).

use super::active_set::{prune_cmd, prune_step};
use super::fan_out::{publish_cmd, run_all};
use crate::redis::backend::{Describe, PruneOutcome, PruneStep, Write};
use crate::redis::native::conn::Connection;
use crate::redis::Result;

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

/// `write` as the command of `conn`: on a cluster with sharded pub/sub, a publish is
/// `SPUBLISH`.
fn command_on(conn: &Connection, write: &Write) -> redis::Cmd {
    match write {
        Write::Publish { channel, message } => publish_cmd(conn, channel, message),
        other => command(other),
    }
}

/// Runs `writes` in order, as one batch.
pub(super) async fn write(conn: &Connection, writes: Vec<Write>, what: Describe<'_>) -> Result<()> {
    if let Some(c) = conn.cluster(what).await? {
        let cmds = effective(&writes)
            .into_iter()
            .map(|w| command_on(conn, w))
            .collect();
        return run_all(conn, &c, cmds, what).await.map(|_| ());
    }
    match effective(&writes)[..] {
        [] => Ok(()),
        // One command on its own: Redis' error reply reads as it is, not as a pipeline
        // failure.
        [one] => conn.query::<()>(&command(one), what).await,
        ref many => conn.query_pipeline::<()>(&pipeline(many), what).await,
    }
}

/// `writes`, then one prune step, in one round trip on one node.
pub(super) async fn write_and_prune(
    conn: &Connection,
    writes: Vec<Write>,
    prune: PruneStep,
    what: Describe<'_>,
) -> Result<PruneOutcome> {
    if let Some(c) = conn.cluster(what).await? {
        let cmds = effective(&writes)
            .into_iter()
            .map(|w| command_on(conn, w))
            .collect();
        run_all(conn, &c, cmds, what).await?;
        return prune_step(conn, &prune).await;
    }
    let mut pipe = pipeline(&effective(&writes));
    pipe.add_command(prune_cmd(&prune));
    let (outcome,): (PruneOutcome,) = conn.query_pipeline(&pipe, what).await?;
    Ok(outcome)
}
