//! What to call: each operation planned as the method the object offers (probed on every
//! call, as mcp-use does), with its arguments and how to read what it settles to.

use napi::Env;

use super::call::{Arg, Call, Expect, Failure, Op, Planned};
use super::cluster::{plan_keys_on, plan_primaries};
use crate::node::js::{self, Value};
use crate::redis::slot::by_slot;
use crate::redis::{RedisErrorKind, Write};

/// Plans `op` against `object`: the call to make, [`Planned::Skip`] (an optional method the
/// object lacks), the reply already known, or the failure of a required method it lacks.
pub(super) fn plan(
    env: &Env,
    object: Value,
    role: &str,
    op: Op,
) -> std::result::Result<Planned, Failure> {
    let found = |name: &str| js::method(env, object, name);
    let missing = |names: &str| Failure {
        kind: RedisErrorKind::Unsupported,
        message: format!("{role} has no {names} method"),
        thrown: None,
    };
    let call = |f: Value, args: Vec<Arg>, expect: Expect| {
        Planned::Call(Call {
            f,
            args,
            expect,
            this: None,
        })
    };
    let required = |name: &str, args: Vec<Arg>, expect: Expect| match found(name) {
        Some(f) => Ok(call(f, args, expect)),
        None => Err(missing(name)),
    };
    let optional = |name: &str, args: Vec<Arg>| {
        Ok(match found(name) {
            Some(f) => call(f, args, Expect::Nothing),
            None => Planned::Skip,
        })
    };
    match op {
        Op::Get(key) => required("get", vec![Arg::Str(key)], Expect::Text),
        Op::Exists(key) => required("exists", vec![Arg::Str(key)], Expect::Bool),
        Op::Keys(pattern) => required("keys", vec![Arg::Str(pattern)], Expect::List),
        Op::Members(key) => required("sMembers", vec![Arg::Str(key)], Expect::List),
        // Not in mcp-use's contract: without it, there is nothing to check (Unsupported).
        Op::Ping => required("ping", vec![], Expect::Nothing),
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
        Op::Primaries(shape) => plan_primaries(env, object, role, shape),
        Op::NodeClient(node) => required("nodeClient", vec![Arg::Held(node)], Expect::Object),
        Op::KeysOn(node, pattern) => plan_keys_on(env, role, &node, pattern),
        Op::Write(write) => match write {
            Write::Set {
                key,
                value,
                expire_secs: Some(secs),
            } => {
                if let Some(f) = found("setEx").or_else(|| found("setex")) {
                    Ok(call(
                        f,
                        vec![Arg::Str(key), Arg::Num(secs), Arg::Str(value)],
                        Expect::Nothing,
                    ))
                } else if let Some(f) = found("set") {
                    Ok(call(
                        f,
                        vec![Arg::Str(key), Arg::Str(value), Arg::ExOption(secs)],
                        Expect::Nothing,
                    ))
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
            // Re-write the key with its value and expiry, as the native SET EX does, not
            // mcp-use's `expire`: an `expire` of a key that is gone does nothing, and a key
            // can go under a live stream (a Sentinel failover drops the refreshes the old
            // primary took after the promotion, and the key expires on the new one before
            // the client reaches it; a Redis restart without persistence), and the stream
            // would then stay unavailable (`has()` false, left out of broadcasts) for as long
            // as it lives. Only an object with no way to set a key falls back to `expire`.
            Write::Refresh { key, value, secs } => {
                let can_set = ["setEx", "setex", "set"].iter().any(|m| found(m).is_some());
                if can_set {
                    plan(
                        env,
                        object,
                        role,
                        Op::Write(Write::Set {
                            key,
                            value,
                            expire_secs: Some(secs),
                        }),
                    )
                } else {
                    optional("expire", vec![Arg::Str(key), Arg::Num(secs)])
                }
            }
            Write::Del(mut keys) if keys.len() == 1 => {
                required("del", vec![Arg::Str(keys.remove(0))], Expect::Nothing)
            }
            Write::Del(keys) | Write::Unlink(keys) => {
                required("del", vec![Arg::Strs(keys)], Expect::Nothing)
            }
            // `expand` made these one member each.
            Write::SAdd { key, members } => match <[String; 1]>::try_from(members) {
                Ok([member]) => optional("sAdd", vec![Arg::Str(key), Arg::Str(member)]),
                Err(_) => Ok(Planned::Skip),
            },
            Write::SRem { key, members } => match <[String; 1]>::try_from(members) {
                Ok([member]) => optional("sRem", vec![Arg::Str(key), Arg::Str(member)]),
                Err(_) => Ok(Planned::Skip),
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
/// that shape). On a cluster client (`cluster`), a `del` of several keys becomes one call per
/// hash slot, so none spans two slots.
pub(super) fn expand(writes: Vec<Write>, cluster: bool) -> Vec<Op> {
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
            Write::Del(keys) | Write::Unlink(keys) if cluster && keys.len() > 1 => {
                ops.extend(by_slot(keys).into_iter().map(|k| Op::Write(Write::Del(k))));
            }
            other => ops.push(Op::Write(other)),
        }
    }
    ops
}
