//! [`Commands`] on a driven object: reads one call each, a batch of writes as one job. On a
//! cluster client (see `cluster.rs`) `keys` asks every primary and a `del` of several
//! keys is split by hash slot.

use std::collections::HashSet;
use std::time::Duration;

use napi::Env;

use super::call::{Op, Reply, Shape};
use super::cluster::shape;
use super::object::Driven;
use super::plan::expand;
use crate::node::js::{JsResult, Value};
use crate::redis::{BoxFuture, Commands, Describe, RedisError, RedisErrorKind, Result, Write};

/// [`Commands`] on a driven object.
pub struct ClientCommands {
    driven: Driven,
    shape: Shape,
}

impl ClientCommands {
    /// Drives `object` (passed as `role`, e.g. `config.client`); a batch that has not settled
    /// after `timeout` fails.
    pub fn new(
        env: &Env,
        object: Value,
        role: &'static str,
        timeout: Duration,
    ) -> JsResult<ClientCommands> {
        Ok(ClientCommands {
            driven: Driven::new(env, object, role, timeout)?,
            shape: shape(env, object),
        })
    }

    async fn one(&self, op: Op, what: Describe<'_>) -> Result<Reply> {
        let mut replies = self.driven.run(vec![op], None, what).await?;
        Ok(replies.pop().unwrap_or(Reply::Done))
    }
}

fn unexpected(what: String, reply: Reply) -> RedisError {
    RedisError::new(
        RedisErrorKind::Protocol,
        what,
        format!("unexpected reply {reply:?}"),
    )
}

impl Commands for ClientCommands {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            match self
                .one(Op::Get(key.to_owned()), &|| format!("GET {key}"))
                .await?
            {
                Reply::Text(t) => Ok(t),
                other => Err(unexpected(format!("GET {key}"), other)),
            }
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            match self
                .one(Op::Exists(key.to_owned()), &|| format!("EXISTS {key}"))
                .await?
            {
                Reply::Bool(b) => Ok(b),
                other => Err(unexpected(format!("EXISTS {key}"), other)),
            }
        })
    }

    fn scan<'a>(
        &'a self,
        _cursor: &'a str,
        pattern: &'a str,
    ) -> BoxFuture<'a, Result<(String, Vec<String>)>> {
        Box::pin(async move {
            if self.shape.is_cluster() {
                let keys = keys_on_primaries(&self.driven, self.shape, pattern).await?;
                return Ok(("0".to_owned(), keys));
            }
            match self
                .one(Op::Keys(pattern.to_owned()), &|| format!("KEYS {pattern}"))
                .await?
            {
                Reply::List(keys) => Ok(("0".to_owned(), keys)),
                other => Err(unexpected(format!("KEYS {pattern}"), other)),
            }
        })
    }

    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            match self
                .one(Op::Members(key.to_owned()), &|| format!("SMEMBERS {key}"))
                .await?
            {
                Reply::List(ids) => Ok(ids),
                other => Err(unexpected(format!("SMEMBERS {key}"), other)),
            }
        })
    }

    fn write<'a>(&'a self, writes: Vec<Write>, what: Describe<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.driven
                .run(expand(writes, self.shape.is_cluster()), None, what)
                .await
                .map(|_| ())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.one(Op::Ping, &|| "PING".to_owned()).await.map(|_| ()) })
    }
}

/// Every key matching `pattern` on every primary of the cluster `driven` drives: the
/// primaries listed, their clients (node-redis: `nodeClient`), then `keys(pattern)` on each,
/// all at once. Each key once.
async fn keys_on_primaries(driven: &Driven, shape: Shape, pattern: &str) -> Result<Vec<String>> {
    let what = || format!("KEYS {pattern} on every primary");
    let describe = &what;
    let listed = driven.run(vec![Op::Primaries(shape)], None, describe);
    let nodes = match listed.await?.pop() {
        Some(Reply::Objects(nodes)) => nodes,
        Some(other) => return Err(unexpected(what(), other)),
        None => return Err(unexpected(what(), Reply::Done)),
    };
    if nodes.is_empty() {
        return Err(RedisError::new(
            RedisErrorKind::Connection,
            what(),
            "the cluster client knows no primaries (is it connected?)",
        ));
    }
    let clients = match shape {
        Shape::NodeRedisCluster => {
            let ops = nodes.into_iter().map(Op::NodeClient).collect();
            let mut clients = Vec::new();
            for reply in driven.run(ops, None, describe).await? {
                match reply {
                    Reply::Object(client) => clients.push(client),
                    other => return Err(unexpected(what(), other)),
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
            other => return Err(unexpected(what(), other)),
        }
    }
    Ok(keys)
}
