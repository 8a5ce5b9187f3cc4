//! What driving an object is made of: the operations ([`Op`]) as the `RedisClient`
//! contract names them, how each is called ([`Call`], [`Arg`]) and read back ([`Expect`],
//! [`Reply`]), and how a batch fails ([`Failure`]).

use std::sync::Arc;

use crate::node::js::shared_ref::SharedRef;
use crate::node::js::Value;
use crate::redis::{RedisErrorKind, Write};

/// What kind of client a driven object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// One Redis at a time (a client, a sentinel-backed client, a fake, a wrapper).
    Single,
    /// node-redis v4/v5 `createCluster`.
    NodeRedisCluster,
    /// ioredis `Cluster`.
    IoredisCluster,
}

impl Shape {
    pub(super) fn is_cluster(self) -> bool {
        self != Shape::Single
    }
}

/// One call on the object, as the contract names it.
pub(super) enum Op {
    Get(String),
    Exists(String),
    Keys(String),
    Members(String),
    /// `ping()`, when the object has one (node-redis, ioredis).
    Ping,
    Write(Write),
    Subscribe(String),
    /// ioredis' style: `subscribe(channel)` only; messages come through [`Op::Listen`].
    SubscribeOnly(String),
    Unsubscribe(String),
    /// ioredis' style: `on("message", (channel, message) => …)`, once per object.
    Listen,
    /// A cluster client's primaries: node-redis' `masters` (node descriptions), ioredis'
    /// `nodes("master")` (clients).
    Primaries(Shape),
    /// node-redis cluster: `nodeClient(node)`, the client of a node of [`Op::Primaries`].
    NodeClient(Arc<SharedRef>),
    /// `keys(pattern)` called on a node's client rather than on the object.
    KeysOn(Arc<SharedRef>, String),
}

/// What an [`Op`] settled to.
#[derive(Debug)]
pub(super) enum Reply {
    Text(Option<String>),
    Bool(bool),
    List(Vec<String>),
    /// One object (a node's client).
    Object(Arc<SharedRef>),
    /// An array of objects (a cluster's primaries).
    Objects(Vec<Arc<SharedRef>>),
    Done,
}

/// How to read the value an [`Op`]'s promise settles to.
#[derive(Clone, Copy)]
pub(super) enum Expect {
    Text,
    Bool,
    List,
    Object,
    Objects,
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
    /// A value held from an earlier reply.
    Held(Arc<SharedRef>),
}

/// A call to make: `f.call(this ?? object, ...args)`, `f` being the method probing found.
pub(super) struct Call {
    pub(super) f: Value,
    pub(super) args: Vec<Arg>,
    pub(super) expect: Expect,
    /// Another receiver than the object (a node's client).
    pub(super) this: Option<Value>,
}

/// What an [`Op`] comes to.
pub(super) enum Planned {
    Call(Call),
    /// An optional method the object lacks: nothing to call.
    Skip,
    /// Answered without a call (a property read).
    Ready(Reply),
}

/// A batch that failed on the JS thread.
pub(super) struct Failure {
    pub(super) kind: RedisErrorKind,
    pub(super) message: String,
    pub(super) thrown: Option<Arc<SharedRef>>,
}

pub(super) type Outcome = std::result::Result<Vec<Reply>, Failure>;
