//! The `[telemetry]` config section.

use std::net::SocketAddr;

use serde::Deserialize;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[telemetry]`: logs, metrics and the HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Log format: `text` (default) or `json`. `--log-format` on the command line wins.
    pub log_format: LogFormat,
    /// Log filter in `tracing` env-filter syntax. Default `info`. `RUST_LOG` wins when set.
    pub log_filter: String,
    /// Address of the HTTP server for `/healthz`, `/readyz`, `/metrics` and the REST API.
    /// Default `127.0.0.1:9400`; use `0.0.0.0:9400` to expose it. Port 0 picks a free port.
    pub http_listen: SocketAddr,
    /// How often node stats are published on `<prefix>/stats` (QoS 0). 0 turns them off.
    /// Default 30 s.
    pub stats_interval_secs: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            log_filter: "info".to_string(),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 9400)),
            stats_interval_secs: 30,
        }
    }
}
