//! What the classes report about themselves: counters and latencies (`stats()`), whether they
//! can serve (`health()`), and the Prometheus text of both. Plain Rust, no Node, no Redis:
//!
//! * `histogram.rs`: a lock-free latency histogram with fixed buckets;
//! * `connection.rs`: one connection's counters and up/down state, from its operations;
//! * `health.rs`: the rules that make a class `ok`, `degraded` or `down`;
//! * `prometheus.rs`: which stats key is which metric, and the text exposition writer.

pub mod connection;
pub mod health;
pub mod histogram;
pub mod prometheus;
