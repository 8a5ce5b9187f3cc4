//! What to call: each operation planned as the method the object offers (probed on every
//! call, as mcp-use does), with its arguments and how to read what it settles to.

use napi::Env;

use super::batch::Failure;
use crate::node::js::{self, Value};
use crate::redis::{RedisErrorKind, Write};

/// One call on the object, as the contract names it.
pub(super) enum Op {
    Get(String),
    Exists(String),
    Keys(String),
    Members(String),
    Write(Write),
    Subscribe(String),
    /// ioredis' style: `subscribe(channel)` only; messages come through [`Op::Listen`].
    SubscribeOnly(String),
    Unsubscribe(String),
    /// ioredis' style: `on("message", (channel, message) => …)`, once per object.
    Listen,
}

/// What an [`Op`] settled to.
#[derive(Debug)]
pub(super) enum Reply {
    Text(Option<String>),
    Bool(bool),
    List(Vec<String>),
    Done,
}

/// How to read the value an [`Op`]'s promise settles to.
#[derive(Clone, Copy)]
pub(super) enum Expect {
    Text,
    Bool,
    List,
    Nothing,
}

/// An argument of a planned call.
pub(super) enum Arg {
    Str(String),
    Num(u64),
    Strs(Vec<String>),
    /// `{ EX: secs }`
    ExOption(u64),
    /// A listener that forwards what it is called with as messages of `channel`.
    Listener(String),
    /// A listener called with `(channel, message)`, forwarding each as a message.
    ChannelListener,
}

/// A call to make: `f.call(object, ...args)`, `f` being the method probing found.
pub(super) struct Call {
    pub(super) f: Value,
    pub(super) args: Vec<Arg>,
    pub(super) expect: Expect,
}

/// Plans `op` against `object`: the call to make, `Ok(None)` to skip it (an optional method
/// the object lacks), or the failure of a required method it lacks.
pub(super) fn plan(
    env: &Env,
    object: Value,
    role: &str,
    op: Op,
) -> std::result::Result<Option<Call>, Failure> {
    let found = |name: &str| js::method(env, object, name);
    let missing = |names: &str| Failure {
        kind: RedisErrorKind::Unsupported,
        message: format!("{role} has no {names} method"),
        thrown: None,
    };
    let required = |name: &str, args: Vec<Arg>, expect: Expect| match found(name) {
        Some(f) => Ok(Some(Call { f, args, expect })),
        None => Err(missing(name)),
    };
    let optional = |name: &str, args: Vec<Arg>| {
        Ok(found(name).map(|f| Call {
            f,
            args,
            expect: Expect::Nothing,
        }))
    };
    match op {
        Op::Get(key) => required("get", vec![Arg::Str(key)], Expect::Text),
        Op::Exists(key) => required("exists", vec![Arg::Str(key)], Expect::Bool),
        Op::Keys(pattern) => required("keys", vec![Arg::Str(pattern)], Expect::List),
        Op::Members(key) => required("sMembers", vec![Arg::Str(key)], Expect::List),
        Op::Subscribe(channel) => required(
            "subscribe",
            vec![Arg::Str(channel.clone()), Arg::Listener(channel)],
            Expect::Nothing,
        ),
        Op::SubscribeOnly(channel) => {
            required("subscribe", vec![Arg::Str(channel)], Expect::Nothing)
        }
        Op::Listen => required(
            "on",
            vec![Arg::Str("message".to_owned()), Arg::ChannelListener],
            Expect::Nothing,
        ),
        Op::Unsubscribe(channel) => {
            required("unsubscribe", vec![Arg::Str(channel)], Expect::Nothing)
        }
        Op::Write(write) => match write {
            Write::Set {
                key,
                value,
                expire_secs: Some(secs),
            } => {
                if let Some(f) = found("setEx").or_else(|| found("setex")) {
                    Ok(Some(Call {
                        f,
                        args: vec![Arg::Str(key), Arg::Num(secs), Arg::Str(value)],
                        expect: Expect::Nothing,
                    }))
                } else if let Some(f) = found("set") {
                    Ok(Some(Call {
                        f,
                        args: vec![Arg::Str(key), Arg::Str(value), Arg::ExOption(secs)],
                        expect: Expect::Nothing,
                    }))
                } else {
                    Err(missing("setEx, setex or set"))
                }
            }
            Write::Set {
                key,
                value,
                expire_secs: None,
            } => required("set", vec![Arg::Str(key), Arg::Str(value)], Expect::Nothing),
            Write::Expire { key, secs } => optional("expire", vec![Arg::Str(key), Arg::Num(secs)]),
            // Without `expire`, re-write the key with its expiry (what the native SET EX
            // does), so it does not lapse between heartbeats.
            Write::Refresh { key, value, secs } => match found("expire") {
                Some(f) => Ok(Some(Call {
                    f,
                    args: vec![Arg::Str(key), Arg::Num(secs)],
                    expect: Expect::Nothing,
                })),
                None => plan(
                    env,
                    object,
                    role,
                    Op::Write(Write::Set {
                        key,
                        value,
                        expire_secs: Some(secs),
                    }),
                ),
            },
            Write::Del(mut keys) if keys.len() == 1 => {
                required("del", vec![Arg::Str(keys.remove(0))], Expect::Nothing)
            }
            Write::Del(keys) | Write::Unlink(keys) => {
                required("del", vec![Arg::Strs(keys)], Expect::Nothing)
            }
            // `expand` made these one member each.
            Write::SAdd { key, members } => match <[String; 1]>::try_from(members) {
                Ok([member]) => optional("sAdd", vec![Arg::Str(key), Arg::Str(member)]),
                Err(_) => Ok(None),
            },
            Write::SRem { key, members } => match <[String; 1]>::try_from(members) {
                Ok([member]) => optional("sRem", vec![Arg::Str(key), Arg::Str(member)]),
                Err(_) => Ok(None),
            },
            Write::Publish { channel, message } => required(
                "publish",
                vec![Arg::Str(channel), Arg::Str(message)],
                Expect::Nothing,
            ),
        },
    }
}

/// One op per contract call: a set write of several members becomes one call per member
/// (`sAdd(key, member)`, as mcp-use calls it; node-redis and `...members` fakes both take
/// that shape).
pub(super) fn expand(writes: Vec<Write>) -> Vec<Op> {
    let mut ops = Vec::with_capacity(writes.len());
    for write in writes {
        match write {
            Write::SAdd { key, members } if members.len() != 1 => {
                ops.extend(members.into_iter().map(|m| {
                    Op::Write(Write::SAdd {
                        key: key.clone(),
                        members: vec![m],
                    })
                }));
            }
            Write::SRem { key, members } if members.len() != 1 => {
                ops.extend(members.into_iter().map(|m| {
                    Op::Write(Write::SRem {
                        key: key.clone(),
                        members: vec![m],
                    })
                }));
            }
            Write::Del(keys) | Write::Unlink(keys) if keys.is_empty() => {}
            other => ops.push(Op::Write(other)),
        }
    }
    ops
}
