//! Settings from a config: `{ url }` as given, or what a node-redis v4/v5 or ioredis client's
//! `options` hold (host, port or Unix socket, user, password, database, TLS and its
//! certificates), refusing what the native connections cannot reproduce.

use super::address::REDIS_PORT;
use super::deployment_options::{cluster_object, sentinel_settings};
use super::endpoint::RedisEndpoint;
use super::settings::{RedisSettings, RedisTls};
use crate::config::{opt_number, opt_string, ClientShape, ConfigError, ConfigResult, Value};

/// `config.url`: a `redis://`, `rediss://`, `redis+unix://` (or `unix://`) URL, parsed when
/// connecting, or a `redis+sentinel://` URL, parsed now.
pub fn url_settings(url: &Value, class: &str) -> ConfigResult<RedisSettings> {
    let text = url.as_str().unwrap_or("");
    if text.starts_with("redis+sentinel://") {
        return RedisSettings::from_sentinel_url(text)
            .map_err(|why| ConfigError::Type(format!("new {class}: {why}")));
    }
    const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];
    if !SCHEMES
        .iter()
        .any(|s| text.len() > s.len() && text.starts_with(s))
    {
        return Err(ConfigError::Type(format!(
            "new {class}: url must be a redis://, rediss://, redis+unix:// or redis+sentinel:// URL"
        )));
    }
    Ok(RedisSettings::from_url(text))
}

/// Whether `client` is a node-redis (v4/v5) or ioredis client, whose settings the native
/// connections can reproduce: it has `options` (or `_options`), `duplicate` and
/// `sendCommand`. Anything else (a fake, a wrapper) is driven through its own methods.
pub fn is_known_client(client: &ClientShape) -> bool {
    let has_options = [&client.options, &client.private_options]
        .into_iter()
        .flatten()
        .any(|o| matches!(o, Value::Object(_)));
    has_options && client.has_method("duplicate") && client.has_method("sendCommand")
}

/// Settings read off `client` and, for the subscriber, off `pub_sub` (else `client`'s).
pub fn client_settings(
    client: &Value,
    pub_sub: Option<&Value>,
    pub_sub_field: Option<&str>,
    class: &str,
) -> ConfigResult<(RedisSettings, RedisSettings)> {
    let settings = from_client(client, "client", class)?;
    let sub_settings = match (pub_sub, pub_sub_field) {
        (Some(p), Some(field)) => from_client(p, field, class)?,
        _ => settings.clone(),
    };
    Ok((settings, sub_settings))
}

fn from_client(client: &Value, field: &str, class: &str) -> ConfigResult<RedisSettings> {
    let unreadable = || {
        ConfigError::Type(format!(
            "new {class}: cannot read the connection settings of config.{field} (driver \"native\"): expected a node-redis (v4/v5) or ioredis client (with .options); pass {{ url: \"redis://host:6379\" }}, or let the addon drive the object with driver \"auto\" or \"client\""
        ))
    };
    let Value::Client(client) = client else {
        return Err(unreadable());
    };
    let unsupported = |what: &str| {
        ConfigError::Type(format!("new {class}: config.{field} is {what}, which the native connections do not support: pass a single-node client or {{ url }}, or drive it with driver \"client\""))
    };
    let options = client
        .options
        .as_ref()
        .filter(|o| matches!(o, Value::Object(_)));
    // ioredis' keyPrefix (on a Cluster, also under redisOptions) would not be applied by the
    // addon's own connections.
    let redis_options = options.and_then(|o| o.get("redisOptions"));
    for o in [options, redis_options].into_iter().flatten() {
        if matches!(o, Value::Object(_)) && opt_string(o, "keyPrefix").is_some() {
            return Err(ConfigError::Type(format!(
                "new {class}: config.{field} has an ioredis keyPrefix, which the addon's own connections would not apply (keys would not match mcp-use's); use the prefix option, or drive the client with driver \"client\""
            )));
        }
    }
    // ioredis Cluster (`startupNodes`), node-redis v5 createCluster (`_options.rootNodes`).
    if let Some(settings) = cluster_object(client, field, class)? {
        return Ok(settings);
    }
    let Some(options) = options else {
        if client.has_method("nodeClient") {
            return Err(unsupported(
                "a node-redis v4 cluster, whose settings are private (pass { nodes: [...] } instead)",
            ));
        }
        if client.has_method("acquire") {
            return Err(unsupported(
                "a node-redis createSentinel() object, whose settings are private (pass { sentinels, name } or a redis+sentinel:// url instead)",
            ));
        }
        return Err(unreadable());
    };
    if options.get("rootNodes").is_some() {
        return Err(unsupported(
            "a node-redis v4 cluster, whose settings are private",
        ));
    }
    if let Some(Value::Array(sentinels)) = options.get("sentinels") {
        if !sentinels.is_empty() {
            return sentinel_settings(options, &format!("config.{field}.options"), class);
        }
    }
    // node-redis keeps the socket settings under `socket`, ioredis at the top level.
    let socket_or_options = options
        .get("socket")
        .filter(|s| matches!(s, Value::Object(_)))
        .unwrap_or(options);

    let username = opt_string(options, "username");
    let password = opt_string(options, "password");
    let db = opt_number(options, "database")
        .or(opt_number(options, "db"))
        .unwrap_or(0.0) as i64;
    if let Some(path) = opt_string(socket_or_options, "path") {
        return Ok(RedisSettings::from_parts(&RedisEndpoint {
            path: Some(path.into()),
            username,
            password,
            db,
            ..Default::default()
        }));
    }
    let url = opt_string(options, "url");
    let Some(host) = opt_string(socket_or_options, "host") else {
        return match url {
            Some(url) => Ok(RedisSettings::from_url(url)),
            None => Ok(RedisSettings::from_parts(&RedisEndpoint {
                host: "localhost".into(),
                port: REDIS_PORT,
                ..Default::default()
            })),
        };
    };
    if !super::address::valid_host(host.trim_start_matches('[').trim_end_matches(']')) {
        return Err(ConfigError::Type(format!(
            "new {class}: config.{field} has host {:?}, not a host name or IP address",
            super::address::redact(&host)
        )));
    }
    let port = opt_number(socket_or_options, "port").unwrap_or(f64::from(REDIS_PORT));
    let Some(port) = super::address::port(port) else {
        return Err(ConfigError::Range(format!(
            "new {class}: config.{field} has port {port}, not a TCP port"
        )));
    };
    // node-redis: `socket.tls: true` with `socket.ca/cert/key`; ioredis: `tls: { ca, cert, key }`.
    let tls_option = socket_or_options.get("tls");
    let tls = match tls_option {
        None => url.as_deref().is_some_and(|u| u.starts_with("rediss:")),
        Some(Value::Bool(b)) => *b,
        Some(v) => v.is_object(),
    };
    let pem_source = match tls_option {
        Some(v @ Value::Object(_)) => v,
        _ => socket_or_options,
    };
    let endpoint = RedisEndpoint {
        host,
        port,
        path: None,
        username,
        password,
        db,
        tls,
    };
    let mut settings = RedisSettings::from_parts(&endpoint);
    settings.tls = RedisTls {
        ca_pem: pem(pem_source, "ca"),
        client_cert_pem: pem(pem_source, "cert"),
        client_key_pem: pem(pem_source, "key"),
    };
    Ok(settings)
}

/// PEM text from a string, a Buffer, or an array of them (as Node's `tls` options allow).
fn pem(object: &Value, name: &str) -> Option<Vec<u8>> {
    let v = object.get(name)?;
    let parts: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        Value::String(_) | Value::Bytes(_) | Value::Object(_) | Value::Client(_) => vec![v],
        _ => return None,
    };
    let mut out = Vec::new();
    for part in parts {
        match part {
            Value::String(s) => out.extend_from_slice(s.as_bytes()),
            Value::Bytes(b) => out.extend_from_slice(b),
            // String(object) of anything else, as Node's tls would read it: nothing usable.
            other => out.extend_from_slice(string_of(other).as_bytes()),
        }
        out.push(b'\n');
    }
    Some(out)
}

/// What `String(v)` gives for a value that is neither text nor bytes.
fn string_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) => String::new(),
        _ => "[object Object]".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::build::{array, client, num, object, text};

    fn read(client: &Value) -> ConfigResult<RedisSettings> {
        from_client(client, "client", "C")
    }

    #[test]
    fn urls_need_a_redis_scheme_and_sentinel_urls_parse_now() {
        assert_eq!(
            url_settings(&text("rediss://h:1/2"), "C")
                .unwrap()
                .redacted_url(),
            "rediss://h:1/2"
        );
        let sentinel = url_settings(&text("redis+sentinel://a,b:1/m"), "C").unwrap();
        assert!(sentinel.sentinel_parts().is_some());
        for bad in [text("http://h"), text("redis://"), num(1.0)] {
            assert_eq!(
                url_settings(&bad, "C").unwrap_err(),
                ConfigError::Type(
                    "new C: url must be a redis://, rediss://, redis+unix:// or redis+sentinel:// URL"
                        .into()
                )
            );
        }
    }

    #[test]
    fn node_redis_and_ioredis_options_become_typed_settings() {
        let node_redis = client(object(&[
            (
                "socket",
                object(&[("host", text("h")), ("port", num(6380.0))]),
            ),
            ("username", text("u")),
            ("password", text("secret")),
            ("database", num(3.0)),
        ]));
        assert_eq!(
            read(&node_redis).unwrap().redacted_url(),
            "redis://***@h:6380/3"
        );
        let ioredis = client(object(&[
            ("host", text("::1")),
            ("port", num(7000.0)),
            ("db", num(1.0)),
            ("tls", object(&[("ca", Value::Bytes(b"PEM".to_vec()))])),
        ]));
        let settings = read(&ioredis).unwrap();
        assert_eq!(settings.redacted_url(), "rediss://[::1]:7000/1");
        assert_eq!(settings.tls.ca_pem.as_deref(), Some(&b"PEM\n"[..]));
        let unix = client(object(&[(
            "socket",
            object(&[("path", text("/tmp/r.sock"))]),
        )]));
        assert_eq!(
            read(&unix).unwrap().redacted_url(),
            "redis+unix:///tmp/r.sock?db=0"
        );
        let by_url = client(object(&[("url", text("redis://x:1"))]));
        assert_eq!(read(&by_url).unwrap().redacted_url(), "redis://x:1");
        assert_eq!(
            read(&client(object(&[]))).unwrap().redacted_url(),
            "redis://localhost:6379/0"
        );
    }

    #[test]
    fn what_the_native_connections_cannot_reproduce_is_refused() {
        let prefixed = client(object(&[("keyPrefix", text("p:"))]));
        assert!(read(&prefixed).unwrap_err().message().contains("keyPrefix"));
        let bad_port = client(object(&[("host", text("h")), ("port", num(0.0))]));
        assert_eq!(
            read(&bad_port).unwrap_err(),
            ConfigError::Range("new C: config.client has port 0, not a TCP port".into())
        );
        let v4_cluster = Value::Client(Box::new(ClientShape {
            methods: vec!["nodeClient".into()],
            ..ClientShape::default()
        }));
        assert!(read(&v4_cluster)
            .unwrap_err()
            .message()
            .contains("node-redis v4 cluster"));
        let sentinel = Value::Client(Box::new(ClientShape {
            methods: vec!["acquire".into()],
            ..ClientShape::default()
        }));
        assert!(read(&sentinel)
            .unwrap_err()
            .message()
            .contains("createSentinel"));
        assert!(read(&text("x"))
            .unwrap_err()
            .message()
            .contains("cannot read"));
    }

    #[test]
    fn an_ioredis_sentinel_client_and_a_cluster_client_are_read_as_such() {
        let sentinel = client(object(&[
            ("sentinels", array(&[object(&[("host", text("s1"))])])),
            ("name", text("mymaster")),
        ]));
        let (group, _) = read(&sentinel)
            .unwrap()
            .sentinel_parts()
            .map(|(g, n)| (g.clone(), n.clone()))
            .unwrap();
        assert_eq!(group.sentinels, vec![("s1".to_owned(), 26379)]);
        let cluster = Value::Client(Box::new(ClientShape {
            startup_nodes: Some(array(&[text("a:7000"), num(7001.0)])),
            ..ClientShape::default()
        }));
        assert_eq!(
            read(&cluster).unwrap().redacted_url(),
            "Redis Cluster (redis://a:7000/0, redis://127.0.0.1:7001/0)"
        );
    }

    #[test]
    fn known_clients_have_options_duplicate_and_send_command() {
        let Value::Client(known) = client(object(&[])) else {
            unreachable!()
        };
        assert!(is_known_client(&known));
        let fake = ClientShape {
            options: Some(object(&[])),
            methods: vec!["duplicate".into()],
            ..ClientShape::default()
        };
        assert!(!is_known_client(&fake));
    }
}
