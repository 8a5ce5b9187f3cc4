//! Opening streams: `create` batches, the SUBSCRIBE and key writes, and the hand-over of the
//! messages kept for a session (store-and-forward) to its new stream.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::dispatch::Control;
use super::Inner;
use crate::pending::PendingStats;
use crate::redis::{RedisError, RedisErrorKind, Result, Taken};

/// Whether `e` says Redis could not be reached (rather than refused the command): what is
/// retried until it answers.
pub(super) fn unreachable(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        RedisErrorKind::Connection | RedisErrorKind::Timeout
    )
}

impl Inner {
    /// After the SUBSCRIBE of a create: takes the sessions' pending messages (when `take`) and
    /// has the dispatcher deliver them ahead of what was held meanwhile. A take that cannot
    /// reach Redis keeps holding what arrives and is retried with the open (`recover.rs`), so
    /// nothing overtakes the kept messages; another failure leaves them in Redis for the next
    /// stream.
    ///
    /// The take of a new stream (`fresh`) announces it (see [`super::markers`]); one that
    /// opens a local session again (after a reconnect) does not: it is the same stream, and
    /// must not make another instance let go of a newer one.
    pub(super) async fn take_pending(&self, ids: &[&String], take: bool, fresh: &[bool]) {
        let owned: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
        let mut taken = vec![Taken::default(); owned.len()];
        let mut unopened = vec![false; owned.len()];
        if take {
            let (new, again): (Vec<usize>, Vec<usize>) =
                (0..owned.len()).partition(|i| fresh.get(*i).copied().unwrap_or(false));
            for (at, announce) in [(new, Some(self.announce())), (again, None)] {
                if at.is_empty() {
                    continue;
                }
                let group: Vec<String> = at.iter().map(|i| owned[*i].clone()).collect();
                match self
                    .conn
                    .take_pending(&self.pending_keys, &group, self.pending, announce)
                    .await
                {
                    Ok(found) => {
                        for (i, found) in at.into_iter().zip(found) {
                            self.took(&found);
                            taken[i] = found;
                        }
                    }
                    Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
                    Err(e) if unreachable(&e) => {
                        self.recovery.outage.failed(
                            "taking kept messages",
                            &e,
                            super::recover::RETRYING,
                        );
                        self.recovery.unopened(group);
                        for i in at {
                            unopened[i] = true;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "taking kept messages failed; they stay for the next stream")
                    }
                }
            }
        }
        for ((session_id, taken), unopened) in owned.into_iter().zip(taken).zip(unopened) {
            if unopened {
                continue; // still held, and retried with the open
            }
            let _ = self.control.send(Control::Opened {
                session_id,
                taken: taken.messages,
                contested: taken.contested,
            });
        }
    }

    /// Before the SUBSCRIBE of new streams: records that they are opening here, so another
    /// instance that puts messages of theirs back before their take (it sees them listening)
    /// keeps those as hand-backs rather than dropping them as received. Best effort: an
    /// unreachable Redis fails the SUBSCRIBE next.
    async fn mark_opening(&self, ids: &[&String], fresh: &[bool]) {
        if !self.pending.enabled() {
            return;
        }
        let new: Vec<String> = ids
            .iter()
            .zip(fresh)
            .filter(|(_, fresh)| **fresh)
            .map(|(id, _)| (*id).clone())
            .collect();
        if new.is_empty() {
            return;
        }
        match self
            .conn
            .mark_opening(&self.pending_keys, &new, &self.server_id)
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
            Err(e) => tracing::debug!(error = %e, "recording the opening of streams failed"),
        }
    }

    /// Counts what a take found.
    pub(super) fn took(&self, found: &Taken) {
        let (replayed, expired) = (found.messages.len(), found.expired);
        self.counters.add(PendingStats {
            replayed: replayed as u64,
            expired,
            ..PendingStats::default()
        });
        if replayed > 0 {
            tracing::debug!(replayed, expired, prefix = %self.prefix, "delivering kept messages to a new stream");
        }
        if found.contested {
            tracing::debug!(prefix = %self.prefix, "another instance listens to a session opening here; waiting for what it hands back");
        }
    }

    /// Registers `session_id` as local: SUBSCRIBE to its two channels, then one pipeline
    /// that sets its availability key and adds it to the active set.
    ///
    /// Creates that arrive while another batch is in flight queue up; the first of them
    /// (the leader) runs both steps for the whole queue once the previous batch is done. A
    /// burst of 2,000 concurrent creates therefore costs a few round trips, not 2,000
    /// sequential SUBSCRIBEs. If a step fails, every create of the batch gets the error; when
    /// Redis could not be reached the sessions stay local (their messages held) and are
    /// opened as soon as it answers (`recover.rs`), otherwise the sessions the batch added are
    /// rolled back.
    pub(super) async fn create_batched(self: &Arc<Self>, session_id: &str) -> Result<()> {
        self.enqueue_create(session_id, false).await
    }

    /// Opens `session_id` again if it is still local when its batch runs (after a reconnect,
    /// or when this instance found itself missing from the registry); a session let go of or
    /// deleted meanwhile stays gone.
    pub(super) async fn reopen_batched(self: &Arc<Self>, session_id: &str) -> Result<()> {
        self.enqueue_create(session_id, true).await
    }

    async fn enqueue_create(self: &Arc<Self>, session_id: &str, reopen: bool) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let leader = {
            let mut queue = self.pending_creates.lock();
            queue.push((session_id.to_owned(), reopen, tx));
            queue.len() == 1
        };
        if leader {
            // The batch runs in its own task: a caller that stops waiting cannot strand it.
            let inner = self.clone();
            tokio::spawn(async move { inner.run_create_batch().await });
        }
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(RedisError::new(
                RedisErrorKind::Closed,
                format!("create {}", self.channel(session_id)),
                "the creating task was cancelled",
            )),
        }
    }

    pub(super) async fn run_create_batch(&self) {
        let _guard = self.subscriptions.lock().await;
        let batch = std::mem::take(&mut *self.pending_creates.lock());
        // Decided under the lock that releases and deletes take too.
        let (gone, batch): (Vec<_>, Vec<_>) = {
            let local = self.local.lock();
            batch
                .into_iter()
                .partition(|(sid, reopen, _)| *reopen && !local.contains(sid))
        };
        for (_, _, waiter) in gone {
            let _ = waiter.send(Ok(()));
        }
        if batch.is_empty() {
            return;
        }
        let ids: Vec<&String> = batch.iter().map(|(sid, _, _)| sid).collect();
        let fresh: Vec<bool> = batch.iter().map(|(_, reopen, _)| !reopen).collect();
        let result = self.create_all(&ids, &fresh).await;
        for (_, _, waiter) in batch {
            let _ = waiter.send(result.clone());
        }
    }

    /// Both steps of [`Inner::create_batched`] for `ids` (`fresh`: which are new streams, not
    /// local sessions opened again); call with `subscriptions` held.
    pub(super) async fn create_all(&self, ids: &[&String], fresh: &[bool]) -> Result<()> {
        let mut channels = Vec::with_capacity(ids.len() * 2);
        let mut added = Vec::new();
        {
            let mut local = self.local.lock();
            for sid in ids {
                if self.pending.enabled() {
                    self.handover.opening(sid); // before SUBSCRIBE: nothing overtakes the kept ones
                }
                if local.insert((*sid).clone()) {
                    added.push((*sid).clone());
                }
                channels.push(self.channel(sid));
                channels.push(self.delete_channel(sid));
            }
        }
        let active = self.active_key();
        let result = async {
            self.mark_opening(ids, fresh).await;
            self.subscriber.subscribe(&channels).await?;
            let owned: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
            let writes = self.held_writes(&owned);
            let n = ids.len();
            self.conn
                .write(writes, &|| {
                    format!(
                        "SET EX of {n} keys available:{}* / SADD {active}",
                        self.prefix
                    )
                })
                .await
        }
        .await;
        if let Err(e) = &result {
            if unreachable(e) {
                self.recovery
                    .outage
                    .failed("opening streams", e, super::recover::RETRYING);
                self.recovery.unopened(ids.iter().map(|s| (*s).clone()));
                return result;
            }
        }
        if result.is_ok() {
            // Open now; a take that cannot reach Redis marks them unopened again below.
            for sid in ids {
                self.recovery.forget(sid);
            }
        }
        if self.pending.enabled() {
            self.take_pending(ids, result.is_ok(), fresh).await;
        }
        if result.is_ok() {
            self.schedule_refresh(&added);
        }
        if result.is_err() && !added.is_empty() {
            {
                let mut local = self.local.lock();
                for sid in &added {
                    local.remove(sid);
                }
            }
            let channels: Vec<String> = added
                .iter()
                .flat_map(|sid| [self.channel(sid), self.delete_channel(sid)])
                .collect();
            let _ = self.subscriber.unsubscribe(&channels).await;
        }
        result
    }
}
