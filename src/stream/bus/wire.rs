//! The bus's message on the channel: `{"id":"<ms>-<seq>","origin":"<uuid>","seq":<n>,
//! "event":<event JSON>}`, written by the append script (`src/redis/native/ops/event_log.rs`), or
//! without `id` by a pub/sub-only backend ([`message`]). The event stays JSON text end to end:
//! the core never interprets it, so `params` of any shape survive as they were published.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::redis::event_log::{Entry, EntryId};

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default)]
    id: Option<&'a str>,
    origin: String,
    seq: u64,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// The entry a channel message announces; `Err` names what is wrong with a foreign message.
pub fn parse(payload: &[u8]) -> Result<Entry, String> {
    let m: Message<'_> =
        serde_json::from_slice(payload).map_err(|e| format!("not a bus message: {e}"))?;
    let id = m.id.map(str::parse::<EntryId>).transpose()?;
    Ok(Entry {
        id,
        origin: m.origin,
        seq: m.seq,
        event: m.event.get().to_owned(),
    })
}

/// The message of a pub/sub-only backend (no stream id): same shape, without `id`.
pub fn message(origin: &str, seq: u64, event: &str) -> String {
    format!(r#"{{"origin":"{origin}","seq":{seq},"event":{event}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_script_writes() {
        let e = parse(
            br#"{"id":"17-2","origin":"o","seq":3,"event":{"kind":"resource_updated","uri":"a://b","params":{"x":[1,{"y":null}]}}}"#,
        )
        .expect("parses");
        assert_eq!(e.id, Some(EntryId { ms: 17, seq: 2 }));
        assert_eq!(e.origin, "o");
        assert_eq!(e.seq, 3);
        assert_eq!(
            e.event,
            r#"{"kind":"resource_updated","uri":"a://b","params":{"x":[1,{"y":null}]}}"#
        );
    }

    #[test]
    fn the_pub_sub_only_form_round_trips() {
        let text = message("o", 9, r#"{"kind":"tools_list_changed"}"#);
        let e = parse(text.as_bytes()).expect("parses");
        assert_eq!(e.id, None);
        assert_eq!((e.origin.as_str(), e.seq), ("o", 9));
        assert_eq!(e.event, r#"{"kind":"tools_list_changed"}"#);
    }

    #[test]
    fn foreign_messages_are_errors() {
        assert!(parse(b"hello").is_err());
        assert!(parse(br#"{"id":"x","origin":"o","seq":1,"event":{}}"#).is_err());
        assert!(parse(br#"{"origin":"o","event":{}}"#).is_err());
    }
}
