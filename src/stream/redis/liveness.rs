//! Per-instance liveness: idle Redis work that does not grow with the number of sessions.
//!
//! mcp-use keeps each stream alive on its own: every heartbeat re-expires each session's
//! availability key (two `EXPIRE`s per stream per interval), so an idle fleet costs Redis
//! O(sessions) commands per second. Here the liveness of a stream is the liveness of the
//! instance holding it:
//!
//! * each instance beats in a registry (`{prefix}instances`, a sorted set scored by Redis'
//!   clock) twice per interval: one script, whatever the number of sessions;
//! * each instance lists its sessions in `{prefix}instance:{serverId}` (added on create,
//!   removed on delete / release / close);
//! * availability keys and the active set keep mcp-use's names and meaning (mcp-use's `has()`
//!   and broadcast read them), but expire after a long lease ([`LEASE_SECS`]) as a leak
//!   guard, refreshed once per half lease per session, not every heartbeat;
//! * when an instance's beat is older than 1.5 intervals, the next survivor to beat takes its
//!   session set apart (in pages) and removes the availability key and active-set entry of
//!   each session no live instance listens to: `has()` reports a dead instance's streams gone
//!   within two intervals of its death, as an expiring key did;
//! * an instance that finds itself missing from the registry (taken for dead after a long
//!   stall, or Redis restarted) registers its sessions again.
//!
//! When the whole fleet stops without `close()`, the first instance to start prunes the dead
//! ones; if none starts, every key expires with the lease.

use super::*;

/// Lease of the keys an instance keeps alive (a day): how long they outlive a fleet that
/// stops all at once, and half of it is how often a session's availability key is refreshed.
pub(super) const LEASE_SECS: u64 = 86_400;
/// Most dead instances handled per beat.
const MAX_DEAD: usize = 16;
/// Most pages of a dead instance's sessions pruned per beat (the rest at the next one).
const MAX_PAGES: usize = 16;
/// Intervals between two steps of the active-set prune once a pass found nothing (ten
/// minutes at the default interval).
const MAX_PRUNE_SKIP: u32 = 60;

/// Pacing of the active-set prune, which only ids of instances without per-instance
/// liveness (mcp-use's, driven clients) need (ours are cleaned up through their instance
/// sets, and any broadcast drops dead ids too): a page per interval from the start and
/// whenever a page finds dead ids; after a whole pass that found none, one page per
/// [`MAX_PRUNE_SKIP`] intervals, whatever the size of the set, so an idle fleet of ours does
/// not scan its active set for nothing.
#[derive(Debug, Default)]
pub(super) struct PrunePace {
    wait: u32,
    skip: u32,
    removed_this_pass: u64,
}

impl PrunePace {
    /// Whether a step runs this interval.
    fn due(&mut self) -> bool {
        if self.wait > 0 {
            self.wait -= 1;
            return false;
        }
        true
    }

    /// After a step: `pass_done` when the scan wrapped around.
    fn stepped(&mut self, pass_done: bool, removed: u64) {
        self.removed_this_pass += removed;
        if removed > 0 {
            self.skip = 0;
        } else if pass_done && self.removed_this_pass == 0 {
            self.skip = MAX_PRUNE_SKIP;
        }
        if pass_done {
            self.removed_this_pass = 0;
        }
        self.wait = self.skip;
    }
}

impl Inner {
    /// One beat: registry, cleanup after dead instances, due refreshes, and (once per interval)
    /// a prune step of the active set for ids whose availability key expired (mcp-use's
    /// instances' dead sessions).
    pub(super) async fn beat_once(self: &Arc<Self>, keys: &Liveness, tick: u64) -> Result<()> {
        let dead_after_ms = self.heartbeat.as_millis() as u64 * 3 / 2;
        let beat = self.conn.beat(keys, dead_after_ms, MAX_DEAD).await?;
        let was_registered = self.registered.swap(true, Ordering::AcqRel);
        if was_registered && !beat.registered {
            tracing::debug!(prefix = %self.prefix, "this instance was missing from the registry; registering its streams again");
            self.reopen_local();
        }
        for dead in beat.dead.iter().filter(|d| **d != self.server_id) {
            self.prune_dead(keys, dead).await?;
        }
        self.refresh_due_keys().await?;
        if tick.is_multiple_of(2) && self.active_prune.lock().due() {
            let step = self.prune_step(self.prune_cursor.lock().clone());
            let (next, removed) = self.conn.prune_step(step).await?;
            if removed > 0 {
                tracing::debug!(removed, prefix = %self.prefix, "pruned dead ids from the active set");
            }
            self.active_prune.lock().stepped(next == "0", removed);
            *self.prune_cursor.lock() = next;
        }
        Ok(())
    }

    async fn prune_dead(&self, keys: &Liveness, dead: &str) -> Result<()> {
        let mut removed_total = 0;
        for _ in 0..MAX_PAGES {
            let (taken, removed) = self.conn.prune_instance(keys, dead, BATCH).await?;
            removed_total += removed;
            if taken == 0 {
                break;
            }
        }
        tracing::debug!(instance = %dead, removed = removed_total, prefix = %self.prefix, "cleaned up after a dead instance");
        Ok(())
    }

    /// Refreshes the availability keys that are half a lease old (and keeps their sessions
    /// in the active set and this instance's set).
    async fn refresh_due_keys(&self) -> Result<()> {
        let now = tokio::time::Instant::now();
        let mut due = Vec::new();
        {
            let local = self.local.lock();
            let mut queue = self.refresh_due.lock();
            while queue.front().is_some_and(|(at, _)| *at <= now) {
                if let Some((_, sid)) = queue.pop_front() {
                    if local.contains(&sid) {
                        due.push(sid);
                    }
                }
            }
        }
        if due.is_empty() {
            return Ok(());
        }
        if self.liveness.is_none() {
            return Ok(());
        }
        let writes = self.held_writes(&due);
        let n = due.len();
        let result = self
            .conn
            .write(writes, &|| {
                format!("refresh of {n} keys available:{}*", self.prefix)
            })
            .await;
        // Due again in half a lease (or at the next beat, if this one failed).
        let again = if result.is_ok() {
            now + Duration::from_secs(self.ttl_secs / 2)
        } else {
            now
        };
        self.refresh_due
            .lock()
            .extend(due.into_iter().map(|sid| (again, sid)));
        result
    }

    /// Schedules the refresh of newly local sessions half a lease from now. The queue is
    /// compacted when stale entries (sessions gone meanwhile) outnumber the local ones.
    pub(super) fn schedule_refresh(&self, added: &[String]) {
        if self.liveness.is_none() || added.is_empty() {
            return;
        }
        let at = tokio::time::Instant::now() + Duration::from_secs(self.ttl_secs / 2);
        let local = self.local.lock();
        let mut queue = self.refresh_due.lock();
        queue.extend(added.iter().map(|sid| (at, sid.clone())));
        if queue.len() > 2 * local.len() + 1024 {
            let mut seen = HashSet::new();
            queue.retain(|(_, sid)| local.contains(sid) && seen.insert(sid.clone()));
        }
    }

    /// Opens every local session again (as `create` does): restores its keys and delivers
    /// what was kept for it. After a subscriber reconnect, or when this instance found
    /// itself missing from the registry.
    pub(super) fn reopen_local(self: &Arc<Self>) {
        let ids: Vec<String> = self.local.lock().iter().cloned().collect();
        for sid in ids {
            let inner = self.clone();
            tokio::spawn(async move {
                match inner.reopen_batched(&sid).await {
                    Ok(()) => inner.recovery.outage.restored("streams re-opened", 1),
                    // One that could not reach Redis is retried (`recover.rs`).
                    Err(e) => tracing::debug!(error = %e, "re-opening a stream failed"),
                }
            });
        }
    }

    /// On close: empties this instance's session set (removing the keys of sessions nobody
    /// else listens to) and leaves the registry.
    pub(super) async fn leave_registry(&self) -> Result<()> {
        let Some(keys) = &self.liveness else {
            return Ok(());
        };
        for _ in 0..MAX_PAGES * 64 {
            let (taken, _) = self
                .conn
                .prune_instance(keys, &self.server_id, BATCH)
                .await?;
            if taken == 0 {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::PrunePace;

    #[test]
    fn the_prune_slows_down_while_it_finds_nothing_and_resumes_when_it_does() {
        let mut pace = PrunePace::default();
        let mut ran = Vec::new();
        for i in 0..80 {
            if pace.due() {
                ran.push(i);
                pace.stepped(true, 0); // one-page passes that find nothing
            }
        }
        // A step, then one per MAX_PRUNE_SKIP + 1 intervals after an empty pass.
        assert_eq!(ran, vec![0, 61]);
        // A page that finds dead ids: a step every interval again.
        pace.stepped(false, 3);
        assert!(pace.due());
        pace.stepped(false, 0);
        assert!(pace.due(), "still scanning at full speed within the pass");
    }
}
