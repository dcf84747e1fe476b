//! A camera removed or changed by a configuration reload: analytics ends what it had open
//! (tracks, incidents) at once, and a changed camera starts again with its new rules.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use vigia_analytics::{AnalysedFrame, Analytics, CameraRules, Context, FrameTimes, Input, Origin};
use vigia_core::clock::ManualClock;
use vigia_core::{BBox, CameraId, Clock, Detection};
use vigia_rules::RuleConfig;
use vigia_telemetry::Metrics;
use vigia_track::TrackerConfig;

fn zone_rule(camera: &str) -> RuleConfig {
    serde_json::from_value(json!({
        "name": "yard",
        "camera": camera,
        "kind": "zone_intrusion",
        "zone": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
    }))
    .unwrap()
}

fn frame(camera: &CameraId, at: Duration, utc: DateTime<Utc>) -> Input {
    let now = Instant::now();
    Input::Detections(Box::new(AnalysedFrame {
        camera: camera.clone(),
        times: FrameTimes {
            received: now,
            handed_over: now,
        },
        width: 640,
        height: 360,
        captured_mono: at,
        captured_utc: utc,
        detections: vec![Detection {
            class_id: 0,
            label: Arc::from("person"),
            score: 0.9,
            bbox: BBox::new(100.0, 100.0, 40.0, 120.0),
        }],
        plates: Vec::new(),
        frame: None,
        preview: None,
    }))
}

fn kinds(events: &[vigia_core::Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let v: Value = serde_json::to_value(e).unwrap();
            format!(
                "{} {}",
                v["type"].as_str().unwrap(),
                v["lifecycle"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_reconfigured_camera_ends_its_tracks_and_incidents_at_once_and_takes_new_rules() {
    let start = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = Arc::new(ManualClock::new(start));
    let ctx = Context {
        origin: Origin {
            site: "s".into(),
            node: "n".into(),
            detector: "yolox_nano".into(),
        },
        clock: clock.clone(),
        metrics: Arc::new(Metrics::new()),
        snapshots: None,
        jpeg_quality: 80,
    };
    let cam = CameraId::new("gate").unwrap();
    let offset = chrono::FixedOffset::east_opt(0).unwrap();
    let rules = HashMap::from([(
        cam.clone(),
        CameraRules::new(cam.clone(), vec![zone_rule("gate")], HashMap::new(), offset),
    )]);
    let mut a = Analytics::new(ctx, TrackerConfig::default(), None, rules);
    let mut seen = Vec::new();
    for i in 0..10u64 {
        let at = Duration::from_millis(200 * i);
        clock.advance(Duration::from_millis(200));
        seen.extend(kinds(&a.handle(frame(&cam, at, clock.now_utc()))));
    }
    assert!(seen.contains(&"object new".to_string()), "{seen:?}");
    assert!(seen.contains(&"incident start".to_string()), "{seen:?}");
    assert!(!seen.iter().any(|k| k.ends_with(" end")), "{seen:?}");

    // Changed: everything open ends now, not after the track timeout.
    let ended = kinds(&a.handle(Input::Reconfigured {
        camera: cam.clone(),
        rules: None,
    }));
    assert_eq!(ended, vec!["object end", "incident end"]);
    // Nothing is left to end later.
    clock.advance(Duration::from_secs(30));
    assert!(a.handle(Input::Tick).is_empty());

    // Its new rules (none now) apply from its next frame: tracks again, no incident.
    let mut after = Vec::new();
    for i in 0..10u64 {
        let at = Duration::from_secs(40) + Duration::from_millis(200 * i);
        clock.advance(Duration::from_millis(200));
        after.extend(kinds(&a.handle(frame(&cam, at, clock.now_utc()))));
    }
    assert_eq!(after, vec!["object new"]);
}
