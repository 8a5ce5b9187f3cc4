//! What to ask Redis: the [`Commands`](crate::redis::Commands) of the native
//! [`Connection`](super::conn::Connection), on one node or on a Cluster. Imports `conn/`,
//! never the reverse.
//!
//! * `commands.rs`: the trait, each operation handed to the file that knows how to ask it;
//! * `writes.rs`: batches of writes (a pipeline, or single-slot commands on a Cluster);
//! * `active_set.rs`: broadcast, prune and release over mcp-use's active set;
//! * `instances.rs`: the registry of live instances and the clean-up after dead ones;
//! * `kept.rs`: store-and-forward (publish or keep, take, put back);
//! * `journal.rs`: what a subscriber was counted for, until an instance acknowledges it;
//! * `event_log.rs`: the event bus's log (append and announce, read after an id);
//! * `fan_out.rs`: asking a Cluster (commands issued together, questions for every node).
//!
//! Each scripted feature is one file holding its Lua and both topologies.

mod active_set;
mod commands;
mod event_log;
mod fan_out;
mod instances;
mod journal;
mod kept;
mod writes;
