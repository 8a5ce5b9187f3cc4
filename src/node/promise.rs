//! The promise helpers every class shares: a promise settled at once, a rejected promise for
//! an error raised before the work starts, and the common Redis outcome.

use napi::bindgen_prelude::PromiseRaw;
use napi::Env;

use super::js::{self, value, JsResult, Value};
use super::redis_client;
use crate::redis::RedisError;

/// A promise already settled with `result` (a rejection with the error's JS value).
pub fn settled(env: &Env, result: JsResult<Value>) -> napi::Result<Value> {
    match result {
        Ok(v) => PromiseRaw::resolve(env, v).map(value),
        Err(e) => {
            // Could not even build the error: reject with undefined rather than not at all.
            let error = js::error_value(env, &e)
                .or_else(|_| js::undefined(env))
                .map_err(|e| napi::Error::from_reason(e.message().to_owned()))?;
            PromiseRaw::<Value>::reject(env, error).map(value)
        }
    }
}

/// Runs `f`, which returns a promise; an error before the promise exists (a bad argument,
/// a closed store) becomes a rejected one, as mcp-use's async methods reject.
pub fn run(env: &Env, f: impl FnOnce() -> JsResult<Value>) -> napi::Result<Value> {
    match f() {
        Ok(promise) => Ok(promise),
        Err(e) => settled(env, Err(e)),
    }
}

/// `undefined`, or the Redis error naming the method.
pub fn unit(env: &Env, result: Result<(), RedisError>, method: &str) -> JsResult<Value> {
    match result {
        Ok(()) => js::undefined(env),
        Err(e) => Err(redis_client::rejection(method, &e)),
    }
}
