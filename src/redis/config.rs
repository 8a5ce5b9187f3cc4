//! What a Redis class's config asks for: the addon's own native connections (from `{ url }`,
//! `{ nodes }`, `{ sentinels, name }` or read off a node-redis / ioredis client's options), or
//! the user's client objects driven through their own methods, and with which settings.
//!
//! `config.driver` picks: `"native"` needs settings it can read (a TypeError otherwise),
//! `"client"` always drives the objects, and `"auto"` (the default) uses the native
//! connections for node-redis and ioredis clients whose settings it can reproduce and drives
//! anything else (a fake, a wrapper, a node-redis `createSentinel` object).

use std::time::Duration;

use crate::config::{
    bool_field, number_field, ConfigError, ConfigResult, Object, Value, MAX_TIMER_MS,
};
use crate::redis::native::conn::{
    client_settings, is_known_client, nodes_settings, sentinel_settings, url_settings,
};
use crate::redis::RedisSettings;

/// The keys of a Redis class's config that say how to reach Redis (the class adds its own).
pub const CONNECTION_KEYS: [&str; 17] = [
    "client",
    "pubSubClient",
    "url",
    "nodes",
    "sentinels",
    "name",
    "sentinelPassword",
    "sentinelUsername",
    "role",
    "username",
    "password",
    "db",
    "database",
    "tls",
    "driver",
    "commandTimeoutMs",
    "shardedPubSub",
];

/// The command time limit of driven clients when `commandTimeoutMs` is not given.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// `config.driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Auto,
    Native,
    Client,
}

/// How a Redis class reaches Redis.
#[derive(Debug, Clone)]
pub enum Backends {
    /// The addon's own connections: commands, and the subscriber (a stream manager's).
    Native {
        commands: Box<RedisSettings>,
        subscriber: Box<RedisSettings>,
    },
    /// `config.client` (and `config[pub_sub_field]`) driven through their own methods, each
    /// batch bounded by `timeout`.
    Driven { timeout: Duration },
}

fn driver(config: &Object, class: &str) -> ConfigResult<Driver> {
    match config.get("driver") {
        None => Ok(Driver::Auto),
        Some(Value::String(s)) if s == "auto" => Ok(Driver::Auto),
        Some(Value::String(s)) if s == "native" => Ok(Driver::Native),
        Some(Value::String(s)) if s == "client" => Ok(Driver::Client),
        Some(_) => Err(ConfigError::Type(format!(
            "new {class}: config.driver must be \"auto\", \"native\" or \"client\""
        ))),
    }
}

/// `config[field]`: absent, or a client object.
pub fn client_field<'a>(
    config: &'a Object,
    field: &str,
    class: &str,
) -> ConfigResult<Option<&'a Value>> {
    match config.get(field) {
        None => Ok(None),
        Some(v @ Value::Client(_)) => Ok(Some(v)),
        Some(v) => Err(ConfigError::Type(format!(
            "new {class}: config.{field} must be a Redis client (node-redis, ioredis, or an object with the RedisClient methods), got {}",
            v.describe()
        ))),
    }
}

/// The backends `config` of `class` asks for: commands through `config.client` (or `url`,
/// `nodes`, `sentinels`), and with `pub_sub_field` a subscriber through
/// `config[pub_sub_field]`.
pub fn backends(
    config: &Object,
    class: &str,
    pub_sub_field: Option<&str>,
) -> ConfigResult<Backends> {
    backends_sharded_by_default(config, class, pub_sub_field, false)
}

/// [`backends`], with `shardedPubSub` defaulting to `sharded_default` (the event bus's log
/// and channel share a slot, so sharded pub/sub fits it by default).
pub fn backends_sharded_by_default(
    config: &Object,
    class: &str,
    pub_sub_field: Option<&str>,
    sharded_default: bool,
) -> ConfigResult<Backends> {
    let driver = driver(config, class)?;
    let client = client_field(config, "client", class)?;
    let pub_sub = match pub_sub_field {
        Some(field) => client_field(config, field, class)?,
        None => None,
    };
    let timeout = number_field(Some(config), "commandTimeoutMs", class, 1.0, MAX_TIMER_MS)?
        .map(|ms| Duration::from_millis(ms.ceil() as u64));
    let url = config.get("url");
    let nodes = config.get("nodes");
    let sentinels = config.get("sentinels");
    let named: Vec<&str> = [("url", url), ("nodes", nodes), ("sentinels", sentinels)]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(n, _)| *n)
        .collect();
    if named.len() > 1 {
        return Err(ConfigError::Type(format!(
            "new {class}: pass one of url, nodes and sentinels, not {}",
            named.join(" and ")
        )));
    }
    if let (Some(field), Driver::Client) = (named.first(), driver) {
        return Err(ConfigError::Type(format!(
            "new {class}: driver \"client\" drives config.client; it cannot be combined with {field}"
        )));
    }
    let config_value = Value::Object(config.clone());
    let own = if let Some(url) = url {
        Some(url_settings(url, class)?)
    } else if let Some(nodes) = nodes {
        Some(nodes_settings(
            nodes,
            Some(&config_value),
            "config.nodes",
            class,
        )?)
    } else if sentinels.is_some() {
        Some(sentinel_settings(&config_value, "config", class)?)
    } else {
        None
    };
    let native = match (own, client) {
        (Some(settings), _) => Some((settings.clone(), settings)),
        (None, None) => {
            return Err(ConfigError::Type(format!(
                "new {class}: config.client is required (a node-redis or ioredis client, or any object with the RedisClient methods), or pass {{ url: \"redis://host:6379\" }}, {{ nodes: [...] }} (Redis Cluster) or {{ sentinels: [...], name }}"
            )))
        }
        (None, Some(client)) => match driver {
            Driver::Client => None,
            Driver::Native => Some(client_settings(client, pub_sub, pub_sub_field, class)?),
            // node-redis and ioredis clients (single node, ioredis Cluster and Sentinel,
            // node-redis v5 clusters) take the native path; one whose settings cannot be
            // reproduced (keyPrefix, a node-redis v4 cluster) is refused as with "native"
            // (`driver: "client"` drives it on request). Anything else (a fake, a wrapper,
            // a node-redis createSentinel object) is driven.
            Driver::Auto => {
                let known = |v: &Value| matches!(v, Value::Client(c) if is_known_client(c));
                if known(client) && pub_sub.is_none_or(known) {
                    Some(client_settings(client, pub_sub, pub_sub_field, class)?)
                } else {
                    None
                }
            }
        },
    };
    let sharded = match pub_sub_field {
        Some(_) => bool_field(config, "shardedPubSub", class)?.unwrap_or(sharded_default),
        None => false,
    };
    let Some((mut commands, mut subscriber)) = native else {
        if client.is_none() {
            return Err(ConfigError::Type(format!(
                "new {class}: driver \"client\" needs config.client"
            )));
        }
        if let (Some(field), None) = (pub_sub_field, pub_sub) {
            return Err(ConfigError::Type(format!(
                "new {class}: config.{field} is required when the clients are driven through their own methods (a dedicated connection for subscriptions)"
            )));
        }
        return Ok(Backends::Driven {
            timeout: timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
        });
    };
    for s in [&mut commands, &mut subscriber] {
        s.sharded_pub_sub = sharded;
        if let Some(limit) = timeout {
            s.command_timeout = limit;
            s.response_timeout = limit;
            s.connect_timeout = s.connect_timeout.min(limit);
        }
    }
    Ok(Backends::Native {
        commands: Box::new(commands),
        subscriber: Box::new(subscriber),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::build::{array, client, num, object, text};

    fn config(pairs: &[(&str, Value)]) -> Object {
        match object(pairs) {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    fn fake() -> Value {
        Value::Client(Box::default())
    }

    fn known() -> Value {
        client(object(&[("host", text("h"))]))
    }

    #[test]
    fn auto_reads_known_clients_and_drives_anything_else() {
        let native = backends(
            &config(&[("client", known()), ("pubSubClient", known())]),
            "M",
            Some("pubSubClient"),
        );
        assert!(matches!(native, Ok(Backends::Native { .. })));
        let driven = backends(
            &config(&[("client", fake()), ("pubSubClient", fake())]),
            "M",
            Some("pubSubClient"),
        );
        assert!(
            matches!(driven, Ok(Backends::Driven { timeout }) if timeout == DEFAULT_COMMAND_TIMEOUT)
        );
        let mixed = backends(
            &config(&[("client", known()), ("pubSubClient", fake())]),
            "M",
            Some("pubSubClient"),
        );
        assert!(
            matches!(mixed, Ok(Backends::Driven { .. })),
            "both or neither"
        );
        let forced = backends(
            &config(&[("client", known()), ("driver", text("client"))]),
            "S",
            None,
        );
        assert!(matches!(forced, Ok(Backends::Driven { .. })));
        let native_fake = backends(
            &config(&[("client", fake()), ("driver", text("native"))]),
            "S",
            None,
        );
        assert!(native_fake
            .unwrap_err()
            .message()
            .contains("cannot read the connection settings"));
    }

    #[test]
    fn timeouts_and_sharding_apply_to_both_connections() {
        let Ok(Backends::Native {
            commands,
            subscriber,
        }) = backends(
            &config(&[
                ("url", text("redis://h:1")),
                ("commandTimeoutMs", num(1500.5)),
                ("shardedPubSub", Value::Bool(true)),
            ]),
            "M",
            Some("pubSubClient"),
        )
        else {
            panic!("native")
        };
        for s in [&commands, &subscriber] {
            assert_eq!(s.command_timeout, Duration::from_millis(1501));
            assert_eq!(s.response_timeout, Duration::from_millis(1501));
            assert!(s.connect_timeout <= s.command_timeout);
            assert!(s.sharded_pub_sub);
        }
        let Ok(Backends::Native { commands, .. }) = backends(
            &config(&[
                ("url", text("redis://h:1")),
                ("shardedPubSub", Value::Bool(true)),
            ]),
            "S",
            None,
        ) else {
            panic!("native")
        };
        assert!(
            !commands.sharded_pub_sub,
            "a store has no subscriber to shard"
        );
    }

    #[test]
    fn conflicting_or_missing_settings_are_type_errors() {
        let err = |pairs: &[(&str, Value)], sub: Option<&str>| {
            backends(&config(pairs), "C", sub).unwrap_err()
        };
        assert_eq!(
            err(
                &[("url", text("redis://h")), ("nodes", array(&[text("h:1")]))],
                None
            ),
            ConfigError::Type(
                "new C: pass one of url, nodes and sentinels, not url and nodes".into()
            )
        );
        assert!(err(&[], None)
            .message()
            .contains("config.client is required"));
        assert!(err(
            &[("url", text("redis://h")), ("driver", text("client"))],
            None
        )
        .message()
        .contains("cannot be combined with url"));
        assert!(err(&[("driver", text("fast"))], None)
            .message()
            .contains("config.driver must be"));
        assert_eq!(
            err(&[("client", text("redis://h"))], None),
            ConfigError::Type("new C: config.client must be a Redis client (node-redis, ioredis, or an object with the RedisClient methods), got a string".into())
        );
        assert!(err(&[("client", fake())], Some("pubSubClient"))
            .message()
            .contains("config.pubSubClient is required"));
        assert!(matches!(
            err(
                &[("url", text("redis://h")), ("commandTimeoutMs", num(0.0))],
                None
            ),
            ConfigError::Range(_)
        ));
    }
}
