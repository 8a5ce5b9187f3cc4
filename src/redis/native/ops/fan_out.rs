//! Asking a Redis Cluster, where the single-node scripts cannot run because their keys
//! (mcp-use's layout, no hash tags) live in different slots: single-slot commands issued
//! together (the crate writes the commands for one node into its connection as they come,
//! so they share round trips), and the per-node questions (`SCAN`, `PUBSUB NUMSUB`) asked of
//! every node. The scripted features (`active_set.rs`, `instances.rs`, `kept.rs`) build
//! their cluster steps from these.

use futures_util::future::try_join_all;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::Value;

use crate::redis::native::conn::{bounded, Connection};
use crate::redis::{RedisError, RedisErrorKind, Result};

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

/// Runs `cmds` together, each routed by its key; fails with the first error.
pub(super) async fn run_all(
    conn: &Connection,
    cluster: &ClusterConnection,
    cmds: Vec<redis::Cmd>,
    what: impl FnOnce() -> String,
) -> Result<Vec<Value>> {
    let all = try_join_all(cmds.iter().map(|cmd| {
        let mut c = cluster.clone();
        async move { cmd.query_async::<Value>(&mut c).await }
    }));
    conn.failed(bounded(conn.command_timeout(), all, what).await)
}

/// Every key matching `pattern`, over every primary (each scanned to the end).
pub(super) async fn scan(
    conn: &Connection,
    cluster: &ClusterConnection,
    pattern: &str,
) -> Result<Vec<String>> {
    let what = || format!("SCAN MATCH {pattern} on every primary");
    let page = |cursor: &str| scan_page(cursor, pattern);
    let mut c = cluster.clone();
    let first = c.route_command(
        page("0"),
        RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
    );
    let first = bounded(conn.command_timeout(), first, what).await?;
    let mut keys = Vec::new();
    for (node, reply) in pairs(first) {
        let node = text(node);
        let (mut cursor, found) = scan_reply(reply, &what)?;
        keys.extend(found);
        let address = node
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)));
        let Some((host, port)) = address else {
            return Err(RedisError::new(
                RedisErrorKind::Protocol,
                what(),
                format!("the cluster named a node {node:?}, not host:port"),
            ));
        };
        while cursor != "0" {
            let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                host: host.clone(),
                port,
            });
            let next = c.route_command(page(&cursor), route);
            let reply = bounded(conn.command_timeout(), next, what).await?;
            let (next_cursor, found) = scan_reply(reply, &what)?;
            keys.extend(found);
            cursor = next_cursor;
        }
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

fn scan_reply(reply: Value, what: &dyn Fn() -> String) -> Result<(String, Vec<String>)> {
    redis::from_redis_value(reply)
        .map_err(|e| RedisError::from_redis(what(), &redis::RedisError::from(e)))
}

/// How many subscribers each of `channels` has over all nodes (`PUBSUB NUMSUB` everywhere,
/// summed; `SHARDNUMSUB` with sharded pub/sub).
pub(super) async fn numsub(
    conn: &Connection,
    cluster: &ClusterConnection,
    channels: &[String],
) -> Result<Vec<i64>> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let sub = if conn.sharded() {
        "SHARDNUMSUB"
    } else {
        "NUMSUB"
    };
    let what = || format!("PUBSUB {sub} of {} channels on every node", channels.len());
    let mut cmd = redis::cmd("PUBSUB");
    cmd.arg(sub).arg(channels);
    let mut c = cluster.clone();
    let all = c.route_command(
        cmd,
        RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllNodes, None)),
    );
    let reply = bounded(conn.command_timeout(), all, what).await?;
    let mut counts = vec![0i64; channels.len()];
    for (_, per_node) in pairs(reply) {
        let flat: Vec<Value> = match per_node {
            Value::Map(m) => m.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        for (i, pair) in flat.chunks(2).enumerate() {
            if let (Some(count), [_, Value::Int(n)]) = (counts.get_mut(i), pair) {
                *count += n;
            }
        }
    }
    Ok(counts)
}

/// The `(key, value)` pairs of a map reply (a flat array in RESP2).
fn pairs(reply: Value) -> Vec<(Value, Value)> {
    match reply {
        Value::Map(m) => m,
        Value::Array(a) => {
            let mut it = a.into_iter();
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            out
        }
        _ => Vec::new(),
    }
}

fn text(v: Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::SimpleString(s) => s,
        _ => String::new(),
    }
}

pub(super) fn cmd1(name: &str, a: &str) -> redis::Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(a);
    cmd
}

pub(super) fn cmd2(name: &str, a: &str, b: impl redis::ToRedisArgs) -> redis::Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(a).arg(b);
    cmd
}

/// Of `ids`, which have their availability key (`EXISTS`, one per id, issued together).
async fn existing(
    conn: &Connection,
    cluster: &ClusterConnection,
    available_prefix: &str,
    ids: &[String],
) -> Result<Vec<bool>> {
    let cmds = ids
        .iter()
        .map(|id| {
            let mut cmd = redis::cmd("EXISTS");
            cmd.arg(format!("{available_prefix}{id}"));
            cmd
        })
        .collect();
    let replies = run_all(conn, cluster, cmds, || {
        format!("EXISTS {available_prefix}* for {} ids", ids.len())
    })
    .await?;
    Ok(replies
        .into_iter()
        .map(|v| matches!(v, Value::Int(1)))
        .collect())
}

/// The publish command of this connection: `SPUBLISH` with sharded pub/sub.
pub(super) fn publish_cmd(conn: &Connection, channel: &str, message: &str) -> redis::Cmd {
    cmd2(
        if conn.sharded() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        },
        channel,
        message,
    )
}

/// Of `ids` (whose availability keys are gone), which a stream still listens to.
async fn listened(
    conn: &Connection,
    cluster: &ClusterConnection,
    channel_prefix: &str,
    ids: &[&String],
) -> Result<Vec<bool>> {
    let channels: Vec<String> = ids
        .iter()
        .map(|id| format!("{channel_prefix}{id}"))
        .collect();
    Ok(numsub(conn, cluster, &channels)
        .await?
        .into_iter()
        .map(|n| n > 0)
        .collect())
}

/// Of `ids`, those whose availability key is gone, each with whether a stream still listens
/// to its channel.
pub(super) async fn gone<'a>(
    conn: &Connection,
    cluster: &ClusterConnection,
    available_prefix: &str,
    channel_prefix: &str,
    ids: &'a [String],
) -> Result<Vec<(&'a String, bool)>> {
    let exists = existing(conn, cluster, available_prefix, ids).await?;
    let missing: Vec<&String> = ids
        .iter()
        .zip(&exists)
        .filter(|(_, e)| !**e)
        .map(|(id, _)| id)
        .collect();
    let heard = listened(conn, cluster, channel_prefix, &missing).await?;
    Ok(missing.into_iter().zip(heard).collect())
}

/// Of `ids`, those no stream listens to any more.
pub(super) async fn unheld<'a>(
    conn: &Connection,
    cluster: &ClusterConnection,
    channel_prefix: &str,
    ids: &'a [String],
) -> Result<Vec<&'a String>> {
    let all: Vec<&String> = ids.iter().collect();
    let heard = listened(conn, cluster, channel_prefix, &all).await?;
    Ok(all
        .into_iter()
        .zip(heard)
        .filter(|(_, h)| !h)
        .map(|(id, _)| id)
        .collect())
}

/// Deletes the availability keys of `ids` and removes them from `set_key`.
pub(super) async fn forget(
    conn: &Connection,
    cluster: &ClusterConnection,
    set_key: &str,
    available_prefix: &str,
    ids: &[&String],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut cmds: Vec<redis::Cmd> = ids
        .iter()
        .map(|id| cmd1("DEL", &format!("{available_prefix}{id}")))
        .collect();
    cmds.push(cmd2("SREM", set_key, ids));
    run_all(conn, cluster, cmds, || format!("release on {set_key}")).await?;
    Ok(())
}
