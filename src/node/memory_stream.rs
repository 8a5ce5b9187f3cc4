//! `InMemoryStreamManager` for JS: holds SSE stream controllers by session id and
//! enqueues UTF-8 payloads to them.

use napi::Env;
use napi_derive::napi;
use parking_lot::Mutex;

use super::args;
use super::controllers::{close_controller, controller_arg, drop_failed, enqueue_all, resolve_targets, Registered};
use super::js::{self, Value};
use crate::stream::local::LocalStreams;

#[napi(js_name = "InMemoryStreamManager", custom_finalize)]
pub struct InMemoryStreamManager {
    streams: Mutex<LocalStreams<Registered>>,
}

#[napi]
impl InMemoryStreamManager {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        super::init();
        InMemoryStreamManager { streams: Mutex::new(LocalStreams::default()) }
    }

    /// Registers the SSE stream of a session, replacing (without closing) an earlier one.
    #[napi(catch_unwind)]
    pub fn create(&self, env: Env, session_id: Value, controller: Value) -> napi::Result<Value> {
        let method = "InMemoryStreamManager.create";
        let result = (|| {
            let id = args::session_id(&env, session_id, method)?;
            let controller = controller_arg(&env, controller, method)?;
            let r = Registered::new(&env, controller)?;
            if let Some(old) = self.streams.lock().insert(id, r) {
                old.controller.release(&env);
            }
            js::undefined(&env)
        })();
        js::settled(&env, result)
    }

    #[napi(catch_unwind)]
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
            }
            js::undefined(&env)
        })();
        js::settled(&env, result)
    }

    /// Closes and forgets the stream of a session.
    #[napi(catch_unwind)]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "InMemoryStreamManager.delete").and_then(|id| {
            let removed = self.streams.lock().remove(&id);
            if let Some(r) = removed {
                close_controller(&env, r.controller);
            }
            js::undefined(&env)
        });
        js::settled(&env, result)
    }

    #[napi(catch_unwind)]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "InMemoryStreamManager.has").and_then(|id| js::boolean(&env, self.streams.lock().contains(&id)));
        js::settled(&env, result)
    }

    /// Closes every stream.
    #[napi(catch_unwind)]
    pub fn close(&self, env: Env) -> napi::Result<Value> {
        let drained = self.streams.lock().drain();
        for (_, r) in drained {
            close_controller(&env, r.controller);
        }
        js::settled(&env, js::undefined(&env))
    }

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
