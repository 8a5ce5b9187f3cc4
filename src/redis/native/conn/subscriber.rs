//! The dedicated pub/sub connection: [`Subscriber`], RESP3 push messages, subscriptions
//! replayed after every reconnect. On a Redis Cluster it subscribes through the crate's
//! cluster connection (each channel on its slot's node; `SSUBSCRIBE` with sharded pub/sub);
//! with Sentinel it follows the primary and subscribes there again after a failover.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::try_join_all;
use parking_lot::Mutex;
use redis::{PushInfo, PushKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::bounded::bounded;
use super::lazy::LazyLink;
use super::link::{Conn, Link, PushSink};
use super::settings::{Deployment, RedisSettings};
use crate::redis::backend::{BoxFuture, PubSub, PubSubEvent};
use crate::redis::{RedisError, RedisErrorKind, Result};

/// A dedicated pub/sub connection. Messages of subscribed channels arrive, in order, on the
/// receiver returned once by [`PubSub::take_events`] (the stream manager takes it).
/// Subscriptions survive reconnects: redis-rs replays them on every new connection, and a
/// Sentinel subscriber subscribes again on the new primary.
pub struct Subscriber {
    link: LazyLink,
    command_timeout: Duration,
    receiver: Mutex<Option<UnboundedReceiver<PubSubEvent>>>,
    /// The channels subscribed, and (Sentinel) the generation of the primary they are on.
    channels: tokio::sync::Mutex<(HashSet<String>, u64)>,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("target", &self.link.settings().redacted_url())
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// Which subscribe-like command.
#[derive(Clone, Copy)]
enum Verb {
    Subscribe,
    Unsubscribe,
}

impl Subscriber {
    async fn link(&self, what: impl FnOnce() -> String) -> Result<Link> {
        self.link.get(self.command_timeout, what).await
    }

    /// Whether subscriptions are sharded (`SSUBSCRIBE`): on a cluster, when asked for.
    fn sharded(&self, link: &Link) -> bool {
        self.link.settings().sharded_pub_sub && link.cluster().is_some()
    }

    async fn send(&self, verb: Verb, conn: Conn, channels: &[String], sharded: bool) -> Result<()> {
        let name = match (verb, sharded) {
            (Verb::Subscribe, false) => "SUBSCRIBE",
            (Verb::Subscribe, true) => "SSUBSCRIBE",
            (Verb::Unsubscribe, false) => "UNSUBSCRIBE",
            (Verb::Unsubscribe, true) => "SUNSUBSCRIBE",
        };
        let what = || format!("{name} {}", channels.join(" "));
        let run = async move {
            match (conn, verb) {
                (Conn::Node(mut c), Verb::Subscribe) => c.subscribe(channels).await,
                (Conn::Node(mut c), Verb::Unsubscribe) => c.unsubscribe(channels).await,
                (Conn::Cluster(mut c), Verb::Subscribe) if !sharded => c.subscribe(channels).await,
                (Conn::Cluster(mut c), Verb::Unsubscribe) if !sharded => {
                    c.unsubscribe(channels).await
                }
                // A sharded channel lives on its slot's node: one command per channel.
                (Conn::Cluster(c), verb) => try_join_all(channels.iter().map(|channel| {
                    let mut c = c.clone();
                    async move {
                        match verb {
                            Verb::Subscribe => c.ssubscribe(channel).await,
                            Verb::Unsubscribe => c.sunsubscribe(channel).await,
                        }
                    }
                }))
                .await
                .map(|_| ()),
            }
        };
        bounded(self.command_timeout, run, what).await
    }

    async fn change(&self, verb: Verb, channels: &[String]) -> Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        let link = self
            .link(|| format!("SUBSCRIBE {}", channels.join(" ")))
            .await?;
        let sharded = self.sharded(&link);
        let mut tracked = self.channels.lock().await;
        let conn = match &link {
            Link::Node(m) => Conn::Node(m.clone()),
            Link::Cluster(c) => Conn::Cluster(c.clone()),
            Link::Followed(primary) => {
                let (generation, manager) = primary.current();
                if generation != tracked.1 {
                    // A move since the last subscription: the channels go to the new primary.
                    let all: Vec<String> = tracked.0.iter().cloned().collect();
                    self.send(Verb::Subscribe, Conn::Node(manager.clone()), &all, false)
                        .await?;
                    tracked.1 = generation;
                }
                Conn::Node(manager)
            }
        };
        self.send(verb, conn, channels, sharded).await?;
        for channel in channels {
            match verb {
                Verb::Subscribe => tracked.0.insert(channel.clone()),
                Verb::Unsubscribe => tracked.0.remove(channel),
            };
        }
        Ok(())
    }

    /// `SUBSCRIBE` to all `channels` in one command; returns when Redis confirmed them.
    pub async fn subscribe(&self, channels: &[String]) -> Result<()> {
        self.change(Verb::Subscribe, channels).await
    }

    /// `UNSUBSCRIBE` from `channels`; returns when Redis confirmed. Messages published after
    /// that are not delivered any more.
    pub async fn unsubscribe(&self, channels: &[String]) -> Result<()> {
        self.change(Verb::Unsubscribe, channels).await
    }

    /// `PING` on the subscriber connection. Besides checking it, this starts a new reconnect
    /// round when an earlier one gave up (Redis was down longer than the backoff lasted). A
    /// followed node (a Sentinel primary, a cluster node for classic pub/sub) that does not
    /// answer, or is no longer the primary, is left for another, where every channel is
    /// subscribed again before this returns `Ok`.
    pub async fn ping(&self) -> Result<()> {
        let what = || "PING (subscriber)".to_string();
        let link = self.link(what).await?;
        let Link::Followed(node) = &link else {
            let run = link.run(true, |mut conn| async move {
                redis::cmd("PING")
                    .query_async::<redis::Value>(&mut conn)
                    .await
            });
            return bounded(self.command_timeout, run, what).await.map(|_| ());
        };
        loop {
            let (seen, manager) = node.current();
            let (generation, manager) = if node.healthy(&manager).await {
                (seen, manager)
            } else {
                node.follow_generation(seen).await.ok_or_else(|| {
                    RedisError::new(
                        RedisErrorKind::Connection,
                        what(),
                        "the node does not answer (or is no longer the primary) and no other was found",
                    )
                })?
            };
            let mut tracked = self.channels.lock().await;
            if generation != tracked.1 {
                let all: Vec<String> = tracked.0.iter().cloned().collect();
                self.send(Verb::Subscribe, Conn::Node(manager), &all, false)
                    .await?;
                tracked.1 = generation;
            }
            // A move while this ran (a sentinel's announcement): subscribe there too.
            if node.current().0 == tracked.1 {
                return Ok(());
            }
        }
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
    if let Deployment::Node = settings.deployment()? {
        settings.client()?; // a URL that does not parse fails here, not on first use
    }
    let (tx, rx) = unbounded_channel();
    Ok(Subscriber {
        link: LazyLink::new(settings.clone(), Some(sink(tx))),
        command_timeout: settings.command_timeout,
        receiver: Mutex::new(Some(rx)),
        channels: tokio::sync::Mutex::new((HashSet::new(), 0)),
    })
}

fn sink(tx: UnboundedSender<PubSubEvent>) -> PushSink {
    Arc::new(move |push: PushInfo| {
        if let Some(event) = to_event(push) {
            let _ = tx.send(event); // the manager is gone: nobody to tell
        }
    })
}
