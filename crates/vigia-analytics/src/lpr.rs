//! The license-plate stage of analytics: plate sightings → passes → `lpr` events (with
//! snapshots and hotlist results) and `alert` events for hotlist hits.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use vigia_core::event::{
    AlertEvent, AlertReason, HotlistInfo, LprEvent, LprModels, Media, PlateCandidate, PlateInfo,
    VehicleInfo,
};
use vigia_core::{BBox, CameraId, Detection, Event, EventPayload};
use vigia_lpr::is_vehicle;
use vigia_lpr::pass::{Observation, VehicleRef};
use vigia_lpr::{Grammar, Hotlist, PassConfig, PassEvent, PassTracker};
use vigia_plates::PlateFound;
use vigia_track::{Tracker, TrackerConfig};

use crate::events::round4;
use crate::snapshots::OwnedRgb;
use crate::{Context, Moment, Origin};

/// A plate read in one frame, with a copy of the frame for its snapshot.
#[derive(Debug, Clone)]
pub struct PlateSighting {
    pub found: PlateFound,
    pub frame: Arc<OwnedRgb>,
}

/// What a pass keeps of each read.
#[derive(Debug, Clone)]
pub struct PassMedia {
    frame: Arc<OwnedRgb>,
}

/// Shared by every camera's LPR stage.
pub struct LprShared {
    pub grammar: Arc<Grammar>,
    pub pass: PassConfig,
    pub hotlist: Arc<RwLock<Hotlist>>,
    pub hotlist_max_distance: f32,
    pub models: LprModels,
    /// Vehicles with a settled pass, for the inference workers (they read such vehicles'
    /// plates on one frame in `pass.settled_read_every`).
    pub settled: Arc<vigia_core::SettledVehicles>,
}

/// Plate-only tracks get keys above this (vehicle track ids stay below).
const PLATE_TRACK_KEYS: u64 = 1 << 40;

/// The LPR state of one camera.
pub struct CameraLpr {
    camera: CameraId,
    passes: PassTracker<PassMedia>,
    plate_tracks: Tracker,
    /// Pass id → capture time of the read its snapshot shows.
    snapshot_of: HashMap<u64, (Duration, Media)>,
    /// Pass id → the name of its pictures: a UUIDv7, unique across restarts (pass ids
    /// start again at 1, and an alert already delivered must keep pointing at its own
    /// vehicle's picture).
    names: HashMap<u64, uuid::Uuid>,
    alerted: HashSet<(u64, String)>,
}

/// The ONVIF vehicle type for a detector label.
fn vehicle_type(label: &str) -> String {
    match label {
        "car" => "Car",
        "motorcycle" => "Motorcycle",
        "bus" => "Bus",
        "truck" => "Truck",
        other => other,
    }
    .to_string()
}

fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

impl CameraLpr {
    pub fn new(camera: CameraId, shared: &LprShared) -> Self {
        Self {
            camera,
            passes: PassTracker::new(shared.pass.clone(), shared.grammar.clone()),
            plate_tracks: Tracker::new(TrackerConfig {
                high_score: 0.0,
                match_iou: 0.05,
                low_match_iou: 0.05,
                min_hits: 1,
                lost_timeout_ms: shared.pass.end_after_ms,
                class_groups: Vec::new(),
            }),
            snapshot_of: HashMap::new(),
            names: HashMap::new(),
            alerted: HashSet::new(),
        }
    }

    /// Handles one analysed frame: `vehicles` with their track ids, then the plates;
    /// returns the events.
    pub fn on_frame(
        &mut self,
        ctx: &Context,
        shared: &LprShared,
        moment: Moment,
        vehicles: &[(&Detection, u64)],
        plates: Vec<PlateSighting>,
    ) -> Vec<Event> {
        let (at, at_utc) = (moment.mono, moment.utc);
        ctx.metrics
            .plate_reads
            .with_label_values(&[self.camera.as_str()])
            .inc_by(plates.len() as u64);
        // Plates not on a vehicle are tracked on their own.
        let plate_dets: Vec<Detection> = plates
            .iter()
            .map(|p| Detection {
                class_id: 0,
                label: "plate".into(),
                score: p.found.plate.likelihood,
                bbox: p.found.bbox,
            })
            .collect();
        self.plate_tracks.update(at, at_utc, &plate_dets);
        let plate_ids = self.plate_tracks.assignments().to_vec();
        // Vehicles still in view keep their passes open while their plate is unreadable;
        // passes of vehicles gone end now rather than at the next timer tick.
        for (d, id) in vehicles {
            if *id != 0 && is_vehicle(&d.label) {
                self.passes.touch(*id, at);
            }
        }
        let mut events = self.passes.tick(at);
        let settled_boxes = |passes: &PassTracker<PassMedia>| -> Vec<BBox> {
            vehicles
                .iter()
                .filter(|(d, id)| *id != 0 && is_vehicle(&d.label) && passes.is_settled(*id))
                .map(|(d, _)| d.bbox)
                .collect()
        };
        for (i, p) in plates.into_iter().enumerate() {
            let (cx, cy) = p.found.bbox.center();
            let vehicle = vehicles
                .iter()
                .filter(|(d, _)| is_vehicle(&d.label))
                .filter(|(d, _)| {
                    cx >= d.bbox.x && cx <= d.bbox.x2() && cy >= d.bbox.y && cy <= d.bbox.y2()
                })
                .min_by(|a, b| a.0.bbox.area().total_cmp(&b.0.bbox.area()));
            let key = vehicle.map_or(PLATE_TRACK_KEYS + plate_ids[i], |(_, id)| *id);
            let obs = Observation {
                at,
                at_utc,
                plate: p.found.plate,
                color: p.found.color,
                bbox: p.found.bbox,
                vehicle: vehicle.map(|(d, id)| VehicleRef {
                    track_id: *id,
                    class: d.label.clone(),
                    likelihood: d.score,
                    bbox: d.bbox,
                }),
                media: PassMedia { frame: p.frame },
            };
            events.extend(self.passes.observe(key, obs));
        }
        shared
            .settled
            .set(&self.camera, settled_boxes(&self.passes));
        self.emit(ctx, shared, events)
    }

    /// Ends passes that saw no read for a while; returns the events.
    pub fn on_tick(&mut self, ctx: &Context, shared: &LprShared, now: Duration) -> Vec<Event> {
        let events = self.passes.tick(now);
        self.emit(ctx, shared, events)
    }

    /// Ends every pass now (the camera was removed or reconfigured); returns the events.
    pub fn end_all(&mut self, ctx: &Context, shared: &LprShared, now: Duration) -> Vec<Event> {
        let events = self.passes.end_all(now);
        self.emit(ctx, shared, events)
    }

    fn media_for(&mut self, ctx: &Context, ev: &PassEvent<PassMedia>) -> Option<Media> {
        let camera = &self.camera;
        let store = ctx.snapshots.as_ref()?;
        if let Some((at, media)) = self.snapshot_of.get(&ev.pass_id)
            && *at == ev.best.at
        {
            return Some(media.clone());
        }
        let name = format!(
            "lpr-{}",
            self.names
                .entry(ev.pass_id)
                .or_insert_with(uuid::Uuid::now_v7)
        );
        let frame = &ev.best.media.frame;
        let result = frame
            .jpeg(ctx.jpeg_quality)
            .and_then(|scene| {
                Ok((
                    scene,
                    frame.crop_jpeg(&ev.best.bbox, 0.15, ctx.jpeg_quality)?,
                ))
            })
            .and_then(|(scene, crop)| {
                store.save(camera, &name, ev.best.at_utc, &scene, Some(&crop))
            });
        match result {
            Ok(media) => {
                self.snapshot_of
                    .insert(ev.pass_id, (ev.best.at, media.clone()));
                Some(media)
            }
            Err(e) => {
                tracing::error!(camera = %camera, error = %format!("{e:#}"), "could not save a plate snapshot");
                None
            }
        }
    }

    fn emit(
        &mut self,
        ctx: &Context,
        shared: &LprShared,
        events: Vec<PassEvent<PassMedia>>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let camera = &self.camera.clone();
        let origin = &ctx.origin;
        for ev in events {
            let media = self.media_for(ctx, &ev);
            let hit = shared
                .hotlist
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .lookup_on(
                    &ev.read.number,
                    shared.hotlist_max_distance,
                    Some(ctx.clock.now_utc().date_naive()),
                )
                .into_iter()
                .next();
            let hotlist = hit
                .as_ref()
                .map_or_else(HotlistInfo::default, HotlistInfo::from);
            let event = lpr_event(
                origin,
                camera,
                &ev,
                hotlist.clone(),
                media.clone(),
                &shared.models,
                ctx.clock.now_utc(),
            );
            if ev.lifecycle == vigia_core::event::Lifecycle::End {
                self.snapshot_of.remove(&ev.pass_id);
                self.names.remove(&ev.pass_id);
            }
            if let Some(m) = hit
                && self.alerted.insert((ev.pass_id, m.entry.entry_id.clone()))
            {
                ctx.metrics
                    .hotlist_hits
                    .with_label_values(&[m.entry.list.as_ref()])
                    .inc();
                let summary = format!(
                    "Plate {} on hotlist {}{}{} ({})",
                    ev.read.number,
                    m.entry.list,
                    m.entry
                        .category
                        .as_deref()
                        .map_or(String::new(), |c| format!(": {c}")),
                    if m.distance > 0.0 {
                        format!(", listed as {} (distance {})", m.entry.plate, m.distance)
                    } else {
                        String::new()
                    },
                    camera
                );
                tracing::warn!(camera = %camera, list = %m.entry.list, "hotlist hit");
                let alert = Event::new(
                    &origin.site,
                    &origin.node,
                    Some(camera.clone()),
                    event.utc_time,
                    EventPayload::Alert(Box::new(AlertEvent {
                        reason: AlertReason::Hotlist,
                        severity: m.entry.alert_severity(),
                        summary,
                        source_event_id: event.id,
                        plate: Some(ev.read.number.clone()),
                        hotlist: Some(hotlist.clone()),
                        pass_id: Some(ev.pass_id),
                        vehicle: vehicle_info(&ev),
                        incident_id: None,
                        rule: None,
                        alarm: None,
                        cameras: Vec::new(),
                        media: media.clone(),
                    })),
                );
                out.push(event);
                out.push(alert);
            } else {
                out.push(event);
            }
            if ev.lifecycle == vigia_core::event::Lifecycle::End {
                self.alerted.retain(|(id, _)| *id != ev.pass_id);
            }
        }
        out
    }
}

fn vehicle_info(ev: &PassEvent<PassMedia>) -> Option<VehicleInfo> {
    let f = &ev.best.media.frame;
    ev.best.vehicle.as_ref().map(|v| VehicleInfo {
        kind: vehicle_type(&v.class),
        likelihood: round3(v.likelihood),
        bbox: round4(v.bbox.normalised(f.width, f.height)),
        track_id: v.track_id,
    })
}

/// Builds the `lpr` event of a pass event.
pub fn lpr_event(
    origin: &Origin,
    camera: &CameraId,
    ev: &PassEvent<PassMedia>,
    hotlist: HotlistInfo,
    media: Option<Media>,
    models: &LprModels,
    now: DateTime<Utc>,
) -> Event {
    let r = &ev.read;
    let f = &ev.best.media.frame;
    Event::new(
        &origin.site,
        &origin.node,
        Some(camera.clone()),
        match ev.lifecycle {
            vigia_core::event::Lifecycle::End => r.last_seen,
            _ => ev.best.at_utc,
        },
        EventPayload::Lpr(Box::new(LprEvent {
            lifecycle: ev.lifecycle,
            pass_id: ev.pass_id,
            plate: PlateInfo {
                number: r.number.clone(),
                raw: ev.best.plate.raw.clone(),
                likelihood: round3(r.likelihood),
                char_likelihoods: r.char_likelihoods.iter().map(|v| round3(*v)).collect(),
                candidates: r
                    .candidates
                    .iter()
                    .map(|c| PlateCandidate {
                        number: c.number.clone(),
                        likelihood: round3(c.likelihood),
                        reads: c.reads,
                    })
                    .collect(),
                country_code: r.country.as_deref().map(str::to_string),
                format: r.format.as_deref().map(str::to_string),
                plate_type: r.plate_type.as_deref().map(str::to_string),
                color: r.color,
                bbox: round4(ev.best.bbox.normalised(f.width, f.height)),
            },
            vehicle: vehicle_info(ev),
            hotlist,
            direction: (r.reads >= 2)
                .then(|| {
                    vigia_lpr::pass::direction(
                        ev.first_bbox,
                        ev.last_bbox,
                        ev.observed_for,
                        f.width,
                        f.height,
                    )
                })
                .flatten(),
            media,
            reads: r.reads,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            model: models.clone(),
            latency_ms: (now - ev.best.at_utc).num_milliseconds().max(0) as u64,
        })),
    )
}
