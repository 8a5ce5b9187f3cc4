//! Whether Redis answers a class, asked on purpose: `ready()` (a PING on each connection,
//! tried again until a deadline), and the PING that `health()` sends in the background when a
//! connection has been idle, so an instance nobody uses still reports an outage. The same
//! for every Redis class: the session store, the stream manager and the event bus.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::backend::{Commands, PubSub};
use super::event_log::EventLog;
use super::{RedisError, RedisErrorKind, Result};
use crate::config::{ConfigError, ConfigResult, Object, Value, MAX_TIMER_MS};
use crate::metrics::connection::ConnectionMeter;

/// `ready()` without `timeoutMs` waits this long.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// `ready()`'s options (`None`: none given): `timeoutMs`, a number of ms from 1 to
/// [`MAX_TIMER_MS`], rounded up; [`DEFAULT_READY_TIMEOUT`] when absent. `method` names the
/// caller in the `TypeError` / `RangeError`.
pub fn ready_timeout(options: Option<&Object>, method: &str) -> ConfigResult<Duration> {
    let Some(v) = options.and_then(|o| o.get("timeoutMs")) else {
        return Ok(DEFAULT_READY_TIMEOUT);
    };
    let Value::Number(ms) = *v else {
        return Err(ConfigError::Type(format!(
            "{method}: timeoutMs must be a number of milliseconds, got {}",
            v.describe()
        )));
    };
    if !ms.is_finite() || !(1.0..=MAX_TIMER_MS).contains(&ms) {
        return Err(ConfigError::Range(format!(
            "{method}: timeoutMs must be a finite number from 1 to {MAX_TIMER_MS}, got {ms}"
        )));
    }
    Ok(Duration::from_millis(ms.ceil() as u64))
}

/// A connection with no operation for this long gets a background PING from `health()`.
pub const PROBE_IDLE: Duration = Duration::from_secs(1);

/// First and longest wait between two rounds of `ready()`'s PINGs.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_millis(500);

/// Starts one PING on `backend` in the background if `meter` saw no operation for
/// [`PROBE_IDLE`] and none is running; its outcome is recorded by the metered backend, for
/// the next `health()`. A backend without PING (a driven client with no `ping` method)
/// counts as up until its traffic shows otherwise, as `ready()` counts it ready: otherwise a
/// probe would keep an instance that has had no request yet out of rotation for ever.
pub fn probe_commands(meter: &Arc<ConnectionMeter>, backend: &Arc<dyn Commands>) {
    probe(meter, true, || {
        let backend = backend.clone();
        async move { backend.ping().await }
    });
}

/// [`probe_commands`] for the event bus's command connection (its log).
pub fn probe_log(meter: &Arc<ConnectionMeter>, backend: &Arc<dyn EventLog>) {
    probe(meter, true, || {
        let backend = backend.clone();
        async move { backend.ping().await }
    });
}

/// [`probe_commands`] for a subscriber connection.
pub fn probe_subscriber(meter: &Arc<ConnectionMeter>, backend: &Arc<dyn PubSub>) {
    probe(meter, false, || {
        let backend = backend.clone();
        async move { backend.ping().await }
    });
}

/// Runs `ping()` in the background when `meter` says a probe is due. The ping is only made
/// (and its backend cloned) then, so a `health()` called every second costs nothing more
/// on a busy connection. With `unsupported_is_up`, a backend without PING is counted as up.
fn probe<F, Fut>(meter: &Arc<ConnectionMeter>, unsupported_is_up: bool, ping: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let Some(probe) = meter.probe_due(PROBE_IDLE) else {
        return;
    };
    if let Ok(rt) = crate::runtime::handle() {
        let meter = meter.clone();
        let ping = ping();
        rt.spawn(async move {
            let _running = probe;
            if let Err(e) = ping.await {
                if unsupported_is_up && e.kind() == RedisErrorKind::Unsupported {
                    meter.unchecked();
                }
            }
        });
    }
}

/// Resolves once `commands` (and `subscriber`) answer a PING, trying again with a short
/// backoff; fails after `timeout` with the last error (naming Redis and the cause). A backend
/// that has no PING counts as ready.
pub async fn ready(
    commands: &dyn Commands,
    subscriber: Option<&dyn PubSub>,
    timeout: Duration,
) -> Result<()> {
    ready_when(
        || async move {
            commands.ping().await?;
            match subscriber {
                Some(s) => s.ping().await,
                None => Ok(()),
            }
        },
        timeout,
    )
    .await
}

/// [`ready`] for any set of connections: `pings()` asks each of them once (stopping at the
/// first that fails), and is tried again until it succeeds or `timeout` runs out. A ping
/// the backend cannot make ([`RedisErrorKind::Unsupported`]) counts as an answer.
pub async fn ready_when<F, Fut>(mut pings: F, timeout: Duration) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut last: Option<RedisError> = None;
    let attempts = async {
        let mut wait = RETRY_FIRST;
        loop {
            match pings().await {
                Ok(()) => return,
                Err(e) if e.kind() == RedisErrorKind::Unsupported => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    };
    if tokio::time::timeout(timeout, attempts).await.is_ok() {
        return Ok(());
    }
    let ms = timeout.as_millis();
    Err(match last {
        Some(e) => RedisError::new(
            RedisErrorKind::Timeout,
            e.operation(),
            format!("not ready within {ms} ms: {}", e.detail()),
        ),
        None => RedisError::new(
            RedisErrorKind::Timeout,
            "PING",
            format!("no answer within {ms} ms"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::redis::backend::{BoxFuture, Describe, Write};

    /// Refuses the first `refusals` PINGs; nothing else is used.
    struct Flaky {
        refusals: u32,
        pings: AtomicU32,
    }

    impl Commands for Flaky {
        fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
            unimplemented!()
        }
        fn exists<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool>> {
            unimplemented!()
        }
        fn scan<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<(String, Vec<String>)>> {
            unimplemented!()
        }
        fn members<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
            unimplemented!()
        }
        fn write<'a>(&'a self, _: Vec<Write>, _: Describe<'a>) -> BoxFuture<'a, Result<()>> {
            unimplemented!()
        }
        fn ping(&self) -> BoxFuture<'_, Result<()>> {
            let n = self.pings.fetch_add(1, Ordering::SeqCst);
            let refused = n < self.refusals;
            Box::pin(async move {
                if refused {
                    Err(RedisError::new(
                        RedisErrorKind::Connection,
                        "PING",
                        "Connection refused",
                    ))
                } else {
                    Ok(())
                }
            })
        }
    }

    fn flaky(refusals: u32) -> Flaky {
        Flaky {
            refusals,
            pings: AtomicU32::new(0),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ready_tries_again_until_redis_answers() {
        let backend = flaky(3);
        assert!(ready(&backend, None, Duration::from_secs(5)).await.is_ok());
        assert_eq!(backend.pings.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn ready_fails_at_the_deadline_with_the_last_cause() {
        let backend = flaky(u32::MAX);
        let e = ready(&backend, None, Duration::from_millis(2000))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), RedisErrorKind::Timeout);
        assert_eq!(
            e.to_string(),
            "Redis PING failed: not ready within 2000 ms: Connection refused"
        );
        assert!(
            backend.pings.load(Ordering::SeqCst) > 3,
            "tried again meanwhile"
        );
    }

    fn options(v: Value) -> Object {
        Object(vec![("timeoutMs".to_owned(), v)])
    }

    #[test]
    fn the_timeout_is_a_positive_number_of_ms_named_in_its_errors() {
        assert_eq!(ready_timeout(None, "S.ready"), Ok(DEFAULT_READY_TIMEOUT));
        assert_eq!(
            ready_timeout(Some(&Object::default()), "S.ready"),
            Ok(DEFAULT_READY_TIMEOUT)
        );
        assert_eq!(
            ready_timeout(Some(&options(Value::Number(1500.2))), "S.ready"),
            Ok(Duration::from_millis(1501))
        );
        assert_eq!(
            ready_timeout(Some(&options(Value::String("1s".into()))), "S.ready"),
            Err(ConfigError::Type(
                "S.ready: timeoutMs must be a number of milliseconds, got a string".into()
            ))
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_TIMER_MS + 1.0] {
            assert!(matches!(
                ready_timeout(Some(&options(Value::Number(bad))), "S.ready"),
                Err(ConfigError::Range(m)) if m.starts_with("S.ready: timeoutMs must be")
            ));
        }
    }
}
