//! Option keys a class does not know: most are typos (`pth` for `path`), which would
//! otherwise be ignored without a word. Each gets one warning naming it and the nearest known
//! key; it stays a warning, so apps that pass extra keys (mcp-use's, their own) keep running.

use super::value::Object;

/// The keys of `config` not in `known`, each with the known key it most likely meant.
pub fn unknown_keys<'a>(
    config: &'a Object,
    known: &[&'static str],
) -> Vec<(&'a str, Option<&'static str>)> {
    config
        .keys()
        .filter(|key| !known.contains(key))
        .map(|key| (key, nearest(key, known)))
        .collect()
}

/// The known key closest to `key` by edit distance, if it is close enough to be a typo of
/// it (at most a third of its length apart, and at least one edit), or differs only in case.
fn nearest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    if let Some(same) = known.iter().find(|k| k.to_ascii_lowercase() == lower) {
        return Some(same);
    }
    known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&lower, &k.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|(d, k)| *d <= (k.len().max(key.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Logs one warning per unknown key of `config` for `class`.
pub fn warn_unknown_keys(config: &Object, known: &[&'static str], class: &str) {
    for (key, suggestion) in unknown_keys(config, known) {
        match suggestion {
            Some(meant) => tracing::warn!(
                "new {class}: unknown option {key:?} is ignored (did you mean {meant:?}?)"
            ),
            None => tracing::warn!("new {class}: unknown option {key:?} is ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Value;

    fn config(keys: &[&str]) -> Object {
        Object(
            keys.iter()
                .map(|k| ((*k).to_owned(), Value::Null))
                .collect(),
        )
    }

    #[test]
    fn typos_get_the_key_they_meant() {
        let known = ["path", "debounceMs", "maxAgeMs"];
        let given = config(&["pth", "path", "debouncems", "maxAge", "zzz"]);
        let found = unknown_keys(&given, &known);
        assert_eq!(
            found,
            vec![
                ("pth", Some("path")),
                ("debouncems", Some("debounceMs")),
                ("maxAge", Some("maxAgeMs")),
                ("zzz", None),
            ]
        );
        let given = config(&["urll", "heartbeatInteval"]);
        let url = unknown_keys(&given, &["url", "heartbeatInterval"]);
        assert_eq!(
            url,
            vec![
                ("urll", Some("url")),
                ("heartbeatInteval", Some("heartbeatInterval"))
            ]
        );
        assert!(unknown_keys(&config(&["url"]), &["url"]).is_empty());
    }
}
