//! Acknowledging journaled messages (see `crate::redis::Commands::publish_or_keep`): once the
//! bindings have handled a batch, the journal ids of its messages go back to Redis, so a
//! message stays in its session's journal only while no live instance has taken it.
//!
//! A message is acknowledged once the bindings enqueued it to its stream, or found the stream
//! gone (it is then in this instance's hands, collected for its put-back, as one collected
//! while letting go is on arrival), not when Redis delivered it: an instance killed while its
//! JS thread had not got to the message yet leaves it in the journal, and the session's next
//! stream gets it. One killed between the enqueue and the acknowledgement (well under a
//! millisecond) leaves one that its client may have received: that one comes twice.

use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

use super::Inner;
use crate::redis::RedisErrorKind;

/// Most acknowledgements sent in one round trip.
const MAX_ACKS: usize = 4096;

/// A session id and a journal id.
pub(super) type Ack = (String, String);

/// What the acknowledging task is asked.
pub(super) enum AckWork {
    Acks(Vec<Ack>),
    /// Answered once everything asked before has been sent (or failed).
    Flush(oneshot::Sender<()>),
}

/// Handed to the sink after a batch: [`Delivered::acknowledge`] once the bindings handled
/// everything before it. Dropped without that (the batch was never handled: the bindings are
/// gone), it acknowledges nothing. A clone carries nothing; all compare equal.
#[derive(Default)]
pub struct Delivered {
    acks: Vec<Ack>,
    to: Option<UnboundedSender<AckWork>>,
}

impl Delivered {
    pub(super) fn new(acks: Vec<Ack>, to: UnboundedSender<AckWork>) -> Self {
        Delivered { acks, to: Some(to) }
    }

    /// Everything handed to the sink before this was handled: acknowledge its messages.
    pub fn acknowledge(mut self) {
        if let Some(to) = self.to.take() {
            let _ = to.send(AckWork::Acks(std::mem::take(&mut self.acks)));
        }
    }
}

impl Clone for Delivered {
    fn clone(&self) -> Self {
        Delivered::default()
    }
}

impl PartialEq for Delivered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Delivered {}

impl std::fmt::Debug for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivered")
            .field("acks", &self.acks.len())
            .finish()
    }
}

impl Inner {
    /// Returns once every acknowledgement asked for so far has been sent (or failed): a
    /// put-back that follows cannot leave a handled message in the journal behind it.
    pub(super) async fn flush_acks(&self) {
        let (done, flushed) = oneshot::channel();
        if self.acks.send(AckWork::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }
}

/// Sends what [`Delivered`]s acknowledge, coalesced: one script per round trip. A failure
/// loses nothing: an entry left unacknowledged expires with its journal, unless a stream of
/// the session opens where nobody listens to it any more first, which then gets it again. A
/// backend that cannot acknowledge (a driven client) is not asked again.
pub(super) async fn ack_loop(inner: Arc<Inner>, mut rx: UnboundedReceiver<AckWork>) {
    let mut unsupported = false;
    let mut acks: Vec<Ack> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(work) = rx.recv().await {
        let mut next = Some(work);
        while let Some(work) = next.take() {
            match work {
                AckWork::Acks(more) => acks.extend(more),
                AckWork::Flush(done) => flushes.push(done),
            }
            if acks.len() < MAX_ACKS {
                next = rx.try_recv().ok();
            }
        }
        if !acks.is_empty() && !unsupported {
            match inner.conn.acknowledge(&inner.pending_keys, &acks).await {
                Ok(()) => {}
                Err(e) if e.kind() == RedisErrorKind::Unsupported => {
                    tracing::debug!(error = %e, "this backend cannot acknowledge journaled messages");
                    unsupported = true;
                }
                Err(e) => {
                    tracing::debug!(error = %e, acks = acks.len(), "acknowledging journaled messages failed; they expire with their journals")
                }
            }
        }
        acks.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}
