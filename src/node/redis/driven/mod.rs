//! The second backend of the Redis classes: an object the user passed that honours
//! mcp-use's `RedisClient` contract (an in-memory fake, a wrapper around another Redis
//! service, an instrumented client), driven from the core.
//!
//! The core runs on the tokio runtime; the object lives on the JS thread. Each batch of
//! operations is posted to the JS thread as one job, which calls the object's methods (all
//! of them at once, in order, like a pipeline), and the results travel back when their
//! promises settle. The methods are probed on every call, as mcp-use does:
//!
//! * a write with an expiry: `setEx(key, secs, value)`, else `setex(key, secs, value)`,
//!   else `set(key, value, { EX: secs })`;
//! * `expire`, `sAdd`, `sRem` are used when present and skipped otherwise;
//! * `sMembers` absent: the core falls back to `keys` for a broadcast;
//! * `publish`, `subscribe`, `unsubscribe`, `get`, `del`, `exists`, `keys` absent: the
//!   operation fails with [`RedisErrorKind::Unsupported`] before anything is called.
//!
//! A subscription passes `subscribe(channel, listener)` a listener of its own per channel;
//! what the listener receives (a string, or a `Buffer` / typed array) reaches the stream as
//! its UTF-8 bytes. A value the object throws or rejects with travels back as the error's
//! cause, so the bindings re-throw that very value. Nothing here knows the redis crate.
//!
//! Files, from the bottom up: `call.rs` names the operations, their calls and replies;
//! `cluster.rs` recognises a Cluster client (node-redis `createCluster`, ioredis `Cluster`) and
//! plans reaching each of its primaries, whose `keys` the store needs; `plan.rs` turns an
//! operation into the method call the object offers (a multi-key `del` on a Cluster client
//! split by hash slot, [`crate::redis::slot`]); `batch.rs` makes a batch's calls on the JS
//! thread and collects what they settle to; `object.rs` posts a batch there and waits for it
//! with a time limit; `commands.rs` / `pubsub.rs` are the two traits on top.

mod batch;
mod call;
mod cluster;
mod commands;
mod object;
mod plan;
mod pubsub;

pub use commands::ClientCommands;
pub use pubsub::ClientPubSub;
