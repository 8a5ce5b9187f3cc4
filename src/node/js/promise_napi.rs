//! The path `bench/completion.mjs` compares the completion queue with (feature
//! `napi-async`, never shipped): napi-rs's own future-to-promise path, as `#[napi] async fn`
//! uses it (a deferred and a threadsafe function per promise, the future on napi-rs's tokio
//! runtime, given the same one-worker shape as ours in [`init_napi_runtime`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use napi::Env;

use super::values::{self as js, JsError, JsResult, Value};

/// Runs `fut` on napi-rs's runtime and returns a promise settled with `finish(result)`.
pub fn spawn<T, F, R>(env: &Env, fut: F, finish: R) -> JsResult<Value>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    R: FnOnce(&Env, T) -> JsResult<Value> + Send + 'static,
{
    let promise = env.spawn_future_with_callback(
        async move { Ok::<_, napi::Error>(AssertUnwindSafe(fut).catch_unwind().await) },
        move |env, value| {
            let result = match value {
                Ok(value) => finish(env, value),
                Err(_) => Err(JsError::Error(
                    "mcp-sessions-native: internal error (a panic in the addon; please report it)"
                        .into(),
                )),
            };
            result.or_else(|e| {
                let error = js::error_value(env, &e)
                    .map_err(|e| napi::Error::from_reason(e.message().to_owned()))?;
                Err(napi::Error::from(error))
            })
        },
    )?;
    Ok(js::value(promise))
}

#[napi_derive::module_init]
fn init_napi_runtime() {
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("mcp-sessions-napi")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}
