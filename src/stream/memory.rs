//! `InMemoryStreamManager` core: the streams of this process, and what is kept for sessions
//! with none (store-and-forward, [`PendingQueues`]). Generic over the controller handle, so
//! the rules are tested without Node; the bindings hold JS controllers here and make the
//! writes, reporting back the ones that failed.
//!
//! The rules: a listed send to a session with no stream is kept; a stream that opens gets
//! what was kept, in order, before anything newer; a write that fails drops that stream (the
//! registration that failed, never a newer one of the same session) and keeps the message
//! in its place; a replay that fails puts the rest back ahead of anything kept since.

use std::time::Instant;

use crate::pending::{PendingLimits, PendingQueues, PendingStats};
use crate::stream::counters::{StreamCounters, StreamStats};
use crate::stream::local::LocalStreams;

/// A stream as registered: the registration it came from, and its controller.
#[derive(Debug)]
pub struct Held<C> {
    pub generation: u64,
    pub controller: C,
}

/// A stream just opened: its registration, the stream it replaces (to be released, not
/// closed, as mcp-use), and the messages to replay to it now, oldest first.
#[derive(Debug)]
pub struct Opened<C> {
    pub generation: u64,
    pub replaced: Option<C>,
    pub kept: Vec<String>,
}

/// The streams and kept messages of one in-memory manager.
pub struct MemoryStreams<C> {
    streams: LocalStreams<Held<C>>,
    pending: PendingQueues,
    next_generation: u64,
    counters: StreamCounters,
}

impl<C> MemoryStreams<C> {
    pub fn new(limits: PendingLimits) -> Self {
        MemoryStreams {
            streams: LocalStreams::default(),
            pending: PendingQueues::new(limits),
            next_generation: 0,
            counters: StreamCounters::default(),
        }
    }

    /// Registers `controller` for `id` and takes what was kept for it.
    pub fn open(&mut self, id: &str, controller: C, now: Instant) -> Opened<C> {
        let generation = self.next_generation;
        self.next_generation += 1;
        let replaced = self
            .streams
            .insert(
                id.to_owned(),
                Held {
                    generation,
                    controller,
                },
            )
            .map(|h| h.controller);
        self.pending.maybe_sweep(now);
        let kept = self.pending.take(id, now);
        self.counters.delivered(kept.len());
        Opened {
            generation,
            replaced,
            kept,
        }
    }

    /// A replay to registration `generation` of `id` stopped at a failed write: that stream
    /// is dropped (returned, to be released) and `unsent` goes back ahead of anything kept
    /// since.
    pub fn replay_failed(
        &mut self,
        id: &str,
        generation: u64,
        unsent: Vec<String>,
        now: Instant,
    ) -> Option<C> {
        let dropped = self.drop_stream(id, generation);
        self.pending.put_back(id, unsent, now);
        if dropped.is_some() {
            self.counters.stream_dropped();
        }
        dropped
    }

    /// The streams a send of `data` reaches (`ids: None`, a broadcast: every stream), each
    /// as `(id, generation, view(controller))`; a listed session with no stream keeps
    /// `data` for its next one.
    pub fn route<V>(
        &mut self,
        ids: Option<&[String]>,
        data: &str,
        now: Instant,
        view: impl Fn(&C) -> V,
    ) -> Vec<(String, u64, V)> {
        self.counters.sent(ids);
        let targets: Vec<(String, u64, V)> = self
            .streams
            .targets(ids)
            .into_iter()
            .filter_map(|id| {
                let held = self.streams.get(&id)?;
                Some((id.clone(), held.generation, view(&held.controller)))
            })
            .collect();
        if let Some(ids) = ids {
            self.pending.maybe_sweep(now);
            for id in ids
                .iter()
                .filter(|id| !targets.iter().any(|(t, _, _)| t == *id))
            {
                self.pending.push(id, data.to_owned(), now);
            }
        }
        self.counters.delivered(targets.len());
        targets
    }

    /// The write of `data` to registration `generation` of `id` failed: that stream is
    /// dropped (returned, to be released) and `data` is kept in its place (nothing newer is
    /// kept for the session yet: the stream was live).
    pub fn write_failed(
        &mut self,
        id: &str,
        generation: u64,
        data: String,
        now: Instant,
    ) -> Option<C> {
        let dropped = self.drop_stream(id, generation);
        self.pending.push(id, data, now);
        if dropped.is_some() {
            self.counters.stream_dropped();
        }
        dropped
    }

    fn drop_stream(&mut self, id: &str, generation: u64) -> Option<C> {
        self.streams
            .remove_if(id, |h| h.generation == generation)
            .map(|h| h.controller)
    }

    /// The session ended: its stream (to be closed) and what was kept for it go.
    pub fn delete(&mut self, id: &str) -> Option<C> {
        self.pending.remove(id);
        self.streams.remove(id).map(|h| h.controller)
    }

    /// Every stream (to be closed); nothing is kept any more.
    pub fn close(&mut self) -> Vec<C> {
        self.pending.clear();
        self.streams
            .drain()
            .into_iter()
            .map(|(_, h)| h.controller)
            .collect()
    }

    pub fn has(&self, id: &str) -> bool {
        self.streams.contains(id)
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    pub fn pending_stats(&self) -> PendingStats {
        self.pending.stats()
    }

    /// Streams held, messages sent, delivered and kept, streams dropped.
    pub fn stats(&self) -> StreamStats {
        self.counters
            .stats(self.streams.len(), self.pending.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_send_to_no_stream_is_kept_and_replayed_first_to_the_next_one() {
        let now = Instant::now();
        let mut m = MemoryStreams::new(PendingLimits::default());
        assert!(m
            .route(Some(&ids(&["s"])), "one", now, |c: &u8| *c)
            .is_empty());
        assert!(m.route(Some(&ids(&["s"])), "two", now, |c| *c).is_empty());
        let opened = m.open("s", 7u8, now);
        assert_eq!(opened.kept, ["one", "two"]);
        assert!(opened.replaced.is_none());
        assert_eq!(
            m.route(Some(&ids(&["s", "t"])), "three", now, |c| *c),
            vec![("s".to_owned(), opened.generation, 7)]
        );
        assert_eq!(m.open("t", 8, now).kept, ["three"], "t had no stream");
        let stats = m.pending_stats();
        assert_eq!((stats.buffered, stats.replayed), (3, 3));
    }

    #[test]
    fn sends_deliveries_replays_and_dropped_streams_are_counted() {
        let now = Instant::now();
        let mut m = MemoryStreams::new(PendingLimits::default());
        m.route(Some(&ids(&["s", "t"])), "kept", now, |c: &u8| *c);
        let s = m.open("s", 1u8, now);
        m.open("u", 2u8, now);
        m.route(None, "all", now, |c| *c);
        m.write_failed("u", 1, "all".into(), now);
        assert_eq!(m.replay_failed("s", s.generation, vec![], now), Some(1));
        let stats = m.stats();
        assert_eq!(
            (
                stats.streams,
                stats.sent,
                stats.delivered,
                stats.streams_dropped
            ),
            (0, 3, 3, 2),
            "2 listed + 1 broadcast sent; 1 replay + 2 broadcast writes; u and s dropped"
        );
        assert_eq!((stats.pending.buffered, stats.pending.replayed), (3, 1));
    }

    #[test]
    fn a_broadcast_keeps_nothing() {
        let now = Instant::now();
        let mut m: MemoryStreams<u8> = MemoryStreams::new(PendingLimits::default());
        assert!(m.route(None, "all", now, |c| *c).is_empty());
        assert!(m.open("s", 1, now).kept.is_empty());
    }

    #[test]
    fn a_failed_replay_puts_the_rest_back_ahead_of_what_came_since() {
        let now = Instant::now();
        let mut m = MemoryStreams::new(PendingLimits::default());
        m.route(Some(&ids(&["s"])), "a", now, |c: &u8| *c);
        m.route(Some(&ids(&["s"])), "b", now, |c| *c);
        let first = m.open("s", 1u8, now);
        assert_eq!(first.kept, ["a", "b"]);
        // "a" was written; "b" failed. Meanwhile nothing else; then "c" comes.
        assert_eq!(
            m.replay_failed("s", first.generation, ids(&["b"]), now),
            Some(1)
        );
        assert!(!m.has("s"));
        m.route(Some(&ids(&["s"])), "c", now, |c| *c);
        assert_eq!(m.open("s", 2, now).kept, ["b", "c"]);
    }

    #[test]
    fn a_failed_write_drops_only_the_registration_that_failed() {
        let now = Instant::now();
        let mut m = MemoryStreams::new(PendingLimits::default());
        let old = m.open("s", 1u8, now).generation;
        let new = m.open("s", 2u8, now);
        assert_eq!(new.replaced, Some(1));
        // A write to the replaced registration failed: the new stream stays.
        assert_eq!(m.write_failed("s", old, "x".into(), now), None);
        assert!(m.has("s"));
        assert_eq!(
            m.write_failed("s", new.generation, "y".into(), now),
            Some(2)
        );
        assert!(!m.has("s"));
        assert_eq!(m.open("s", 3, now).kept, ["x", "y"]);
    }

    #[test]
    fn delete_and_close_forget_what_was_kept() {
        let now = Instant::now();
        let mut m = MemoryStreams::new(PendingLimits::default());
        m.route(Some(&ids(&["s", "t"])), "m", now, |c: &u8| *c);
        assert_eq!(m.delete("s"), None);
        m.open("u", 5, now);
        assert_eq!(m.close(), vec![5]);
        assert!(m.is_empty());
        assert!(m.open("t", 6, now).kept.is_empty());
        assert!(m.open("s", 7, now).kept.is_empty());
    }

    #[test]
    fn nothing_is_kept_with_a_zero_ttl() {
        let now = Instant::now();
        let limits = PendingLimits {
            ttl_secs: 0,
            ..PendingLimits::default()
        };
        let mut m: MemoryStreams<u8> = MemoryStreams::new(limits);
        m.route(Some(&ids(&["s"])), "m", now, |c| *c);
        assert!(m.open("s", 1, now).kept.is_empty());
    }
}
