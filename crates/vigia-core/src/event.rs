//! The versioned event envelope published to the monitoring center.
//!
//! Every message vigia publishes (except the plain-text availability topic) is one JSON
//! object: the envelope fields below, then the payload fields of its `type`, flattened.
//! The contract is documented in `docs/events.md`; a breaking change bumps [`SCHEMA`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::camera::CameraId;
use crate::geom::BBox;

/// The schema identifier carried by every event.
pub const SCHEMA: &str = "vigia.event/1";

/// The envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`SCHEMA`] for this version.
    pub schema: String,
    /// UUIDv7, assigned once when the event is created and stable across retries, so the
    /// center can de-duplicate at-least-once deliveries.
    pub id: Uuid,
    /// The camera the event is about (absent for node-level events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<CameraId>,
    pub site: String,
    pub node: String,
    /// When the event happened (RFC 3339, UTC, milliseconds).
    #[serde(with = "rfc3339_ms")]
    pub utc_time: DateTime<Utc>,
    #[serde(flatten)]
    pub payload: EventPayload,
}

impl Event {
    /// A new event with a fresh UUIDv7 id.
    pub fn new(
        site: &str,
        node: &str,
        camera: Option<CameraId>,
        utc_time: DateTime<Utc>,
        payload: EventPayload,
    ) -> Self {
        Self {
            schema: SCHEMA.to_string(),
            id: Uuid::now_v7(),
            camera,
            site: site.to_string(),
            node: node.to_string(),
            utc_time,
            payload,
        }
    }

    /// The `type` field.
    pub fn kind(&self) -> &'static str {
        self.payload.kind()
    }
}

/// The payload, tagged by the envelope's `type` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventPayload {
    /// A tracked object appeared (`new`) or left (`end`).
    Object(ObjectEvent),
    /// A camera's stream state changed.
    CameraStatus(CameraStatusEvent),
    /// A license plate read: one per vehicle pass (`new`, `update`, `end`).
    Lpr(Box<LprEvent>),
    /// An incident from a rule (zone intrusion, loitering, ...): `start` / `update` / `end`.
    Incident(Box<IncidentEvent>),
    /// Something an operator must look at now (hotlist hit, high-severity incident).
    Alert(Box<AlertEvent>),
}

impl EventPayload {
    pub fn kind(&self) -> &'static str {
        match self {
            EventPayload::Object(_) => "object",
            EventPayload::CameraStatus(_) => "camera_status",
            EventPayload::Lpr(_) => "lpr",
            EventPayload::Incident(_) => "incident",
            EventPayload::Alert(_) => "alert",
        }
    }
}

/// Declares a wire enum: serde and `as_str` agree on each variant's name.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v),+
        }

        impl $name {
            /// The name on the wire.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$v => $s),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// What an incident is: the kind of rule that raised it.
    IncidentKind {
        /// Objects of the watched classes inside a zone.
        ZoneIntrusion => "zone_intrusion",
        /// An object crossing a line (each direction counted).
        LineCrossing => "line_crossing",
        /// An object staying in a zone too long.
        Loitering => "loitering",
        /// Too many objects in a zone for too long.
        Crowding => "crowding",
        /// An object moving against the allowed direction.
        WrongWay => "wrong_way",
        /// A vehicle still in a zone too long.
        StoppedVehicle => "stopped_vehicle",
        /// An alarm input (panic button, community alarm) linked to the camera was
        /// triggered; raised by the input, not by a rule (docs/alarms.md).
        Alarm => "alarm",
    }
}

wire_enum! {
    /// The direction of a line crossing, between the line's A and B sides.
    CrossingDirection {
        AToB => "a_to_b",
        BToA => "b_to_a",
    }
}

wire_enum! {
    /// How a plate moved in the image during a pass.
    Travel {
        /// The plate grows: the vehicle comes toward the camera.
        Approaching => "approaching",
        /// The plate shrinks.
        Receding => "receding",
        Left => "left",
        Right => "right",
        Up => "up",
        Down => "down",
        /// Watched for a while without moving.
        Stationary => "stationary",
    }
}

wire_enum! {
    /// A plate's background colour, estimated from its crop.
    PlateColor {
        Yellow => "yellow",
        White => "white",
        Other => "other",
    }
}

wire_enum! {
    /// Why an alert was raised.
    AlertReason {
        /// A plate read matched a hotlist entry.
        Hotlist => "hotlist",
        /// A high-severity incident started.
        Incident => "incident",
        /// An alarm input was triggered.
        Alarm => "alarm",
    }
}

/// Where an event stands in the life of the thing it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    New,
    Update,
    End,
}

impl Lifecycle {
    pub fn as_str(&self) -> &'static str {
        match self {
            Lifecycle::New => "new",
            Lifecycle::Update => "update",
            Lifecycle::End => "end",
        }
    }
}

/// A tracked object (person, vehicle, ...) on one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectEvent {
    pub lifecycle: Lifecycle,
    /// Track id, unique per camera while the process runs.
    pub track_id: u64,
    /// Class name from the detector's labels (`person`, `car`, `motorcycle`, ...).
    pub class: String,
    /// Highest detector confidence seen for this track, `[0, 1]`.
    pub likelihood: f32,
    /// Last box, normalised to the frame (`x`, `y` top-left; `w`, `h`; all in `[0, 1]`).
    #[serde(rename = "box")]
    pub bbox: BBox,
    #[serde(with = "rfc3339_ms")]
    pub first_seen: DateTime<Utc>,
    #[serde(with = "rfc3339_ms")]
    pub last_seen: DateTime<Utc>,
    /// `last_seen - first_seen` in milliseconds.
    pub duration_ms: u64,
    /// Number of analysed frames the object was detected in.
    pub sightings: u32,
    /// Detector model name (from its manifest).
    pub detector: String,
}

/// State of a camera's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Connecting for the first time.
    Starting,
    /// Frames are flowing.
    Streaming,
    /// The stream failed or stalled; vigia is reconnecting with back-off.
    Reconnecting,
    /// The camera is disabled, ended (a file without looping) or vigia is stopping.
    Offline,
}

impl CameraState {
    pub fn as_str(&self) -> &'static str {
        match self {
            CameraState::Starting => "starting",
            CameraState::Streaming => "streaming",
            CameraState::Reconnecting => "reconnecting",
            CameraState::Offline => "offline",
        }
    }
}

/// A camera's status change, from its ingest supervisor to analytics (which publishes it).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraStatus {
    pub camera: CameraId,
    pub state: CameraState,
    /// Why (error text, never with credentials).
    pub reason: Option<String>,
    pub decoder: Option<String>,
    /// Consecutive failed attempts since the camera last streamed.
    pub attempts: u32,
}

/// A camera status change (published retained on the camera's status topic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraStatusEvent {
    pub state: CameraState,
    /// Why the camera is in this state (error text; never contains credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The decoder element in use, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<String>,
    /// Consecutive failed attempts since the camera last streamed.
    pub attempts: u32,
}

/// A plate reading (ONVIF LicensePlateInfo vocabulary where one exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateInfo {
    /// The plate, consolidated over the pass and corrected by the plate grammar.
    pub number: String,
    /// What the OCR read in the best frame, before the grammar.
    pub raw: String,
    /// 0–1.
    pub likelihood: f32,
    /// Per character of `number`, 0–1.
    pub char_likelihoods: Vec<f32>,
    /// Other readings seen during the pass, most likely first.
    pub candidates: Vec<PlateCandidate>,
    /// ISO 3166-1 alpha-2 of the matching format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// Matching format (`co_particular`, `co_publico`, `co_moto`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_type: Option<String>,
    /// Estimated background colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<PlateColor>,
    /// In the best frame, normalised to the frame.
    #[serde(rename = "box")]
    pub bbox: BBox,
}

/// Another reading of a pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateCandidate {
    pub number: String,
    pub likelihood: f32,
    pub reads: u32,
}

/// The vehicle carrying the plate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleInfo {
    /// `Car`, `Motorcycle`, `Bus`, `Truck`.
    #[serde(rename = "type")]
    pub kind: String,
    pub likelihood: f32,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub track_id: u64,
}

/// Hotlist result of a read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HotlistInfo {
    pub matched: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The plate as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_plate: Option<String>,
    /// 0 = exact; a confusable substitution (O/0, I/1, ...) counts 0.5, other edits 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_distance: Option<f32>,
    /// The listed plate's issuing state, department or country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The entry's priority: 0 (highest) to 100 (lowest); it sets the alert's severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// The last day the entry is in force (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// Pictures served by the node's HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub snapshot_url: String,
    /// Plate reads: the plate crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate_crop_url: Option<String>,
}

/// Models that produced a read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LprModels {
    pub vehicle_detector: String,
    pub plate_detector: String,
    pub ocr: String,
}

/// Direction of travel of a vehicle pass, from the plate's first to its latest read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    pub travel: Travel,
    /// Displacement of the plate's centre, in fractions of the frame width / height.
    pub dx: f32,
    pub dy: f32,
    /// Latest plate height over the first one.
    pub scale: f32,
}

/// A license-plate read event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LprEvent {
    pub lifecycle: Lifecycle,
    /// Identifies the vehicle pass (unique per camera while the node runs).
    pub pass_id: u64,
    pub plate: PlateInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<VehicleInfo>,
    pub hotlist: HotlistInfo,
    /// How the plate moved in the image during the pass so far (absent after one read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    /// Frames the plate was read in during the pass.
    pub reads: u32,
    #[serde(with = "rfc3339_ms")]
    pub first_seen: DateTime<Utc>,
    #[serde(with = "rfc3339_ms")]
    pub last_seen: DateTime<Utc>,
    pub model: LprModels,
    /// From the best frame's capture to this event.
    pub latency_ms: u64,
}

wire_enum! {
    /// How urgent an incident or alert is.
    Severity {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
}

/// An alert (published on `<prefix>/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub reason: AlertReason,
    pub severity: Severity,
    /// One line for an operator's screen.
    pub summary: String,
    /// The `id` of the event that raised it (an `lpr` or `incident` event).
    pub source_event_id: Uuid,
    /// Hotlist alerts: the plate, the hotlist entry, the pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotlist: Option<HotlistInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<VehicleInfo>,
    /// Incident alerts: which incident and rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Alarm alerts: the input, and every linked camera's incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<CameraId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
}

wire_enum! {
    /// Where an incident stands.
    IncidentPhase {
        Start => "start",
        Update => "update",
        End => "end",
    }
}

/// An object involved in an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentObject {
    pub track_id: u64,
    pub class: String,
    /// Normalised box.
    #[serde(rename = "box")]
    pub bbox: BBox,
}

/// A classifier's verdict on an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierScore {
    pub model: String,
    pub label: String,
    pub score: f32,
}

/// An incident event (`<prefix>/cameras/<camera>/incidents`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    pub lifecycle: IncidentPhase,
    /// The same for the start, updates and end of one incident.
    pub incident_id: Uuid,
    /// The rule's name.
    pub rule: String,
    pub kind: IncidentKind,
    pub severity: Severity,
    /// The rule's zone (normalised polygon), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<Vec<[f32; 2]>>,
    /// The rule's line (normalised), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<[[f32; 2]; 2]>,
    /// Objects involved now (at `end`: the last ones).
    pub objects: Vec<IncidentObject>,
    #[serde(with = "rfc3339_ms")]
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Objects in the zone (zone rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    /// Line crossings: which way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<CrossingDirection>,
    /// Line crossings so far on this rule: `{"a_to_b": n, "b_to_a": m}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossings: Option<CrossingTotals>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<ClassifierScore>,
    /// `alarm` incidents: the input that raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
}

/// The alarm input behind an `alarm` incident or alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmInfo {
    /// The input's `id` in the configuration (`[[alarms.inputs]]`).
    pub input: String,
    /// Its human name (`name`, or the id).
    pub name: String,
    /// What kind of input (`kind`, e.g. `panic_button`, `community_alarm`).
    pub kind: String,
    /// How the trigger arrived: `mqtt` or `http`.
    pub via: String,
    /// The trigger's own text, when its payload carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Crossings per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossingTotals {
    pub a_to_b: u64,
    pub b_to_a: u64,
}

/// RFC 3339 with milliseconds and `Z`, as the contract states.
pub mod rfc3339_ms {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Formats a timestamp the way events carry it.
pub fn format_utc(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        Event::new(
            "medellin",
            "edge-01",
            Some(CameraId::new("gate-1").unwrap()),
            t,
            EventPayload::Object(ObjectEvent {
                lifecycle: Lifecycle::New,
                track_id: 7,
                class: "car".into(),
                likelihood: 0.9,
                bbox: BBox::new(0.1, 0.2, 0.3, 0.4),
                first_seen: t,
                last_seen: t,
                duration_ms: 0,
                sightings: 3,
                detector: "yolox_nano".into(),
            }),
        )
    }

    #[test]
    fn envelope_is_flat_json_with_type_and_millisecond_utc() {
        let e = sample();
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["schema"], "vigia.event/1");
        assert_eq!(v["type"], "object");
        assert_eq!(v["camera"], "gate-1");
        assert_eq!(v["utc_time"], "2026-11-23T10:00:00.123Z");
        assert_eq!(v["lifecycle"], "new");
        assert_eq!(v["box"]["w"].as_f64().unwrap() as f32, 0.3);
        assert_eq!(e.id.get_version_num(), 7);
    }

    #[test]
    fn round_trips() {
        let e = sample();
        let json = serde_json::to_string(&e).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn ids_are_unique_and_time_ordered() {
        let a = sample();
        let b = sample();
        assert_ne!(a.id, b.id);
        assert!(a.id < b.id);
    }
}
