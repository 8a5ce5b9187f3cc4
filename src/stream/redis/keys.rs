//! Key and channel names (mcp-use's layout; see the module docs of [`super`]).

use super::{Inner, BATCH};
use crate::redis::PruneStep;

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
}
