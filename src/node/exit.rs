//! Writing unsaved file-store changes when the process ends.
//!
//! - Normal exit (the event loop ends, or `process.exit()`): a C `atexit` hook.
//! - SIGTERM / SIGINT: a `process.on(signal)` listener that saves synchronously; if no other
//!   listener is registered for that signal, it then removes itself and re-raises the
//!   signal, so the process still dies the way it would have without the addon. With
//!   listeners of the application, they decide what happens next.
//!
//! Installed when the first `FileSystemSessionStore` is constructed.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::Once;

use napi::{sys, Env};

use super::js::{self, JsRef, JsResult, Kind, Value};

const SIGNALS: [&str; 2] = ["SIGTERM", "SIGINT"];

thread_local! {
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
    static LISTENER: RefCell<Option<JsRef>> = const { RefCell::new(None) };
}

pub fn flush_file_stores_at_exit(env: &Env) {
    static ATEXIT: Once = Once::new();
    extern "C" fn at_exit() {
        crate::store::filesystem::flush_all_blocking();
    }
    ATEXIT.call_once(|| unsafe {
        libc::atexit(at_exit);
    });
    if !INSTALLED.with(|i| i.replace(true)) {
        if let Err(e) = install_signal_listener(env) {
            tracing::warn!(error = %e.message(), "cannot install the SIGTERM/SIGINT session flush");
        }
    }
}

fn process(env: &Env) -> JsResult<Value> {
    let mut global = ptr::null_mut();
    unsafe { sys::napi_get_global(env.raw(), &mut global) };
    js::get_property(env, Value(global), "process")
}

fn install_signal_listener(env: &Env) -> JsResult<()> {
    let mut f = ptr::null_mut();
    let status = unsafe {
        sys::napi_create_function(
            env.raw(),
            c"flushSessionsOnSignal".as_ptr(),
            21,
            Some(on_signal),
            ptr::null_mut(),
            &mut f,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(js::JsError::Error(
            "cannot create the signal listener".into(),
        ));
    }
    let listener = Value(f);
    let process = process(env)?;
    for signal in SIGNALS {
        let name = js::string(env, signal)?;
        js::call_method(env, process, "on", &[name, listener])?.map_err(js::JsError::Error)?;
    }
    let listener = JsRef::new(env, listener)?;
    LISTENER.with(|l| *l.borrow_mut() = Some(listener));
    Ok(())
}

unsafe extern "C" fn on_signal(
    raw_env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // Nothing may unwind into Node from here.
    let _ = std::panic::catch_unwind(|| handle_signal(raw_env, info));
    ptr::null_mut()
}

fn handle_signal(raw_env: sys::napi_env, info: sys::napi_callback_info) {
    crate::store::filesystem::flush_all_blocking();
    let env = Env::from_raw(raw_env);
    let mut argc = 1usize;
    let mut argv = [ptr::null_mut(); 1];
    unsafe {
        sys::napi_get_cb_info(
            raw_env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if argc >= 1 {
        let _ = reraise_if_alone(&env, Value(argv[0]));
    }
}

/// With no other listener for `signal`, removes ours and re-raises it (default action).
fn reraise_if_alone(env: &Env, signal: Value) -> JsResult<()> {
    if js::kind(env, signal)? != Kind::String {
        return Ok(());
    }
    let process = process(env)?;
    let count =
        js::call_method(env, process, "listenerCount", &[signal])?.map_err(js::JsError::Error)?;
    if js::number_value(env, count)? > 1.0 {
        return Ok(());
    }
    let Some(listener) = LISTENER
        .with(|l| l.borrow().as_ref().map(|r| r.get(env)))
        .transpose()?
    else {
        return Ok(());
    };
    js::call_method(env, process, "removeListener", &[signal, listener])?
        .map_err(js::JsError::Error)?;
    let pid = js::get_property(env, process, "pid")?;
    js::call_method(env, process, "kill", &[pid, signal])?.map_err(js::JsError::Error)?;
    Ok(())
}
