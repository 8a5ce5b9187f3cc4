//! The JS operations the classes need, on napi-rs's own handles (`Unknown`, `Object`,
//! `Function`, `Array`, `Ref`, typed arrays), with errors the classes can hand to JS.
//!
//! Every function here runs on the JS thread, inside a napi callback, with the `Env` of that
//! callback. A JS exception raised by a call (a throwing `enqueue`, a getter, a `toJSON`) is
//! taken and cleared ([`raw`]), so no exception is ever left pending across napi calls.
//! The few direct N-API calls are in [`raw`].

use std::sync::Arc;

use napi::bindgen_prelude::{
    Array, ArrayBuffer, FromNapiValue, Function, JsObjectValue, JsValue, Null, Object, TypedArray,
    Uint8ArraySlice, Unknown,
};
use napi::{Env, JsString, UnknownRef, ValueType};

use super::raw;
pub use super::raw::{value, Value};

/// A value user code threw, held (on any thread) so it can be re-thrown as it is.
pub trait HeldValue: Send + Sync + std::fmt::Debug {
    /// The value, on the JS thread; `None` once released.
    fn held(&self, env: &Env) -> JsResult<Option<Value>>;
}

/// An error to hand to JS: the class picks the constructor, or `Thrown` re-throws a value
/// that user code threw (a driven Redis client's own error) as it is.
#[derive(Debug, Clone)]
pub enum JsError {
    Type(String),
    Range(String),
    Error(String),
    /// A value user code threw, and its message for logs.
    Thrown(Arc<dyn HeldValue>, String),
}

impl JsError {
    pub fn message(&self) -> &str {
        match self {
            JsError::Type(m) | JsError::Range(m) | JsError::Error(m) | JsError::Thrown(_, m) => m,
        }
    }
}

impl From<napi::Error> for JsError {
    fn from(e: napi::Error) -> Self {
        JsError::Error(format!(
            "mcp-sessions-native: napi call failed: {}",
            e.reason
        ))
    }
}

pub type JsResult<T> = Result<T, JsError>;

/// The JS value kind, as `typeof` but with `null` and arrays told apart.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Kind {
    Undefined,
    Null,
    Boolean,
    Number,
    String,
    Symbol,
    Object,
    Array,
    Function,
    BigInt,
    External,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Undefined => "undefined",
            Kind::Null => "null",
            Kind::Boolean => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Symbol => "a symbol",
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::Function => "a function",
            Kind::BigInt => "a bigint",
            Kind::External => "an external",
        }
    }
}

pub fn kind(_env: &Env, v: Value) -> JsResult<Kind> {
    Ok(match v.get_type()? {
        ValueType::Undefined => Kind::Undefined,
        ValueType::Null => Kind::Null,
        ValueType::Boolean => Kind::Boolean,
        ValueType::Number => Kind::Number,
        ValueType::String => Kind::String,
        ValueType::Symbol => Kind::Symbol,
        ValueType::Function => Kind::Function,
        ValueType::BigInt => Kind::BigInt,
        ValueType::External => Kind::External,
        _ if v.is_array()? => Kind::Array,
        _ => Kind::Object,
    })
}

/// A JS string's text (the one-pass read of [`raw::string_utf8`]).
pub fn string_value(env: &Env, v: Value) -> JsResult<String> {
    Ok(raw::string_utf8(env, v)?)
}

/// Whether a JS string has no lone surrogates (`String.prototype.isWellFormed`).
pub fn is_well_formed(_env: &Env, v: Value) -> JsResult<bool> {
    let utf16 = JsString::from_unknown(v)?.into_utf16()?;
    Ok(char::decode_utf16(utf16.as_slice().iter().copied()).all(|c| c.is_ok()))
}

pub fn number_value(_env: &Env, v: Value) -> JsResult<f64> {
    Ok(f64::from_unknown(v)?)
}

pub fn bool_value(_env: &Env, v: Value) -> JsResult<bool> {
    Ok(bool::from_unknown(v)?)
}

pub fn string(env: &Env, s: &str) -> JsResult<Value> {
    Ok(raw::to_value(env, s)?)
}

pub fn boolean(env: &Env, b: bool) -> JsResult<Value> {
    Ok(raw::to_value(env, b)?)
}

pub fn number(env: &Env, n: f64) -> JsResult<Value> {
    Ok(raw::to_value(env, n)?)
}

pub fn null(env: &Env) -> JsResult<Value> {
    Ok(raw::to_value(env, Null)?)
}

pub fn undefined(env: &Env) -> JsResult<Value> {
    Ok(raw::to_value(env, ())?)
}

pub fn string_array(env: &Env, items: &[String]) -> JsResult<Value> {
    Ok(value(Array::from_ref_vec_string(env, items)?))
}

/// The elements of an array (a getter that throws fails with its message).
pub fn array_elements(env: &Env, arr: Value) -> JsResult<Vec<Value>> {
    let array = Array::from_unknown(arr)?;
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        match array.get::<Value>(i) {
            Ok(v) => out.push(v.unwrap_or(undefined(env)?)),
            Err(e) => {
                return Err(match raw::take_exception(env) {
                    Some(thrown) => JsError::Error(format!(
                        "reading element {i} threw: {}",
                        thrown_message(env, thrown)
                    )),
                    None => e.into(),
                })
            }
        }
    }
    Ok(out)
}

/// A fresh `Uint8Array` holding a copy of `bytes`.
pub fn uint8_array(env: &Env, bytes: &[u8]) -> JsResult<Value> {
    Ok(value(Uint8ArraySlice::copy_from(env, bytes)?))
}

/// `object[name]` (a getter that throws fails with its message).
pub fn get_property(env: &Env, object: Value, name: &str) -> JsResult<Value> {
    let object = Object::from_unknown(object)?;
    match object.get_named_property_unchecked::<Value>(name) {
        Ok(v) => Ok(v),
        Err(e) => Err(match raw::take_exception(env) {
            Some(thrown) => JsError::Error(format!(
                "reading .{name} threw: {}",
                thrown_message(env, thrown)
            )),
            None => e.into(),
        }),
    }
}

/// Property `name` of `object` if it is not `undefined`/`null`.
pub fn optional_property(env: &Env, object: Value, name: &str) -> JsResult<Option<Value>> {
    let v = get_property(env, object, name)?;
    Ok(match kind(env, v)? {
        Kind::Undefined | Kind::Null => None,
        _ => Some(v),
    })
}

/// Calls `object[name](...args)`. `Err(message)` when the call throws (the exception is
/// cleared) or `object[name]` is not a function.
pub fn call_method(
    env: &Env,
    object: Value,
    name: &str,
    args: &[Value],
) -> JsResult<Result<Value, String>> {
    let f = get_property(env, object, name)?;
    if kind(env, f)? != Kind::Function {
        return Ok(Err(format!("{name} is not a function")));
    }
    call(env, object, f, args)
}

/// Calls `f` with `this` bound to `this`. `Err(message)` when it throws (cleared).
pub fn call(env: &Env, this: Value, f: Value, args: &[Value]) -> JsResult<Result<Value, String>> {
    Ok(raw::call(env, this, f, args)?.map_err(|thrown| thrown_message(env, thrown)))
}

/// Calls `f` with `this` bound to `this`; `Err(exception)` when it throws (the exception is
/// taken, not just its message, so it can be re-thrown as it is).
pub fn call_catching(
    env: &Env,
    this: Value,
    f: Value,
    args: &[Value],
) -> JsResult<Result<Value, Value>> {
    Ok(raw::call(env, this, f, args)?)
}

/// The message of a thrown value: `error.message` when it has a string one, else `String(v)`.
pub fn thrown_message(env: &Env, thrown: Value) -> String {
    if let Ok(Kind::Object) = kind(env, thrown) {
        if let Ok(message) = get_property(env, thrown, "message") {
            if let Ok(Kind::String) = kind(env, message) {
                if let Ok(m) = string_value(env, message) {
                    return m;
                }
            }
        }
    }
    match thrown.coerce_to_string() {
        Ok(s) => string_value(env, value(s)).unwrap_or_else(|_| "unknown exception".to_owned()),
        Err(_) => {
            // A Symbol, or a toString that throws in turn: clear that exception too.
            let _ = raw::take_exception(env);
            "unknown exception".to_owned()
        }
    }
}

/// Whether `value` is a function.
pub fn is_function(env: &Env, value: Value) -> bool {
    matches!(kind(env, value), Ok(Kind::Function))
}

/// `object[name]` when it is a function (a getter that throws counts as absent).
pub fn method(env: &Env, object: Value, name: &str) -> Option<Value> {
    get_property(env, object, name)
        .ok()
        .filter(|f| is_function(env, *f))
}

/// The bytes of a `Buffer`/`Uint8Array`/other typed array or `DataView`, `None` for other
/// values.
pub fn byte_view(env: &Env, value: Value) -> JsResult<Option<Vec<u8>>> {
    if value.is_typedarray()? {
        // The view's own bytes: its offset applied, its byteLength long.
        return Ok(Some(TypedArray::from_unknown(value)?.arraybuffer.to_vec()));
    }
    if value.is_dataview()? {
        let offset = number_value(env, get_property(env, value, "byteOffset")?)? as usize;
        let length = number_value(env, get_property(env, value, "byteLength")?)? as usize;
        let buffer = ArrayBuffer::from_unknown(get_property(env, value, "buffer")?)?;
        return Ok(Some(
            buffer
                .get(offset..offset + length)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        ));
    }
    Ok(None)
}

/// A JS function that calls `f` with its arguments and returns `undefined`. `f` is dropped
/// when the function is garbage-collected; a panic in it is logged, never unwound into V8.
pub fn function(env: &Env, name: &str, f: impl Fn(&Env, &[Value]) + 'static) -> JsResult<Value> {
    let function: Function<(), ()> = env.create_function_from_closure(name, move |ctx| {
        let args = ctx.arguments::<Value>()?;
        let env = &*ctx.env;
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(env, &args))).is_err() {
            tracing::error!("a native callback panicked");
        }
        Ok(())
    })?;
    Ok(value(function))
}

/// A plain object `{ [name]: value }`.
pub fn object_with(env: &Env, name: &str, v: Value) -> JsResult<Value> {
    let mut object = Object::new(env)?;
    object.set_named_property(name, v)?;
    Ok(value(object))
}

/// `globalThis[name]`.
pub fn global(env: &Env, name: &str) -> JsResult<Value> {
    Ok(env.get_global()?.get_named_property_unchecked(name)?)
}

/// `JSON.stringify(value)`: `Ok(None)` when it yields `undefined`, `Err(message)` when it
/// throws (a cycle, a BigInt, a throwing `toJSON`).
pub fn json_stringify(env: &Env, value: Value) -> JsResult<Result<Option<String>, String>> {
    Ok(raw::json_stringify(env, value)?.map_err(|thrown| thrown_message(env, thrown)))
}

/// `JSON.parse(text)` of text the addon stored (always valid JSON).
pub fn json_parse(env: &Env, text: &str) -> JsResult<Value> {
    raw::json_parse(env, text)?.map_err(|thrown| {
        JsError::Error(format!(
            "mcp-sessions-native: stored metadata does not parse: {}",
            thrown_message(env, thrown)
        ))
    })
}

/// The JS value of `error`: the thrown value itself, or a new `TypeError`, `RangeError` or
/// `Error` (made by the global constructors, so it carries no napi-rs `code`).
pub fn error_value(env: &Env, error: &JsError) -> JsResult<Value> {
    if let JsError::Thrown(held, _) = error {
        if let Some(v) = held.held(env)? {
            return Ok(v);
        }
    }
    let constructor = match error {
        JsError::Type(_) => "TypeError",
        JsError::Range(_) => "RangeError",
        JsError::Error(_) | JsError::Thrown(..) => "Error",
    };
    let constructor: Function<Value, Unknown> = Function::from_unknown(global(env, constructor)?)?;
    Ok(value(
        constructor.new_instance(string(env, error.message())?)?,
    ))
}

/// Throws `error` (for constructors and callbacks, which are synchronous).
pub fn throw(env: &Env, error: &JsError) {
    if let Ok(v) = error_value(env, error) {
        let _ = env.throw(v);
    }
}

/// A strong reference to a JS value, released explicitly with [`JsRef::release`].
pub struct JsRef(UnknownRef<false>);

impl JsRef {
    pub fn new(_env: &Env, value: Value) -> JsResult<JsRef> {
        Ok(JsRef(UnknownRef::from_unknown(value)?))
    }

    pub fn get(&self, env: &Env) -> JsResult<Value> {
        Ok(value(self.0.get_value(env)?))
    }

    /// Drops the reference so the value can be collected.
    pub fn release(self, env: &Env) {
        let _ = self.0.unref(env);
    }
}

/// `value.then(() => undefined)` for a thenable; `undefined` for anything else.
pub fn then_undefined(env: &Env, value: Value) -> JsResult<Value> {
    let then = get_property(env, value, "then")?;
    if kind(env, then)? != Kind::Function {
        return undefined(env);
    }
    let to_undefined = function(env, "undefined", |_, _| {})?;
    call(env, value, then, &[to_undefined])?
        .map_err(|m| JsError::Error(format!("then() threw: {m}")))
}

/// `String(value)`.
pub fn coerce_string(env: &Env, v: Value) -> JsResult<String> {
    match v.coerce_to_string() {
        Ok(s) => string_value(env, value(s)),
        // A Symbol, or a toString that throws: never leave the exception pending.
        Err(e) => Err(match raw::take_exception(env) {
            Some(thrown) => {
                JsError::Error(format!("String() threw: {}", thrown_message(env, thrown)))
            }
            None => e.into(),
        }),
    }
}
