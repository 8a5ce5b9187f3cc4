//! What the two Redis classes share: which backends a config gets (`driver.rs`: native
//! connections from `{ url }`, `{ nodes }`, `{ sentinels }` or a client's options, or the
//! client objects driven through their own methods), the options read into typed settings
//! (`client_options.rs`, `deployment_options.rs`), how outcomes reach JS (`errors.rs`), the
//! driven-client implementation (`driven/`), and what reaches a `RedisStreamManager` from Redis
//! on the JS thread (`inbound.rs`).

mod client_options;
mod deployment_options;
pub mod driven;
pub mod driver;
pub mod errors;
pub mod inbound;
