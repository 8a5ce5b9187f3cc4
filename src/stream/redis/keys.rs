//! Key and channel names (mcp-use's layout; see the module docs of [`super`]).

use super::{Inner, BATCH};
use crate::redis::{PruneStep, Write};

impl Inner {
    pub(super) fn channel(&self, sid: &str) -> String {
        format!("{}{}", self.prefix, sid)
    }

    pub(super) fn delete_channel(&self, sid: &str) -> String {
        format!("delete:{}{}", self.prefix, sid)
    }

    pub(super) fn available_key(&self, sid: &str) -> String {
        format!("available:{}{}", self.prefix, sid)
    }

    pub(super) fn active_key(&self) -> String {
        format!("{}active", self.prefix)
    }

    pub(super) fn route_key(&self, sid: &str, request_id: &str) -> String {
        format!("{}req-route:{}:{}", self.prefix, sid, request_id)
    }

    pub(super) fn server_channel(&self, server_id: &str) -> String {
        format!("{}server:{}", self.prefix, server_id)
    }

    pub(super) fn prune_step(&self, cursor: String) -> PruneStep {
        PruneStep {
            set_key: self.active_key(),
            available_prefix: format!("available:{}", self.prefix),
            channel_prefix: self.prefix.clone(),
            restore_ttl_secs: self.ttl_secs,
            cursor,
            count: BATCH,
        }
    }

    /// The writes that say `ids` are held here: each availability key (with its expiry), the
    /// active set (kept alive), and, with per-instance liveness, this instance's set.
    pub(super) fn held_writes(&self, ids: &[String]) -> Vec<Write> {
        let mut writes: Vec<Write> = ids
            .iter()
            .map(|sid| Write::Set {
                key: self.available_key(sid),
                value: "active".to_owned(),
                expire_secs: Some(self.ttl_secs),
            })
            .collect();
        add_to_set(&mut writes, self.active_key(), ids, self.ttl_secs);
        if let Some(l) = &self.liveness {
            add_to_set(
                &mut writes,
                l.instance_set(&self.server_id),
                ids,
                l.lease_secs,
            );
        }
        writes
    }
}

/// `SADD key` of `ids` (in batches), then the set's expiry.
fn add_to_set(writes: &mut Vec<Write>, key: String, ids: &[String], secs: u64) {
    for chunk in ids.chunks(BATCH) {
        writes.push(Write::SAdd {
            key: key.clone(),
            members: chunk.to_vec(),
        });
    }
    writes.push(Write::Expire { key, secs });
}
