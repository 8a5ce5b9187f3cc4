//! Promises: a future on the runtime as a promise settled on the JS thread through the
//! completion queue ([`spawn`]), a promise settled at once, and a rejected promise for an
//! error raised before the work starts.

use napi::bindgen_prelude::PromiseRaw;
use napi::Env;

use super::values::{self as js, value, JsResult, Value};

#[cfg(feature = "napi-async")]
pub use super::promise_napi::spawn;
#[cfg(not(feature = "napi-async"))]
pub use queued::spawn;

/// A promise already settled with `result` (a rejection with the error's JS value).
pub fn settled(env: &Env, result: JsResult<Value>) -> napi::Result<Value> {
    match result {
        Ok(v) => PromiseRaw::resolve(env, v).map(value),
        Err(e) => {
            // Could not even build the error: reject with undefined rather than not at all.
            let error = js::error_value(env, &e)
                .or_else(|_| js::undefined(env))
                .map_err(|e| napi::Error::from_reason(e.message().to_owned()))?;
            PromiseRaw::<Value>::reject(env, error).map(value)
        }
    }
}

/// Runs `f`, which returns a promise; an error before the promise exists (a bad argument,
/// a closed store) becomes a rejected one, as mcp-use's async methods reject.
pub fn run(env: &Env, f: impl FnOnce() -> JsResult<Value>) -> napi::Result<Value> {
    match f() {
        Ok(promise) => Ok(promise),
        Err(e) => settled(env, Err(e)),
    }
}

/// The completion queue's path from a future to a promise.
#[cfg(not(feature = "napi-async"))]
mod queued {
    use std::future::Future;
    use std::panic::AssertUnwindSafe;
    use std::ptr;

    use futures_util::FutureExt;
    use napi::bindgen_prelude::JsValue;
    use napi::{sys, Env};

    use super::super::queue::poster;
    use super::super::values::{self as js, JsError, JsResult, Value};

    /// Runs `fut` on the runtime and returns a promise settled with `finish(result)` on the
    /// JS thread.
    pub fn spawn<T, F, R>(env: &Env, fut: F, finish: R) -> JsResult<Value>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
        R: FnOnce(&Env, T) -> JsResult<Value> + Send + 'static,
    {
        let handle = crate::runtime::handle()
            .map_err(|e| JsError::Error(format!("mcp-sessions-native: {e}")))?;
        let poster = poster(env)?;
        let (deferred, promise) = pending(env)?;
        poster.promise_started(env);
        handle.spawn(async move {
            // A panic in the core becomes a rejected promise, never an abort or a promise that
            // stays pending forever.
            let value = AssertUnwindSafe(fut).catch_unwind().await;
            let settled = poster.clone();
            poster.post(Box::new(move |env| {
                let result = match value {
                    Ok(value) => finish(env, value),
                    Err(_) => Err(JsError::Error(
                        "mcp-sessions-native: internal error (a panic in the addon; please report it)"
                            .into(),
                    )),
                };
                settle(env, deferred, result);
                settled.promise_settled(env);
            }));
        });
        Ok(promise)
    }

    /// A pending promise: resolve it later, on this JS thread, with [`settle`].
    struct Deferred(sys::napi_deferred);

    // SAFETY: the raw handle is only sent along with its job and used on the JS thread that
    // created it (the job runs there).
    unsafe impl Send for Deferred {}

    fn pending(env: &Env) -> JsResult<(Deferred, Value)> {
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        // SAFETY: on the JS thread with its env; both out pointers are valid locals.
        let status = unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) };
        if status != sys::Status::napi_ok {
            return Err(JsError::Error(
                "mcp-sessions-native: cannot create a promise".into(),
            ));
        }
        Ok((
            Deferred(deferred),
            super::super::raw::to_value(env, promise)?,
        ))
    }

    fn settle(env: &Env, deferred: Deferred, result: JsResult<Value>) {
        let (ok, value) = match result {
            Ok(v) => (true, Ok(v)),
            Err(e) => (false, js::error_value(env, &e)),
        };
        let value = match value.or_else(|_| js::undefined(env)) {
            Ok(v) => v,
            Err(_) => return,
        };
        // SAFETY: on the JS thread that created `deferred`, which napi frees on this one use.
        unsafe {
            if ok {
                sys::napi_resolve_deferred(env.raw(), deferred.0, value.raw());
            } else {
                sys::napi_reject_deferred(env.raw(), deferred.0, value.raw());
            }
        }
    }
}
