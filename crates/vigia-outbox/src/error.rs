//! The outbox error type.

use std::path::PathBuf;

/// Errors from the outbox. Every variant names the file or limit involved.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The disk budget is exhausted; the record was not written. Retry after acks free space.
    #[error(
        "outbox disk budget exhausted: {used} of {max} bytes used, record needs {needed}; waiting for the broker to acknowledge older events"
    )]
    Full { used: u64, max: u64, needed: u64 },
    #[error("outbox record of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error(
        "outbox directory {path} is in use by another outbox (its LOCK file is held, by another vigia process or this one); every node and every `vigia loadgen` run needs its own data_dir"
    )]
    Busy { path: PathBuf },
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> OutboxError {
    let path = path.into();
    move |source| OutboxError::Io { path, source }
}
