//! The heartbeat task: per-instance liveness beats ([`super::liveness`]) or, for a driven
//! client, mcp-use's per-session refresh; and the subscriber watchdog.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::recover::RETRYING;
use super::{Inner, BATCH};
use crate::redis::{Result, Write};

/// How often the watchdog pings the subscriber while it is disconnected.
const WATCHDOG_INTERVAL: Duration = Duration::from_millis(500);

/// Heartbeat (+ periodic prune) and subscriber watchdog.
pub(super) async fn heartbeat_loop(inner: Arc<Inner>) {
    // Per-instance liveness beats twice per interval (see [`liveness`]); per-session refresh
    // once, skipping the immediate first tick (create() already set the keys).
    let live = inner.liveness.is_some();
    let mut heartbeat = tokio::time::interval(if live {
        inner.heartbeat / 2
    } else {
        inner.heartbeat
    });
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !live {
        heartbeat.tick().await;
    }
    let mut watchdog = tokio::time::interval(WATCHDOG_INTERVAL);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                ticks += 1;
                let beat = match &inner.liveness {
                    Some(keys) => inner.beat_once(keys, ticks).await,
                    None => heartbeat_once(&inner).await,
                };
                match beat {
                    Err(e) => inner.recovery.outage.failed("the heartbeat", &e, RETRYING),
                    // Redis answers commands; with the subscriber back too, an outage is over.
                    Ok(()) if !inner.subscriber_down.load(Ordering::Acquire) => {
                        inner.recovery.outage.over();
                    }
                    Ok(()) => {}
                }
                // Also catches a subscriber connection that died silently (no disconnect seen),
                // once per interval.
                if !live || ticks.is_multiple_of(2) {
                    if let Err(e) = inner.subscriber.ping().await {
                        inner.subscriber_down.store(true, Ordering::Release);
                        inner.recovery.outage.failed("the subscriber", &e, RETRYING);
                    }
                }
            }
            _ = watchdog.tick() => {
                if inner.subscriber_down.load(Ordering::Acquire) {
                    // A command makes the connection manager start a new reconnect round if the
                    // previous one gave up; on success the subscriptions are replayed.
                    if inner.subscriber.ping().await.is_ok() {
                        inner.subscriber_down.store(false, Ordering::Release);
                        tracing::debug!(prefix = %inner.prefix, "Redis subscriber reconnected");
                        inner.recovery.outage.restored("subscribers", 1);
                        if inner.pending.enabled() || inner.liveness.is_some() {
                            // Sends while we were away found no subscriber and were kept,
                            // and a restarted Redis lost our keys: open the local sessions
                            // again to deliver the one and restore the other.
                            inner.reopen_local();
                        }
                        inner.recovery.wake();
                    }
                }
            }
        }
    }
}

/// One pipelined round trip per interval: SET (refresh, or restore after a Redis restart
/// without persistence) every local availability key with its expiry, SADD the ids to the
/// active set, EXPIRE the set, and one prune step (a page of the active set checked for ids
/// whose availability key expired, e.g. those of a crashed instance). The prune runs after
/// the SETs in the same pipeline, so it never sees this instance's own ids as dead. A
/// driven client has no prune step, and refreshes with its set method too (see
/// [`Write::Refresh`]): mcp-use's `expire` would leave a key that a failover lost gone for good.
pub(super) async fn heartbeat_once(inner: &Inner) -> Result<()> {
    let ids: Vec<String> = inner.local.lock().iter().cloned().collect();
    let active = inner.active_key();
    let mut writes: Vec<Write> = ids
        .iter()
        .map(|id| Write::Refresh {
            key: inner.available_key(id),
            value: "active".to_owned(),
            secs: inner.ttl_secs,
        })
        .collect();
    for chunk in ids.chunks(BATCH) {
        writes.push(Write::SAdd {
            key: active.clone(),
            members: chunk.to_vec(),
        });
    }
    if !ids.is_empty() {
        writes.push(Write::Expire {
            key: active.clone(),
            secs: inner.ttl_secs,
        });
    }
    let prune = inner.prune_step(inner.prune_cursor.lock().clone());
    let n = ids.len();
    let outcome = inner
        .conn
        .write_and_prune(writes, prune, &|| {
            format!(
                "heartbeat SET EX of {n} keys available:{}* + prune step",
                inner.prefix
            )
        })
        .await?;
    if let Some((next_cursor, removed)) = outcome {
        if removed > 0 {
            tracing::debug!(removed, prefix = %inner.prefix, "pruned dead ids from the active set");
        }
        *inner.prune_cursor.lock() = next_cursor;
    }
    Ok(())
}

/// A whole prune pass: prune steps from cursor 0 until SSCAN wraps around.
pub(super) async fn prune_once(inner: &Inner) -> Result<u64> {
    let mut cursor = "0".to_owned();
    let mut removed: u64 = 0;
    loop {
        let (next, n) = inner.conn.prune_step(inner.prune_step(cursor)).await?;
        removed += n;
        if next == "0" {
            return Ok(removed);
        }
        cursor = next;
    }
}
