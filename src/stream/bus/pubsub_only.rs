//! [`EventLog`] over a backend that has no server-side scripts (a user's client object driven
//! through its own methods): each event is only `publish`ed. There is no log, so nothing is
//! retained: an event published while Redis is unreachable still waits in the outbox, but one
//! published while another process's subscriber is away is lost for that process (counted as
//! `lost` when its next event from the same publisher arrives). The bus says so in its stats,
//! its health and one warning at construction.

use std::sync::Arc;

use super::wire;
use crate::redis::backend::{unsupported, BoxFuture};
use crate::redis::event_log::{Entry, EntryId, EventLog, LogNames, Outgoing, Retention};
use crate::redis::{Commands, Result, Write};

/// See the module docs.
pub struct PubSubOnly(pub Arc<dyn Commands>);

impl EventLog for PubSubOnly {
    fn append<'a>(
        &'a self,
        names: &'a LogNames,
        _retention: Retention,
        origin: &'a str,
        events: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let writes = events
                .iter()
                .map(|e| Write::Publish {
                    channel: names.channel.clone(),
                    message: wire::message(origin, e.seq, &e.event),
                })
                .collect();
            let what = || format!("PUBLISH {}", names.channel);
            self.0.write(writes, &what).await
        })
    }

    fn read_after<'a>(
        &'a self,
        names: &'a LogNames,
        _after: EntryId,
        _count: usize,
    ) -> BoxFuture<'a, Result<Vec<Entry>>> {
        Box::pin(async move {
            Err(unsupported(
                format!("XRANGE {}", names.log),
                "server-side log",
            ))
        })
    }

    fn last_id<'a>(&'a self, names: &'a LogNames) -> BoxFuture<'a, Result<Option<EntryId>>> {
        Box::pin(async move {
            Err(unsupported(
                format!("XREVRANGE {}", names.log),
                "server-side log",
            ))
        })
    }

    fn now_ms(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move { Err(unsupported("TIME", "server-side log")) })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        self.0.ping()
    }

    fn retains(&self) -> bool {
        false
    }

    fn describe(&self) -> &'static str {
        "pub/sub only"
    }
}
