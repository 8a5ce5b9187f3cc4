//! Argument checks shared by the classes: bad input is a `TypeError`/`RangeError` that
//! names the method and the argument, raised before anything is changed.

use napi::Env;

use super::values::{self as js, JsError, JsResult, Kind, Value};
use crate::config::MAX_TTL_MS;
use crate::metadata::Metadata;

/// A session id: a non-empty, well-formed string (no lone UTF-16 surrogates, which would
/// otherwise all become U+FFFD and collide).
pub fn session_id(env: &Env, v: Value, method: &str) -> JsResult<String> {
    let k = js::kind(env, v)?;
    if k != Kind::String {
        return Err(JsError::Type(format!(
            "{method}: sessionId must be a non-empty string, got {}",
            k.describe()
        )));
    }
    let id = js::string_value(env, v)?;
    if id.is_empty() {
        return Err(JsError::Type(format!(
            "{method}: sessionId must be a non-empty string, got an empty string"
        )));
    }
    // A lone surrogate comes out of the UTF-8 conversion as U+FFFD: only then look closer.
    if id.contains('\u{FFFD}') && !js::is_well_formed(env, v)? {
        return Err(JsError::Type(format!(
            "{method}: sessionId must be well-formed Unicode (it contains a lone surrogate)"
        )));
    }
    Ok(id)
}

/// Session metadata: a plain object, serialized as `JSON.stringify` would.
pub fn metadata(env: &Env, v: Value, method: &str) -> JsResult<Metadata> {
    let k = js::kind(env, v)?;
    if k != Kind::Object {
        return Err(JsError::Type(format!(
            "{method}: data must be a session metadata object, got {}",
            k.describe()
        )));
    }
    match js::json_stringify(env, v)? {
        // A toJSON (a Date, say) can turn an object into a non-object.
        Ok(Some(text)) if !text.starts_with('{') => Err(JsError::Type(format!(
            "{method}: data must serialize to a JSON object, got {text:.40}"
        ))),
        Ok(Some(text)) => Ok(Metadata::from_json(text)),
        Ok(None) => Err(JsError::Type(format!(
            "{method}: data cannot be serialized as JSON"
        ))),
        Err(message) => Err(JsError::Type(format!(
            "{method}: data cannot be serialized as JSON: {message}"
        ))),
    }
}

/// A finite, non-negative number of milliseconds.
pub fn ttl_ms(env: &Env, v: Value, method: &str) -> JsResult<f64> {
    let k = js::kind(env, v)?;
    if k != Kind::Number {
        return Err(JsError::Type(format!(
            "{method}: ttlMs must be a number of milliseconds, got {}",
            k.describe()
        )));
    }
    let n = js::number_value(env, v)?;
    if !n.is_finite() || !(0.0..=MAX_TTL_MS).contains(&n) {
        return Err(JsError::Range(format!(
            "{method}: ttlMs must be a finite number from 0 to {MAX_TTL_MS}, got {n}"
        )));
    }
    Ok(n)
}

/// `sessionIds` of `send`: `undefined` (broadcast) or an array of session ids.
pub fn session_ids(env: &Env, v: Value, method: &str) -> JsResult<Option<Vec<String>>> {
    match js::kind(env, v)? {
        Kind::Undefined => Ok(None),
        Kind::Array => js::array_elements(env, v)?
            .into_iter()
            .map(|item| {
                session_id(env, item, method).map_err(|_| {
                    JsError::Type(format!(
                        "{method}: sessionIds must be an array of non-empty strings or undefined"
                    ))
                })
            })
            .collect::<JsResult<Vec<_>>>()
            .map(Some),
        k => Err(JsError::Type(format!(
            "{method}: sessionIds must be an array of session ids or undefined, got {}",
            k.describe()
        ))),
    }
}

/// A string argument such as `data` of `send`.
pub fn string(env: &Env, v: Value, method: &str, name: &str) -> JsResult<String> {
    let k = js::kind(env, v)?;
    if k != Kind::String {
        return Err(JsError::Type(format!(
            "{method}: {name} must be a string, got {}",
            k.describe()
        )));
    }
    js::string_value(env, v)
}

/// An optional config object: `undefined` → `None`.
pub fn config(env: &Env, v: Value, class: &str) -> JsResult<Option<Value>> {
    match js::kind(env, v)? {
        Kind::Undefined => Ok(None),
        Kind::Object => Ok(Some(v)),
        k => Err(JsError::Type(format!(
            "new {class}: config must be an object, got {}",
            k.describe()
        ))),
    }
}

/// `ready()`'s optional options object, as plain values (`undefined` → `None`); the core
/// reads `timeoutMs` ([`crate::redis::ready::ready_timeout`]).
pub fn ready_options(env: &Env, v: Value, method: &str) -> JsResult<Option<crate::config::Object>> {
    match js::kind(env, v)? {
        Kind::Undefined => Ok(None),
        Kind::Object => Ok(Some(super::config::read_config(env, v, &[])?)),
        k => Err(JsError::Type(format!(
            "{method}: options must be an object {{ timeoutMs }}, got {}",
            k.describe()
        ))),
    }
}

/// For constructors: throws `error` and returns the napi error that says so.
pub fn throw(env: &Env, error: JsError) -> napi::Error {
    js::throw(env, &error);
    napi::Error::new(napi::Status::PendingException, error.message().to_owned())
}

/// Store-and-forward counters of one manager, since it was made (`manager.pendingStats()`).
#[napi_derive::napi(object, js_name = "PendingStats")]
pub struct PendingStatsJs {
    /// Messages kept because no stream took them.
    pub buffered: f64,
    /// Kept messages delivered to a stream that opened.
    pub replayed: f64,
    /// Kept messages that outlived `pendingTtl`.
    pub expired: f64,
    /// Kept messages dropped to stay within `pendingMaxMessages` / `pendingMaxBytes`.
    pub dropped: f64,
}

impl From<crate::pending::PendingStats> for PendingStatsJs {
    fn from(s: crate::pending::PendingStats) -> Self {
        PendingStatsJs {
            buffered: s.buffered as f64,
            replayed: s.replayed as f64,
            expired: s.expired as f64,
            dropped: s.dropped as f64,
        }
    }
}
