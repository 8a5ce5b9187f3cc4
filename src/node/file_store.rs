//! `FileSystemSessionStore` for JS: config parsing and conversion around [`FileStore`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::Env;
use napi_derive::napi;

use super::args;
use super::completion;
use super::js::{self, JsError, Value};
use crate::store::filesystem::{FileStore, FileStoreConfig};

#[napi(js_name = "FileSystemSessionStore")]
pub struct FileSystemSessionStore {
    store: Arc<FileStore>,
}

const CLASS: &str = "FileSystemSessionStore";

#[napi]
impl FileSystemSessionStore {
    /// Loads the file synchronously, like the reference.
    #[napi(constructor)]
    pub fn new(env: Env, config: Option<Value>) -> napi::Result<Self> {
        super::init();
        super::exit::flush_file_stores_at_exit(&env);
        let config = match config {
            Some(c) => args::config(&env, c, CLASS).map_err(|e| args::throw(&env, e))?,
            None => None,
        };
        let parsed = (|| {
            let path = args::string_field(&env, config, "path", CLASS)?;
            let debounce_ms = args::number_field(&env, config, "debounceMs", CLASS, 0.0, args::MAX_TIMER_MS)?.unwrap_or(100.0);
            let max_age_ms = args::number_field(&env, config, "maxAgeMs", CLASS, 0.0, f64::MAX)?.unwrap_or(86_400_000.0);
            let cwd = std::env::current_dir().map_err(|e| JsError::Error(format!("new {CLASS}: cannot read the working directory: {e}")))?;
            let path = match path {
                Some(p) if p.is_empty() => return Err(JsError::Type(format!("new {CLASS}: path must not be empty"))),
                Some(p) => cwd.join(p),
                None => cwd.join(".mcp-use").join("sessions.json"),
            };
            Ok(FileStoreConfig { path, debounce: Duration::from_millis(debounce_ms.ceil() as u64), max_age_ms })
        })()
        .map_err(|e| args::throw(&env, e))?;
        let (store, _report) = FileStore::open(parsed).map_err(|e| args::throw(&env, JsError::Error(format!("new {CLASS}: {e}"))))?;
        Ok(FileSystemSessionStore { store: Arc::new(store) })
    }

    #[napi]
    pub fn get(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "FileSystemSessionStore.get").and_then(|id| match self.store.get(&id) {
            Some(m) => js::json_parse(&env, m.as_json()),
            None => js::null(&env),
        });
        js::settled(&env, result)
    }

    #[napi]
    pub fn set(&self, env: Env, session_id: Value, data: Value) -> napi::Result<Value> {
        let result = (|| {
            let id = args::session_id(&env, session_id, "FileSystemSessionStore.set")?;
            let metadata = args::metadata(&env, data, "FileSystemSessionStore.set")?;
            self.store.set(id, metadata);
            js::undefined(&env)
        })();
        js::settled(&env, result)
    }

    #[napi]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "FileSystemSessionStore.delete").and_then(|id| {
            self.store.delete(&id);
            js::undefined(&env)
        });
        js::settled(&env, result)
    }

    #[napi]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "FileSystemSessionStore.has").and_then(|id| js::boolean(&env, self.store.has(&id)));
        js::settled(&env, result)
    }

    #[napi]
    pub fn keys(&self, env: Env) -> napi::Result<Value> {
        js::settled(&env, js::string_array(&env, &self.store.keys()))
    }

    #[napi(js_name = "setWithTTL")]
    pub fn set_with_ttl(&self, env: Env, session_id: Value, data: Value, ttl_ms: Value) -> napi::Result<Value> {
        let method = "FileSystemSessionStore.setWithTTL";
        let result = (|| {
            let id = args::session_id(&env, session_id, method)?;
            let metadata = args::metadata(&env, data, method)?;
            let ttl = args::ttl_ms(&env, ttl_ms, method)?;
            let ttl = Duration::try_from_secs_f64(ttl / 1000.0).unwrap_or(Duration::MAX);
            self.store.set_with_ttl(id, metadata, ttl).map_err(|e| JsError::Error(format!("{method}: {e}")))?;
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

    /// Resolves once every change made before the call is on disk.
    #[napi]
    pub fn flush(&self, env: Env) -> napi::Result<Value> {
        let store = self.store.clone();
        let promise = completion::spawn(&env, async move { store.flush().await }, |env, result| match result {
            Ok(()) => js::undefined(env),
            Err(e) => Err(JsError::Error(format!("{CLASS}.flush: {e}"))),
        });
        match promise {
            Ok(p) => Ok(p),
            Err(e) => js::settled(&env, Err(e)),
        }
    }

    /// The absolute path of the session file (an addition to the reference API).
    #[napi(getter)]
    pub fn path(&self) -> String {
        path_string(self.store.path().to_path_buf())
    }
}

fn path_string(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}
