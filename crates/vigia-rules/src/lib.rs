//! Incident rules: pure, deterministic state machines over tracks, with time passed in.
//!
//! - [`geom`]: points in polygons, sides of lines.
//! - [`config`]: `[[rules]]` entries and schedules.
//! - [`debounce`]: the start / update / end life of an incident.
//! - [`rules`]: zone intrusion, line crossing, loitering, crowding, wrong way, stopped
//!   vehicle.
//! - [`engine`]: [`RuleSet`], the rules of one camera.
//! - `draw` (feature `draw`): zones, lines and directions drawn on a frame.
//!
//! Coordinates are normalised to the frame (`0..1`, x right, y down); speeds are in frame
//! widths / heights per second.

pub mod config;
pub mod debounce;
#[cfg(feature = "draw")]
pub mod draw;
pub mod engine;
pub mod geom;
pub mod rules;

pub use config::{Anchor, RuleConfig, RuleKind, ScheduleWindow};
pub use engine::{Change, RuleSet, TrackView};
pub use vigia_core::event::{CrossingDirection, IncidentPhase};
