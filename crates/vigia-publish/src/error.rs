//! The publish error type.

/// Errors from configuring or running the publisher or the embedded broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("mqtt.url {url:?}: {message}")]
    Url { url: String, message: String },
    /// A file named by `[mqtt]` (CA, client certificate or key) is missing or unusable.
    #[error("mqtt.{field} {}: {message}", path.display())]
    File {
        field: &'static str,
        path: std::path::PathBuf,
        message: String,
    },
    #[error("mqtt: {0}")]
    Config(String),
    #[error("embedded MQTT broker on {listen}: {message}")]
    Broker { listen: String, message: String },
    /// An outbox record this version cannot read.
    #[error("outbox record: {0}")]
    RecordFormat(String),
    #[error("outbox record {seq}: {message}")]
    Record { seq: u64, message: String },
    #[error(transparent)]
    Outbox(#[from] vigia_outbox::OutboxError),
}
