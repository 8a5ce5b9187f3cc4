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
//! * Moving (a stream opens here while another instance still listens to the session, its
//!   own stream dead or dying): the take publishes an opened marker (see
//!   `crate::stream::redis::markers`) after our SUBSCRIBE. The other instance stops at that
//!   marker and hands back what it could not deliver before it; we keep holding until that
//!   arrives (or [`HANDBACK_WAIT`]), then deliver the kept messages, the handed-back ones less
//!   those we received ourselves before our marker (published after our SUBSCRIBE, so both
//!   instances had them), and what we held. Nothing published before our SUBSCRIBE is lost
//!   to the other instance's failed write, and nothing after it is delivered twice.
//!
//! Plain state, no I/O: the stream manager drives it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::redis::{TakenMessage, HANDBACK_TTL_SECS};

/// How long a contested open holds its messages for the other instance's hand-back.
pub const HANDBACK_WAIT: Duration = Duration::from_secs(1);
/// How long an opened stream remembers what it received before its marker, for a hand-back
/// that comes after [`HANDBACK_WAIT`]: as long as a hand-back is kept.
const REMEMBER_FOR: Duration = Duration::from_secs(HANDBACK_TTL_SECS);

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
    /// Another instance's stream of the session opened (its marker arrived): what arrives
    /// after that reached it, and is not collected.
    superseded: bool,
}

/// Messages of a session opening here: those carried over from letting go of its previous
/// stream here (older than anything kept in Redis since), those taken from Redis, and those
/// that arrived meanwhile.
#[derive(Debug, Default)]
struct Opening {
    carried: Vec<String>,
    taken: Vec<TakenMessage>,
    held: Vec<String>,
    /// How many of `held` arrived before this instance's own opened marker.
    marker_at: Option<usize>,
    /// The take was contested: holding on for a hand-back.
    waiting: bool,
    /// A hand-back was taken (it may come before the first take's result).
    handed_back: bool,
    /// The journal ids of the held messages that had one: acknowledged once delivered.
    journaled: Vec<String>,
}

/// What an opening session's new stream gets: see [`Opened::sequence`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Opened {
    pub carried: Vec<String>,
    pub taken: Vec<TakenMessage>,
    pub held: Vec<String>,
    pub marker_at: Option<usize>,
    /// The journal ids of held messages (see [`Handover::hold`]).
    pub journaled: Vec<String>,
}

impl Opened {
    /// The messages in delivery order: [`Opened::carried`], the taken ones less the
    /// hand-backs this stream received itself, then [`Opened::held`]; and what it received
    /// itself before its marker (all it held, when the marker did not arrive), which a later
    /// hand-back is checked against (see [`Handover::remember`]).
    pub fn sequence(self) -> (Vec<String>, Vec<String>) {
        let seen = self.held[..self.marker_at.unwrap_or(self.held.len())].to_vec();
        let mut out = self.carried;
        out.extend(without_seen(self.taken, &mut multiset(&seen)));
        out.extend(self.held);
        (out, seen)
    }
}

fn multiset(messages: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for m in messages {
        *counts.entry(m.as_str()).or_insert(0) += 1;
    }
    counts
}

/// `taken` less the hand-backs found in `seen` (each found once per copy seen).
fn without_seen(taken: Vec<TakenMessage>, seen: &mut HashMap<&str, usize>) -> Vec<String> {
    taken
        .into_iter()
        .filter_map(|m| {
            if m.handed_back {
                if let Some(n) = seen.get_mut(m.text.as_str()).filter(|n| **n > 0) {
                    *n -= 1;
                    return None;
                }
            }
            Some(m.text)
        })
        .collect()
}

/// What [`Handover::hold`] did with a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// Nothing is being opened or let go of: deliver it.
    Deliver(String),
    /// Held until the session's stream opens.
    Opening,
    /// Collected (or dropped, after the marker of a newer stream) while letting go.
    Releasing,
}

/// What recently opened streams received before their markers, for late hand-backs.
#[derive(Default)]
struct Recent {
    seen: HashMap<String, (Instant, Vec<String>)>,
    expiry: VecDeque<(Instant, String)>,
}

/// The maps of sessions being opened or let go of. Each session's collected messages are
/// bounded (the oldest go beyond `cap`, counted in [`Handover::take_dropped`]).
pub struct Handover {
    cap: usize,
    opening: Mutex<HashMap<String, Opening>>,
    releasing: Mutex<HashMap<String, Released>>,
    recent: Mutex<Recent>,
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
            recent: Mutex::default(),
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
            taken: o.taken,
            held: o.held,
            marker_at: o.marker_at,
            journaled: o.journaled,
        })
    }

    /// Whether `sid` is opening here.
    pub fn is_opening(&self, sid: &str) -> bool {
        self.opening.lock().contains_key(sid)
    }

    /// Adds what the take of an opening `sid` found; `contested`: hold on for a hand-back.
    /// Returns whether to hold on (contested, and no hand-back taken yet); `Err` gives
    /// `taken` back when `sid` is not opening.
    pub fn taken(
        &self,
        sid: &str,
        taken: Vec<TakenMessage>,
        contested: bool,
    ) -> Result<bool, Vec<TakenMessage>> {
        match self.opening.lock().get_mut(sid) {
            Some(o) => {
                o.taken.extend(taken);
                o.waiting |= contested;
                Ok(o.waiting && !o.handed_back)
            }
            None => Err(taken),
        }
    }

    /// Adds what a take after another instance's hand-back found for an opening `sid`.
    /// Returns whether the opening held on for it (settle it now); `Err` gives `taken` back
    /// when `sid` is not opening.
    pub fn handed_back(
        &self,
        sid: &str,
        taken: Vec<TakenMessage>,
    ) -> Result<bool, Vec<TakenMessage>> {
        match self.opening.lock().get_mut(sid) {
            Some(o) => {
                o.taken.extend(taken);
                o.handed_back = true;
                Ok(o.waiting)
            }
            None => Err(taken),
        }
    }

    /// This instance's opened marker of `sid` arrived: what is held from now on was
    /// published after it.
    pub fn own_marker(&self, sid: &str) {
        if let Some(o) = self.opening.lock().get_mut(sid) {
            o.marker_at.get_or_insert(o.held.len());
        }
    }

    /// Another instance's opened marker of `sid` arrived while this instance lets go of it:
    /// returns whether it does.
    pub fn superseded(&self, sid: &str) -> bool {
        match self.releasing.lock().get_mut(sid) {
            Some(r) => {
                r.superseded = true;
                true
            }
            None => false,
        }
    }

    /// Holds `payload` if `sid` is opening or being let go of; otherwise hands it back. After
    /// another stream of the session opened, what arrives reached it too: dropped. A held
    /// message's `journal_id` waits with it while the session opens (the opening's result
    /// carries it, [`Opened::journaled`]).
    pub fn hold(&self, sid: &str, payload: String, journal_id: Option<&str>) -> Hold {
        if let Some(o) = self.opening.lock().get_mut(sid) {
            self.count_dropped(push_bounded(&mut o.held, payload, self.cap));
            if let Some(id) = journal_id {
                // Bounded as `held` is.
                push_bounded(&mut o.journaled, id.to_owned(), self.cap);
            }
            return Hold::Opening;
        }
        if let Some(r) = self.releasing.lock().get_mut(sid) {
            if !r.superseded {
                self.count_dropped(push_bounded(&mut r.held, payload, self.cap));
            }
            return Hold::Releasing;
        }
        Hold::Deliver(payload)
    }

    /// Remembers what the stream of `sid` received before its marker (see
    /// [`Opened::sequence`]), for hand-backs that come after it opened.
    pub fn remember(&self, sid: &str, seen: Vec<String>) {
        let mut recent = self.recent.lock();
        let now = Instant::now();
        while let Some((at, _)) = recent.expiry.front() {
            if now.duration_since(*at) < REMEMBER_FOR {
                break;
            }
            if let Some((at, old)) = recent.expiry.pop_front() {
                // Only if not remembered again since.
                if recent.seen.get(&old).is_some_and(|(since, _)| *since == at) {
                    recent.seen.remove(&old);
                }
            }
        }
        if seen.is_empty() {
            return;
        }
        recent.expiry.push_back((now, sid.to_owned()));
        recent.seen.insert(sid.to_owned(), (now, seen));
    }

    /// A hand-back taken for `sid` after its stream opened here: what to deliver, less what
    /// the stream received itself before its marker.
    pub fn late(&self, sid: &str, taken: Vec<TakenMessage>) -> Vec<String> {
        let mut recent = self.recent.lock();
        let Some((_, seen)) = recent.seen.get_mut(sid) else {
            return taken.into_iter().map(|m| m.text).collect();
        };
        let mut counts = multiset(seen);
        let out = without_seen(taken, &mut counts);
        // What matched is used up: each message it saw matches one hand-back at most.
        let mut left: Vec<String> = Vec::new();
        for m in seen.iter() {
            if let Some(n) = counts.get_mut(m.as_str()).filter(|n| **n > 0) {
                *n -= 1;
                left.push(m.clone());
            }
        }
        *seen = left;
        out
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

    /// Whether `sid` is being let go of here because another instance's stream of it opened
    /// (its marker arrived: nothing after it was collected).
    pub fn is_superseded(&self, sid: &str) -> bool {
        self.releasing.lock().get(sid).is_some_and(|r| r.superseded)
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
        self.recent.lock().seen.remove(sid);
    }

    /// Forgets everything (the manager closes).
    pub fn clear(&self) {
        self.opening.lock().clear();
        self.releasing.lock().clear();
        *self.recent.lock() = Recent::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_while_opening_then_hands_over_in_order() {
        let h = Handover::default();
        assert_eq!(
            h.hold("s", "live".into(), None),
            Hold::Deliver("live".into()),
            "not opening: delivered live"
        );
        h.opening("s");
        assert_eq!(h.hold("s", "a".into(), None), Hold::Opening);
        assert_eq!(h.hold("s", "b".into(), None), Hold::Opening);
        assert_eq!(
            h.opened("s"),
            Some(Opened {
                carried: vec![],
                held: vec!["a".to_string(), "b".to_string()],
                ..Opened::default()
            })
        );
        assert_eq!(h.opened("s"), None);
        assert_eq!(h.hold("s", "c".into(), None), Hold::Deliver("c".into()));
    }

    #[test]
    fn journal_ids_of_held_messages_wait_for_the_opening() {
        let h = Handover::default();
        h.opening("s");
        assert_eq!(h.hold("s", "a".into(), Some("1-0")), Hold::Opening);
        assert_eq!(h.hold("s", "b".into(), None), Hold::Opening);
        assert_eq!(h.hold("s", "c".into(), Some("1-2")), Hold::Opening);
        let opened = h.opened("s").expect("opening");
        assert_eq!(opened.journaled, vec!["1-0", "1-2"]);
        assert_eq!(opened.held, vec!["a", "b", "c"]);
        h.releasing("s", vec![]);
        assert_eq!(
            h.hold("s", "d".into(), Some("1-3")),
            Hold::Releasing,
            "collected: the caller acknowledges it"
        );
    }

    #[test]
    fn letting_go_collects_undelivered_then_later_messages() {
        let h = Handover::default();
        h.releasing("s", vec!["1".into()]);
        assert!(h.undeliverable("s", "2".into()));
        assert_eq!(h.hold("s", "3".into(), None), Hold::Releasing);
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
        h.hold("s", "2".into(), None);
        h.opening("s");
        h.hold("s", "3".into(), None);
        assert!(h.released("s").is_empty(), "the new stream has them");
        assert_eq!(
            h.opened("s"),
            Some(Opened {
                carried: vec!["1".to_string(), "2".to_string()],
                held: vec!["3".to_string()],
                ..Opened::default()
            })
        );
    }

    fn kept(text: &str) -> TakenMessage {
        TakenMessage {
            text: text.into(),
            handed_back: false,
        }
    }

    fn back(text: &str) -> TakenMessage {
        TakenMessage {
            text: text.into(),
            handed_back: true,
        }
    }

    #[test]
    fn a_moved_stream_gets_hand_backs_less_what_it_received_before_its_marker() {
        let h = Handover::default();
        h.opening("s");
        assert_eq!(h.taken("s", vec![kept("k")], true), Ok(true), "holding on");
        // Received by both instances: published after our SUBSCRIBE, before our marker.
        h.hold("s", "b".into(), None);
        h.own_marker("s");
        // After our marker: only we have these (the other instance stopped there).
        h.hold("s", "c".into(), None);
        h.hold("s", "b".into(), None);
        // The other instance hands back what it failed to deliver: "a" only it received, "b"
        // both did; a kept "b" (not handed back) is never subtracted.
        assert_eq!(
            h.handed_back("s", vec![back("a"), back("b"), kept("b")]),
            Ok(true),
            "settle now"
        );
        let (messages, seen) = h.opened("s").unwrap().sequence();
        assert_eq!(messages, ["k", "a", "b", "b", "c", "b"]);
        assert_eq!(seen, ["b"]);
    }

    #[test]
    fn without_its_marker_everything_held_counts_as_received() {
        let opened = Opened {
            taken: vec![back("x"), back("y")],
            held: vec!["y".into(), "z".into()],
            ..Opened::default()
        };
        let (messages, seen) = opened.sequence();
        assert_eq!(messages, ["x", "y", "z"]);
        assert_eq!(seen, ["y", "z"]);
    }

    #[test]
    fn a_late_hand_back_is_checked_against_what_the_stream_received_once() {
        let h = Handover::default();
        h.remember("s", vec!["a".into(), "b".into()]);
        assert_eq!(h.late("s", vec![back("a"), back("c")]), ["c"]);
        assert_eq!(
            h.late("s", vec![back("a"), back("b")]),
            ["a"],
            "each message received matches one hand-back"
        );
        assert_eq!(h.late("other", vec![back("a")]), ["a"]);
        h.forget("s");
        assert_eq!(h.late("s", vec![back("b")]), ["b"]);
    }

    #[test]
    fn a_superseded_release_collects_only_what_was_undelivered_before() {
        let h = Handover::default();
        h.releasing("s", vec!["1".into()]);
        h.hold("s", "2".into(), None);
        assert!(h.superseded("s"));
        assert_eq!(
            h.hold("s", "3".into(), None),
            Hold::Releasing,
            "the newer stream has it"
        );
        assert!(
            h.undeliverable("s", "1b".into()),
            "handed to the bindings before"
        );
        assert_eq!(h.released("s"), vec!["1", "1b", "2"]);
        assert!(!h.superseded("s"), "not being let go of any more");
    }

    #[test]
    fn a_take_for_a_session_not_opening_is_given_back() {
        let h = Handover::default();
        assert_eq!(h.taken("s", vec![kept("k")], true), Err(vec![kept("k")]));
        assert_eq!(h.handed_back("s", vec![back("b")]), Err(vec![back("b")]));
        h.opening("s");
        assert_eq!(h.taken("s", vec![], false), Ok(false), "not contested");
    }

    #[test]
    fn a_hand_back_before_the_takes_result_does_not_make_it_wait() {
        let h = Handover::default();
        h.opening("s");
        assert_eq!(
            h.handed_back("s", vec![back("b")]),
            Ok(false),
            "not held on yet"
        );
        assert_eq!(
            h.taken("s", vec![kept("k")], true),
            Ok(false),
            "already here"
        );
        let (messages, _) = h.opened("s").unwrap().sequence();
        assert_eq!(messages, ["b", "k"]);
    }

    #[test]
    fn collected_messages_are_bounded() {
        let h = Handover::with_cap(2);
        h.releasing("s", vec!["1".into(), "2".into(), "3".into()]);
        h.hold("s", "a".into(), None);
        h.hold("s", "b".into(), None);
        h.hold("s", "c".into(), None);
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
