//! The published JSON Schema (docs/schema/vigia.event.v1.schema.json) against the event
//! types: every type, with every optional field and with none, validates; events that break
//! the contract do not. The integration tests also validate every event they receive.

mod common;

use serde_json::{Value, json};
use vigia_core::event::*;
use vigia_core::{Event, EventPayload};

use common::samples::{event, every_type};
use common::{assert_valid_event, schema_errors};

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
        ("onvif", t.onvif("{onvifTopic}", cam, "{rule}"), 1, false),
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
