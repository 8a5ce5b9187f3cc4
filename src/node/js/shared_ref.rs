//! [`SharedRef`]: a JS value held from any thread, released on its own JS thread.

use std::sync::Arc;

use napi::Env;
use parking_lot::Mutex;

use super::queue::{poster, Poster};
use super::values::{HeldValue, JsRef, JsResult, Value};

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
