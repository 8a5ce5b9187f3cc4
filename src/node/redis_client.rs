//! How a Redis class reaches Redis, from its config: the native connections (settings from
//! `{ url }` or read off a node-redis v4/v5 or ioredis client's `options`), or the user's
//! client objects driven through their own methods (`src/node/redis_driver/`).
//!
//! `config.driver` picks: `"native"` needs settings it can read (a TypeError otherwise),
//! `"client"` always drives the objects, and `"auto"` (the default) uses the native
//! connections for node-redis and ioredis clients whose settings it can reproduce and drives
//! anything else (a fake, a wrapper, a Cluster client, an ioredis `keyPrefix`).

use std::sync::Arc;
use std::time::Duration;

use napi::Env;

use super::js::{self, JsError, JsResult, Kind, Value};
use super::redis_driver::{ClientCommands, ClientPubSub};
use crate::redis::{
    connect_lazy, connect_subscriber_lazy, Commands, PubSub, RedisEndpoint, RedisSettings, RedisTls,
};

/// `config.driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Auto,
    Native,
    Client,
}

fn driver(env: &Env, config: Value, class: &str) -> JsResult<Driver> {
    let bad = || {
        JsError::Type(format!(
            "new {class}: config.driver must be \"auto\", \"native\" or \"client\""
        ))
    };
    let Some(v) = js::optional_property(env, config, "driver")? else {
        return Ok(Driver::Auto);
    };
    if js::kind(env, v)? != Kind::String {
        return Err(bad());
    }
    match js::string_value(env, v)?.as_str() {
        "auto" => Ok(Driver::Auto),
        "native" => Ok(Driver::Native),
        "client" => Ok(Driver::Client),
        _ => Err(bad()),
    }
}

/// The backends of a Redis class.
pub struct Backends {
    pub commands: Arc<dyn Commands>,
    /// `None` for the session store.
    pub pub_sub: Option<Arc<dyn PubSub>>,
    /// Whether the objects are driven (for diagnostics and tests).
    pub driven: bool,
}

/// The backends for `config` of `class`: commands through `config.client` (or `url`), and
/// with `pub_sub_field` a subscriber through `config[pub_sub_field]`.
pub fn backends(
    env: &Env,
    config: Value,
    class: &str,
    pub_sub_field: Option<&'static str>,
) -> JsResult<Backends> {
    let driver = driver(env, config, class)?;
    let client = client_field(env, config, "client", class)?;
    let pub_sub = match pub_sub_field {
        Some(field) => client_field(env, config, field, class)?,
        None => None,
    };
    let timeout = super::args::number_field(
        env,
        Some(config),
        "commandTimeoutMs",
        class,
        1.0,
        super::args::MAX_TIMER_MS,
    )?
    .map(|ms| Duration::from_millis(ms.ceil() as u64));
    let url = js::optional_property(env, config, "url")?;
    if url.is_some() && driver == Driver::Client {
        return Err(JsError::Type(format!(
            "new {class}: driver \"client\" drives config.client; it cannot be combined with url"
        )));
    }
    let native = match (url, client) {
        (Some(url), _) => {
            let settings = url_settings(env, url, class)?;
            Some((settings.clone(), settings))
        }
        (None, None) => {
            return Err(JsError::Type(format!(
                "new {class}: config.client is required (a node-redis or ioredis client, or any object with the RedisClient methods), or pass {{ url: \"redis://host:6379\" }}"
            )))
        }
        (None, Some(client)) => match driver {
            Driver::Client => None,
            Driver::Native => Some(client_settings(env, client, pub_sub, pub_sub_field, class)?),
            // node-redis and ioredis clients take the native path; a node-redis/ioredis client
            // whose settings cannot be reproduced (Cluster, Sentinel, keyPrefix) is refused
            // as with "native": ioredis' subscribe(channel, callback) does not deliver
            // messages to the callback, so driving it would break pub/sub. Anything else
            // (a fake, a wrapper) is driven.
            Driver::Auto => {
                let known = is_known_client(env, client) && pub_sub.is_none_or(|p| is_known_client(env, p));
                if known {
                    Some(client_settings(env, client, pub_sub, pub_sub_field, class)?)
                } else {
                    None
                }
            }
        },
    };
    match native {
        Some((mut settings, mut sub_settings)) => {
            if let Some(limit) = timeout {
                for s in [&mut settings, &mut sub_settings] {
                    s.command_timeout = limit;
                    s.response_timeout = limit;
                    s.connect_timeout = s.connect_timeout.min(limit);
                }
            }
            let commands: Arc<dyn Commands> = Arc::new(
                connect_lazy(&settings).map_err(|e| JsError::Error(format!("new {class}: {e}")))?,
            );
            let pub_sub: Option<Arc<dyn PubSub>> = match pub_sub_field {
                Some(_) => Some(Arc::new(
                    connect_subscriber_lazy(&sub_settings)
                        .map_err(|e| JsError::Error(format!("new {class}: {e}")))?,
                )),
                None => None,
            };
            Ok(Backends {
                commands,
                pub_sub,
                driven: false,
            })
        }
        None => {
            let Some(client) = client else {
                return Err(JsError::Type(format!(
                    "new {class}: driver \"client\" needs config.client"
                )));
            };
            let timeout = timeout.unwrap_or(Duration::from_secs(5));
            let commands: Arc<dyn Commands> =
                Arc::new(ClientCommands::new(env, client, "config.client", timeout)?);
            let pub_sub: Option<Arc<dyn PubSub>> = match pub_sub_field {
                Some(field) => {
                    let Some(object) = pub_sub else {
                        return Err(JsError::Type(format!(
                            "new {class}: config.{field} is required when the clients are driven through their own methods (a dedicated connection for subscriptions)"
                        )));
                    };
                    Some(Arc::new(ClientPubSub::new(
                        env,
                        object,
                        "config.pubSubClient",
                        timeout,
                    )?))
                }
                None => None,
            };
            Ok(Backends {
                commands,
                pub_sub,
                driven: true,
            })
        }
    }
}

fn url_settings(env: &Env, url: Value, class: &str) -> JsResult<RedisSettings> {
    let text = if js::kind(env, url)? == Kind::String {
        js::string_value(env, url)?
    } else {
        String::new()
    };
    const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];
    if !SCHEMES
        .iter()
        .any(|s| text.len() > s.len() && text.starts_with(s))
    {
        return Err(JsError::Type(format!(
            "new {class}: url must be a redis://, rediss:// or redis+unix:// URL"
        )));
    }
    Ok(RedisSettings::from_url(text))
}

/// Settings read off `client` and, for the subscriber, off `pub_sub` (else `client`'s).
fn client_settings(
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
    // ioredis Cluster keeps `startupNodes`; node-redis createCluster() `options.rootNodes`.
    if js::optional_property(env, client, "startupNodes")?.is_some() {
        return Err(unsupported("an ioredis Cluster"));
    }
    let Some(options) = js::optional_property(env, client, "options")? else {
        return Err(unreadable());
    };
    if js::kind(env, options)? != Kind::Object {
        return Err(unreadable());
    }
    if js::optional_property(env, options, "rootNodes")?.is_some() {
        return Err(unsupported("a node-redis cluster"));
    }
    if let Some(sentinels) = js::optional_property(env, options, "sentinels")? {
        if js::kind(env, sentinels)? == Kind::Array
            && !js::array_elements(env, sentinels)?.is_empty()
        {
            return Err(unsupported("an ioredis Sentinel client"));
        }
    }
    if opt_string(env, options, "keyPrefix")?.is_some() {
        return Err(JsError::Type(format!(
            "new {class}: config.{field} has an ioredis keyPrefix, which the addon's own connections would not apply (keys would not match mcp-use's); use the prefix option, or drive the client with driver \"client\""
        )));
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

fn opt_string(env: &Env, object: Value, name: &str) -> JsResult<Option<String>> {
    match js::optional_property(env, object, name)? {
        Some(v) if js::kind(env, v)? == Kind::String => {
            let s = js::string_value(env, v)?;
            Ok(if s.is_empty() { None } else { Some(s) })
        }
        _ => Ok(None),
    }
}

fn opt_number(env: &Env, object: Value, name: &str) -> JsResult<Option<f64>> {
    match js::optional_property(env, object, name)? {
        Some(v) if js::kind(env, v)? == Kind::Number => {
            Ok(Some(js::number_value(env, v)?).filter(|n| n.is_finite()))
        }
        _ => Ok(None),
    }
}

/// `config.client`-like field: absent, or an object (a client).
pub fn client_field(env: &Env, config: Value, field: &str, class: &str) -> JsResult<Option<Value>> {
    match js::optional_property(env, config, field)? {
        None => Ok(None),
        Some(v) if js::kind(env, v)? == Kind::Object => Ok(Some(v)),
        Some(v) => Err(JsError::Type(format!(
            "new {class}: config.{field} must be a Redis client (node-redis, ioredis, or an object with the RedisClient methods), got {}",
            js::kind(env, v)?.describe()
        ))),
    }
}

/// The JS error for a failed write: the very value a driven client threw or rejected with
/// (as mcp-use re-throws it), else an Error naming the method, Redis and the command.
pub fn rejection(method: &str, e: &crate::redis::RedisError) -> JsError {
    if let Some(thrown) = e
        .cause()
        .and_then(|c| Arc::downcast::<super::completion::SharedRef>(c.clone()).ok())
    {
        return JsError::Thrown(thrown, format!("{method}: {e}"));
    }
    JsError::Error(format!("{method}: {e}"))
}

/// Calls `client.quit()` and returns a promise of `undefined` once it resolved.
pub fn quit(env: &Env, client: Value, class: &str) -> JsResult<Value> {
    match js::call_method(env, client, "quit", &[])? {
        Ok(promise) => js::then_undefined(env, promise),
        Err(message) => Err(JsError::Error(format!(
            "{class}.close: client.quit() failed: {message}"
        ))),
    }
}

/// The result of a Redis existence check as JS: the boolean, or `false` (logged) on failure,
/// as the reference's `has` does.
pub fn bool_or_false(
    env: &Env,
    result: Result<bool, crate::redis::RedisError>,
    method: &str,
) -> JsResult<Value> {
    match result {
        Ok(b) => js::boolean(env, b),
        Err(e) => {
            warn_read_fallback(method, &e, "false");
            js::boolean(env, false)
        }
    }
}

/// Logs a read that failed and fell back (`get` → null, `has` → false, `keys` → []), at most
/// one line per 5 s per process, with the number of failures it stands for, so an outage
/// does not flood the log.
pub fn warn_read_fallback(method: &str, error: &crate::redis::RedisError, fallback: &str) {
    use parking_lot::Mutex;
    use std::time::Instant;
    static LAST: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
    let mut last = LAST.lock();
    match &mut *last {
        Some((at, suppressed)) if at.elapsed() < Duration::from_secs(5) => *suppressed += 1,
        _ => {
            let suppressed = last.map(|(_, n)| n).unwrap_or(0);
            *last = Some((Instant::now(), 0));
            if suppressed > 0 {
                tracing::warn!(%error, also_failed_since_last_report = suppressed, "{method} failed; returning {fallback}");
            } else {
                tracing::warn!(%error, "{method} failed; returning {fallback}");
            }
        }
    }
}

/// Whether `object` is a node-redis (v4/v5) or ioredis client, whose settings the native
/// connections can reproduce: it has `options`, `duplicate` and `sendCommand`. Anything else
/// (a fake, a wrapper) is driven through its own methods.
fn is_known_client(env: &Env, object: Value) -> bool {
    let options = js::optional_property(env, object, "options").ok().flatten();
    options.is_some_and(|o| matches!(js::kind(env, o), Ok(Kind::Object)))
        && js::method(env, object, "duplicate").is_some()
        && js::method(env, object, "sendCommand").is_some()
}
