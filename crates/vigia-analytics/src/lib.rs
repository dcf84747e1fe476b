//! Analytics: what inference found, turned into the events operators act on.
//!
//! - [`engine`]: [`Analytics`], the loop over every camera's tracker and stages; each
//!   stage returns the events it makes and the loop alone hands them to an [`EventSink`].
//! - [`events`]: `object` and `camera_status` events.
//! - [`lpr`]: plate sightings → passes → `lpr` events, hotlist `alert` events.
//! - [`incidents`]: tracks → rules → `incident` events, high-severity `alert` events.
//! - [`snapshots`]: JPEG scenes and plate crops on disk, with a budget.
//! - [`hotlists`]: hotlist files, reloaded when they change.
//! - [`alarms`]: alarm inputs → `alarm` incidents on linked cameras, with an `alert`.
//! - [`preview`]: the web console's live previews (latest frame and tracks per watched camera).
//!
//! It knows nothing of the outbox or MQTT: the node gives the loop a sink that stores each
//! event durably (data flows one way: ingest → infer → analytics → outbox → publish).

pub mod alarms;
pub mod engine;
pub mod events;
pub mod hotlists;
pub mod incidents;
pub mod lpr;
pub mod preview;
pub mod snapshots;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use vigia_core::{Clock, Event};
use vigia_telemetry::Metrics;

pub use alarms::{AlarmInput, AlarmTrigger, AlarmsConfig};
pub use engine::{AnalysedFrame, Analytics, FrameTimes, Input};
pub use hotlists::HotlistSet;
pub use incidents::{CameraRules, Gatekeeper};
pub use lpr::{LprShared, PlateSighting};
pub use preview::{Preview, PreviewBox, Previews};
pub use snapshots::{OwnedRgb, Retention, SnapshotConfig, SnapshotKind, SnapshotStore};

/// Where the events go. The node's sink stores each one durably before it returns (and
/// waits while the outbox cannot take it): back-pressure on analysis, never loss.
pub trait EventSink {
    /// `frame_received`: when the frame the event was made from reached vigia (`None` for
    /// events not made from a frame: status changes, ticks), for the lag metrics.
    fn write(&self, event: &Event, frame_received: Option<std::time::Instant>);
}

/// Identity of the node in events.
#[derive(Debug, Clone)]
pub struct Origin {
    pub site: String,
    pub node: String,
    /// The vehicle/person detector's model name.
    pub detector: String,
}

/// What every stage shares.
pub struct Context {
    pub origin: Origin,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Where scene and plate pictures go (`None`: events carry no pictures).
    pub snapshots: Option<Arc<SnapshotStore>>,
    pub jpeg_quality: u8,
}

/// A moment on one camera's timeline: the monotonic time trackers and rules run on, and
/// the wall-clock time events carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub mono: Duration,
    pub utc: DateTime<Utc>,
}

/// Errors of the analytics stages.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("JPEG encoding: {0}")]
    Jpeg(String),
}
