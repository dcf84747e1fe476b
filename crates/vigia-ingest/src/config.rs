//! `[[cameras]]` entries.

use std::path::PathBuf;
use vigia_core::FieldError;

use serde::Deserialize;
use vigia_core::CameraId;

use crate::source::Source;

/// Which decoder family to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecoderPreference {
    /// The first available of NVIDIA (nvcodec), VA-API, then software (libav). Default.
    #[default]
    Auto,
    /// libav software decoders (`avdec_h264`, `avdec_h265`).
    Software,
    /// NVIDIA NVDEC (`nvh264dec`, `nvh265dec`); fails if the driver is absent.
    Nvidia,
    /// VA-API (`vah264dec`, `vah265dec`); fails if no VA driver is present.
    Vaapi,
    /// Cisco's OpenH264 software decoder (`openh264dec`, gstreamer1.0-plugins-bad) for
    /// H.264; H.265 still uses libav. A node whose cameras all use it never loads FFmpeg
    /// and its ~200 libraries (31 MiB less at one camera), but each stream costs more
    /// memory and 1.0–1.7x libav's CPU (docs/performance.md): for nodes of 1–4 cameras.
    Openh264,
}

/// RTSP transport: a camera quirk policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RtspTransport {
    /// UDP first, TCP (interleaved) if UDP gets nothing (rtspsrc's own fallback). Default.
    #[default]
    Auto,
    /// RTP over the RTSP TCP connection. Use through NAT/firewalls and with cameras whose
    /// UDP streams stall or lose packets under load (common on third-party cameras reached
    /// over municipal links).
    Tcp,
    /// UDP only.
    Udp,
}

/// One camera.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Identifier used in topics, metrics and the API (letters, digits, `-`, `_`).
    pub id: CameraId,
    /// Source URL: `rtsp://`, `rtsps://`, `onvif://`, `file:///` or `test://` (see
    /// `docs/config.md`, `docs/cameras.md`).
    /// A relative `file://` path in the config file is resolved against its directory.
    pub url: String,
    /// Human-readable name. Default: the id.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether vigia opens this camera. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Frames per second analysed (frames beyond this are dropped before colour
    /// conversion). Default 5.
    #[serde(default = "default_fps")]
    pub analysis_fps: f64,
    /// Decoder family. Default `auto`.
    #[serde(default)]
    pub decoder: DecoderPreference,
    /// Threads of a software (libav) decoder; 0 = libav's choice (one per core, frame
    /// threading). Default 1: a node decodes many cameras at once, so they already spread
    /// over the cores, and one thread per decoder costs less CPU per frame (no hand-over
    /// between threads) and a frame less latency. Raise it for a single camera whose stream
    /// one core cannot decode in real time (4K at 25 fps and up). Hardware decoders ignore it.
    #[serde(default = "default_decoder_threads")]
    pub decoder_threads: u32,
    /// RTSP transport. Default `auto`.
    #[serde(default)]
    pub rtsp_transport: RtspTransport,
    /// RTSP jitter buffer, milliseconds. Default 200.
    #[serde(default = "default_latency")]
    pub rtsp_latency_ms: u32,
    /// ONVIF cameras: the media profile to stream, by name (case-insensitive) or token.
    /// Default: the device's first profile with video.
    #[serde(default)]
    pub onvif_profile: Option<String>,
    /// RTSP (and ONVIF) user name (overrides one in the URL).
    #[serde(default)]
    pub username: Option<String>,
    /// Name of an environment variable holding the RTSP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the RTSP password (first line). Relative paths resolve against the
    /// config file's directory.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// No frame for this long means the stream stalled: the pipeline is restarted.
    /// Default 10 s.
    #[serde(default = "default_stall")]
    pub stall_timeout_secs: u64,
    /// First reconnect delay; doubles per failure up to `reconnect_max_backoff_secs`.
    /// Default 500 ms.
    #[serde(default = "default_backoff_min")]
    pub reconnect_min_backoff_ms: u64,
    /// Longest reconnect delay. Default 30 s.
    #[serde(default = "default_backoff_max")]
    pub reconnect_max_backoff_secs: u64,
    /// Files only: start again at the end. Default false.
    #[serde(default)]
    pub file_loop: bool,
    /// Files only: play at the file's own frame rate, like a camera (true, default), or as
    /// fast as analysis allows (false, for batch processing).
    #[serde(default = "default_true")]
    pub file_realtime: bool,
    /// Frames wider than this are scaled down (aspect kept) before analysis. Default: none.
    #[serde(default)]
    pub max_width: Option<u32>,
    /// Widest input the object detector reads this camera's frames at, in pixels (the
    /// height follows the picture's aspect). A smaller input costs less CPU per frame and
    /// finds fewer small or distant objects: the capacity setting for cameras whose
    /// objects are large in the picture (docs/performance.md measures 320 on a 768x432
    /// camera). Only for detectors with a free input size (`fit = "aspect"`, the default
    /// one). Default: the detector's own size (416 for YOLOX-nano); a larger value changes
    /// nothing.
    #[serde(default)]
    pub detector_width: Option<u32>,
    /// Run license-plate recognition on this camera (see `[lpr]`). Default false.
    #[serde(default)]
    pub lpr: bool,
    /// LPR read zone `[x, y, w, h]`, fractions of the picture's width and height: plates
    /// are looked for only there (the plate detector sees that part at its full input
    /// resolution), and only vehicles whose centre lies in it open the plate reader.
    /// Default: the whole picture.
    #[serde(default)]
    pub read_zone: Option<[f32; 4]>,
}

fn default_true() -> bool {
    true
}
fn default_fps() -> f64 {
    5.0
}
fn default_decoder_threads() -> u32 {
    1
}
fn default_latency() -> u32 {
    200
}
fn default_stall() -> u64 {
    10
}
fn default_backoff_min() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    30
}

impl CameraConfig {
    /// A camera with defaults for everything but id and URL.
    pub fn new(id: CameraId, url: impl Into<String>) -> Self {
        Self {
            id,
            url: url.into(),
            name: None,
            enabled: true,
            analysis_fps: default_fps(),
            decoder: DecoderPreference::Auto,
            decoder_threads: default_decoder_threads(),
            rtsp_transport: RtspTransport::Auto,
            rtsp_latency_ms: default_latency(),
            onvif_profile: None,
            username: None,
            password_env: None,
            password_file: None,
            stall_timeout_secs: default_stall(),
            reconnect_min_backoff_ms: default_backoff_min(),
            reconnect_max_backoff_secs: default_backoff_max(),
            file_loop: false,
            file_realtime: true,
            max_width: None,
            detector_width: None,
            lpr: false,
            read_zone: None,
        }
    }

    /// The parsed source.
    pub fn source(&self) -> Result<Source, crate::IngestError> {
        Source::parse(&self.url)
    }

    /// Checks the values; returns `(field, message)` pairs. Does not read secrets.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        match self.source() {
            Err(e) => errs.push(FieldError::new("url", e.to_string())),
            Ok(Source::File { path }) if !path.is_file() => {
                errs.push(FieldError::new(
                    "url",
                    format!("file {} does not exist", path.display()),
                ));
            }
            Ok(_) => {}
        }
        if !(self.analysis_fps > 0.0 && self.analysis_fps <= 120.0) {
            errs.push(FieldError::new(
                "analysis_fps",
                format!("must be in (0, 120], got {}", self.analysis_fps),
            ));
        }
        if self.stall_timeout_secs == 0 {
            errs.push(FieldError::new(
                "stall_timeout_secs",
                "must be at least 1".to_string(),
            ));
        }
        if self.reconnect_min_backoff_ms == 0 {
            errs.push(FieldError::new(
                "reconnect_min_backoff_ms",
                "must be at least 1".to_string(),
            ));
        }
        if self.reconnect_max_backoff_secs * 1000 < self.reconnect_min_backoff_ms {
            errs.push(FieldError::new(
                "reconnect_max_backoff_secs",
                "must not be below reconnect_min_backoff_ms".to_string(),
            ));
        }
        if self.max_width.is_some_and(|w| w < 16) {
            errs.push(FieldError::new(
                "max_width",
                "must be at least 16".to_string(),
            ));
        }
        if self.decoder_threads > 64 {
            errs.push(FieldError::new(
                "decoder_threads",
                format!("must be 0..=64, got {}", self.decoder_threads),
            ));
        }
        if self
            .detector_width
            .is_some_and(|w| !(32..=4096).contains(&w))
        {
            errs.push(FieldError::new(
                "detector_width",
                format!(
                    "must be 32..=4096 pixels, got {}",
                    self.detector_width.unwrap_or_default()
                ),
            ));
        }
        if let Some([x, y, w, h]) = self.read_zone
            && !(x >= 0.0 && y >= 0.0 && w > 0.0 && h > 0.0 && x + w <= 1.0001 && y + h <= 1.0001)
        {
            errs.push(FieldError::new(
                "read_zone",
                format!(
                    "[x, y, w, h] must be fractions of the picture with w, h > 0 and the zone inside it, got [{x}, {y}, {w}, {h}]"
                ),
            ));
        }
        if self.onvif_profile.is_some() && !self.url.starts_with("onvif://") {
            errs.push(FieldError::new(
                "onvif_profile",
                "only for onvif:// cameras".to_string(),
            ));
        }
        if self.password_env.is_some() && self.password_file.is_some() {
            errs.push(FieldError::new(
                "password_env",
                "set password_env or password_file, not both".to_string(),
            ));
        }
        errs
    }

    /// The RTSP password from `password_env` / `password_file`, if configured.
    pub fn password(&self) -> Result<Option<String>, vigia_core::secrets::SecretError> {
        vigia_core::secrets::read_secret(
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = CameraConfig::new(CameraId::new("c").unwrap(), "test://ball");
        assert!(c.validate().is_empty());
        let mut bad = c.clone();
        bad.url = "ftp://x".into();
        bad.analysis_fps = 0.0;
        bad.max_width = Some(4);
        bad.decoder_threads = 1000;
        bad.detector_width = Some(16);
        bad.read_zone = Some([0.5, 0.0, 0.6, 1.0]);
        bad.onvif_profile = Some("main".into());
        let fields: Vec<_> = bad.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                "url",
                "analysis_fps",
                "max_width",
                "decoder_threads",
                "detector_width",
                "read_zone",
                "onvif_profile"
            ]
        );
        let mut onvif = c.clone();
        onvif.url = "onvif://10.0.0.7".into();
        onvif.onvif_profile = Some("main".into());
        assert!(onvif.validate().is_empty());
        let mut zoned = c.clone();
        zoned.read_zone = Some([0.0, 0.4, 1.0, 0.6]);
        assert!(zoned.validate().is_empty());
        let mut missing = c;
        missing.url = "file:///definitely/not/here.mp4".into();
        assert!(missing.validate()[0].message.contains("does not exist"));
    }
}
