//! The tokio side of driving an object: a batch posted to the JS thread as one job, waited for
//! with a time limit, its failure turned into a [`RedisError`].

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use napi::Env;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::batch::start;
use super::call::{Op, Outcome, Reply};
use crate::node::js::shared_ref::SharedRef;
use crate::node::js::{JsResult, Value};
use crate::redis::{Describe, PubSubEvent, RedisError, RedisErrorKind, Result};

/// The object and what driving it needs; shared by [`ClientCommands`] and [`ClientPubSub`].
pub(super) struct Driven {
    object: Arc<SharedRef>,
    /// `config.client` or `config.pubSubClient`, for messages.
    role: &'static str,
    /// The longest a batch may take to settle.
    timeout: Duration,
}

impl Driven {
    pub(super) fn new(
        env: &Env,
        object: Value,
        role: &'static str,
        timeout: Duration,
    ) -> JsResult<Driven> {
        Ok(Driven {
            object: SharedRef::new(env, object)?,
            role,
            timeout,
        })
    }

    /// Runs `ops` on the JS thread (one job) and waits for every reply.
    pub(super) async fn run(
        &self,
        ops: Vec<Op>,
        events: Option<UnboundedSender<PubSubEvent>>,
        what: Describe<'_>,
    ) -> Result<Vec<Reply>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = oneshot::channel::<Outcome>();
        let object = self.object.clone();
        let role = self.role;
        self.object.poster().post(Box::new(move |env| {
            let tx = Rc::new(RefCell::new(Some(tx)));
            if let Err(failure) = start(env, &object, role, ops, events, tx.clone()) {
                if let Some(tx) = tx.borrow_mut().take() {
                    let _ = tx.send(Err(failure));
                }
            }
        }));
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(Ok(replies))) => Ok(replies),
            Ok(Ok(Err(failure))) => {
                let error = RedisError::new(
                    failure.kind,
                    format!("{} via {}", what(), self.role),
                    failure.message,
                );
                Err(match failure.thrown {
                    Some(thrown) => error.with_cause(thrown),
                    None => error,
                })
            }
            Ok(Err(_)) => Err(RedisError::new(
                RedisErrorKind::Closed,
                what(),
                format!("{} is gone (its JS environment ended)", self.role),
            )),
            Err(_) => Err(RedisError::new(
                RedisErrorKind::Timeout,
                what(),
                format!(
                    "{} did not settle within {} ms",
                    self.role,
                    self.timeout.as_millis()
                ),
            )),
        }
    }
}
