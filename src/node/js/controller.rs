//! Stream controllers (`ReadableStreamDefaultController`s) as both stream managers use them.

use std::sync::atomic::{AtomicU64, Ordering};

use napi::Env;

use super::values::{self as js, JsError, JsRef, JsResult, Kind, Value};
use crate::stream::local::LocalStreams;

/// A registered controller and the registration it came from. A stream is dropped by the
/// registration that failed, never by id alone: a reconnecting client may have registered a
/// new controller for the same session in the meantime.
pub struct Registered {
    pub generation: u64,
    pub controller: JsRef,
}

static GENERATION: AtomicU64 = AtomicU64::new(0);

impl Registered {
    pub fn new(env: &Env, controller: Value) -> JsResult<Self> {
        Ok(Registered {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            controller: JsRef::new(env, controller)?,
        })
    }
}

/// Checks that `controller` looks like a `ReadableStreamDefaultController`.
pub fn controller_arg(env: &Env, controller: Value, method: &str) -> JsResult<Value> {
    let k = js::kind(env, controller)?;
    if k != Kind::Object {
        return Err(JsError::Type(format!(
            "{method}: controller must be a ReadableStreamDefaultController, got {}",
            k.describe()
        )));
    }
    let enqueue = js::get_property(env, controller, "enqueue")?;
    if js::kind(env, enqueue)? != Kind::Function {
        return Err(JsError::Type(format!("{method}: controller must be a ReadableStreamDefaultController (it has no enqueue method)")));
    }
    Ok(controller)
}

/// Chunks a stream may hold unread before it counts as stuck (its client stopped reading).
///
/// Slow-consumer policy: a `ReadableStream` cannot drop its oldest chunks, so a stream
/// whose queue reaches this many chunks (`desiredSize <= -MAX_BACKLOG` with the default
/// high-water mark of 1) is errored — which discards its backlog at once and ends the
/// client's SSE response, so the client reconnects — and dropped from the manager. Memory
/// per stream is therefore bounded by about `MAX_BACKLOG` messages.
pub const MAX_BACKLOG: f64 = 1024.0;

/// Enqueues `chunk` unless the stream is stuck. `Err(reason)` when the stream is to be
/// dropped: its `enqueue` threw (closed or errored), or its backlog hit [`MAX_BACKLOG`].
pub fn enqueue(env: &Env, controller: Value, chunk: Value) -> JsResult<Result<(), String>> {
    enqueue_checked(env, controller, chunk, true)
}

/// [`enqueue`], with the stuck check only when `check_backlog`. A delivery judges a stream
/// once, before its first chunk: what one JS turn enqueues (a replay of kept messages, a
/// burst) cannot have been read yet, and is bounded by its source.
pub fn enqueue_checked(
    env: &Env,
    controller: Value,
    chunk: Value,
    check_backlog: bool,
) -> JsResult<Result<(), String>> {
    if check_backlog {
        if let Some(reason) = stuck(env, controller)? {
            return Ok(Err(reason));
        }
    }
    Ok(js::call_method(env, controller, "enqueue", &[chunk])?.map(|_| ()))
}

/// Errors the stream if its client left [`MAX_BACKLOG`] chunks unread; returns why.
fn stuck(env: &Env, controller: Value) -> JsResult<Option<String>> {
    let desired = js::get_property(env, controller, "desiredSize")?;
    if js::kind(env, desired)? == Kind::Number && js::number_value(env, desired)? <= -MAX_BACKLOG {
        let reason =
            format!("the client did not read {MAX_BACKLOG} queued messages; closing its stream");
        let error = js::error_value(
            env,
            &JsError::Error(format!("mcp-sessions-native: {reason}")),
        )?;
        let _ = js::call_method(env, controller, "error", &[error])?;
        return Ok(Some(reason));
    }
    Ok(None)
}

/// Forgets the stream of `id` if it is still registration `generation`; returns whether it
/// was. The controller is released, not closed (it already failed).
pub fn drop_failed(
    env: &Env,
    streams: &mut LocalStreams<Registered>,
    id: &str,
    generation: u64,
) -> bool {
    match streams.remove_if(id, |r| r.generation == generation) {
        Some(r) => {
            r.controller.release(env);
            true
        }
        None => false,
    }
}

/// Closes `controller`, ignoring one that is already closed.
pub fn close_controller(env: &Env, controller: JsRef) {
    if let Ok(c) = controller.get(env) {
        let _ = js::call_method(env, c, "close", &[]);
    }
    controller.release(env);
}
