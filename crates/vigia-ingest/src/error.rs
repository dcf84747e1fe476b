//! The ingest error type.

use vigia_core::CameraId;

/// Errors from building or running a camera's pipeline. Each names the camera; none
/// contains credentials (URLs are redacted).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum IngestError {
    #[error("GStreamer initialisation failed: {0}")]
    Init(String),
    #[error("camera {camera}: GStreamer element {element:?} is not available; {hint}")]
    MissingElement {
        camera: CameraId,
        element: String,
        hint: String,
    },
    #[error("camera {camera}: {message}")]
    Pipeline { camera: CameraId, message: String },
    /// A source URL that cannot be used (the message says why; the URL is not in it).
    #[error("{0}")]
    Source(String),
    /// A still frame that could not be taken from a file (the message names it).
    #[error("{0}")]
    Still(String),
    #[error("camera {camera}: bad source URL {url:?}: {message}")]
    Url {
        camera: CameraId,
        url: String,
        message: String,
    },
}
