//! Sample events of every type (with every optional field, and with none), for the schema
//! and ONVIF mirror tests.

use chrono::{TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;
use vigia_core::event::*;
use vigia_core::{BBox, CameraId, Event, EventPayload};

pub fn event(payload: EventPayload) -> Value {
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 48, 1).unwrap();
    serde_json::to_value(Event::new(
        "medellin",
        "edge-01",
        Some(CameraId::new("gate-1").unwrap()),
        t,
        payload,
    ))
    .unwrap()
}

pub fn b() -> BBox {
    BBox::new(0.1, 0.2, 0.3, 0.4)
}

pub fn media() -> Media {
    Media {
        snapshot_url: "http://edge-01:9400/api/v1/snapshots/gate-1/20261123/x.jpg".into(),
        plate_crop_url: None,
    }
}

pub fn hotlist(matched: bool) -> HotlistInfo {
    if matched {
        HotlistInfo {
            matched: true,
            list: Some("stolen".into()),
            entry_id: Some("stolen.csv:2".into()),
            category: Some("hurto".into()),
            notes: Some("reported".into()),
            listed_plate: Some("FDV094".into()),
            match_distance: Some(0.5),
            state: Some("ANT".into()),
            priority: Some(10),
            expires: Some("2027-01-31".into()),
        }
    } else {
        HotlistInfo::default()
    }
}

pub fn vehicle() -> VehicleInfo {
    VehicleInfo {
        kind: "Car".into(),
        likelihood: 0.8,
        bbox: b(),
        track_id: 3,
    }
}

/// The alarm input of an `alarm` incident or alert.
pub fn alarm() -> AlarmInfo {
    AlarmInfo {
        input: "panic-1".into(),
        name: "Panic button, Parque Berrío".into(),
        kind: "panic_button".into(),
        via: "mqtt".into(),
        message: Some("help".into()),
    }
}

pub fn incident(full: bool) -> IncidentEvent {
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 47, 1).unwrap();
    IncidentEvent {
        lifecycle: IncidentPhase::Start,
        incident_id: Uuid::now_v7(),
        rule: "entrance".into(),
        kind: IncidentKind::LineCrossing,
        severity: Severity::High,
        zone: full.then(|| vec![[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]),
        line: full.then_some([[0.5, 0.0], [0.5, 1.0]]),
        objects: vec![IncidentObject {
            track_id: 7,
            class: "person".into(),
            bbox: b(),
        }],
        started_at: t,
        duration_ms: 60_000,
        count: full.then_some(1),
        max_count: full.then_some(2),
        direction: full.then_some(CrossingDirection::AToB),
        crossings: full.then_some(CrossingTotals {
            a_to_b: 4,
            b_to_a: 1,
        }),
        classifier: full.then(|| ClassifierScore {
            model: "violence".into(),
            label: "fight".into(),
            score: 0.93,
        }),
        alarm: full.then(alarm),
        media: full.then(media),
    }
}

pub fn every_type() -> Vec<Value> {
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 10, 47, 1).unwrap();
    let mut out = Vec::new();
    for full in [false, true] {
        out.push(event(EventPayload::Object(ObjectEvent {
            lifecycle: if full { Lifecycle::End } else { Lifecycle::New },
            track_id: 1,
            class: "person".into(),
            likelihood: 0.9,
            bbox: b(),
            first_seen: t,
            last_seen: t,
            duration_ms: 0,
            sightings: 3,
            detector: "yolox_nano".into(),
        })));
        out.push(event(EventPayload::CameraStatus(CameraStatusEvent {
            state: if full {
                CameraState::Reconnecting
            } else {
                CameraState::Streaming
            },
            reason: full.then(|| "stalled: no frame for 10 s".into()),
            decoder: full.then(|| "avdec_h264".into()),
            attempts: 2,
        })));
        out.push(event(EventPayload::Lpr(Box::new(LprEvent {
            lifecycle: Lifecycle::Update,
            pass_id: 9,
            plate: PlateInfo {
                number: "FDV094".into(),
                raw: "FDV09A".into(),
                likelihood: 0.97,
                char_likelihoods: vec![1.0, 1.0, 0.9, 1.0, 1.0, 0.95],
                candidates: vec![PlateCandidate {
                    number: "FDV094".into(),
                    likelihood: 0.9,
                    reads: 5,
                }],
                country_code: full.then(|| "CO".into()),
                format: full.then(|| "co_particular".into()),
                plate_type: full.then(|| "private".into()),
                color: full.then_some(PlateColor::Yellow),
                bbox: b(),
            },
            vehicle: full.then(vehicle),
            hotlist: hotlist(full),
            direction: full.then(|| Direction {
                travel: Travel::Approaching,
                dx: -0.02,
                dy: 0.31,
                scale: 1.8,
            }),
            media: full.then(|| Media {
                plate_crop_url: Some("http://edge-01:9400/p.jpg".into()),
                ..media()
            }),
            reads: 5,
            first_seen: t,
            last_seen: t,
            model: LprModels {
                vehicle_detector: "yolox_nano".into(),
                plate_detector: "platedet".into(),
                ocr: "cct_xs_v1_global".into(),
            },
            latency_ms: 120,
        }))));
        out.push(event(EventPayload::Incident(Box::new(incident(full)))));
        out.push(event(EventPayload::Alert(Box::new(AlertEvent {
            reason: if full {
                AlertReason::Hotlist
            } else {
                AlertReason::Incident
            },
            severity: Severity::High,
            summary: "something to look at".into(),
            source_event_id: Uuid::now_v7(),
            plate: full.then(|| "FDV094".into()),
            hotlist: full.then(|| hotlist(true)),
            pass_id: full.then_some(9),
            vehicle: full.then(vehicle),
            incident_id: (!full).then(Uuid::now_v7),
            rule: (!full).then(|| "entrance".into()),
            alarm: (!full).then(alarm),
            cameras: if full {
                Vec::new()
            } else {
                vec![CameraId::new("gate-1").unwrap()]
            },
            media: full.then(media),
        }))));
    }
    out
}
