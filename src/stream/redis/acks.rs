//! Acknowledging journaled messages (see `crate::redis::Commands::publish_or_keep`): once the
//! bindings have handled a batch, the journal ids of its messages go back to Redis, so a
//! message stays in its session's journal only while no live instance has taken it.
//!
//! A message is acknowledged after the bindings enqueued it to its stream (or found the
//! stream gone and put it back), not when Redis delivered it: an instance killed while its
//! JS thread had not got to the message yet leaves it in the journal, and the session's
//! next stream gets it. One killed between the enqueue and the acknowledgement (well under
//! a millisecond) leaves one that its client may have received: that one comes twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::Inner;
use crate::redis::RedisErrorKind;

/// Most acknowledgements sent in one round trip.
const MAX_ACKS: usize = 4096;

/// A session id and a journal id.
pub(super) type Ack = (String, String);

/// Handed to the sink after a batch: dropped once the bindings handled everything before it,
/// which acknowledges its messages. A clone acknowledges nothing (only the original's drop
/// counts); all compare equal.
#[derive(Default)]
pub struct Delivered {
    acks: Vec<Ack>,
    to: Option<UnboundedSender<Vec<Ack>>>,
}

impl Delivered {
    pub(super) fn new(acks: Vec<Ack>, to: UnboundedSender<Vec<Ack>>) -> Self {
        Delivered { acks, to: Some(to) }
    }
}

impl Drop for Delivered {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let _ = to.send(std::mem::take(&mut self.acks));
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

/// Sends what [`Delivered`]s acknowledge, coalesced: one script per round trip. A failure
/// loses nothing: an entry left unacknowledged expires with its journal, unless a stream of
/// the session opens where nobody listens to it any more first, which then gets it again. A
/// backend that cannot acknowledge (a driven client) is not asked again.
pub(super) async fn ack_loop(inner: Arc<Inner>, mut rx: UnboundedReceiver<Vec<Ack>>) {
    let unsupported = AtomicBool::new(false);
    while let Some(mut acks) = rx.recv().await {
        while acks.len() < MAX_ACKS {
            match rx.try_recv() {
                Ok(more) => acks.extend(more),
                Err(_) => break,
            }
        }
        if acks.is_empty() || unsupported.load(Ordering::Relaxed) {
            continue;
        }
        match inner.conn.acknowledge(&inner.pending_keys, &acks).await {
            Ok(()) => {}
            Err(e) if e.kind() == RedisErrorKind::Unsupported => {
                tracing::debug!(error = %e, "this backend cannot acknowledge journaled messages");
                unsupported.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::debug!(error = %e, acks = acks.len(), "acknowledging journaled messages failed; they expire with their journals")
            }
        }
    }
}
