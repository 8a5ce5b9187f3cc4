//! Getting results from the tokio runtime back to the JS thread.
//!
//! One threadsafe function per JS thread (per Node environment) and one queue: a finished
//! future pushes a job and wakes the JS thread at most once per batch, and the JS thread
//! runs every queued job in one go (resolving promises, enqueuing pub/sub messages). The
//! threadsafe function keeps the event loop alive only while promises are outstanding,
//! so pub/sub subscriptions and idle stores never hold a process open.

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

// A threadsafe function is made to be called from any thread; the rest is synchronized.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

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
            // Called under the queue lock, so teardown cannot release it in between.
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
        unsafe { drop(Arc::from_raw(context as *const Shared)) };
        return Err(JsError::Error(
            "mcp-sessions-native: cannot create the completion queue".into(),
        ));
    }
    unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn) };
    shared.tsfn.store(tsfn, Ordering::Release);
    // Close the queue when this environment is torn down (a worker's end, the end of the
    // main event loop), before Node frees the threadsafe function.
    let hook_arg = Arc::into_raw(shared.clone()) as *mut c_void;
    if unsafe { sys::napi_add_env_cleanup_hook(env.raw(), Some(close_on_teardown), hook_arg) }
        != sys::Status::napi_ok
    {
        unsafe { drop(Arc::from_raw(hook_arg as *const Shared)) };
    }
    let p = Poster(shared);
    POSTER.with(|slot| *slot.borrow_mut() = Some(p.clone()));
    Ok(p)
}

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
    if poster.0.outstanding.fetch_add(1, Ordering::AcqRel) == 0 {
        unsafe { sys::napi_ref_threadsafe_function(env.raw(), poster.0.tsfn()) };
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
                unsafe { sys::napi_unref_threadsafe_function(env.raw(), shared.tsfn()) };
            }
        }));
    });
    Ok(promise)
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
    let shared = unsafe { &*(context as *const Shared) };
    shared.scheduled.store(false, Ordering::Release);
    let jobs = std::mem::take(&mut shared.queue.lock().jobs);
    let env = Env::from_raw(raw_env);
    for job in jobs {
        // One handle scope per job, so a large batch does not pile up handles; a panic in
        // one job must not unwind into Node.
        let mut scope = ptr::null_mut();
        let opened =
            unsafe { sys::napi_open_handle_scope(raw_env, &mut scope) } == sys::Status::napi_ok;
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&env))).is_err() {
            tracing::error!("a completion job panicked; its promise or message is lost");
        }
        if opened {
            unsafe { sys::napi_close_handle_scope(raw_env, scope) };
        }
    }
}

/// Env cleanup hook: closes the queue and releases the threadsafe function for good.
unsafe extern "C" fn close_on_teardown(arg: *mut c_void) {
    let shared = unsafe { Arc::from_raw(arg as *const Shared) };
    let dropped = {
        let mut queue = shared.queue.lock();
        queue.closed = true;
        std::mem::take(&mut queue.jobs)
    };
    // Pending promises of a dying environment are never settled; their jobs hold only
    // raw handles, freed with the environment.
    drop(dropped);
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

// The raw handle is only ever used on the JS thread that created it.
unsafe impl Send for Deferred {}

fn pending(env: &Env) -> JsResult<(Deferred, Value)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
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
    unsafe {
        if ok {
            sys::napi_resolve_deferred(env.raw(), deferred.0, value.raw());
        } else {
            sys::napi_reject_deferred(env.raw(), deferred.0, value.raw());
        }
    }
}
