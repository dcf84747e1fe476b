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
    /// The API's bearer token, from this environment variable (or `http_token_file`).
    /// With a token, every route but `/healthz` and `/readyz` (and `/metrics` when
    /// `metrics_public`) needs `Authorization: Bearer <token>`. Without one the API is
    /// open: keep `http_listen` on 127.0.0.1 then.
    pub http_token_env: Option<String>,
    /// The API's bearer token, from the first line of this file.
    pub http_token_file: Option<std::path::PathBuf>,
    /// `/metrics` without the token (for a Prometheus that cannot send one). Default false.
    pub metrics_public: bool,
    /// Connections open at once; more wait. Default 256.
    pub http_max_connections: usize,
    /// A request that takes longer is answered 503. Default 10 s.
    pub http_request_timeout_secs: u64,
    /// Serve the API over TLS with this certificate chain (PEM) and `http_tls_key_file`.
    pub http_tls_cert_file: Option<std::path::PathBuf>,
    pub http_tls_key_file: Option<std::path::PathBuf>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            log_filter: "info".to_string(),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 9400)),
            stats_interval_secs: 30,
            http_token_env: None,
            http_token_file: None,
            metrics_public: false,
            http_max_connections: 256,
            http_request_timeout_secs: 10,
            http_tls_cert_file: None,
            http_tls_key_file: None,
        }
    }
}

impl TelemetryConfig {
    /// Checks the values that do not need the files.
    pub fn validate(&self) -> Vec<vigia_core::FieldError> {
        use vigia_core::FieldError;
        let mut e = Vec::new();
        if self.http_token_env.is_some() && self.http_token_file.is_some() {
            e.push(FieldError::new(
                "http_token_env",
                "set http_token_env or http_token_file, not both",
            ));
        }
        if self.http_tls_cert_file.is_some() != self.http_tls_key_file.is_some() {
            e.push(FieldError::new(
                "http_tls_cert_file",
                "set both http_tls_cert_file and http_tls_key_file, or neither",
            ));
        }
        if self.http_max_connections == 0 {
            e.push(FieldError::new(
                "http_max_connections",
                "must be at least 1",
            ));
        }
        if self.http_request_timeout_secs == 0 {
            e.push(FieldError::new(
                "http_request_timeout_secs",
                "must be at least 1",
            ));
        }
        e
    }
}
