//! The durable outbox: every event is written here before it is published, and deleted only
//! after the broker acknowledged it. It knows nothing about MQTT: records are opaque bytes
//! numbered by a sequence (`seq`) that only grows, across restarts too.
//!
//! - [`config`]: `[outbox]` settings and the fsync policy.
//! - [`error`]: the crate's error type.
//! - `format` (private): the on-disk record, segment and ledger layouts.
//! - [`log`]: [`Outbox`], the segment log with its ack ledger.
//!
//! Why own segment files rather than an embedded database: the access pattern is a plain
//! FIFO (append at the tail, acknowledge mostly in order, replay from the oldest unacked),
//! which an append-only log with per-record checksums serves with one `write` (+ one
//! `fdatasync` under the `always` policy) per event and no write amplification; recovery
//! rules (torn tail, corrupt middle, ledger replay) stay small enough to state and test
//! against an in-memory model (see the property tests).

pub mod config;
pub mod error;
mod format;
pub mod log;

pub use config::{FsyncPolicy, OutboxConfig};
pub use error::OutboxError;
pub use log::{CorruptRegion, OpenReport, Outbox, Record, free_bytes};
