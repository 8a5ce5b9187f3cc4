//! The listeners of a `RedisServerEventBus`, on the JS thread: registration with the SDK's
//! `InMemoryServerEventBus` semantics, and dispatch of one event to all of them.
//!
//! * A function subscribed twice is registered once (the SDK keeps a `Set`); every returned
//!   unsubscribe is idempotent on its own, and any of them removes the registration.
//! * Dispatch visits listeners in subscription order, re-reading the registry between calls,
//!   so a listener removed mid-dispatch is not called and one added mid-dispatch is (as
//!   iterating a live `Set` does). The registry lock is never held across a JS call: a
//!   listener may subscribe or unsubscribe.
//! * A listener that throws does not stop the others: the error goes to `onerror` (the SDK's
//!   constructor argument, here `config.onerror`) and is counted.
//! * No echo: a listener that publishes from inside its own call is not called again for that
//!   event (nor is any listener whose call is still on the stack), which is what the SDK's
//!   contract asks ("MUST NOT echo back to the listener that published an event when called
//!   from inside that listener") and keeps a listener from recursing into itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use napi::bindgen_prelude::{FromNapiValue, Function, JsValue, Unknown};
use napi::Env;
use parking_lot::Mutex;

use super::values::{self as js, JsError, JsRef, JsResult, Kind, Value};

/// The registry (see the module docs). Shared with the delivery jobs of the completion queue;
/// its JS references are only touched on the JS thread.
#[derive(Default)]
pub struct Registry {
    next_id: u64,
    /// Listeners by registration id, in subscription order.
    by_id: BTreeMap<u64, JsRef>,
    /// `Map<listener, id>`: finds a function already registered.
    index: Option<JsRef>,
    /// Registration ids whose call is on the stack (no echo).
    dispatching: Vec<u64>,
    /// `config.onerror`.
    onerror: Option<JsRef>,
}

pub type Listeners = Arc<Mutex<Registry>>;

/// A new registry; `onerror` receives what a listener throws.
pub fn listeners(env: &Env, onerror: Option<Value>) -> JsResult<Listeners> {
    let map: Function<(), Unknown> = Function::from_unknown(js::global(env, "Map")?)?;
    let index = js::value(map.new_instance(())?);
    Ok(Arc::new(Mutex::new(Registry {
        index: Some(JsRef::new(env, index)?),
        onerror: onerror.map(|f| JsRef::new(env, f)).transpose()?,
        ..Registry::default()
    })))
}

fn index(env: &Env, listeners: &Listeners) -> JsResult<Value> {
    match &listeners.lock().index {
        Some(r) => r.get(env),
        None => Err(JsError::Error("the bus's listeners are released".into())),
    }
}

/// Registers `listener` (a function), once however often it is added; returns its
/// registration id.
pub fn add(env: &Env, listeners: &Listeners, listener: Value) -> JsResult<u64> {
    let map = index(env, listeners)?;
    let known = js::call_method(env, map, "get", &[listener])?
        .map_err(|m| JsError::Error(format!("Map.get threw: {m}")))?;
    if js::kind(env, known)? == Kind::Number {
        return Ok(js::number_value(env, known)? as u64);
    }
    let id = {
        let mut r = listeners.lock();
        r.next_id += 1;
        let id = r.next_id;
        r.by_id.insert(id, JsRef::new(env, listener)?);
        id
    };
    js::call_method(env, map, "set", &[listener, js::number(env, id as f64)?])?
        .map_err(|m| JsError::Error(format!("Map.set threw: {m}")))?;
    Ok(id)
}

/// Removes `listener`'s registration, whichever `subscribe` made it: as the SDK's
/// `Set.delete(listener)`, an unsubscribe function removes the function, also when it was
/// subscribed again since.
pub fn remove(env: &Env, listeners: &Listeners, listener: Value) -> JsResult<()> {
    let map = index(env, listeners)?;
    let known = js::call_method(env, map, "get", &[listener])?
        .map_err(|m| JsError::Error(format!("Map.get threw: {m}")))?;
    if js::kind(env, known)? != Kind::Number {
        return Ok(());
    }
    let id = js::number_value(env, known)? as u64;
    let removed = listeners.lock().by_id.remove(&id);
    if let Some(r) = removed {
        r.release(env);
    }
    let _ = js::call_method(env, map, "delete", &[listener])?;
    Ok(())
}

/// How many listeners are registered.
pub fn count(listeners: &Listeners) -> usize {
    listeners.lock().by_id.len()
}

/// What one dispatch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dispatched {
    pub calls: u64,
    pub errors: u64,
}

/// Calls every listener with `event` (see the module docs).
pub fn dispatch(env: &Env, listeners: &Listeners, event: Value) -> Dispatched {
    let mut done = Dispatched::default();
    let mut after = 0u64;
    loop {
        let next = {
            let r = listeners.lock();
            let mut found = None;
            for (id, f) in r.by_id.range(after + 1..) {
                if r.dispatching.contains(id) {
                    continue;
                }
                found = Some((*id, f.get(env)));
                break;
            }
            found
        };
        let Some((id, f)) = next else {
            return done;
        };
        after = id;
        let Ok(f) = f else { continue };
        listeners.lock().dispatching.push(id);
        let this = js::undefined(env);
        let outcome = this.and_then(|this| js::call_catching(env, this, f, &[event]));
        listeners.lock().dispatching.retain(|d| *d != id);
        done.calls += 1;
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(thrown)) => {
                done.errors += 1;
                report(env, listeners, thrown);
            }
            Err(e) => {
                done.errors += 1;
                tracing::warn!(error = %e.message(), "event bus: calling a listener failed");
            }
        }
    }
}

/// Hands what a listener threw to `onerror` (as an `Error`, as the SDK does), or logs it.
fn report(env: &Env, listeners: &Listeners, thrown: Value) {
    let onerror = listeners.lock().onerror.as_ref().map(|r| r.get(env));
    let message = js::thrown_message(env, thrown);
    let Some(Ok(onerror)) = onerror else {
        tracing::warn!(error = %message, "event bus: a listener threw (pass onerror to receive it)");
        return;
    };
    let error = match js::kind(env, thrown) {
        Ok(Kind::Object) if thrown.is_error().unwrap_or(false) => Ok(thrown),
        _ => js::error_value(env, &JsError::Error(message.clone())),
    };
    let called = error.and_then(|error| {
        let this = js::undefined(env)?;
        js::call(env, this, onerror, &[error])
    });
    if !matches!(called, Ok(Ok(_))) {
        tracing::warn!(error = %message, "event bus: a listener threw and onerror threw too");
    }
}

/// Releases every reference (the bus is being collected).
pub fn release(env: &Env, listeners: &Listeners) {
    let mut r = listeners.lock();
    for (_, f) in std::mem::take(&mut r.by_id) {
        f.release(env);
    }
    if let Some(index) = r.index.take() {
        index.release(env);
    }
    if let Some(onerror) = r.onerror.take() {
        onerror.release(env);
    }
}
