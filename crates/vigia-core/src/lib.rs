//! Domain types shared by every vigia crate. No heavy dependencies live here.
//!
//! - [`camera`]: validated camera identifiers.
//! - [`geom`]: boxes in pixel and normalised coordinates.
//! - [`frame`]: decoded frames and the [`frame::FrameHub`], the bounded, leaky hand-off
//!   between ingest (GStreamer threads) and inference workers.
//! - [`detection`]: detector output.
//! - [`field_error`]: [`FieldError`], the one shape of a configuration problem.
//! - [`event`]: the versioned event envelope (`vigia.event/1`) and its payloads.
//! - [`clock`]: injected wall and monotonic time.
//! - [`shutdown`]: the cancellation token passed to every long-lived worker.
//! - [`text`]: recognised text with per-character probabilities (plate OCR output).
//! - [`metric_names`]: every Prometheus metric name, in one place.
//! - [`paths`]: finding the files the set-up writes under `.vigia/`.
//! - [`secrets`]: passwords from the environment or files.

pub mod camera;
pub mod clock;
pub mod detection;
pub mod event;
pub mod field_error;
pub mod frame;
pub mod geom;
pub mod metric_names;
pub mod paths;
pub mod secrets;
pub mod settled;
pub mod shutdown;
pub mod text;
pub mod url;

pub use camera::{CameraId, InvalidCameraId};
pub use clock::{Clock, ManualClock, SystemClock};
pub use detection::Detection;
pub use event::{CameraStatus, Event, EventPayload, SCHEMA};
pub use field_error::FieldError;
pub use frame::{Frame, FrameHub, Offer, Pixels, Yuv420};
pub use geom::BBox;
pub use settled::SettledVehicles;
pub use shutdown::Shutdown;
pub use text::{CharRead, TextRead};
