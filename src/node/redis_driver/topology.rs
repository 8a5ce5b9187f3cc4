//! Whether a driven `config.client` is a Redis Cluster client, and how to reach every primary
//! of one. A cluster client sends `keys(pattern)` to one node, so it sees the keys of that
//! node only, and a multi-key `del` across slots fails with `CROSSSLOT`: for a recognised
//! cluster client, `keys` goes to every primary and a `del` is split by slot
//! ([`crate::redis::slot`]). Any other object (one Redis, a sentinel-backed client, a fake)
//! is driven as before.
//!
//! Recognised: node-redis v4/v5 `createCluster` (an array `masters` and `nodeClient(node)`,
//! which answers the node's client or a promise of it) and ioredis `Cluster` (`isCluster`
//! true and `nodes("master")`, which answers the primaries' clients).

use std::collections::HashSet;

use napi::Env;

use super::batch::Failure;
use super::driven::Driven;
use super::plan::{Arg, Call, Expect, Op, Planned, Reply};
use crate::node::completion::SharedRef;
use crate::node::js::{self, JsResult, Kind, Value};
use crate::redis::{RedisError, RedisErrorKind, Result};

/// What kind of client a driven object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Topology {
    /// One Redis at a time (a client, a sentinel-backed client, a fake, a wrapper).
    Single,
    /// node-redis v4/v5 `createCluster`.
    NodeRedisCluster,
    /// ioredis `Cluster`.
    IoredisCluster,
}

impl Topology {
    pub(super) fn is_cluster(self) -> bool {
        self != Topology::Single
    }
}

/// The kind of `object`, read from its shape (properties a getter of which throws count as
/// absent).
pub(super) fn topology(env: &Env, object: Value) -> Topology {
    let property = |name: &str| js::optional_property(env, object, name).ok().flatten();
    let is = |v: Option<Value>, k: Kind| v.is_some_and(|v| js::kind(env, v).ok() == Some(k));
    if is(property("masters"), Kind::Array) && js::method(env, object, "nodeClient").is_some() {
        return Topology::NodeRedisCluster;
    }
    let cluster_flag = property("isCluster")
        .filter(|v| js::kind(env, *v).ok() == Some(Kind::Boolean))
        .and_then(|v| js::bool_value(env, v).ok())
        .unwrap_or(false);
    if cluster_flag && js::method(env, object, "nodes").is_some() {
        return Topology::IoredisCluster;
    }
    Topology::Single
}

/// Every key matching `pattern` on every primary of the cluster `driven` drives: the
/// primaries listed, their clients (node-redis: `nodeClient`), then `keys(pattern)` on each,
/// all at once. Each key once.
pub(super) async fn keys_on_primaries(
    driven: &Driven,
    topology: Topology,
    pattern: &str,
) -> Result<Vec<String>> {
    let what = || format!("KEYS {pattern} on every primary");
    let describe = &what;
    let listed = driven.run(vec![Op::Primaries(topology)], None, describe);
    let nodes = match listed.await?.pop() {
        Some(Reply::Objects(nodes)) => nodes,
        other => return Err(unexpected(what(), other)),
    };
    if nodes.is_empty() {
        return Err(RedisError::new(
            RedisErrorKind::Connection,
            what(),
            "the cluster client knows no primaries (is it connected?)",
        ));
    }
    let clients = match topology {
        Topology::NodeRedisCluster => {
            let ops = nodes.into_iter().map(Op::NodeClient).collect();
            let mut clients = Vec::new();
            for reply in driven.run(ops, None, describe).await? {
                match reply {
                    Reply::Object(client) => clients.push(client),
                    other => return Err(unexpected(what(), Some(other))),
                }
            }
            clients
        }
        _ => nodes,
    };
    let ops = clients
        .into_iter()
        .map(|client| Op::KeysOn(client, pattern.to_owned()))
        .collect();
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for reply in driven.run(ops, None, describe).await? {
        match reply {
            Reply::List(found) => keys.extend(found.into_iter().filter(|k| seen.insert(k.clone()))),
            other => return Err(unexpected(what(), Some(other))),
        }
    }
    Ok(keys)
}

fn unexpected(what: String, reply: Option<Reply>) -> RedisError {
    RedisError::new(
        RedisErrorKind::Protocol,
        what,
        format!("unexpected reply {reply:?}"),
    )
}

/// Plans [`Op::Primaries`]: node-redis' `masters` read now, or ioredis' `nodes("master")`.
pub(super) fn plan_primaries(
    env: &Env,
    object: Value,
    role: &str,
    topology: Topology,
) -> std::result::Result<Planned, Failure> {
    let failure = |message: String| Failure {
        kind: RedisErrorKind::Unsupported,
        message,
        thrown: None,
    };
    match topology {
        Topology::NodeRedisCluster => {
            let masters = js::get_property(env, object, "masters")
                .and_then(|m| js::array_elements(env, m))
                .map_err(|e| failure(format!("{role}.masters: {}", e.message())))?;
            let held = masters
                .into_iter()
                .map(|m| SharedRef::new(env, m))
                .collect::<JsResult<Vec<_>>>()
                .map_err(|e| failure(format!("{role}.masters: {}", e.message())))?;
            Ok(Planned::Ready(Reply::Objects(held)))
        }
        Topology::IoredisCluster => match js::method(env, object, "nodes") {
            Some(f) => Ok(Planned::Call(Call {
                f,
                args: vec![Arg::Str("master".to_owned())],
                expect: Expect::Objects,
                this: None,
            })),
            None => Err(failure(format!("{role} has no nodes method"))),
        },
        Topology::Single => Err(failure(format!("{role} is not a cluster client"))),
    }
}

/// Plans [`Op::KeysOn`]: `node.keys(pattern)`.
pub(super) fn plan_keys_on(
    env: &Env,
    role: &str,
    node: &SharedRef,
    pattern: String,
) -> std::result::Result<Planned, Failure> {
    let released = || Failure {
        kind: RedisErrorKind::Closed,
        message: format!("a node client of {role} was released"),
        thrown: None,
    };
    let client = node.get(env).ok().flatten().ok_or_else(released)?;
    match js::method(env, client, "keys") {
        Some(f) => Ok(Planned::Call(Call {
            f,
            args: vec![Arg::Str(pattern)],
            expect: Expect::List,
            this: Some(client),
        })),
        None => Err(Failure {
            kind: RedisErrorKind::Unsupported,
            message: format!("a node client of {role} has no keys method"),
            thrown: None,
        }),
    }
}
