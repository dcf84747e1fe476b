//! The camera simulator: what the demo (`[simulator]`) and the tests use in place of real
//! cameras. It ships in the binary, so it lives apart from the test harness
//! (`vigia-testkit`, a dev-dependency only).
//!
//! - [`rtsp`]: an in-process RTSP server (gst-rtsp-server) that serves video files as
//!   looping live cameras.
//! - [`render`]: H.264 videos made from real plate photos moving across the frame.
//! - [`plates`]: synthetic Colombian plates (cars, public service, two-row motorcycles,
//!   trailers, diplomatic) drawn with a real font.
//! - [`passes`]: rendered vehicle passes with ground truth, and their scoring (the LPR
//!   benchmark).

pub mod passes;
pub mod plates;
pub mod render;
pub mod rtsp;

/// Errors from the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("video {path}: {message}")]
    Clip { path: String, message: String },
    #[error("RTSP server: {0}")]
    Rtsp(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
