//! The JS-thread side of driving an object: a batch's calls made in order, like a pipeline,
//! and the batch settled once every returned value (or thenable) has settled, or at the
//! first failure.

use std::cell::RefCell;
use std::rc::Rc;

use napi::Env;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::call::{Arg, Expect, Failure, Op, Outcome, Planned, Reply};
use super::plan::plan;
use crate::node::js::shared_ref::SharedRef;
use crate::node::js::{self, JsResult, Kind, Value};
use crate::redis::{PubSubEvent, RedisErrorKind};

/// Settles a batch: every slot filled, or the first failure.
struct Batch {
    replies: Vec<Option<Reply>>,
    remaining: usize,
    tx: Rc<RefCell<Option<oneshot::Sender<Outcome>>>>,
}

impl Batch {
    fn done(&self) -> bool {
        self.tx.borrow().is_none()
    }

    fn fill(&mut self, slot: usize, reply: Reply) {
        // A thenable that settles twice, or a slot after the batch failed: ignored.
        if self.done() {
            return;
        }
        if self.replies[slot].is_none() {
            self.replies[slot] = Some(reply);
            self.remaining -= 1;
        }
        if self.remaining == 0 {
            if let Some(tx) = self.tx.borrow_mut().take() {
                let replies = self
                    .replies
                    .iter_mut()
                    .map(|r| r.take().unwrap_or(Reply::Done))
                    .collect();
                let _ = tx.send(Ok(replies));
            }
        }
    }

    fn fail(&mut self, failure: Failure) {
        if let Some(tx) = self.tx.borrow_mut().take() {
            let _ = tx.send(Err(failure));
        }
    }
}

fn thrown(env: &Env, value: Value) -> Failure {
    let message = js::thrown_message(env, value);
    Failure {
        kind: RedisErrorKind::Client,
        message,
        thrown: SharedRef::new(env, value).ok(),
    }
}

fn js_failure(e: js::JsError) -> Failure {
    Failure {
        kind: RedisErrorKind::Protocol,
        message: e.message().to_owned(),
        thrown: None,
    }
}

/// On the JS thread: plans every op (a missing required method fails the batch before any
/// call), then makes every call and arranges for the batch to settle.
pub(super) fn start(
    env: &Env,
    object: &SharedRef,
    role: &'static str,
    ops: Vec<Op>,
    events: Option<UnboundedSender<PubSubEvent>>,
    tx: Rc<RefCell<Option<oneshot::Sender<Outcome>>>>,
) -> std::result::Result<(), Failure> {
    let Some(object) = object.get(env).map_err(js_failure)? else {
        return Err(Failure {
            kind: RedisErrorKind::Closed,
            message: format!("{role} was released"),
            thrown: None,
        });
    };
    // The caller gave up (timed out, cancelled) while this job waited: make no calls.
    if tx.borrow().as_ref().is_none_or(|t| t.is_closed()) {
        return Ok(());
    }
    let mut calls = Vec::with_capacity(ops.len());
    for op in ops {
        calls.push(plan(env, object, role, op)?);
    }
    let batch = Rc::new(RefCell::new(Batch {
        replies: (0..calls.len()).map(|_| None).collect(),
        remaining: calls.len(),
        tx,
    }));
    for (slot, call) in calls.into_iter().enumerate() {
        // A call already failed the batch: make no more.
        if batch.borrow().done() {
            break;
        }
        let call = match call {
            Planned::Call(call) => call,
            Planned::Skip => {
                batch.borrow_mut().fill(slot, Reply::Done);
                continue;
            }
            Planned::Ready(reply) => {
                batch.borrow_mut().fill(slot, reply);
                continue;
            }
        };

        let args = call
            .args
            .into_iter()
            .map(|a| arg_value(env, a, events.as_ref()))
            .collect::<JsResult<Vec<_>>>()
            .map_err(js_failure)?;
        let this = call.this.unwrap_or(object);
        let returned = match js::call_catching(env, this, call.f, &args).map_err(js_failure)? {
            Ok(v) => v,
            Err(exception) => return Err(thrown(env, exception)),
        };
        settle_slot(env, &batch, slot, call.expect, returned).map_err(js_failure)?;
    }
    Ok(())
}

/// Fills `slot` with `returned`, or once it settles if it is a thenable.
fn settle_slot(
    env: &Env,
    batch: &Rc<RefCell<Batch>>,
    slot: usize,
    expect: Expect,
    returned: Value,
) -> JsResult<()> {
    let then = match js::kind(env, returned)? {
        Kind::Object | Kind::Function => js::method(env, returned, "then"),
        _ => None,
    };
    let Some(then) = then else {
        let reply = read_reply(env, expect, returned);
        let mut b = batch.borrow_mut();
        match reply {
            Ok(r) => b.fill(slot, r),
            Err(f) => b.fail(f),
        }
        return Ok(());
    };
    let on_ok = {
        let batch = batch.clone();
        js::function(env, "onFulfilled", move |env, args| {
            let value = match args.first() {
                Some(v) => *v,
                None => match js::undefined(env) {
                    Ok(u) => u,
                    Err(_) => return,
                },
            };
            let reply = read_reply(env, expect, value);
            let mut b = batch.borrow_mut();
            match reply {
                Ok(r) => b.fill(slot, r),
                Err(f) => b.fail(f),
            }
        })?
    };
    let on_err = {
        let batch = batch.clone();
        js::function(env, "onRejected", move |env, args| {
            let failure = match args.first() {
                Some(v) => thrown(env, *v),
                None => Failure {
                    kind: RedisErrorKind::Client,
                    message: "rejected without a reason".into(),
                    thrown: None,
                },
            };
            batch.borrow_mut().fail(failure);
        })?
    };
    if let Err(exception) = js::call_catching(env, returned, then, &[on_ok, on_err])? {
        batch.borrow_mut().fail(thrown(env, exception));
    }
    Ok(())
}

fn arg_value(
    env: &Env,
    arg: Arg,
    events: Option<&UnboundedSender<PubSubEvent>>,
) -> JsResult<Value> {
    match arg {
        Arg::Str(s) => js::string(env, &s),
        Arg::Num(n) => js::number(env, n as f64),
        Arg::Strs(list) => js::string_array(env, &list),
        Arg::ExOption(secs) => {
            let n = js::number(env, secs as f64)?;
            js::object_with(env, "EX", n)
        }
        Arg::Listener(channel) => {
            let events = events.cloned();
            js::function(env, "onMessage", move |env, args| {
                let Some(events) = &events else { return };
                // A value that cannot be read (a Symbol) arrives empty rather than not at all.
                let payload = args
                    .first()
                    .map(|v| bytes_of(env, *v).unwrap_or_default())
                    .unwrap_or_default();
                let _ = events.send(PubSubEvent::Message {
                    channel: channel.clone(),
                    payload,
                });
            })
        }
        Arg::Held(held) => held
            .get(env)?
            .ok_or_else(|| js::JsError::Error("a held value was released".to_owned())),
        Arg::ChannelListener => {
            let events = events.cloned();
            js::function(env, "onChannelMessage", move |env, args| {
                let Some(events) = &events else { return };
                let read = |i: usize| {
                    args.get(i)
                        .map(|v| bytes_of(env, *v).unwrap_or_default())
                        .unwrap_or_default()
                };
                let channel = read(0);
                let channel = String::from_utf8(channel)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                let _ = events.send(PubSubEvent::Message {
                    channel,
                    payload: read(1),
                });
            })
        }
    }
}

/// A value as bytes: a string's UTF-8, a `Buffer`'s / typed array's bytes, else the UTF-8 of
/// `String(value)`.
fn bytes_of(env: &Env, value: Value) -> JsResult<Vec<u8>> {
    match js::kind(env, value)? {
        Kind::String => return js::string_value(env, value).map(String::into_bytes),
        Kind::Object => {
            if let Some(bytes) = js::byte_view(env, value)? {
                return Ok(bytes);
            }
        }
        _ => {}
    }
    js::coerce_string(env, value).map(String::into_bytes)
}

/// Reads a settled value as `expect` says.
fn read_reply(env: &Env, expect: Expect, value: Value) -> std::result::Result<Reply, Failure> {
    let bad = |what: &str| Failure {
        kind: RedisErrorKind::Protocol,
        message: format!("expected {what}"),
        thrown: None,
    };
    let text = |v: Value| -> std::result::Result<String, Failure> {
        let bytes = bytes_of(env, v).map_err(js_failure)?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    };
    match expect {
        Expect::Nothing => Ok(Reply::Done),
        Expect::Text => match js::kind(env, value).map_err(js_failure)? {
            Kind::Undefined | Kind::Null => Ok(Reply::Text(None)),
            _ => text(value).map(|t| Reply::Text(Some(t))),
        },
        // `exists` answers a count (node-redis, ioredis); a boolean is taken at its word.
        Expect::Bool => match js::kind(env, value).map_err(js_failure)? {
            Kind::Number => Ok(Reply::Bool(
                js::number_value(env, value).map_err(js_failure)? == 1.0,
            )),
            Kind::Boolean => Ok(Reply::Bool(js::bool_value(env, value).map_err(js_failure)?)),
            _ => Ok(Reply::Bool(false)),
        },
        Expect::Object => match js::kind(env, value).map_err(js_failure)? {
            Kind::Object | Kind::Function => SharedRef::new(env, value)
                .map(Reply::Object)
                .map_err(js_failure),
            _ => Err(bad("an object")),
        },
        Expect::Objects => {
            if js::kind(env, value).map_err(js_failure)? != Kind::Array {
                return Err(bad("an array of objects"));
            }
            let mut held = Vec::new();
            for item in js::array_elements(env, value).map_err(js_failure)? {
                match js::kind(env, item).map_err(js_failure)? {
                    Kind::Object | Kind::Function => {
                        held.push(SharedRef::new(env, item).map_err(js_failure)?)
                    }
                    _ => return Err(bad("an array of objects")),
                }
            }
            Ok(Reply::Objects(held))
        }
        Expect::List => {
            if js::kind(env, value).map_err(js_failure)? != Kind::Array {
                return Err(bad("an array of strings"));
            }
            let items = js::array_elements(env, value).map_err(js_failure)?;
            items
                .into_iter()
                .map(text)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Reply::List)
        }
    }
}
