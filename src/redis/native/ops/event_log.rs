//! [`EventLog`] on the native [`Connection`]: the append script, `XRANGE` and `TIME`, on one
//! node, a Sentinel group's primary or a Redis Cluster alike. The key and the channel share a
//! hash tag ([`LogNames`]), so on a cluster the script runs on that slot's node, and with
//! sharded pub/sub it announces with `SPUBLISH` there (the subscriber then `SSUBSCRIBE`s on the
//! same node); with classic pub/sub, `PUBLISH` from the script reaches every node's
//! subscribers as any `PUBLISH` does.

use std::sync::LazyLock;

use crate::redis::backend::BoxFuture;
use crate::redis::event_log::{Entry, EntryId, EventLog, LogNames, Outgoing, Retention};
use crate::redis::native::conn::Connection;
use crate::redis::{RedisError, RedisErrorKind, Result};

/// KEYS[1] log; ARGV: channel, publish command, max entries, max age (ms, 0: none), origin,
/// then `seq, event` pairs. Each event is `XADD`ed (`MAXLEN ~`) and published as
/// `{"id":..,"origin":..,"seq":..,"event":<event JSON>}` with the id it got, in one atomic
/// step, so the channel's order is the stream's. Then the log is trimmed by age (`MINID ~`) and
/// expires after the age limit without appends (a bus nobody uses leaves nothing behind). The
/// origin is a UUID and seq a number, so splicing them into the JSON text needs no escaping;
/// the event is JSON text checked by the caller. Returns how many were appended.
const APPEND_LUA: &str = r#"
local channel, publish, maxlen, maxage, origin = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local n = 0
for i = 6, #ARGV, 2 do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'origin', origin, 'seq', ARGV[i], 'event', ARGV[i + 1])
  redis.call(publish, channel, '{"id":"' .. id .. '","origin":"' .. origin .. '","seq":' .. ARGV[i] .. ',"event":' .. ARGV[i + 1] .. '}')
  n = n + 1
end
if maxage > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XTRIM', KEYS[1], 'MINID', '~', tostring(now - maxage) .. '-0')
  redis.call('PEXPIRE', KEYS[1], maxage)
end
return n
"#;

static APPEND: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(APPEND_LUA));

/// The publish command of the bus: `SPUBLISH` on a cluster with sharded pub/sub (the rule
/// the [`Subscriber`](crate::redis::Subscriber) follows for `SSUBSCRIBE`), else `PUBLISH`.
async fn publish_command(conn: &Connection, what: impl FnOnce() -> String) -> Result<&'static str> {
    Ok(if conn.sharded() && conn.cluster(what).await?.is_some() {
        "SPUBLISH"
    } else {
        "PUBLISH"
    })
}

impl EventLog for Connection {
    fn append<'a>(
        &'a self,
        names: &'a LogNames,
        retention: Retention,
        origin: &'a str,
        events: &'a [Outgoing],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if events.is_empty() {
                return Ok(());
            }
            let what = || format!("append of {} events to {}", events.len(), names.log);
            let publish = publish_command(self, what).await?;
            let mut invocation = APPEND.key(&names.log);
            invocation
                .arg(&names.channel)
                .arg(publish)
                .arg(retention.max_len.max(1))
                .arg(retention.max_age_ms)
                .arg(origin);
            for e in events {
                invocation.arg(e.seq).arg(&e.event);
            }
            let appended: u64 = self.invoke_script(&invocation, what).await?;
            if appended as usize != events.len() {
                return Err(RedisError::new(
                    RedisErrorKind::Protocol,
                    what(),
                    format!("the script appended {appended} of {}", events.len()),
                ));
            }
            Ok(())
        })
    }

    fn read_after<'a>(
        &'a self,
        names: &'a LogNames,
        after: EntryId,
        count: usize,
    ) -> BoxFuture<'a, Result<Vec<Entry>>> {
        Box::pin(async move {
            let what = || format!("XRANGE {} ({after} +", names.log);
            let mut cmd = redis::cmd("XRANGE");
            cmd.arg(&names.log)
                .arg(format!("({after}"))
                .arg("+")
                .arg("COUNT")
                .arg(count.max(1));
            let reply: redis::Value = self.query(&cmd, what).await?;
            entries(reply)
                .map_err(|detail| RedisError::new(RedisErrorKind::Protocol, what(), detail))
        })
    }

    fn last_id<'a>(&'a self, names: &'a LogNames) -> BoxFuture<'a, Result<Option<EntryId>>> {
        Box::pin(async move {
            let what = || format!("XREVRANGE {} + - COUNT 1", names.log);
            let mut cmd = redis::cmd("XREVRANGE");
            cmd.arg(&names.log).arg("+").arg("-").arg("COUNT").arg(1);
            let reply: redis::Value = self.query(&cmd, what).await?;
            let newest = entries(reply)
                .map_err(|detail| RedisError::new(RedisErrorKind::Protocol, what(), detail))?;
            Ok(newest.first().and_then(|e| e.id))
        })
    }

    fn now_ms(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let (secs, micros): (u64, u64) = self
                .query(&redis::cmd("TIME"), || "TIME".to_owned())
                .await?;
            Ok(secs * 1000 + micros / 1000)
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Connection::ping(self))
    }

    fn describe(&self) -> &'static str {
        "redis streams"
    }
}

/// The entries of an `XRANGE` reply: `[[id, [field, value, ...]], ...]` (a map of fields
/// on RESP3 is read too).
fn entries(reply: redis::Value) -> std::result::Result<Vec<Entry>, String> {
    let redis::Value::Array(items) = reply else {
        return Err(format!("expected an array, got {reply:?}"));
    };
    items.into_iter().map(entry).collect()
}

fn text(v: redis::Value) -> std::result::Result<String, String> {
    match v {
        redis::Value::BulkString(b) => String::from_utf8(b).map_err(|e| e.to_string()),
        redis::Value::SimpleString(s) => Ok(s),
        other => Err(format!("expected text, got {other:?}")),
    }
}

fn entry(item: redis::Value) -> std::result::Result<Entry, String> {
    let redis::Value::Array(parts) = item else {
        return Err(format!("expected an entry, got {item:?}"));
    };
    let mut parts = parts.into_iter();
    let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
        return Err("an entry without id or fields".to_owned());
    };
    let id: EntryId = text(id)?.parse()?;
    let pairs: Vec<(redis::Value, redis::Value)> = match fields {
        redis::Value::Array(flat) => {
            let mut it = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        redis::Value::Map(pairs) => pairs,
        other => return Err(format!("expected the fields of {id}, got {other:?}")),
    };
    let (mut origin, mut seq, mut event) = (None, None, None);
    for (k, v) in pairs {
        match text(k)?.as_str() {
            "origin" => origin = Some(text(v)?),
            "seq" => seq = text(v)?.parse::<u64>().ok(),
            "event" => event = Some(text(v)?),
            _ => {}
        }
    }
    match (origin, seq, event) {
        (Some(origin), Some(seq), Some(event)) => Ok(Entry {
            id: Some(id),
            origin,
            seq,
            event,
        }),
        _ => Err(format!("entry {id} lacks origin, seq or event")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn xrange_replies_become_entries() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("5-1"),
            Value::Array(vec![
                bulk("origin"),
                bulk("o1"),
                bulk("seq"),
                bulk("7"),
                bulk("event"),
                bulk(r#"{"kind":"tools_list_changed"}"#),
            ]),
        ])]);
        let got = entries(reply).expect("parses");
        assert_eq!(
            got,
            vec![Entry {
                id: Some(EntryId { ms: 5, seq: 1 }),
                origin: "o1".into(),
                seq: 7,
                event: r#"{"kind":"tools_list_changed"}"#.into(),
            }]
        );
    }

    #[test]
    fn a_foreign_entry_is_an_error_not_a_panic() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("5-1"),
            Value::Array(vec![bulk("x"), bulk("y")]),
        ])]);
        assert!(entries(reply).is_err());
        assert!(entries(Value::Nil).is_err());
    }
}
