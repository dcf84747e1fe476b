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
