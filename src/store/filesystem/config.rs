//! What a `FileSystemSessionStore` config sets, over mcp-use's defaults.

use std::path::Path;
use std::time::Duration;

use super::FileStoreConfig;
use crate::config::{
    number_field, string_field, warn_unknown_keys, ConfigError, ConfigResult, Object, MAX_TIMER_MS,
};

/// Where the sessions are written when no `path` is given, under the working directory.
pub const DEFAULT_PATH: [&str; 2] = [".mcp-use", "sessions.json"];
/// Milliseconds a change waits for others before the file is written.
pub const DEFAULT_DEBOUNCE_MS: f64 = 100.0;
/// Sessions whose `lastAccessedAt` is older than this many ms are dropped on load (a day).
pub const DEFAULT_MAX_AGE_MS: f64 = 86_400_000.0;

impl FileStoreConfig {
    /// The keys of a `FileSystemSessionStore` config.
    pub const KEYS: [&'static str; 3] = ["path", "debounceMs", "maxAgeMs"];

    /// `path` (relative to `cwd`; `.mcp-use/sessions.json` by default), `debounceMs` and
    /// `maxAgeMs`; warns about keys no option has (a typo is not ignored silently).
    pub fn read(config: Option<&Object>, cwd: &Path, class: &str) -> ConfigResult<Self> {
        if let Some(config) = config {
            warn_unknown_keys(config, &Self::KEYS, class);
        }
        let path = string_field(config, "path", class)?;
        let debounce_ms = number_field(config, "debounceMs", class, 0.0, MAX_TIMER_MS)?
            .unwrap_or(DEFAULT_DEBOUNCE_MS);
        let max_age_ms =
            number_field(config, "maxAgeMs", class, 0.0, f64::MAX)?.unwrap_or(DEFAULT_MAX_AGE_MS);
        let path = match path {
            Some(p) if p.is_empty() => {
                return Err(ConfigError::Type(format!(
                    "new {class}: path must not be empty"
                )))
            }
            Some(p) => cwd.join(p),
            None => DEFAULT_PATH
                .iter()
                .fold(cwd.to_path_buf(), |p, c| p.join(c)),
        };
        Ok(FileStoreConfig {
            path,
            debounce: Duration::from_millis(debounce_ms.ceil() as u64),
            max_age_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Value;

    #[test]
    fn defaults_are_mcp_uses_under_the_working_directory() {
        let cwd = Path::new("/srv/app");
        let read = FileStoreConfig::read(None, cwd, "F").expect("defaults");
        assert_eq!(read.path, Path::new("/srv/app/.mcp-use/sessions.json"));
        assert_eq!(read.debounce, Duration::from_millis(100));
        assert_eq!(read.max_age_ms, DEFAULT_MAX_AGE_MS);
    }

    #[test]
    fn a_relative_path_is_under_the_working_directory_and_an_absolute_one_is_kept() {
        let cwd = Path::new("/srv/app");
        let config = |path: &str| Object(vec![("path".into(), Value::String(path.into()))]);
        let read = |path: &str| FileStoreConfig::read(Some(&config(path)), cwd, "F");
        assert_eq!(read("s.json").unwrap().path, Path::new("/srv/app/s.json"));
        assert_eq!(read("/var/s.json").unwrap().path, Path::new("/var/s.json"));
        assert_eq!(
            read("").unwrap_err(),
            ConfigError::Type("new F: path must not be empty".into())
        );
    }

    #[test]
    fn the_debounce_is_rounded_up_to_whole_milliseconds() {
        let config = Object(vec![("debounceMs".into(), Value::Number(0.2))]);
        let read = FileStoreConfig::read(Some(&config), Path::new("/"), "F").unwrap();
        assert_eq!(read.debounce, Duration::from_millis(1));
    }
}
