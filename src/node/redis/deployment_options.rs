//! Settings of deployments beyond one node: `{ nodes: [...] }` (a Redis Cluster),
//! `{ sentinels: [...], name }` (ioredis' Sentinel options) and `redis+sentinel://` URLs, and
//! the same read off a node-redis v5 `createCluster` object, an ioredis `Cluster` or an
//! ioredis client in Sentinel mode.

use napi::Env;

use crate::node::js::{self, opt_number, opt_string, JsError, JsResult, Kind, Value};
use crate::redis::{RedisEndpoint, RedisSettings, SentinelGroup, SENTINEL_PORT};

/// `config.nodes`: URLs or `{ host, port }` / `{ url }` objects of some of a cluster's nodes.
pub(super) fn nodes_settings(
    env: &Env,
    nodes: Value,
    auth: Option<Value>,
    what: &str,
    class: &str,
) -> JsResult<RedisSettings> {
    let bad = || {
        JsError::Type(format!(
            "new {class}: {what} must be a non-empty array of redis:// URLs or {{ host, port }} objects"
        ))
    };
    if js::kind(env, nodes)? != Kind::Array {
        return Err(bad());
    }
    let elements = js::array_elements(env, nodes)?;
    if elements.is_empty() {
        return Err(bad());
    }
    let mut settings = Vec::with_capacity(elements.len());
    for node in elements {
        settings.push(match js::kind(env, node)? {
            // ioredis also takes "host:port" and bare ports.
            Kind::String if !js::string_value(env, node)?.contains("://") => {
                let text = js::string_value(env, node)?;
                let (host, port) = text.rsplit_once(':').unwrap_or((text.as_str(), "6379"));
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| {
                        JsError::Range(format!("new {class}: {what} holds {text:?}, not host:port"))
                    })?;
                with_auth(
                    env,
                    auth,
                    RedisEndpoint {
                        host: host.to_owned(),
                        port,
                        ..Default::default()
                    },
                )?
            }
            Kind::Number => {
                let port = js::number_value(env, node)?;
                if !(1.0..=65535.0).contains(&port) || port.fract() != 0.0 {
                    return Err(JsError::Range(format!(
                        "new {class}: {what} holds {port}, not a TCP port"
                    )));
                }
                let e = RedisEndpoint {
                    host: "127.0.0.1".to_owned(),
                    port: port as u16,
                    ..Default::default()
                };
                with_auth(env, auth, e)?
            }
            Kind::String => url(env, node, what, class)?,
            Kind::Object => match opt_string(env, node, "url")? {
                Some(u) => checked_url(u, what, class)?,
                None => {
                    let socket = js::optional_property(env, node, "socket")?
                        .filter(|s| js::kind(env, *s).ok() == Some(Kind::Object))
                        .unwrap_or(node);
                    with_auth(env, auth, endpoint(env, socket, what, class)?)?
                }
            },
            _ => return Err(bad()),
        });
    }
    Ok(RedisSettings::cluster(&settings))
}

/// Settings of one node at `endpoint`, with the credentials and TLS of `auth` (ioredis'
/// `redisOptions`, node-redis' `defaults`).
fn with_auth(
    env: &Env,
    auth: Option<Value>,
    mut endpoint: RedisEndpoint,
) -> JsResult<RedisSettings> {
    if let Some(auth) = auth {
        credentials(env, auth, &mut endpoint)?;
        if let Some(socket) = js::optional_property(env, auth, "socket")?
            .filter(|s| js::kind(env, *s).ok() == Some(Kind::Object))
        {
            credentials(env, socket, &mut endpoint)?;
        }
    }
    Ok(RedisSettings::from_parts(&endpoint))
}

fn url(env: &Env, v: Value, what: &str, class: &str) -> JsResult<RedisSettings> {
    checked_url(js::string_value(env, v)?, what, class)
}

fn checked_url(text: String, what: &str, class: &str) -> JsResult<RedisSettings> {
    if !(text.starts_with("redis://") || text.starts_with("rediss://")) {
        return Err(JsError::Type(format!(
            "new {class}: {what} holds {text:?}, not a redis:// or rediss:// URL"
        )));
    }
    Ok(RedisSettings::from_url(text))
}

/// `{ host, port }` of one node (a port as a number; host 127.0.0.1 when absent).
fn endpoint(env: &Env, object: Value, what: &str, class: &str) -> JsResult<RedisEndpoint> {
    let host = opt_string(env, object, "host")?.unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = opt_number(env, object, "port")?.unwrap_or(6379.0);
    if !(1.0..=65535.0).contains(&port) || port.fract() != 0.0 {
        return Err(JsError::Range(format!(
            "new {class}: {what} has port {port}, not a TCP port"
        )));
    }
    Ok(RedisEndpoint {
        host,
        port: port as u16,
        ..Default::default()
    })
}

/// `username`, `password` and `db` / `database` of `object` into `endpoint`; `tls` (true or
/// an object) turns TLS on.
fn credentials(env: &Env, object: Value, endpoint: &mut RedisEndpoint) -> JsResult<()> {
    endpoint.username = opt_string(env, object, "username")?.or(endpoint.username.take());
    endpoint.password = opt_string(env, object, "password")?.or(endpoint.password.take());
    if let Some(db) = opt_number(env, object, "db")?.or(opt_number(env, object, "database")?) {
        endpoint.db = db as i64;
    }
    if let Some(tls) = js::optional_property(env, object, "tls")? {
        endpoint.tls = match js::kind(env, tls)? {
            Kind::Boolean => js::bool_value(env, tls)?,
            Kind::Object => true,
            _ => endpoint.tls,
        };
    }
    Ok(())
}

/// ioredis' Sentinel options on `object` (a config or an ioredis client's `options`):
/// `sentinels: [{ host, port }]`, `name`, `sentinelPassword?`, `sentinelUsername?`, `role?`
/// (only the primary: the session layer writes), and the data nodes' `username`, `password`,
/// `db`.
pub(super) fn sentinel_settings(
    env: &Env,
    object: Value,
    what: &str,
    class: &str,
) -> JsResult<RedisSettings> {
    let Some(list) = js::optional_property(env, object, "sentinels")? else {
        return Err(JsError::Type(format!(
            "new {class}: {what}.sentinels is required"
        )));
    };
    let bad = || {
        JsError::Type(format!(
            "new {class}: {what}.sentinels must be a non-empty array of {{ host, port }}"
        ))
    };
    if js::kind(env, list)? != Kind::Array {
        return Err(bad());
    }
    let mut group = SentinelGroup::default();
    for s in js::array_elements(env, list)? {
        if js::kind(env, s)? != Kind::Object {
            return Err(bad());
        }
        let mut e = endpoint(env, s, &format!("{what}.sentinels"), class)?;
        if opt_number(env, s, "port")?.is_none() {
            e.port = SENTINEL_PORT;
        }
        group.sentinels.push((e.host, e.port));
    }
    if group.sentinels.is_empty() {
        return Err(bad());
    }
    group.name = opt_string(env, object, "name")?.ok_or_else(|| {
        JsError::Type(format!(
            "new {class}: {what}.name is required with sentinels (the primary's name, e.g. \"mymaster\")"
        ))
    })?;
    group.sentinel_password = opt_string(env, object, "sentinelPassword")?;
    group.sentinel_username = opt_string(env, object, "sentinelUsername")?;
    match opt_string(env, object, "role")?.as_deref() {
        None | Some("master") | Some("primary") => {}
        Some(other) => {
            return Err(JsError::Type(format!(
                "new {class}: {what}.role is {other:?}; the session layer writes, so it connects to the primary (role \"master\")"
            )))
        }
    }
    let mut node = RedisEndpoint::default();
    credentials(env, object, &mut node)?;
    if node.tls {
        return Err(JsError::Type(format!(
            "new {class}: TLS with Sentinel is not supported by the native connections yet; drive the client with driver \"client\""
        )));
    }
    Ok(RedisSettings::sentinel(group, node))
}

/// The settings of a cluster client object: an ioredis `Cluster` (`startupNodes`,
/// `options.redisOptions`) or a node-redis v5 `createCluster` (`_options.rootNodes`,
/// `_options.defaults`). `None` for anything else.
pub(super) fn cluster_object(
    env: &Env,
    client: Value,
    field: &str,
    class: &str,
) -> JsResult<Option<RedisSettings>> {
    let what = format!("config.{field}");
    if let Some(nodes) = js::optional_property(env, client, "startupNodes")? {
        let auth = js::optional_property(env, client, "options")?
            .and_then(|o| js::optional_property(env, o, "redisOptions").ok().flatten());
        return nodes_settings(env, nodes, auth, &format!("{what}.startupNodes"), class).map(Some);
    }
    if let Some(options) = js::optional_property(env, client, "_options")? {
        if let Some(nodes) = js::optional_property(env, options, "rootNodes")? {
            let defaults = js::optional_property(env, options, "defaults")?;
            return nodes_settings(env, nodes, defaults, &format!("{what} rootNodes"), class)
                .map(Some);
        }
    }
    Ok(None)
}
