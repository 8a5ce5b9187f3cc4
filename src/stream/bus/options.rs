//! What a `RedisServerEventBus` config sets beyond its connection, over the defaults.

use std::time::Duration;

use super::{BusOptions, DEFAULT_BUS_PREFIX};
use crate::config::{number_field, string_field, ConfigError, ConfigResult, Object, MAX_TIMER_MS};
use crate::redis::event_log::{LogNames, Retention};

impl BusOptions {
    /// `prefix`, `retentionMaxLength`, `retentionMaxAgeMs`, `outboxMaxLength`,
    /// `outboxMaxAgeMs`, `healthIntervalMs` and `closeTimeoutMs`.
    pub fn read(config: &Object, class: &str) -> ConfigResult<Self> {
        let d = BusOptions::default();
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
                max_len: num("retentionMaxLength", 1.0, 1e9)?
                    .map_or(d.retention.max_len, |n| n.floor() as u64),
                max_age_ms: num("retentionMaxAgeMs", 0.0, MAX_TIMER_MS)?
                    .map_or(d.retention.max_age_ms, |n| n.ceil() as u64),
            },
            outbox_max: num("outboxMaxLength", 1.0, 1e9)?
                .map_or(d.outbox_max, |n| n.floor() as usize),
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
