//! Shutdown signalling.
//!
//! Every long-lived worker takes a [`Shutdown`] as an argument and checks it each turn of
//! its loop; async workers `select!` on [`Shutdown::cancelled`], threads poll
//! [`Shutdown::is_cancelled`]. Completion is signalled by dropping senders.

/// The shutdown token (a `tokio_util` cancellation token; child tokens let the binary stop
/// stages in order: ingest first, the publisher last so it can drain).
pub type Shutdown = tokio_util::sync::CancellationToken;
