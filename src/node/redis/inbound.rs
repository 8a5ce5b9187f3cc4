//! What reaches a `RedisStreamManager` from Redis, on the JS thread: batches of messages
//! (enqueued to the local controllers in publish order), deletes from other instances, and
//! responses forwarded to this one.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, Weak};

use napi::Env;
use parking_lot::Mutex;

use crate::node::js::controller::{self, close_controller, drop_failed, Registered};
use crate::node::js::queue::Poster;
use crate::node::js::{self, JsRef, JsResult, Value};
use crate::stream::local::LocalStreams;
use crate::stream::redis::{Inbound, InboundSink, RedisStreamManager as Core};

/// The streams this instance holds, by session id.
pub type Controllers = Arc<Mutex<LocalStreams<Registered>>>;

/// The `onForwardedResponse` handler.
pub type Handler = Arc<Mutex<Option<JsRef>>>;

/// The core's inbound sink: hands each batch to the JS thread. `core` is filled in once the
/// core exists (it owns the sink, hence the weak reference).
pub fn sink(
    poster: Poster,
    core: Arc<OnceLock<Weak<Core>>>,
    controllers: Controllers,
    handler: Handler,
) -> InboundSink {
    Arc::new(move |batch: Vec<Inbound>| {
        let controllers = controllers.clone();
        let handler = handler.clone();
        let core = core.get().cloned().unwrap_or_default();
        poster.post(Box::new(move |env| {
            deliver(env, &core, &controllers, &handler, batch)
        }));
    })
}

fn deliver(
    env: &Env,
    core: &Weak<Core>,
    controllers: &Controllers,
    handler: &Handler,
    batch: Vec<Inbound>,
) {
    // A broadcast arrives as the same payload on many channels: encode it once per batch.
    let mut last_chunk: Option<(String, Value)> = None;
    // Each stream is judged stuck (or not) once per batch, before its first chunk: a batch
    // (a replay of kept messages, a burst) cannot have been read yet.
    let mut judged: HashSet<u64> = HashSet::new();
    for inbound in batch {
        let result = match inbound {
            Inbound::Message {
                session_id,
                payload,
            } => {
                let chunk = match &last_chunk {
                    Some((text, chunk)) if *text == payload => Ok(*chunk),
                    _ => js::uint8_array(env, payload.as_bytes())
                        .inspect(|chunk| last_chunk = Some((payload.clone(), *chunk))),
                };
                chunk.and_then(|chunk| {
                    enqueue(
                        env,
                        core,
                        controllers,
                        &session_id,
                        payload,
                        chunk,
                        &mut judged,
                    )
                })
            }
            // Everything before it is processed: dropping it tells the core so.
            Inbound::Barrier(barrier) => {
                drop(barrier);
                Ok(())
            }
            // Everything before it is handled: its journaled messages are acknowledged.
            Inbound::Delivered(delivered) => {
                delivered.acknowledge();
                Ok(())
            }
            Inbound::Superseded { session_id } => {
                // Re-created here meanwhile: the stream is the core's again.
                let removed = if core.upgrade().is_some_and(|c| c.is_local(&session_id)) {
                    None
                } else {
                    controllers.lock().remove(&session_id)
                };
                if let Some(r) = removed {
                    r.controller.release(env);
                }
                Ok(())
            }
            Inbound::Delete { session_id } => {
                // A stream re-created here after the delete arrived is the core's again: keep it.
                let recreated = core.upgrade().is_some_and(|c| c.is_local(&session_id));
                let removed = if recreated {
                    None
                } else {
                    controllers.lock().remove(&session_id)
                };
                if let Some(r) = removed {
                    close_controller(env, r.controller);
                }
                Ok(())
            }
            Inbound::ForwardedResponse {
                session_id,
                response_json,
            } => forward(env, handler, &session_id, &response_json),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e.message(), "delivering a message from Redis failed");
        }
    }
}

fn enqueue(
    env: &Env,
    core: &Weak<Core>,
    controllers: &Controllers,
    session_id: &str,
    payload: String,
    chunk: Value,
    judged: &mut HashSet<u64>,
) -> JsResult<()> {
    let found = controllers
        .lock()
        .get(session_id)
        .map(|r| (r.generation, r.controller.get(env)));
    let (generation, controller) = match found {
        Some((generation, controller)) => (generation, controller?),
        None => {
            // Its stream failed earlier in this batch or a previous one: kept for the next.
            // A session the core still holds here with no stream in JS (its create failed
            // after the stream was registered elsewhere) is let go of, this message with it.
            if let Some(core) = core.upgrade() {
                if !core.undeliverable(session_id, payload.clone()) && core.is_local(session_id) {
                    spawn_release(&core, session_id, payload);
                }
            }
            return Ok(());
        }
    };
    let check = judged.insert(generation);
    if let Err(reason) = controller::enqueue_checked(env, controller, chunk, check)? {
        // Only this instance's stream is let go of: the client may have reopened its stream on
        // another instance (MCPServer never calls delete when a GET stream closes), and a
        // delete message would close that live stream too.
        tracing::debug!(session = %session_id, %reason, "releasing the local stream");
        if drop_failed(env, &mut controllers.lock(), session_id, generation) {
            if let Some(core) = core.upgrade() {
                spawn_release(&core, session_id, payload);
            }
        }
    }
    Ok(())
}

/// Lets go of this instance's stream of `session_id` (see [`Core::release`]), handing back
/// `payload`, which it could not deliver.
fn spawn_release(core: &Core, session_id: &str, payload: String) {
    let released = core.release(session_id, vec![payload]);
    if let Ok(rt) = crate::runtime::handle() {
        rt.spawn(async move {
            if let Err(e) = released.await {
                tracing::debug!(error = %e, "releasing a failed stream in Redis failed; its keys expire by themselves");
            }
        });
    }
}

fn forward(env: &Env, handler: &Handler, session_id: &str, response_json: &str) -> JsResult<()> {
    let f = match handler.lock().as_ref() {
        Some(r) => r.get(env)?,
        None => return Ok(()),
    };
    let message = js::json_parse(env, response_json)?;
    let sid = js::string(env, session_id)?;
    let this = js::undefined(env)?;
    if let Err(m) = js::call(env, this, f, &[message, sid])? {
        tracing::warn!(error = %m, "onForwardedResponse handler threw");
    }
    Ok(())
}
