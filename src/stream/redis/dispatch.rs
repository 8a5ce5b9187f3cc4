//! The dispatcher: what arrives from Redis (and the manager's own [`Control`]s), classified
//! and handed to the sink in batches, in order.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use super::acks::{Ack, Delivered};
use super::markers::{self, Marker};
use super::{Inbound, InboundSink, Inner, MAX_BATCH};
use crate::redis::{PubSubEvent, TakenMessage, Write};
use crate::stream::handover::{Barrier, Hold, HANDBACK_WAIT};

/// Work for the dispatcher, in order with what arrives from Redis.
pub(super) enum Control {
    /// `create` took the session's pending messages: deliver them, then what was held; when
    /// the take was `contested`, once the other instance handed back what it could not
    /// deliver (or after [`HANDBACK_WAIT`]).
    Opened {
        session_id: String,
        taken: Vec<TakenMessage>,
        contested: bool,
    },
    /// A take after another instance's handed-back marker found these.
    HandedBack {
        session_id: String,
        taken: Vec<TakenMessage>,
    },
    /// [`HANDBACK_WAIT`] is over for a contested open of the session.
    Settle { session_id: String },
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
    let mut acks: Vec<Ack> = Vec::new();
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(event) => inner.classify(event, &mut batch, &mut deleted, &mut acks),
                None => break,
            },
            Some(c) = control.recv() => controls.push(c),
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(push) => inner.classify(push, &mut batch, &mut deleted, &mut acks),
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
                inner.classify(push, &mut batch, &mut deleted, &mut acks);
            }
        }
        for c in controls.drain(..) {
            inner.apply(c, &mut batch, &mut acks);
        }
        if !acks.is_empty() {
            let acks = Delivered::new(std::mem::take(&mut acks), inner.acks.clone());
            if batch.is_empty() {
                acks.acknowledge(); // nothing of theirs goes to the bindings
            } else {
                batch.push(Inbound::Delivered(acks));
            }
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
    pub(super) fn apply(
        self: &Arc<Self>,
        control: Control,
        out: &mut Vec<Inbound>,
        acks: &mut Vec<Ack>,
    ) {
        match control {
            Control::Barrier(b) => out.push(Inbound::Barrier(b)),
            Control::Opened {
                session_id,
                taken,
                contested,
            } => {
                let wait = contested && self.local.lock().contains(&session_id);
                match self.handover.taken(&session_id, taken, wait) {
                    Ok(true) => {
                        let inner = self.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(HANDBACK_WAIT).await;
                            let _ = inner.control.send(Control::Settle { session_id });
                        });
                    }
                    Ok(false) => self.settle(&session_id, out, acks),
                    // Not opening any more (the manager closed meanwhile, or a create of the
                    // same session in the same batch settled it).
                    Err(taken) => {
                        let messages: Vec<String> = taken.into_iter().map(|m| m.text).collect();
                        if self.local.lock().contains(&session_id) {
                            out.extend(messages.into_iter().map(|payload| Inbound::Message {
                                session_id: session_id.clone(),
                                payload,
                            }));
                        } else {
                            self.keep_for_next(session_id, messages);
                        }
                    }
                }
            }
            Control::HandedBack { session_id, taken } => {
                match self.handover.handed_back(&session_id, taken) {
                    Ok(true) => self.settle(&session_id, out, acks),
                    Ok(false) => {} // the first take's result settles it
                    Err(taken) if self.local.lock().contains(&session_id) => {
                        let late = self.handover.late(&session_id, taken);
                        if !late.is_empty() {
                            tracing::debug!(messages = late.len(), prefix = %self.prefix, "delivering a hand-back that came after the stream opened");
                        }
                        out.extend(late.into_iter().map(|payload| Inbound::Message {
                            session_id: session_id.clone(),
                            payload,
                        }));
                    }
                    Err(taken) => {
                        let messages = taken.into_iter().map(|m| m.text).collect();
                        self.keep_for_next(session_id, messages);
                    }
                }
            }
            Control::Settle { session_id } => {
                if self.handover.is_opening(&session_id) {
                    self.settle(&session_id, out, acks);
                }
            }
        }
    }

    /// Ends the opening of `session_id`: delivers what it collected, in order, and
    /// acknowledges the journaled ones it held (delivered here, or kept for the next stream).
    fn settle(self: &Arc<Self>, session_id: &str, out: &mut Vec<Inbound>, acks: &mut Vec<Ack>) {
        let Some(mut opened) = self.handover.opened(session_id) else {
            return;
        };
        acks.extend(
            std::mem::take(&mut opened.journaled)
                .into_iter()
                .map(|id| (session_id.to_owned(), id)),
        );
        // Carried over from letting go of the previous stream here (the oldest), then what was
        // kept in Redis, then what arrived while opening.
        let (messages, seen) = opened.sequence();
        if self.local.lock().contains(session_id) {
            self.handover.remember(session_id, seen);
            out.extend(messages.into_iter().map(|payload| Inbound::Message {
                session_id: session_id.to_owned(),
                payload,
            }));
            return;
        }
        // The create failed (or the session went meanwhile): keep them for the next.
        self.keep_for_next(session_id.to_owned(), messages);
    }

    /// Puts `messages` back in Redis for the next stream of `session_id`.
    fn keep_for_next(self: &Arc<Self>, session_id: String, messages: Vec<String>) {
        if messages.is_empty() {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            match inner
                .conn
                .requeue(
                    &inner.pending_keys,
                    &session_id,
                    &messages,
                    inner.pending,
                    inner.hand_over(false),
                )
                .await
            {
                Ok(kept) => inner.counters.add(kept),
                Err(e) => {
                    tracing::warn!(error = %e, "keeping the messages of a failed create failed")
                }
            }
        });
    }

    /// A hand-over marker on the channel of `sid`.
    fn marker(self: &Arc<Self>, sid: &str, marker: Marker<'_>, out: &mut Vec<Inbound>) {
        match marker {
            Marker::Opened(id) if id == self.server_id => self.handover.own_marker(sid),
            // A stream of the session opened on another instance after ours (an opening one
            // here is the newer, or the other's stream is, and the other lets go when it sees
            // our marker): everything from here on reaches it, ours is let go of.
            Marker::Opened(_) => {
                if self.handover.is_opening(sid) || self.handover.superseded(sid) {
                    return;
                }
                if self.local.lock().contains(sid) {
                    tracing::debug!(prefix = %self.prefix, "another instance opened a stream of a local session; letting ours go");
                    let released = self.let_go(sid, Vec::new());
                    self.handover.superseded(sid);
                    out.push(Inbound::Superseded {
                        session_id: sid.to_owned(),
                    });
                    tokio::spawn(async move {
                        if let Err(e) = released.await {
                            tracing::debug!(error = %e, "letting go of a superseded stream in Redis failed; its keys expire by themselves");
                        }
                    });
                }
            }
            Marker::HandedBack(id) if id == self.server_id => {}
            Marker::HandedBack(_) => {
                if !self.local.lock().contains(sid) {
                    return;
                }
                let inner = self.clone();
                let sid = sid.to_owned();
                tokio::spawn(async move {
                    let ids = [sid];
                    match inner
                        .conn
                        .take_pending(&inner.pending_keys, &ids, inner.pending, None)
                        .await
                    {
                        Ok(found) => {
                            let [sid] = ids;
                            for t in &found {
                                inner.took(t);
                            }
                            let taken: Vec<TakenMessage> =
                                found.into_iter().flat_map(|t| t.messages).collect();
                            let _ = inner.control.send(Control::HandedBack {
                                session_id: sid,
                                taken,
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "taking handed-back messages failed; they stay for the next stream")
                        }
                    }
                });
            }
        }
    }

    /// Turns one pub/sub event into an inbound item (or nothing).
    pub(super) fn classify(
        self: &Arc<Self>,
        event: PubSubEvent,
        out: &mut Vec<Inbound>,
        deleted: &mut Vec<String>,
        acks: &mut Vec<Ack>,
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
            // A journaled message: acknowledged once handled (one held while the stream
            // opens, once delivered).
            let mut payload = payload;
            let journal_id = markers::journaled(&payload)
                .map(|(id, message)| (id.to_owned(), payload.len() - message.len()));
            let journal_id = journal_id.map(|(id, tag_len)| {
                payload.drain(..tag_len);
                id
            });
            let ack = |acks: &mut Vec<Ack>, id: Option<String>| {
                if let Some(id) = id {
                    acks.push((sid.to_owned(), id));
                }
            };
            if journal_id.is_none() {
                if let Some(marker) = markers::parse(&payload) {
                    // Never a message: a marker of a kind this version does not know is
                    // dropped.
                    if let (Ok(marker), true) = (marker, self.pending.enabled()) {
                        self.marker(sid, marker, out);
                    }
                    return;
                }
            }
            let payload = match String::from_utf8(payload) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            let local = |payload: String, out: &mut Vec<Inbound>| {
                if self.local.lock().contains(sid) {
                    out.push(Inbound::Message {
                        session_id: sid.to_string(),
                        payload,
                    });
                }
            };
            if !self.pending.enabled() {
                local(payload, out);
                ack(acks, journal_id);
                return;
            }
            // Held while the session is being opened or let go of here, else delivered if it
            // is local.
            match self.handover.hold(sid, payload, journal_id.as_deref()) {
                Hold::Deliver(payload) => {
                    local(payload, out);
                    ack(acks, journal_id);
                }
                Hold::Releasing => ack(acks, journal_id),
                Hold::Opening => {} // acknowledged with the opening
            }
        }
    }
}
