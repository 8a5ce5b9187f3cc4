//! Ending streams: `delete` (a session's stream, wherever it is) and `close` (every stream of
//! this instance, and its background tasks).

use std::sync::atomic::Ordering;

use tokio::task::JoinHandle;

use super::{Inner, RedisStreamManager, BATCH};
use crate::redis::{RedisError, RedisErrorKind, Result, Write};

impl RedisStreamManager {
    /// Deletes the stream of `session_id` everywhere: forgets it locally, unsubscribes both
    /// its channels (confirmed before going on), then in one batch publishes on its delete
    /// channel (so the instance holding it closes it), removes its availability key and its
    /// active-set entry. Works for sessions held by other instances too.
    pub async fn delete(&self, session_id: &str) -> Result<()> {
        let inner = &self.inner;
        let channel = inner.channel(session_id);
        let delete_channel = inner.delete_channel(session_id);
        let unsubscribed = {
            let _guard = inner.subscriptions.lock().await;
            inner.local.lock().remove(session_id);
            inner.recovery.forget(session_id);
            inner
                .subscriber
                .unsubscribe(&[channel, delete_channel.clone()])
                .await
        };
        // A pub/sub client that cannot unsubscribe fails the delete before anything else
        // (as mcp-use's); a failed unsubscribe on a connection still cleans up Redis.
        if let Err(e) = &unsubscribed {
            if e.kind() == RedisErrorKind::Unsupported {
                return unsubscribed;
            }
        }
        inner.handover.forget(session_id);
        let available = inner.available_key(session_id);
        let active = inner.active_key();
        let mut gone = vec![available.clone()];
        if inner.pending.enabled() {
            // The session ended: nothing kept for it is wanted any more.
            gone.push(format!("{}{session_id}", inner.pending_keys.list_prefix));
            gone.push(format!("{}{session_id}", inner.pending_keys.bytes_prefix));
            gone.push(format!(
                "{}{session_id}",
                inner.pending_keys.handover_prefix
            ));
            gone.push(format!("{}{session_id}", inner.pending_keys.awaited_prefix));
            gone.push(format!("{}{session_id}", inner.pending_keys.opening_prefix));
            gone.push(format!("{}{session_id}", inner.pending_keys.journal_prefix));
        }
        let mut writes = vec![
            Write::Publish {
                channel: delete_channel.clone(),
                message: inner.server_id.clone(),
            },
            Write::Del(gone),
            Write::SRem {
                key: active.clone(),
                members: vec![session_id.to_owned()],
            },
        ];
        if let Some(l) = &inner.liveness {
            writes.push(Write::SRem {
                key: l.instance_set(&inner.server_id),
                members: vec![session_id.to_owned()],
            });
        }
        let cleaned = inner
            .conn
            .write(writes, &|| {
                format!("PUBLISH {delete_channel} / DEL {available} / SREM {active}")
            })
            .await;
        unsubscribed.and(cleaned)
    }

    /// Shuts down: stops the heartbeat, unsubscribes everything, removes the availability
    /// keys and active-set entries of the sessions this instance holds (and only those, and
    /// of those only the ones no other instance is subscribed to: a client may have reopened
    /// its stream elsewhere while ours lingered) and stops the background tasks. Later calls
    /// of `create` fail; `close` again is a no-op.
    ///
    /// With store-and-forward, the local sessions are let go of from the call on: what still
    /// arrives for them (and what the bindings could not deliver) is kept for their next
    /// streams, on any instance, once the channels are unsubscribed.
    pub fn close(&self) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let inner = self.inner.clone();
        let first = !inner.closed.swap(true, Ordering::AcqRel);
        let tasks: Vec<JoinHandle<()>> = if first {
            self.tasks.lock().drain(..).collect()
        } else {
            Vec::new()
        };
        if first && inner.pending.enabled() {
            for sid in inner.local.lock().iter() {
                inner.handover.releasing(sid, Vec::new());
            }
        }
        async move {
            if !first {
                return Ok(());
            }
            let result = inner.shut_down().await;
            for task in tasks {
                task.abort();
            }
            result
        }
    }
}

impl Inner {
    /// The body of [`RedisStreamManager::close`], before the background tasks stop.
    async fn shut_down(&self) -> Result<()> {
        let inner = self;
        let guard = inner.subscriptions.lock().await;
        let ids: Vec<String> = inner.local.lock().drain().collect();
        inner.recovery.clear();

        let mut first_error: Option<RedisError> = None;
        let mut channels: Vec<String> = Vec::with_capacity(ids.len() * 2 + 1);
        for id in &ids {
            channels.push(inner.channel(id));
            channels.push(inner.delete_channel(id));
        }
        if inner.server_channel_subscribed.load(Ordering::Acquire) {
            channels.push(inner.server_channel(&inner.server_id));
        }
        for chunk in channels.chunks(BATCH) {
            match inner.subscriber.unsubscribe(chunk).await {
                Ok(()) => {}
                // A driven pub/sub client without unsubscribe: nothing to undo (mcp-use's
                // close does not unsubscribe either).
                Err(e) if e.kind() == RedisErrorKind::Unsupported => break,
                Err(e) => {
                    first_error.get_or_insert(e);
                    break;
                }
            }
        }
        drop(guard);
        if inner.pending.enabled() {
            // What arrived until the unsubscribe, and what the bindings could not deliver,
            // goes back for the sessions' next streams; what they handled is acknowledged
            // first, so no stream of those sessions finds it in their journals.
            inner.barrier().await;
            inner.flush_acks().await;
            for id in &ids {
                let messages = inner.handover.released(id);
                if messages.is_empty() {
                    continue;
                }
                match inner
                    .conn
                    .requeue(
                        &inner.pending_keys,
                        id,
                        &messages,
                        inner.pending,
                        inner.hand_over(false),
                    )
                    .await
                {
                    Ok(kept) => inner.counters.add(kept),
                    Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        inner.handover.clear();
        // Unsubscribed first, so the script sees whether another instance still holds a
        // session (a client that reconnected elsewhere while our stream lingered): its keys
        // are that instance's and stay.
        if !ids.is_empty() {
            if let Err(e) = inner.remove_unheld(&ids).await {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = inner.leave_registry().await {
            first_error.get_or_insert(e);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
