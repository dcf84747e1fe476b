//! `[simulator]`: the demo's cameras.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[simulator]`: an in-process RTSP server that serves video files as looping cameras
/// (the demo; also handy to test a deployment without cameras).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Where the RTSP server listens. Default `127.0.0.1:8554`.
    #[serde(default = "default_sim_listen")]
    pub listen: SocketAddr,
    /// The streams: `rtsp://<listen>/<path>` serves `file` (H.264) in a loop.
    pub streams: Vec<SimStreamConfig>,
}

fn default_sim_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8554))
}

/// One simulated camera stream: a video file, or a slideshow of photos (rendered once into
/// `<data_dir>/simulator/<path>.mp4`; each photo slides across the frame like a passing
/// vehicle).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimStreamConfig {
    /// URL path (letters, digits, `-`, `_`).
    pub path: String,
    /// H.264 video file (MP4, MKV, TS).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Photos (JPEG, PNG) to render into a video instead of `file`.
    #[serde(default)]
    pub slideshow: Vec<PathBuf>,
}
