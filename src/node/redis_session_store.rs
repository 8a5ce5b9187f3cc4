//! `RedisSessionStore` for JS: config, argument checks and conversion around the core
//! [`crate::store::redis::RedisSessionStore`]. As the reference: `get`/`has`/`keys` log a
//! Redis failure and resolve `null`/`false`/`[]`; `set`/`setWithTTL`/`delete`/`clear`/`close`
//! reject with an error naming Redis and the command.

use std::sync::Arc;

use napi::Env;
use napi_derive::napi;
use parking_lot::Mutex;

use super::js::args;
use super::js::config::read_config;
use super::js::promise::{self, run};
use super::js::{self, JsError, JsRef, JsResult, Value};
use super::redis::backends::{backends, quit};
use super::redis::errors::{self, unit};
use super::report::{RedisHealthJs, RedisStoreStatsJs};
use crate::metrics::connection::ConnectionMeter;
use crate::metrics::health::redis_health;
use crate::redis::fallback::read_or;
use crate::redis::ready::ready_timeout;
use crate::store::redis::{RedisSessionStore as Core, StoreOptions};

const CLASS: &str = "RedisSessionStore";

/// Session metadata in Redis under `{prefix}{sessionId}` as JSON, the keys and values of
/// mcp-use's class. `get`/`has`/`keys` log a Redis failure and resolve `null`/`false`/`[]`;
/// the other methods reject with an error naming Redis and the command.
#[napi(js_name = "RedisSessionStore", custom_finalize)]
pub struct RedisSessionStore {
    /// `None` once closed.
    core: Mutex<Option<Arc<Core>>>,
    /// The client the user passed, for `close()` to `quit()` as the reference does.
    client: Mutex<Option<JsRef>>,
    /// Whether the client's own methods are driven (rather than native connections).
    driven: bool,
    /// The connection's counters and state, kept after `close()`.
    meter: Arc<ConnectionMeter>,
}

#[napi]
impl RedisSessionStore {
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "config: RedisSessionStoreConfig"
    )]
    pub fn new(env: Env, config: Value) -> napi::Result<Self> {
        super::init();
        Self::build(&env, config).map_err(|e| args::throw(&env, e))
    }

    fn build(env: &Env, config: Value) -> JsResult<Self> {
        let Some(config) = args::config(env, config, CLASS)? else {
            return Err(JsError::Type(format!("new {CLASS}: config is required: {{ client }} (a connected node-redis or ioredis client) or {{ url }}")));
        };
        let options = read_config(env, config, &["client", "pubSubClient"])?;
        let StoreOptions {
            prefix,
            default_ttl_secs,
        } = StoreOptions::read(&options, CLASS)?;
        let backends = backends(env, config, &options, CLASS, None)?;
        let client = match js::optional_property(env, config, "client")? {
            Some(c) if js::kind(env, c)? == js::Kind::Object => Some(JsRef::new(env, c)?),
            _ => None,
        };
        let core = Core::with_backend(backends.commands, prefix, default_ttl_secs);
        Ok(RedisSessionStore {
            meter: core.meter(),
            core: Mutex::new(Some(Arc::new(core))),
            client: Mutex::new(client),
            driven: backends.driven,
        })
    }

    fn core(&self, method: &str) -> JsResult<Arc<Core>> {
        self.core
            .lock()
            .clone()
            .ok_or_else(|| JsError::Error(format!("{method}: the store is closed")))
    }

    /// For `get`/`has`/`keys` after `close()`: the reference's client fails, and these
    /// methods log and resolve their fallback.
    fn closed_fallback(
        &self,
        env: &Env,
        method: &str,
        fallback: impl FnOnce(&Env) -> JsResult<Value>,
    ) -> Option<napi::Result<Value>> {
        if self.core.lock().is_some() {
            return None;
        }
        tracing::warn!("{method}: the store is closed; returning the fallback value");
        Some(promise::settled(env, fallback(env)))
    }

    /// Resolves the metadata, or `null` when absent or when Redis fails (logged).
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<SessionMetadata | null>"
    )]
    pub fn get(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let method = "RedisSessionStore.get";
        if let Some(done) = self.closed_fallback(&env, method, js::null) {
            return done;
        }
        run(&env, || {
            let id = args::session_id(&env, session_id, method)?;
            let core = self.core(method)?;
            promise::spawn(
                &env,
                async move { core.get(&id).await },
                move |env, result| match read_or(method, result, None, "null") {
                    Some(json) => parsed_or_null(env, &json, method),
                    None => js::null(env),
                },
            )
        })
    }

    /// `SET key json EX defaultTTL`.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string, data: SessionMetadata",
        ts_return_type = "Promise<void>"
    )]
    pub fn set(&self, env: Env, session_id: Value, data: Value) -> napi::Result<Value> {
        let method = "RedisSessionStore.set";
        run(&env, || {
            let id = args::session_id(&env, session_id, method)?;
            let metadata = args::metadata(&env, data, method)?;
            let core = self.core(method)?;
            promise::spawn(
                &env,
                async move { core.set(&id, metadata.as_json()).await },
                move |env, r| unit(env, r, method),
            )
        })
    }

    /// `SET key json EX ceil(ttlMs / 1000)`.
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
        let method = "RedisSessionStore.setWithTTL";
        run(&env, || {
            let id = args::session_id(&env, session_id, method)?;
            let metadata = args::metadata(&env, data, method)?;
            let ttl = args::ttl_ms(&env, ttl_ms, method)?;
            let core = self.core(method)?;
            promise::spawn(
                &env,
                async move { core.set_with_ttl(&id, metadata.as_json(), ttl).await },
                move |env, r| unit(env, r, method),
            )
        })
    }

    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let method = "RedisSessionStore.delete";
        run(&env, || {
            let id = args::session_id(&env, session_id, method)?;
            let core = self.core(method)?;
            promise::spawn(
                &env,
                async move { core.delete(&id).await },
                move |env, r| unit(env, r, method),
            )
        })
    }

    /// `false` when absent or when Redis fails (logged).
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let method = "RedisSessionStore.has";
        if let Some(done) = self.closed_fallback(&env, method, |env| js::boolean(env, false)) {
            return done;
        }
        run(&env, || {
            let id = args::session_id(&env, session_id, method)?;
            let core = self.core(method)?;
            promise::spawn(
                &env,
                async move { core.has(&id).await },
                move |env, result| errors::bool_or_false(env, result, method),
            )
        })
    }

    /// Session ids under the prefix (prefix stripped), found with `SCAN` (never `KEYS`);
    /// `[]` when Redis fails (logged).
    #[napi(catch_unwind, ts_return_type = "Promise<string[]>")]
    pub fn keys(&self, env: Env) -> napi::Result<Value> {
        let method = "RedisSessionStore.keys";
        if let Some(done) = self.closed_fallback(&env, method, |env| js::string_array(env, &[])) {
            return done;
        }
        run(&env, || {
            let core = self.core(method)?;
            promise::spawn(
                &env,
                async move { core.keys().await },
                move |env, result| {
                    js::string_array(env, &read_or(method, result, Vec::new(), "[]"))
                },
            )
        })
    }

    /// Deletes every session under the prefix (`SCAN` + `UNLINK` in batches).
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn clear(&self, env: Env) -> napi::Result<Value> {
        let method = "RedisSessionStore.clear";
        run(&env, || {
            let core = self.core(method)?;
            promise::spawn(&env, async move { core.clear().await }, move |env, r| {
                unit(env, r, method)
            })
        })
    }

    /// `"client"` when the passed client's own methods are driven, `"native"` when the
    /// addon's own connections are used.
    #[napi(getter, catch_unwind, ts_return_type = "\"native\" | \"client\"")]
    pub fn driver(&self) -> &'static str {
        if self.driven {
            "client"
        } else {
            "native"
        }
    }

    /// Redis operations, errors, reconnects, whether the connection is up, and operation
    /// latency. Synchronous and cheap: for a probe or a scrape.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> RedisStoreStatsJs {
        self.meter.stats().into()
    }

    /// `ok` while the connection reaches Redis; `down` (with the reason) when it does not,
    /// has not yet, or the store is closed. Answers at once from what the connection last
    /// saw; after a second without any operation it also sends a PING in the background,
    /// which the next call reports.
    #[napi(catch_unwind)]
    pub fn health(&self) -> RedisHealthJs {
        match self.core.lock().clone() {
            Some(core) => core.health().into(),
            None => redis_health(self.meter.health(), None, true).into(),
        }
    }

    /// Resolves once Redis answers a PING, trying again until `timeoutMs` (default 10000);
    /// then rejects with an Error naming Redis and the cause.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { timeoutMs?: number }",
        ts_return_type = "Promise<void>"
    )]
    pub fn ready(&self, env: Env, options: Value) -> napi::Result<Value> {
        let method = "RedisSessionStore.ready";
        run(&env, || {
            let options = args::ready_options(&env, options, method)?;
            let timeout = ready_timeout(options.as_ref(), method)?;
            let core = self.core(method)?;
            promise::spawn(
                &env,
                async move { core.ready(timeout).await },
                move |env, r| unit(env, r, method),
            )
        })
    }

    /// Closes the native connection and calls the passed client's `quit()`.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Value> {
        run(&env, || {
            self.core.lock().take();
            match self.client.lock().take() {
                Some(client) => {
                    let value = client.get(&env);
                    client.release(&env);
                    // quit() of node-redis and ioredis returns a promise; anything else still
                    // gets one from us.
                    let quitted = quit(&env, value?, CLASS)?;
                    promise::settled(&env, Ok(quitted)).map_err(JsError::from)
                }
                None => promise::settled(&env, js::undefined(&env)).map_err(JsError::from),
            }
        })
    }
}

/// Stored metadata as a JS value; `null` (logged) when it is not JSON: another writer of the
/// key, as mcp-use's `get` answers when `JSON.parse` throws.
fn parsed_or_null(env: &Env, json: &str, method: &str) -> JsResult<Value> {
    js::json_parse(env, json).or_else(|e| {
        // The parse error quotes the value: metadata never goes to the log.
        let _ = e;
        tracing::warn!("{method}: stored value is not JSON; returning null");
        js::null(env)
    })
}

impl napi::bindgen_prelude::ObjectFinalize for RedisSessionStore {
    fn finalize(self, env: Env) -> napi::Result<()> {
        if let Some(client) = self.client.lock().take() {
            client.release(&env);
        }
        Ok(())
    }
}
