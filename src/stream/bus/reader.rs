//! The reader task: the process's one subscription to the bus channel, the catch-up reads of
//! the log, and the watchdog of the subscriber connection. Its operations are measured where
//! the bus wraps its backends ([`crate::redis::metered`]), so nothing here counts them.
//!
//! The channel's messages wait in the subscriber's queue while the reader catches up, so
//! nothing is lost between the read and the channel; what the channel brings that the read
//! already delivered is skipped by id. The reader never takes a channel message while a
//! catch-up is due (after a disconnect, at start, after a hole in a publisher's numbers):
//! taking one would move the last id past the events it is about to read back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::receiver::{Mode, Receiver, Verdict};
use super::status::Counters;
use super::{wire, Inner};
use crate::redis::event_log::EntryId;
use crate::redis::{PubSubEvent, Result};

/// Entries per catch-up read.
const PAGE: usize = 1000;
/// Most events handed to the sink at once.
const MAX_BATCH: usize = 4096;
/// How often a connection that is down is tried again.
const RETRY: Duration = Duration::from_millis(250);

/// What the reader must do before it takes channel messages again.
struct Due {
    /// Subscribe to the channel (at start).
    subscribe: bool,
    /// Set the start mark (at start, with a log).
    start: bool,
    /// Ping the subscriber until it answers (after a disconnect).
    reconnect: bool,
    /// Read the log after the last id.
    catch_up: bool,
}

impl Due {
    fn any(&self) -> bool {
        self.subscribe || self.start || self.reconnect || self.catch_up
    }
}

pub(super) async fn reader_loop(inner: Arc<Inner>, mut rx: UnboundedReceiver<PubSubEvent>) {
    let log = inner.log.retains();
    let mut receiver = Receiver::new(inner.origin.clone(), log);
    let mut due = Due {
        subscribe: true,
        start: log,
        reconnect: false,
        catch_up: log,
    };
    // Origins idle this long are forgotten: their events are out of every window by then.
    let forget_after = (Duration::from_millis(inner.options.retention.max_age_ms)
        .max(inner.options.outbox_max_age)
        * 2)
    .max(Duration::from_secs(600));
    let mut next_ping = tokio::time::Instant::now() + inner.options.health_interval;
    loop {
        if due.any() {
            if let Err(e) = recover(&inner, &mut receiver, &mut due).await {
                tracing::debug!(error = %e, "event bus: Redis not reachable yet; retrying");
                tokio::time::sleep(RETRY).await;
            }
            continue;
        }
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { return };
                let mut out = Vec::new();
                take(&inner, &mut receiver, &mut due, event, &mut out);
                while !due.any() && out.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(event) => take(&inner, &mut receiver, &mut due, event, &mut out),
                        Err(_) => break,
                    }
                }
                deliver(&inner, out);
                // The gauge follows each batch, so a scrape sees a new publisher at once.
                inner.origins.store(receiver.origins() as u64, Ordering::Relaxed);
            }
            _ = tokio::time::sleep_until(next_ping) => {
                // The idle check, two commands per interval: a PING finds a subscriber
                // connection that died without a disconnect (a partition), and the log's newest
                // id one that lives on without its subscription (a cluster failover that moved
                // the bus's slot: the crate does not carry a sharded subscription over). Newer
                // than the last id seen: subscribe again and read back what was missed.
                if inner.subscriber.ping().await.is_err() {
                    due.reconnect = true;
                    due.catch_up = log;
                } else if log && behind(&inner, &receiver).await {
                    tracing::debug!("event bus: the log is ahead of what the channel brought; subscribing again");
                    due.reconnect = true;
                    due.catch_up = true;
                }
                receiver.forget_idle(Instant::now(), forget_after);
                inner.origins.store(receiver.origins() as u64, Ordering::Relaxed);
                next_ping = tokio::time::Instant::now() + inner.options.health_interval;
            }
        }
    }
}

/// Does what is due, in order; stops at the first failure (tried again after [`RETRY`]).
async fn recover(inner: &Inner, receiver: &mut Receiver, due: &mut Due) -> Result<()> {
    if due.subscribe {
        inner
            .subscriber
            .subscribe(std::slice::from_ref(&inner.names.channel))
            .await?;
        due.subscribe = false;
        due.reconnect = false;
    }
    if due.reconnect {
        // A command starts a new reconnect round if the last one gave up; once it answers,
        // the subscription is restored (replayed by the connection, or made again on a new
        // Sentinel primary by `ping`). Subscribing once more puts a cluster's sharded
        // subscription on the node that serves the slot now (the crate's own resubscription
        // may still point at the dead one); on one node it changes nothing.
        inner.subscriber.ping().await?;
        inner
            .subscriber
            .subscribe(std::slice::from_ref(&inner.names.channel))
            .await?;
        due.reconnect = false;
    }
    if due.start {
        // Deliver what was published since this bus was made, even if Redis was unreachable
        // then: Redis' clock now, less the time since construction on ours (no clock skew
        // between hosts enters it). Both are whole ms, each truncated, so their difference
        // may be up to 1 ms after the construction: the mark is 2 ms before it, or an event
        // appended in the millisecond of the construction would count as already passed.
        // What the margin lets in was published at most 2 ms before this bus existed.
        let now_ms = inner.log.now_ms().await?;
        let since = inner.created.elapsed().as_millis() as u64;
        let mark = now_ms.saturating_sub(since).saturating_sub(2);
        receiver.start_after(EntryId {
            ms: mark,
            seq: u64::MAX,
        });
        due.start = false;
    }
    if due.catch_up {
        catch_up(inner, receiver).await?;
        due.catch_up = false;
    }
    Ok(())
}

/// Whether the log holds an entry newer than the last one this reader saw (a failed check
/// counts as not behind: the PING of the same check judges the connection).
async fn behind(inner: &Inner, receiver: &Receiver) -> bool {
    let result = inner.log.last_id(&inner.names).await;
    matches!((result, receiver.last()), (Ok(Some(newest)), Some(last)) if newest > last)
}

/// Reads the log after the last id, page by page, delivering what this process has not seen.
async fn catch_up(inner: &Inner, receiver: &mut Receiver) -> Result<()> {
    Counters::add(&inner.counters.catch_ups, 1);
    let mut replayed = 0u64;
    loop {
        let Some(after) = receiver.last() else {
            return Ok(());
        };
        let page = inner.log.read_after(&inner.names, after, PAGE).await?;
        let n = page.len();
        let mut out = Vec::new();
        let now = Instant::now();
        for entry in page {
            let verdict = receiver.judge(entry, Mode::CatchUp, now);
            if let Verdict::Deliver { .. } = verdict {
                replayed += 1;
            }
            apply(inner, verdict, &mut out);
        }
        deliver(inner, out);
        if n < PAGE {
            break;
        }
    }
    Counters::add(&inner.counters.replayed, replayed);
    if replayed > 0 {
        tracing::debug!(replayed, "event bus: caught up from the log");
    }
    inner
        .origins
        .store(receiver.origins() as u64, Ordering::Relaxed);
    Ok(())
}

/// One event from the subscriber.
fn take(
    inner: &Inner,
    receiver: &mut Receiver,
    due: &mut Due,
    event: PubSubEvent,
    out: &mut Vec<String>,
) {
    let payload = match event {
        PubSubEvent::Disconnected => {
            // Not an operation: the connection said it dropped. Down until an operation on
            // it succeeds again (the reconnect below), as the stream manager reports it.
            inner
                .subscriber_meter
                .disconnected("Redis connection lost (reconnecting)");
            due.reconnect = true;
            due.catch_up = inner.log.retains();
            return;
        }
        PubSubEvent::Message { channel, payload } => {
            if channel != inner.names.channel {
                return;
            }
            payload
        }
    };
    let entry = match wire::parse(&payload) {
        Ok(entry) => entry,
        Err(e) => {
            Counters::add(&inner.counters.malformed, 1);
            tracing::debug!(error = %e, "event bus: ignored a message that is not the bus's");
            return;
        }
    };
    match receiver.judge(entry, Mode::Live, Instant::now()) {
        Verdict::Gap => due.catch_up = true,
        verdict => apply(inner, verdict, out),
    }
}

fn apply(inner: &Inner, verdict: Verdict, out: &mut Vec<String>) {
    match verdict {
        Verdict::Deliver { event, lost } => {
            if lost > 0 {
                Counters::add(&inner.counters.lost, lost);
                if let Some(earlier) = inner.lost_warning.failed_times(lost) {
                    tracing::warn!(
                        lost = lost + earlier,
                        "event bus: events of other processes were never received (out of the retention window, or dropped by their outbox); at most one such line per 10 s"
                    );
                }
            }
            out.push(event);
        }
        Verdict::Duplicate => Counters::add(&inner.counters.duplicates_skipped, 1),
        Verdict::Own | Verdict::Gap => {}
    }
}

fn deliver(inner: &Inner, out: Vec<String>) {
    if out.is_empty() {
        return;
    }
    Counters::add(&inner.counters.received_remote, out.len() as u64);
    let sink = inner.sink.clone();
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || sink(out))).is_err() {
        tracing::warn!("event bus sink panicked; batch dropped");
    }
}
