//! `InMemoryStreamManager` for JS: converts around the core [`MemoryStreams`], which keeps
//! the streams and what is kept for sessions with none; this file makes the writes to the
//! JS controllers and reports back the ones that failed.

use std::time::Instant;

use napi::Env;
use napi_derive::napi;
use parking_lot::Mutex;

use super::js::args;
use super::js::config::read_config;
use super::js::controller::{close_controller, controller_arg, enqueue, enqueue_checked};
use super::js::promise;
use super::js::{self, JsRef, Value};
use super::report::{MemoryHealthJs, MemoryManagerStatsJs};
use crate::pending::PendingLimits;
use crate::stream::memory::MemoryStreams;

const CLASS: &str = "InMemoryStreamManager";

/// Live SSE streams of this process, by session id. `send` encodes the payload to UTF-8
/// once and enqueues the same `Uint8Array` to each target; a controller whose `enqueue`
/// throws is dropped.
#[napi(js_name = "InMemoryStreamManager", custom_finalize)]
pub struct InMemoryStreamManager {
    core: Mutex<MemoryStreams<JsRef>>,
}

#[napi]
impl InMemoryStreamManager {
    /// `config` is optional: `{ pendingTtl = 3600, pendingMaxMessages = 1000,
    /// pendingMaxBytes = 1048576 }` (`pendingTtl: 0` keeps nothing, as mcp-use). Anything
    /// but an object is ignored, as mcp-use's constructor ignores its arguments.
    #[napi(constructor, catch_unwind, ts_args_type = "config?: PendingOptions")]
    pub fn new(env: Env, config: Value) -> napi::Result<Self> {
        super::init();
        // mcp-use's constructor takes no argument and ignores any: only an object is read.
        let config = match js::kind(&env, config) {
            Ok(js::Kind::Object) => Some(config),
            _ => None,
        };
        let limits = config
            .map(|c| read_config(&env, c, &[]))
            .transpose()
            .and_then(|options| Ok(PendingLimits::read_all(options.as_ref(), CLASS)?))
            .map_err(|e| args::throw(&env, e))?;
        Ok(InMemoryStreamManager {
            core: Mutex::new(MemoryStreams::new(limits)),
        })
    }

    /// Registers the SSE stream of a session, replacing (without closing) an earlier one.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string, controller: ReadableStreamDefaultController",
        ts_return_type = "Promise<void>"
    )]
    pub fn create(&self, env: Env, session_id: Value, controller: Value) -> napi::Result<Value> {
        let method = "InMemoryStreamManager.create";
        let result = (|| {
            let id = args::session_id(&env, session_id, method)?;
            let controller = controller_arg(&env, controller, method)?;
            let held = JsRef::new(&env, controller)?;
            let now = Instant::now();
            let opened = self.core.lock().open(&id, held, now);
            if let Some(old) = opened.replaced {
                old.release(&env);
            }
            // One JS turn: the stream is judged stuck (or not) once, before the first.
            let mut kept = opened.kept.into_iter();
            let mut first = true;
            while let Some(message) = kept.next() {
                let sent = js::uint8_array(&env, message.as_bytes())
                    .and_then(|chunk| enqueue_checked(&env, controller, chunk, first));
                first = false;
                let failed = match sent {
                    Ok(Ok(())) => continue,
                    Ok(Err(reason)) => reason,
                    Err(e) => e.message().to_string(),
                };
                tracing::debug!(session = %id, reason = %failed, "dropping the stream");
                let unsent = std::iter::once(message).chain(kept).collect();
                let dropped = self
                    .core
                    .lock()
                    .replay_failed(&id, opened.generation, unsent, now);
                if let Some(dropped) = dropped {
                    dropped.release(&env);
                }
                break;
            }
            js::undefined(&env)
        })();
        promise::settled(&env, result)
    }

    /// `undefined` broadcasts to every stream.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionIds: string[] | undefined, data: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn send(&self, env: Env, session_ids: Value, data: Value) -> napi::Result<Value> {
        let method = "InMemoryStreamManager.send";
        let result = (|| {
            let ids = args::session_ids(&env, session_ids, method)?;
            let data = args::string(&env, data, method, "data")?;
            // Resolve the controllers first and call JS without holding the lock: an
            // `enqueue` may re-enter this manager.
            let now = Instant::now();
            let targets = {
                let mut core = self.core.lock();
                core.route(ids.as_deref(), &data, now, |c| c.get(&env))
            };
            if targets.is_empty() {
                return js::undefined(&env);
            }
            let chunk = js::uint8_array(&env, data.as_bytes())?;
            for (id, generation, controller) in targets {
                if let Err(reason) = enqueue(&env, controller?, chunk)? {
                    tracing::debug!(session = %id, %reason, "dropping the stream");
                    // An enqueue may have re-entered `create` for this session: only the
                    // registration that failed is dropped.
                    let dropped = self
                        .core
                        .lock()
                        .write_failed(&id, generation, data.clone(), now);
                    if let Some(dropped) = dropped {
                        dropped.release(&env);
                    }
                }
            }
            js::undefined(&env)
        })();
        promise::settled(&env, result)
    }

    /// Closes the stream's controller (an already-closed one is ignored) and releases it.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result =
            args::session_id(&env, session_id, "InMemoryStreamManager.delete").and_then(|id| {
                let removed = self.core.lock().delete(&id);
                if let Some(controller) = removed {
                    close_controller(&env, controller);
                }
                js::undefined(&env)
            });
        promise::settled(&env, result)
    }

    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "InMemoryStreamManager.has")
            .and_then(|id| js::boolean(&env, self.core.lock().has(&id)));
        promise::settled(&env, result)
    }

    /// Closes every stream.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Value> {
        let drained = self.core.lock().close();
        for controller in drained {
            close_controller(&env, controller);
        }
        promise::settled(&env, js::undefined(&env))
    }

    /// Store-and-forward counters: messages kept because no stream took them, replayed to a
    /// stream that opened, expired, and dropped over the limits.
    #[napi(js_name = "pendingStats", catch_unwind)]
    pub fn pending_stats(&self) -> args::PendingStatsJs {
        self.core.lock().pending_stats().into()
    }

    /// Streams held, messages sent, delivered and kept, streams dropped. Synchronous and
    /// cheap: for a probe or a scrape.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> MemoryManagerStatsJs {
        self.core.lock().stats().into()
    }

    /// Always `{ status: "ok", streams }`: nothing an in-memory manager depends on can fail.
    #[napi(catch_unwind)]
    pub fn health(&self) -> MemoryHealthJs {
        MemoryHealthJs::streams(self.core.lock().len())
    }

    /// The number of streams.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.core.lock().len() as u32
    }
}

impl napi::bindgen_prelude::ObjectFinalize for InMemoryStreamManager {
    fn finalize(self, env: Env) -> napi::Result<()> {
        for controller in self.core.lock().close() {
            controller.release(&env);
        }
        Ok(())
    }
}
