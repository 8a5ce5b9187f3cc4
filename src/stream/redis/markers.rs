//! The hand-over markers: what instances tell each other about a session on that session's
//! own channel, in order with its messages (Redis delivers a channel's messages to every
//! subscriber in publish order, so a marker splits each listener's view at the same point).
//!
//! * **opened**: a stream of the session opened on the marker's instance while another
//!   instance listened to the session or was letting go of it. Published by the take of its
//!   kept messages, after its SUBSCRIBE: every message published after the marker reaches
//!   the new stream, so an older stream stops there.
//! * **handed-back**: the marker's instance put messages of the session back in Redis while
//!   another instance listened (see `crate::redis::Commands::requeue`): a listener takes them.
//!
//! A journaled message (see `crate::redis::Commands::publish_or_keep`) comes with a tag line,
//! its journal id, ahead of the message; [`journaled`] reads it off, and the tag is checked
//! before the markers (it starts like one).
//!
//! A marker, like the tag, is an SSE comment, so an mcp-use instance that holds the session's
//! stream in a mixed fleet writes it to its client, which ignores it; this crate never writes
//! one.

use crate::redis::JOURNAL_TAG;

/// What every marker starts with.
const PREFIX: &str = ": mcp-sessions-native ";
const OPENED: &str = "opened ";
const HANDED_BACK: &str = "handed-back ";

/// A marker, with the id of the instance that published it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker<'a> {
    Opened(&'a str),
    HandedBack(&'a str),
}

/// The opened marker of `server_id`.
pub fn opened(server_id: &str) -> String {
    format!("{PREFIX}{OPENED}{server_id}\n\n")
}

/// The handed-back marker of `server_id`.
pub fn handed_back(server_id: &str) -> String {
    format!("{PREFIX}{HANDED_BACK}{server_id}\n\n")
}

/// A journaled message (see `crate::redis::Commands::publish_or_keep`): its journal id and
/// the message. A payload that starts with the tag but has no line feed after the id is not
/// one.
pub fn journaled(payload: &[u8]) -> Option<(&str, &[u8])> {
    let rest = payload.strip_prefix(JOURNAL_TAG.as_bytes())?;
    let end = rest.iter().position(|b| *b == b'\n')?;
    let id = std::str::from_utf8(&rest[..end]).ok()?;
    Some((id, &rest[end + 1..]))
}

/// The marker `payload` is, if it is one. Anything else that starts like one is a marker of a
/// kind this version does not know: `Err(())`, never a message.
pub fn parse(payload: &[u8]) -> Option<Result<Marker<'_>, ()>> {
    let rest = payload.strip_prefix(PREFIX.as_bytes())?;
    let Ok(rest) = std::str::from_utf8(rest) else {
        return Some(Err(()));
    };
    let rest = rest.trim_end_matches('\n');
    Some(if let Some(id) = rest.strip_prefix(OPENED) {
        Ok(Marker::Opened(id))
    } else if let Some(id) = rest.strip_prefix(HANDED_BACK) {
        Ok(Marker::HandedBack(id))
    } else {
        Err(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_read_back_and_messages_are_not_markers() {
        assert_eq!(
            parse(opened("a-b").as_bytes()),
            Some(Ok(Marker::Opened("a-b")))
        );
        assert_eq!(
            parse(handed_back("c").as_bytes()),
            Some(Ok(Marker::HandedBack("c")))
        );
        assert_eq!(parse(b": mcp-sessions-native later x\n\n"), Some(Err(())));
        assert_eq!(parse(b"event: message\ndata: {}\n\n"), None);
        assert_eq!(parse(b": keep-alive\n\n"), None);
        assert!(opened("x").starts_with(':'), "an SSE comment");
    }

    #[test]
    fn a_journaled_message_is_its_id_and_the_message() {
        let tagged = format!("{JOURNAL_TAG}1733-0\nevent: message\ndata: {{}}\n\n");
        assert_eq!(
            journaled(tagged.as_bytes()),
            Some(("1733-0", &b"event: message\ndata: {}\n\n"[..]))
        );
        assert_eq!(
            parse(tagged.as_bytes()).map(|m| m.is_ok()),
            Some(false),
            "checked first"
        );
        assert_eq!(journaled(b"event: message\ndata: {}\n\n"), None);
        assert_eq!(journaled(JOURNAL_TAG.as_bytes()), None, "no id");
    }
}
