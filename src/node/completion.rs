//! Getting results from the tokio runtime back to the JS thread.
//!
//! One threadsafe function per JS thread (per Node environment) and one queue: a finished
//! future pushes a job and wakes the JS thread at most once per batch, and the JS thread
//! runs every queued job in one go (resolving promises, enqueuing pub/sub messages). The
//! threadsafe function keeps the event loop alive only while promises are outstanding,
//! so pub/sub subscriptions and idle stores never hold a process open.
//!
//! Why not `#[napi] async fn` / `Env::spawn_future` (a deferred and a threadsafe function
//! per promise): `node bench/completion.mjs` runs both on the same operations (the
//! `napi-async` feature builds the other path) and the queue is faster on every one. Median
//! of 3 rounds, 2 cores, napi-rs's time over the queue's: RedisSessionStore 20k concurrent
//! `set` 1.90x, `get` 1.27x, sequential `has` p50 1.07x; 20k concurrent
//! `RedisStreamManager.send` 1.68x; a real MCPServer on the Redis classes, tool calls
//! through the SDK client: sequential 1.15x, 8 concurrent clients 1.45x
//! (bench/results/completion.json).

// The napi-async bench variant leaves the queue's promise half unused.
#![cfg_attr(feature = "napi-async", allow(dead_code))]

use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::FutureExt;
use napi::bindgen_prelude::JsValue;
use napi::{sys, Env};
use parking_lot::Mutex;

use super::js::{self, HeldValue, JsError, JsRef, JsResult, Value};

pub type Job = Box<dyn FnOnce(&Env) + Send>;

pub struct Shared {
    /// Set once, right after creation, before any other thread sees it.
    tsfn: AtomicPtr<sys::napi_threadsafe_function__>,
    queue: Mutex<Queue>,
    scheduled: AtomicBool,
    /// Promises created and not yet settled (JS thread only, atomic for simplicity).
    outstanding: AtomicUsize,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// The environment is being torn down: the threadsafe function is released and must
    /// not be called again. Set under this lock, which `post` holds while it calls it.
    closed: bool,
}

impl Shared {
    fn tsfn(&self) -> sys::napi_threadsafe_function {
        self.tsfn.load(Ordering::Acquire)
    }
}

/// A handle background tasks use to run jobs on the JS thread.
#[derive(Clone)]
pub struct Poster(Arc<Shared>);

impl Poster {
    /// Runs `job` on the JS thread soon. Dropped if the environment is gone (a worker
    /// thread that ended, a process on its way out).
    pub fn post(&self, job: Job) {
        let mut queue = self.0.queue.lock();
        if queue.closed {
            return;
        }
        queue.jobs.push(job);
        if !self.0.scheduled.swap(true, Ordering::AcqRel) {
            // SAFETY: a threadsafe function may be called from any thread until it is
            // released; this runs under the queue lock and the queue is not closed, and
            // teardown closes it under the same lock before releasing the function.
            unsafe {
                sys::napi_call_threadsafe_function(
                    self.0.tsfn(),
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                );
            }
        }
    }
}

thread_local! {
    static POSTER: RefCell<Option<Poster>> = const { RefCell::new(None) };
}

/// The poster of the current JS thread, created on first use.
pub fn poster(env: &Env) -> JsResult<Poster> {
    if let Some(p) = POSTER.with(|p| p.borrow().clone()) {
        return Ok(p);
    }
    let name = js::string(env, "mcp-sessions-native")?.raw();
    let shared = Arc::new(Shared {
        tsfn: AtomicPtr::new(ptr::null_mut()),
        queue: Mutex::new(Queue::default()),
        scheduled: AtomicBool::new(false),
        outstanding: AtomicUsize::new(0),
    });
    let context = Arc::into_raw(shared.clone()) as *mut c_void;
    let mut tsfn = ptr::null_mut();
    // SAFETY: on the JS thread with its env; `context` is a leaked `Arc<Shared>` that
    // `finalize` takes back, and `call_js`/`finalize` match the signatures napi expects.
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            env.raw(),
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            context,
            Some(finalize),
            context,
            Some(call_js),
            &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: creation failed, so napi never took `context`: take the leaked Arc back.
        unsafe { drop(Arc::from_raw(context as *const Shared)) };
        return Err(JsError::Error(
            "mcp-sessions-native: cannot create the completion queue".into(),
        ));
    }
    shared.tsfn.store(tsfn, Ordering::Release);
    hold_event_loop(env, &shared, false);
    // Close the queue when this environment is torn down (a worker's end, the end of the
    // main event loop), before Node frees the threadsafe function.
    env.add_env_cleanup_hook(shared.clone(), close_on_teardown)?;
    let p = Poster(shared);
    POSTER.with(|slot| *slot.borrow_mut() = Some(p.clone()));
    Ok(p)
}

/// Runs `fut` on the runtime and returns a promise settled with `finish(result)` on the
/// JS thread.
#[cfg(not(feature = "napi-async"))]
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
    if poster.0.outstanding.fetch_add(1, Ordering::AcqRel) == 0 {
        hold_event_loop(env, &poster.0, true);
    }
    handle.spawn(async move {
        // A panic in the core becomes a rejected promise, never an abort or a promise that
        // stays pending forever.
        let value = AssertUnwindSafe(fut).catch_unwind().await;
        let shared = poster.0.clone();
        poster.post(Box::new(move |env| {
            let result = match value {
                Ok(value) => finish(env, value),
                Err(_) => Err(JsError::Error(
                    "mcp-sessions-native: internal error (a panic in the addon; please report it)"
                        .into(),
                )),
            };
            settle(env, deferred, result);
            if shared.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
                hold_event_loop(env, &shared, false);
            }
        }));
    });
    Ok(promise)
}

/// The alternative measured by `bench/completion.mjs` (feature `napi-async`, never shipped):
/// napi-rs's own future-to-promise path, as `#[napi] async fn` uses it (a deferred and a
/// threadsafe function per promise, the future on napi-rs's tokio runtime, given the same
/// one-worker shape as ours in [`init_napi_runtime`]).
#[cfg(feature = "napi-async")]
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

#[cfg(feature = "napi-async")]
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

/// Keeps the event loop alive (`hold`) while promises are outstanding, or lets it end.
fn hold_event_loop(env: &Env, shared: &Shared, hold: bool) {
    // SAFETY: called on the JS thread that created the threadsafe function, with its env
    // (the caller's); the function is released only when that environment is torn down.
    unsafe {
        if hold {
            sys::napi_ref_threadsafe_function(env.raw(), shared.tsfn());
        } else {
            sys::napi_unref_threadsafe_function(env.raw(), shared.tsfn());
        }
    }
}

unsafe extern "C" fn call_js(
    raw_env: sys::napi_env,
    _f: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if raw_env.is_null() || context.is_null() {
        return;
    }
    // SAFETY: `context` is the `Arc<Shared>` leaked at creation, freed only by `finalize`,
    // which napi calls after the last `call_js`.
    let shared = unsafe { &*(context as *const Shared) };
    shared.scheduled.store(false, Ordering::Release);
    let jobs = std::mem::take(&mut shared.queue.lock().jobs);
    let env = Env::from_raw(raw_env);
    for job in jobs {
        // One handle scope per job, so a large batch does not pile up handles; a panic in
        // one job must not unwind into Node.
        let mut scope = ptr::null_mut();
        // SAFETY: `raw_env` is the env napi passed to this callback, on its JS thread; the
        // scope is closed below, after the job, in the order it was opened.
        let opened =
            unsafe { sys::napi_open_handle_scope(raw_env, &mut scope) } == sys::Status::napi_ok;
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&env))).is_err() {
            tracing::error!("a completion job panicked; its promise or message is lost");
        }
        if opened {
            // SAFETY: closes the scope opened above, on the same thread and env.
            unsafe { sys::napi_close_handle_scope(raw_env, scope) };
        }
    }
}

/// Env cleanup hook: closes the queue and releases the threadsafe function for good.
fn close_on_teardown(shared: Arc<Shared>) {
    let dropped = {
        let mut queue = shared.queue.lock();
        queue.closed = true;
        std::mem::take(&mut queue.jobs)
    };
    // Pending promises of a dying environment are never settled; their jobs hold only
    // raw handles, freed with the environment.
    drop(dropped);
    // SAFETY: the queue is closed under its lock, so no thread calls the function again;
    // this is its one release, before Node frees it with the environment.
    unsafe {
        sys::napi_release_threadsafe_function(
            shared.tsfn(),
            sys::ThreadsafeFunctionReleaseMode::abort,
        )
    };
    POSTER.with(|slot| slot.borrow_mut().take());
    super::raw::forget_cached_functions();
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if !data.is_null() {
        // SAFETY: `data` is the `Arc<Shared>` leaked at creation; napi finalizes once.
        unsafe { drop(Arc::from_raw(data as *const Shared)) };
    }
    POSTER.with(|slot| slot.borrow_mut().take());
}

/// A strong reference to a JS value that any thread may hold: dropping the last clone
/// releases the reference on the JS thread (posted; dropped with the environment if that is
/// gone). Used for a driven Redis client and for values it threw.
pub struct SharedRef {
    poster: Poster,
    reference: Mutex<Option<JsRef>>,
}

impl std::fmt::Debug for SharedRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedRef")
    }
}

impl SharedRef {
    /// Holds `value` (on the JS thread of `env`).
    pub fn new(env: &Env, value: Value) -> JsResult<Arc<SharedRef>> {
        Ok(Arc::new(SharedRef {
            poster: poster(env)?,
            reference: Mutex::new(Some(JsRef::new(env, value)?)),
        }))
    }

    /// The value, on the JS thread; `None` once released.
    pub fn get(&self, env: &Env) -> JsResult<Option<Value>> {
        match self.reference.lock().as_ref() {
            Some(r) => r.get(env).map(Some),
            None => Ok(None),
        }
    }

    /// The poster of the JS thread that owns the value.
    pub fn poster(&self) -> &Poster {
        &self.poster
    }
}

impl Drop for SharedRef {
    fn drop(&mut self) {
        if let Some(r) = self.reference.get_mut().take() {
            self.poster.post(Box::new(move |env| r.release(env)));
        }
    }
}

impl HeldValue for SharedRef {
    fn held(&self, env: &Env) -> JsResult<Option<Value>> {
        self.get(env)
    }
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
    Ok((Deferred(deferred), super::raw::to_value(env, promise)?))
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
