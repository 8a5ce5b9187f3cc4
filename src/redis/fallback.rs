//! mcp-use's rule for reads that fail: `get`, `has` and `keys` log and answer `null`, `false`
//! and `[]`, so MCPServer answers "session not found" and clients start again, while writes
//! reject. The log lines are paced ([`Outage`]): one, then one per 5 s with how many reads
//! failed meanwhile, and one when a read succeeds again.

use std::time::Duration;

use crate::diagnostics::Outage;
use crate::redis::Result;

static READS: Outage = Outage::new("Redis", Duration::from_secs(5));

/// `result`, or `fallback` (shown as `shown` in the log line) when it failed.
pub fn read_or<T>(method: &str, result: Result<T>, fallback: T, shown: &str) -> T {
    match result {
        Ok(value) => {
            READS.over();
            value
        }
        Err(error) => {
            READS.failed(method, &error, &format!("returning {shown}"));
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::{RedisError, RedisErrorKind};

    #[test]
    fn a_failed_read_answers_its_fallback() {
        let failed = || RedisError::new(RedisErrorKind::Timeout, "GET k", "slow");
        assert_eq!(read_or("get", Err(failed()), None::<String>, "null"), None);
        assert!(!read_or("has", Err(failed()), false, "false"));
        assert!(read_or("has", Ok(true), false, "false"));
    }
}
