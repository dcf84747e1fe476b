//! Camera ingest: one GStreamer pipeline per camera, supervised.
//!
//! - [`config`]: `[[cameras]]` entries, source URLs, camera quirk policies.
//! - [`source`]: parsing camera URLs (`rtsp://`, `file://`, `test://`) and redacting them.
//! - [`decoder`]: choosing the decoder element (NVIDIA, VA-API, software).
//! - [`pipeline`]: building a camera's pipeline; the appsink callback maps the buffer and
//!   offers the frame to the [`vigia_core::FrameHub`], nothing more.
//! - [`onvif`]: resolving an `onvif://` camera to its RTSP stream at each start.
//! - [`supervisor`]: the per-camera task: start, watch the bus, detect stalls, reconnect
//!   with capped back-off, report status changes.
//! - [`error`]: the crate's error type.

pub mod config;
pub mod decoder;
pub mod error;
pub mod onvif;
pub mod pipeline;
pub mod source;
pub mod still;
pub mod supervisor;

pub use config::{CameraConfig, DecoderPreference, RtspTransport};
pub use error::IngestError;
pub use source::Source;
pub use supervisor::{CameraStatus, CameraStop, IngestContext, run_camera};

/// Initialises GStreamer (idempotent).
pub fn init() -> Result<(), IngestError> {
    gstreamer::init().map_err(|e| IngestError::Init(e.to_string()))
}
