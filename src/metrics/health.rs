//! What `health()` answers, and the rules that make a class `ok`, `degraded` or `down`.
//!
//! * `ok`: it serves, and nothing it depends on is failing.
//! * `degraded`: it serves, with something missing: a `RedisStreamManager` whose commands
//!   work but whose subscriber does not (sessions are created, read and written; streams
//!   held here miss other instances' messages until it is back, which store-and-forward then
//!   delivers); a `FileSystemSessionStore` whose last save failed (sessions are served from
//!   memory, and the changes since the last good save are lost if the process dies) or that
//!   a newer store of the process took the file over from.
//! * `down`: it cannot serve: a Redis class whose command connection cannot reach Redis (or
//!   has not reached it yet), or that was closed.
//!
//! The event bus is the exception: it is `down` only when closed. Redis unreachable makes it
//! `degraded`, since it still serves (events wait in its outbox), and so do its subscriber
//! down, events waiting too long to be appended, and pub/sub only ([`bus_health`]).
//!
//! A readiness probe should take the instance out of rotation on `down` only: `degraded`
//! still serves every request.

use std::time::Duration;

use super::connection::{ConnectionHealth, ConnectionState};

/// How a class is doing (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Degraded,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }
}

/// The health of a Redis class: its command connection and, for a stream manager, its
/// subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisHealth {
    pub status: Status,
    pub reason: Option<String>,
    pub commands: ConnectionHealth,
    pub subscriber: Option<ConnectionHealth>,
}

/// The rule for the Redis classes: `closed`, or commands not up, is `down`; commands up with
/// a subscriber not up is `degraded`; both up is `ok`.
pub fn redis_health(
    commands: ConnectionHealth,
    subscriber: Option<ConnectionHealth>,
    closed: bool,
) -> RedisHealth {
    let (status, reason) = connections(
        &commands,
        subscriber.as_ref(),
        closed,
        "streams held here get other instances' messages once it is back",
    );
    RedisHealth {
        status,
        reason,
        commands,
        subscriber,
    }
}

/// [`redis_health`]'s rule, the reason of a subscriber that is down ending with
/// `subscriber_down_means` (what the class misses meanwhile).
fn connections(
    commands: &ConnectionHealth,
    subscriber: Option<&ConnectionHealth>,
    closed: bool,
    subscriber_down_means: &str,
) -> (Status, Option<String>) {
    if closed {
        return (Status::Down, Some("closed".to_owned()));
    }
    match (commands.state, subscriber.map(|s| s.state)) {
        (ConnectionState::Down, _) => (
            Status::Down,
            Some(format!(
                "Redis unreachable: {}",
                commands.last_error.as_deref().unwrap_or("no answer")
            )),
        ),
        (ConnectionState::Connecting, _) => {
            (Status::Down, Some("Redis not reached yet".to_owned()))
        }
        (ConnectionState::Up, Some(ConnectionState::Down)) => (
            Status::Degraded,
            Some(format!(
                "Redis subscriber down: {}; {subscriber_down_means}",
                subscriber
                    .and_then(|s| s.last_error.as_deref())
                    .unwrap_or("no answer")
            )),
        ),
        (ConnectionState::Up, Some(ConnectionState::Connecting)) => (
            Status::Degraded,
            Some("Redis subscriber not connected yet".to_owned()),
        ),
        (ConnectionState::Up, _) => (Status::Ok, None),
    }
}

/// The health of a `RedisServerEventBus`: its two connections, as [`RedisHealth`], and what
/// only the bus has.
#[derive(Debug, Clone, PartialEq)]
pub struct BusHealth {
    pub status: Status,
    pub reason: Option<String>,
    /// The connection the log is written and read through.
    pub commands: ConnectionHealth,
    pub subscriber: ConnectionHealth,
    /// Whether the bus keeps a log in Redis (`false`: pub/sub only, no catch-up).
    pub log: bool,
    /// Events published here and not appended yet.
    pub outbox_events: u64,
}

impl BusHealth {
    /// `"log"` or `"pubsub"`, as `health().mode` says it.
    pub fn mode(&self) -> &'static str {
        if self.log {
            "log"
        } else {
            "pubsub"
        }
    }
}

/// How long the oldest event may wait to be appended before the bus counts as degraded: a
/// healthy bus has events in its outbox for one round trip after each publish, which is no
/// reason to report anything.
pub const OUTBOX_LATE: Duration = Duration::from_secs(1);

/// The rule for the event bus. It is `down` only when closed: with Redis unreachable it still
/// serves (`publish` returns at once, this process's listeners are called, and the outbox
/// appends what waits once Redis is back), so a readiness probe must not take a fleet's
/// every instance out of rotation for an outage of the Redis they share. `degraded`, each
/// reason joined by `; `, for:
/// * the command connection not reaching Redis (or not yet);
/// * the subscriber not reaching it (other processes' events are read back from the log once
///   it is back; pub/sub only: they are lost for this process);
/// * events waiting to be appended for [`OUTBOX_LATE`] or longer while Redis answers (appends
///   that fail, or a burst it has not taken yet);
/// * pub/sub only (no log: what another process's subscriber misses is lost for it).
pub fn bus_health(
    commands: ConnectionHealth,
    subscriber: ConnectionHealth,
    closed: bool,
    log: bool,
    outbox_events: u64,
    oldest_waiting: Option<Duration>,
) -> BusHealth {
    let missing = if log {
        "other processes' events are read back from the log once it is back"
    } else {
        "other processes' events published meanwhile are lost for this process (pub/sub only)"
    };
    let (status, reason) = connections(&commands, Some(&subscriber), closed, missing);
    let (status, reason) = if closed {
        (status, reason)
    } else {
        let mut reasons: Vec<String> = reason.into_iter().collect();
        if commands.state != ConnectionState::Up {
            reasons.push(format!(
                "{outbox_events} events published here wait to be appended once it answers"
            ));
        } else if oldest_waiting.is_some_and(|age| age >= OUTBOX_LATE) {
            reasons.push(format!(
                "{outbox_events} events waiting to be appended for over {} s",
                OUTBOX_LATE.as_secs()
            ));
        }
        if !log {
            reasons.push("pub/sub only: no retention or catch-up (driver \"client\")".to_owned());
        }
        if reasons.is_empty() {
            (Status::Ok, None)
        } else {
            (Status::Degraded, Some(reasons.join("; ")))
        }
    };
    BusHealth {
        status,
        reason,
        commands,
        subscriber,
        log,
        outbox_events,
    }
}

/// The last save of a file store.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveRecord {
    /// When it ended, ms since the Unix epoch.
    pub at: f64,
    /// Its error (with the path), `None` when it succeeded.
    pub error: Option<String>,
}

/// The health of a `FileSystemSessionStore`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileHealth {
    pub status: Status,
    pub reason: Option<String>,
    pub sessions: u64,
    /// Changes made since the last save that wrote them.
    pub unsaved_changes: u64,
    pub last_save: Option<SaveRecord>,
}

/// The rule for the file store: a newer store took the file over, or the last save failed:
/// `degraded`; otherwise `ok`. It is never `down`: it always serves from memory.
pub fn file_health(
    sessions: u64,
    unsaved_changes: u64,
    last_save: Option<SaveRecord>,
    superseded: bool,
) -> FileHealth {
    let failed = last_save.as_ref().and_then(|s| s.error.as_deref());
    let (status, reason) = if superseded {
        (
            Status::Degraded,
            Some("a newer FileSystemSessionStore of this process took the file over; this one keeps its sessions in memory only".to_owned()),
        )
    } else if let Some(error) = failed {
        (
            Status::Degraded,
            Some(format!(
                "the last save failed ({error}); {unsaved_changes} changes are not on disk yet (retrying)"
            )),
        )
    } else {
        (Status::Ok, None)
    };
    FileHealth {
        status,
        reason,
        sessions,
        unsaved_changes,
        last_save,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(state: ConnectionState, error: Option<&str>) -> ConnectionHealth {
        ConnectionHealth {
            state,
            since: 1.0,
            down_since: (state == ConnectionState::Down).then_some(1.0),
            last_error: error.map(str::to_owned),
            last_error_at: error.map(|_| 1.0),
            reconnects: 0,
        }
    }

    #[test]
    fn commands_decide_down_and_the_subscriber_degraded() {
        use ConnectionState::*;
        let h = |c, s: Option<ConnectionState>| {
            let e = Some("Redis PING failed: refused");
            redis_health(conn(c, e), s.map(|s| conn(s, e)), false)
        };
        assert_eq!(h(Up, None).status, Status::Ok);
        assert_eq!(h(Up, Some(Up)).status, Status::Ok);
        assert_eq!(h(Up, Some(Up)).reason, None);
        let down = h(Down, Some(Up));
        assert_eq!(down.status, Status::Down);
        assert_eq!(
            down.reason.as_deref(),
            Some("Redis unreachable: Redis PING failed: refused")
        );
        assert_eq!(h(Down, Some(Down)).status, Status::Down);
        assert_eq!(h(Connecting, None).status, Status::Down);
        let degraded = h(Up, Some(Down));
        assert_eq!(degraded.status, Status::Degraded);
        assert!(degraded
            .reason
            .is_some_and(|r| r.starts_with("Redis subscriber down: Redis PING failed: refused; ")));
        assert_eq!(h(Up, Some(Connecting)).status, Status::Degraded);
        let closed = redis_health(conn(Up, None), None, true);
        assert_eq!(
            (closed.status, closed.reason.as_deref()),
            (Status::Down, Some("closed"))
        );
    }

    #[test]
    fn the_bus_is_degraded_for_what_it_lacks_and_down_only_when_closed() {
        use ConnectionState::*;
        let e = Some("Redis PING failed: refused");
        let h = |c, s, closed, log, outbox, oldest: Option<u64>| {
            bus_health(
                conn(c, e),
                conn(s, e),
                closed,
                log,
                outbox,
                oldest.map(Duration::from_millis),
            )
        };
        let ok = h(Up, Up, false, true, 0, None);
        assert_eq!(
            (ok.status, ok.reason.as_deref(), ok.mode()),
            (Status::Ok, None, "log")
        );

        // A publish's batch waits one round trip on a healthy bus: nothing to report.
        let busy = h(Up, Up, false, true, 40, Some(3));
        assert_eq!((busy.status, busy.outbox_events), (Status::Ok, 40));
        let late = h(Up, Up, false, true, 3, Some(1000));
        assert_eq!(
            (late.status, late.reason.as_deref()),
            (
                Status::Degraded,
                Some("3 events waiting to be appended for over 1 s")
            )
        );

        let sub = h(Up, Down, false, true, 0, None);
        assert_eq!(sub.status, Status::Degraded);
        assert_eq!(
            sub.reason.as_deref(),
            Some("Redis subscriber down: Redis PING failed: refused; other processes' events are read back from the log once it is back")
        );

        // Redis unreachable: still serving, so degraded, with what waits for it.
        let away = h(Down, Up, false, true, 5, Some(30_000));
        assert_eq!(
            (away.status, away.reason.as_deref(), away.outbox_events),
            (
                Status::Degraded,
                Some("Redis unreachable: Redis PING failed: refused; 5 events published here wait to be appended once it answers"),
                5
            )
        );
        let early = h(Connecting, Connecting, false, true, 0, None);
        assert_eq!(
            (early.status, early.reason.as_deref()),
            (
                Status::Degraded,
                Some("Redis not reached yet; 0 events published here wait to be appended once it answers")
            )
        );

        let pubsub = h(Up, Down, false, false, 2, Some(2000));
        assert_eq!(pubsub.status, Status::Degraded);
        assert_eq!(pubsub.mode(), "pubsub");
        assert_eq!(
            pubsub.reason.as_deref(),
            Some("Redis subscriber down: Redis PING failed: refused; other processes' events published meanwhile are lost for this process (pub/sub only); 2 events waiting to be appended for over 1 s; pub/sub only: no retention or catch-up (driver \"client\")")
        );

        let closed = h(Up, Up, true, false, 0, None);
        assert_eq!(
            (closed.status, closed.reason.as_deref()),
            (Status::Down, Some("closed"))
        );
    }

    #[test]
    fn a_file_store_is_degraded_by_a_failed_save_or_a_takeover_and_never_down() {
        let ok = file_health(3, 0, None, false);
        assert_eq!((ok.status, ok.reason), (Status::Ok, None));
        let saved = SaveRecord {
            at: 5.0,
            error: None,
        };
        assert_eq!(file_health(3, 0, Some(saved), false).status, Status::Ok);
        let failed = SaveRecord {
            at: 6.0,
            error: Some("save /x/sessions.json: No space left on device".to_owned()),
        };
        let h = file_health(3, 2, Some(failed), false);
        assert_eq!(h.status, Status::Degraded);
        assert_eq!(
            h.reason.as_deref(),
            Some("the last save failed (save /x/sessions.json: No space left on device); 2 changes are not on disk yet (retrying)")
        );
        assert_eq!(file_health(3, 0, None, true).status, Status::Degraded);
    }
}
