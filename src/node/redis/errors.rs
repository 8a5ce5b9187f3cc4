//! How a Redis outcome reaches JS: `undefined` or the error a write rejects with (the very
//! value a driven client threw, when it threw), or a read's fallback
//! ([`crate::redis::fallback`]).

use std::sync::Arc;

use napi::Env;

use crate::node::js::shared_ref::SharedRef;
use crate::node::js::{self, JsError, JsResult, Value};
use crate::redis::fallback::read_or;
use crate::redis::RedisError;

/// The JS error for a failed write: the very value a driven client threw or rejected with
/// (as mcp-use re-throws it), else an Error naming the method, Redis and the command.
pub fn rejection(method: &str, e: &RedisError) -> JsError {
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
pub fn bool_or_false(env: &Env, result: Result<bool, RedisError>, method: &str) -> JsResult<Value> {
    js::boolean(env, read_or(method, result, false, "false"))
}
