//! Reading typed fields of a config, with the error a constructor throws for a bad one: a
//! `TypeError` or `RangeError` naming the class and the field.

use std::fmt;

use super::value::{Object, Value};

/// The longest timer or timeout accepted, in ms: `setTimeout`'s limit (about 24.8 days).
pub const MAX_TIMER_MS: f64 = 2_147_483_647.0;

/// The longest TTL accepted, in ms (`Number.MAX_SAFE_INTEGER`; Redis takes it in seconds).
pub const MAX_TTL_MS: f64 = 9_007_199_254_740_991.0;

/// Why a config was refused, as the JS error the constructor throws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A `TypeError`: wrong kind of value, or a missing or conflicting field.
    Type(String),
    /// A `RangeError`: a number out of range.
    Range(String),
    /// An `Error`: the config is well-formed but cannot be used.
    Other(String),
}

impl ConfigError {
    pub fn message(&self) -> &str {
        match self {
            ConfigError::Type(m) | ConfigError::Range(m) | ConfigError::Other(m) => m,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ConfigError {}

pub type ConfigResult<T> = Result<T, ConfigError>;

/// Optional number `field` of `config`, within `min..=max`.
pub fn number_field(
    config: Option<&Object>,
    field: &str,
    class: &str,
    min: f64,
    max: f64,
) -> ConfigResult<Option<f64>> {
    let Some(v) = config.and_then(|c| c.get(field)) else {
        return Ok(None);
    };
    let Value::Number(n) = *v else {
        return Err(ConfigError::Type(format!(
            "new {class}: {field} must be a number, got {}",
            v.describe()
        )));
    };
    if !n.is_finite() || n < min || n > max {
        return Err(ConfigError::Range(format!(
            "new {class}: {field} must be a finite number from {min} to {max}, got {n}"
        )));
    }
    Ok(Some(n))
}

/// Optional count `field` of `config`: a whole number within `min..=max` (a RangeError
/// otherwise: `1.5` messages means nothing).
pub fn count_field(
    config: Option<&Object>,
    field: &str,
    class: &str,
    min: u64,
    max: u64,
) -> ConfigResult<Option<u64>> {
    let Some(n) = number_field(config, field, class, min as f64, max as f64)? else {
        return Ok(None);
    };
    if n.fract() != 0.0 {
        return Err(ConfigError::Range(format!(
            "new {class}: {field} must be a whole number from {min} to {max}, got {n}"
        )));
    }
    Ok(Some(n as u64))
}

/// Optional boolean `field` of `config`.
pub fn bool_field(config: &Object, field: &str, class: &str) -> ConfigResult<Option<bool>> {
    match config.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(ConfigError::Type(format!(
            "new {class}: {field} must be a boolean, got {}",
            v.describe()
        ))),
    }
}

/// Optional string `field` of `config`.
pub fn string_field(
    config: Option<&Object>,
    field: &str,
    class: &str,
) -> ConfigResult<Option<String>> {
    match config.and_then(|c| c.get(field)) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ConfigError::Type(format!(
            "new {class}: {field} must be a string, got {}",
            v.describe()
        ))),
    }
}

/// Property `name` of `object` when it is a non-empty string (a client's options are read
/// leniently: anything else counts as absent, as the client itself would ignore it).
pub fn opt_string(object: &Value, name: &str) -> Option<String> {
    object
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Property `name` of `object` when it is a finite number.
pub fn opt_number(object: &Value, name: &str) -> Option<f64> {
    match object.get(name) {
        Some(Value::Number(n)) if n.is_finite() => Some(*n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, Value)]) -> Object {
        Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn numbers_are_checked_for_kind_and_range() {
        let c = config(&[
            ("ok", Value::Number(5.0)),
            ("big", Value::Number(11.0)),
            ("nan", Value::Number(f64::NAN)),
            ("text", Value::String("5".into())),
        ]);
        assert_eq!(number_field(Some(&c), "ok", "C", 1.0, 10.0), Ok(Some(5.0)));
        assert_eq!(number_field(Some(&c), "absent", "C", 1.0, 10.0), Ok(None));
        assert_eq!(number_field(None, "ok", "C", 1.0, 10.0), Ok(None));
        assert_eq!(
            number_field(Some(&c), "big", "C", 1.0, 10.0),
            Err(ConfigError::Range(
                "new C: big must be a finite number from 1 to 10, got 11".into()
            ))
        );
        assert!(matches!(
            number_field(Some(&c), "nan", "C", 1.0, 10.0),
            Err(ConfigError::Range(_))
        ));
        assert_eq!(
            number_field(Some(&c), "text", "C", 1.0, 10.0),
            Err(ConfigError::Type(
                "new C: text must be a number, got a string".into()
            ))
        );
    }

    #[test]
    fn counts_are_whole_numbers() {
        let c = config(&[("n", Value::Number(3.0)), ("half", Value::Number(1.5))]);
        assert_eq!(count_field(Some(&c), "n", "C", 1, 10), Ok(Some(3)));
        assert_eq!(
            count_field(Some(&c), "half", "C", 1, 10),
            Err(ConfigError::Range(
                "new C: half must be a whole number from 1 to 10, got 1.5".into()
            ))
        );
    }

    #[test]
    fn strings_and_booleans_name_the_kind_they_got() {
        let c = config(&[("s", Value::Bool(true)), ("b", Value::Array(vec![]))]);
        assert_eq!(
            string_field(Some(&c), "s", "C").unwrap_err().message(),
            "new C: s must be a string, got a boolean"
        );
        assert_eq!(
            bool_field(&c, "b", "C").unwrap_err().message(),
            "new C: b must be a boolean, got an array"
        );
    }

    #[test]
    fn a_clients_options_are_read_leniently() {
        let o = Value::Object(config(&[
            ("host", Value::String("h".into())),
            ("empty", Value::String(String::new())),
            ("port", Value::Number(6380.0)),
            ("inf", Value::Number(f64::INFINITY)),
        ]));
        assert_eq!(opt_string(&o, "host").as_deref(), Some("h"));
        assert_eq!(opt_string(&o, "empty"), None);
        assert_eq!(opt_string(&o, "port"), None);
        assert_eq!(opt_number(&o, "port"), Some(6380.0));
        assert_eq!(opt_number(&o, "inf"), None);
    }
}
