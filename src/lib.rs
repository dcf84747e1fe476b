//! vigia: city CCTV cameras in, events a monitoring center can act on out.
//!
//! This crate is the `vigia` binary's library: it wires the stages of the library crates
//! (`crates/`) together.
//!
//! - [`config`]: the configuration file, loaded with every error reported by path.
//! - [`app`]: builds and runs the pipeline; stops it in order.
//! - [`analytics`]: trackers → events → outbox.
//! - [`hotlists`]: hotlist files, reloaded when they change.
//! - [`http`]: health, readiness, metrics and the REST API.
//! - [`incidents`]: tracks → rules → `incident` events.
//! - [`lpr_events`]: plate sightings → passes → `lpr` and `alert` events.
//! - [`plates`]: reading plates in a picture (detector → OCR → grammar).
//! - [`tools`]: `vigia read`, `vigia eval`, `vigia draw-rules`.
//! - [`draw`]: rules drawn on a frame.
//! - [`snapshots`]: JPEG scene and plate crops of plate reads, with a disk budget.

pub mod analytics;
pub mod app;
pub mod config;
pub mod delivery;
pub mod draw;
pub mod hotlists;
pub mod http;
pub mod incidents;
pub mod lpr_events;
pub mod plates;
pub mod snapshots;
pub mod tools;

pub use app::{AppHandle, RunOptions, start};
pub use config::Config;
