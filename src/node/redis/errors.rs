//! How a Redis outcome reaches JS: `undefined` or the error a write rejects with (the very
//! value a driven client threw, when it threw), the fallback a read returns, and its
//! rate-limited warning.

use std::sync::Arc;
use std::time::Duration;

use napi::Env;

use crate::node::js::shared_ref::SharedRef;
use crate::node::js::{self, JsError, JsResult, Value};
use crate::redis::RedisError;

/// The JS error for a failed write: the very value a driven client threw or rejected with
/// (as mcp-use re-throws it), else an Error naming the method, Redis and the command.
pub fn rejection(method: &str, e: &crate::redis::RedisError) -> JsError {
    if let Some(thrown) = e
        .cause()
        .and_then(|c| Arc::downcast::<SharedRef>(c.clone()).ok())
    {
        return JsError::Thrown(thrown, format!("{method}: {e}"));
    }
    JsError::Error(format!("{method}: {e}"))
}

/// `undefined`, or the Redis error naming the method.
pub fn unit(env: &Env, result: Result<(), RedisError>, method: &str) -> JsResult<Value> {
    match result {
        Ok(()) => js::undefined(env),
        Err(e) => Err(rejection(method, &e)),
    }
}

/// The result of a Redis existence check as JS: the boolean, or `false` (logged) on failure,
/// as the reference's `has` does.
pub fn bool_or_false(
    env: &Env,
    result: Result<bool, crate::redis::RedisError>,
    method: &str,
) -> JsResult<Value> {
    match result {
        Ok(b) => js::boolean(env, b),
        Err(e) => {
            warn_read_fallback(method, &e, "false");
            js::boolean(env, false)
        }
    }
}

/// Logs a read that failed and fell back (`get` → null, `has` → false, `keys` → []), at most
/// one line per 5 s per process, with the number of failures it stands for, so an outage
/// does not flood the log.
pub fn warn_read_fallback(method: &str, error: &crate::redis::RedisError, fallback: &str) {
    use parking_lot::Mutex;
    use std::time::Instant;
    static LAST: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
    let mut last = LAST.lock();
    match &mut *last {
        Some((at, suppressed)) if at.elapsed() < Duration::from_secs(5) => *suppressed += 1,
        _ => {
            let suppressed = last.map(|(_, n)| n).unwrap_or(0);
            *last = Some((Instant::now(), 0));
            if suppressed > 0 {
                tracing::warn!(%error, also_failed_since_last_report = suppressed, "{method} failed; returning {fallback}");
            } else {
                tracing::warn!(%error, "{method} failed; returning {fallback}");
            }
        }
    }
}
