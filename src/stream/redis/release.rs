//! Letting go of a local stream whose controller failed, without touching what another
//! instance holds for the same session; and removing keys only no instance holds any more.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::dispatch::Control;
use super::{Inner, RedisStreamManager, BATCH};
use crate::pending::PendingStats;
use crate::redis::{BoxFuture, RedisErrorKind, Result, Write};
use crate::stream::handover::Barrier;

/// How long letting go of a stream waits for the bindings to process what they were handed.
const BARRIER_WAIT: Duration = Duration::from_secs(5);
/// First and longest wait between attempts to unsubscribe a failed stream.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);

impl RedisStreamManager {
    /// Lets go of this instance's stream of `session_id` after its controller failed (its
    /// client went away without a `delete`, or it stopped reading), touching nothing another
    /// instance holds for the same session: no delete message is published. The session stops
    /// being local at once (its messages are no longer handed to the sink); the returned
    /// future unsubscribes its channels (unless a `create` made it local again meanwhile) and
    /// then removes its availability key and active-set entry only if no other instance is
    /// subscribed to it (one script). Without scripts (a driven client) those keys are left
    /// to expire after `2 * heartbeat`, since another instance may be refreshing them.
    ///
    /// With store-and-forward, `undelivered` (the message the stream failed to take and any
    /// after it, in order), the messages the bindings report with
    /// [`RedisStreamManager::undeliverable`] and those still arriving here until the
    /// unsubscribe are put back at the head of the session's pending list, for the next
    /// stream the session opens.
    pub fn release(
        &self,
        session_id: &str,
        undelivered: Vec<String>,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        self.inner.let_go(session_id, undelivered)
    }

    /// A message the bindings could not deliver because the stream of `session_id` is gone
    /// (after [`RedisStreamManager::release`]). Returns whether it was kept for the next
    /// stream.
    pub fn undeliverable(&self, session_id: &str, payload: String) -> bool {
        self.inner.pending.enabled() && self.inner.handover.undeliverable(session_id, payload)
    }
}

impl Inner {
    /// [`RedisStreamManager::release`]. A session already being let go of (its stream was
    /// superseded, or failed twice) only adds `undelivered` to what is collected.
    pub(super) fn let_go(
        self: &Arc<Self>,
        session_id: &str,
        undelivered: Vec<String>,
    ) -> BoxFuture<'static, Result<()>> {
        let inner = self.clone();
        let was_local = inner.local.lock().remove(session_id);
        if !was_local && inner.handover.is_releasing(session_id) {
            inner.handover.releasing(session_id, undelivered);
            return Box::pin(async { Ok(()) });
        }
        inner.streams.stream_dropped();
        if inner.pending.enabled() {
            inner.handover.releasing(session_id, undelivered);
        }
        inner.recovery.forget(session_id);
        let sid = session_id.to_owned();
        Box::pin(async move {
            // Before the UNSUBSCRIBE: a stream of the session opening on another instance
            // from then on waits for what this one hands back.
            let marked = inner.pending.enabled()
                && match inner
                    .conn
                    .mark_releasing(&inner.pending_keys, &sid, &inner.server_id)
                    .await
                {
                    Ok(()) => true,
                    Err(e) => {
                        if e.kind() != RedisErrorKind::Unsupported {
                            tracing::debug!(error = %e, "recording a hand-over failed");
                        }
                        false
                    }
                };
            // Unsubscribe, retrying while the subscriber cannot (what is collected meanwhile
            // is bounded); a create that makes the session local again takes it all over.
            let mut backoff = RETRY_FIRST;
            loop {
                {
                    let _guard = inner.subscriptions.lock().await;
                    if inner.local.lock().contains(&sid) {
                        drop(_guard);
                        // Re-created here: its stream carried the messages over; only the
                        // hand-over record is to be ended.
                        return inner.put_back(&sid, marked).await;
                    }
                    let channels = [inner.channel(&sid), inner.delete_channel(&sid)];
                    match inner.subscriber.unsubscribe(&channels).await {
                        Ok(()) => break,
                        // A driven pub/sub client that cannot unsubscribe: nothing to undo.
                        Err(e) if e.kind() == RedisErrorKind::Unsupported => break,
                        Err(e) if inner.closed.load(Ordering::Acquire) => {
                            inner.handover.released(&sid);
                            return Err(e);
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "unsubscribing a failed stream failed; retrying")
                        }
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
            // Every step runs; the first error is reported.
            let mut first_error = None;
            if inner.pending.enabled() {
                if let Err(e) = inner.put_back(&sid, marked).await {
                    first_error.get_or_insert(e);
                }
            }
            if let Some(l) = &inner.liveness {
                let set = l.instance_set(&inner.server_id);
                let srem = vec![Write::SRem {
                    key: set.clone(),
                    members: vec![sid.clone()],
                }];
                if let Err(e) = inner.conn.write(srem, &|| format!("SREM {set}")).await {
                    first_error.get_or_insert(e);
                }
            }
            match inner.release_unheld(std::slice::from_ref(&sid)).await {
                Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
                Ok(_) => {}
            }
            first_error.map_or(Ok(()), Err)
        })
    }

    /// Returns once the bindings have processed everything handed to them so far (or after
    /// [`BARRIER_WAIT`], if they cannot).
    pub(super) async fn barrier(&self) {
        let (barrier, processed) = Barrier::new();
        if self.control.send(Control::Barrier(barrier)).is_ok()
            && tokio::time::timeout(BARRIER_WAIT, processed).await.is_err()
        {
            tracing::debug!(prefix = %self.prefix, "the bindings did not process a barrier in time");
        }
    }

    /// [`Commands::release_unheld`] for `ids`, in batches. Returns how many were removed.
    pub(super) async fn release_unheld(&self, ids: &[String]) -> Result<u64> {
        let (active, available) = (self.active_key(), format!("available:{}", self.prefix));
        let mut removed = 0;
        for chunk in ids.chunks(BATCH) {
            removed += self
                .conn
                .release_unheld(&active, &available, &self.prefix, chunk)
                .await?;
        }
        Ok(removed)
    }

    /// Removes the availability keys and active-set entries of `ids` (sessions this instance
    /// no longer holds nor listens to) where no other instance holds them; a backend without
    /// scripts cannot tell, and removes them all, as mcp-use's `close` does.
    pub(super) async fn remove_unheld(&self, ids: &[String]) -> Result<()> {
        match self.release_unheld(ids).await {
            Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
            other => return other.map(|_| ()),
        }
        let active = self.active_key();
        let mut writes = Vec::new();
        for chunk in ids.chunks(BATCH) {
            writes.push(Write::Del(
                chunk.iter().map(|id| self.available_key(id)).collect(),
            ));
            writes.push(Write::SRem {
                key: active.clone(),
                members: chunk.to_vec(),
            });
        }
        let n = ids.len();
        self.conn
            .write(writes, &|| format!("DEL/SREM of {n} sessions in {active}"))
            .await
    }

    /// Puts what was collected while letting go of `sid` back at the head of its pending
    /// list, once the bindings have processed everything handed to them before. Under the
    /// subscriptions lock, so a `create` of the session on this instance either took the
    /// messages over already or finds them kept.
    /// Also ends this instance's hand-over record of `sid` (`marked`: it wrote one), telling
    /// a stream that opened meanwhile on another instance to take what was put back. With
    /// nothing to put back and no record, Redis is not asked.
    pub(super) async fn put_back(&self, sid: &str, marked: bool) -> Result<()> {
        if !self.pending.enabled() {
            return Ok(());
        }
        // Re-created here already: the new stream took everything over, nothing is left for
        // the bindings to report.
        if !self.local.lock().contains(sid) {
            self.barrier().await;
        }
        // What the bindings handled before is acknowledged first: a take of the session on
        // another instance once the hand-over record is gone must not find it in the journal.
        self.flush_acks().await;
        let _guard = self.subscriptions.lock().await;
        // Re-created here: the new stream carried the messages over.
        let superseded = self.handover.is_superseded(sid);
        let messages = if self.local.lock().contains(sid) {
            Vec::new()
        } else {
            self.handover.released(sid)
        };
        let over = self.handover.take_dropped();
        if over > 0 {
            self.counters.add(PendingStats {
                dropped: over,
                ..PendingStats::default()
            });
        }
        let n = messages.len();
        if n == 0 && !marked {
            return Ok(());
        }
        match self
            .conn
            .requeue(
                &self.pending_keys,
                sid,
                &messages,
                self.pending,
                self.hand_over(superseded),
            )
            .await
        {
            Ok(kept) => {
                if n > 0 {
                    tracing::debug!(requeued = n, dropped = kept.dropped, prefix = %self.prefix, "kept the messages a failed stream did not take");
                }
                self.counters.add(kept);
                Ok(())
            }
            Err(e) if e.kind() == RedisErrorKind::Unsupported => Ok(()),
            Err(e) => Err(e),
        }
    }
}
