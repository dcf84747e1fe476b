//! The published JSON Schema (docs/schema/vigia.event.v1.schema.json) against the event
//! types: every type, with every optional field and with none, validates; events that break
//! the contract do not. The integration tests also validate every event they receive.

mod common;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;
use vigia_core::event::*;
use vigia_core::{BBox, CameraId, Event, EventPayload};

use common::{assert_valid_event, schema_errors};

fn event(payload: EventPayload) -> Value {
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

fn b() -> BBox {
    BBox::new(0.1, 0.2, 0.3, 0.4)
}

fn media() -> Media {
    Media {
        snapshot_url: "http://edge-01:9400/api/v1/snapshots/gate-1/20261123/x.jpg".into(),
        plate_crop_url: None,
    }
}

fn hotlist(matched: bool) -> HotlistInfo {
    if matched {
        HotlistInfo {
            matched: true,
            list: Some("stolen".into()),
            entry_id: Some("stolen.csv:2".into()),
            category: Some("hurto".into()),
            notes: Some("reported".into()),
            listed_plate: Some("FDV094".into()),
            match_distance: Some(0.5),
        }
    } else {
        HotlistInfo::default()
    }
}

fn vehicle() -> VehicleInfo {
    VehicleInfo {
        kind: "Car".into(),
        likelihood: 0.8,
        bbox: b(),
        track_id: 3,
    }
}

fn incident(full: bool) -> IncidentEvent {
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
        media: full.then(media),
    }
}

fn every_type() -> Vec<Value> {
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
            media: full.then(media),
        }))));
    }
    out
}

#[test]
fn every_event_type_validates_with_all_optional_fields_and_with_none() {
    let events = every_type();
    assert_eq!(events.len(), 10);
    for e in &events {
        assert_valid_event(e);
    }
}

#[test]
fn events_that_break_the_contract_are_rejected() {
    let base = every_type()
        .into_iter()
        .find(|e| e["type"] == "incident" && e.get("crossings").is_some())
        .unwrap();
    type Breaker = Box<dyn Fn(&mut Value)>;
    let broken: Vec<(&str, Breaker)> = vec![
        (
            "missing required field",
            Box::new(|e| {
                e.as_object_mut().unwrap().remove("incident_id");
            }),
        ),
        ("unknown field", Box::new(|e| e["colour"] = json!("red"))),
        (
            "wrong schema id",
            Box::new(|e| e["schema"] = json!("vigia.event/2")),
        ),
        ("unknown type", Box::new(|e| e["type"] = json!("fight"))),
        ("bad lifecycle", Box::new(|e| e["lifecycle"] = json!("new"))),
        (
            "box outside the frame",
            Box::new(|e| e["objects"][0]["box"]["x"] = json!(1.5)),
        ),
        (
            "time without milliseconds",
            Box::new(|e| e["utc_time"] = json!("2026-11-23T10:48:01Z")),
        ),
        (
            "camera id with a slash",
            Box::new(|e| e["camera"] = json!("a/b")),
        ),
        (
            "bad direction",
            Box::new(|e| e["direction"] = json!("left")),
        ),
    ];
    for (what, f) in broken {
        let mut e = base.clone();
        f(&mut e);
        assert!(!schema_errors(&e).is_empty(), "{what}: should not validate");
    }
}

/// docs/asyncapi.json describes exactly the topics vigia publishes, with their QoS and
/// retain flags, and every schema it points to exists.
#[test]
fn the_asyncapi_document_matches_the_topic_layout() {
    use vigia_publish::Topics;
    let root = vigia_testkit::paths::project_root().join("docs");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("asyncapi.json")).unwrap())
            .expect("asyncapi.json is JSON");
    assert_eq!(doc["asyncapi"], "3.0.0");
    let t = Topics::new("{prefix}").unwrap();
    let cam = "{camera}";
    // (channel, address, qos, retain) from the code's own layout.
    let status_retain = t
        .for_event(&serde_json::from_value::<Event>(status_event()).unwrap())
        .1;
    let want = [
        ("available", t.available(), 1, true),
        ("cameraStatus", t.camera_status(cam), 1, status_retain),
        ("objects", t.objects(cam), 1, false),
        ("lpr", t.lpr(cam), 1, false),
        ("incidents", t.incidents(cam), 1, false),
        ("alerts", t.alerts(), 1, false),
        ("stats", t.stats(), 0, false),
        ("onvifLpr", t.onvif_lpr(cam), 1, false),
        ("snapshots", t.snapshot(cam, "{event}", "{image}"), 1, false),
    ];
    let channels = doc["channels"].as_object().unwrap();
    assert_eq!(channels.len(), want.len(), "one channel per topic");
    let ops = doc["operations"].as_object().unwrap();
    for (name, address, qos, retain) in want {
        assert_eq!(channels[name]["address"], address.as_str(), "{name}");
        let op = ops
            .values()
            .find(|o| o["channel"]["$ref"] == format!("#/channels/{name}").as_str())
            .unwrap_or_else(|| panic!("no operation sends on {name}"));
        assert_eq!(op["action"], "send");
        assert_eq!(op["bindings"]["mqtt"]["qos"], qos, "{name}");
        assert_eq!(op["bindings"]["mqtt"]["retain"], retain, "{name}");
        for m in channels[name]["messages"].as_object().unwrap().values() {
            let r = &m["payload"]["schema"]["$ref"];
            if let Some(file) = r.as_str() {
                let schema: Value =
                    serde_json::from_str(&std::fs::read_to_string(root.join(file)).unwrap())
                        .unwrap_or_else(|e| panic!("{file}: {e}"));
                jsonschema::draft202012::new(&schema)
                    .unwrap_or_else(|e| panic!("{file} does not compile: {e}"));
            }
        }
    }
}

fn status_event() -> Value {
    event(EventPayload::CameraStatus(CameraStatusEvent {
        state: CameraState::Streaming,
        reason: None,
        decoder: Some("avdec_h264".into()),
        attempts: 0,
    }))
}

/// Every `vigia_*` name in an expression.
fn metric_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("vigia_") {
        let start = i + pos;
        let before_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        if before_ok {
            out.push(text[start..end].to_string());
        }
        i = end;
    }
    out
}

/// The Prometheus alert rules and the Grafana dashboard in deploy/ name only metrics vigia
/// exports (crates/vigia-core/src/metric_names.rs), and every panel and rule has a query.
#[test]
fn deploy_alerts_and_dashboard_use_only_exported_metrics() {
    let root = vigia_testkit::paths::project_root();
    let names_src =
        std::fs::read_to_string(root.join("crates/vigia-core/src/metric_names.rs")).unwrap();
    let exported: std::collections::HashSet<String> = names_src
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("vigia_"))
        .map(str::to_string)
        .collect();
    assert!(exported.len() > 20, "{exported:?}");
    let known = |m: &str| {
        exported.contains(m)
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| m.strip_suffix(s).is_some_and(|b| exported.contains(b)))
    };

    let alerts = std::fs::read_to_string(root.join("deploy/prometheus/vigia-alerts.yml")).unwrap();
    let rules = alerts.matches("- alert:").count();
    let exprs: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("expr:"))
        .collect();
    assert!(rules >= 8 && exprs.len() == rules, "every rule has an expr");
    for e in &exprs {
        for m in metric_tokens(e) {
            assert!(known(&m), "alert rule names unknown metric {m}: {e}");
        }
    }

    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/vigia-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    let mut used = std::collections::HashSet::new();
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has a query", p["title"]);
        for t in targets {
            let e = t["expr"].as_str().unwrap();
            for m in metric_tokens(e) {
                assert!(known(&m), "panel {} names unknown metric {m}", p["title"]);
                used.insert(m.trim_end_matches("_bucket").to_string());
            }
        }
    }
    let unused: Vec<_> = exported.iter().filter(|m| !used.contains(*m)).collect();
    assert!(
        unused.is_empty(),
        "metrics without a dashboard panel: {unused:?}"
    );
}
