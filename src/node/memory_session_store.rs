//! `InMemorySessionStore` for JS, over [`MemoryStore`] (methods shared with the file store
//! in [`super::local_store`]).

use napi::Env;
use napi_derive::napi;

use super::js::Value;
use super::local_store;
use super::report::{MemoryHealthJs, MemoryStoreStatsJs};
use crate::store::memory::MemoryStore;
use crate::store::LocalStore;

/// Sessions in memory, held natively (outside the V8 heap). Lost on restart.
/// TTLs are enforced by one native timer per store; a later `set`/`setWithTTL` of the
/// same id replaces the earlier deadline, and pending TTLs never keep the process alive.
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

    /// Resolves a copy of the metadata, or `null` when the session is not present.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<SessionMetadata | null>"
    )]
    pub fn get(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::get(&env, &self.store, session_id, "InMemorySessionStore.get")
    }

    /// Stores the metadata as `JSON.stringify` would; rejects with a TypeError for a cycle or a BigInt.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string, data: SessionMetadata",
        ts_return_type = "Promise<void>"
    )]
    pub fn set(&self, env: Env, session_id: Value, data: Value) -> napi::Result<Value> {
        local_store::set(
            &env,
            &self.store,
            session_id,
            data,
            "InMemorySessionStore.set",
        )
    }

    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::delete(&env, &self.store, session_id, "InMemorySessionStore.delete")
    }

    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::has(&env, &self.store, session_id, "InMemorySessionStore.has")
    }

    #[napi(catch_unwind, ts_return_type = "Promise<string[]>")]
    pub fn keys(&self, env: Env) -> napi::Result<Value> {
        local_store::keys(&env, &self.store)
    }

    /// Stores the metadata and removes it after `ttlMs` milliseconds (finite, >= 0),
    /// replacing any earlier deadline of the id.
    #[napi(
        js_name = "setWithTTL",
        catch_unwind,
        ts_args_type = "sessionId: string, data: SessionMetadata, ttlMs: number",
        ts_return_type = "Promise<void>"
    )]
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

    /// The number of sessions.
    /// Sessions held and expired so far. Synchronous and cheap: for a probe or a scrape.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> MemoryStoreStatsJs {
        self.store.stats().into()
    }

    /// Always `{ status: "ok", sessions }`: nothing an in-memory store depends on can fail.
    #[napi(catch_unwind)]
    pub fn health(&self) -> MemoryHealthJs {
        MemoryHealthJs::sessions(self.store.len())
    }

    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.store.len() as u32
    }

    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn clear(&self, env: Env) -> napi::Result<Value> {
        local_store::clear(&env, &self.store)
    }
}
