//! What a `RedisStreamManager` config sets beyond its connection.

use crate::config::{
    number_field, string_field, warn_unknown_keys, ConfigResult, Object, MAX_TIMER_MS,
};
use crate::pending::PendingLimits;
use crate::redis::config::CONNECTION_KEYS;

use super::{DEFAULT_HEARTBEAT_SECS, DEFAULT_PREFIX};

/// `prefix`, `heartbeatInterval` (seconds, rounded up) and the store-and-forward limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerOptions {
    pub prefix: String,
    pub heartbeat_secs: u64,
    pub pending: PendingLimits,
}

impl ManagerOptions {
    /// The keys of a `RedisStreamManager` config beyond [`CONNECTION_KEYS`] and
    /// [`PendingLimits::KEYS`].
    pub const KEYS: [&'static str; 2] = ["prefix", "heartbeatInterval"];

    /// Reads them, and warns about keys no option has (a typo is not ignored silently).
    pub fn read(config: &Object, class: &str) -> ConfigResult<Self> {
        let known: Vec<&'static str> = CONNECTION_KEYS
            .iter()
            .chain(&Self::KEYS)
            .chain(&PendingLimits::KEYS)
            .copied()
            .collect();
        warn_unknown_keys(config, &known, class);
        let prefix = string_field(Some(config), "prefix", class)?
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        let heartbeat = number_field(
            Some(config),
            "heartbeatInterval",
            class,
            1.0,
            MAX_TIMER_MS / 1000.0,
        )?;
        Ok(ManagerOptions {
            prefix,
            heartbeat_secs: heartbeat.map_or(DEFAULT_HEARTBEAT_SECS, |h| h.ceil() as u64),
            pending: PendingLimits::read(Some(config), class)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, Value};

    #[test]
    fn options_default_as_mcp_use() {
        let read = ManagerOptions::read(&Object::default(), "M").expect("defaults");
        assert_eq!(read.prefix, DEFAULT_PREFIX);
        assert_eq!(read.heartbeat_secs, DEFAULT_HEARTBEAT_SECS);
        assert_eq!(read.pending, PendingLimits::default());
        let config = Object(vec![("heartbeatInterval".into(), Value::Number(0.5))]);
        assert!(matches!(
            ManagerOptions::read(&config, "M"),
            Err(ConfigError::Range(_))
        ));
        let config = Object(vec![("prefix".into(), Value::Number(1.0))]);
        assert_eq!(
            ManagerOptions::read(&config, "M").unwrap_err().message(),
            "new M: prefix must be a string, got a number"
        );
    }
}
