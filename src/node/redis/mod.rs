//! What the two Redis classes share: the backends a config asks for (`backends.rs`: native
//! connections, or the client objects driven through their own methods), how outcomes reach
//! JS (`errors.rs`), the driven-client implementation (`driven/`), and what reaches a
//! `RedisStreamManager` from Redis on the JS thread (`inbound.rs`).

pub mod backends;
pub mod driven;
pub mod errors;
pub mod inbound;
