//! The few N-API operations the classes need, as safe functions over raw values.
//!
//! Every function here runs on the JS thread, inside a napi callback, with the `Env` of
//! that callback; that is what makes the `unsafe` blocks sound. A JS exception raised by a
//! call (a throwing `enqueue`, a `toJSON` that throws) is taken and cleared here, so no
//! exception is ever left pending across napi calls.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue};
use napi::{sys, Env};

/// A JS value passed through untouched (method arguments, return values).
#[derive(Clone, Copy)]
pub struct Value(pub sys::napi_value);

impl FromNapiValue for Value {
    unsafe fn from_napi_value(_env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        Ok(Value(value))
    }
}

impl ToNapiValue for Value {
    unsafe fn to_napi_value(_env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        Ok(value.0)
    }
}

impl napi::bindgen_prelude::TypeName for Value {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> napi::ValueType {
        napi::ValueType::Unknown
    }
}

/// An error to hand to JS: the class picks the constructor, or `Thrown` re-throws a value
/// that user code threw (a driven Redis client's own error) as it is.
#[derive(Debug, Clone)]
pub enum JsError {
    Type(String),
    Range(String),
    Error(String),
    /// A value user code threw, and its message for logs.
    Thrown(std::sync::Arc<super::completion::SharedRef>, String),
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

fn check(status: sys::napi_status, what: &str) -> JsResult<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(JsError::Error(format!(
            "mcp-sessions-native: {what} failed (napi status {status})"
        )))
    }
}

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

pub fn kind(env: &Env, v: Value) -> JsResult<Kind> {
    let mut t = 0;
    check(
        unsafe { sys::napi_typeof(env.raw(), v.0, &mut t) },
        "typeof",
    )?;
    Ok(match t {
        sys::ValueType::napi_undefined => Kind::Undefined,
        sys::ValueType::napi_null => Kind::Null,
        sys::ValueType::napi_boolean => Kind::Boolean,
        sys::ValueType::napi_number => Kind::Number,
        sys::ValueType::napi_string => Kind::String,
        sys::ValueType::napi_symbol => Kind::Symbol,
        sys::ValueType::napi_function => Kind::Function,
        sys::ValueType::napi_bigint => Kind::BigInt,
        sys::ValueType::napi_external => Kind::External,
        _ => {
            let mut is_array = false;
            check(
                unsafe { sys::napi_is_array(env.raw(), v.0, &mut is_array) },
                "isArray",
            )?;
            if is_array {
                Kind::Array
            } else {
                Kind::Object
            }
        }
    })
}

pub fn string_value(env: &Env, v: Value) -> JsResult<String> {
    // Most strings here (ids, small metadata) fit a stack buffer: one pass instead of a
    // length query followed by a copy.
    let mut stack = [0u8; 1024];
    let mut written = 0usize;
    check(
        unsafe {
            sys::napi_get_value_string_utf8(
                env.raw(),
                v.0,
                stack.as_mut_ptr().cast(),
                stack.len(),
                &mut written,
            )
        },
        "read string",
    )?;
    // V8 stops at a character boundary: unless at least 4 bytes (the longest UTF-8
    // character) stayed free besides the terminator, the string may have been cut.
    let bytes = if written + 4 < stack.len() {
        stack[..written].to_vec()
    } else {
        let mut len = 0usize;
        check(
            unsafe {
                sys::napi_get_value_string_utf8(env.raw(), v.0, ptr::null_mut(), 0, &mut len)
            },
            "read string",
        )?;
        let mut buf = vec![0u8; len + 1];
        check(
            unsafe {
                sys::napi_get_value_string_utf8(
                    env.raw(),
                    v.0,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut written,
                )
            },
            "read string",
        )?;
        buf.truncate(written);
        buf
    };
    // V8 writes lone surrogates as U+FFFD, so this is valid UTF-8.
    String::from_utf8(bytes)
        .map_err(|e| JsError::Error(format!("mcp-sessions-native: string is not UTF-8: {e}")))
}

/// Whether a JS string has no lone surrogates (`String.prototype.isWellFormed`).
pub fn is_well_formed(env: &Env, v: Value) -> JsResult<bool> {
    let mut len = 0usize;
    check(
        unsafe { sys::napi_get_value_string_utf16(env.raw(), v.0, ptr::null_mut(), 0, &mut len) },
        "read string",
    )?;
    let mut buf = vec![0u16; len + 1];
    let mut written = 0usize;
    check(
        unsafe {
            sys::napi_get_value_string_utf16(
                env.raw(),
                v.0,
                buf.as_mut_ptr(),
                buf.len(),
                &mut written,
            )
        },
        "read string",
    )?;
    buf.truncate(written);
    Ok(char::decode_utf16(buf).all(|c| c.is_ok()))
}

pub fn number_value(env: &Env, v: Value) -> JsResult<f64> {
    let mut n = 0f64;
    check(
        unsafe { sys::napi_get_value_double(env.raw(), v.0, &mut n) },
        "read number",
    )?;
    Ok(n)
}

pub fn string(env: &Env, s: &str) -> JsResult<Value> {
    let mut out = ptr::null_mut();
    check(
        unsafe {
            sys::napi_create_string_utf8(env.raw(), s.as_ptr().cast(), s.len() as isize, &mut out)
        },
        "create string",
    )?;
    Ok(Value(out))
}

pub fn boolean(env: &Env, b: bool) -> JsResult<Value> {
    let mut out = ptr::null_mut();
    check(
        unsafe { sys::napi_get_boolean(env.raw(), b, &mut out) },
        "create boolean",
    )?;
    Ok(Value(out))
}

pub fn null(env: &Env) -> JsResult<Value> {
    let mut out = ptr::null_mut();
    check(
        unsafe { sys::napi_get_null(env.raw(), &mut out) },
        "get null",
    )?;
    Ok(Value(out))
}

pub fn undefined(env: &Env) -> JsResult<Value> {
    let mut out = ptr::null_mut();
    check(
        unsafe { sys::napi_get_undefined(env.raw(), &mut out) },
        "get undefined",
    )?;
    Ok(Value(out))
}

pub fn string_array(env: &Env, items: &[String]) -> JsResult<Value> {
    let mut arr = ptr::null_mut();
    check(
        unsafe { sys::napi_create_array_with_length(env.raw(), items.len(), &mut arr) },
        "create array",
    )?;
    for (i, item) in items.iter().enumerate() {
        let s = string(env, item)?;
        check(
            unsafe { sys::napi_set_element(env.raw(), arr, i as u32, s.0) },
            "fill array",
        )?;
    }
    Ok(Value(arr))
}

pub fn array_elements(env: &Env, arr: Value) -> JsResult<Vec<Value>> {
    let mut len = 0u32;
    check(
        unsafe { sys::napi_get_array_length(env.raw(), arr.0, &mut len) },
        "read array length",
    )?;
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut v = ptr::null_mut();
        let status = unsafe { sys::napi_get_element(env.raw(), arr.0, i, &mut v) };
        if status != sys::Status::napi_ok && exception_pending(env) {
            let message = take_exception_message(env);
            return Err(JsError::Error(format!(
                "reading element {i} threw: {message}"
            )));
        }
        check(status, "read array element")?;
        out.push(Value(v));
    }
    Ok(out)
}

/// A fresh `Uint8Array` holding a copy of `bytes`.
pub fn uint8_array(env: &Env, bytes: &[u8]) -> JsResult<Value> {
    let mut data: *mut c_void = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    check(
        unsafe { sys::napi_create_arraybuffer(env.raw(), bytes.len(), &mut data, &mut buffer) },
        "create ArrayBuffer",
    )?;
    if !bytes.is_empty() {
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), data.cast::<u8>(), bytes.len()) };
    }
    let mut array = ptr::null_mut();
    check(
        unsafe {
            sys::napi_create_typedarray(
                env.raw(),
                sys::TypedarrayType::uint8_array,
                bytes.len(),
                buffer,
                0,
                &mut array,
            )
        },
        "create Uint8Array",
    )?;
    Ok(Value(array))
}

pub fn get_property(env: &Env, object: Value, name: &str) -> JsResult<Value> {
    let key = std::ffi::CString::new(name)
        .map_err(|_| JsError::Error(format!("bad property name {name:?}")))?;
    let mut out = ptr::null_mut();
    let status =
        unsafe { sys::napi_get_named_property(env.raw(), object.0, key.as_ptr(), &mut out) };
    if status == sys::Status::napi_pending_exception {
        let message = take_exception_message(env);
        return Err(JsError::Error(format!("reading .{name} threw: {message}")));
    }
    check(status, "get property")?;
    Ok(Value(out))
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
    let raw_args: Vec<sys::napi_value> = args.iter().map(|a| a.0).collect();
    let mut out = ptr::null_mut();
    let status = unsafe {
        sys::napi_call_function(
            env.raw(),
            this.0,
            f.0,
            raw_args.len(),
            raw_args.as_ptr(),
            &mut out,
        )
    };
    if status == sys::Status::napi_pending_exception {
        return Ok(Err(take_exception_message(env)));
    }
    check(status, "call function")?;
    Ok(Ok(Value(out)))
}

/// Calls `f` with `this` bound to `this`; `Err(exception)` when it throws (the exception is
/// taken, not just its message, so it can be re-thrown as it is).
pub fn call_catching(
    env: &Env,
    this: Value,
    f: Value,
    args: &[Value],
) -> JsResult<Result<Value, Value>> {
    let raw_args: Vec<sys::napi_value> = args.iter().map(|a| a.0).collect();
    let mut out = ptr::null_mut();
    let status = unsafe {
        sys::napi_call_function(
            env.raw(),
            this.0,
            f.0,
            raw_args.len(),
            raw_args.as_ptr(),
            &mut out,
        )
    };
    if status == sys::Status::napi_pending_exception {
        let mut exception = ptr::null_mut();
        check(
            unsafe { sys::napi_get_and_clear_last_exception(env.raw(), &mut exception) },
            "take exception",
        )?;
        return Ok(Err(Value(exception)));
    }
    check(status, "call function")?;
    Ok(Ok(Value(out)))
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
    let mut s = ptr::null_mut();
    if unsafe { sys::napi_coerce_to_string(env.raw(), thrown.0, &mut s) } == sys::Status::napi_ok {
        if let Ok(m) = string_value(env, Value(s)) {
            return m;
        }
    }
    let mut again = ptr::null_mut();
    let _ = unsafe { sys::napi_get_and_clear_last_exception(env.raw(), &mut again) };
    "unknown exception".to_owned()
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
    let mut is_typed = false;
    check(
        unsafe { sys::napi_is_typedarray(env.raw(), value.0, &mut is_typed) },
        "is typed array",
    )?;
    if is_typed {
        let mut ty = 0;
        let mut length = 0usize;
        let mut data: *mut c_void = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        let mut offset = 0usize;
        check(
            unsafe {
                sys::napi_get_typedarray_info(
                    env.raw(),
                    value.0,
                    &mut ty,
                    &mut length,
                    &mut data,
                    &mut buffer,
                    &mut offset,
                )
            },
            "read typed array",
        )?;
        let width = match ty {
            sys::TypedarrayType::int8_array
            | sys::TypedarrayType::uint8_array
            | sys::TypedarrayType::uint8_clamped_array => 1,
            sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
            sys::TypedarrayType::int32_array
            | sys::TypedarrayType::uint32_array
            | sys::TypedarrayType::float32_array => 4,
            _ => 8,
        };
        let bytes = length * width;
        if bytes == 0 || data.is_null() {
            return Ok(Some(Vec::new()));
        }
        // SAFETY: napi reports `length` elements of `width` bytes at `data`, alive while
        // `value` is (it is on the stack of this call).
        return Ok(Some(
            unsafe { std::slice::from_raw_parts(data.cast::<u8>(), bytes) }.to_vec(),
        ));
    }
    let mut is_view = false;
    check(
        unsafe { sys::napi_is_dataview(env.raw(), value.0, &mut is_view) },
        "is DataView",
    )?;
    if is_view {
        let mut length = 0usize;
        let mut data: *mut c_void = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        let mut offset = 0usize;
        check(
            unsafe {
                sys::napi_get_dataview_info(
                    env.raw(),
                    value.0,
                    &mut length,
                    &mut data,
                    &mut buffer,
                    &mut offset,
                )
            },
            "read DataView",
        )?;
        if length == 0 || data.is_null() {
            return Ok(Some(Vec::new()));
        }
        // SAFETY: as above.
        return Ok(Some(
            unsafe { std::slice::from_raw_parts(data.cast::<u8>(), length) }.to_vec(),
        ));
    }
    Ok(None)
}

type Callback = Box<dyn Fn(&Env, &[Value])>;

unsafe extern "C" fn callback_trampoline(
    raw_env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 4usize;
    let mut argv = [ptr::null_mut(); 4];
    let mut data: *mut c_void = ptr::null_mut();
    let mut undefined_value = ptr::null_mut();
    unsafe {
        sys::napi_get_undefined(raw_env, &mut undefined_value);
        if sys::napi_get_cb_info(
            raw_env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        ) != sys::Status::napi_ok
            || data.is_null()
        {
            return undefined_value;
        }
    }
    let f = unsafe { &*(data as *const Callback) };
    let args: Vec<Value> = argv[..argc.min(4)].iter().map(|v| Value(*v)).collect();
    let env = Env::from_raw(raw_env);
    // Never unwind into V8.
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&env, &args))).is_err() {
        tracing::error!("a native callback panicked");
    }
    undefined_value
}

unsafe extern "C" fn callback_finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if !data.is_null() {
        unsafe { drop(Box::from_raw(data as *mut Callback)) };
    }
}

/// A JS function that calls `f` with its arguments (at most 4) and returns `undefined`. `f`
/// is dropped when the function is garbage-collected.
pub fn function(env: &Env, name: &str, f: impl Fn(&Env, &[Value]) + 'static) -> JsResult<Value> {
    let data = Box::into_raw(Box::new(Box::new(f) as Callback));
    let mut out = ptr::null_mut();
    let status = unsafe {
        sys::napi_create_function(
            env.raw(),
            name.as_ptr().cast(),
            name.len() as isize,
            Some(callback_trampoline),
            data.cast(),
            &mut out,
        )
    };
    if status != sys::Status::napi_ok {
        unsafe { drop(Box::from_raw(data)) };
        return Err(JsError::Error(format!(
            "mcp-sessions-native: create function failed (napi status {status})"
        )));
    }
    let status = unsafe {
        sys::napi_add_finalizer(
            env.raw(),
            out,
            data.cast(),
            Some(callback_finalize),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        // The function exists and may be called; keep its data alive rather than free it
        // under it (a small leak on a failure that does not happen in practice).
        return Err(JsError::Error(format!(
            "mcp-sessions-native: attach finalizer failed (napi status {status})"
        )));
    }
    Ok(Value(out))
}

/// A plain object `{ [name]: value }`.
pub fn object_with(env: &Env, name: &str, value: Value) -> JsResult<Value> {
    let mut out = ptr::null_mut();
    check(
        unsafe { sys::napi_create_object(env.raw(), &mut out) },
        "create object",
    )?;
    let key = std::ffi::CString::new(name)
        .map_err(|_| JsError::Error(format!("bad property name {name:?}")))?;
    check(
        unsafe { sys::napi_set_named_property(env.raw(), out, key.as_ptr(), value.0) },
        "set property",
    )?;
    Ok(Value(out))
}

pub fn bool_value(env: &Env, v: Value) -> JsResult<bool> {
    let mut b = false;
    check(
        unsafe { sys::napi_get_value_bool(env.raw(), v.0, &mut b) },
        "read boolean",
    )?;
    Ok(b)
}

pub fn number(env: &Env, n: f64) -> JsResult<Value> {
    let mut out = ptr::null_mut();
    check(
        unsafe { sys::napi_create_double(env.raw(), n, &mut out) },
        "create number",
    )?;
    Ok(Value(out))
}

/// Clears the pending exception and returns its message (or its string form).
pub fn take_exception_message(env: &Env) -> String {
    let mut exception = ptr::null_mut();
    let status = unsafe { sys::napi_get_and_clear_last_exception(env.raw(), &mut exception) };
    if status != sys::Status::napi_ok || exception.is_null() {
        return "unknown exception".to_owned();
    }
    thrown_message(env, Value(exception))
}

/// `JSON`, `JSON.parse` and `JSON.stringify` of this JS thread, looked up once.
struct JsonFns {
    json: JsRef,
    parse: JsRef,
    stringify: JsRef,
}

thread_local! {
    static JSON_FNS: std::cell::RefCell<Option<std::rc::Rc<JsonFns>>> = const { std::cell::RefCell::new(None) };
}

/// Drops this thread's cached JSON functions (their environment is going away).
pub fn forget_cached_functions() {
    JSON_FNS.with(|c| c.borrow_mut().take());
}

fn json_function(env: &Env, name: &str) -> JsResult<(Value, Value)> {
    let cached = JSON_FNS.with(|c| c.borrow().clone());
    let fns = match cached {
        Some(f) => f,
        None => {
            let mut global = ptr::null_mut();
            check(
                unsafe { sys::napi_get_global(env.raw(), &mut global) },
                "get global",
            )?;
            let json = get_property(env, Value(global), "JSON")?;
            let fns = std::rc::Rc::new(JsonFns {
                parse: JsRef::new(env, get_property(env, json, "parse")?)?,
                stringify: JsRef::new(env, get_property(env, json, "stringify")?)?,
                json: JsRef::new(env, json)?,
            });
            JSON_FNS.with(|c| *c.borrow_mut() = Some(fns.clone()));
            fns
        }
    };
    let f = if name == "parse" {
        &fns.parse
    } else {
        &fns.stringify
    };
    Ok((fns.json.get(env)?, f.get(env)?))
}

/// `JSON.stringify(value)`: `Ok(None)` when it yields `undefined`, `Err(message)` when it
/// throws (a cycle, a BigInt, a throwing `toJSON`).
pub fn json_stringify(env: &Env, value: Value) -> JsResult<Result<Option<String>, String>> {
    let (json, stringify) = json_function(env, "stringify")?;
    match call(env, json, stringify, &[value])? {
        Err(message) => Ok(Err(message)),
        Ok(out) => match kind(env, out)? {
            Kind::String => Ok(Ok(Some(string_value(env, out)?))),
            _ => Ok(Ok(None)),
        },
    }
}

/// `JSON.parse(text)` of text the addon stored (always valid JSON).
pub fn json_parse(env: &Env, text: &str) -> JsResult<Value> {
    let (json, parse) = json_function(env, "parse")?;
    let arg = string(env, text)?;
    call(env, json, parse, &[arg])?.map_err(|m| {
        JsError::Error(format!(
            "mcp-sessions-native: stored metadata does not parse: {m}"
        ))
    })
}

pub fn error_value(env: &Env, error: &JsError) -> JsResult<Value> {
    if let JsError::Thrown(value, _) = error {
        if let Some(v) = value.get(env)? {
            return Ok(v);
        }
    }
    let message = string(env, error.message())?;
    let mut out = ptr::null_mut();
    let status = unsafe {
        match error {
            JsError::Type(_) => {
                sys::napi_create_type_error(env.raw(), ptr::null_mut(), message.0, &mut out)
            }
            JsError::Range(_) => {
                sys::napi_create_range_error(env.raw(), ptr::null_mut(), message.0, &mut out)
            }
            JsError::Error(_) | JsError::Thrown(..) => {
                sys::napi_create_error(env.raw(), ptr::null_mut(), message.0, &mut out)
            }
        }
    };
    check(status, "create error")?;
    Ok(Value(out))
}

/// Throws `error` (for constructors and getters, which are synchronous).
pub fn throw(env: &Env, error: &JsError) {
    if let Ok(v) = error_value(env, error) {
        unsafe { sys::napi_throw(env.raw(), v.0) };
    }
}

/// A promise already settled with `result`.
pub fn settled(env: &Env, result: JsResult<Value>) -> napi::Result<Value> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    let status = unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) };
    if status != sys::Status::napi_ok {
        return Err(napi::Error::from_reason(
            "mcp-sessions-native: cannot create a promise",
        ));
    }
    settle(env, Deferred(deferred), result);
    Ok(Value(promise))
}

/// A pending promise: resolve it later, on this JS thread, with [`settle`].
pub struct Deferred(sys::napi_deferred);

// The raw handle is only ever used on the JS thread that created it (see `completion`).
unsafe impl Send for Deferred {}

pub fn pending(env: &Env) -> JsResult<(Deferred, Value)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(
        unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) },
        "create promise",
    )?;
    Ok((Deferred(deferred), Value(promise)))
}

pub fn settle(env: &Env, deferred: Deferred, result: JsResult<Value>) {
    let (ok, value) = match result {
        Ok(v) => (true, Ok(v)),
        Err(e) => (false, error_value(env, &e)),
    };
    let value = match value {
        Ok(v) => v,
        // Could not even build the value: reject with undefined rather than leak the promise.
        Err(_) => match undefined(env) {
            Ok(u) => u,
            Err(_) => return,
        },
    };
    unsafe {
        if ok {
            sys::napi_resolve_deferred(env.raw(), deferred.0, value.0);
        } else {
            sys::napi_reject_deferred(env.raw(), deferred.0, value.0);
        }
    }
}

/// A strong reference to a JS object, released explicitly with [`JsRef::release`].
pub struct JsRef(sys::napi_ref);

// Held inside napi classes and core registries; only dereferenced on the JS thread.
unsafe impl Send for JsRef {}
unsafe impl Sync for JsRef {}

impl JsRef {
    pub fn new(env: &Env, value: Value) -> JsResult<JsRef> {
        let mut r = ptr::null_mut();
        check(
            unsafe { sys::napi_create_reference(env.raw(), value.0, 1, &mut r) },
            "create reference",
        )?;
        Ok(JsRef(r))
    }

    pub fn get(&self, env: &Env) -> JsResult<Value> {
        let mut out = ptr::null_mut();
        check(
            unsafe { sys::napi_get_reference_value(env.raw(), self.0, &mut out) },
            "read reference",
        )?;
        Ok(Value(out))
    }

    /// Drops the reference so the object can be collected.
    pub fn release(self, env: &Env) {
        unsafe { sys::napi_delete_reference(env.raw(), self.0) };
    }
}

unsafe extern "C" fn return_undefined(
    env: sys::napi_env,
    _info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut out = ptr::null_mut();
    unsafe { sys::napi_get_undefined(env, &mut out) };
    out
}

/// `value.then(() => undefined)` for a thenable; `value` itself resolved for anything else.
pub fn then_undefined(env: &Env, value: Value) -> JsResult<Value> {
    let then = get_property(env, value, "then")?;
    if kind(env, then)? != Kind::Function {
        return undefined(env);
    }
    let mut f = ptr::null_mut();
    check(
        unsafe {
            sys::napi_create_function(
                env.raw(),
                c"undefined".as_ptr(),
                9,
                Some(return_undefined),
                ptr::null_mut(),
                &mut f,
            )
        },
        "create function",
    )?;
    call(env, value, then, &[Value(f)])?.map_err(|m| JsError::Error(format!("then() threw: {m}")))
}

fn exception_pending(env: &Env) -> bool {
    let mut pending = false;
    unsafe { sys::napi_is_exception_pending(env.raw(), &mut pending) };
    pending
}

/// `String(value)`.
pub fn coerce_string(env: &Env, value: Value) -> JsResult<String> {
    let mut out = ptr::null_mut();
    let status = unsafe { sys::napi_coerce_to_string(env.raw(), value.0, &mut out) };
    if status != sys::Status::napi_ok && exception_pending(env) {
        // A Symbol, or a toString that throws: never leave the exception pending.
        let message = take_exception_message(env);
        return Err(JsError::Error(format!("String() threw: {message}")));
    }
    check(status, "String()")?;
    string_value(env, Value(out))
}
