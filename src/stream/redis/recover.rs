//! What comes up by itself whenever Redis does. Subscriptions that survive a reconnect are
//! the subscriber's business (`Subscriber` replays them); this is what a manager must retry
//! on its own, with backoff, until it succeeds:
//!
//! * the subscription to this instance's server channel, which response forwarding needs
//!   (`onForwardedResponse`): an app that starts before Redis would otherwise never receive
//!   the responses other instances forward to it;
//! * opening the streams whose `create` (or re-open after a reconnect) could not reach
//!   Redis: they stay local, their kept messages held, and are opened as soon as Redis
//!   answers, so a stream created during an outage still receives what other instances send.
//!
//! The manager's [`Outage`] reports what failed (one line, then one per period) and, once
//! the subscriber and the heartbeat work again, one line saying how long Redis was away and
//! what was restored.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Inner;
use crate::diagnostics::Outage;
use crate::redis::{RedisErrorKind, Result};

/// First and longest wait between two rounds of retries.
const FIRST: Duration = Duration::from_millis(100);
const LONGEST: Duration = Duration::from_secs(5);
/// What the failure lines say happens next.
pub(super) const RETRYING: &str = "retrying until Redis answers";

/// The recovery state of one manager.
pub(super) struct Recovery {
    /// Sessions kept local after their open could not reach Redis.
    unopened: Mutex<HashSet<String>>,
    /// `onForwardedResponse` was called: the server channel must be subscribed.
    server_channel_wanted: AtomicBool,
    /// The subscriber cannot subscribe at all (a driven client without `subscribe`): said
    /// once, never retried.
    server_channel_unsupported: AtomicBool,
    /// One subscribe of the server channel at a time.
    server_channel: tokio::sync::Mutex<()>,
    wake: Notify,
    pub(super) outage: Outage,
}

impl Recovery {
    pub(super) fn new(heartbeat: Duration) -> Self {
        Recovery {
            unopened: Mutex::default(),
            server_channel_wanted: AtomicBool::new(false),
            server_channel_unsupported: AtomicBool::new(false),
            server_channel: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            // A line per heartbeat interval at most, and at most one per 5 s.
            outage: Outage::new("RedisStreamManager", heartbeat.max(Duration::from_secs(5))),
        }
    }

    /// `ids` could not be opened: they are opened again once Redis answers.
    pub(super) fn unopened(&self, ids: impl IntoIterator<Item = String>) {
        self.unopened.lock().extend(ids);
        self.wake.notify_one();
    }

    /// `id` is open, or gone: nothing to retry for it.
    pub(super) fn forget(&self, id: &str) {
        self.unopened.lock().remove(id);
    }

    pub(super) fn clear(&self) {
        self.unopened.lock().clear();
    }

    /// Something may have become possible (the subscriber reconnected): retry now.
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }

    fn has_work(&self, inner: &Inner) -> bool {
        !self.unopened.lock().is_empty()
            || (self.server_channel_wanted.load(Ordering::Acquire)
                && !inner.server_channel_subscribed.load(Ordering::Acquire))
    }
}

/// Retries what [`Recovery`] holds, with backoff, until it is done; then waits for more.
pub(super) async fn recover_loop(inner: Arc<Inner>) {
    let mut backoff = FIRST;
    loop {
        if !inner.recovery.has_work(&inner) {
            inner.recovery.wake.notified().await;
            backoff = FIRST;
            continue;
        }
        if inner.recover_once().await {
            backoff = FIRST;
            continue;
        }
        // Woken early by a reconnect, or after the backoff.
        let _ = tokio::time::timeout(backoff, inner.recovery.wake.notified()).await;
        backoff = (backoff * 2).min(LONGEST);
    }
}

impl Inner {
    /// One round: the server channel, then the unopened streams. Whether all is done.
    async fn recover_once(self: &Arc<Self>) -> bool {
        let recovery = &self.recovery;
        let mut done = true;
        if recovery.server_channel_wanted.load(Ordering::Acquire)
            && !self.server_channel_subscribed.load(Ordering::Acquire)
        {
            match self.subscribe_server_channel().await {
                Ok(()) => recovery.outage.restored("server channel", 1),
                Err(e) if e.kind() == RedisErrorKind::Unsupported => {}
                Err(e) => {
                    recovery
                        .outage
                        .failed("subscribing to this server's channel", &e, RETRYING);
                    done = false;
                }
            }
        }
        let ids: Vec<String> = recovery.unopened.lock().iter().cloned().collect();
        if !ids.is_empty() {
            // One batch (the creates queue behind each other), each session only if it is
            // still local: a delete or a failed stream meanwhile leaves it gone.
            let reopened =
                futures_util::future::join_all(ids.iter().map(|sid| self.reopen_batched(sid)))
                    .await;
            let opened = reopened.iter().filter(|r| r.is_ok()).count() as u64;
            if opened > 0 {
                recovery.outage.restored("streams opened", opened);
            }
            if let Some(Err(e)) = reopened.into_iter().find(Result::is_err) {
                recovery.outage.failed("opening streams", &e, RETRYING);
                done = false;
            }
        }
        done
    }

    /// Subscribes to this instance's server channel, once.
    pub(super) async fn subscribe_server_channel(&self) -> Result<()> {
        let _one = self.recovery.server_channel.lock().await;
        if self.server_channel_subscribed.load(Ordering::Acquire) {
            return Ok(());
        }
        // Set before SUBSCRIBE: a response forwarded the moment it is confirmed is taken.
        self.server_channel_subscribed
            .store(true, Ordering::Release);
        let channel = self.server_channel(&self.server_id);
        let result = self.subscriber.subscribe(&[channel]).await;
        if let Err(e) = &result {
            self.server_channel_subscribed
                .store(false, Ordering::Release);
            if e.kind() == RedisErrorKind::Unsupported {
                // A driven client without `subscribe`: it never will.
                self.recovery
                    .server_channel_wanted
                    .store(false, Ordering::Release);
                self.recovery
                    .server_channel_unsupported
                    .store(true, Ordering::Release);
            }
        }
        result
    }

    /// Forwarded responses are wanted from now on: subscribes to the server channel now, and
    /// keeps retrying in the background if that fails.
    pub(super) async fn want_forwarded_responses(&self) -> Result<()> {
        if self
            .recovery
            .server_channel_unsupported
            .load(Ordering::Acquire)
        {
            // Already failed for good and said so: nothing more to try or to say.
            return Ok(());
        }
        self.recovery
            .server_channel_wanted
            .store(true, Ordering::Release);
        let result = self.subscribe_server_channel().await;
        if let Err(e) = &result {
            if e.kind() != RedisErrorKind::Unsupported {
                self.recovery
                    .outage
                    .failed("subscribing to this server's channel", e, RETRYING);
                self.recovery.wake();
            }
        }
        result
    }
}
