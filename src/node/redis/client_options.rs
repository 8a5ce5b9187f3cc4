//! Typed connection settings from a config: `{ url }` as given, or what a node-redis v4/v5 or
//! ioredis client's `options` hold (host, port or Unix socket, user, password, database, TLS
//! and its certificates), refusing what the native connections cannot reproduce.

use napi::Env;

use super::deployment_options::{cluster_object, sentinel_settings};
use crate::node::js::{self, opt_number, opt_string, JsError, JsResult, Kind, Value};
use crate::redis::{RedisEndpoint, RedisSettings, RedisTls};

pub(super) fn url_settings(env: &Env, url: Value, class: &str) -> JsResult<RedisSettings> {
    let text = if js::kind(env, url)? == Kind::String {
        js::string_value(env, url)?
    } else {
        String::new()
    };
    if text.starts_with("redis+sentinel://") {
        return RedisSettings::from_sentinel_url(&text)
            .map_err(|why| JsError::Type(format!("new {class}: {why}")));
    }
    const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];
    if !SCHEMES
        .iter()
        .any(|s| text.len() > s.len() && text.starts_with(s))
    {
        return Err(JsError::Type(format!(
            "new {class}: url must be a redis://, rediss://, redis+unix:// or redis+sentinel:// URL"
        )));
    }
    Ok(RedisSettings::from_url(text))
}

/// Settings read off `client` and, for the subscriber, off `pub_sub` (else `client`'s).
pub(super) fn client_settings(
    env: &Env,
    client: Value,
    pub_sub: Option<Value>,
    pub_sub_field: Option<&str>,
    class: &str,
) -> JsResult<(RedisSettings, RedisSettings)> {
    let settings = from_client(env, client, "client", class)?;
    let sub_settings = match (pub_sub, pub_sub_field) {
        (Some(p), Some(field)) => from_client(env, p, field, class)?,
        _ => settings.clone(),
    };
    Ok((settings, sub_settings))
}

fn from_client(env: &Env, client: Value, field: &str, class: &str) -> JsResult<RedisSettings> {
    let unreadable = || {
        JsError::Type(format!(
            "new {class}: cannot read the connection settings of config.{field} (driver \"native\"): expected a node-redis (v4/v5) or ioredis client (with .options); pass {{ url: \"redis://host:6379\" }}, or let the addon drive the object with driver \"auto\" or \"client\""
        ))
    };
    if js::kind(env, client)? != Kind::Object {
        return Err(unreadable());
    }
    let unsupported = |what: &str| {
        JsError::Type(format!("new {class}: config.{field} is {what}, which the native connections do not support: pass a single-node client or {{ url }}, or drive it with driver \"client\""))
    };
    let options = js::optional_property(env, client, "options")?
        .filter(|o| js::kind(env, *o).ok() == Some(Kind::Object));
    // ioredis' keyPrefix (on a Cluster, also under redisOptions) would not be applied by the
    // addon's own connections.
    let redis_options =
        options.and_then(|o| js::optional_property(env, o, "redisOptions").ok().flatten());
    for o in [options, redis_options].into_iter().flatten() {
        if js::kind(env, o)? == Kind::Object && opt_string(env, o, "keyPrefix")?.is_some() {
            return Err(JsError::Type(format!(
                "new {class}: config.{field} has an ioredis keyPrefix, which the addon's own connections would not apply (keys would not match mcp-use's); use the prefix option, or drive the client with driver \"client\""
            )));
        }
    }
    // ioredis Cluster (`startupNodes`), node-redis v5 createCluster (`_options.rootNodes`).
    if let Some(settings) = cluster_object(env, client, field, class)? {
        return Ok(settings);
    }
    let Some(options) = options else {
        if js::method(env, client, "nodeClient").is_some() {
            return Err(unsupported(
                "a node-redis v4 cluster, whose settings are private (pass { nodes: [...] } instead)",
            ));
        }
        if js::method(env, client, "acquire").is_some() {
            return Err(unsupported(
                "a node-redis createSentinel() object, whose settings are private (pass { sentinels, name } or a redis+sentinel:// url instead)",
            ));
        }
        return Err(unreadable());
    };
    if js::optional_property(env, options, "rootNodes")?.is_some() {
        return Err(unsupported(
            "a node-redis v4 cluster, whose settings are private",
        ));
    }
    if let Some(sentinels) = js::optional_property(env, options, "sentinels")? {
        if js::kind(env, sentinels)? == Kind::Array
            && !js::array_elements(env, sentinels)?.is_empty()
        {
            return sentinel_settings(env, options, &format!("config.{field}.options"), class);
        }
    }
    // node-redis keeps the socket settings under `socket`, ioredis at the top level.
    let socket = js::optional_property(env, options, "socket")?
        .filter(|s| js::kind(env, *s).ok() == Some(Kind::Object));
    let socket_or_options = socket.unwrap_or(options);

    let username = opt_string(env, options, "username")?;
    let password = opt_string(env, options, "password")?;
    let db = opt_number(env, options, "database")?
        .or(opt_number(env, options, "db")?)
        .unwrap_or(0.0) as i64;
    if let Some(path) = opt_string(env, socket_or_options, "path")? {
        return Ok(RedisSettings::from_parts(&RedisEndpoint {
            path: Some(path.into()),
            username,
            password,
            db,
            ..Default::default()
        }));
    }
    let host = opt_string(env, socket_or_options, "host")?;
    let url = opt_string(env, options, "url")?;
    let Some(host) = host else {
        return match url {
            Some(url) => Ok(RedisSettings::from_url(url)),
            None => Ok(RedisSettings::from_parts(&RedisEndpoint {
                host: "localhost".into(),
                port: 6379,
                ..Default::default()
            })),
        };
    };
    let port = opt_number(env, socket_or_options, "port")?.unwrap_or(6379.0);
    if !(0.0..=65535.0).contains(&port) || port.fract() != 0.0 {
        return Err(JsError::Range(format!(
            "new {class}: config.{field} has port {port}, not a TCP port"
        )));
    }
    // node-redis: `socket.tls: true` with `socket.ca/cert/key`; ioredis: `tls: { ca, cert, key }`.
    let tls_option = js::optional_property(env, socket_or_options, "tls")?;
    let tls = match tls_option {
        None => url.as_deref().is_some_and(|u| u.starts_with("rediss:")),
        Some(v) => match js::kind(env, v)? {
            Kind::Boolean => js::bool_value(env, v)?,
            Kind::Object => true,
            _ => false,
        },
    };
    let pem_source = match tls_option {
        Some(v) if js::kind(env, v)? == Kind::Object => v,
        _ => socket_or_options,
    };
    let endpoint = RedisEndpoint {
        host,
        port: port as u16,
        path: None,
        username,
        password,
        db,
        tls,
    };
    let mut settings = RedisSettings::from_parts(&endpoint);
    settings.tls = RedisTls {
        ca_pem: pem(env, pem_source, "ca")?,
        client_cert_pem: pem(env, pem_source, "cert")?,
        client_key_pem: pem(env, pem_source, "key")?,
    };
    Ok(settings)
}

/// PEM text from a string, a Buffer, or an array of them (as Node's `tls` options allow).
fn pem(env: &Env, object: Value, name: &str) -> JsResult<Option<Vec<u8>>> {
    let Some(v) = js::optional_property(env, object, name)? else {
        return Ok(None);
    };
    let parts = match js::kind(env, v)? {
        Kind::Array => js::array_elements(env, v)?,
        Kind::String | Kind::Object => vec![v],
        _ => return Ok(None),
    };
    let mut out = Vec::new();
    for part in parts {
        // String(buffer) is its UTF-8 text, which is what a PEM buffer holds.
        out.extend_from_slice(js::coerce_string(env, part)?.as_bytes());
        out.push(b'\n');
    }
    Ok(Some(out))
}
