//! What a `RedisServerEventBus` config sets beyond its connection, over the defaults.

use std::time::Duration;

use super::{BusOptions, DEFAULT_BUS_PREFIX};
use crate::config::{
    count_field, number_field, string_field, warn_unknown_keys, ConfigError, ConfigResult, Object,
    MAX_TIMER_MS,
};
use crate::redis::config::CONNECTION_KEYS;
use crate::redis::event_log::{LogNames, Retention};

impl BusOptions {
    /// The keys of a `RedisServerEventBus` config beyond [`CONNECTION_KEYS`].
    pub const KEYS: [&'static str; 8] = [
        "prefix",
        "retentionMaxLength",
        "retentionMaxAgeMs",
        "outboxMaxLength",
        "outboxMaxAgeMs",
        "healthIntervalMs",
        "closeTimeoutMs",
        "onerror",
    ];

    /// `prefix`, `retentionMaxLength`, `retentionMaxAgeMs`, `outboxMaxLength`,
    /// `outboxMaxAgeMs`, `healthIntervalMs` and `closeTimeoutMs`.
    pub fn read(config: &Object, class: &str) -> ConfigResult<Self> {
        let known: Vec<&'static str> = CONNECTION_KEYS.iter().chain(&Self::KEYS).copied().collect();
        warn_unknown_keys(config, &known, class);
        let d = BusOptions::default();
        let count = |field: &str| count_field(Some(config), field, class, 1, 1_000_000_000);
        let num =
            |field: &str, min: f64, max: f64| number_field(Some(config), field, class, min, max);
        let ms = |v: f64| Duration::from_millis(v.ceil() as u64);
        let prefix = string_field(Some(config), "prefix", class)?
            .unwrap_or_else(|| DEFAULT_BUS_PREFIX.to_owned());
        if let Err(e) = LogNames::new(&prefix) {
            return Err(ConfigError::Type(format!(
                "new {class}: config.prefix: {e}"
            )));
        }
        Ok(BusOptions {
            prefix,
            retention: Retention {
                max_len: count("retentionMaxLength")?.unwrap_or(d.retention.max_len),
                max_age_ms: num("retentionMaxAgeMs", 0.0, MAX_TIMER_MS)?
                    .map_or(d.retention.max_age_ms, |n| n.ceil() as u64),
            },
            outbox_max: count("outboxMaxLength")?.map_or(d.outbox_max, |n| n as usize),
            outbox_max_age: num("outboxMaxAgeMs", 1.0, MAX_TIMER_MS)?.map_or(d.outbox_max_age, ms),
            health_interval: num("healthIntervalMs", 100.0, MAX_TIMER_MS)?
                .map_or(d.health_interval, ms),
            close_timeout: num("closeTimeoutMs", 0.0, MAX_TIMER_MS)?.map_or(d.close_timeout, ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Value;

    #[test]
    fn defaults_and_a_bad_prefix() {
        let read = BusOptions::read(&Object::default(), "B").expect("defaults");
        assert_eq!(read.prefix, DEFAULT_BUS_PREFIX);
        assert_eq!(read.outbox_max, BusOptions::default().outbox_max);
        let bad = Object(vec![("prefix".into(), Value::String("a{".into()))]);
        assert!(BusOptions::read(&bad, "B")
            .unwrap_err()
            .message()
            .starts_with("new B: config.prefix:"));
        let ms = Object(vec![("outboxMaxAgeMs".into(), Value::Number(0.5))]);
        assert!(matches!(
            BusOptions::read(&ms, "B"),
            Err(ConfigError::Range(_))
        ));
    }
}
