//! Multi-object tracking per camera.
//!
//! - [`tracker`]: [`Tracker`], ByteTrack-style: two-stage association (confident detections
//!   first, then weak ones to continue existing tracks), optimal assignment on IoU with
//!   motion-predicted boxes, confirmation after `min_hits`, a lost timeout, per-track
//!   velocity, and class groups whose labels may alternate within one track
//!   (car / truck / bus).
//!
//! Time is passed in (the frame's monotonic time), never read from a clock, so tracking is
//! deterministic and tests drive it frame by frame.

pub mod tracker;

pub use tracker::{TrackEvent, TrackedObject, Tracker, TrackerConfig};
