//! `RedisStreamManager` for JS: local controllers on the JS thread, everything else in the
//! core [`crate::stream::redis::RedisStreamManager`]. Messages from Redis arrive in batches
//! through the completion queue and are enqueued to controllers in publish order
//! ([`super::redis_inbound`]).

use std::sync::{Arc, OnceLock, Weak};

use napi::Env;
use napi_derive::napi;

use super::js::args;
use super::js::config::read_config;
use super::js::controller::{close_controller, controller_arg, drop_failed, Registered};
use super::js::promise::{self, run};
use super::js::queue;
use super::js::{self, JsError, JsRef, JsResult, Kind, Value};
use super::redis::backends::backends;
use super::redis::errors::{self, unit};
use super::redis::inbound::{sink, Controllers, Handler};
use super::report::{RedisHealthJs, RedisManagerStatsJs};
use crate::redis::ready::ready_timeout;
use crate::stream::redis::{ManagerOptions, RedisStreamManager as Core};

const CLASS: &str = "RedisStreamManager";

/// SSE streams routed across instances by Redis pub/sub, on the channels and keys of
/// mcp-use's class. One subscriber connection and one heartbeat per manager; it reconnects
/// and re-subscribes by itself after a Redis restart.
#[napi(js_name = "RedisStreamManager", custom_finalize)]
pub struct RedisStreamManager {
    core: Arc<Core>,
    controllers: Controllers,
    handler: Handler,
    /// Whether the passed clients' own methods are driven (rather than native connections).
    driven: bool,
}

#[napi]
impl RedisStreamManager {
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "config: RedisStreamManagerConfig"
    )]
    pub fn new(env: Env, config: Value) -> napi::Result<Self> {
        super::init();
        Self::build(&env, config).map_err(|e| args::throw(&env, e))
    }

    fn build(env: &Env, config: Value) -> JsResult<Self> {
        let Some(config) = args::config(env, config, CLASS)? else {
            return Err(JsError::Type(format!("new {CLASS}: config is required: {{ client, pubSubClient }} (node-redis or ioredis clients) or {{ url }}")));
        };
        let options = read_config(env, config, &["client", "pubSubClient"])?;
        let ManagerOptions {
            prefix,
            heartbeat_secs,
            pending,
        } = ManagerOptions::read(&options, CLASS)?;
        // The subscriber connects where pubSubClient points, else where client does; or the
        // two objects are driven.
        let backends = backends(env, config, &options, CLASS, Some("pubSubClient"))?;
        let Some(subscriber) = backends.pub_sub else {
            return Err(JsError::Error(format!(
                "new {CLASS}: no subscriber backend"
            )));
        };
        let controllers: Controllers = Arc::default();
        let handler: Handler = Arc::default();
        let core_cell: Arc<OnceLock<Weak<Core>>> = Arc::default();
        let sink = sink(
            queue::poster(env)?,
            core_cell.clone(),
            controllers.clone(),
            handler.clone(),
        );
        let core = Core::with_backends(
            backends.commands,
            subscriber,
            prefix,
            heartbeat_secs,
            pending,
            sink,
        )
        .map_err(|e| JsError::Error(format!("new {CLASS}: {e}")))?;
        let core = Arc::new(core);
        let _ = core_cell.set(Arc::downgrade(&core));
        Ok(RedisStreamManager {
            core,
            controllers,
            handler,
            driven: backends.driven,
        })
    }

    /// Registers the SSE stream of a session here and subscribes to its channels.
    /// Idempotent: a reconnecting stream replaces the earlier controller.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string, controller: ReadableStreamDefaultController",
        ts_return_type = "Promise<void>"
    )]
    pub fn create(&self, env: Env, session_id: Value, controller: Value) -> napi::Result<Value> {
        let method = "RedisStreamManager.create";
        run(&env, || {
            let id = args::session_id(&env, session_id, method)?;
            let controller = controller_arg(&env, controller, method)?;
            let registered = Registered::new(&env, controller)?;
            let generation = registered.generation;
            if let Some(old) = self.controllers.lock().insert(id.clone(), registered) {
                old.controller.release(&env);
            }
            let core = self.core.clone();
            let core_after = self.core.clone();
            let controllers = self.controllers.clone();
            let sid = id.clone();
            promise::spawn(
                &env,
                async move { core.create(&sid).await },
                move |env, result| {
                    // A failed create of a session the core still holds here (a re-create
                    // while Redis hiccuped) keeps the new stream, as mcp-use does: it still
                    // receives. Only a session the core let go of loses it.
                    if result.is_err() && !core_after.is_local(&id) {
                        drop_failed(env, &mut controllers.lock(), &id, generation);
                    }
                    unit(env, result, method)
                },
            )
        })
    }

    /// Publishes `data` to the listed sessions, or to every active session when `undefined`.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionIds: string[] | undefined, data: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn send(&self, env: Env, session_ids: Value, data: Value) -> napi::Result<Value> {
        let method = "RedisStreamManager.send";
        run(&env, || {
            let ids = args::session_ids(&env, session_ids, method)?;
            let data = args::string(&env, data, method, "data")?;
            let core = self.core.clone();
            promise::spawn(
                &env,
                async move { core.send(ids.as_deref(), &data).await },
                move |env, r| unit(env, r, method),
            )
        })
    }

    /// Closes the local stream, unsubscribes, and tells other instances to drop theirs.
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn delete(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let method = "RedisStreamManager.delete";
        run(&env, || {
            let id = args::session_id(&env, session_id, method)?;
            let removed = self.controllers.lock().remove(&id);
            if let Some(r) = removed {
                close_controller(&env, r.controller);
            }
            let core = self.core.clone();
            promise::spawn(
                &env,
                async move { core.delete(&id).await },
                move |env, r| unit(env, r, method),
            )
        })
    }

    /// Whether the session has a stream on any instance; `false` when Redis fails (logged).
    #[napi(
        catch_unwind,
        ts_args_type = "sessionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn has(&self, env: Env, session_id: Value) -> napi::Result<Value> {
        let method = "RedisStreamManager.has";
        run(&env, || {
            let id = args::session_id(&env, session_id, method)?;
            let core = self.core.clone();
            promise::spawn(
                &env,
                async move { core.has(&id).await },
                move |env, result| errors::bool_or_false(env, result, method),
            )
        })
    }

    /// Closes every local stream and removes only this instance's sessions from Redis.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<Value> {
        let method = "RedisStreamManager.close";
        run(&env, || {
            // The core first: from here, what still arrives for these sessions is collected
            // and kept for their next streams, not lost with the controllers closed below.
            let closing = self.core.close();
            let drained = self.controllers.lock().drain();
            for (_, r) in drained {
                close_controller(&env, r.controller);
            }
            promise::spawn(&env, closing, move |env, r| unit(env, r, method))
        })
    }

    /// `"client"` when the passed clients' own methods are driven, `"native"` when the
    /// addon's own connections are used.
    #[napi(getter, catch_unwind, ts_return_type = "\"native\" | \"client\"")]
    pub fn driver(&self) -> &'static str {
        if self.driven {
            "client"
        } else {
            "native"
        }
    }

    /// Store-and-forward counters: messages kept because no stream took them, replayed to a
    /// stream that opened, expired, and dropped over the limits.
    #[napi(js_name = "pendingStats", catch_unwind)]
    pub fn pending_stats(&self) -> args::PendingStatsJs {
        self.core.pending_stats().into()
    }

    /// Streams held, messages sent, delivered and kept, streams dropped, and both
    /// connections' operations, errors, reconnects and state, with command latency.
    /// Synchronous and cheap: for a probe or a scrape.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> RedisManagerStatsJs {
        self.core.stats().into()
    }

    /// `ok` while both connections reach Redis; `degraded` when only the subscriber does not
    /// (sessions work; streams held here miss other instances' messages until it is back);
    /// `down` when the command connection does not, has not yet, or the manager is closed.
    /// Answers at once; an idle connection also gets a PING in the background, which the
    /// next call reports.
    #[napi(catch_unwind)]
    pub fn health(&self) -> RedisHealthJs {
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
        let method = "RedisStreamManager.ready";
        run(&env, || {
            let options = args::ready_options(&env, options, method)?;
            let timeout = ready_timeout(options.as_ref(), method)?;
            let core = self.core.clone();
            promise::spawn(
                &env,
                async move { core.ready(timeout).await },
                move |env, r| unit(env, r, method),
            )
        })
    }

    /// Streams held by this instance.
    #[napi(getter, js_name = "localSize", catch_unwind)]
    pub fn local_size(&self) -> u32 {
        self.controllers.lock().len() as u32
    }

    /// Records that this instance sent request `requestId` to the session's client, so a
    /// response arriving on another instance is forwarded here.
    #[napi(
        js_name = "registerOutboundRequest",
        catch_unwind,
        ts_args_type = "requestId: string | number, sessionId: string",
        ts_return_type = "Promise<void>"
    )]
    pub fn register_outbound_request(
        &self,
        env: Env,
        request_id: Value,
        session_id: Value,
    ) -> napi::Result<Value> {
        let method = "RedisStreamManager.registerOutboundRequest";
        run(&env, || {
            let request_id = request_id_arg(&env, request_id, method, "requestId")?;
            let id = args::session_id(&env, session_id, method)?;
            let core = self.core.clone();
            promise::spawn(
                &env,
                async move { core.register_outbound_request(&request_id, &id).await },
                move |env, r| unit(env, r, method),
            )
        })
    }

    /// Publishes a response to the instance that sent the request, if that is another one.
    #[napi(
        js_name = "forwardInboundResponse",
        catch_unwind,
        ts_args_type = "message: { id: string | number; [key: string]: unknown }, sessionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn forward_inbound_response(
        &self,
        env: Env,
        message: Value,
        session_id: Value,
    ) -> napi::Result<Value> {
        let method = "RedisStreamManager.forwardInboundResponse";
        run(&env, || {
            if js::kind(&env, message)? != Kind::Object {
                return Err(JsError::Type(format!(
                    "{method}: message must be a JSON-RPC response object"
                )));
            }
            let request_id = request_id_arg(
                &env,
                js::get_property(&env, message, "id")?,
                method,
                "message.id",
            )?;
            let id = args::session_id(&env, session_id, method)?;
            let json = match js::json_stringify(&env, message)? {
                Ok(Some(json)) => json,
                Ok(None) | Err(_) => {
                    return Err(JsError::Type(format!(
                        "{method}: message cannot be serialized as JSON"
                    )))
                }
            };
            let core = self.core.clone();
            promise::spawn(
                &env,
                async move { core.forward_inbound_response(&request_id, &json, &id).await },
                move |env, result| match result {
                    Ok(b) => js::boolean(env, b),
                    Err(e) => Err(errors::rejection(method, &e)),
                },
            )
        })
    }

    /// Sets the handler for responses forwarded here by other instances.
    #[napi(
        js_name = "onForwardedResponse",
        catch_unwind,
        ts_args_type = "handler: (message: unknown, sessionId: string) => void"
    )]
    pub fn on_forwarded_response(&self, env: Env, handler: Value) -> napi::Result<()> {
        let method = "RedisStreamManager.onForwardedResponse";
        if js::kind(&env, handler).map_err(|e| args::throw(&env, e))? != Kind::Function {
            return Err(args::throw(
                &env,
                JsError::Type(format!("{method}: handler must be a function")),
            ));
        }
        let r = JsRef::new(&env, handler).map_err(|e| args::throw(&env, e))?;
        if let Some(old) = self.handler.lock().replace(r) {
            old.release(&env);
        }
        let core = self.core.clone();
        if let Ok(rt) = crate::runtime::handle() {
            rt.spawn(async move {
                // Redis out of reach is retried in the core until it answers; only a client
                // that cannot subscribe at all leaves forwarding off.
                if let Err(e) = core.enable_forwarded_responses().await {
                    if e.kind() == crate::redis::RedisErrorKind::Unsupported {
                        tracing::warn!(error = %e, "{method}: response forwarding is disabled");
                    }
                }
            });
        }
        Ok(())
    }
}

impl napi::bindgen_prelude::ObjectFinalize for RedisStreamManager {
    fn finalize(self, env: Env) -> napi::Result<()> {
        for (_, r) in self.controllers.lock().drain() {
            r.controller.release(&env);
        }
        if let Some(h) = self.handler.lock().take() {
            h.release(&env);
        }
        Ok(())
    }
}

/// A JSON-RPC id as the reference writes it into keys: a string, or a number's JS string form.
fn request_id_arg(env: &Env, v: Value, method: &str, name: &str) -> JsResult<String> {
    match js::kind(env, v)? {
        Kind::String => js::string_value(env, v),
        Kind::Number => js::coerce_string(env, v),
        k => Err(JsError::Type(format!(
            "{method}: {name} must be a string or a number, got {}",
            k.describe()
        ))),
    }
}
