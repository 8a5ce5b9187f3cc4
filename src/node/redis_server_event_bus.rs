//! `RedisServerEventBus` for JS: the SDK v2 `ServerEventBus` (`publish`, `subscribe`) over the
//! core [`crate::stream::bus::EventBus`]. This file checks arguments and converts; the
//! listeners and their dispatch are in [`super::js::listeners`], everything about Redis in the
//! core.
//!
//! `publish` delivers to this process's listeners at once, synchronously, like the SDK's
//! `InMemoryServerEventBus`, after handing the event to the core (so the order other processes
//! see is the order of `publish` calls, also when a listener publishes from inside its call).
//! Events of other processes arrive in batches through the completion queue, each parsed once
//! and handed to every listener.

use std::sync::{Arc, OnceLock, Weak};

use napi::Env;
use napi_derive::napi;

use super::js::args;
use super::js::config::read_config;
use super::js::listeners::{self, Listeners};
use super::js::promise::{self, run};
use super::js::queue::{self, Poster};
use super::js::{self, JsError, JsResult, Kind, Value};
use super::redis::backends::{bus_backends, BusBackends};
use super::redis::errors::unit;
use super::report::{BusHealthJs, BusStatsJs};
use crate::redis::event_log::EventLog;
use crate::redis::ready::ready_timeout;
use crate::redis::PubSub;
use crate::stream::bus::event::{kind_error, KINDS};
use crate::stream::bus::pubsub_only::PubSubOnly;
use crate::stream::bus::{BusOptions, BusSink, EventBus as Core};

const CLASS: &str = "RedisServerEventBus";

/// A `ServerEventBus` (`@modelcontextprotocol/server` 2.x) shared by every process of a fleet
/// through Redis: one subscription and one command connection per bus, a Redis Stream log so
/// an event published while Redis or a subscriber is away is still delivered once both are
/// back (within the retention window).
#[napi(js_name = "RedisServerEventBus", custom_finalize)]
pub struct RedisServerEventBus {
    core: Arc<Core>,
    listeners: Listeners,
    driven: bool,
}

#[napi]
impl RedisServerEventBus {
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "config: RedisServerEventBusConfig"
    )]
    pub fn new(env: Env, config: Value) -> napi::Result<Self> {
        super::init();
        Self::build(&env, config).map_err(|e| args::throw(&env, e))
    }

    fn build(env: &Env, config: Value) -> JsResult<Self> {
        let Some(config) = args::config(env, config, CLASS)? else {
            return Err(JsError::Type(format!(
                "new {CLASS}: config is required: {{ url }}, {{ client, pubSubClient }}, {{ nodes }} or {{ sentinels, name }}"
            )));
        };
        let tree = read_config(env, config, &["client", "pubSubClient"])?;
        let options = BusOptions::read(&tree, CLASS)?;
        let onerror = match js::optional_property(env, config, "onerror")? {
            None => None,
            Some(f) if js::kind(env, f)? == Kind::Function => Some(f),
            Some(f) => {
                return Err(JsError::Type(format!(
                    "new {CLASS}: config.onerror must be a function, got {}",
                    js::kind(env, f)?.describe()
                )))
            }
        };
        let (log, subscriber, driven): (Arc<dyn EventLog>, Arc<dyn PubSub>, bool) =
            match bus_backends(env, config, &tree, CLASS)? {
                BusBackends::Native(conn, sub) => (Arc::new(conn), Arc::new(*sub), false),
                BusBackends::Driven(backends) => {
                    let Some(sub) = backends.pub_sub else {
                        return Err(JsError::Error(format!(
                            "new {CLASS}: no subscriber backend"
                        )));
                    };
                    (Arc::new(PubSubOnly(backends.commands)), sub, true)
                }
            };
        let listeners = listeners::listeners(env, onerror)?;
        // The sink counts what listeners throw on other processes' events in the core, which
        // is made after it.
        let core_cell: Arc<OnceLock<Weak<Core>>> = Arc::default();
        let sink = sink(queue::poster(env)?, listeners.clone(), core_cell.clone());
        let core = Core::new(log, subscriber, options, sink)
            .map_err(|e| JsError::Error(format!("new {CLASS}: {e}")))?;
        let core = Arc::new(core);
        let _ = core_cell.set(Arc::downgrade(&core));
        Ok(Self {
            core,
            listeners,
            driven,
        })
    }

    /// Delivers `event` to this process's listeners now and to every other process's through
    /// Redis. Synchronous and never rejects: while Redis is unreachable the event waits in the
    /// outbox. Throws a TypeError (publishing nothing) when `event` is not a `ServerEvent`.
    #[napi(
        catch_unwind,
        ts_args_type = "event: ServerEvent",
        ts_return_type = "void"
    )]
    pub fn publish(&self, env: Env, event: Value) -> napi::Result<()> {
        let text = check_event(&env, event).map_err(|e| args::throw(&env, e))?;
        self.core.publish(text);
        let done = listeners::dispatch(&env, &self.listeners, event);
        self.core.count_local(done.calls);
        self.core.count_listener_errors(done.errors);
        Ok(())
    }

    /// Registers `listener` for every event, from this process and the others; returns an
    /// idempotent unsubscribe function.
    #[napi(
        catch_unwind,
        ts_args_type = "listener: (event: ServerEvent) => void",
        ts_return_type = "() => void"
    )]
    pub fn subscribe(&self, env: Env, listener: Value) -> napi::Result<Value> {
        let made = (|| {
            if js::kind(&env, listener)? != Kind::Function {
                return Err(JsError::Type(format!(
                    "{CLASS}.subscribe: listener must be a function, got {}",
                    js::kind(&env, listener)?.describe()
                )));
            }
            listeners::add(&env, &self.listeners, listener)?;
            let registry = self.listeners.clone();
            // Each returned function is spent by its first call, as the SDK's `live` flag.
            // It holds the listener until then (the registry removes by function, as a Set).
            let held = parking_lot::Mutex::new(Some(js::JsRef::new(&env, listener)?));
            js::function(&env, "unsubscribe", move |env, _| {
                let Some(held) = held.lock().take() else {
                    return;
                };
                let removed = held
                    .get(env)
                    .and_then(|f| listeners::remove(env, &registry, f));
                if let Err(e) = removed {
                    tracing::debug!(error = %e.message(), "event bus: unsubscribe failed");
                }
                held.release(env);
            })
        })();
        made.map_err(|e| args::throw(&env, e))
    }

    /// The number of registered listeners (as `InMemoryServerEventBus.listenerCount`).
    #[napi(getter, js_name = "listenerCount", catch_unwind)]
    pub fn listener_count(&self) -> u32 {
        listeners::count(&self.listeners) as u32
    }

    /// Waits (at most `closeTimeoutMs`) until the events published here are appended, then
    /// stops reading from Redis. Rejects, naming how many, when Redis did not take them in
    /// time. Listeners stay registered; `publish` after `close` reaches only this process.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Value> {
        let method = "RedisServerEventBus.close";
        run(&env, || {
            let closing = self.core.close();
            promise::spawn(&env, closing, move |env, r| unit(env, r, method))
        })
    }

    /// Its events (published, appended, received, replayed, lost, ...), listeners, and both
    /// connections' operations, errors, reconnects and state, with command latency, as the
    /// other Redis classes report theirs. Synchronous and cheap: for a probe or a scrape.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> BusStatsJs {
        (self.core.stats(), listeners::count(&self.listeners)).into()
    }

    /// `ok` while both connections reach Redis and no event has waited a second to be
    /// appended; `degraded` (still serving) when a connection does not reach Redis or has not
    /// yet (events wait in the outbox; other processes' are read back from the log), events
    /// have waited a second or more, or the bus is pub/sub only; `down` only once closed.
    /// Answers at once; an idle connection also gets a PING in the background, which the next
    /// call reports.
    #[napi(catch_unwind)]
    pub fn health(&self) -> BusHealthJs {
        self.core.health().into()
    }

    /// Resolves once both connections answer a PING, trying again until `timeoutMs`
    /// (default 10000); then rejects with an Error naming Redis and the cause.
    #[napi(
        catch_unwind,
        ts_args_type = "options?: { timeoutMs?: number }",
        ts_return_type = "Promise<void>"
    )]
    pub fn ready(&self, env: Env, options: Value) -> napi::Result<Value> {
        let method = "RedisServerEventBus.ready";
        run(&env, || {
            let options = args::ready_options(&env, options, method)?;
            let timeout = ready_timeout(options.as_ref(), method)?;
            let ready = self.core.ready(timeout);
            promise::spawn(&env, ready, move |env, r| unit(env, r, method))
        })
    }

    /// `"client"` when the passed clients' own methods are driven (pub/sub only), `"native"`
    /// when the addon's own connections are used.
    #[napi(getter, catch_unwind, ts_return_type = "\"native\" | \"client\"")]
    pub fn driver(&self) -> &'static str {
        if self.driven {
            "client"
        } else {
            "native"
        }
    }
}

impl napi::bindgen_prelude::ObjectFinalize for RedisServerEventBus {
    fn finalize(self, env: Env) -> napi::Result<()> {
        listeners::release(&env, &self.listeners);
        Ok(())
    }
}

/// Checks `event` as a `ServerEvent` and returns its JSON text.
fn check_event(env: &Env, event: Value) -> JsResult<String> {
    let method = format!("{CLASS}.publish");
    let k = js::kind(env, event)?;
    if k != Kind::Object {
        return Err(JsError::Type(format!(
            "{method}: event must be a ServerEvent object ({{ kind, uri?, params? }}), got {}",
            k.describe()
        )));
    }
    let kind = js::get_property(env, event, "kind")?;
    let kind_text = match js::kind(env, kind)? {
        Kind::String => js::string_value(env, kind)?,
        other => {
            return Err(JsError::Type(format!(
                "{method}: event.kind must be one of {}, got {}",
                KINDS.join(", "),
                other.describe()
            )))
        }
    };
    let uri = js::get_property(env, event, "uri")?;
    if let Some(why) = kind_error(&kind_text, js::kind(env, uri)? == Kind::String) {
        return Err(JsError::Type(format!("{method}: {why}")));
    }
    let params = js::get_property(env, event, "params")?;
    match js::kind(env, params)? {
        Kind::Undefined | Kind::Object => {}
        other => {
            return Err(JsError::Type(format!(
                "{method}: event.params must be an object when given, got {}",
                other.describe()
            )))
        }
    }
    match js::json_stringify(env, event)? {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err(JsError::Type(format!(
            "{method}: event cannot be serialized as JSON"
        ))),
        Err(m) => Err(JsError::Type(format!(
            "{method}: event cannot be serialized as JSON: {m}"
        ))),
    }
}

/// The core's sink: each batch of other processes' events to the JS thread, where each event
/// is parsed once and handed to every listener; listener errors are counted in `core`.
fn sink(poster: Poster, listeners: Listeners, core: Arc<OnceLock<Weak<Core>>>) -> BusSink {
    Arc::new(move |batch: Vec<String>| {
        let listeners = listeners.clone();
        let core = core.clone();
        poster.post(Box::new(move |env| {
            for text in batch {
                match js::json_parse(env, &text) {
                    Ok(event) => {
                        let done = listeners::dispatch(env, &listeners, event);
                        if done.errors > 0 {
                            if let Some(core) = core.get().and_then(Weak::upgrade) {
                                core.count_listener_errors(done.errors);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e.message(), "event bus: an event from Redis did not parse")
                    }
                }
            }
        }))
    })
}
