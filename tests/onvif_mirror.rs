//! The ONVIF mirror (`mqtt.onvif_mirror`) as an ONVIF consumer sees it: every mirrored event
//! goes to its standard ONVIF topic with the documented layout and schema, and the messages
//! on topics `onvif-parsers` (the parsers Home Assistant's ONVIF integration uses, from PyPI)
//! knows parse there — after being turned into the ONVIF NotificationMessage they stand for
//! and parsed by zeep against the ONVIF XSDs (tests/onvif/parse_mirror.py).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use vigia_core::event::{IncidentKind, IncidentPhase};
use vigia_core::{Event, EventPayload};
use vigia_publish::OutboxMessage;
use vigia_publish::Topics;
use vigia_testkit::paths;

use common::samples::{event, every_type, incident};

const PREFIX: &str = "center/onvif/edge-01";

fn incident_event(kind: IncidentKind, phase: IncidentPhase, count: Option<u32>) -> Event {
    let mut i = incident(false);
    i.kind = kind;
    i.lifecycle = phase;
    i.count = count;
    i.rule = format!("{} rule", kind.as_str());
    serde_json::from_value(event(EventPayload::Incident(Box::new(i)))).unwrap()
}

/// The mirror messages of `events`: (MQTT topic, payload).
fn mirrors(events: &[Event]) -> Vec<(String, Value)> {
    let topics = Topics::new("sies/medellin/edge-01")
        .unwrap()
        .with_onvif_mirror(Some(PREFIX))
        .unwrap();
    events
        .iter()
        .flat_map(|e| OutboxMessage::for_event(&topics, e))
        .filter(|r| r.kind == vigia_publish::onvif::KIND)
        .map(|r| (r.topic, serde_json::from_slice(&r.payload).unwrap()))
        .collect()
}

#[test]
fn each_event_kind_goes_to_its_onvif_topic_and_matches_the_schema() {
    let mut events: Vec<Event> = every_type()
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    use IncidentKind::*;
    for kind in [ZoneIntrusion, Loitering, Crowding, WrongWay, StoppedVehicle] {
        events.push(incident_event(kind, IncidentPhase::Start, Some(3)));
    }
    events.push(incident_event(LineCrossing, IncidentPhase::End, None));
    let got = mirrors(&events);
    let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    let cam = "&gate-1";
    let want = [
        // every_type(), without optional fields: object, lpr, line crossing start.
        format!("{PREFIX}/onvif-ej/RuleEngine/ObjectDetection/Object/{cam}/ObjectDetection"),
        format!(
            "{PREFIX}/onvif-ej/RuleEngine/Recognition/LicensePlate/{cam}/LicensePlateRecognition"
        ),
        format!("{PREFIX}/onvif-ej/RuleEngine/LineDetector/Crossed/{cam}/entrance"),
        // ... with them.
        format!("{PREFIX}/onvif-ej/RuleEngine/ObjectDetection/Object/{cam}/ObjectDetection"),
        format!(
            "{PREFIX}/onvif-ej/RuleEngine/Recognition/LicensePlate/{cam}/LicensePlateRecognition"
        ),
        format!("{PREFIX}/onvif-ej/RuleEngine/LineDetector/Crossed/{cam}/entrance"),
        format!(
            "{PREFIX}/onvif-ej/RuleEngine/FieldDetector/ObjectsInside/{cam}/zone_intrusion rule"
        ),
        format!(
            "{PREFIX}/onvif-ej/RuleEngine/LoiteringDetector/ObjectIsLoitering/{cam}/loitering rule"
        ),
        format!("{PREFIX}/onvif-ej/RuleEngine/CountAggregation/Counter/{cam}/crowding rule"),
        // wrong_way and stopped_vehicle have no ONVIF topic; a crossing's end is no event.
    ];
    assert_eq!(topics, want);
    for (topic, m) in &got {
        common::assert_valid_onvif(m);
        assert!(m["Data"]["EventId"].is_string(), "{topic}: {m}");
    }
    // Properties carry their operation; a line crossing (an ONVIF event) does not.
    assert_eq!(got[0].1["PropertyOperation"], "Initialized");
    assert_eq!(got[3].1["PropertyOperation"], "Deleted");
    assert!(got[2].1.get("PropertyOperation").is_none());
    assert_eq!(got[2].1["Data"]["ObjectId"], "7");
    assert_eq!(got[8].1["Data"]["Count"], 3);
    assert_eq!(got[6].1["Data"]["IsInside"], true);
    assert_eq!(
        got[6].1["Source"],
        json!({"VideoSourceConfigurationToken": "gate-1", "VideoAnalyticsConfigurationToken": "vigia", "Rule": "zone_intrusion rule"})
    );
}

/// The consumer's Python, or `None` (skipped outside CI) when the set-up has not made it.
fn consumer() -> Option<std::path::PathBuf> {
    let py = paths::project_root().join(".vigia/venv-onvif/bin/python");
    if py.exists() {
        return Some(py);
    }
    assert!(
        !paths::in_ci(),
        "{} is missing: run deploy/setup.sh",
        py.display()
    );
    paths::skip(
        "onvif_parsers_read_the_mirror",
        "no .vigia/venv-onvif (run deploy/setup.sh)",
    );
    None
}

#[test]
fn onvif_parsers_read_the_mirror_as_onvif_events() {
    let Some(py) = consumer() else { return };
    use IncidentKind::*;
    let events = vec![
        incident_event(ZoneIntrusion, IncidentPhase::Start, Some(2)),
        incident_event(ZoneIntrusion, IncidentPhase::End, Some(0)),
        incident_event(LineCrossing, IncidentPhase::Start, None),
        incident_event(Crowding, IncidentPhase::Update, Some(5)),
        incident_event(Loitering, IncidentPhase::Start, None),
        serde_json::from_value(every_type()[0].clone()).unwrap(), // object new, a person
        serde_json::from_value(every_type()[7].clone()).unwrap(), // lpr, every field
    ];
    let lines: String = mirrors(&events)
        .into_iter()
        .map(|(topic, payload)| json!({"topic": topic, "payload": payload}).to_string() + "\n")
        .collect();
    let mut child = Command::new(py)
        .arg(paths::project_root().join("tests/onvif/parse_mirror.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed.len(), 7, "{parsed:?}");
    let value = |i: usize, name: &str| -> Value {
        let p = &parsed[i];
        assert_eq!(p["known"], true, "onvif-parsers does not know {p}");
        p["entities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name} entity in {p}"))["value"]
            .clone()
    };
    // Zone intrusion → Field Detection on, then off.
    assert_eq!(value(0, "Field Detection"), true);
    assert_eq!(value(1, "Field Detection"), false);
    // The entity id holds the camera and the rule (from the Source items).
    let uid = parsed[0]["entities"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(uid.ends_with("_gate-1_vigia_zone_intrusion rule"), "{uid}");
    // A line crossing → the crossing object; crowding → the count.
    assert_eq!(value(2, "Line Detector Crossed"), "7");
    assert_eq!(value(3, "Count Aggregation Counter"), "5");
    // A tracked person → Person Detection on, Vehicle Detection off.
    assert_eq!(value(5, "Person Detection"), true);
    assert_eq!(value(5, "Vehicle Detection"), false);
    // Loitering and plate recognition: standard topics onvif-parsers has no parser for;
    // they still parse as ONVIF notification messages (zeep, ONVIF XSDs).
    for i in [4, 6] {
        assert_eq!(parsed[i]["known"], false, "{}", parsed[i]);
    }
    assert_eq!(
        parsed[6]["topic"],
        "tns1:RuleEngine/Recognition/LicensePlate"
    );
    assert_eq!(parsed[6]["source"], json!(["VideoSource", "Rule"]));
}
