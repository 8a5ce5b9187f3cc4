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
use std::sync::Once;

use napi::Env;

use super::values::{self as js, JsRef, JsResult, Kind, Value};

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
    // SAFETY: `at_exit` is a plain `extern "C" fn()` that lives for the whole process, as
    // `atexit` requires; a failed registration (returns non-zero) only loses the exit save.
    ATEXIT.call_once(|| unsafe {
        libc::atexit(at_exit);
    });
    if !INSTALLED.with(|i| i.replace(true)) {
        if let Err(e) = install_signal_listener(env) {
            tracing::warn!(error = %e.message(), "cannot install the SIGTERM/SIGINT session flush");
        }
    }
}

fn install_signal_listener(env: &Env) -> JsResult<()> {
    let listener = js::function(env, "flushSessionsOnSignal", |env, args| {
        crate::store::filesystem::flush_all_blocking();
        if let Some(signal) = args.first() {
            let _ = reraise_if_alone(env, *signal);
        }
    })?;
    let process = js::global(env, "process")?;
    for signal in SIGNALS {
        let name = js::string(env, signal)?;
        js::call_method(env, process, "on", &[name, listener])?.map_err(js::JsError::Error)?;
    }
    let listener = JsRef::new(env, listener)?;
    LISTENER.with(|l| *l.borrow_mut() = Some(listener));
    Ok(())
}

/// With no other listener for `signal`, removes ours and re-raises it (default action).
fn reraise_if_alone(env: &Env, signal: Value) -> JsResult<()> {
    if js::kind(env, signal)? != Kind::String {
        return Ok(());
    }
    let process = js::global(env, "process")?;
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
