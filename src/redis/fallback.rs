//! mcp-use's rule for reads that fail: `get`, `has` and `keys` log and answer `null`, `false`
//! and `[]`, so MCPServer answers "session not found" and clients start again, while writes
//! reject. The log line is paced ([`Repeats`]): one, then one per 5 s with how many reads
//! failed meanwhile.

use std::time::Duration;

use crate::diagnostics::Repeats;
use crate::redis::{RedisError, Result};

static READS: Repeats = Repeats::new(Duration::from_secs(5));

/// `result`, or `fallback` (shown as `shown` in the log line) when it failed.
pub fn read_or<T>(method: &str, result: Result<T>, fallback: T, shown: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => {
            warn_read_fallback(method, &error, shown);
            fallback
        }
    }
}

/// Logs that `method` failed with `error` and answered `shown`, paced.
pub fn warn_read_fallback(method: &str, error: &RedisError, shown: &str) {
    match READS.failed() {
        Some(0) => tracing::warn!(%error, "{method} failed; returning {shown}"),
        Some(n) => {
            tracing::warn!(%error, also_failed_since_last_report = n, "{method} failed; returning {shown}")
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::RedisErrorKind;

    #[test]
    fn a_failed_read_answers_its_fallback() {
        let failed = || RedisError::new(RedisErrorKind::Timeout, "GET k", "slow");
        assert_eq!(read_or("get", Err(failed()), None::<String>, "null"), None);
        assert!(!read_or("has", Err(failed()), false, "false"));
        assert!(read_or("has", Ok(true), false, "false"));
    }
}
