//! `InMemoryStreamManager` for JS: holds SSE stream controllers by session id and
//! enqueues UTF-8 payloads to them.

use napi::Env;
use napi_derive::napi;
use parking_lot::Mutex;

use super::args;
use super::js::{self, JsError, JsRef, JsResult, Kind, Value};
use crate::stream::local::LocalStreams;

#[napi(js_name = "InMemoryStreamManager", custom_finalize)]
pub struct InMemoryStreamManager {
    streams: Mutex<LocalStreams<JsRef>>,
}

/// Checks that `controller` looks like a `ReadableStreamDefaultController`.
pub fn controller_arg(env: &Env, controller: Value, method: &str) -> JsResult<Value> {
    let k = js::kind(env, controller)?;
    if k != Kind::Object {
        return Err(JsError::Type(format!("{method}: controller must be a ReadableStreamDefaultController, got {}", k.describe())));
    }
    let enqueue = js::get_property(env, controller, "enqueue")?;
    if js::kind(env, enqueue)? != Kind::Function {
        return Err(JsError::Type(format!("{method}: controller must be a ReadableStreamDefaultController (it has no enqueue method)")));
    }
    Ok(controller)
}

/// The controllers a send reaches (`None`: all), as values valid for this callback.
pub fn resolve_targets(env: &Env, streams: &LocalStreams<JsRef>, ids: Option<&[String]>) -> JsResult<Vec<(String, Value)>> {
    let targets = streams.targets(ids);
    let mut out = Vec::with_capacity(targets.len());
    for id in targets {
        if let Some(r) = streams.get(&id) {
            out.push((id, r.get(env)?));
        }
    }
    Ok(out)
}

/// Enqueues `chunk` to every controller; returns the ids whose controller threw.
pub fn enqueue_all(env: &Env, controllers: &[(String, Value)], chunk: Value) -> JsResult<Vec<String>> {
    let mut dead = Vec::new();
    for (id, controller) in controllers {
        if let Err(message) = js::call_method(env, *controller, "enqueue", &[chunk])? {
            tracing::debug!(session = %id, error = %message, "enqueue failed; dropping the stream");
            dead.push(id.clone());
        }
    }
    Ok(dead)
}

/// Closes `controller`, ignoring one that is already closed.
pub fn close_controller(env: &Env, controller: JsRef) {
    if let Ok(c) = controller.get(env) {
        let _ = js::call_method(env, c, "close", &[]);
    }
    controller.release(env);
}

#[napi]
impl InMemoryStreamManager {
    #[napi(constructor)]
    pub fn new() -> Self {
        super::init();
        InMemoryStreamManager { streams: Mutex::new(LocalStreams::default()) }
    }

    /// Registers the SSE stream of a session, replacing (without closing) an earlier one.
    #[napi]
    pub fn create(&self, env: Env, session_id: Value, controller: Value) -> napi::Result<Value> {
        let method = "InMemoryStreamManager.create";
        let result = (|| {
            let id = args::session_id(&env, session_id, method)?;
            let controller = controller_arg(&env, controller, method)?;
            let r = JsRef::new(&env, controller)?;
            if let Some(old) = self.streams.lock().insert(id, r) {
                old.release(&env);
            }
            js::undefined(&env)
        })();
        js::settled(&env, result)
    }

    #[napi]
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
            let mut streams = self.streams.lock();
            for id in dead {
                if let Some(r) = streams.remove(&id) {
                    r.release(&env);
                }
            }
            js::undefined(&env)
        })();
        js::settled(&env, result)
    }

    /// Closes and forgets the stream of a session.
    #[napi]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "InMemoryStreamManager.delete").and_then(|id| {
            let removed = self.streams.lock().remove(&id);
            if let Some(controller) = removed {
                close_controller(&env, controller);
            }
            js::undefined(&env)
        });
        js::settled(&env, result)
    }

    #[napi]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let result = args::session_id(&env, session_id, "InMemoryStreamManager.has").and_then(|id| js::boolean(&env, self.streams.lock().contains(&id)));
        js::settled(&env, result)
    }

    /// Closes every stream.
    #[napi]
    pub fn close(&self, env: Env) -> napi::Result<Value> {
        let drained = self.streams.lock().drain();
        for (_, controller) in drained {
            close_controller(&env, controller);
        }
        js::settled(&env, js::undefined(&env))
    }

    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.streams.lock().len() as u32
    }
}

impl napi::bindgen_prelude::ObjectFinalize for InMemoryStreamManager {
    fn finalize(self, env: Env) -> napi::Result<()> {
        for (_, r) in self.streams.lock().drain() {
            r.release(&env);
        }
        Ok(())
    }
}
