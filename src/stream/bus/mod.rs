//! The change-event bus of MCP servers on the 2026-07-28 protocol (`RedisServerEventBus`):
//! what one process publishes reaches the listeners of every process, through Redis, with
//! nothing lost within a bounded window.
//!
//! The SDK's `ServerEventBus` has two calls: `publish(event)` and `subscribe(listener)`. The
//! bindings deliver a publish to this process's listeners at once, on the JS thread, and hand
//! it to this core, which takes it to the other processes:
//!
//! * **Publishing** ([`EventBus::publish`]): the event (JSON text) gets this instance's next
//!   number and joins the [`outbox::Outbox`]; the writer task ([`writer`]) appends what the
//!   outbox holds in batches, one script per batch ([`EventLog::append`]: `XADD` to a Redis
//!   Stream and announce on a channel, atomically). While Redis is unreachable events wait in
//!   the outbox (bounded by count and age) and are appended in publish order when it is back.
//! * **Receiving** ([`reader`]): one subscription per process, made at construction, fanned
//!   out in process (a listener that subscribes later misses nothing the process received).
//!   Each message is judged by [`receiver::Receiver`]: duplicates and this process's own events
//!   are skipped; after a reconnect (or a hole in a publisher's numbers) the reader reads the
//!   log after the last id it saw (`XRANGE (last +`) before it takes anything more from the
//!   channel, so what was published meanwhile is delivered once, in stream order.
//! * **Bounds**: the log is trimmed to `retention` (count and age); a process away longer than
//!   that loses what fell out, and counts it ([`status::EventStats::lost`]).
//! * **Reporting** ([`status`]): both connections are measured at the backend boundary
//!   ([`crate::redis::metered`]), as the other Redis classes' are, so `stats()`, `health()`
//!   and `ready()` answer the same way for every Redis class.
//!
//! A backend without scripts (a driven client object) is pub/sub only
//! ([`pubsub_only::PubSubOnly`]): no log, no catch-up, and the bus says so.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::diagnostics::Repeats;
use crate::metrics::connection::ConnectionMeter;
use crate::redis::event_log::{EventLog, LogNames, Outgoing, Retention};
use crate::redis::metered::{MeteredEventLog, MeteredPubSub};
use crate::redis::{PubSub, RedisError, RedisErrorKind, Result};

pub mod event;
mod options;
pub mod outbox;
pub mod pubsub_only;
mod reader;
pub mod receiver;
pub mod status;
pub mod wire;
mod writer;

use outbox::Outbox;
use status::Counters;

pub use crate::redis::event_log::DEFAULT_BUS_PREFIX;

/// Most events the log keeps, by default.
pub const DEFAULT_RETENTION_MAX_LEN: u64 = 10_000;
/// How long the log keeps an event, by default (ms).
pub const DEFAULT_RETENTION_MAX_AGE_MS: u64 = 300_000;
/// Most events waiting in the outbox, by default. Every publish passes through the outbox, so
/// this also bounds a burst that outpaces Redis (about 100k appends/s on loopback): 100k
/// events of ~150 bytes is ~15 MB at most.
pub const DEFAULT_OUTBOX_MAX: usize = 100_000;
/// How long an event may wait in the outbox, by default (ms).
pub const DEFAULT_OUTBOX_MAX_AGE_MS: u64 = 300_000;
/// How often an idle subscriber connection is checked, by default (ms).
pub const DEFAULT_HEALTH_INTERVAL_MS: u64 = 15_000;
/// How long `close` waits for the outbox to be appended, by default (ms).
pub const DEFAULT_CLOSE_TIMEOUT_MS: u64 = 5_000;

/// Receives events of other processes (JSON text), in batches, in delivery order, on a
/// background task. It must not block.
pub type BusSink = Arc<dyn Fn(Vec<String>) + Send + Sync>;

/// The bus's settings (see the defaults above).
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// Key and channel prefix ([`LogNames::new`]).
    pub prefix: String,
    pub retention: Retention,
    pub outbox_max: usize,
    pub outbox_max_age: Duration,
    pub health_interval: Duration,
    pub close_timeout: Duration,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_BUS_PREFIX.to_owned(),
            retention: Retention {
                max_len: DEFAULT_RETENTION_MAX_LEN,
                max_age_ms: DEFAULT_RETENTION_MAX_AGE_MS,
            },
            outbox_max: DEFAULT_OUTBOX_MAX,
            outbox_max_age: Duration::from_millis(DEFAULT_OUTBOX_MAX_AGE_MS),
            health_interval: Duration::from_millis(DEFAULT_HEALTH_INTERVAL_MS),
            close_timeout: Duration::from_millis(DEFAULT_CLOSE_TIMEOUT_MS),
        }
    }
}

/// How often the warning about lost events is written at most (with the count since the
/// last one): a burst of holes is one line, not thousands.
const LOST_WARNING_EVERY: Duration = Duration::from_secs(10);

struct Inner {
    /// Both measured: every operation on them is counted in the meters below.
    log: Arc<dyn EventLog>,
    subscriber: Arc<dyn PubSub>,
    names: LogNames,
    origin: String,
    options: BusOptions,
    /// The outbox, and the number the next published event gets (under the same lock, so
    /// numbers are in outbox order).
    outbox: Mutex<(Outbox, u64)>,
    /// Wakes the writer: something was published, or the bus is closing.
    wake: Notify,
    counters: Counters,
    /// What `log` and `subscriber` went through.
    commands_meter: Arc<ConnectionMeter>,
    subscriber_meter: Arc<ConnectionMeter>,
    /// Warnings about lost events, at most one per [`LOST_WARNING_EVERY`].
    lost_warning: Repeats,
    closed: AtomicBool,
    /// Gauge: origins the reader tracks.
    origins: AtomicU64,
    created: Instant,
    sink: BusSink,
}

/// See the module docs.
pub struct EventBus {
    inner: Arc<Inner>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("log", &self.inner.names.log)
            .field("origin", &self.inner.origin)
            .finish()
    }
}

impl Drop for EventBus {
    fn drop(&mut self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

impl EventBus {
    /// A bus appending through `log` and receiving on `subscriber` (its own dedicated pub/sub
    /// connection, subscribed right away). Events of other processes go to `sink`. Background
    /// tasks run on [`crate::runtime::handle`].
    pub fn new(
        log: Arc<dyn EventLog>,
        subscriber: Arc<dyn PubSub>,
        options: BusOptions,
        sink: BusSink,
    ) -> Result<Self> {
        let setup =
            |detail: String| RedisError::new(RedisErrorKind::Config, "event bus setup", detail);
        let names = LogNames::new(&options.prefix).map_err(setup)?;
        let handle = crate::runtime::handle().map_err(|e| setup(e.to_string()))?;
        let events = subscriber.take_events().ok_or_else(|| {
            setup("the subscriber is already used by another bus or stream manager".to_owned())
        })?;
        if !log.retains() {
            tracing::warn!(
                channel = %names.channel,
                "event bus on a backend without scripts (driver \"client\"): pub/sub only; events published while another process's subscriber is away are lost for it, and nothing is kept in Redis"
            );
        }
        let commands_meter = Arc::new(ConnectionMeter::default());
        let subscriber_meter = Arc::new(ConnectionMeter::default());
        let log: Arc<dyn EventLog> = Arc::new(MeteredEventLog::new(log, commands_meter.clone()));
        let subscriber: Arc<dyn PubSub> =
            Arc::new(MeteredPubSub::new(subscriber, subscriber_meter.clone()));
        let inner = Arc::new(Inner {
            outbox: Mutex::new((Outbox::new(options.outbox_max, options.outbox_max_age), 1)),
            log,
            subscriber,
            names,
            origin: uuid::Uuid::new_v4().hyphenated().to_string(),
            options,
            wake: Notify::new(),
            counters: Counters::default(),
            commands_meter,
            subscriber_meter,
            lost_warning: Repeats::new(LOST_WARNING_EVERY),
            closed: AtomicBool::new(false),
            origins: AtomicU64::new(0),
            created: Instant::now(),
            sink,
        });
        let tasks = vec![
            handle.spawn(writer::writer_loop(inner.clone())),
            handle.spawn(reader::reader_loop(inner.clone(), events)),
        ];
        Ok(Self {
            inner,
            tasks: Mutex::new(tasks),
        })
    }

    /// Takes `event` (JSON text of a checked `ServerEvent`) to the other processes. Never
    /// blocks and never fails for Redis: the event waits in the outbox until it is appended.
    /// Returns `false` (and counts it) once the bus is closed.
    pub fn publish(&self, event: String) -> bool {
        let inner = &self.inner;
        Counters::add(&inner.counters.published, 1);
        if inner.closed.load(Ordering::Acquire) {
            Counters::add(&inner.counters.unsent_at_close, 1);
            return false;
        }
        let dropped = {
            let mut guard = inner.outbox.lock();
            let (outbox, next) = &mut *guard;
            let seq = *next;
            *next += 1;
            outbox.push(Outgoing { seq, event }, Instant::now())
        };
        if dropped.overflow > 0 {
            Counters::add(&inner.counters.outbox_dropped, dropped.overflow);
            tracing::debug!(
                dropped = dropped.overflow,
                "event bus outbox full: oldest events dropped"
            );
        }
        inner.wake.notify_one();
        true
    }

    /// Counts `n` listener calls for events published here (the bindings make them).
    pub fn count_local(&self, n: u64) {
        Counters::add(&self.inner.counters.delivered_local, n);
    }

    /// Counts `n` listener calls that threw (for events from here or from other processes).
    pub fn count_listener_errors(&self, n: u64) {
        Counters::add(&self.inner.counters.listener_errors, n);
    }

    /// This instance's origin id (a v4 UUID), as its events carry it.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The key and channel of this bus.
    pub fn names(&self) -> &LogNames {
        &self.inner.names
    }

    /// Whether the bus keeps a log in Redis (`false`: pub/sub only).
    pub fn retains(&self) -> bool {
        self.inner.log.retains()
    }

    /// Stops publishing to Redis: waits (at most `close_timeout`) until the outbox is
    /// appended, then stops the tasks and unsubscribes. Fails, naming how many events were
    /// not appended, when Redis did not take them in time (they are counted in
    /// `unsent_at_close`). A second call returns at once.
    pub fn close(&self) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let inner = self.inner.clone();
        let first = !inner.closed.swap(true, Ordering::AcqRel);
        let tasks: Vec<JoinHandle<()>> = if first {
            self.tasks.lock().drain(..).collect()
        } else {
            Vec::new()
        };
        async move {
            if !first {
                return Ok(());
            }
            inner.wake.notify_one();
            let deadline = tokio::time::Instant::now() + inner.options.close_timeout;
            while !inner.outbox.lock().0.is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            for task in &tasks {
                task.abort();
            }
            let unsent = inner.outbox.lock().0.clear() as u64;
            let channel = [inner.names.channel.clone()];
            if let Err(e) = inner.subscriber.unsubscribe(&channel).await {
                tracing::debug!(error = %e, "event bus: unsubscribe at close failed");
            }
            if unsent > 0 {
                Counters::add(&inner.counters.unsent_at_close, unsent);
                return Err(RedisError::new(
                    RedisErrorKind::Timeout,
                    format!("close of the event bus on {}", inner.names.log),
                    format!(
                        "{unsent} events published here could not be appended within {} ms; the other processes will not receive them",
                        inner.options.close_timeout.as_millis()
                    ),
                ));
            }
            Ok(())
        }
    }
}
