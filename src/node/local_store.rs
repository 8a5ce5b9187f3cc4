//! The methods `InMemorySessionStore` and `FileSystemSessionStore` share, over
//! [`LocalStore`]: argument checks, then a promise settled at once (the work is
//! synchronous and in memory). `method` is the `Class.method` name errors carry.

use std::time::Duration;

use napi::Env;

use super::js::args;
use super::js::promise;
use super::js::{self, JsError, Value};
use crate::store::LocalStore;

pub fn get(
    env: &Env,
    store: &impl LocalStore,
    session_id: Value,
    method: &str,
) -> napi::Result<Value> {
    let result = args::session_id(env, session_id, method).and_then(|id| match store.get(&id) {
        Some(m) => js::json_parse(env, m.as_json()),
        None => js::null(env),
    });
    promise::settled(env, result)
}

pub fn set(
    env: &Env,
    store: &impl LocalStore,
    session_id: Value,
    data: Value,
    method: &str,
) -> napi::Result<Value> {
    let result = args::session_id(env, session_id, method).and_then(|id| {
        store.set(id, args::metadata(env, data, method)?);
        js::undefined(env)
    });
    promise::settled(env, result)
}

pub fn set_with_ttl(
    env: &Env,
    store: &impl LocalStore,
    session_id: Value,
    data: Value,
    ttl_ms: Value,
    method: &str,
) -> napi::Result<Value> {
    let result = (|| {
        let id = args::session_id(env, session_id, method)?;
        let metadata = args::metadata(env, data, method)?;
        let ttl = args::ttl_ms(env, ttl_ms, method)?;
        let ttl = Duration::try_from_secs_f64(ttl / 1000.0).unwrap_or(Duration::MAX);
        store
            .set_with_ttl(id, metadata, ttl)
            .map_err(|e| JsError::Error(format!("{method}: {e}")))?;
        js::undefined(env)
    })();
    promise::settled(env, result)
}

pub fn delete(
    env: &Env,
    store: &impl LocalStore,
    session_id: Value,
    method: &str,
) -> napi::Result<Value> {
    let result = args::session_id(env, session_id, method).and_then(|id| {
        store.delete(&id);
        js::undefined(env)
    });
    promise::settled(env, result)
}

pub fn has(
    env: &Env,
    store: &impl LocalStore,
    session_id: Value,
    method: &str,
) -> napi::Result<Value> {
    let result =
        args::session_id(env, session_id, method).and_then(|id| js::boolean(env, store.has(&id)));
    promise::settled(env, result)
}

pub fn keys(env: &Env, store: &impl LocalStore) -> napi::Result<Value> {
    promise::settled(env, js::string_array(env, &store.keys()))
}

pub fn clear(env: &Env, store: &impl LocalStore) -> napi::Result<Value> {
    store.clear();
    promise::settled(env, js::undefined(env))
}
