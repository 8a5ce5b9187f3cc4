//! [`PubSub`] on a driven object: a listener of our own per channel, never two for one.

use std::collections::HashSet;
use std::time::Duration;

use napi::Env;
use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::driven::Driven;
use super::plan::Op;
use crate::node::js::{JsResult, Value};
use crate::redis::{BoxFuture, PubSub, PubSubEvent, Result};

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
