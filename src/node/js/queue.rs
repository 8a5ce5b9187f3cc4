//! Getting work from the tokio runtime back to the JS thread: one threadsafe function per JS
//! thread (per Node environment) and one queue. A background task posts a job; the JS thread
//! is woken at most once per batch and runs every queued job in one go (settling promises,
//! enqueuing pub/sub messages). The threadsafe function keeps the event loop alive only while
//! promises are outstanding ([`Poster::promise_started`]), so pub/sub subscriptions and idle
//! stores never hold a process open.
//!
//! Why not `#[napi] async fn` / `Env::spawn_future` (a deferred and a threadsafe function
//! per promise): `node bench/completion.mjs` runs both on the same operations (the
//! `napi-async` feature builds the other path, `promise_napi.rs`) and the queue is faster on
//! every one. Median of 3 rounds, 2 cores, napi-rs's time over the queue's:
//! RedisSessionStore 20k concurrent `set` 1.90x, `get` 1.27x, sequential `has` p50 1.07x; 20k
//! concurrent `RedisStreamManager.send` 1.68x; a real MCPServer on the Redis classes, tool
//! calls through the SDK client: sequential 1.15x, 8 concurrent clients 1.45x
//! (bench/results/completion.json).

use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::AssertUnwindSafe;
use std::ptr;
#[cfg(not(feature = "napi-async"))]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::JsValue;
use napi::{sys, Env};
use parking_lot::Mutex;

use super::values::{self as js, JsError, JsResult};

pub type Job = Box<dyn FnOnce(&Env) + Send>;

pub struct Shared {
    /// Set once, right after creation, before any other thread sees it.
    tsfn: AtomicPtr<sys::napi_threadsafe_function__>,
    queue: Mutex<Queue>,
    scheduled: AtomicBool,
    /// Promises created and not yet settled (JS thread only, atomic for simplicity).
    #[cfg(not(feature = "napi-async"))]
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

#[cfg(not(feature = "napi-async"))]
impl Poster {
    /// A promise of this queue was created: the event loop stays alive until it settles.
    pub fn promise_started(&self, env: &Env) {
        if self.0.outstanding.fetch_add(1, Ordering::AcqRel) == 0 {
            hold_event_loop(env, &self.0, true);
        }
    }

    /// A promise of this queue settled (on the JS thread).
    pub fn promise_settled(&self, env: &Env) {
        if self.0.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            hold_event_loop(env, &self.0, false);
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
        #[cfg(not(feature = "napi-async"))]
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
