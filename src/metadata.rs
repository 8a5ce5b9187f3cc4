//! Session metadata as the core holds it: the exact JSON text `JSON.stringify` produced.
//!
//! The stores never need to look inside metadata, except the file store, which reads
//! `lastAccessedAt` on load to drop stale sessions. Keeping the text (shared, immutable)
//! makes a snapshot for a save a matter of cloning pointers, and keeps 1M sessions out of
//! the V8 heap.

use std::sync::Arc;

use serde::Deserialize;

/// Serialized session metadata (one JSON value, normally an object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata(Arc<str>);

impl Metadata {
    /// Wraps JSON text produced by `JSON.stringify` (or read from a trusted file).
    pub fn from_json(text: impl Into<Arc<str>>) -> Self {
        Metadata(text.into())
    }

    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// `lastAccessedAt` as JS's `Number()` would coerce it in `now - lastAccessedAt`:
    /// `null`/`false` → 0, `true` → 1, a numeric string → its value; `None` where the
    /// result is `NaN` (missing, non-numeric string, object).
    pub fn last_accessed_at_coerced(&self) -> Option<f64> {
        // `Some(Null)` for an explicit null, `None` for a missing field.
        fn present<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<Option<serde_json::Value>, D::Error> {
            serde_json::Value::deserialize(d).map(Some)
        }
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "lastAccessedAt", default, deserialize_with = "present")]
            last_accessed_at: Option<serde_json::Value>,
        }
        let probe = serde_json::from_str::<Probe>(&self.0).ok()?;
        match probe.last_accessed_at? {
            serde_json::Value::Null => Some(0.0),
            serde_json::Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => {
                let t = s.trim();
                if t.is_empty() {
                    Some(0.0)
                } else {
                    t.parse::<f64>().ok().filter(|v| v.is_finite())
                }
            }
            _ => None,
        }
    }

    /// Returns a copy whose `lastAccessedAt` is `now_ms`, other fields unchanged.
    /// Non-object metadata is returned as is.
    pub fn with_last_accessed_at(&self, now_ms: f64) -> Metadata {
        match serde_json::from_str::<serde_json::Value>(&self.0) {
            Ok(serde_json::Value::Object(mut map)) => {
                // Date.now() is a whole number: write it as one, as JSON.stringify does.
                let stamp = if now_ms.fract() == 0.0 && now_ms.abs() < 9.0e15 {
                    serde_json::Value::from(now_ms as i64)
                } else {
                    serde_json::Number::from_f64(now_ms)
                        .map(serde_json::Value::Number)
                        .unwrap_or(serde_json::Value::Null)
                };
                map.insert("lastAccessedAt".to_owned(), stamp);
                serde_json::to_string(&map)
                    .map(Metadata::from_json)
                    .unwrap_or_else(|_| self.clone())
            }
            _ => self.clone(),
        }
    }

    /// Bytes held, for accounting.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Milliseconds since the Unix epoch, as `Date.now()`.
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerces_last_accessed_at_like_js() {
        let c = |s: &str| Metadata::from_json(s).last_accessed_at_coerced();
        assert_eq!(c(r#"{"lastAccessedAt":null}"#), Some(0.0));
        assert_eq!(c(r#"{"lastAccessedAt":"12"}"#), Some(12.0));
        assert_eq!(c(r#"{"lastAccessedAt":true}"#), Some(1.0));
        assert_eq!(c(r#"{"lastAccessedAt":"abc"}"#), None);
        assert_eq!(c(r#"{"lastAccessedAt":{}}"#), None);
        assert_eq!(c(r#"{"other":1}"#), None);
        assert_eq!(c(r#"{"lastAccessedAt":5}"#), Some(5.0));
    }

    #[test]
    fn restamps_keeping_other_fields() {
        let m = Metadata::from_json(r#"{"a":{"b":[1]},"lastAccessedAt":1}"#);
        let r = m.with_last_accessed_at(42.0);
        // Key order is kept, as JSON.stringify of the updated object would write it.
        assert_eq!(r.as_json(), r#"{"a":{"b":[1]},"lastAccessedAt":42}"#);
        let z = Metadata::from_json(r#"{"zeta":1,"alpha":2}"#).with_last_accessed_at(7.0);
        assert_eq!(z.as_json(), r#"{"zeta":1,"alpha":2,"lastAccessedAt":7}"#);
    }
}
