//! What the change-event bus ([`crate::stream::bus`]) needs from Redis, as one trait,
//! [`EventLog`], beside the stream manager's [`Commands`](super::Commands) rather than inside
//! it: the bus is a separate feature with its own keys, and a backend either has all of it or
//! only its pub/sub half.
//!
//! One bus is one log: a Redis Stream of events (`{tag}log`) and a channel (`{tag}live`) on
//! which every append is announced, both named from the bus prefix ([`LogNames`]). An append
//! of a batch is one server-side script: each event is `XADD`ed and then published with the
//! stream id it got, so the order of the channel is the order of the stream, and a process
//! that missed messages can read exactly what it missed with `XRANGE (last +`.

use std::fmt;
use std::str::FromStr;

use super::backend::BoxFuture;
use super::Result;

/// The bus prefix when none is given: keys that mcp-use's classes never read.
pub const DEFAULT_BUS_PREFIX: &str = "mcp:events:";

/// The key and channel of one bus. Both carry the same Redis Cluster hash tag, so the append
/// script (which writes the key and publishes on the channel) runs on one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogNames {
    /// The Redis Stream of events.
    pub log: String,
    /// The channel on which each append is announced.
    pub channel: String,
}

impl LogNames {
    /// The names for `prefix`: `{prefix}log` and `{prefix}live`, the prefix itself being the
    /// hash tag. A prefix that already contains braces is used as it is (`<prefix>log`,
    /// `<prefix>live`), provided both names still hash to one slot; otherwise the error says
    /// why.
    pub fn new(prefix: &str) -> std::result::Result<Self, String> {
        if prefix.is_empty() {
            return Err("the prefix must not be empty".to_owned());
        }
        if !prefix.contains(['{', '}']) {
            return Ok(Self {
                log: format!("{{{prefix}}}log"),
                channel: format!("{{{prefix}}}live"),
            });
        }
        let names = Self {
            log: format!("{prefix}log"),
            channel: format!("{prefix}live"),
        };
        let slot = super::slot::key_slot;
        if slot(&names.log) != slot(&names.channel) {
            return Err(format!(
                "the prefix {prefix:?} has braces that put {:?} and {:?} in different Redis Cluster slots; use a prefix without braces (it becomes the hash tag) or with one complete {{tag}}",
                names.log, names.channel
            ));
        }
        Ok(names)
    }
}

/// A Redis Stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    pub ms: u64,
    pub seq: u64,
}

impl EntryId {
    /// The smallest id at or after the Redis time `ms`.
    pub fn at(ms: u64) -> Self {
        Self { ms, seq: 0 }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for EntryId {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (ms, seq) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not a stream id"))?;
        let parse = |part: &str| {
            part.parse::<u64>()
                .map_err(|_| format!("{s:?} is not a stream id"))
        };
        Ok(Self {
            ms: parse(ms)?,
            seq: parse(seq)?,
        })
    }
}

/// One event as a process receives it, from the channel or from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its stream id; `None` on a backend without the log (pub/sub only).
    pub id: Option<EntryId>,
    /// The bus instance that published it.
    pub origin: String,
    /// Its number among that origin's events (1, 2, ...), in publish order.
    pub seq: u64,
    /// The event as JSON text, exactly as published.
    pub event: String,
}

/// One event to append: its number among this origin's events, and its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub seq: u64,
    pub event: String,
}

/// How much of the log Redis keeps. Trimming is approximate (`MAXLEN ~`, `MINID ~`): Redis
/// trims whole stream nodes, so a little more than this may be kept, never less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Most entries kept.
    pub max_len: u64,
    /// Entries older than this (milliseconds, Redis' clock) are trimmed at the next append;
    /// the key expires after this much time without appends. 0: no age limit.
    pub max_age_ms: u64,
}

/// The Redis side of the change-event bus (see the module docs).
pub trait EventLog: Send + Sync + 'static {
    /// Appends `events` (in order) from `origin` to the log and announces each on the
    /// channel, trimming the log to `retention`, in one atomic step.
    fn append<'a>(
        &'a self,
        names: &'a LogNames,
        retention: Retention,
        origin: &'a str,
        events: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<()>>;

    /// At most `count` entries with ids after `after`, oldest first.
    fn read_after<'a>(
        &'a self,
        names: &'a LogNames,
        after: EntryId,
        count: usize,
    ) -> BoxFuture<'a, Result<Vec<Entry>>>;

    /// The id of the newest entry of the log (`None` when it is empty or gone).
    fn last_id<'a>(&'a self, names: &'a LogNames) -> BoxFuture<'a, Result<Option<EntryId>>>;

    /// Redis' clock, in milliseconds (the clock of stream ids).
    fn now_ms(&self) -> BoxFuture<'_, Result<u64>>;

    /// One PING on the connection the log is written through: `ready()`, and `health()`'s
    /// check of a connection idle for a while (a pub/sub-only bus that publishes nothing
    /// would otherwise never show whether Redis answers it).
    fn ping(&self) -> BoxFuture<'_, Result<()>>;

    /// Whether this backend keeps a log (`false`: pub/sub only, [`EventLog::read_after`]
    /// and [`EventLog::now_ms`] are unsupported).
    fn retains(&self) -> bool {
        true
    }

    /// What this backend is, for diagnostics (`"redis streams"`, `"pub/sub only"`).
    fn describe(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_share_a_slot() {
        let n = LogNames::new("mcp:events:").expect("valid");
        assert_eq!(n.log, "{mcp:events:}log");
        assert_eq!(n.channel, "{mcp:events:}live");
        let tagged = LogNames::new("app:{bus}:").expect("one complete tag");
        assert_eq!(tagged.log, "app:{bus}:log");
        assert_eq!(
            super::super::slot::key_slot(&tagged.log),
            super::super::slot::key_slot(&tagged.channel)
        );
        assert!(LogNames::new("").is_err());
    }

    #[test]
    fn a_prefix_whose_braces_split_the_slot_is_refused() {
        // "a{" + "log" has no complete tag, so each name hashes whole: different slots.
        let err = LogNames::new("a{").expect_err("unbalanced brace");
        assert!(err.contains("different Redis Cluster slots"), "{err}");
    }

    #[test]
    fn entry_ids_parse_and_order() {
        let a: EntryId = "1700000000000-3".parse().expect("id");
        let b: EntryId = "1700000000001-0".parse().expect("id");
        assert!(a < b);
        assert_eq!(a.to_string(), "1700000000000-3");
        assert!("17-".parse::<EntryId>().is_err());
        assert!("abc".parse::<EntryId>().is_err());
        assert!(EntryId::at(5) < EntryId { ms: 5, seq: 1 });
    }
}
