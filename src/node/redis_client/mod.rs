//! How a Redis class reaches Redis, from its config: the native connections (settings from
//! `{ url }` or read off a node-redis v4/v5 or ioredis client's `options`), or the user's
//! client objects driven through their own methods (`src/node/redis_driver/`).
//!
//! `config.driver` picks: `"native"` needs settings it can read (a TypeError otherwise),
//! `"client"` always drives the objects, and `"auto"` (the default) uses the native
//! connections for node-redis and ioredis clients whose settings it can reproduce and drives
//! anything else (a fake, a wrapper, a Cluster client, an ioredis `keyPrefix`).
//!
//! This file picks the driver and builds the backends; `options.rs` reads `{ url }` or a
//! client's options into typed settings; `errors.rs` is how a failed operation reaches JS.

mod errors;
mod options;
mod topology;

use std::sync::Arc;
use std::time::Duration;

use napi::Env;

use super::js::{self, JsError, JsResult, Kind, Value};
use super::redis_driver::{ClientCommands, ClientPubSub};
use crate::redis::{
    connect_lazy, connect_subscriber_lazy, Commands, Connection, PubSub, RedisSettings, Subscriber,
};
use options::{client_settings, url_settings};

pub use errors::{bool_or_false, rejection, warn_read_fallback};

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
    let chosen = choose(env, config, class, pub_sub_field, false)?;
    connect(env, chosen, class, pub_sub_field)
}

/// What `config` asks for, read and checked once: the native connections' settings (with
/// `shardedPubSub`, default `sharded_default`, and `commandTimeoutMs` applied), or the objects
/// to drive.
pub struct Chosen {
    native: Option<(RedisSettings, RedisSettings)>,
    client: Option<Value>,
    pub_sub: Option<Value>,
    timeout: Option<Duration>,
}

/// Reads `config` of `class` (see [`backends`]).
pub fn choose(
    env: &Env,
    config: Value,
    class: &str,
    pub_sub_field: Option<&'static str>,
    sharded_default: bool,
) -> JsResult<Chosen> {
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
    let nodes = js::optional_property(env, config, "nodes")?;
    let sentinels = js::optional_property(env, config, "sentinels")?;
    let given = [
        ("url", url.is_some()),
        ("nodes", nodes.is_some()),
        ("sentinels", sentinels.is_some()),
    ];
    let named: Vec<&str> = given
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    if named.len() > 1 {
        return Err(JsError::Type(format!(
            "new {class}: pass one of url, nodes and sentinels, not {}",
            named.join(" and ")
        )));
    }
    if let (Some(field), Driver::Client) = (named.first(), driver) {
        return Err(JsError::Type(format!(
            "new {class}: driver \"client\" drives config.client; it cannot be combined with {field}"
        )));
    }
    let own = if let Some(url) = url {
        Some(url_settings(env, url, class)?)
    } else if let Some(nodes) = nodes {
        Some(topology::nodes_settings(
            env,
            nodes,
            Some(config),
            "config.nodes",
            class,
        )?)
    } else if sentinels.is_some() {
        Some(topology::sentinel_settings(env, config, "config", class)?)
    } else {
        None
    };
    let native = match (own, client) {
        (Some(settings), _) => Some((settings.clone(), settings)),
        (None, None) => {
            return Err(JsError::Type(format!(
                "new {class}: config.client is required (a node-redis or ioredis client, or any object with the RedisClient methods), or pass {{ url: \"redis://host:6379\" }}, {{ nodes: [...] }} (Redis Cluster) or {{ sentinels: [...], name }}"
            )))
        }
        (None, Some(client)) => match driver {
            Driver::Client => None,
            Driver::Native => Some(client_settings(env, client, pub_sub, pub_sub_field, class)?),
            // node-redis and ioredis clients (single node, ioredis Cluster and Sentinel,
            // node-redis v5 clusters) take the native path; one whose settings cannot be
            // reproduced (keyPrefix, a node-redis v4 cluster) is refused as with "native"
            // (`driver: "client"` drives it on request). Anything else (a fake, a wrapper,
            // a node-redis createSentinel object) is driven.
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
    let sharded = match pub_sub_field {
        Some(_) => {
            super::args::bool_field(env, config, "shardedPubSub", class)?.unwrap_or(sharded_default)
        }
        None => false,
    };
    let native = native.map(|(mut settings, mut sub_settings)| {
        for s in [&mut settings, &mut sub_settings] {
            s.sharded_pub_sub = sharded;
        }
        if let Some(limit) = timeout {
            for s in [&mut settings, &mut sub_settings] {
                s.command_timeout = limit;
                s.response_timeout = limit;
                s.connect_timeout = s.connect_timeout.min(limit);
            }
        }
        (settings, sub_settings)
    });
    Ok(Chosen {
        native,
        client,
        pub_sub,
        timeout,
    })
}

/// The backends of a Redis class as the event bus needs them: the native connections as
/// their own types (the bus runs its own scripts on them, through
/// [`crate::redis::event_log::EventLog`]), or the driven objects.
pub enum BusBackends {
    Native(Connection, Box<Subscriber>),
    Driven(Backends),
}

/// [`BusBackends`] for `config` of `class`: the options of [`backends`] with
/// `pubSubClient`, sharded pub/sub on by default (the bus's channel and log share a slot).
pub fn bus_backends(env: &Env, config: Value, class: &str) -> JsResult<BusBackends> {
    let chosen = choose(env, config, class, Some("pubSubClient"), true)?;
    match &chosen.native {
        Some((settings, sub_settings)) => Ok(BusBackends::Native(
            connect_lazy(settings).map_err(|e| JsError::Error(format!("new {class}: {e}")))?,
            Box::new(
                connect_subscriber_lazy(sub_settings)
                    .map_err(|e| JsError::Error(format!("new {class}: {e}")))?,
            ),
        )),
        None => connect(env, chosen, class, Some("pubSubClient")).map(BusBackends::Driven),
    }
}

/// The backends for what [`choose`] read.
fn connect(
    env: &Env,
    chosen: Chosen,
    class: &str,
    pub_sub_field: Option<&'static str>,
) -> JsResult<Backends> {
    let Chosen {
        native,
        client,
        pub_sub,
        timeout,
    } = chosen;
    match native {
        Some((settings, sub_settings)) => {
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

/// Calls `client.quit()` (a node-redis v5 createSentinel object, which has none: `close()`;
/// else `disconnect()`) and returns a promise of `undefined` once it resolved.
pub fn quit(env: &Env, client: Value, class: &str) -> JsResult<Value> {
    let method = ["quit", "close", "disconnect"]
        .into_iter()
        .find(|m| js::method(env, client, m).is_some())
        .unwrap_or("quit");
    match js::call_method(env, client, method, &[])? {
        Ok(promise) => js::then_undefined(env, promise),
        Err(message) => Err(JsError::Error(format!(
            "{class}.close: client.{method}() failed: {message}"
        ))),
    }
}

/// Whether `object` is a node-redis (v4/v5) or ioredis client, whose settings the native
/// connections can reproduce: it has `options`, `duplicate` and `sendCommand`. Anything else
/// (a fake, a wrapper) is driven through its own methods.
fn is_known_client(env: &Env, object: Value) -> bool {
    let options = js::optional_property(env, object, "options")
        .ok()
        .flatten()
        .or_else(|| {
            js::optional_property(env, object, "_options")
                .ok()
                .flatten()
        });
    options.is_some_and(|o| matches!(js::kind(env, o), Ok(Kind::Object)))
        && js::method(env, object, "duplicate").is_some()
        && js::method(env, object, "sendCommand").is_some()
}
