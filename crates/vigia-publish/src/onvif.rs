//! The optional ONVIF mirror of events (`mqtt.onvif_mirror`): plate reads, tracked objects
//! and incidents published a second time on ONVIF's standard analytics topics, for video
//! management systems and PSIMs that consume ONVIF events over MQTT and match on those
//! topics.
//!
//! Layout, as ONVIF's MQTT event binding names messages (the ONVIF topic without its
//! `tns1:` namespace, then the source's values after `&`):
//!
//! ```text
//! <onvif prefix>/onvif-ej/<ONVIF topic>/&<camera>/<rule>
//! {"UtcTime": "...", "PropertyOperation": "Initialized|Changed|Deleted",
//!  "Source": {...}, "Key": {...}, "Data": {..., "EventId": "<id of the vigia event>"}}
//! ```
//!
//! | vigia event | ONVIF topic (`tns1:` …) | property | Key | Data |
//! |---|---|---|---|---|
//! | `lpr` | `RuleEngine/Recognition/LicensePlate` | yes (the pass) | `ObjectId` = pass | `LicensePlateInfo`, `VehicleInfo`, `Likelihood` |
//! | `object` | `RuleEngine/ObjectDetection/Object` | yes (the track) | `ObjectId` = track | `ClassTypes`, `Likelihood` |
//! | `incident` zone_intrusion | `RuleEngine/FieldDetector/ObjectsInside` | yes | `ObjectId` | `IsInside` |
//! | `incident` loitering | `RuleEngine/LoiteringDetector/ObjectIsLoitering` | yes | `ObjectId` | `IsLoitering` |
//! | `incident` crowding | `RuleEngine/CountAggregation/Counter` | yes | — | `Count` |
//! | `incident` line_crossing (start) | `RuleEngine/LineDetector/Crossed` | no (an event) | — | `ObjectId` |
//!
//! `wrong_way` and `stopped_vehicle` have no ONVIF topic and are not mirrored; nor are
//! camera status, alerts and stats. A property's lifecycle maps `new`/`start` →
//! `Initialized`, `update` → `Changed`, `end` → `Deleted`. Values are JSON numbers, strings
//! and booleans (ONVIF's `SimpleItem` values, typed); `{Value, Likelihood}` objects follow
//! `tt:LicensePlateInfo`/`tt:VehicleInfo`. Mirror messages go through the outbox like every
//! event (at least once, ordered); `Data.EventId` lets a consumer de-duplicate. This follows
//! the ONVIF topic set and event message layout; it is not an ONVIF conformance claim.

use serde_json::{Map, Value, json};
use vigia_core::event::{IncidentEvent, IncidentKind, IncidentPhase, Lifecycle, LprEvent};
use vigia_core::{Event, EventPayload};

/// The outbox record kind of mirror messages (for metrics).
pub const KIND: &str = "onvif";

/// ONVIF topics (without `tns1:`) vigia publishes on.
pub mod topic {
    pub const LICENSE_PLATE: &str = "RuleEngine/Recognition/LicensePlate";
    pub const OBJECT: &str = "RuleEngine/ObjectDetection/Object";
    pub const OBJECTS_INSIDE: &str = "RuleEngine/FieldDetector/ObjectsInside";
    pub const LOITERING: &str = "RuleEngine/LoiteringDetector/ObjectIsLoitering";
    pub const COUNTER: &str = "RuleEngine/CountAggregation/Counter";
    pub const LINE_CROSSED: &str = "RuleEngine/LineDetector/Crossed";
}

/// The rule name in the source of plate reads and tracked objects.
pub const LPR_RULE: &str = "LicensePlateRecognition";
pub const OBJECT_RULE: &str = "ObjectDetection";
/// `VideoAnalyticsConfigurationToken` of vigia's rule engine.
pub const ANALYTICS_TOKEN: &str = "vigia";

/// One mirror message: the ONVIF topic (without `tns1:`), the source values that follow
/// `&` in the MQTT topic, and the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    pub onvif_topic: &'static str,
    pub camera: String,
    pub rule: String,
    pub payload: Value,
}

/// The MQTT topic of a mirror message: `<prefix>/onvif-ej/<topic>/&<camera>/<rule>` (a rule
/// name's `/`, `+`, `#` become `_`, so it stays one topic level).
pub fn mqtt_topic(prefix: &str, onvif_topic: &str, camera: &str, rule: &str) -> String {
    let rule: String = rule
        .chars()
        .map(|c| if matches!(c, '/' | '+' | '#') { '_' } else { c })
        .collect();
    format!("{prefix}/onvif-ej/{onvif_topic}/&{camera}/{rule}")
}

/// The mirror of an event; `None` for events ONVIF has no topic for.
pub fn mirror(event: &Event) -> Option<Mirror> {
    let camera = event.camera.as_ref()?.as_str().to_string();
    let (onvif_topic, rule, mut parts) = match &event.payload {
        EventPayload::Lpr(lpr) => (topic::LICENSE_PLATE, LPR_RULE.into(), lpr_parts(lpr)),
        EventPayload::Object(o) => {
            let data = json!({
                "ClassTypes": class_type(&o.class),
                "Likelihood": round(o.likelihood),
            });
            let p = Parts::property(lifecycle_op(o.lifecycle), Some(o.track_id), data);
            (topic::OBJECT, OBJECT_RULE.into(), p)
        }
        EventPayload::Incident(i) => {
            let (t, p) = incident_parts(i)?;
            (t, i.rule.clone(), p)
        }
        _ => return None,
    };
    parts.data["EventId"] = json!(event.id.to_string());
    // ONVIF's order (tt:Message: UtcTime, PropertyOperation, Source, Key, Data); the
    // order of the items within Source, Key and Data is the message description's too:
    // consumers such as onvif-parsers read the first Data item.
    let utc = event
        .utc_time
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut m = Map::new();
    m.insert("UtcTime".into(), json!(utc));
    if let Some(op) = parts.op {
        m.insert("PropertyOperation".into(), json!(op));
    }
    m.insert("Source".into(), source(onvif_topic, &camera, &rule));
    if let Some(object) = parts.key {
        m.insert("Key".into(), json!({ "ObjectId": object.to_string() }));
    }
    m.insert("Data".into(), parts.data);
    Some(Mirror {
        onvif_topic,
        camera,
        rule,
        payload: Value::Object(m),
    })
}

/// The source items: plate recognition names the video source and the rule, object
/// detection the video source token and the rule (as the cameras onvif-parsers knows do);
/// the rule engine's detectors name the configurations, as ONVIF's analytics topics do.
fn source(onvif_topic: &str, camera: &str, rule: &str) -> Value {
    if onvif_topic == topic::LICENSE_PLATE {
        json!({ "VideoSource": camera, "Rule": rule })
    } else if onvif_topic == topic::OBJECT {
        json!({ "VideoSourceToken": camera, "Rule": rule })
    } else {
        json!({
            "VideoSourceConfigurationToken": camera,
            "VideoAnalyticsConfigurationToken": ANALYTICS_TOKEN,
            "Rule": rule,
        })
    }
}

fn lifecycle_op(l: Lifecycle) -> &'static str {
    match l {
        Lifecycle::New => "Initialized",
        Lifecycle::Update => "Changed",
        Lifecycle::End => "Deleted",
    }
}

fn phase_op(p: IncidentPhase) -> &'static str {
    match p {
        IncidentPhase::Start => "Initialized",
        IncidentPhase::Update => "Changed",
        IncidentPhase::End => "Deleted",
    }
}

/// What differs between mirrored kinds: the property operation (none for an ONVIF event),
/// the `Key.ObjectId` (none for a message without a key), the `Data` items.
struct Parts {
    op: Option<&'static str>,
    key: Option<u64>,
    data: Value,
}

impl Parts {
    fn property(op: &'static str, key: Option<u64>, data: Value) -> Self {
        Self {
            op: Some(op),
            key,
            data,
        }
    }
}

/// ONVIF `tt:ClassType`-style names for the detector's classes.
fn class_type(class: &str) -> &str {
    match class {
        "person" => "Human",
        "car" | "truck" | "bus" => "Vehicle",
        "motorcycle" | "bicycle" => "Bike",
        "dog" | "cat" | "horse" | "cow" | "sheep" | "bird" => "Animal",
        _ => "Other",
    }
}

/// ONVIF `PlateType` (Normal, Police, Diplomat, Temporary) for vigia's plate type.
fn onvif_plate_type(plate_type: Option<&str>) -> &'static str {
    match plate_type {
        Some("diplomatic") => "Diplomat",
        Some("police") => "Police",
        Some("temporary") => "Temporary",
        _ => "Normal",
    }
}

fn round(v: f32) -> f64 {
    (f64::from(v) * 1000.0).round() / 1000.0
}

fn lpr_parts(lpr: &LprEvent) -> Parts {
    let mut plate = json!({
        "PlateNumber": { "Value": lpr.plate.number, "Likelihood": round(lpr.plate.likelihood) },
        "PlateType": { "Value": onvif_plate_type(lpr.plate.plate_type.as_deref()) },
    });
    if let Some(cc) = &lpr.plate.country_code {
        plate["CountryCode"] = json!({ "Value": cc });
    }
    let mut data = json!({
        "Likelihood": round(lpr.plate.likelihood),
        "LicensePlateInfo": plate,
    });
    if let Some(v) = &lpr.vehicle {
        data["VehicleInfo"] = json!({
            "Type": { "Value": v.kind, "Likelihood": round(v.likelihood) },
        });
    }
    Parts::property(lifecycle_op(lpr.lifecycle), Some(lpr.pass_id), data)
}

/// An incident's ONVIF topic and message; `None` for kinds ONVIF has no topic for (and for
/// a line crossing's later phases: a crossing is one ONVIF event).
fn incident_parts(i: &IncidentEvent) -> Option<(&'static str, Parts)> {
    let object = i.objects.first().map_or(0, |o| o.track_id);
    let op = phase_op(i.lifecycle);
    let on = i.lifecycle != IncidentPhase::End;
    Some(match i.kind {
        IncidentKind::ZoneIntrusion => (
            topic::OBJECTS_INSIDE,
            Parts::property(op, Some(object), json!({ "IsInside": on })),
        ),
        IncidentKind::Loitering => (
            topic::LOITERING,
            Parts::property(op, Some(object), json!({ "IsLoitering": on })),
        ),
        IncidentKind::Crowding => (
            topic::COUNTER,
            Parts::property(op, None, json!({ "Count": i.count.unwrap_or(0) })),
        ),
        IncidentKind::LineCrossing if i.lifecycle == IncidentPhase::Start => (
            topic::LINE_CROSSED,
            Parts {
                op: None,
                key: None,
                data: json!({ "ObjectId": object.to_string() }),
            },
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_status_has_no_mirror_and_rule_names_stay_one_level() {
        let e = Event::new(
            "s",
            "n",
            None,
            chrono::Utc::now(),
            EventPayload::CameraStatus(vigia_core::event::CameraStatusEvent {
                state: vigia_core::event::CameraState::Streaming,
                reason: None,
                decoder: None,
                attempts: 0,
            }),
        );
        assert!(mirror(&e).is_none());
        assert_eq!(
            mqtt_topic("sies/a/b", topic::LINE_CROSSED, "gate-1", "in/out #2"),
            "sies/a/b/onvif-ej/RuleEngine/LineDetector/Crossed/&gate-1/in_out _2"
        );
        assert_eq!(onvif_plate_type(Some("diplomatic")), "Diplomat");
        assert_eq!(onvif_plate_type(Some("private")), "Normal");
        assert_eq!(class_type("person"), "Human");
        assert_eq!(class_type("motorcycle"), "Bike");
    }
}
