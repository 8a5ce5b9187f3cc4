//! What a `ServerEvent` of `@modelcontextprotocol/server` 2.x may be, as the bus checks it
//! before publishing anything.

/// The event kinds the SDK's `ServerEvent` names.
pub const KINDS: [&str; 4] = [
    "tools_list_changed",
    "prompts_list_changed",
    "resources_list_changed",
    "resource_updated",
];

/// Why an event of kind `kind` (with a string `uri` or not) is not a `ServerEvent`, as the
/// rest of a TypeError's message; `None` when it is one.
pub fn kind_error(kind: &str, has_uri: bool) -> Option<String> {
    if !KINDS.contains(&kind) {
        return Some(format!(
            "event.kind must be one of {}, got {kind:?}",
            KINDS.join(", ")
        ));
    }
    (kind == "resource_updated" && !has_uri)
        .then(|| "event.uri must be a string for resource_updated".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_kinds_and_the_uri_of_resource_updated() {
        for kind in KINDS {
            assert_eq!(kind_error(kind, true), None);
        }
        assert_eq!(kind_error("tools_list_changed", false), None);
        assert!(kind_error("resource_updated", false).is_some());
        assert!(
            kind_error("tools_changed", true).is_some_and(|m| m.contains("got \"tools_changed\""))
        );
    }
}
