//! Diagnostics through `tracing`, written to stderr.
//!
//! `MCP_SESSIONS_LOG` sets the filter, in `tracing-subscriber`'s `EnvFilter` syntax:
//! `debug`, `mcp_sessions_native=trace`, `off`. The default ([`DEFAULT_FILTER`]) is `warn`,
//! plus the line that says Redis answers again after an outage: nothing on the happy path,
//! one line when something is wrong (a corrupt session file moved aside, a save or a Redis
//! command that failed) and one when it is over. Session metadata is never logged, only ids
//! and counts.

use std::sync::Once;

mod outage;
mod repeats;

pub use outage::{Outage, RECOVERY_TARGET};
pub use repeats::Repeats;

pub const ENV_VAR: &str = "MCP_SESSIONS_LOG";

/// The filter when [`ENV_VAR`] is unset or empty.
pub const DEFAULT_FILTER: &str = "warn,mcp_sessions_native::recovery=info";

static INIT: Once = Once::new();

/// Installs the stderr subscriber once per process. Harmless if another global
/// subscriber is already installed (the embedding one wins).
pub fn init() {
    INIT.call_once(|| {
        // Unset or empty: the default.
        let filter = std::env::var(ENV_VAR)
            .ok()
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_FILTER.to_owned());
        let filter = tracing_subscriber::EnvFilter::try_new(&filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(true)
            .try_init();
    });
}
