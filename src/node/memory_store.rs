//! `InMemorySessionStore` for JS: argument checks and conversion around [`MemoryStore`].

use std::time::Duration;

use napi::Env;
use napi_derive::napi;

use super::args;
use super::js::{self, JsError, Value};
use crate::store::memory::MemoryStore;

#[napi(js_name = "InMemorySessionStore")]
pub struct InMemorySessionStore {
    store: MemoryStore,
}

const CLASS: &str = "InMemorySessionStore";

#[napi]
impl InMemorySessionStore {
    #[napi(constructor)]
    pub fn new() -> Self {
        super::init();
        InMemorySessionStore { store: MemoryStore::new() }
    }

    #[napi]
    pub fn get(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "InMemorySessionStore.get").and_then(|id| match self.store.get(&id) {
            Some(m) => js::json_parse(&env, m.as_json()),
            None => js::null(&env),
        });
        js::settled(&env, result)
    }

    #[napi]
    pub fn set(&self, env: Env, session_id: Value, data: Value) -> napi::Result<Value> {
        let result = (|| {
            let id = args::session_id(&env, session_id, "InMemorySessionStore.set")?;
            let metadata = args::metadata(&env, data, "InMemorySessionStore.set")?;
            self.store.set(id, metadata);
            js::undefined(&env)
        })();
        js::settled(&env, result)
    }

    #[napi]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "InMemorySessionStore.delete").and_then(|id| {
            self.store.delete(&id);
            js::undefined(&env)
        });
        js::settled(&env, result)
    }

    #[napi]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "InMemorySessionStore.has").and_then(|id| js::boolean(&env, self.store.has(&id)));
        js::settled(&env, result)
    }

    #[napi]
    pub fn keys(&self, env: Env) -> napi::Result<Value> {
        js::settled(&env, js::string_array(&env, &self.store.keys()))
    }

    #[napi(js_name = "setWithTTL")]
    pub fn set_with_ttl(&self, env: Env, session_id: Value, data: Value, ttl_ms: Value) -> napi::Result<Value> {
        let method = "InMemorySessionStore.setWithTTL";
        let result = (|| {
            let id = args::session_id(&env, session_id, method)?;
            let metadata = args::metadata(&env, data, method)?;
            let ttl = args::ttl_ms(&env, ttl_ms, method)?;
            let ttl = Duration::try_from_secs_f64(ttl / 1000.0).unwrap_or(Duration::MAX);
            self.store.set_with_ttl(id, metadata, ttl).map_err(|e| JsError::Error(format!("{CLASS}.setWithTTL: {e}")))?;
            js::undefined(&env)
        })();
        js::settled(&env, result)
    }

    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.store.len() as u32
    }

    #[napi]
    pub fn clear(&self, env: Env) -> napi::Result<Value> {
        self.store.clear();
        js::settled(&env, js::undefined(&env))
    }
}
