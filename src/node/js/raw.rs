//! The four places where the shell does not take napi-rs's typed conversions, each for the
//! reason given below. Everything else in `node/` goes through napi-rs's own handles.
//!
//! 1. Untyped parameters: every method takes a [`Value`] (napi's `Unknown`) and checks it
//!    itself, so a bad argument rejects the returned promise, as mcp-use's async methods do,
//!    instead of napi-rs throwing synchronously before the method runs.
//! 2. V8's own `JSON.stringify` / `JSON.parse` for metadata: `toJSON`, key order, cycles
//!    and BigInts behave exactly as in mcp-use, which stores what `JSON.stringify` returns.
//! 3. The one-pass string read: ids and small metadata fit a stack buffer, one napi call
//!    instead of napi-rs's length query, allocation and copy (`npm run bench`, memory:ops).
//! 4. Exception capture and clear: a JS exception raised by a call (a throwing `enqueue`,
//!    a getter, a `toJSON`) is taken here, so none is ever left pending across napi calls,
//!    and a value user code threw can be re-thrown as it is.
//!
//! Only 3 and 4 call N-API directly. Every function here runs on the JS thread inside a napi
//! callback, with the `Env` of that callback and values created in it: that is the
//! invariant the `// SAFETY:` comments rely on.

use std::cell::RefCell;
use std::ptr;
use std::rc::Rc;

use napi::bindgen_prelude::{
    FnArgs, FromNapiValue, Function, JsObjectValue, JsValue, Object, ToNapiValue, Unknown,
};
use napi::{sys, Env, JsString, UnknownRef};

/// A JS value of the current callback, untyped (napi's `Unknown`).
///
/// The `'static` only spares the classes a lifetime parameter: like every napi value, a
/// `Value` is valid until its callback returns, and nothing keeps one longer (a value that
/// must outlive its callback is held as a [`Ref`]).
pub type Value = Unknown<'static>;

/// Any napi value as a [`Value`].
pub fn value<'env>(v: impl JsValue<'env>) -> Value {
    Unknown::from_unknown(v.to_unknown()).expect("an Unknown converts to an Unknown")
}

/// Any Rust value napi-rs can convert (`bool`, `f64`, `&str`, `()`, `Null`, ...) as a JS value.
pub fn to_value(env: &Env, v: impl ToNapiValue) -> napi::Result<Value> {
    v.into_unknown(env).map(value)
}

/// (3) A JS string's UTF-8 text. V8 writes lone surrogates as U+FFFD, so it is valid UTF-8.
pub fn string_utf8(env: &Env, v: Value) -> napi::Result<String> {
    let mut stack = [0u8; 1024];
    let mut written = 0usize;
    // SAFETY: `env` and `v` belong to the running callback (module invariant); the pointer
    // and length describe `stack`, which outlives the call, and napi writes at most
    // `stack.len()` bytes, terminator included, reporting the count in `written`.
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env.raw(),
            v.raw(),
            stack.as_mut_ptr().cast(),
            stack.len(),
            &mut written,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(napi::Error::new(
            napi::Status::from(status),
            "read string".to_owned(),
        ));
    }
    // V8 stops at a character boundary: unless at least 4 bytes (the longest UTF-8
    // character) stayed free besides the terminator, the string may have been cut.
    let bytes = if written + 4 < stack.len() {
        stack[..written].to_vec()
    } else {
        return JsString::from_unknown(v)?.into_utf8()?.into_owned();
    };
    String::from_utf8(bytes)
        .map_err(|e| napi::Error::from_reason(format!("string is not UTF-8: {e}")))
}

/// (4) Takes the pending exception, if there is one (clearing it).
pub fn take_exception(env: &Env) -> Option<Value> {
    let mut pending = false;
    // SAFETY: `env` is the running callback's environment; `pending` is a valid out pointer.
    let status = unsafe { sys::napi_is_exception_pending(env.raw(), &mut pending) };
    if status != sys::Status::napi_ok || !pending {
        return None;
    }
    let mut exception = ptr::null_mut();
    // SAFETY: as above; napi stores the exception's handle, valid in the current scope.
    let status = unsafe { sys::napi_get_and_clear_last_exception(env.raw(), &mut exception) };
    if status != sys::Status::napi_ok || exception.is_null() {
        return None;
    }
    to_value(env, exception).ok()
}

/// (4) `f.call(this, ...args)` (at most 4 arguments): `Ok(Err(thrown))` when it throws,
/// the exception taken and cleared.
pub fn call(
    env: &Env,
    this: Value,
    f: Value,
    args: &[Value],
) -> napi::Result<Result<Value, Value>> {
    let result = match *args {
        [] => Function::<(), Unknown>::from_unknown(f)?.apply(this, ()),
        [a] => Function::<Value, Unknown>::from_unknown(f)?.apply(this, a),
        [a, b] => {
            Function::<FnArgs<(Value, Value)>, Unknown>::from_unknown(f)?.apply(this, (a, b).into())
        }
        [a, b, c] => Function::<FnArgs<(Value, Value, Value)>, Unknown>::from_unknown(f)?
            .apply(this, (a, b, c).into()),
        [a, b, c, d] => Function::<FnArgs<(Value, Value, Value, Value)>, Unknown>::from_unknown(f)?
            .apply(this, (a, b, c, d).into()),
        _ => return Err(napi::Error::from_reason("call with more than 4 arguments")),
    };
    match result {
        Ok(v) => Ok(Ok(value(v))),
        Err(e) => match take_exception(env) {
            Some(thrown) => Ok(Err(thrown)),
            None => Err(e),
        },
    }
}

/// (2) `JSON`, `JSON.parse` and `JSON.stringify` of this JS thread, looked up once.
struct JsonFns {
    json: UnknownRef<false>,
    parse: UnknownRef<false>,
    stringify: UnknownRef<false>,
}

thread_local! {
    static JSON_FNS: RefCell<Option<Rc<JsonFns>>> = const { RefCell::new(None) };
}

/// Drops this thread's cached JSON functions (their environment is going away; the
/// references go with it).
pub fn forget_cached_functions() {
    JSON_FNS.with(|c| c.borrow_mut().take());
}

fn json_functions(env: &Env) -> napi::Result<Rc<JsonFns>> {
    if let Some(fns) = JSON_FNS.with(|c| c.borrow().clone()) {
        return Ok(fns);
    }
    let json: Object = env.get_global()?.get_named_property_unchecked("JSON")?;
    let parse: Value = json.get_named_property_unchecked("parse")?;
    let stringify: Value = json.get_named_property_unchecked("stringify")?;
    let fns = Rc::new(JsonFns {
        json: UnknownRef::from_unknown(json.to_unknown())?,
        parse: UnknownRef::from_unknown(parse)?,
        stringify: UnknownRef::from_unknown(stringify)?,
    });
    JSON_FNS.with(|c| *c.borrow_mut() = Some(fns.clone()));
    Ok(fns)
}

/// (2) `JSON.stringify(v)`: `Ok(None)` when it yields `undefined`, `Err(thrown)` when it
/// throws (a cycle, a BigInt, a throwing `toJSON`).
pub fn json_stringify(env: &Env, v: Value) -> napi::Result<Result<Option<String>, Value>> {
    let fns = json_functions(env)?;
    let (json, stringify) = (fns.json.get_value(env)?, fns.stringify.get_value(env)?);
    let (json, stringify) = (value(json), value(stringify));
    match call(env, json, stringify, &[v])? {
        Err(thrown) => Ok(Err(thrown)),
        Ok(out) if out.get_type()? == napi::ValueType::String => {
            Ok(Ok(Some(string_utf8(env, out)?)))
        }
        Ok(_) => Ok(Ok(None)),
    }
}

/// (2) `JSON.parse(text)`: `Err(thrown)` when it throws.
pub fn json_parse(env: &Env, text: &str) -> napi::Result<Result<Value, Value>> {
    let fns = json_functions(env)?;
    let (json, parse) = (fns.json.get_value(env)?, fns.parse.get_value(env)?);
    let (json, parse) = (value(json), value(parse));
    let arg = value(env.create_string(text)?);
    call(env, json, parse, &[arg])
}
