//! [`Commands`] on a driven object: reads one call each, a batch of writes as one job. On a
//! cluster client (see [`super::topology`]) `keys` asks every primary and a `del` of several
//! keys is split by hash slot.

use std::time::Duration;

use napi::Env;

use super::driven::Driven;
use super::plan::{expand, Op, Reply};
use super::topology::{keys_on_primaries, topology, Topology};
use crate::node::js::{JsResult, Value};
use crate::redis::{BoxFuture, Commands, Describe, RedisError, RedisErrorKind, Result, Write};

/// [`Commands`] on a driven object.
pub struct ClientCommands {
    driven: Driven,
    topology: Topology,
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
            topology: topology(env, object),
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
            if self.topology.is_cluster() {
                let keys = keys_on_primaries(&self.driven, self.topology, pattern).await?;
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
                .run(expand(writes, self.topology.is_cluster()), None, what)
                .await
                .map(|_| ())
        })
    }
}
