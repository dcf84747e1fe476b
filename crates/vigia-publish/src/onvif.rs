//! The optional ONVIF Profile M style mirror of plate reads (`mqtt.onvif_mirror`).
//!
//! Video management systems that already consume ONVIF analytics events over MQTT (Profile
//! M cameras publish them) can take vigia's plate reads without learning `vigia.event/1`.
//! Layout as ONVIF's MQTT event binding: `<prefix>/onvif-ej/<local topic>/&<source>`, the
//! ONVIF topic without its `tns1:` namespace, payload in the JSON event form:
//!
//! ```text
//! <prefix>/onvif-ej/RuleEngine/LicensePlateDetector/LicensePlate/&<camera>
//! {"UtcTime": "...", "PropertyOperation": "Initialized|Changed|Deleted",
//!  "Source": {"VideoSource": "<camera>", "Rule": "LicensePlateRecognition"},
//!  "Key": {"ObjectId": "<pass id>"},
//!  "Data": {"LicensePlateInfo": {"PlateNumber": {"Value", "Likelihood"}, "PlateType",
//!           "CountryCode"}, "VehicleInfo": {"Type": {"Value", "Likelihood"}},
//!           "EventId": "<id of the vigia lpr event>"}}
//! ```
//!
//! Names follow ONVIF's `tt:LicensePlateInfo` and `tt:VehicleInfo` vocabulary (values with
//! a likelihood as `{"Value", "Likelihood"}`). This is a mirror "in the style of" Profile
//! M, not a conformance claim. A pass is a property in ONVIF terms: `new` →
//! `Initialized`, `update` → `Changed`, `end` → `Deleted`. Mirror messages go through the
//! outbox like every event (at least once, ordered); `EventId` lets a consumer de-duplicate.

use serde_json::{Value, json};
use vigia_core::event::{Lifecycle, LprEvent};
use vigia_core::{Event, EventPayload};

/// The ONVIF local topic of plate reads (the `tns1:` namespace dropped, as the MQTT binding
/// asks).
pub const LPR_LOCAL_TOPIC: &str = "RuleEngine/LicensePlateDetector/LicensePlate";

/// The outbox record kind of mirror messages (for metrics).
pub const KIND: &str = "onvif_lpr";

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

/// The mirror topic for a camera.
pub fn topic(prefix: &str, camera: &str) -> String {
    format!("{prefix}/onvif-ej/{LPR_LOCAL_TOPIC}/&{camera}")
}

/// The mirror payload of an `lpr` event; `None` for other events.
pub fn payload(event: &Event) -> Option<Value> {
    let EventPayload::Lpr(lpr) = &event.payload else {
        return None;
    };
    let camera = event.camera.as_ref().map_or("-", |c| c.as_str());
    Some(render(event, camera, lpr))
}

fn render(event: &Event, camera: &str, lpr: &LprEvent) -> Value {
    let operation = match lpr.lifecycle {
        Lifecycle::New => "Initialized",
        Lifecycle::End => "Deleted",
        _ => "Changed",
    };
    let mut plate = json!({
        "PlateNumber": { "Value": lpr.plate.number, "Likelihood": round(lpr.plate.likelihood) },
        "PlateType": { "Value": onvif_plate_type(lpr.plate.plate_type.as_deref()) },
    });
    if let Some(cc) = &lpr.plate.country_code {
        plate["CountryCode"] = json!({ "Value": cc });
    }
    let mut data = json!({
        "LicensePlateInfo": plate,
        "EventId": event.id.to_string(),
    });
    if let Some(v) = &lpr.vehicle {
        data["VehicleInfo"] = json!({
            "Type": { "Value": v.kind, "Likelihood": round(v.likelihood) },
        });
    }
    json!({
        "UtcTime": event.utc_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "PropertyOperation": operation,
        "Source": { "VideoSource": camera, "Rule": "LicensePlateRecognition" },
        "Key": { "ObjectId": lpr.pass_id.to_string() },
        "Data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_events_have_no_mirror() {
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
        assert!(payload(&e).is_none());
        assert_eq!(
            topic("sies/a/b", "gate-1"),
            "sies/a/b/onvif-ej/RuleEngine/LicensePlateDetector/LicensePlate/&gate-1"
        );
        assert_eq!(onvif_plate_type(Some("diplomatic")), "Diplomat");
        assert_eq!(onvif_plate_type(Some("private")), "Normal");
    }
}
