//! The dedicated pub/sub connection: [`Subscriber`], RESP3 push messages, subscriptions
//! replayed after every reconnect.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use redis::{PushInfo, PushKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::connection::{bounded, spawn_context};
use super::settings::RedisSettings;
use crate::redis::backend::{BoxFuture, PubSub, PubSubEvent};
use crate::redis::{RedisError, Result};

/// A dedicated pub/sub connection. Messages of subscribed channels arrive, in order, on the
/// receiver returned once by [`PubSub::take_events`] (the stream manager takes it).
/// Subscriptions survive reconnects: redis-rs replays them on every new connection.
pub struct Subscriber {
    manager: ConnectionManager,
    command_timeout: Duration,
    receiver: Mutex<Option<UnboundedReceiver<PubSubEvent>>>,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

impl Subscriber {
    /// `SUBSCRIBE` to all `channels` in one command; returns when Redis confirmed them.
    pub async fn subscribe(&self, channels: &[String]) -> Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { conn.subscribe(channels).await },
            || format!("SUBSCRIBE {}", channels.join(" ")),
        )
        .await
    }

    /// `UNSUBSCRIBE` from `channels`; returns when Redis confirmed. Messages published after
    /// that are not delivered any more.
    pub async fn unsubscribe(&self, channels: &[String]) -> Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let mut conn = self.manager.clone();
        bounded(
            self.command_timeout,
            async move { conn.unsubscribe(channels).await },
            || format!("UNSUBSCRIBE {}", channels.join(" ")),
        )
        .await
    }

    /// `PING` on the subscriber connection. Besides checking it, this starts a new reconnect
    /// round when an earlier one gave up (Redis was down longer than the backoff lasted).
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.manager.clone();
        let cmd = redis::cmd("PING");
        bounded(
            self.command_timeout,
            async move { cmd.query_async::<redis::Value>(&mut conn).await },
            || "PING (subscriber)".to_string(),
        )
        .await
        .map(|_| ())
    }
}

/// A push message as a [`PubSubEvent`]: messages and disconnects; confirmations are dropped.
fn to_event(push: PushInfo) -> Option<PubSubEvent> {
    if push.kind == PushKind::Disconnection {
        return Some(PubSubEvent::Disconnected);
    }
    let msg = redis::Msg::from_push_info(push)?;
    Some(PubSubEvent::Message {
        channel: msg.get_channel_name().to_owned(),
        payload: msg.get_payload_bytes().to_vec(),
    })
}

impl PubSub for Subscriber {
    fn subscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(Subscriber::subscribe(self, channels))
    }

    fn unsubscribe<'a>(&'a self, channels: &'a [String]) -> BoxFuture<'a, Result<()>> {
        Box::pin(Subscriber::unsubscribe(self, channels))
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Subscriber::ping(self))
    }

    fn take_events(&self) -> Option<UnboundedReceiver<PubSubEvent>> {
        self.receiver.lock().take()
    }
}

/// Connects a [`Subscriber`] and waits until the connection is up.
pub async fn connect_subscriber(settings: &RedisSettings) -> Result<Subscriber> {
    let sub = connect_subscriber_lazy(settings)?;
    sub.ping().await.map_err(|e| {
        RedisError::new(
            e.kind(),
            format!("connect to {} (subscriber)", settings.redacted_url()),
            e.detail().to_owned(),
        )
    })?;
    Ok(sub)
}

/// Creates a [`Subscriber`] without waiting for the connection.
pub fn connect_subscriber_lazy(settings: &RedisSettings) -> Result<Subscriber> {
    let client = settings.client()?;
    let (tx, rx) = unbounded_channel();
    let config = settings
        .manager_config()
        .set_push_sender(move |push: PushInfo| match to_event(push) {
            Some(event) => tx.send(event).map_err(|_| ()),
            None => Ok(()),
        })
        .set_automatic_resubscription();
    let handle = spawn_context()?;
    let _guard = handle.enter();
    let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
        RedisError::from_redis(
            format!("connect to {} (subscriber)", settings.redacted_url()),
            &e,
        )
    })?;
    Ok(Subscriber {
        manager,
        command_timeout: settings.command_timeout,
        receiver: Mutex::new(Some(rx)),
    })
}
