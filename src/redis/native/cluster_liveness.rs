//! The per-instance liveness on a Redis Cluster (see `liveness.rs` for one node): the
//! registry's script runs on the registry's node, and the other keys are handled by single-slot
//! commands.

use redis::cluster_async::ClusterConnection;

use super::cluster::{cmd1, cmd2, forget, run_all, unheld};
use super::connection::Connection;
use crate::redis::backend::{Beat, Liveness};
use crate::redis::Result;

/// The heartbeat on a cluster: the registry part is one script on the registry's node (its
/// clock is the fleet's), the expiries of the instance's set and of the active set are
/// separate commands.
pub(super) async fn beat(
    conn: &Connection,
    cluster: &ClusterConnection,
    keys: &Liveness,
    dead_after_ms: u64,
    max_dead: usize,
) -> Result<Beat> {
    let beat = super::liveness::beat_registry(conn, keys, dead_after_ms, max_dead, false);
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
pub(super) async fn prune_instance(
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
