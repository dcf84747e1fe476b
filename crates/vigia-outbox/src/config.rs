//! `[outbox]` settings.

use std::path::PathBuf;
use vigia_core::FieldError;

use serde::Deserialize;

/// When appended records are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// `fdatasync` after every record, before `append` returns. Loss window on power
    /// failure: none. Default.
    #[default]
    Always,
    /// `fdatasync` at most every `fsync_interval_ms` (group commit, done by the appender
    /// when due and by a background flusher otherwise). Loss window on power failure: up to
    /// `fsync_interval_ms` of events. A crash of vigia alone (`kill -9`) loses nothing:
    /// every record is in the kernel's page cache when `append` returns.
    Interval,
    /// Never `fdatasync`; the kernel writes back when it likes. For benchmarks and tests.
    Never,
}

/// `[outbox]`: where and how events wait for the broker's acknowledgement.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Directory of the segment files and the ack ledger. Default `<data_dir>/outbox`.
    pub dir: Option<PathBuf>,
    /// A new segment file is started when the current one would grow beyond this. Default 8 MiB.
    pub segment_bytes: u64,
    /// Disk budget for all segment files. When an append would exceed it, the append is
    /// refused ([`crate::OutboxError::Full`]) and the caller applies back-pressure; nothing
    /// already accepted is dropped. Default 1 GiB.
    pub max_bytes: u64,
    /// See [`FsyncPolicy`]. Default `always`.
    pub fsync: FsyncPolicy,
    /// Group-commit interval for `fsync = "interval"`. Default 50 ms.
    pub fsync_interval_ms: u64,
    /// Free space to leave on the outbox's filesystem (snapshots and logs share it): below
    /// it appends are refused ([`crate::OutboxError::NoSpace`], back-pressure) until space
    /// returns. Default 32 MiB.
    pub min_free_bytes: u64,
    /// Acknowledged events are kept on disk at most about this long (privacy: they carry
    /// plate numbers): a segment whose first record is older is closed, and deleted (or cut
    /// back to its header when it is the active one) once every record in it is
    /// acknowledged. Checked every second. `0` keeps them until their segment fills.
    /// Default 600 s.
    pub acked_max_age_secs: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            dir: None,
            segment_bytes: 8 * 1024 * 1024,
            max_bytes: 1024 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
            fsync_interval_ms: 50,
            min_free_bytes: 32 * 1024 * 1024,
            acked_max_age_secs: 600,
        }
    }
}

impl OutboxConfig {
    /// Checks the values; returns `(field, message)` pairs.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.segment_bytes < 4096 {
            errs.push(FieldError::new(
                "segment_bytes",
                "must be at least 4096".to_string(),
            ));
        }
        if self.max_bytes < self.segment_bytes {
            errs.push(FieldError::new(
                "max_bytes",
                format!(
                    "must be at least segment_bytes ({}), got {}",
                    self.segment_bytes, self.max_bytes
                ),
            ));
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval_ms == 0 {
            errs.push(FieldError::new(
                "fsync_interval_ms",
                "must be > 0 with fsync = \"interval\"".to_string(),
            ));
        }
        errs
    }
}
