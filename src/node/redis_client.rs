//! Reading Redis connection settings from what the user passes: `{ url }`, or a connected
//! node-redis (v4/v5) or ioredis client, whose `options` hold host, port, credentials,
//! database and TLS. The addon opens its own native connections with those settings.

use std::time::Duration;

use napi::Env;

use super::js::{self, JsError, JsResult, Kind, Value};
use crate::redis::{RedisEndpoint, RedisSettings, RedisTls};

/// Settings for the connection described by `config[field]` (a client) or `config.url`,
/// with the time limit `config.commandTimeoutMs` (default 5000).
pub fn settings(env: &Env, config: Value, field: &str, class: &str) -> JsResult<RedisSettings> {
    client_field(env, config, field, class)?;
    let mut settings = match js::optional_property(env, config, "url")? {
        Some(url) => {
            let text = if js::kind(env, url)? == Kind::String { js::string_value(env, url)? } else { String::new() };
            const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];
            if !SCHEMES.iter().any(|s| text.len() > s.len() && text.starts_with(s)) {
                return Err(JsError::Type(format!("new {class}: url must be a redis://, rediss:// or redis+unix:// URL")));
            }
            RedisSettings::from_url(text)
        }
        None => match js::optional_property(env, config, field)? {
            Some(client) => from_client(env, client, field, class)?,
            None => {
                return Err(JsError::Type(format!(
                    "new {class}: config.{field} is required (a connected node-redis or ioredis client), or pass {{ url: \"redis://host:6379\" }}"
                )))
            }
        },
    };
    if let Some(ms) = super::args::number_field(env, Some(config), "commandTimeoutMs", class, 1.0, super::args::MAX_TIMER_MS)? {
        let limit = Duration::from_millis(ms.ceil() as u64);
        settings.command_timeout = limit;
        settings.response_timeout = limit;
        settings.connect_timeout = settings.connect_timeout.min(limit);
    }
    Ok(settings)
}

fn from_client(env: &Env, client: Value, field: &str, class: &str) -> JsResult<RedisSettings> {
    let unreadable = || {
        JsError::Type(format!(
            "new {class}: cannot read the connection settings of config.{field}: expected a node-redis (v4/v5) or ioredis client (with .options); pass {{ url: \"redis://host:6379\" }} instead"
        ))
    };
    if js::kind(env, client)? != Kind::Object {
        return Err(unreadable());
    }
    let unsupported = |what: &str| JsError::Type(format!("new {class}: config.{field} is {what}, which is not supported: pass a single-node client or {{ url }}"));
    // ioredis Cluster keeps `startupNodes`; node-redis createCluster() `options.rootNodes`.
    if js::optional_property(env, client, "startupNodes")?.is_some() {
        return Err(unsupported("an ioredis Cluster"));
    }
    let Some(options) = js::optional_property(env, client, "options")? else { return Err(unreadable()) };
    if js::kind(env, options)? != Kind::Object {
        return Err(unreadable());
    }
    if js::optional_property(env, options, "rootNodes")?.is_some() {
        return Err(unsupported("a node-redis cluster"));
    }
    if let Some(sentinels) = js::optional_property(env, options, "sentinels")? {
        if js::kind(env, sentinels)? == Kind::Array && !js::array_elements(env, sentinels)?.is_empty() {
            return Err(unsupported("an ioredis Sentinel client"));
        }
    }
    if opt_string(env, options, "keyPrefix")?.is_some() {
        return Err(JsError::Type(format!(
            "new {class}: config.{field} has an ioredis keyPrefix, which the addon's own connections would not apply (keys would not match mcp-use's); use the prefix option instead"
        )));
    }
    // node-redis keeps the socket settings under `socket`, ioredis at the top level.
    let socket = js::optional_property(env, options, "socket")?.filter(|s| js::kind(env, *s).ok() == Some(Kind::Object));
    let socket_or_options = socket.unwrap_or(options);

    if let Some(path) = opt_string(env, socket_or_options, "path")? {
        let db = opt_number(env, options, "database")?.or(opt_number(env, options, "db")?).unwrap_or(0.0);
        return Ok(RedisSettings::from_url(format!("redis+unix://{path}?db={}", db as i64)));
    }
    let host = opt_string(env, socket_or_options, "host")?;
    let url = opt_string(env, options, "url")?;
    let Some(host) = host else {
        return match url {
            Some(url) => Ok(RedisSettings::from_url(url)),
            None => Ok(RedisSettings::from_parts(&RedisEndpoint { host: "localhost".into(), port: 6379, ..Default::default() })),
        };
    };
    let port = opt_number(env, socket_or_options, "port")?.unwrap_or(6379.0);
    if !(0.0..=65535.0).contains(&port) || port.fract() != 0.0 {
        return Err(JsError::Range(format!("new {class}: config.{field} has port {port}, not a TCP port")));
    }
    // node-redis: `socket.tls: true` with `socket.ca/cert/key`; ioredis: `tls: { ca, cert, key }`.
    let tls_option = js::optional_property(env, socket_or_options, "tls")?;
    let tls = match tls_option {
        None => url.as_deref().is_some_and(|u| u.starts_with("rediss:")),
        Some(v) => match js::kind(env, v)? {
            Kind::Boolean => truthy(env, v)?,
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
        username: opt_string(env, options, "username")?,
        password: opt_string(env, options, "password")?,
        db: opt_number(env, options, "database")?.or(opt_number(env, options, "db")?).unwrap_or(0.0) as i64,
        tls,
    };
    let mut settings = RedisSettings::from_parts(&endpoint);
    settings.tls = RedisTls { ca_pem: pem(env, pem_source, "ca")?, client_cert_pem: pem(env, pem_source, "cert")?, client_key_pem: pem(env, pem_source, "key")? };
    Ok(settings)
}

/// PEM text from a string, a Buffer, or an array of them (as Node's `tls` options allow).
fn pem(env: &Env, object: Value, name: &str) -> JsResult<Option<Vec<u8>>> {
    let Some(v) = js::optional_property(env, object, name)? else { return Ok(None) };
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

fn truthy(env: &Env, v: Value) -> JsResult<bool> {
    let mut b = false;
    let status = unsafe { napi::sys::napi_get_value_bool(env.raw(), v.0, &mut b) };
    Ok(status == napi::sys::Status::napi_ok && b)
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
        Some(v) if js::kind(env, v)? == Kind::Number => Ok(Some(js::number_value(env, v)?).filter(|n| n.is_finite())),
        _ => Ok(None),
    }
}

/// `config.client`-like field: absent, or an object (a client).
pub fn client_field(env: &Env, config: Value, field: &str, class: &str) -> JsResult<Option<Value>> {
    match js::optional_property(env, config, field)? {
        None => Ok(None),
        Some(v) if js::kind(env, v)? == Kind::Object => Ok(Some(v)),
        Some(v) => Err(JsError::Type(format!(
            "new {class}: config.{field} must be a node-redis or ioredis client, got {}",
            js::kind(env, v)?.describe()
        ))),
    }
}

/// Calls `client.quit()` and returns a promise of `undefined` once it resolved.
pub fn quit(env: &Env, client: Value, class: &str) -> JsResult<Value> {
    match js::call_method(env, client, "quit", &[])? {
        Ok(promise) => js::then_undefined(env, promise),
        Err(message) => Err(JsError::Error(format!("{class}.close: client.quit() failed: {message}"))),
    }
}

/// The result of a Redis existence check as JS: the boolean, or `false` (logged) on failure,
/// as the reference's `has` does.
pub fn bool_or_false(env: &Env, result: Result<bool, crate::redis::RedisError>, method: &str) -> JsResult<Value> {
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
