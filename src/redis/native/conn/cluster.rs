//! Opening a cluster link: every node of the cluster learnt from one (`CLUSTER SLOTS`), then
//! the crate's cluster client on them; a classic subscriber gets one node, followed.

use std::sync::Arc;
use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ProtocolVersion, PushInfo, Value,
};

use super::bounded::{bounded, spawn_context};
use super::follow::{Finder, Followed};
use super::link::{manager_config, Link, PushSink};
use super::settings::RedisSettings;
use crate::redis::{RedisError, RedisErrorKind, Result};

/// When the node `client` points at runs in cluster mode (`INFO cluster`), every node of
/// its cluster (`CLUSTER SLOTS`): the crate finds the topology again through these, so the
/// cluster stays reachable when the node first named dies. `None` for a plain node.
pub(super) async fn cluster_nodes(
    settings: &RedisSettings,
    client: &redis::Client,
) -> Result<Option<Vec<ConnectionInfo>>> {
    let what = || format!("connect to {}", settings.redacted_url());
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(settings.response_timeout));
    let probe = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let info: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut conn)
            .await?;
        if !info.lines().any(|l| l.trim() == "cluster_enabled:1") {
            return Ok(None);
        }
        let slots: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await?;
        Ok::<_, redis::RedisError>(Some(slots))
    };
    let Some(slots) = bounded(settings.command_timeout, probe, what).await? else {
        return Ok(None);
    };
    let seed = client.get_connection_info().clone();
    let mut nodes = vec![seed.clone()];
    for (host, port) in slot_nodes(&slots) {
        let addr = match seed.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host, port),
        };
        if !nodes.iter().any(|n| *n.addr() == addr) {
            nodes.push(seed.clone().set_addr(addr));
        }
    }
    Ok(Some(nodes))
}

/// The `(host, port)` of every node in a `CLUSTER SLOTS` reply.
fn slot_nodes(slots: &Value) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    let Value::Array(ranges) = slots else {
        return out;
    };
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        for node in parts.iter().skip(2) {
            let Value::Array(fields) = node else { continue };
            if let (Some(Value::BulkString(host)), Some(Value::Int(port))) =
                (fields.first(), fields.get(1))
            {
                let host = String::from_utf8_lossy(host).into_owned();
                if let (false, Ok(port)) = (host.is_empty(), u16::try_from(*port)) {
                    if !out.contains(&(host.clone(), port)) {
                        out.push((host, port));
                    }
                }
            }
        }
    }
    out
}

pub(super) async fn open_cluster(
    settings: &RedisSettings,
    nodes: Vec<redis::ConnectionInfo>,
    push: Option<PushSink>,
) -> Result<(Link, Vec<ConnectionInfo>)> {
    if let (Some(push), false) = (&push, settings.sharded_pub_sub) {
        // Classic pub/sub reaches every node, and a channel subscribed on two nodes delivers
        // twice: a classic subscriber subscribes on one node, and moves when it dies.
        let finder = Finder::Nodes(nodes.clone());
        let node = Followed::open(
            finder,
            manager_config(settings, Some(push.clone())),
            settings,
        )
        .await?;
        return Ok((Link::Followed(Arc::new(node)), nodes));
    }
    let what = || format!("connect to {}", settings.redacted_url());
    let mut builder = ClusterClientBuilder::new(nodes.clone())
        .use_protocol(ProtocolVersion::RESP3)
        .connection_timeout(settings.connect_timeout)
        .response_timeout(settings.response_timeout)
        // Few, short retries: a command stuck on a dead node fails soon, and the link is then
        // opened again from the live nodes (LazyLink::failed), which is what recovers.
        .retries(2)
        .min_retry_wait(settings.reconnect_min_delay.as_millis() as u64)
        .max_retry_wait(
            settings
                .reconnect_max_delay
                .min(Duration::from_millis(500))
                .as_millis() as u64,
        );
    if let Some(certs) = settings.certificates(what)? {
        builder = builder.certs(certs);
    }
    if let Some(push) = push {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
        builder = builder.push_sender(tx);
        let handle = spawn_context()?;
        handle.spawn(async move {
            while let Some(info) = rx.recv().await {
                push(info);
            }
        });
    }
    let client = builder.build().map_err(|e| cluster_config(what(), &e))?;
    let conn = bounded(
        settings.command_timeout,
        client.get_async_connection(),
        what,
    )
    .await?;
    Ok((Link::Cluster(conn), nodes))
}

/// The error of a cluster setting the crate refuses.
fn cluster_config(what: String, e: &redis::RedisError) -> RedisError {
    let mut err = RedisError::from_redis(what, e);
    if err.kind() == RedisErrorKind::Server {
        err = RedisError::new(RedisErrorKind::Config, err.operation(), err.detail());
    }
    err
}
