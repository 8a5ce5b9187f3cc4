//! `InMemoryStreamManager` for JS: holds SSE stream controllers by session id and
//! enqueues UTF-8 payloads to them. A listed send that reaches no stream (none registered,
//! or its write fails) is kept (see [`crate::pending`]) and delivered first to the next
//! stream the session opens.

use std::time::Instant;

use napi::Env;
use napi_derive::napi;
use parking_lot::Mutex;

use super::js::args;
use super::js::controller::{
    close_controller, controller_arg, drop_failed, enqueue_all, enqueue_checked, resolve_targets,
    Registered,
};
use super::js::promise;
use super::js::{self, Value};
use crate::pending::PendingQueues;
use crate::stream::local::LocalStreams;

const CLASS: &str = "InMemoryStreamManager";

/// Live SSE streams of this process, by session id. `send` encodes the payload to UTF-8
/// once and enqueues the same `Uint8Array` to each target; a controller whose `enqueue`
/// throws is dropped.
#[napi(js_name = "InMemoryStreamManager", custom_finalize)]
pub struct InMemoryStreamManager {
    streams: Mutex<LocalStreams<Registered>>,
    pending: Mutex<PendingQueues>,
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
        let limits = args::pending_limits(&env, config, CLASS).map_err(|e| args::throw(&env, e))?;
        Ok(InMemoryStreamManager {
            streams: Mutex::new(LocalStreams::default()),
            pending: Mutex::new(PendingQueues::new(limits)),
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
            let r = Registered::new(&env, controller)?;
            let generation = r.generation;
            if let Some(old) = self.streams.lock().insert(id.clone(), r) {
                old.controller.release(&env);
            }
            // What was kept for the session goes first, in order.
            let now = Instant::now();
            let kept = {
                let mut pending = self.pending.lock();
                pending.maybe_sweep(now);
                pending.take(&id, now)
            };
            // One JS turn: the stream is judged stuck (or not) once, before the first.
            let mut kept = kept.into_iter();
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
                drop_failed(&env, &mut self.streams.lock(), &id, generation);
                self.pending.lock().put_back(
                    &id,
                    std::iter::once(message).chain(kept).collect(),
                    now,
                );
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
            let controllers = {
                let streams = self.streams.lock();
                resolve_targets(&env, &streams, ids.as_deref())?
            };
            let now = Instant::now();
            if let Some(ids) = &ids {
                let mut pending = self.pending.lock();
                pending.maybe_sweep(now);
                for id in ids
                    .iter()
                    .filter(|id| !controllers.iter().any(|(c, _, _)| c == *id))
                {
                    pending.push(id, data.clone(), now);
                }
            }
            if controllers.is_empty() {
                return js::undefined(&env);
            }
            let chunk = js::uint8_array(&env, data.as_bytes())?;
            let dead = enqueue_all(&env, &controllers, chunk)?;
            // An enqueue may have re-entered `create` for a failed session: only the
            // controller that failed is dropped.
            let mut streams = self.streams.lock();
            for (id, generation) in dead {
                drop_failed(&env, &mut streams, &id, generation);
                self.pending.lock().push(&id, data.clone(), now); // in its place: nothing newer is kept yet
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
                let removed = self.streams.lock().remove(&id);
                if let Some(r) = removed {
                    close_controller(&env, r.controller);
                }
                self.pending.lock().remove(&id);
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
            .and_then(|id| js::boolean(&env, self.streams.lock().contains(&id)));
        promise::settled(&env, result)
    }

    /// Closes every stream.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Value> {
        let drained = self.streams.lock().drain();
        for (_, r) in drained {
            close_controller(&env, r.controller);
        }
        self.pending.lock().clear();
        promise::settled(&env, js::undefined(&env))
    }

    /// Store-and-forward counters: messages kept because no stream took them, replayed to a
    /// stream that opened, expired, and dropped over the limits.
    #[napi(js_name = "pendingStats", catch_unwind)]
    pub fn pending_stats(&self) -> args::PendingStatsJs {
        self.pending.lock().stats().into()
    }

    /// The number of streams.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.streams.lock().len() as u32
    }
}

impl napi::bindgen_prelude::ObjectFinalize for InMemoryStreamManager {
    fn finalize(self, env: Env) -> napi::Result<()> {
        for (_, r) in self.streams.lock().drain() {
            r.controller.release(&env);
        }
        Ok(())
    }
}
