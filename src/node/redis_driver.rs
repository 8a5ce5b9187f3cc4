//! The second backend of the Redis classes: an object the user passed that honours
//! mcp-use's `RedisClient` contract (an in-memory fake, a wrapper around another Redis
//! service, an instrumented client), driven from the core.
//!
//! The core runs on the tokio runtime; the object lives on the JS thread. Each batch of
//! operations is posted to the JS thread as one job, which calls the object's methods (all
//! of them at once, in order, like a pipeline), and the results travel back when their
//! promises settle. The methods are probed on every call, as mcp-use does:
//!
//! * a write with an expiry: `setEx(key, secs, value)`, else `setex(key, secs, value)`,
//!   else `set(key, value, { EX: secs })`;
//! * `expire`, `sAdd`, `sRem` are used when present and skipped otherwise;
//! * `sMembers` absent: the core falls back to `keys` for a broadcast;
//! * `publish`, `subscribe`, `unsubscribe`, `get`, `del`, `exists`, `keys` absent: the
//!   operation fails with [`RedisErrorKind::Unsupported`] before anything is called.
//!
//! A subscription passes `subscribe(channel, listener)` a listener of its own per channel;
//! what the listener receives (a string, or a `Buffer` / typed array) reaches the stream as
//! its UTF-8 bytes. A value the object throws or rejects with travels back as the error's
//! cause, so the bindings re-throw that very value. Nothing here knows the redis crate.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use napi::Env;
use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

use super::completion::SharedRef;
use super::js::{self, JsResult, Kind, Value};
use crate::redis::{
    BoxFuture, Commands, Describe, PubSub, PubSubEvent, RedisError, RedisErrorKind, Result, Write,
};

/// One call on the object, as the contract names it.
enum Op {
    Get(String),
    Exists(String),
    Keys(String),
    Members(String),
    Write(Write),
    Subscribe(String),
    Unsubscribe(String),
}

/// What an [`Op`] settled to.
#[derive(Debug)]
enum Reply {
    Text(Option<String>),
    Bool(bool),
    List(Vec<String>),
    Done,
}

/// How to read the value an [`Op`]'s promise settles to.
#[derive(Clone, Copy)]
enum Expect {
    Text,
    Bool,
    List,
    Nothing,
}

/// An argument of a planned call.
enum Arg {
    Str(String),
    Num(u64),
    Strs(Vec<String>),
    /// `{ EX: secs }`
    ExOption(u64),
    /// A listener that forwards what it is called with as messages of `channel`.
    Listener(String),
}

/// A call to make: `f.call(object, ...args)`, `f` being the method probing found.
struct Call {
    f: Value,
    args: Vec<Arg>,
    expect: Expect,
}

/// A batch that failed on the JS thread.
struct Failure {
    kind: RedisErrorKind,
    message: String,
    thrown: Option<Arc<SharedRef>>,
}

type Outcome = std::result::Result<Vec<Reply>, Failure>;

/// The object and what driving it needs; shared by [`ClientCommands`] and [`ClientPubSub`].
struct Driven {
    object: Arc<SharedRef>,
    /// `config.client` or `config.pubSubClient`, for messages.
    role: &'static str,
    /// The longest a batch may take to settle.
    timeout: Duration,
}

impl Driven {
    fn new(env: &Env, object: Value, role: &'static str, timeout: Duration) -> JsResult<Driven> {
        Ok(Driven {
            object: SharedRef::new(env, object)?,
            role,
            timeout,
        })
    }

    /// Runs `ops` on the JS thread (one job) and waits for every reply.
    async fn run(
        &self,
        ops: Vec<Op>,
        events: Option<UnboundedSender<PubSubEvent>>,
        what: Describe<'_>,
    ) -> Result<Vec<Reply>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = oneshot::channel::<Outcome>();
        let object = self.object.clone();
        let role = self.role;
        self.object.poster().post(Box::new(move |env| {
            let tx = Rc::new(RefCell::new(Some(tx)));
            if let Err(failure) = start(env, &object, role, ops, events, tx.clone()) {
                if let Some(tx) = tx.borrow_mut().take() {
                    let _ = tx.send(Err(failure));
                }
            }
        }));
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(Ok(replies))) => Ok(replies),
            Ok(Ok(Err(failure))) => {
                let error = RedisError::new(
                    failure.kind,
                    format!("{} via {}", what(), self.role),
                    failure.message,
                );
                Err(match failure.thrown {
                    Some(thrown) => error.with_cause(thrown),
                    None => error,
                })
            }
            Ok(Err(_)) => Err(RedisError::new(
                RedisErrorKind::Closed,
                what(),
                format!("{} is gone (its JS environment ended)", self.role),
            )),
            Err(_) => Err(RedisError::new(
                RedisErrorKind::Timeout,
                what(),
                format!(
                    "{} did not settle within {} ms",
                    self.role,
                    self.timeout.as_millis()
                ),
            )),
        }
    }
}

/// Plans `op` against `object`: the call to make, `Ok(None)` to skip it (an optional method
/// the object lacks), or the failure of a required method it lacks.
fn plan(
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
fn expand(writes: Vec<Write>) -> Vec<Op> {
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
fn start(
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
        let Some(call) = call else {
            batch.borrow_mut().fill(slot, Reply::Done);
            continue;
        };

        let args = call
            .args
            .into_iter()
            .map(|a| arg_value(env, a, events.as_ref()))
            .collect::<JsResult<Vec<_>>>()
            .map_err(js_failure)?;
        let returned = match js::call_catching(env, object, call.f, &args).map_err(js_failure)? {
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

/// [`Commands`] on a driven object.
pub struct ClientCommands {
    driven: Driven,
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
                .run(expand(writes), None, what)
                .await
                .map(|_| ())
        })
    }
}

/// [`PubSub`] on a driven object.
pub struct ClientPubSub {
    driven: Driven,
    events: UnboundedSender<PubSubEvent>,
    receiver: Mutex<Option<UnboundedReceiver<PubSubEvent>>>,
    /// Channels subscribed through the object, so a channel is never given two listeners.
    subscribed: Mutex<HashSet<String>>,
}

impl ClientPubSub {
    /// Drives `object` (passed as `role`) for subscriptions.
    pub fn new(
        env: &Env,
        object: Value,
        role: &'static str,
        timeout: Duration,
    ) -> JsResult<ClientPubSub> {
        let (events, receiver) = unbounded_channel();
        Ok(ClientPubSub {
            driven: Driven::new(env, object, role, timeout)?,
            events,
            receiver: Mutex::new(Some(receiver)),
            subscribed: Mutex::new(HashSet::new()),
        })
    }
}

impl PubSub for ClientPubSub {
    fn subscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let fresh: Vec<String> = {
                let mut subscribed = self.subscribed.lock();
                channels
                    .iter()
                    .filter(|c| subscribed.insert((*c).clone()))
                    .cloned()
                    .collect()
            };
            if fresh.is_empty() {
                return Ok(());
            }
            let ops = fresh.iter().cloned().map(Op::Subscribe).collect();
            let result = self
                .driven
                .run(ops, Some(self.events.clone()), &|| {
                    format!("SUBSCRIBE {}", fresh.join(" "))
                })
                .await;
            if result.is_err() {
                let mut subscribed = self.subscribed.lock();
                for c in &fresh {
                    subscribed.remove(c);
                }
            }
            result.map(|_| ())
        })
    }

    fn unsubscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if channels.is_empty() {
                return Ok(());
            }
            let ops = channels.iter().cloned().map(Op::Unsubscribe).collect();
            self.driven
                .run(ops, None, &|| format!("UNSUBSCRIBE {}", channels.join(" ")))
                .await?;
            let mut subscribed = self.subscribed.lock();
            for c in channels {
                subscribed.remove(c);
            }
            Ok(())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn take_events(&self) -> Option<UnboundedReceiver<PubSubEvent>> {
        self.receiver.lock().take()
    }
}

/// Whether `object` is a node-redis (v4/v5) or ioredis client, whose settings the native
/// connections can reproduce: it has `options`, `duplicate` and `sendCommand`. Anything else
/// (a fake, a wrapper) is driven through its own methods.
pub fn is_known_client(env: &Env, object: Value) -> bool {
    let options = js::optional_property(env, object, "options").ok().flatten();
    options.is_some_and(|o| matches!(js::kind(env, o), Ok(Kind::Object)))
        && js::method(env, object, "duplicate").is_some()
        && js::method(env, object, "sendCommand").is_some()
}
