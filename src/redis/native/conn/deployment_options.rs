//! Settings of deployments beyond one node: `{ nodes: [...] }` (a Redis Cluster),
//! `{ sentinels: [...], name }` (ioredis' Sentinel options), and the same read off a
//! node-redis v5 `createCluster` object, an ioredis `Cluster` or an ioredis client in
//! Sentinel mode.

use super::address::{host_port, port, redact, valid_host, REDIS_PORT, SENTINEL_PORT};
use super::endpoint::RedisEndpoint;
use super::sentinel::SentinelGroup;
use super::settings::RedisSettings;
use crate::config::{opt_number, opt_string, ClientShape, ConfigError, ConfigResult, Value};

/// `config.nodes`: URLs, `"host:port"` texts, ports, or `{ host, port }` / `{ url }` objects
/// of some of a cluster's nodes, with the credentials and TLS of `auth` (ioredis'
/// `redisOptions`, node-redis' `defaults`).
pub fn nodes_settings(
    nodes: &Value,
    auth: Option<&Value>,
    what: &str,
    class: &str,
) -> ConfigResult<RedisSettings> {
    let bad = || {
        ConfigError::Type(format!(
            "new {class}: {what} must be a non-empty array of redis:// URLs or {{ host, port }} objects"
        ))
    };
    let Value::Array(elements) = nodes else {
        return Err(bad());
    };
    if elements.is_empty() {
        return Err(bad());
    }
    let mut settings = Vec::with_capacity(elements.len());
    for node in elements {
        settings.push(match node {
            // ioredis also takes "host:port" and bare ports.
            Value::String(text) if !text.contains("://") => {
                let (host, port) = host_port(text, REDIS_PORT).map_err(|_| {
                    ConfigError::Range(format!(
                        "new {class}: {what} holds {:?}, not host:port",
                        redact(text)
                    ))
                })?;
                with_auth(
                    auth,
                    RedisEndpoint {
                        host,
                        port,
                        ..Default::default()
                    },
                )
            }
            Value::Number(n) => {
                let port = port(*n).ok_or_else(|| {
                    ConfigError::Range(format!("new {class}: {what} holds {n}, not a TCP port"))
                })?;
                let e = RedisEndpoint {
                    host: "127.0.0.1".to_owned(),
                    port,
                    ..Default::default()
                };
                with_auth(auth, e)
            }
            Value::String(text) => checked_url(text, what, class)?,
            Value::Object(_) => match opt_string(node, "url") {
                Some(u) => checked_url(&u, what, class)?,
                None => {
                    let socket = node
                        .get("socket")
                        .filter(|s| matches!(s, Value::Object(_)))
                        .unwrap_or(node);
                    with_auth(auth, endpoint(socket, what, class)?)
                }
            },
            _ => return Err(bad()),
        });
    }
    Ok(RedisSettings::cluster(&settings))
}

/// Settings of one node at `endpoint`, with the credentials and TLS of `auth`.
fn with_auth(auth: Option<&Value>, mut endpoint: RedisEndpoint) -> RedisSettings {
    if let Some(auth) = auth {
        credentials(auth, &mut endpoint);
        if let Some(socket) = auth.get("socket").filter(|s| matches!(s, Value::Object(_))) {
            credentials(socket, &mut endpoint);
        }
    }
    RedisSettings::from_parts(&endpoint)
}

fn checked_url(text: &str, what: &str, class: &str) -> ConfigResult<RedisSettings> {
    if !(text.starts_with("redis://") || text.starts_with("rediss://")) {
        return Err(ConfigError::Type(format!(
            "new {class}: {what} holds {:?}, not a redis:// or rediss:// URL",
            redact(text)
        )));
    }
    Ok(RedisSettings::from_url(text))
}

/// `{ host, port }` of one node (a port as a number; host 127.0.0.1 when absent).
fn endpoint(object: &Value, what: &str, class: &str) -> ConfigResult<RedisEndpoint> {
    let host = opt_string(object, "host").unwrap_or_else(|| "127.0.0.1".to_owned());
    if !valid_host(host.trim_start_matches('[').trim_end_matches(']')) {
        return Err(ConfigError::Type(format!(
            "new {class}: {what} has host {:?}, not a host name or IP address",
            redact(&host)
        )));
    }
    let given = opt_number(object, "port").unwrap_or(f64::from(REDIS_PORT));
    let port = port(given).ok_or_else(|| {
        ConfigError::Range(format!(
            "new {class}: {what} has port {given}, not a TCP port"
        ))
    })?;
    Ok(RedisEndpoint {
        host,
        port,
        ..Default::default()
    })
}

/// `username`, `password` and `db` / `database` of `object` into `endpoint`; `tls` (true or
/// an object) turns TLS on.
fn credentials(object: &Value, endpoint: &mut RedisEndpoint) {
    endpoint.username = opt_string(object, "username").or(endpoint.username.take());
    endpoint.password = opt_string(object, "password").or(endpoint.password.take());
    if let Some(db) = opt_number(object, "db").or(opt_number(object, "database")) {
        endpoint.db = db as i64;
    }
    match object.get("tls") {
        Some(Value::Bool(b)) => endpoint.tls = *b,
        Some(v) if v.is_object() => endpoint.tls = true,
        _ => {}
    }
}

/// ioredis' Sentinel options on `object` (a config or an ioredis client's `options`):
/// `sentinels: [{ host, port }]`, `name`, `sentinelPassword?`, `sentinelUsername?`, `role?`
/// (only the primary: the session layer writes), and the data nodes' `username`, `password`,
/// `db`.
pub fn sentinel_settings(object: &Value, what: &str, class: &str) -> ConfigResult<RedisSettings> {
    let Some(list) = object.get("sentinels") else {
        return Err(ConfigError::Type(format!(
            "new {class}: {what}.sentinels is required"
        )));
    };
    let bad = || {
        ConfigError::Type(format!(
            "new {class}: {what}.sentinels must be a non-empty array of {{ host, port }}"
        ))
    };
    let Value::Array(list) = list else {
        return Err(bad());
    };
    let mut group = SentinelGroup::default();
    for s in list {
        if !matches!(s, Value::Object(_)) {
            return Err(bad());
        }
        let mut e = endpoint(s, &format!("{what}.sentinels"), class)?;
        if opt_number(s, "port").is_none() {
            e.port = SENTINEL_PORT;
        }
        group.sentinels.push((e.host, e.port));
    }
    if group.sentinels.is_empty() {
        return Err(bad());
    }
    group.name = opt_string(object, "name").ok_or_else(|| {
        ConfigError::Type(format!(
            "new {class}: {what}.name is required with sentinels (the primary's name, e.g. \"mymaster\")"
        ))
    })?;
    group.sentinel_password = opt_string(object, "sentinelPassword");
    group.sentinel_username = opt_string(object, "sentinelUsername");
    match opt_string(object, "role").as_deref() {
        None | Some("master") | Some("primary") => {}
        Some(other) => {
            return Err(ConfigError::Type(format!(
                "new {class}: {what}.role is {other:?}; the session layer writes, so it connects to the primary (role \"master\")"
            )))
        }
    }
    let mut node = RedisEndpoint::default();
    credentials(object, &mut node);
    if node.tls {
        return Err(ConfigError::Type(format!(
            "new {class}: TLS with Sentinel is not supported by the native connections yet; drive the client with driver \"client\""
        )));
    }
    Ok(RedisSettings::sentinel(group, node))
}

/// The settings of a cluster client object: an ioredis `Cluster` (`startupNodes`,
/// `options.redisOptions`) or a node-redis v5 `createCluster` (`_options.rootNodes`,
/// `_options.defaults`). `None` for anything else.
pub fn cluster_object(
    client: &ClientShape,
    field: &str,
    class: &str,
) -> ConfigResult<Option<RedisSettings>> {
    let what = format!("config.{field}");
    if let Some(nodes) = &client.startup_nodes {
        let auth = client.options.as_ref().and_then(|o| o.get("redisOptions"));
        return nodes_settings(nodes, auth, &format!("{what}.startupNodes"), class).map(Some);
    }
    if let Some(options) = &client.private_options {
        if let Some(nodes) = options.get("rootNodes") {
            let defaults = options.get("defaults");
            return nodes_settings(nodes, defaults, &format!("{what} rootNodes"), class).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::build::{array, num, object, text};

    #[test]
    fn cluster_nodes_are_urls_texts_ports_or_objects() {
        let nodes = array(&[
            text("redis://a:7000"),
            text("b:7001"),
            text("::1"),
            num(7002.0),
            object(&[("host", text("c")), ("port", num(7003.0))]),
            object(&[("url", text("rediss://d:7004"))]),
        ]);
        let auth = object(&[("password", text("secret"))]);
        let settings = nodes_settings(&nodes, Some(&auth), "config.nodes", "C").unwrap();
        assert_eq!(
            settings.redacted_url(),
            "Redis Cluster (redis://a:7000, redis://***@b:7001/0, redis://***@[::1]:6379/0, \
             redis://***@127.0.0.1:7002/0, redis://***@c:7003/0, rediss://d:7004)"
        );
    }

    #[test]
    fn bad_cluster_nodes_say_which() {
        let err = |nodes: Value| nodes_settings(&nodes, None, "config.nodes", "C").unwrap_err();
        assert!(matches!(err(array(&[])), ConfigError::Type(_)));
        assert!(matches!(err(text("a:1")), ConfigError::Type(_)));
        assert_eq!(
            err(array(&[text("a:x")])),
            ConfigError::Range("new C: config.nodes holds \"a:x\", not host:port".into())
        );
        assert_eq!(
            err(array(&[num(0.0)])),
            ConfigError::Range("new C: config.nodes holds 0, not a TCP port".into())
        );
        assert!(err(array(&[text("http://a")]))
            .message()
            .contains("not a redis://"));
    }

    #[test]
    fn sentinels_default_their_port_and_refuse_replicas_and_tls() {
        let config = |extra: &[(&str, Value)]| {
            let mut pairs = vec![
                (
                    "sentinels",
                    array(&[
                        object(&[("host", text("s"))]),
                        object(&[("port", num(26380.0))]),
                    ]),
                ),
                ("name", text("m")),
                ("sentinelPassword", text("sp")),
            ];
            pairs.extend(extra.iter().cloned());
            object(&pairs)
        };
        let settings = sentinel_settings(&config(&[]), "config", "C").unwrap();
        let (group, _) = settings.sentinel_parts().unwrap();
        assert_eq!(
            group.sentinels,
            vec![("s".to_owned(), 26379), ("127.0.0.1".to_owned(), 26380)]
        );
        assert_eq!(group.sentinel_password.as_deref(), Some("sp"));
        let refused = |extra: &[(&str, Value)]| {
            sentinel_settings(&config(extra), "config", "C")
                .unwrap_err()
                .message()
                .to_owned()
        };
        assert!(refused(&[("role", text("slave"))]).contains("role is \"slave\""));
        assert!(refused(&[("tls", Value::Bool(true))]).contains("TLS with Sentinel"));
        let no_name = object(&[("sentinels", array(&[object(&[])]))]);
        assert!(sentinel_settings(&no_name, "config", "C")
            .unwrap_err()
            .message()
            .contains("name is required"));
    }
}
