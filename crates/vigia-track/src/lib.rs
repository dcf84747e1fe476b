//! Multi-object tracking per camera.
//!
//! - [`iou`]: [`IouTracker`], a greedy IoU tracker with confirmation and a lost timeout.
//!   It gives each object that appears and leaves exactly one `New` and one `End`.
//!
//! Time is passed in (monotonic `Duration` of the frame), never read from a clock, so the
//! tracker is deterministic and tests drive it frame by frame.

pub mod iou;

pub use iou::{IouTracker, TrackEvent, TrackedObject, TrackerConfig};
