//! License-plate logic, pure and deterministic (no models, no I/O besides reading files).
//!
//! - [`charset`]: plate characters as bit sets, confusable pairs.
//! - [`grammar`]: plate formats as data (`^[A-Z]{3}[0-9]{3}$`, colour, country) and
//!   grammar-constrained decoding of OCR output.
//! - [`pass`]: one read per vehicle pass: character-level voting over a pass's reads,
//!   `new` / `update` / `end`, duplicate suppression.
//! - [`hotlist`]: CSV hotlists and exact / OCR-confusion-aware matching.
//! - [`config`]: the `[lpr]` config section.

pub mod charset;
pub mod config;
pub mod error;
pub mod grammar;
pub mod hotlist;
pub mod pass;

pub use config::LprConfig;
pub use error::LprError;
pub use grammar::{Grammar, PlateColor, PlateFormat, PlateText};
pub use hotlist::{Hotlist, HotlistMatch};
pub use pass::{PassConfig, PassEvent, PassTracker};

/// The detector classes that carry plates (COCO names): plates are read only on these,
/// and a plate read is attached to the smallest of them that contains it.
pub const VEHICLE_CLASSES: &[&str] = &["car", "motorcycle", "bus", "truck"];

/// Whether a detector class carries a plate ([`VEHICLE_CLASSES`]).
pub fn is_vehicle(label: &str) -> bool {
    VEHICLE_CLASSES.contains(&label)
}
