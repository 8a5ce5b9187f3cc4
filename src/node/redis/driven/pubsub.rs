//! [`PubSub`] on a driven object: a listener of our own per channel, never two for one, and
//! one subscription call at a time: node-redis' cluster and sentinel pub/sub tear their
//! connection down between two concurrent UNSUBSCRIBEs (`ClientClosedError`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use napi::Env;
use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::call::Op;
use super::object::Driven;
use crate::node::js::{self, JsResult, Kind, Value};
use crate::redis::{BoxFuture, PubSub, PubSubEvent, RedisErrorKind, Result};

/// [`PubSub`] on a driven object.
pub struct ClientPubSub {
    driven: Driven,
    events: UnboundedSender<PubSubEvent>,
    receiver: Mutex<Option<UnboundedReceiver<PubSubEvent>>>,
    /// Channels subscribed through the object, so a channel is never given two listeners.
    subscribed: Mutex<HashSet<String>>,
    /// Held for each call, so the object never has two (un)subscribe calls in flight.
    one_at_a_time: tokio::sync::Mutex<()>,
    /// ioredis' calling convention: `subscribe(channel)` resolves when subscribed (a second
    /// argument is a completion callback, not a listener) and messages come as
    /// `("message", channel, message)` events. Detected from the object (an emitter with a
    /// `status`, and no node-redis `isOpen`).
    emitter: bool,
    /// Whether our `message` listener is on the object (ioredis' convention).
    listening: AtomicBool,
}

/// Whether `object` follows ioredis' pub/sub convention (see [`ClientPubSub::emitter`]).
fn emitter_style(env: &Env, object: Value) -> bool {
    let has = |name: &str| js::optional_property(env, object, name).ok().flatten();
    js::method(env, object, "on").is_some()
        && has("status").is_some_and(|s| matches!(js::kind(env, s), Ok(Kind::String)))
        && has("isOpen").is_none()
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
            one_at_a_time: tokio::sync::Mutex::new(()),
            emitter: emitter_style(env, object),
            listening: AtomicBool::new(false),
        })
    }
}

impl PubSub for ClientPubSub {
    fn subscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (fresh, first): (Vec<String>, bool) = {
                let mut subscribed = self.subscribed.lock();
                let first = subscribed.is_empty();
                let fresh = channels
                    .iter()
                    .filter(|c| subscribed.insert((*c).clone()))
                    .cloned()
                    .collect();
                (fresh, first)
            };
            if fresh.is_empty() {
                return Ok(());
            }
            let _one = self.one_at_a_time.lock().await;
            if self.emitter && (first || !self.listening.load(Ordering::Acquire)) {
                // ioredis writes a SUBSCRIBE at once on a socket that is connected but not
                // ready yet (the command may run while Redis loads, or the client is
                // reconnecting), then sends its ready check (INFO) on what is by then a
                // subscriber connection: Redis refuses it, ioredis reconnects, and the
                // subscription is gone for good. A PING waits in its queue until the client is
                // ready, so a SUBSCRIBE that puts the connection in subscriber mode (the
                // object holds no subscription yet) goes after it.
                let ready = self
                    .driven
                    .run(vec![Op::Ping], None, &|| "PING".to_owned())
                    .await;
                let listen = match ready {
                    Err(e) if e.kind() != RedisErrorKind::Unsupported => Err(e),
                    _ if self.listening.load(Ordering::Acquire) => Ok(Vec::new()),
                    _ => {
                        self.driven
                            .run(vec![Op::Listen], Some(self.events.clone()), &|| {
                                "listening for messages".to_owned()
                            })
                            .await
                    }
                };
                if let Err(e) = listen {
                    let mut subscribed = self.subscribed.lock();
                    for c in &fresh {
                        subscribed.remove(c);
                    }
                    return Err(e);
                }
                self.listening.store(true, Ordering::Release);
            }
            let mut result = Ok(());
            for (i, channel) in fresh.iter().enumerate() {
                let op = if self.emitter {
                    vec![Op::SubscribeOnly(channel.clone())]
                } else {
                    vec![Op::Subscribe(channel.clone())]
                };
                let done = self
                    .driven
                    .run(op, Some(self.events.clone()), &|| {
                        format!("SUBSCRIBE {channel}")
                    })
                    .await;
                if let Err(e) = done {
                    // The rest were never subscribed.
                    let mut subscribed = self.subscribed.lock();
                    for c in &fresh[i..] {
                        subscribed.remove(c);
                    }
                    result = Err(e);
                    break;
                }
            }
            result
        })
    }

    fn unsubscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if channels.is_empty() {
                return Ok(());
            }
            let _one = self.one_at_a_time.lock().await;
            for channel in channels {
                let op = vec![Op::Unsubscribe(channel.clone())];
                self.driven
                    .run(op, None, &|| format!("UNSUBSCRIBE {channel}"))
                    .await?;
                self.subscribed.lock().remove(channel);
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
