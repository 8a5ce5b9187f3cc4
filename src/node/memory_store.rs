//! `InMemorySessionStore` for JS, over [`MemoryStore`] (methods shared with the file store
//! in [`super::local_store`]).

use napi::Env;
use napi_derive::napi;

use super::js::Value;
use super::local_store;
use crate::store::memory::MemoryStore;
use crate::store::LocalStore;

#[napi(js_name = "InMemorySessionStore")]
pub struct InMemorySessionStore {
    store: MemoryStore,
}

#[napi]
impl InMemorySessionStore {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        super::init();
        InMemorySessionStore {
            store: MemoryStore::new(),
        }
    }

    /// Resolves a copy of the metadata, or `null`.
    #[napi(catch_unwind)]
    pub fn get(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::get(&env, &self.store, session_id, "InMemorySessionStore.get")
    }

    #[napi(catch_unwind)]
    pub fn set(&self, env: Env, session_id: Value, data: Value) -> napi::Result<Value> {
        local_store::set(
            &env,
            &self.store,
            session_id,
            data,
            "InMemorySessionStore.set",
        )
    }

    #[napi(catch_unwind)]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::delete(&env, &self.store, session_id, "InMemorySessionStore.delete")
    }

    #[napi(catch_unwind)]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::has(&env, &self.store, session_id, "InMemorySessionStore.has")
    }

    #[napi(catch_unwind)]
    pub fn keys(&self, env: Env) -> napi::Result<Value> {
        local_store::keys(&env, &self.store)
    }

    /// Expires the session after `ttlMs`, replacing any earlier deadline of the id.
    #[napi(js_name = "setWithTTL", catch_unwind)]
    pub fn set_with_ttl(
        &self,
        env: Env,
        session_id: Value,
        data: Value,
        ttl_ms: Value,
    ) -> napi::Result<Value> {
        local_store::set_with_ttl(
            &env,
            &self.store,
            session_id,
            data,
            ttl_ms,
            "InMemorySessionStore.setWithTTL",
        )
    }

    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.store.len() as u32
    }

    #[napi(catch_unwind)]
    pub fn clear(&self, env: Env) -> napi::Result<Value> {
        local_store::clear(&env, &self.store)
    }
}
