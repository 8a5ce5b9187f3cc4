//! Which received events this process delivers: the receiving half of the bus as a plain
//! state machine (no I/O), so its rules are unit-tested here and the reader task only feeds it.
//!
//! Every entry carries its stream id (`None` on a pub/sub-only backend), its origin (the bus
//! instance that published it) and its number among that origin's events. The rules:
//!
//! * an id at or below the last one seen was seen (the live channel and a catch-up read
//!   overlap): skipped as a duplicate;
//! * this process's own events were delivered locally when published: skipped;
//! * an origin number at or below the last one delivered for that origin is a duplicate too
//!   (a batch the publisher appended again after a lost reply, or a pub/sub-only backend);
//! * a number further on than the next one means events of that origin were missed. Live, with
//!   a log to read, that entry is not consumed and the reader catches up from the last id, which
//!   brings the missed events and this one back in stream order; while catching up (or without
//!   a log) the hole is counted as lost: trimmed out of the retention window before this process
//!   read it, or dropped by the publisher's outbox.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::redis::event_log::{Entry, EntryId};

/// How an entry is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From the live channel.
    Live,
    /// From a catch-up read of the log (or a live entry with no log to read).
    CatchUp,
}

/// What to do with an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver its event; `lost` events of its origin before it were never received.
    Deliver { event: String, lost: u64 },
    /// Seen already.
    Duplicate,
    /// Published by this process (delivered locally already).
    Own,
    /// Events of its origin were missed: catch up from the last id before delivering anything
    /// more (the entry itself is not consumed).
    Gap,
}

/// The last number delivered of one origin, and when it was last heard of.
#[derive(Debug, Clone, Copy)]
struct Seen {
    seq: u64,
    at: Instant,
}

/// The receiving state of one bus instance (see the module docs).
#[derive(Debug)]
pub struct Receiver {
    own_origin: String,
    last: Option<EntryId>,
    origins: HashMap<String, Seen>,
    /// Whether gaps can be read back from a log.
    log: bool,
}

impl Receiver {
    /// A receiver for the bus instance `own_origin`; `log`: whether a log can be read back.
    pub fn new(own_origin: String, log: bool) -> Self {
        Self {
            own_origin,
            last: None,
            origins: HashMap::new(),
            log,
        }
    }

    /// Starts (or restarts) from `id`: entries at or below it are not delivered.
    pub fn start_after(&mut self, id: EntryId) {
        if self.last.is_none_or(|last| id > last) {
            self.last = Some(id);
        }
    }

    /// Where a catch-up read starts (after this id); `None` before [`Receiver::start_after`].
    pub fn last(&self) -> Option<EntryId> {
        self.last
    }

    /// Judges `entry` (see the module docs); `now` stamps the origin as heard of.
    pub fn judge(&mut self, entry: Entry, mode: Mode, now: Instant) -> Verdict {
        let own = entry.origin == self.own_origin;
        let previous = (!own)
            .then(|| self.origins.get(&entry.origin).map(|s| s.seq))
            .flatten();
        let passed = matches!((entry.id, self.last), (Some(id), Some(last)) if id <= last);
        match previous {
            Some(prev) if entry.seq <= prev => {
                // Consumed (its id is behind us now), not delivered.
                self.advance(entry.id);
                return Verdict::Duplicate;
            }
            Some(_) if passed => {
                // A new event of a known publisher at an id already passed: the log was made
                // again (Redis lost it) on a clock behind the old one. Follow the new ids, or
                // everything until the clock catches up would be taken for duplicates.
                self.last = entry.id;
            }
            Some(prev)
                if entry.seq > prev + 1 && mode == Mode::Live && self.log && entry.id.is_some() =>
            {
                return Verdict::Gap;
            }
            Some(_) => {}
            // No number to tell by: the id decides.
            None if passed => return Verdict::Duplicate,
            None => {}
        }
        self.advance(entry.id);
        if own {
            return Verdict::Own;
        }
        let lost = previous.map_or(0, |prev| entry.seq - prev - 1);
        self.origins.insert(
            entry.origin,
            Seen {
                seq: entry.seq,
                at: now,
            },
        );
        Verdict::Deliver {
            event: entry.event,
            lost,
        }
    }

    fn advance(&mut self, id: Option<EntryId>) {
        if let Some(id) = id {
            self.start_after(id);
        }
    }

    /// Forgets origins not heard of for `idle` (a process that stopped long ago; its events
    /// are out of every retention window by then), so the map stays as small as the fleet.
    pub fn forget_idle(&mut self, now: Instant, idle: Duration) {
        self.origins
            .retain(|_, seen| now.saturating_duration_since(seen.at) < idle);
    }

    /// Origins currently tracked.
    pub fn origins(&self) -> usize {
        self.origins.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ms: u64, origin: &str, seq: u64) -> Entry {
        Entry {
            id: Some(EntryId { ms, seq: 0 }),
            origin: origin.into(),
            seq,
            event: format!("{origin}#{seq}"),
        }
    }

    fn deliver(event: &str, lost: u64) -> Verdict {
        Verdict::Deliver {
            event: event.into(),
            lost,
        }
    }

    fn receiver() -> Receiver {
        let mut r = Receiver::new("me".into(), true);
        r.start_after(EntryId::at(0));
        r
    }

    #[test]
    fn delivers_in_order_and_skips_seen_ids() {
        let now = Instant::now();
        let mut r = receiver();
        assert_eq!(
            r.judge(entry(1, "a", 1), Mode::Live, now),
            deliver("a#1", 0)
        );
        assert_eq!(
            r.judge(entry(2, "a", 2), Mode::Live, now),
            deliver("a#2", 0)
        );
        // The catch-up read overlaps what the channel brought.
        assert_eq!(
            r.judge(entry(2, "a", 2), Mode::CatchUp, now),
            Verdict::Duplicate
        );
        assert_eq!(
            r.judge(entry(1, "a", 1), Mode::CatchUp, now),
            Verdict::Duplicate
        );
        assert_eq!(r.last(), Some(EntryId::at(2)));
    }

    #[test]
    fn own_events_are_consumed_not_delivered() {
        let now = Instant::now();
        let mut r = receiver();
        assert_eq!(r.judge(entry(1, "me", 1), Mode::Live, now), Verdict::Own);
        assert_eq!(r.last(), Some(EntryId::at(1)));
        // Own numbers never count as gaps.
        assert_eq!(r.judge(entry(2, "me", 5), Mode::Live, now), Verdict::Own);
    }

    #[test]
    fn an_append_retried_after_a_lost_reply_is_a_duplicate() {
        let now = Instant::now();
        let mut r = receiver();
        assert_eq!(
            r.judge(entry(1, "a", 1), Mode::Live, now),
            deliver("a#1", 0)
        );
        // The same event again, with a newer id.
        assert_eq!(
            r.judge(entry(3, "a", 1), Mode::Live, now),
            Verdict::Duplicate
        );
        assert_eq!(r.last(), Some(EntryId::at(3)));
        assert_eq!(
            r.judge(entry(4, "a", 2), Mode::Live, now),
            deliver("a#2", 0)
        );
    }

    #[test]
    fn a_live_gap_asks_for_a_catch_up_and_a_catch_up_gap_is_counted() {
        let now = Instant::now();
        let mut r = receiver();
        assert_eq!(
            r.judge(entry(1, "a", 1), Mode::Live, now),
            deliver("a#1", 0)
        );
        assert_eq!(r.judge(entry(5, "a", 4), Mode::Live, now), Verdict::Gap);
        // Not consumed: the catch-up starts after the last delivered id.
        assert_eq!(r.last(), Some(EntryId::at(1)));
        // The log had #3 (and #2 was trimmed away) and #4.
        assert_eq!(
            r.judge(entry(3, "a", 3), Mode::CatchUp, now),
            deliver("a#3", 1)
        );
        assert_eq!(
            r.judge(entry(5, "a", 4), Mode::CatchUp, now),
            deliver("a#4", 0)
        );
        // The live copy of #4, read off the channel after the catch-up.
        assert_eq!(
            r.judge(entry(5, "a", 4), Mode::Live, now),
            Verdict::Duplicate
        );
    }

    #[test]
    fn without_a_log_a_gap_is_counted_at_once() {
        let now = Instant::now();
        let mut r = Receiver::new("me".into(), false);
        let plain = |origin: &str, seq| Entry {
            id: None,
            origin: origin.into(),
            seq,
            event: format!("{origin}#{seq}"),
        };
        assert_eq!(r.judge(plain("a", 1), Mode::Live, now), deliver("a#1", 0));
        assert_eq!(r.judge(plain("a", 4), Mode::Live, now), deliver("a#4", 2));
        assert_eq!(r.judge(plain("a", 4), Mode::Live, now), Verdict::Duplicate);
    }

    #[test]
    fn origins_are_independent_and_a_new_origin_has_no_baseline() {
        let now = Instant::now();
        let mut r = receiver();
        assert_eq!(
            r.judge(entry(1, "a", 7), Mode::Live, now),
            deliver("a#7", 0)
        );
        assert_eq!(
            r.judge(entry(2, "b", 1), Mode::Live, now),
            deliver("b#1", 0)
        );
        assert_eq!(
            r.judge(entry(3, "a", 8), Mode::Live, now),
            deliver("a#8", 0)
        );
        assert_eq!(r.origins(), 2);
        r.forget_idle(now + Duration::from_secs(10), Duration::from_secs(5));
        assert_eq!(r.origins(), 0);
    }

    #[test]
    fn ids_that_start_again_lower_are_followed_for_known_publishers() {
        let now = Instant::now();
        let mut r = receiver();
        assert_eq!(
            r.judge(entry(100, "a", 1), Mode::Live, now),
            deliver("a#1", 0)
        );
        // Redis restarted empty on a clock 50 ms behind: a's next events get lower ids.
        assert_eq!(
            r.judge(entry(60, "a", 2), Mode::Live, now),
            deliver("a#2", 0)
        );
        assert_eq!(r.last(), Some(EntryId::at(60)));
        assert_eq!(
            r.judge(entry(70, "b", 1), Mode::Live, now),
            deliver("b#1", 0)
        );
        assert_eq!(
            r.judge(entry(80, "a", 3), Mode::Live, now),
            deliver("a#3", 0)
        );
        // A catch-up over the new ids still skips what was delivered.
        assert_eq!(
            r.judge(entry(60, "a", 2), Mode::CatchUp, now),
            Verdict::Duplicate
        );
        // With a hole, the publisher's event at a passed id is delivered, the hole counted: a
        // catch-up could not read it back from the old position.
        assert_eq!(
            r.judge(entry(65, "a", 6), Mode::Live, now),
            deliver("a#6", 2)
        );
    }

    #[test]
    fn start_after_never_moves_back() {
        let mut r = receiver();
        r.start_after(EntryId::at(10));
        r.start_after(EntryId::at(3));
        assert_eq!(r.last(), Some(EntryId::at(10)));
    }
}
