//! Events made from tracker changes and camera status changes.

use chrono::{DateTime, Utc};
use vigia_core::CameraStatus;
use vigia_core::event::{CameraStatusEvent, Lifecycle, ObjectEvent};
use vigia_core::{CameraId, Event, EventPayload};
use vigia_track::{TrackEvent, TrackedObject};

use crate::Origin;

/// Builds the object event for a tracker change.
pub fn object_event(
    origin: &Origin,
    camera: &CameraId,
    width: u32,
    height: u32,
    change: &TrackEvent,
) -> Event {
    let (lifecycle, o): (Lifecycle, &TrackedObject) = match change {
        TrackEvent::New(o) => (Lifecycle::New, o),
        TrackEvent::End(o) => (Lifecycle::End, o),
    };
    // `new`: when the track was confirmed; `end`: its last sighting.
    let utc = o.last_seen_utc;
    let bbox = o.bbox.normalised(width, height);
    let r = |v: f32| (v * 10_000.0).round() / 10_000.0;
    Event::new(
        &origin.site,
        &origin.node,
        Some(camera.clone()),
        utc,
        EventPayload::Object(ObjectEvent {
            lifecycle,
            track_id: o.id,
            class: o.label.to_string(),
            likelihood: (o.best_score * 1000.0).round() / 1000.0,
            bbox: vigia_core::BBox::new(r(bbox.x), r(bbox.y), r(bbox.w), r(bbox.h)),
            first_seen: o.first_seen_utc,
            last_seen: o.last_seen_utc,
            duration_ms: o.last_seen.saturating_sub(o.first_seen).as_millis() as u64,
            sightings: o.hits,
            detector: origin.detector.clone(),
        }),
    )
}

/// Builds the status event for a camera status change.
pub fn status_event(origin: &Origin, st: &CameraStatus, utc: DateTime<Utc>) -> Event {
    Event::new(
        &origin.site,
        &origin.node,
        Some(st.camera.clone()),
        utc,
        EventPayload::CameraStatus(CameraStatusEvent {
            state: st.state,
            reason: st.reason.clone(),
            decoder: st.decoder.clone(),
            attempts: st.attempts,
        }),
    )
}

/// A normalised box rounded to 4 decimals (what events carry).
pub(crate) fn round4(b: vigia_core::BBox) -> vigia_core::BBox {
    let r = |v: f32| (v * 10_000.0).round() / 10_000.0;
    vigia_core::BBox::new(r(b.x), r(b.y), r(b.w), r(b.h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use vigia_core::BBox;

    #[test]
    fn object_events_carry_normalised_boxes_and_durations() {
        let t0 = Utc::now();
        let o = TrackedObject {
            id: 4,
            class_id: 2,
            label: "car".into(),
            bbox: BBox::new(100.0, 50.0, 200.0, 100.0),
            best_score: 0.87654,
            hits: 6,
            first_seen: Duration::from_millis(1000),
            last_seen: Duration::from_millis(2400),
            first_seen_utc: t0,
            last_seen_utc: t0 + chrono::Duration::milliseconds(1400),
            velocity: (0.0, 0.0),
            seen_now: false,
        };
        let origin = Origin {
            site: "s".into(),
            node: "n".into(),
            detector: "yolox_nano".into(),
        };
        let cam = CameraId::new("c").unwrap();
        let e = object_event(&origin, &cam, 1000, 500, &TrackEvent::End(o));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "object");
        assert_eq!(v["lifecycle"], "end");
        assert_eq!(v["track_id"], 4);
        assert_eq!(v["class"], "car");
        assert_eq!(v["duration_ms"], 1400);
        assert_eq!(v["box"]["x"].as_f64().unwrap() as f32, 0.1);
        assert_eq!(v["box"]["h"].as_f64().unwrap() as f32, 0.2);
        assert!((v["likelihood"].as_f64().unwrap() - 0.877).abs() < 1e-6);
    }
}
