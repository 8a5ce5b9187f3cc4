//! Stream controllers (`ReadableStreamDefaultController`s) as both stream managers use them.

use napi::Env;

use super::js::{self, JsError, JsRef, JsResult, Kind, Value};
use crate::stream::local::LocalStreams;

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

