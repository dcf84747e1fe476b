//! The analytics stage: one thread that owns a tracker per camera, turns tracker changes and
//! camera status changes into events, and writes them to the outbox (in that order, so the
//! outbox order is the per-camera event order).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use vigia_core::event::{CameraStatusEvent, Lifecycle, ObjectEvent};
use vigia_core::{CameraId, Clock, Detection, Event, EventPayload, Shutdown};
use vigia_ingest::CameraStatus;
use vigia_outbox::{Outbox, OutboxError};
use vigia_publish::{OutboxMessage, Topics};
use vigia_telemetry::Metrics;
use vigia_track::{TrackEvent, TrackedObject, Tracker, TrackerConfig};

use crate::incidents::{CameraRules, IncidentShared};
use crate::lpr_events::{CameraLpr, LprShared, PlateSighting};
use crate::snapshots::{OwnedRgb, SnapshotStore};

/// What the analytics thread consumes.
#[derive(Debug)]
pub enum Input {
    /// One analysed frame.
    Detections {
        camera: CameraId,
        width: u32,
        height: u32,
        captured_mono: Duration,
        captured_utc: DateTime<Utc>,
        detections: Vec<Detection>,
        /// Plates read in the frame (cameras with `lpr = true`).
        plates: Vec<PlateSighting>,
        /// A copy of the frame (cameras with rules: snapshots and the classifier stage).
        frame: Option<Arc<OwnedRgb>>,
    },
    /// A frame the motion gate kept from the detector: nothing moved.
    Skipped {
        camera: CameraId,
        captured_mono: Duration,
        captured_utc: DateTime<Utc>,
    },
    /// A camera status change.
    Status(CameraStatus),
    /// Time passes (ends tracks of cameras that stopped sending frames).
    Tick,
}

/// Identity of the node in events.
#[derive(Debug, Clone)]
pub struct Origin {
    pub site: String,
    pub node: String,
    pub detector: String,
}

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

/// Writes events to the outbox. When the outbox is full (disk budget) or failing, it waits
/// and retries: nothing accepted is dropped, and the wait stalls analysis, so new frames are
/// dropped (and counted) at the frame hub instead — back-pressure, not loss. Only during
/// shutdown does it give up after `give_up_after`, logging the event it could not store.
pub struct EventWriter {
    pub clock: Arc<dyn Clock>,
    pub outbox: Arc<Outbox>,
    pub topics: Topics,
    pub metrics: Arc<Metrics>,
    pub stopping: Shutdown,
    pub give_up_after: Duration,
    /// With `mqtt.snapshot_topic`: the store whose pictures are published as bytes too.
    pub snapshot_bytes: Option<Arc<SnapshotStore>>,
}

impl EventWriter {
    /// Wall-clock time, for event timestamps.
    pub fn now_utc(&self) -> DateTime<Utc> {
        self.clock.now_utc()
    }

    /// Stores `event` (and its ONVIF-style mirror when configured); returns the event's
    /// outbox seq, or `None` when it had to be given up (only while shutting down with the
    /// outbox refusing it).
    pub fn write(&self, event: &Event) -> Option<u64> {
        let mut first = None;
        for msg in OutboxMessage::for_event(&self.topics, event) {
            let seq = self.store(&msg.encode(), &msg.kind, event)?;
            first.get_or_insert(seq);
        }
        if let Some(store) = &self.snapshot_bytes {
            for msg in self.pictures(store, event) {
                // A picture that cannot be stored does not hold back the events after it.
                let _ = self.store(&msg.encode(), &msg.kind, event);
            }
        }
        first
    }

    /// The JPEG pictures of an `lpr` or `incident` event as messages for the snapshot topic.
    fn pictures(&self, store: &SnapshotStore, event: &Event) -> Vec<OutboxMessage> {
        let media = match &event.payload {
            EventPayload::Lpr(l) => l.media.as_ref(),
            EventPayload::Incident(i) => i.media.as_ref(),
            _ => None,
        };
        let Some(media) = media else {
            return Vec::new();
        };
        let camera = event.camera.as_ref().map_or("-", |c| c.as_str());
        let id = event.id.to_string();
        let created_ms = chrono::Utc::now().timestamp_millis();
        [("scene", Some(&media.snapshot_url)), ("plate", media.plate_crop_url.as_ref())]
            .into_iter()
            .filter_map(|(image, url)| {
                let path = store.resolve_url(url?)?;
                match std::fs::read(&path) {
                    Ok(bytes) => Some(OutboxMessage {
                        topic: self.topics.snapshot(camera, &id, image),
                        retain: false,
                        kind: "snapshot".to_string(),
                        created_ms,
                        payload: bytes,
                    }),
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "snapshot not published: cannot read it");
                        None
                    }
                }
            })
            .collect()
    }

    fn store(&self, record: &[u8], kind: &str, event: &Event) -> Option<u64> {
        let mut warned = false;
        let mut stopping_since: Option<Instant> = None;
        loop {
            let t = Instant::now();
            match self.outbox.append(record) {
                Ok(seq) => {
                    self.metrics
                        .outbox_append_seconds
                        .observe(t.elapsed().as_secs_f64());
                    self.metrics.events_created.with_label_values(&[kind]).inc();
                    self.metrics.outbox_depth.set(self.outbox.pending() as i64);
                    self.metrics.outbox_bytes.set(self.outbox.bytes() as i64);
                    if warned {
                        self.metrics.outbox_full.set(0);
                        tracing::info!("outbox accepts events again");
                    }
                    return Some(seq);
                }
                Err(e @ OutboxError::TooLarge { .. }) => {
                    // Permanent: waiting would not help.
                    tracing::error!(error = %e, kind, "record not stored");
                    return None;
                }
                Err(e) => {
                    if !warned {
                        if matches!(e, OutboxError::Full { .. }) {
                            self.metrics.outbox_full.set(1);
                        }
                        tracing::error!(error = %e, "cannot store events; analysis waits (frames are dropped meanwhile)");
                        warned = true;
                    }
                    if self.stopping.is_cancelled() {
                        let since = *stopping_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.give_up_after {
                            tracing::error!(
                                event = %serde_json::to_string(event).unwrap_or_default(),
                                "shutting down with the outbox unable to store this event; it is lost"
                            );
                            return None;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

/// A camera's time advances on ticks only once it has sent no frame for this long.
const TICK_AFTER: Duration = Duration::from_secs(1);

/// Optional analytics stages.
pub struct Stages<'a> {
    pub lpr: Option<&'a LprShared>,
    pub incidents: Option<&'a IncidentShared>,
    /// The rules of each camera that has some.
    pub rules: HashMap<CameraId, CameraRules>,
}

/// The analytics loop; returns when every sender is gone.
pub fn run(
    mut rx: mpsc::Receiver<Input>,
    writer: &EventWriter,
    origin: &Origin,
    tracker_cfg: &TrackerConfig,
    clock: &dyn Clock,
    mut stages: Stages<'_>,
) {
    struct Cam {
        tracker: Tracker,
        size: (u32, u32),
        lpr: Option<CameraLpr>,
        rules: Option<CameraRules>,
        /// Time of the last frame, and the clock's monotonic time when it arrived: ticks
        /// advance from there, so replays (stream time ahead of the clock) keep their time.
        last: Option<(Duration, DateTime<Utc>, Duration)>,
        /// The latest time given to the tracker and rules: time never goes back for them,
        /// even when a tick ran ahead of a late frame.
        high_water: Duration,
        /// The last analysed frame (cameras with rules). Frames the motion gate skipped
        /// look the same, so it stands for them in snapshots and the classifier stage.
        last_frame: Option<Arc<OwnedRgb>>,
    }
    impl Cam {
        /// The camera's time at a tick, when it has been quiet for [`TICK_AFTER`] (a
        /// camera that sends frames is timed by its frames alone, which keeps replays
        /// deterministic); `None` while frames flow.
        fn tick_time(&self, clock: &dyn Clock) -> Option<(Duration, DateTime<Utc>)> {
            let (t, utc, arrived) = self.last?;
            let d = clock.monotonic().saturating_sub(arrived);
            (d >= TICK_AFTER).then(|| {
                (
                    (t + d).max(self.high_water),
                    utc + chrono::Duration::from_std(d).unwrap_or_default(),
                )
            })
        }
        /// A frame's time, never before what the tracker and rules already saw.
        fn frame_time(&mut self, t: Duration) -> Duration {
            self.high_water = self.high_water.max(t);
            self.high_water
        }
    }
    let mut cams: HashMap<CameraId, Cam> = HashMap::new();
    let mut cam_entry = |cams: &mut HashMap<CameraId, Cam>, camera: &CameraId, size: (u32, u32)| {
        if !cams.contains_key(camera) {
            cams.insert(
                camera.clone(),
                Cam {
                    tracker: Tracker::new(tracker_cfg.clone()),
                    size,
                    lpr: None,
                    rules: stages.rules.remove(camera),
                    last: None,
                    high_water: Duration::ZERO,
                    last_frame: None,
                },
            );
        }
    };
    let run_rules = |cam: &mut Cam,
                     camera: &CameraId,
                     now: Duration,
                     utc: DateTime<Utc>,
                     frame: Option<&OwnedRgb>,
                     shared: Option<&IncidentShared>| {
        if let (Some(rules), Some(shared)) = (cam.rules.as_mut(), shared) {
            let views: Vec<_> = cam
                .tracker
                .confirmed()
                .map(|o| crate::incidents::view(o, cam.size.0, cam.size.1))
                .collect();
            rules.update(shared, writer, origin, camera, now, utc, &views, frame);
        }
    };
    while let Some(input) = rx.blocking_recv() {
        match input {
            Input::Detections {
                camera,
                width,
                height,
                captured_mono,
                captured_utc,
                detections,
                plates,
                frame,
            } => {
                cam_entry(&mut cams, &camera, (width, height));
                let cam = cams.get_mut(&camera).expect("inserted");
                cam.size = (width, height);
                cam.last = Some((captured_mono, captured_utc, clock.monotonic()));
                let captured_mono = cam.frame_time(captured_mono);
                for change in cam.tracker.update(captured_mono, captured_utc, &detections) {
                    writer.write(&object_event(origin, &camera, width, height, &change));
                }
                if let Some(shared) = stages
                    .lpr
                    .filter(|_| !plates.is_empty() || cam.lpr.is_some())
                {
                    let vehicles: Vec<(&Detection, u64)> = detections
                        .iter()
                        .zip(cam.tracker.assignments().iter().copied())
                        .collect();
                    cam.lpr
                        .get_or_insert_with(|| CameraLpr::new(shared))
                        .on_frame(
                            shared,
                            writer,
                            origin,
                            &camera,
                            captured_mono,
                            captured_utc,
                            &vehicles,
                            plates,
                        );
                }
                if frame.is_some() {
                    cam.last_frame = frame;
                }
                let frame = cam.last_frame.clone();
                run_rules(
                    cam,
                    &camera,
                    captured_mono,
                    captured_utc,
                    frame.as_deref(),
                    stages.incidents,
                );
            }
            Input::Skipped {
                camera,
                captured_mono,
                captured_utc,
            } => {
                if let Some(cam) = cams.get_mut(&camera) {
                    cam.last = Some((captured_mono, captured_utc, clock.monotonic()));
                    let captured_mono = cam.frame_time(captured_mono);
                    cam.tracker.touch(captured_mono, captured_utc);
                    let frame = cam.last_frame.clone();
                    run_rules(
                        cam,
                        &camera,
                        captured_mono,
                        captured_utc,
                        frame.as_deref(),
                        stages.incidents,
                    );
                }
            }
            Input::Status(st) => {
                writer.write(&status_event(origin, &st, clock.now_utc()));
            }
            Input::Tick => {
                for (camera, cam) in &mut cams {
                    let Some((now, utc)) = cam.tick_time(clock) else {
                        continue;
                    };
                    cam.high_water = now;
                    for change in cam.tracker.expire(now) {
                        writer.write(&object_event(
                            origin, camera, cam.size.0, cam.size.1, &change,
                        ));
                    }
                    if let (Some(shared), Some(l)) = (stages.lpr, cam.lpr.as_mut()) {
                        l.on_tick(shared, writer, origin, camera, now);
                    }
                    let frame = cam.last_frame.clone();
                    run_rules(cam, camera, now, utc, frame.as_deref(), stages.incidents);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
