//! One typed configuration for every Switchboard process.
//!
//! Sources, later wins: built-in defaults → the TOML file (`--config` or `SWITCHBOARD_CONFIG`) →
//! `SWITCHBOARD_*` environment variables (the names Bicep sets on the container apps; see
//! [`ENV_VARS`]). [`Config::validate`] runs before any network I/O and names the offending key;
//! binaries exit with [`EXIT_CONFIG`] (64, `EX_USAGE`) on failure. Secrets are [`Secret`]s and never
//! appear in `Debug` output or logs.
//!
//! `model.rs` holds the sections and loading; `env.rs` the environment overrides;
//! `validate.rs` the checks. The embedded backend's `sqlite_path` helpers live with it
//! (`crate::backend::sqlite`).

mod env;
mod model;
mod stats;
#[cfg(test)]
mod tests;
mod validate;

pub use self::env::ENV_VARS;
pub use self::model::{
    AcsConfig, Config, ConfigError, EventGridAuth, GraphConfig, IngressAuth, IngressConfig, Key,
    QueueSection, Role, Secret, Section, Settings, StoreSection, TelemetryConfig, WorkerConfig,
    DEFAULT_MAX_MESSAGE_BYTES, EVENT_GRID_APP_ID, EXIT_CONFIG,
};
pub use self::stats::{parse_offset, StatsConfig};
