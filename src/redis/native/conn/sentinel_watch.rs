//! The `+switch-master` watch of a Sentinel-followed primary: a pub/sub connection to the
//! first sentinel that answers, so a failover is followed the moment it is announced instead
//! of at the next failing command.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::{AsyncConnectionConfig, PushInfo, PushKind};
use tokio::sync::mpsc::unbounded_channel;

use super::follow::Followed;
use super::link::PushSink;

/// How many times, and how far apart, a switch is followed before the next announcement or
/// a failing command is left to do it.
const FOLLOW_ATTEMPTS: usize = 20;
const FOLLOW_PAUSE: Duration = Duration::from_millis(250);

/// Whether a `+switch-master` message is about the primary `name` (its payload is
/// `<name> <old ip> <old port> <new ip> <new port>`).
fn names(push: &PushInfo, name: &str) -> bool {
    match push.data.last() {
        Some(redis::Value::BulkString(payload)) => {
            payload.split(|b| *b == b' ').next() == Some(name.as_bytes())
        }
        _ => false,
    }
}

/// Watches the sentinels' `+switch-master` announcements (a pub/sub connection to the
/// first sentinel that answers, opened again when it drops) and follows the primary at
/// once. With `sink` (a subscriber's), a move is reported there as a disconnect, so the
/// subscriber's owner pings it and it subscribes on the new primary.
pub(super) fn watch(primary: &Arc<Followed>, sink: Option<PushSink>) -> crate::redis::Result<()> {
    let weak: Weak<Followed> = Arc::downgrade(primary);
    let mut alive = primary.alive.subscribe();
    let handle = super::bounded::spawn_context()?;
    handle.spawn(async move {
        loop {
            let watched = async {
                let Some(primary) = weak.upgrade() else {
                    return;
                };
                let Some((sentinels, name)) = primary.finder.sentinels() else {
                    return;
                };
                let name = name.to_owned();
                let client = {
                    let mut sentinels = sentinels.lock().await;
                    tokio::time::timeout(primary.timeout, sentinels.async_get_sentinel_client())
                        .await
                };
                let timeout = primary.timeout;
                drop(primary);
                let Ok(Ok(client)) = client else { return };
                let (tx, mut rx) = unbounded_channel::<PushInfo>();
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_push_sender(tx);
                let Ok(Ok(mut conn)) = tokio::time::timeout(
                    timeout,
                    client.get_multiplexed_async_connection_with_config(&config),
                )
                .await
                else {
                    return;
                };
                if conn.subscribe("+switch-master").await.is_err() {
                    return;
                }
                while let Some(push) = rx.recv().await {
                    match push.kind {
                        PushKind::Disconnection => return,
                        PushKind::Message if names(&push, &name) => {
                            // The sentinels may name the new primary a moment before it
                            // accepts writes as one: ask until it does.
                            for _ in 0..FOLLOW_ATTEMPTS {
                                let Some(primary) = weak.upgrade() else {
                                    return;
                                };
                                let (seen, _) = primary.current();
                                primary.look_again();
                                if primary.follow(seen).await.is_some() {
                                    if let Some(sink) = &sink {
                                        sink(PushInfo {
                                            kind: PushKind::Disconnection,
                                            data: Vec::new(),
                                        });
                                    }
                                    break;
                                }
                                drop(primary);
                                tokio::time::sleep(FOLLOW_PAUSE).await;
                            }
                        }
                        _ => {}
                    }
                }
            };
            tokio::select! {
                _ = alive.changed() => return, // the primary is gone
                () = watched => {}
            }
            if weak.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(())
}
