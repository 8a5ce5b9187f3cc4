//! The Redis stream manager's side of store-and-forward (see [`crate::pending`]): messages
//! that arrive for a session while its stream is being opened or let go of here, held in
//! order so none is lost or overtaken.
//!
//! * Opening (`create`): from before the SUBSCRIBE until the session's pending list has been
//!   taken, live messages are held; the taken ones are delivered first, then the held ones.
//! * Letting go (a write to the local stream failed): the message that failed and every
//!   later one this instance still receives for the session are collected, and put back at
//!   the head of the session's pending list once the channel is unsubscribed, so the next
//!   stream (on any instance) gets them in order.
//!
//! Plain state, no I/O: the stream manager drives it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Handed to the sink after a batch; dropped once everything handed before it has been
/// processed, which is what the releasing side waits for. A clone does not carry the
/// signal (only the original's drop counts); all barriers compare equal.
#[derive(Debug, Default)]
pub struct Barrier(Option<oneshot::Sender<()>>);

impl Barrier {
    pub fn new() -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (Barrier(Some(tx)), rx)
    }
}

impl Drop for Barrier {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

impl Clone for Barrier {
    fn clone(&self) -> Self {
        Barrier(None)
    }
}

impl PartialEq for Barrier {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Barrier {}

/// Messages of a session that is being let go of: those the bindings could not deliver
/// (`undelivered`, in their order) and those that arrived here afterwards (`held`).
#[derive(Debug, Default)]
struct Released {
    undelivered: Vec<String>,
    held: Vec<String>,
}

/// Messages of a session opening here: those carried over from letting go of its previous
/// stream here (older than anything kept in Redis since), and those that arrived meanwhile.
#[derive(Debug, Default)]
struct Opening {
    carried: Vec<String>,
    held: Vec<String>,
}

/// What an opening session's new stream gets, in this order: [`Opened::carried`], then the
/// messages taken from Redis, then [`Opened::held`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Opened {
    pub carried: Vec<String>,
    pub held: Vec<String>,
}

/// The maps of sessions being opened or let go of. Each session's collected messages are
/// bounded (the oldest go beyond `cap`, counted in [`Handover::take_dropped`]).
pub struct Handover {
    cap: usize,
    opening: Mutex<HashMap<String, Opening>>,
    releasing: Mutex<HashMap<String, Released>>,
    dropped: AtomicU64,
}

impl Default for Handover {
    fn default() -> Self {
        Handover::with_cap(usize::MAX)
    }
}

/// Appends `item` to `v`, dropping the oldest beyond `cap`; returns how many were dropped.
fn push_bounded(v: &mut Vec<String>, item: String, cap: usize) -> u64 {
    v.push(item);
    let over = v.len().saturating_sub(cap);
    v.drain(..over);
    over as u64
}

impl Handover {
    /// At most `cap` collected messages per session and list.
    pub fn with_cap(cap: usize) -> Self {
        Handover {
            cap: cap.max(1),
            opening: Mutex::default(),
            releasing: Mutex::default(),
            dropped: AtomicU64::new(0),
        }
    }

    /// How many collected messages were dropped over the cap since the last call.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }

    fn count_dropped(&self, n: u64) {
        if n > 0 {
            self.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// `sid` starts opening here: hold its live messages until [`Handover::opened`]. A
    /// session that was being let go of here carries its collected messages over, to go
    /// first.
    pub fn opening(&self, sid: &str) {
        let carried = self
            .releasing
            .lock()
            .remove(sid)
            .map(|r| [r.undelivered, r.held].concat())
            .unwrap_or_default();
        let mut opening = self.opening.lock();
        let entry = opening.entry(sid.to_owned()).or_default();
        entry.carried.extend(carried);
    }

    /// What an opening session collected (it is open from now on); `None` if it was not
    /// opening.
    pub fn opened(&self, sid: &str) -> Option<Opened> {
        self.opening.lock().remove(sid).map(|o| Opened {
            carried: o.carried,
            held: o.held,
        })
    }

    /// Holds `payload` if `sid` is opening or being let go of; otherwise hands it back.
    pub fn hold(&self, sid: &str, payload: String) -> Option<String> {
        if let Some(o) = self.opening.lock().get_mut(sid) {
            self.count_dropped(push_bounded(&mut o.held, payload, self.cap));
            return None;
        }
        if let Some(r) = self.releasing.lock().get_mut(sid) {
            self.count_dropped(push_bounded(&mut r.held, payload, self.cap));
            return None;
        }
        Some(payload)
    }

    /// `sid` is being let go of here; `undelivered` are the messages its stream failed to
    /// take, in order.
    pub fn releasing(&self, sid: &str, undelivered: Vec<String>) {
        let mut releasing = self.releasing.lock();
        let r = releasing.entry(sid.to_owned()).or_default();
        for m in undelivered {
            self.count_dropped(push_bounded(&mut r.undelivered, m, self.cap));
        }
    }

    /// Whether `sid` is being let go of here.
    pub fn is_releasing(&self, sid: &str) -> bool {
        self.releasing.lock().contains_key(sid)
    }

    /// A message the bindings could not deliver because its session's stream is gone.
    /// Returns whether it was kept (the session is being let go of).
    pub fn undeliverable(&self, sid: &str, payload: String) -> bool {
        match self.releasing.lock().get_mut(sid) {
            Some(r) => {
                self.count_dropped(push_bounded(&mut r.undelivered, payload, self.cap));
                true
            }
            None => false,
        }
    }

    /// Ends letting go of `sid`: everything collected for it, in order (nothing if a
    /// `create` took it over meanwhile).
    pub fn released(&self, sid: &str) -> Vec<String> {
        self.releasing
            .lock()
            .remove(sid)
            .map(|r| [r.undelivered, r.held].concat())
            .unwrap_or_default()
    }

    /// Forgets `sid` (its session was deleted): nothing held for it is kept.
    pub fn forget(&self, sid: &str) {
        self.opening.lock().remove(sid);
        self.releasing.lock().remove(sid);
    }

    /// Forgets everything (the manager closes).
    pub fn clear(&self) {
        self.opening.lock().clear();
        self.releasing.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_while_opening_then_hands_over_in_order() {
        let h = Handover::default();
        assert_eq!(
            h.hold("s", "live".into()),
            Some("live".into()),
            "not opening: delivered live"
        );
        h.opening("s");
        assert_eq!(h.hold("s", "a".into()), None);
        assert_eq!(h.hold("s", "b".into()), None);
        assert_eq!(
            h.opened("s"),
            Some(Opened {
                carried: vec![],
                held: vec!["a".to_string(), "b".to_string()]
            })
        );
        assert_eq!(h.opened("s"), None);
        assert_eq!(h.hold("s", "c".into()), Some("c".into()));
    }

    #[test]
    fn letting_go_collects_undelivered_then_later_messages() {
        let h = Handover::default();
        h.releasing("s", vec!["1".into()]);
        assert!(h.undeliverable("s", "2".into()));
        assert_eq!(h.hold("s", "3".into()), None);
        assert!(h.undeliverable("s", "2b".into()));
        assert_eq!(h.released("s"), vec!["1", "2", "2b", "3"]);
        assert!(
            !h.undeliverable("s", "late".into()),
            "done: nothing more is collected"
        );
    }

    #[test]
    fn a_create_during_letting_go_takes_the_messages_over() {
        let h = Handover::default();
        h.releasing("s", vec!["1".into()]);
        h.hold("s", "2".into());
        h.opening("s");
        h.hold("s", "3".into());
        assert!(h.released("s").is_empty(), "the new stream has them");
        assert_eq!(
            h.opened("s"),
            Some(Opened {
                carried: vec!["1".to_string(), "2".to_string()],
                held: vec!["3".to_string()]
            })
        );
    }

    #[test]
    fn collected_messages_are_bounded() {
        let h = Handover::with_cap(2);
        h.releasing("s", vec!["1".into(), "2".into(), "3".into()]);
        h.hold("s", "a".into());
        h.hold("s", "b".into());
        h.hold("s", "c".into());
        assert_eq!(h.released("s"), vec!["2", "3", "b", "c"]);
        assert_eq!(h.take_dropped(), 2);
        assert_eq!(h.take_dropped(), 0);
    }

    #[test]
    fn a_barrier_signals_when_dropped_and_a_clone_does_not() {
        let (barrier, mut rx) = Barrier::new();
        let copy = barrier.clone();
        drop(copy);
        assert!(rx.try_recv().is_err());
        drop(barrier);
        assert!(rx.try_recv().is_ok());
    }
}
