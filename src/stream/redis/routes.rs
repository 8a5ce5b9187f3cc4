//! Server-to-client request routing: which instance sent a request, and forwarding the
//! client's response to it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use serde_json::value::RawValue;

use super::{closed_error, Inbound, Inner, RedisStreamManager, REQUEST_ROUTE_TTL_SECS};
use crate::redis::{Result, Write};

impl RedisStreamManager {
    /// Records that the server-to-client request `request_id` of `session_id` was sent by
    /// this instance: `SET {prefix}req-route:{sid}:{requestId} {"serverId","sessionId"} EX 300`.
    /// `request_id` is the id as JS would interpolate it into a string (number 5 -> "5").
    pub async fn register_outbound_request(
        &self,
        request_id: &str,
        session_id: &str,
    ) -> Result<()> {
        let inner = &self.inner;
        let key = inner.route_key(session_id, request_id);
        let value = format!(
            "{{\"serverId\":{},\"sessionId\":{}}}",
            json_string(&inner.server_id),
            json_string(session_id)
        );
        let write = Write::Set {
            key: key.clone(),
            value,
            expire_secs: Some(REQUEST_ROUTE_TTL_SECS),
        };
        inner
            .conn
            .write(vec![write], &|| format!("SET {key}"))
            .await
    }

    /// Routes an inbound JSON-RPC response (JSON text, with id `request_id`) of `session_id`
    /// to the instance that sent the request. Returns `true` when a route names another
    /// instance: the response was published to that instance's server channel as
    /// `{"response":..,"sessionId":..}` and the route removed. Returns `false` when there is no
    /// route, the route is unparseable, the route is this instance's own, or `response_json`
    /// is not JSON.
    pub async fn forward_inbound_response(
        &self,
        request_id: &str,
        response_json: &str,
        session_id: &str,
    ) -> Result<bool> {
        let inner = &self.inner;
        let key = inner.route_key(session_id, request_id);
        let raw = inner.conn.get(&key).await?;
        let Some((target, route_session)) = raw.as_deref().and_then(parse_route) else {
            return Ok(false);
        };
        if target == inner.server_id {
            return Ok(false);
        }
        let response = response_json.trim();
        if serde_json::from_str::<serde_json::Value>(response).is_err() {
            tracing::warn!(
                session = session_id,
                "inbound response is not JSON; not forwarded"
            );
            return Ok(false);
        }
        let route_session = route_session.unwrap_or_else(|| json_string(session_id));
        let payload = format!("{{\"response\":{response},\"sessionId\":{route_session}}}");
        let channel = inner.server_channel(&target);
        let writes = vec![
            Write::Publish {
                channel: channel.clone(),
                message: payload,
            },
            Write::Del(vec![key.clone()]),
        ];
        inner
            .conn
            .write(writes, &|| format!("PUBLISH {channel} / DEL {key}"))
            .await?;
        Ok(true)
    }

    /// Subscribes to this instance's server channel; responses forwarded by other instances
    /// then reach the sink as [`Inbound::ForwardedResponse`]. When Redis cannot be reached
    /// this fails, and the subscription is retried in the background until it succeeds
    /// (`recover.rs`); a subscriber that cannot subscribe at all (a driven client without
    /// `subscribe`) fails with [`RedisErrorKind::Unsupported`] and is not retried.
    pub async fn enable_forwarded_responses(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(closed_error(format!(
                "SUBSCRIBE {}",
                inner.server_channel(&inner.server_id)
            )));
        }
        inner.want_forwarded_responses().await
    }
}

impl Inner {
    pub(super) fn forwarded(&self, payload: &[u8], out: &mut Vec<Inbound>) {
        let Some((session_id, response_json)) = parse_forwarded(payload) else {
            tracing::warn!(prefix = %self.prefix, "forwarded response is not a JSON object; dropped");
            return;
        };
        out.push(Inbound::ForwardedResponse {
            session_id,
            response_json,
        });
    }
}

/// A request route as any instance stored it (`{"serverId":..,"sessionId":..}`, this
/// package's or mcp-use's): the server id, and the session id as JSON text when there is one.
/// `None` for anything else (another writer of the key).
fn parse_route(raw: &str) -> Option<(String, Option<String>)> {
    let route = serde_json::from_str::<serde_json::Value>(raw).ok()?;
    let target = route.get("serverId")?.as_str()?.to_owned();
    let session = route
        .get("sessionId")
        .filter(|v| !v.is_null())
        .map(|v| v.to_string());
    Some((target, session))
}

/// A forwarded response as any instance published it (`{"response":..,"sessionId":..}`):
/// the session id and the response's JSON text as published (key order, number spelling).
/// `None` for a payload that is no JSON object.
fn parse_forwarded(payload: &[u8]) -> Option<(String, String)> {
    let mut obj = serde_json::from_slice::<HashMap<String, Box<RawValue>>>(payload).ok()?;
    let session_id = match obj
        .get("sessionId")
        .map(|raw| serde_json::from_str(raw.get()))
    {
        Some(Ok(serde_json::Value::String(s))) => s,
        Some(Ok(serde_json::Value::Null)) | None => String::new(),
        Some(Ok(other)) => other.to_string(),
        Some(Err(_)) => String::new(),
    };
    let response_json = match obj.remove("response") {
        Some(raw) => raw.get().to_string(),
        None => "null".to_string(),
    };
    Some((session_id, response_json))
}

pub(super) fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn routes_of_either_writer_parse_and_others_do_not() {
        assert_eq!(
            parse_route(r#"{"serverId":"a","sessionId":"s"}"#),
            Some(("a".to_owned(), Some(r#""s""#.to_owned())))
        );
        assert_eq!(
            parse_route(r#"{"serverId":"a"}"#),
            Some(("a".to_owned(), None))
        );
        for other in ["", "null", "[]", r#"{"serverId":5}"#, "not json", "{"] {
            assert_eq!(parse_route(other), None, "{other:?}");
        }
    }

    proptest! {
        /// Whatever another writer left in a route key or published on a server channel, the
        /// parsers answer (a value or None), never panic.
        #[test]
        fn foreign_routes_and_payloads_never_panic(text in ".{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_route(&text);
            let _ = parse_forwarded(text.as_bytes());
            let _ = parse_forwarded(&bytes);
        }

        /// What forward_inbound_response publishes comes back as it was sent.
        #[test]
        fn a_forwarded_response_round_trips(session in ".{0,40}", id in any::<i64>(), text in ".{0,40}") {
            let response = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {"text": text}}).to_string();
            let payload = format!("{{\"response\":{response},\"sessionId\":{}}}", json_string(&session));
            prop_assert_eq!(parse_forwarded(payload.as_bytes()), Some((session, response)));
        }
    }
}
