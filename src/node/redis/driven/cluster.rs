//! Whether a driven `config.client` is a Redis Cluster client, and how to reach every primary
//! of one. A cluster client sends `keys(pattern)` to one node, so it sees the keys of that
//! node only, and a multi-key `del` across slots fails with `CROSSSLOT`: for a recognised
//! cluster client, `keys` goes to every primary and a `del` is split by slot
//! ([`crate::redis::slot`]). Any other object (one Redis, a sentinel-backed client, a fake)
//! is driven as it is.
//!
//! Recognised: node-redis v4/v5 `createCluster` (an array `masters` and `nodeClient(node)`,
//! which answers the node's client or a promise of it) and ioredis `Cluster` (`isCluster`
//! true and `nodes("master")`, which answers the primaries' clients).

use napi::Env;

use super::call::{Arg, Call, Expect, Failure, Planned, Reply, Shape};
use crate::node::js::shared_ref::SharedRef;
use crate::node::js::{self, JsResult, Kind, Value};
use crate::redis::RedisErrorKind;

/// The kind of `object`, read from its shape (properties a getter of which throws count as
/// absent).
pub(super) fn shape(env: &Env, object: Value) -> Shape {
    let property = |name: &str| js::optional_property(env, object, name).ok().flatten();
    let is = |v: Option<Value>, k: Kind| v.is_some_and(|v| js::kind(env, v).ok() == Some(k));
    if is(property("masters"), Kind::Array) && js::method(env, object, "nodeClient").is_some() {
        return Shape::NodeRedisCluster;
    }
    let cluster_flag = property("isCluster")
        .filter(|v| js::kind(env, *v).ok() == Some(Kind::Boolean))
        .and_then(|v| js::bool_value(env, v).ok())
        .unwrap_or(false);
    if cluster_flag && js::method(env, object, "nodes").is_some() {
        return Shape::IoredisCluster;
    }
    Shape::Single
}

/// Plans [`Op::Primaries`]: node-redis' `masters` read now, or ioredis' `nodes("master")`.
pub(super) fn plan_primaries(
    env: &Env,
    object: Value,
    role: &str,
    shape: Shape,
) -> std::result::Result<Planned, Failure> {
    let failure = |message: String| Failure {
        kind: RedisErrorKind::Unsupported,
        message,
        thrown: None,
    };
    match shape {
        Shape::NodeRedisCluster => {
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
        Shape::IoredisCluster => match js::method(env, object, "nodes") {
            Some(f) => Ok(Planned::Call(Call {
                f,
                args: vec![Arg::Str("master".to_owned())],
                expect: Expect::Objects,
                this: None,
            })),
            None => Err(failure(format!("{role} has no nodes method"))),
        },
        Shape::Single => Err(failure(format!("{role} is not a cluster client"))),
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
