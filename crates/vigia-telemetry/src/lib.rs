//! Telemetry for vigia.
//!
//! - [`metrics`]: the Prometheus registry and a typed handle for every metric (names from
//!   [`vigia_core::metric_names`]); crates increment these, the binary serves them.
//! - [`logging`]: the tracing subscriber, human-readable or JSON.
//! - [`config`]: the `[telemetry]` config section.

pub mod config;
pub mod logging;
pub mod metrics;

pub use config::{LogFormat, TelemetryConfig};
pub use metrics::Metrics;

/// Errors of the telemetry set-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelemetryError {
    /// A log filter (`telemetry.log_filter` or `RUST_LOG`) that does not parse.
    #[error("log filter {filter:?}: {message}")]
    LogFilter { filter: String, message: String },
}
