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
    /// The outbox's filesystem is full (ENOSPC/EDQUOT), or has less free space than
    /// `outbox.min_free_bytes`; the record was not written and the log is as it was.
    /// Retry once space returns (acknowledged segments are deleted, or an operator frees
    /// the disk).
    #[error(
        "no space for the outbox on the filesystem of {path}: {detail}; waiting for space (acknowledged events are deleted as the broker confirms them)"
    )]
    NoSpace { path: PathBuf, detail: String },
    #[error("outbox record of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error(
        "outbox directory {path} is in use by another outbox (its LOCK file is held, by another vigia process or this one); every node and every `vigia loadgen` run needs its own data_dir"
    )]
    Busy { path: PathBuf },
}

impl OutboxError {
    /// A refusal that lasts only until space returns: the caller waits and retries
    /// (back-pressure); nothing it already stored is at risk.
    pub fn is_back_pressure(&self) -> bool {
        matches!(self, OutboxError::Full { .. } | OutboxError::NoSpace { .. })
    }
}

/// ENOSPC and EDQUOT.
fn out_of_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28) | Some(122))
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> OutboxError {
    let path = path.into();
    move |source| {
        if out_of_space(&source) {
            OutboxError::NoSpace {
                path,
                detail: source.to_string(),
            }
        } else {
            OutboxError::Io { path, source }
        }
    }
}
