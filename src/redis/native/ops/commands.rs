//! [`Commands`] on the native [`Connection`]: each operation handed to the file that knows
//! how to ask it, on one node or on a Cluster.

use super::fan_out::{scan, scan_page};
use super::{active_set, instances, journal, kept, writes};
use crate::pending::{PendingLimits, PendingStats};
use crate::redis::backend::{
    Beat, BoxFuture, Commands, Describe, HandOver, Liveness, PendingKeys, PruneOutcome, PruneStep,
    Taken, Write,
};
use crate::redis::native::conn::Connection;
use crate::redis::Result;

impl Commands for Connection {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("GET");
            cmd.arg(key);
            self.query(&cmd, || format!("GET {key}")).await
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("EXISTS");
            cmd.arg(key);
            let n: i64 = self.query(&cmd, || format!("EXISTS {key}")).await?;
            Ok(n == 1)
        })
    }

    fn scan<'a>(
        &'a self,
        cursor: &'a str,
        pattern: &'a str,
    ) -> BoxFuture<'a, Result<(String, Vec<String>)>> {
        Box::pin(async move {
            if let Some(c) = self.cluster(|| format!("SCAN MATCH {pattern}")).await? {
                return Ok(("0".to_owned(), scan(self, &c, pattern).await?));
            }
            self.query(&scan_page(cursor, pattern), || {
                format!("SCAN {cursor} MATCH {pattern}")
            })
            .await
        })
    }

    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SMEMBERS");
            cmd.arg(key);
            self.query(&cmd, || format!("SMEMBERS {key}")).await
        })
    }

    fn write<'a>(&'a self, writes: Vec<Write>, what: Describe<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(writes::write(self, writes, what))
    }

    fn write_and_prune<'a>(
        &'a self,
        writes: Vec<Write>,
        prune: PruneStep,
        what: Describe<'a>,
    ) -> BoxFuture<'a, Result<Option<PruneOutcome>>> {
        Box::pin(async move {
            writes::write_and_prune(self, writes, prune, what)
                .await
                .map(Some)
        })
    }

    fn prune_step<'a>(&'a self, prune: PruneStep) -> BoxFuture<'a, Result<PruneOutcome>> {
        Box::pin(async move { active_set::prune_step(self, &prune).await })
    }

    fn broadcast<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        message: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(active_set::broadcast(
            self,
            set_key,
            available_prefix,
            channel_prefix,
            message,
        ))
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Connection::ping(self))
    }

    fn scripts(&self) -> bool {
        true
    }

    fn beat<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_after_ms: u64,
        max_dead: usize,
    ) -> BoxFuture<'a, Result<Beat>> {
        Box::pin(instances::beat(self, keys, dead_after_ms, max_dead))
    }

    fn prune_instance<'a>(
        &'a self,
        keys: &'a Liveness,
        dead_id: &'a str,
        count: usize,
    ) -> BoxFuture<'a, Result<(u64, u64)>> {
        Box::pin(instances::prune_instance(self, keys, dead_id, count))
    }

    fn publish_or_keep<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        message: &'a str,
        limits: PendingLimits,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        Box::pin(kept::publish_or_keep(self, keys, ids, message, limits))
    }

    fn take_pending<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        limits: PendingLimits,
        announce: Option<HandOver<'a>>,
    ) -> BoxFuture<'a, Result<Vec<Taken>>> {
        Box::pin(kept::take(self, keys, ids, limits, announce))
    }

    fn requeue<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        messages: &'a [String],
        limits: PendingLimits,
        from: HandOver<'a>,
    ) -> BoxFuture<'a, Result<PendingStats>> {
        Box::pin(kept::requeue(self, keys, id, messages, limits, from))
    }

    fn mark_releasing<'a>(
        &'a self,
        keys: &'a PendingKeys,
        id: &'a str,
        server_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(kept::mark_releasing(self, keys, id, server_id))
    }

    fn mark_opening<'a>(
        &'a self,
        keys: &'a PendingKeys,
        ids: &'a [String],
        server_id: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(kept::mark_opening(self, keys, ids, server_id))
    }

    fn acknowledge<'a>(
        &'a self,
        keys: &'a PendingKeys,
        entries: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(journal::acknowledge(self, keys, entries))
    }

    fn release_unheld<'a>(
        &'a self,
        set_key: &'a str,
        available_prefix: &'a str,
        channel_prefix: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(active_set::release_unheld(
            self,
            set_key,
            available_prefix,
            channel_prefix,
            ids,
        ))
    }
}
