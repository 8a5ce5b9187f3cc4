//! The `+switch-master` watch of a Sentinel-followed primary: a pub/sub connection to the
//! first sentinel that answers, so a failover is followed the moment it is announced instead
//! of at the next failing command.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use redis::{AsyncConnectionConfig, PushInfo, PushKind};
use tokio::sync::mpsc::unbounded_channel;

use super::follow::{Followed, LOOKUP_GAP};
use super::link::PushSink;

/// Watches the sentinels' `+switch-master` announcements (a pub/sub connection to the
/// first sentinel that answers, opened again when it drops) and follows the primary at
/// once. With `sink` (a subscriber's), a move is reported there as a disconnect, so the
/// subscriber's owner pings it and it subscribes on the new primary.
pub(super) fn watch(primary: &Arc<Followed>, sink: Option<PushSink>) -> crate::redis::Result<()> {
    let weak: Weak<Followed> = Arc::downgrade(primary);
    let mut alive = primary.alive.subscribe();
    let handle = super::connection::spawn_context()?;
    handle.spawn(async move {
        loop {
            let watched = async {
                let Some(primary) = weak.upgrade() else {
                    return;
                };
                let Some(sentinels) = primary.finder.sentinels() else {
                    return;
                };
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
                        PushKind::Message => {
                            let Some(primary) = weak.upgrade() else {
                                return;
                            };
                            let (seen, _) = primary.current();
                            primary.current.lock().looked_up = Instant::now() - LOOKUP_GAP;
                            if primary.follow(seen).await.is_some() {
                                if let Some(sink) = &sink {
                                    sink(PushInfo {
                                        kind: PushKind::Disconnection,
                                        data: Vec::new(),
                                    });
                                }
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
