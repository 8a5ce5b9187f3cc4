//! Loading the file: one JSON object of sessions (mcp-use's format, pretty-printed or not),
//! stale sessions dropped, a file that does not parse moved aside rather than overwritten.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;

use super::error::FileStoreError;
use crate::metadata::Metadata;

/// What loading found, for the caller to report.
#[derive(Debug, Default, PartialEq)]
pub struct LoadReport {
    pub loaded: usize,
    pub dropped_stale: usize,
    /// Where an unparseable file was moved.
    pub moved_corrupt_to: Option<PathBuf>,
}

pub(super) fn load(
    path: &Path,
    max_age_ms: f64,
    now: f64,
) -> Result<(Vec<(String, Metadata)>, LoadReport), FileStoreError> {
    let mut report = LoadReport::default();
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(path = %path.display(), "no session file, starting empty");
            return Ok((Vec::new(), report));
        }
        Err(e) => {
            return Err(FileStoreError {
                op: "read",
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let parsed = match serde_json::from_slice::<Sessions<'_>>(&bytes) {
        Ok(p) => p.0,
        Err(parse_error) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".corrupt-{}", now as u64));
            let aside = PathBuf::from(aside);
            fs::rename(path, &aside).map_err(|source| FileStoreError {
                op: "move aside corrupt",
                path: path.to_path_buf(),
                source,
            })?;
            tracing::warn!(
                path = %path.display(),
                moved_to = %aside.display(),
                error = %parse_error,
                "session file is not a JSON object of sessions; moved it aside and started empty"
            );
            report.moved_corrupt_to = Some(aside);
            return Ok((Vec::new(), report));
        }
    };
    let mut sessions = Vec::with_capacity(parsed.len());
    for (id, raw) in parsed {
        let metadata = Metadata::from_json(minify(raw.get()));
        // As the reference (`now - lastAccessedAt > maxAgeMs` with JS coercion): a session
        // whose timestamp coerces to NaN (missing, non-numeric) is kept.
        if metadata
            .last_accessed_at_coerced()
            .is_some_and(|t| now - t > max_age_ms)
        {
            report.dropped_stale += 1;
            continue;
        }
        sessions.push((id.into_owned(), metadata));
    }
    report.loaded = sessions.len();
    tracing::debug!(path = %path.display(), loaded = report.loaded, dropped = report.dropped_stale, "sessions loaded");
    Ok((sessions, report))
}

/// The top-level object of a session file, borrowed from the file's bytes: one pass, no
/// per-value allocation until the metadata text is stored. Later duplicates of an id win
/// when the sessions are inserted, as with `JSON.parse`.
struct Sessions<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Sessions<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Sessions<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of sessions")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(1024));
                while let Some(entry) =
                    map.next_entry::<std::borrow::Cow<'de, str>, &'de RawValue>()?
                {
                    out.push(entry);
                }
                Ok(Sessions(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Removes insignificant whitespace from valid JSON text (mcp-use writes its file
/// pretty-printed), keeping key order and number spelling.
fn minify(json: &str) -> String {
    if !json
        .bytes()
        .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        return json.to_owned();
    }
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings() {
        assert_eq!(
            minify("{ \"a b\" : [ 1 , \"x\\\\\" ] }"),
            "{\"a b\":[1,\"x\\\\\"]}"
        );
    }
}
