//! The backends a Redis class's config asks for ([`crate::redis::config::backends`]): the
//! addon's native connections, or the passed client objects driven through their own
//! methods.

use std::sync::Arc;

use napi::Env;

use super::driven::{ClientCommands, ClientPubSub};
use crate::config::Object;
use crate::node::js::{self, JsError, JsResult, Value};
use crate::redis::config::Backends as Plan;
use crate::redis::{
    connect_lazy, connect_subscriber_lazy, Commands, Connection, PubSub, Subscriber,
};

/// The backends of a Redis class.
pub struct Backends {
    pub commands: Arc<dyn Commands>,
    /// `None` for the session store.
    pub pub_sub: Option<Arc<dyn PubSub>>,
    /// Whether the objects are driven (for diagnostics and tests).
    pub driven: bool,
}

/// The backends for `config` (read into `options`) of `class`: commands through
/// `config.client` (or `url`, `nodes`, `sentinels`), and with `pub_sub_field` a subscriber
/// through `config[pub_sub_field]`.
pub fn backends(
    env: &Env,
    config: Value,
    options: &Object,
    class: &str,
    pub_sub_field: Option<&'static str>,
) -> JsResult<Backends> {
    let plan = crate::redis::config::backends(options, class, pub_sub_field)?;
    build(env, config, plan, class, pub_sub_field)
}

/// The backends of the event bus: the native connections as their own types (the bus runs
/// its own scripts on them, through [`crate::redis::event_log::EventLog`]), or the driven
/// objects.
pub enum BusBackends {
    Native(Connection, Box<Subscriber>),
    Driven(Backends),
}

/// [`BusBackends`] for `config` (read into `options`) of `class`: the options of
/// [`backends`] with `pubSubClient`, sharded pub/sub on by default.
pub fn bus_backends(
    env: &Env,
    config: Value,
    options: &Object,
    class: &str,
) -> JsResult<BusBackends> {
    let field = Some("pubSubClient");
    match crate::redis::config::backends_sharded_by_default(options, class, field, true)? {
        Plan::Native {
            commands,
            subscriber,
        } => {
            let failed = |e: crate::redis::RedisError| JsError::Error(format!("new {class}: {e}"));
            Ok(BusBackends::Native(
                connect_lazy(&commands).map_err(failed)?,
                Box::new(connect_subscriber_lazy(&subscriber).map_err(failed)?),
            ))
        }
        plan => build(env, config, plan, class, field).map(BusBackends::Driven),
    }
}

/// The backends `plan` names, opened or driven.
fn build(
    env: &Env,
    config: Value,
    plan: Plan,
    class: &str,
    pub_sub_field: Option<&'static str>,
) -> JsResult<Backends> {
    match plan {
        Plan::Native {
            commands,
            subscriber,
        } => {
            let failed = |e: crate::redis::RedisError| JsError::Error(format!("new {class}: {e}"));
            let commands: Arc<dyn Commands> = Arc::new(connect_lazy(&commands).map_err(failed)?);
            let pub_sub: Option<Arc<dyn PubSub>> = match pub_sub_field {
                Some(_) => Some(Arc::new(
                    connect_subscriber_lazy(&subscriber).map_err(failed)?,
                )),
                None => None,
            };
            Ok(Backends {
                commands,
                pub_sub,
                driven: false,
            })
        }
        Plan::Driven { timeout } => {
            let object = |field: &str| js::optional_property(env, config, field);
            let Some(client) = object("client")? else {
                return Err(JsError::Type(format!(
                    "new {class}: driver \"client\" needs config.client"
                )));
            };
            let commands: Arc<dyn Commands> =
                Arc::new(ClientCommands::new(env, client, "config.client", timeout)?);
            let pub_sub: Option<Arc<dyn PubSub>> = match pub_sub_field {
                Some(field) => {
                    let Some(sub) = object(field)? else {
                        return Err(JsError::Type(format!(
                            "new {class}: config.{field} is required"
                        )));
                    };
                    Some(Arc::new(ClientPubSub::new(
                        env,
                        sub,
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
