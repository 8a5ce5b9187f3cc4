//! The dispatcher: what arrives from Redis (and the manager's own [`Control`]s), classified
//! and handed to the sink in batches, in order.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use super::{Inbound, InboundSink, Inner, MAX_BATCH};
use crate::redis::{PubSubEvent, Write};
use crate::stream::handover::Barrier;

/// Work for the dispatcher, in order with what arrives from Redis.
pub(super) enum Control {
    /// `create` took the session's pending messages: deliver them, then what was held.
    Opened {
        session_id: String,
        taken: Vec<String>,
    },
    /// Hand this barrier to the sink after everything received so far.
    Barrier(Barrier),
}

/// Reads the subscriber's push messages and the manager's [`Control`]s, and hands them to
/// the sink in batches, in order.
pub(super) async fn dispatch_loop(
    inner: Arc<Inner>,
    mut rx: UnboundedReceiver<PubSubEvent>,
    mut control: UnboundedReceiver<Control>,
    sink: InboundSink,
) {
    let mut batch = Vec::new();
    let mut deleted = Vec::new();
    let mut controls = Vec::new();
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => inner.classify(event, &mut batch, &mut deleted),
                None => break,
            },
            Some(c) = control.recv() => controls.push(c),
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(push) => inner.classify(push, &mut batch, &mut deleted),
                Err(_) => break,
            }
        }
        while let Ok(c) = control.try_recv() {
            controls.push(c);
        }
        if controls.iter().any(|c| matches!(c, Control::Barrier(_))) {
            // Everything received before the unsubscribe that a barrier follows is in `rx`:
            // classify all of it first, so no message of a session being let go of is missed.
            while let Ok(push) = rx.try_recv() {
                inner.classify(push, &mut batch, &mut deleted);
            }
        }
        for c in controls.drain(..) {
            inner.apply(c, &mut batch);
        }
        if !deleted.is_empty() {
            // Another instance deleted these sessions: drop our subscriptions (the deleter
            // already removed the keys).
            let sids = std::mem::take(&mut deleted);
            let inner2 = inner.clone();
            tokio::spawn(async move {
                let _guard = inner2.subscriptions.lock().await;
                let mut channels = Vec::with_capacity(sids.len() * 2);
                {
                    let local = inner2.local.lock();
                    // a session re-created meanwhile keeps its (new) subscription
                    for sid in sids.iter().filter(|sid| !local.contains(sid.as_str())) {
                        channels.push(inner2.channel(sid));
                        channels.push(inner2.delete_channel(sid));
                    }
                }
                if let Err(e) = inner2.subscriber.unsubscribe(&channels).await {
                    tracing::debug!(error = %e, "unsubscribe after remote delete failed");
                }
                // The session is no longer this instance's: out of its set too.
                if let Some(l) = &inner2.liveness {
                    let gone: Vec<String> = {
                        let local = inner2.local.lock();
                        sids.iter()
                            .filter(|sid| !local.contains(sid.as_str()))
                            .cloned()
                            .collect()
                    };
                    if !gone.is_empty() {
                        let set = l.instance_set(&inner2.server_id);
                        let srem = vec![Write::SRem {
                            key: set.clone(),
                            members: gone,
                        }];
                        if let Err(e) = inner2.conn.write(srem, &|| format!("SREM {set}")).await {
                            tracing::debug!(error = %e, "removing remotely deleted sessions from this instance's set failed");
                        }
                    }
                }
            });
        }
        if !batch.is_empty() {
            let items = std::mem::take(&mut batch);
            let messages = items
                .iter()
                .filter(|i| matches!(i, Inbound::Message { .. }))
                .count();
            inner.streams.delivered(messages);
            let sink = sink.clone();
            if std::panic::catch_unwind(AssertUnwindSafe(move || sink(items))).is_err() {
                tracing::warn!(prefix = %inner.prefix, "stream message sink panicked; batch dropped");
            }
        }
    }
}

impl Inner {
    /// Applies a dispatcher [`Control`], appending what it delivers to `out`.
    pub(super) fn apply(self: &Arc<Self>, control: Control, out: &mut Vec<Inbound>) {
        match control {
            Control::Barrier(b) => out.push(Inbound::Barrier(b)),
            Control::Opened { session_id, taken } => {
                // Carried over from letting go of the previous stream here (the oldest), then
                // what was kept in Redis, then what arrived while opening.
                let opened = self.handover.opened(&session_id).unwrap_or_default();
                let messages = opened.carried.into_iter().chain(taken).chain(opened.held);
                if self.local.lock().contains(&session_id) {
                    out.extend(messages.map(|payload| Inbound::Message {
                        session_id: session_id.clone(),
                        payload,
                    }));
                    return;
                }
                // The create failed (or the session went meanwhile): keep them for the next.
                let messages: Vec<String> = messages.collect();
                if messages.is_empty() {
                    return;
                }
                let inner = self.clone();
                tokio::spawn(async move {
                    match inner
                        .conn
                        .requeue(&inner.pending_keys, &session_id, &messages, inner.pending)
                        .await
                    {
                        Ok(kept) => inner.counters.add(kept),
                        Err(e) => {
                            tracing::warn!(error = %e, "keeping the messages of a failed create failed")
                        }
                    }
                });
            }
        }
    }

    /// Turns one pub/sub event into an inbound item (or nothing).
    pub(super) fn classify(
        &self,
        event: PubSubEvent,
        out: &mut Vec<Inbound>,
        deleted: &mut Vec<String>,
    ) {
        let (channel, payload) = match event {
            PubSubEvent::Disconnected => {
                self.subscriber_down.store(true, Ordering::Release);
                self.recovery.outage.failed(
                    "the subscriber",
                    &"the connection was lost",
                    "reconnecting",
                );
                self.subscriber_meter
                    .disconnected("Redis connection lost (reconnecting)");
                return;
            }
            PubSubEvent::Message { channel, payload } => (channel, payload),
        };
        let channel = channel.as_str();

        if self.server_channel_subscribed.load(Ordering::Acquire) {
            if let Some(rest) = channel.strip_prefix(self.prefix.as_str()) {
                if rest.strip_prefix("server:") == Some(self.server_id.as_str()) {
                    self.forwarded(&payload, out);
                    return;
                }
            }
        }
        if let Some(sid) = channel
            .strip_prefix("delete:")
            .and_then(|c| c.strip_prefix(self.prefix.as_str()))
        {
            if payload == self.server_id.as_bytes() {
                return; // our own delete, seen after a re-create: not a request to close it
            }
            self.handover.forget(sid);
            if self.local.lock().remove(sid) {
                deleted.push(sid.to_string());
                out.push(Inbound::Delete {
                    session_id: sid.to_string(),
                });
            }
            return;
        }
        if let Some(sid) = channel.strip_prefix(self.prefix.as_str()) {
            let payload = || match String::from_utf8(payload) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            if !self.pending.enabled() {
                if self.local.lock().contains(sid) {
                    out.push(Inbound::Message {
                        session_id: sid.to_string(),
                        payload: payload(),
                    });
                }
                return;
            }
            // Held while the session is being opened or let go of here, else delivered if it
            // is local.
            if let Some(payload) = self.handover.hold(sid, payload()) {
                if self.local.lock().contains(sid) {
                    out.push(Inbound::Message {
                        session_id: sid.to_string(),
                        payload,
                    });
                }
            }
        }
    }
}
