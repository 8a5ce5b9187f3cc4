//! The Prometheus text exposition format (0.0.4) of the classes' `stats()`: which stats key
//! becomes which metric ([`METRICS`]), and the writer.
//!
//! Names follow Prometheus' conventions: the `mcp_sessions_` prefix, `_total` on counters,
//! base units in the name (`_seconds`: the stats' milliseconds are converted). Every sample
//! carries a `name` label (the name the application gave the instance; not `instance`, which
//! Prometheus sets to the scraped target) and a `class` label. A stats key the table does not
//! know is left out, so a class's new key never turns into a mistyped metric.
//!
//! The input is each instance's `stats()` as plain values, read by the bindings, so any
//! object whose `stats()` uses these keys is rendered the same way.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::config::{ConfigError, ConfigResult, Object, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A latency summary `{ count, sumMs, buckets: [{ leMs, count }] }`, in seconds.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One stats key and the metric it becomes. Entries of one metric name (told apart by their
/// extra `labels`) share its kind and help.
#[derive(Debug)]
pub struct Metric {
    pub key: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub labels: &'static [(&'static str, &'static str)],
}

const COMMANDS: &[(&str, &str)] = &[("connection", "commands")];
const SUBSCRIBER: &[(&str, &str)] = &[("connection", "subscriber")];

const fn metric(
    key: &'static str,
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [(&'static str, &'static str)],
) -> Metric {
    Metric {
        key,
        name,
        kind,
        help,
        labels,
    }
}

const OPERATIONS: &str = "Operations on Redis: a command, a pipeline or a script (one round trip with the native connections), or one batch of calls on a driven client.";
const ERRORS: &str = "Operations on Redis that failed.";
const RECONNECTS: &str = "Times a connection worked again after Redis was unreachable.";
const UP: &str = "1 when the last operation on the connection reached Redis, else 0.";

/// Every stats key the exposition knows, in the order it writes them.
pub const METRICS: &[Metric] = &[
    metric(
        "sessions",
        "mcp_sessions_sessions",
        Kind::Gauge,
        "Sessions held by this store.",
        &[],
    ),
    metric(
        "sessionsExpired",
        "mcp_sessions_sessions_expired_total",
        Kind::Counter,
        "Sessions removed when their TTL ran out.",
        &[],
    ),
    metric(
        "saves",
        "mcp_sessions_file_saves_total",
        Kind::Counter,
        "Writes of the session file that succeeded.",
        &[],
    ),
    metric(
        "saveErrors",
        "mcp_sessions_file_save_errors_total",
        Kind::Counter,
        "Writes of the session file that failed.",
        &[],
    ),
    metric(
        "unsavedChanges",
        "mcp_sessions_file_unsaved_changes",
        Kind::Gauge,
        "Changes not written to the session file yet.",
        &[],
    ),
    metric(
        "saveLatency",
        "mcp_sessions_file_save_duration_seconds",
        Kind::Histogram,
        "Time to write the session file (serialize, write, fsync, rename), failures included.",
        &[],
    ),
    metric(
        "streams",
        "mcp_sessions_streams",
        Kind::Gauge,
        "SSE streams held by this process.",
        &[],
    ),
    metric(
        "messagesSent",
        "mcp_sessions_messages_sent_total",
        Kind::Counter,
        "Messages given to send(): one per listed session, one per broadcast.",
        &[],
    ),
    metric(
        "messagesDelivered",
        "mcp_sessions_messages_delivered_total",
        Kind::Counter,
        "Messages handed to a stream held here, replays of kept messages included.",
        &[],
    ),
    metric(
        "messagesKept",
        "mcp_sessions_messages_kept_total",
        Kind::Counter,
        "Messages kept because no stream took them (store-and-forward).",
        &[],
    ),
    metric(
        "messagesReplayed",
        "mcp_sessions_messages_replayed_total",
        Kind::Counter,
        "Kept messages delivered to a stream that opened.",
        &[],
    ),
    metric(
        "messagesExpired",
        "mcp_sessions_messages_expired_total",
        Kind::Counter,
        "Kept messages that outlived pendingTtl.",
        &[],
    ),
    metric(
        "messagesDropped",
        "mcp_sessions_messages_dropped_total",
        Kind::Counter,
        "Kept messages dropped to stay within pendingMaxMessages / pendingMaxBytes.",
        &[],
    ),
    metric(
        "streamsDropped",
        "mcp_sessions_streams_dropped_total",
        Kind::Counter,
        "Streams let go of because a write to them failed (the client left, or stopped reading).",
        &[],
    ),
    metric(
        "listeners",
        "mcp_sessions_bus_listeners",
        Kind::Gauge,
        "Listeners registered on the event bus in this process.",
        &[],
    ),
    metric(
        "eventsPublished",
        "mcp_sessions_bus_events_published_total",
        Kind::Counter,
        "Events given to publish() in this process.",
        &[],
    ),
    metric(
        "eventsAppended",
        "mcp_sessions_bus_events_appended_total",
        Kind::Counter,
        "Events published here and appended to the Redis log (announced to the other processes).",
        &[],
    ),
    metric(
        "appendErrors",
        "mcp_sessions_bus_append_errors_total",
        Kind::Counter,
        "Appends to the Redis log that failed; their events wait in the outbox and are tried again.",
        &[],
    ),
    metric(
        "localDeliveries",
        "mcp_sessions_bus_local_deliveries_total",
        Kind::Counter,
        "Listener calls for events published in this process (one per listener and event).",
        &[],
    ),
    metric(
        "listenerErrors",
        "mcp_sessions_bus_listener_errors_total",
        Kind::Counter,
        "Listener calls that threw.",
        &[],
    ),
    metric(
        "eventsReceived",
        "mcp_sessions_bus_events_received_total",
        Kind::Counter,
        "Events of other processes delivered here, live or read back from the log.",
        &[],
    ),
    metric(
        "eventsReplayed",
        "mcp_sessions_bus_events_replayed_total",
        Kind::Counter,
        "Events of other processes delivered here by a catch-up read of the log.",
        &[],
    ),
    metric(
        "duplicatesSkipped",
        "mcp_sessions_bus_duplicates_skipped_total",
        Kind::Counter,
        "Events that arrived twice (the channel and a catch-up read overlap) and were skipped.",
        &[],
    ),
    metric(
        "eventsLost",
        "mcp_sessions_bus_events_lost_total",
        Kind::Counter,
        "Events of other processes never received here (out of the retention window, dropped by their publisher's outbox, or missed in pub/sub-only mode).",
        &[],
    ),
    metric(
        "outboxEvents",
        "mcp_sessions_bus_outbox_events",
        Kind::Gauge,
        "Events published here waiting to be appended to the Redis log.",
        &[],
    ),
    metric(
        "outboxDropped",
        "mcp_sessions_bus_outbox_dropped_total",
        Kind::Counter,
        "Events dropped from the outbox to stay within outboxMaxLength.",
        &[],
    ),
    metric(
        "outboxExpired",
        "mcp_sessions_bus_outbox_expired_total",
        Kind::Counter,
        "Events dropped from the outbox after waiting longer than outboxMaxAgeMs.",
        &[],
    ),
    metric(
        "unsentAtClose",
        "mcp_sessions_bus_unsent_at_close_total",
        Kind::Counter,
        "Events published after close(), or still waiting when close() gave up on Redis.",
        &[],
    ),
    metric(
        "catchUps",
        "mcp_sessions_bus_catch_ups_total",
        Kind::Counter,
        "Reads of the Redis log after the last event seen (at start, after a reconnect or a gap).",
        &[],
    ),
    metric(
        "malformedMessages",
        "mcp_sessions_bus_malformed_messages_total",
        Kind::Counter,
        "Messages on the event bus channel that were not the bus's, ignored.",
        &[],
    ),
    metric(
        "publishers",
        "mcp_sessions_bus_publishers",
        Kind::Gauge,
        "Publishing event buses whose order and duplicates this process tracks.",
        &[],
    ),
    metric(
        "redisOperations",
        "mcp_sessions_redis_operations_total",
        Kind::Counter,
        OPERATIONS,
        COMMANDS,
    ),
    metric(
        "subscriberOperations",
        "mcp_sessions_redis_operations_total",
        Kind::Counter,
        OPERATIONS,
        SUBSCRIBER,
    ),
    metric(
        "redisErrors",
        "mcp_sessions_redis_errors_total",
        Kind::Counter,
        ERRORS,
        COMMANDS,
    ),
    metric(
        "subscriberErrors",
        "mcp_sessions_redis_errors_total",
        Kind::Counter,
        ERRORS,
        SUBSCRIBER,
    ),
    metric(
        "redisReconnects",
        "mcp_sessions_redis_reconnects_total",
        Kind::Counter,
        RECONNECTS,
        COMMANDS,
    ),
    metric(
        "subscriberReconnects",
        "mcp_sessions_redis_reconnects_total",
        Kind::Counter,
        RECONNECTS,
        SUBSCRIBER,
    ),
    metric(
        "redisUp",
        "mcp_sessions_redis_up",
        Kind::Gauge,
        UP,
        COMMANDS,
    ),
    metric(
        "subscriberUp",
        "mcp_sessions_redis_up",
        Kind::Gauge,
        UP,
        SUBSCRIBER,
    ),
    metric(
        "redisLatency",
        "mcp_sessions_redis_operation_duration_seconds",
        Kind::Histogram,
        "Time Redis operations took on the command connection, failures included.",
        COMMANDS,
    ),
];

/// One instance to render: the name the application gave it, its class, its `stats()`.
#[derive(Debug)]
pub struct Sampled<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub stats: &'a Object,
}

/// The text exposition of `instances`, one metric family after the other, each with its
/// HELP and TYPE lines once. Two instances with the same name are a `TypeError` (their
/// samples would collide); `method` names the caller in it.
pub fn render(instances: &[Sampled<'_>], method: &str) -> ConfigResult<String> {
    let mut names = HashSet::new();
    for i in instances {
        if !names.insert(i.name) {
            return Err(ConfigError::Type(format!(
                "{method}: two instances are named {:?}; each needs its own name",
                i.name
            )));
        }
    }
    let mut out = String::new();
    let mut done = HashSet::new();
    for family in METRICS {
        if !done.insert(family.name) {
            continue;
        }
        let members: Vec<&Metric> = METRICS.iter().filter(|m| m.name == family.name).collect();
        let mut body = String::new();
        for instance in instances {
            for m in &members {
                if let Some(value) = instance.stats.get(m.key) {
                    sample(&mut body, m, instance, value);
                }
            }
        }
        if body.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        out.push_str(&body);
    }
    Ok(out)
}

/// The samples of `value` (a number, or a latency summary) for metric `m` of `instance`.
/// A value of the wrong shape is left out.
fn sample(out: &mut String, m: &Metric, instance: &Sampled<'_>, value: &Value) {
    let labels = |extra: Option<(&str, String)>| {
        let mut l = format!(
            "name=\"{}\",class=\"{}\"",
            escape_label(instance.name),
            escape_label(instance.class)
        );
        for (k, v) in m.labels {
            let _ = write!(l, ",{k}=\"{}\"", escape_label(v));
        }
        if let Some((k, v)) = extra {
            let _ = write!(l, ",{k}=\"{v}\"");
        }
        l
    };
    match (m.kind, value) {
        (Kind::Counter | Kind::Gauge, Value::Number(n)) => {
            let _ = writeln!(out, "{}{{{}}} {}", m.name, labels(None), number(*n));
        }
        (Kind::Histogram, Value::Object(h)) => {
            let num = |v: Option<&Value>| match v {
                Some(Value::Number(n)) => Some(*n),
                _ => None,
            };
            let (Some(count), Some(sum_ms), Some(Value::Array(buckets))) =
                (num(h.get("count")), num(h.get("sumMs")), h.get("buckets"))
            else {
                return;
            };
            for bucket in buckets {
                if let (Some(le_ms), Some(n)) = (num(bucket.get("leMs")), num(bucket.get("count")))
                {
                    let le = ("le", number(le_ms / 1000.0));
                    let _ = writeln!(
                        out,
                        "{}_bucket{{{}}} {}",
                        m.name,
                        labels(Some(le)),
                        number(n)
                    );
                }
            }
            let inf = ("le", "+Inf".to_owned());
            let _ = writeln!(
                out,
                "{}_bucket{{{}}} {}",
                m.name,
                labels(Some(inf)),
                number(count)
            );
            let _ = writeln!(
                out,
                "{}_sum{{{}}} {}",
                m.name,
                labels(None),
                number(sum_ms / 1000.0)
            );
            let _ = writeln!(
                out,
                "{}_count{{{}}} {}",
                m.name,
                labels(None),
                number(count)
            );
        }
        _ => {}
    }
}

/// A sample value as Prometheus parses it (Go's `ParseFloat`, with `+Inf`, `-Inf`, `NaN`).
fn number(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_owned()
    } else if n == f64::INFINITY {
        "+Inf".to_owned()
    } else if n == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        // Rust prints the shortest text that reads back as `n`, never in exponent form.
        format!("{n}")
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: backslash and line feed escaped.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(pairs: &[(&str, Value)]) -> Object {
        Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn latency() -> Value {
        let bucket = |le: f64, n: f64| {
            Value::Object(stats(&[
                ("leMs", Value::Number(le)),
                ("count", Value::Number(n)),
            ]))
        };
        Value::Object(stats(&[
            ("count", Value::Number(3.0)),
            ("sumMs", Value::Number(7.5)),
            (
                "buckets",
                Value::Array(vec![bucket(0.25, 1.0), bucket(5.0, 2.0)]),
            ),
        ]))
    }

    #[test]
    fn the_table_follows_prometheus_naming_and_each_family_is_consistent() {
        let valid = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && s.starts_with("mcp_sessions_")
        };
        let mut keys = HashSet::new();
        for m in METRICS {
            assert!(valid(m.name), "{}", m.name);
            assert!(keys.insert(m.key), "{} twice", m.key);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            if m.kind == Kind::Histogram {
                assert!(m.name.ends_with("_seconds"), "{}", m.name);
            }
            for other in METRICS
                .iter()
                .filter(|o| o.name == m.name && o.key != m.key)
            {
                assert_eq!((other.kind, other.help), (m.kind, m.help), "{}", m.name);
                assert_ne!(
                    other.labels, m.labels,
                    "{} and {} collide",
                    m.key, other.key
                );
            }
        }
    }

    #[test]
    fn renders_families_once_with_the_name_and_class_of_each_instance() {
        let a = stats(&[
            ("redisOperations", Value::Number(12.0)),
            ("subscriberOperations", Value::Number(3.0)),
            ("redisUp", Value::Number(1.0)),
            ("redisLatency", latency()),
            ("notAMetricYet", Value::Number(1.0)),
        ]);
        let b = stats(&[("redisOperations", Value::Number(4.0))]);
        let text = render(
            &[
                Sampled {
                    name: "streams",
                    class: "RedisStreamManager",
                    stats: &a,
                },
                Sampled {
                    name: "sessions",
                    class: "RedisSessionStore",
                    stats: &b,
                },
            ],
            "renderPrometheus",
        )
        .unwrap();
        let expected = "\
# HELP mcp_sessions_redis_operations_total Operations on Redis: a command, a pipeline or a script (one round trip with the native connections), or one batch of calls on a driven client.
# TYPE mcp_sessions_redis_operations_total counter
mcp_sessions_redis_operations_total{name=\"streams\",class=\"RedisStreamManager\",connection=\"commands\"} 12
mcp_sessions_redis_operations_total{name=\"streams\",class=\"RedisStreamManager\",connection=\"subscriber\"} 3
mcp_sessions_redis_operations_total{name=\"sessions\",class=\"RedisSessionStore\",connection=\"commands\"} 4
# HELP mcp_sessions_redis_up 1 when the last operation on the connection reached Redis, else 0.
# TYPE mcp_sessions_redis_up gauge
mcp_sessions_redis_up{name=\"streams\",class=\"RedisStreamManager\",connection=\"commands\"} 1
# HELP mcp_sessions_redis_operation_duration_seconds Time Redis operations took on the command connection, failures included.
# TYPE mcp_sessions_redis_operation_duration_seconds histogram
mcp_sessions_redis_operation_duration_seconds_bucket{name=\"streams\",class=\"RedisStreamManager\",connection=\"commands\",le=\"0.00025\"} 1
mcp_sessions_redis_operation_duration_seconds_bucket{name=\"streams\",class=\"RedisStreamManager\",connection=\"commands\",le=\"0.005\"} 2
mcp_sessions_redis_operation_duration_seconds_bucket{name=\"streams\",class=\"RedisStreamManager\",connection=\"commands\",le=\"+Inf\"} 3
mcp_sessions_redis_operation_duration_seconds_sum{name=\"streams\",class=\"RedisStreamManager\",connection=\"commands\"} 0.0075
mcp_sessions_redis_operation_duration_seconds_count{name=\"streams\",class=\"RedisStreamManager\",connection=\"commands\"} 3
";
        assert_eq!(text, expected);
    }

    #[test]
    fn an_event_bus_renders_every_key_of_its_stats() {
        // RedisServerEventBus.stats() (src/node/report.rs): its own keys, then the
        // connection keys every Redis class has.
        let own = [
            ("listeners", "mcp_sessions_bus_listeners", Kind::Gauge),
            (
                "eventsPublished",
                "mcp_sessions_bus_events_published_total",
                Kind::Counter,
            ),
            (
                "eventsAppended",
                "mcp_sessions_bus_events_appended_total",
                Kind::Counter,
            ),
            (
                "appendErrors",
                "mcp_sessions_bus_append_errors_total",
                Kind::Counter,
            ),
            (
                "localDeliveries",
                "mcp_sessions_bus_local_deliveries_total",
                Kind::Counter,
            ),
            (
                "listenerErrors",
                "mcp_sessions_bus_listener_errors_total",
                Kind::Counter,
            ),
            (
                "eventsReceived",
                "mcp_sessions_bus_events_received_total",
                Kind::Counter,
            ),
            (
                "eventsReplayed",
                "mcp_sessions_bus_events_replayed_total",
                Kind::Counter,
            ),
            (
                "duplicatesSkipped",
                "mcp_sessions_bus_duplicates_skipped_total",
                Kind::Counter,
            ),
            (
                "eventsLost",
                "mcp_sessions_bus_events_lost_total",
                Kind::Counter,
            ),
            (
                "outboxEvents",
                "mcp_sessions_bus_outbox_events",
                Kind::Gauge,
            ),
            (
                "outboxDropped",
                "mcp_sessions_bus_outbox_dropped_total",
                Kind::Counter,
            ),
            (
                "outboxExpired",
                "mcp_sessions_bus_outbox_expired_total",
                Kind::Counter,
            ),
            (
                "unsentAtClose",
                "mcp_sessions_bus_unsent_at_close_total",
                Kind::Counter,
            ),
            (
                "catchUps",
                "mcp_sessions_bus_catch_ups_total",
                Kind::Counter,
            ),
            (
                "malformedMessages",
                "mcp_sessions_bus_malformed_messages_total",
                Kind::Counter,
            ),
            ("publishers", "mcp_sessions_bus_publishers", Kind::Gauge),
        ];
        for (key, name, kind) in own {
            let m = METRICS.iter().find(|m| m.key == key);
            assert!(
                m.is_some_and(|m| m.name == name && m.kind == kind && m.labels.is_empty()),
                "{key}: {m:?}"
            );
        }
        let connection = [
            "redisOperations",
            "redisErrors",
            "redisReconnects",
            "redisUp",
            "subscriberOperations",
            "subscriberErrors",
            "subscriberReconnects",
            "subscriberUp",
        ];
        let mut pairs: Vec<(&str, Value)> = own
            .iter()
            .enumerate()
            .map(|(i, (key, _, _))| (*key, Value::Number(i as f64)))
            .collect();
        pairs.extend(connection.iter().map(|k| (*k, Value::Number(1.0))));
        pairs.push(("redisLatency", latency()));
        let bus = stats(&pairs);
        let text = render(
            &[Sampled {
                name: "bus",
                class: "RedisServerEventBus",
                stats: &bus,
            }],
            "renderPrometheus",
        )
        .unwrap();
        let labels = "{name=\"bus\",class=\"RedisServerEventBus\"}";
        for (i, (_, name, kind)) in own.iter().enumerate() {
            let kind = kind.as_str();
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
            assert!(text.contains(&format!("\n{name}{labels} {i}\n")), "{name}");
        }
        // Every number is one sample, the latency one histogram (2 buckets, +Inf, sum, count).
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, own.len() + connection.len() + 5);
        assert!(text.contains(
            "mcp_sessions_redis_up{name=\"bus\",class=\"RedisServerEventBus\",connection=\"subscriber\"} 1\n"
        ));
    }

    #[test]
    fn label_values_and_numbers_are_escaped_and_written_as_prometheus_reads_them() {
        let s = stats(&[
            ("sessions", Value::Number(f64::NAN)),
            ("streams", Value::Number(1e21)),
        ]);
        let text = render(
            &[Sampled {
                name: "a \"b\"\\c\nd",
                class: "X",
                stats: &s,
            }],
            "renderPrometheus",
        )
        .unwrap();
        assert!(
            text.contains("mcp_sessions_sessions{name=\"a \\\"b\\\"\\\\c\\nd\",class=\"X\"} NaN\n")
        );
        assert!(text.contains("} 1000000000000000000000\n"));
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.0001), "0.0001");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }

    #[test]
    fn nothing_to_render_is_an_empty_text_and_a_name_twice_is_a_type_error() {
        assert_eq!(render(&[], "f").unwrap(), "");
        let s = Object::default();
        let twice = [
            Sampled {
                name: "x",
                class: "A",
                stats: &s,
            },
            Sampled {
                name: "x",
                class: "B",
                stats: &s,
            },
        ];
        assert!(matches!(render(&twice, "f"), Err(ConfigError::Type(m)) if m.contains("\"x\"")));
    }
}
