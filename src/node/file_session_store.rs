//! `FileSystemSessionStore` for JS: config parsing, `flush`, and the store methods it shares
//! with the in-memory store ([`super::local_store`]) over [`FileStore`].

use std::path::PathBuf;
use std::sync::Arc;

use napi::Env;
use napi_derive::napi;

use super::js::args;
use super::js::config::read_config;
use super::js::promise;
use super::js::{self, JsError, Value};
use super::local_store;
use super::report::{FileHealthJs, FileStoreStatsJs};
use crate::store::filesystem::{FileStore, FileStoreConfig};
use crate::store::LocalStore;

/// Sessions in memory, persisted to one JSON file (mcp-use's format) so they survive a
/// restart. Saves are serialized and written off the JS thread, atomically and durably
/// (temp file with mode 0600, fsync, rename, fsync of the directory). Unsaved changes are
/// written when the process exits normally.
#[napi(js_name = "FileSystemSessionStore")]
pub struct FileSystemSessionStore {
    store: Arc<FileStore>,
}

const CLASS: &str = "FileSystemSessionStore";

#[napi]
impl FileSystemSessionStore {
    /// Loads the file synchronously, like the reference. A corrupt file is moved aside to
    /// `<path>.corrupt-<ms>`; an unreadable one throws.
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "config?: FileSystemSessionStoreConfig"
    )]
    pub fn new(env: Env, config: Option<Value>) -> napi::Result<Self> {
        super::init();
        super::js::exit::flush_file_stores_at_exit(&env);
        let config = match config {
            Some(c) => args::config(&env, c, CLASS).map_err(|e| args::throw(&env, e))?,
            None => None,
        };
        let parsed = (|| {
            let options = config.map(|c| read_config(&env, c, &[])).transpose()?;
            let cwd = std::env::current_dir().map_err(|e| {
                JsError::Error(format!(
                    "new {CLASS}: cannot read the working directory: {e}"
                ))
            })?;
            Ok::<_, JsError>(FileStoreConfig::read(options.as_ref(), &cwd, CLASS)?)
        })()
        .map_err(|e| args::throw(&env, e))?;
        let (store, _report) = FileStore::open(parsed)
            .map_err(|e| args::throw(&env, JsError::Error(format!("new {CLASS}: {e}"))))?;
        Ok(FileSystemSessionStore {
            store: Arc::new(store),
        })
    }

    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<SessionMetadata | null>"
    )]
    pub fn get(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::get(&env, &*self.store, session_id, "FileSystemSessionStore.get")
    }

    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string, data: SessionMetadata",
        ts_return_type = "Promise<void>"
    )]
    pub fn set(&self, env: Env, session_id: Value, data: Value) -> napi::Result<Value> {
        local_store::set(
            &env,
            &*self.store,
            session_id,
            data,
            "FileSystemSessionStore.set",
        )
    }

    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::delete(
            &env,
            &*self.store,
            session_id,
            "FileSystemSessionStore.delete",
        )
    }

    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        local_store::has(&env, &*self.store, session_id, "FileSystemSessionStore.has")
    }

    #[napi(catch_unwind, ts_return_type = "Promise<string[]>")]
    pub fn keys(&self, env: Env) -> napi::Result<Value> {
        local_store::keys(&env, &*self.store)
    }

    /// As the reference: stamps `lastAccessedAt` with now and removes the session after `ttlMs`.
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
            &*self.store,
            session_id,
            data,
            ttl_ms,
            "FileSystemSessionStore.setWithTTL",
        )
    }

    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.store.len() as u32
    }

    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn clear(&self, env: Env) -> napi::Result<Value> {
        local_store::clear(&env, &*self.store)
    }

    /// Resolves once every change made before the call is on disk; rejects with the disk error.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn flush(&self, env: Env) -> napi::Result<Value> {
        let store = self.store.clone();
        promise::run(&env, || {
            promise::spawn(
                &env,
                async move { store.flush().await },
                |env, result| match result {
                    Ok(()) => js::undefined(env),
                    Err(e) => Err(JsError::Error(format!("{CLASS}.flush: {e}"))),
                },
            )
        })
    }

    /// Sessions held and expired, saves and their failures, unsaved changes, save latency.
    /// Synchronous and cheap: for a probe or a scrape.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> FileStoreStatsJs {
        self.store.stats().into()
    }

    /// `ok`, or `degraded` (with the reason) when the last save failed or a newer store of
    /// this process took the file over; never `down`: it serves from memory.
    #[napi(catch_unwind)]
    pub fn health(&self) -> FileHealthJs {
        self.store.health().into()
    }

    /// Absolute path of the session file (an addition to the reference API).
    #[napi(getter, catch_unwind)]
    pub fn path(&self) -> String {
        path_string(self.store.path().to_path_buf())
    }
}

fn path_string(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}
