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

use std::sync::Arc;

use napi::bindgen_prelude::{Either, Null};
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
use crate::redis::event_log::EventLog;
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
        let sink = sink(queue::poster(env)?, listeners.clone());
        let core = Core::new(log, subscriber, options, sink)
            .map_err(|e| JsError::Error(format!("new {CLASS}: {e}")))?;
        Ok(Self {
            core: Arc::new(core),
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
        for _ in 0..done.errors {
            self.core.count_listener_error();
        }
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

    /// Counters and gauges since the bus was made (plain numbers, synchronous).
    #[napi(catch_unwind)]
    pub fn stats(&self) -> EventBusStats {
        let s = self.core.stats();
        let n = |v: u64| v as f64;
        EventBusStats {
            listeners: listeners::count(&self.listeners) as f64,
            published: n(s.published),
            appended: n(s.appended),
            append_failures: n(s.append_failures),
            delivered_local: n(s.delivered_local),
            received_remote: n(s.received_remote),
            replayed: n(s.replayed),
            duplicates_skipped: n(s.duplicates_skipped),
            lost: n(s.lost),
            outbox: n(s.outbox),
            outbox_dropped: n(s.outbox_dropped),
            outbox_expired: n(s.outbox_expired),
            unsent_at_close: n(s.unsent_at_close),
            listener_errors: n(s.listener_errors),
            catch_ups: n(s.catch_ups),
            malformed: n(s.malformed),
            origins: n(s.origins),
        }
    }

    /// Whether the bus reaches Redis: `"ok"`, `"degraded"` (one connection down, events
    /// waiting, or pub/sub only) or `"down"` (both connections down, or closed), and why.
    #[napi(catch_unwind)]
    pub fn health(&self) -> EventBusHealth {
        let h = self.core.health();
        let or_null = |v: Option<u64>| match v {
            Some(v) => Either::A(v as f64),
            None => Either::B(Null),
        };
        EventBusHealth {
            status: h.status.to_owned(),
            reason: h.reason,
            mode: h.mode.to_owned(),
            redis: EventBusRedisHealth {
                commands: h.commands.as_str().to_owned(),
                subscriber: h.subscriber.as_str().to_owned(),
                last_error: match h.last_error {
                    Some(e) => Either::A(e),
                    None => Either::B(Null),
                },
                last_error_at: or_null(h.last_error_at),
                down_since: or_null(h.down_since),
            },
        }
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

/// `bus.stats()`.
#[napi(object)]
pub struct EventBusStats {
    /// Listeners registered here.
    pub listeners: f64,
    /// Events published here.
    pub published: f64,
    /// Of those, appended to Redis (seen by the other processes).
    pub appended: f64,
    /// Append attempts that failed (retried while the events wait in the outbox).
    pub append_failures: f64,
    /// Listener calls for events published here.
    pub delivered_local: f64,
    /// Events of other processes delivered here.
    pub received_remote: f64,
    /// Of those, read back from the log (after a reconnect, at start, or a gap).
    pub replayed: f64,
    /// Events received twice and skipped.
    pub duplicates_skipped: f64,
    /// Events of other processes this one never received (outside the retention window, or
    /// dropped by their publisher's outbox; pub/sub only: published while it was away).
    pub lost: f64,
    /// Events waiting in the outbox now.
    pub outbox: f64,
    /// Events dropped from the outbox over `outboxMaxLength`.
    pub outbox_dropped: f64,
    /// Events dropped from the outbox over `outboxMaxAgeMs`.
    pub outbox_expired: f64,
    /// Events not appended because the bus closed first.
    pub unsent_at_close: f64,
    /// Listener calls that threw.
    pub listener_errors: f64,
    /// Catch-up reads of the log.
    pub catch_ups: f64,
    /// Channel messages that were not the bus's (ignored).
    pub malformed: f64,
    /// Publishing processes tracked for order and duplicates.
    pub origins: f64,
}

/// `bus.health().redis`.
#[napi(object)]
pub struct EventBusRedisHealth {
    /// The command connection (appends, catch-up reads).
    #[napi(ts_type = "\"up\" | \"down\" | \"unknown\"")]
    pub commands: String,
    /// The subscriber connection.
    #[napi(ts_type = "\"up\" | \"down\" | \"unknown\"")]
    pub subscriber: String,
    /// The last Redis error, if any.
    #[napi(ts_type = "string | null")]
    pub last_error: Either<String, Null>,
    /// When it happened (Unix ms).
    #[napi(ts_type = "number | null")]
    pub last_error_at: Either<f64, Null>,
    /// Since when a connection is down (Unix ms), `null` while both are up.
    #[napi(ts_type = "number | null")]
    pub down_since: Either<f64, Null>,
}

/// `bus.health()`.
#[napi(object)]
pub struct EventBusHealth {
    #[napi(ts_type = "\"ok\" | \"degraded\" | \"down\"")]
    pub status: String,
    /// Why it is not `"ok"` (empty when it is).
    pub reason: String,
    /// `"log"`: Redis Streams with catch-up; `"pubsub"`: pub/sub only (driver `"client"`).
    #[napi(ts_type = "\"log\" | \"pubsub\"")]
    pub mode: String,
    pub redis: EventBusRedisHealth,
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
/// is parsed once and handed to every listener.
fn sink(poster: Poster, listeners: Listeners) -> BusSink {
    Arc::new(move |batch: Vec<String>| {
        let listeners = listeners.clone();
        poster.post(Box::new(move |env| {
            for text in batch {
                match js::json_parse(env, &text) {
                    Ok(event) => {
                        listeners::dispatch(env, &listeners, event);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e.message(), "event bus: an event from Redis did not parse")
                    }
                }
            }
        }))
    })
}
