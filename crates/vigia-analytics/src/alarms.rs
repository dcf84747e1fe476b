//! Alarm inputs (panic buttons, community alarms): configuration, and the analytics stage
//! that turns a trigger into an `alarm` incident on every linked camera, with a snapshot at
//! trigger time (`start`) and one `snapshot_after_secs` later (`end`), and one `alert`.
//!
//! Triggers reach analytics as [`crate::Input::Alarm`] from the node's alarm listeners
//! (MQTT, HTTP), which parse payloads and debounce per input ([`Debounce`]); this stage
//! only needs the linked cameras' latest frames, which it keeps anyway for rules.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;
use vigia_core::event::{
    AlarmInfo, AlertEvent, AlertReason, IncidentEvent, IncidentKind, IncidentPhase, Media, Severity,
};
use vigia_core::{CameraId, Event, EventPayload, FieldError};

use crate::Context;
use crate::snapshots::OwnedRgb;

/// `[alarms]`: how alarm triggers arrive, and the inputs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmsConfig {
    /// MQTT topic filter the node subscribes to on its broker (`[mqtt]`), e.g.
    /// `alarms/#`; empty: no MQTT input.
    pub mqtt_topic: String,
    /// JSON pointer to the input's id in an MQTT payload; when the payload has none, the
    /// last level of the topic is the id. Default `/id`.
    pub id_field: String,
    /// JSON pointer to the trigger's state; when set, only payloads whose value there is
    /// one of `active_values` trigger (others, e.g. a restore, are counted as inactive).
    /// Default empty: every payload triggers.
    pub state_field: String,
    /// Values of `state_field` that mean "triggered" (compared as text, case-insensitive).
    pub active_values: Vec<String>,
    /// JSON pointer to a text to carry in the incident (`alarm.message`). Default
    /// `/message`.
    pub message_field: String,
    /// A second trigger of the same input within this many seconds is counted, not
    /// raised again. Default 30.
    pub debounce_secs: u64,
    /// The second snapshot (and the incident's `end`) this many seconds after the
    /// trigger. Default 3.
    pub snapshot_after_secs: u64,
    /// The inputs.
    pub inputs: Vec<AlarmInput>,
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        Self {
            mqtt_topic: String::new(),
            id_field: "/id".into(),
            state_field: String::new(),
            active_values: ["alarm", "active", "on", "true", "1", "triggered"]
                .map(String::from)
                .to_vec(),
            message_field: "/message".into(),
            debounce_secs: 30,
            snapshot_after_secs: 3,
            inputs: Vec::new(),
        }
    }
}

/// `[[alarms.inputs]]`: one panic button or community alarm.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmInput {
    /// Its id: what MQTT payloads name and what `POST /api/v1/alarms/{id}` takes.
    pub id: String,
    /// Shown to operators; default the id.
    #[serde(default)]
    pub name: Option<String>,
    /// What it is (free text; `panic_button`, `community_alarm`, ...). Default `alarm`.
    #[serde(default = "alarm_kind")]
    pub kind: String,
    /// Cameras whose pictures go with its incidents (an incident on each).
    #[serde(default)]
    pub cameras: Vec<CameraId>,
    /// Default high.
    #[serde(default = "high")]
    pub severity: Severity,
}

fn alarm_kind() -> String {
    "alarm".into()
}

fn high() -> Severity {
    Severity::High
}

impl AlarmsConfig {
    /// Checks the values against the configured cameras.
    pub fn validate(&self, cameras: &[CameraId]) -> Vec<FieldError> {
        let mut e = Vec::new();
        for (k, v) in [
            ("id_field", &self.id_field),
            ("state_field", &self.state_field),
            ("message_field", &self.message_field),
        ] {
            if !v.is_empty() && !v.starts_with('/') {
                e.push(FieldError::new(
                    k,
                    format!("{v:?} is not a JSON pointer (it starts with /, e.g. \"/id\")"),
                ));
            }
        }
        if !self.state_field.is_empty() && self.active_values.is_empty() {
            e.push(FieldError::new(
                "active_values",
                "must not be empty when state_field is set",
            ));
        }
        if !self.mqtt_topic.is_empty() && !valid_filter(&self.mqtt_topic) {
            e.push(FieldError::new(
                "mqtt_topic",
                format!(
                    "{:?} is not an MQTT topic filter (# only as the last level, + alone in its level)",
                    self.mqtt_topic
                ),
            ));
        }
        if self.snapshot_after_secs == 0 || self.snapshot_after_secs > 60 {
            e.push(FieldError::new("snapshot_after_secs", "must be 1..=60"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, input) in self.inputs.iter().enumerate() {
            let at = |f: &str| format!("inputs[{i}].{f}");
            if input.id.is_empty()
                || input.id.len() > 64
                || !input
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                e.push(FieldError::new(
                    at("id"),
                    format!("{:?}: 1 to 64 of A-Z a-z 0-9 - _ .", input.id),
                ));
            } else if !seen.insert(input.id.as_str()) {
                e.push(FieldError::new(
                    at("id"),
                    format!("{:?} is used twice", input.id),
                ));
            }
            for (j, c) in input.cameras.iter().enumerate() {
                if !cameras.contains(c) {
                    e.push(FieldError::new(
                        at(&format!("cameras[{j}]")),
                        format!("no camera {c:?} is configured"),
                    ));
                }
            }
        }
        e
    }

    /// The input with this id.
    pub fn input(&self, id: &str) -> Option<&AlarmInput> {
        self.inputs.iter().find(|i| i.id == id)
    }
}

/// An MQTT topic filter: `#` only as the whole last level, `+` only as a whole level.
fn valid_filter(f: &str) -> bool {
    let levels: Vec<&str> = f.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| {
        (*l == "#" && i == levels.len() - 1) || *l == "+" || (!l.contains('#') && !l.contains('+'))
    })
}

/// Why a trigger did or did not raise an incident (the `result` label of
/// `vigia_alarm_triggers_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerResult {
    Raised,
    Debounced,
    Inactive,
    UnknownInput,
    BadPayload,
}

impl TriggerResult {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Raised => "raised",
            Self::Debounced => "debounced",
            Self::Inactive => "inactive",
            Self::UnknownInput => "unknown_input",
            Self::BadPayload => "bad_payload",
        }
    }
}

/// One trigger, parsed and accepted.
#[derive(Debug, Clone)]
pub struct AlarmTrigger {
    pub input: AlarmInput,
    pub via: &'static str,
    pub message: Option<String>,
    pub at: DateTime<Utc>,
    /// When the second snapshot is taken (`snapshot_after_secs`).
    pub after: Duration,
}

/// Reads an MQTT payload as a trigger of one of `cfg`'s inputs: the id at `id_field`
/// (or the topic's last level), the state at `state_field`, the text at `message_field`.
pub fn parse_mqtt(
    cfg: &AlarmsConfig,
    topic: &str,
    payload: &[u8],
) -> Result<(AlarmInput, Option<String>), (TriggerResult, String)> {
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
        (
            TriggerResult::BadPayload,
            format!("not JSON ({e}), {} bytes", payload.len()),
        )
    })?;
    if !v.is_object() {
        return Err((TriggerResult::BadPayload, "not a JSON object".to_string()));
    }
    let text = |p: &str| -> Option<String> {
        if p.is_empty() {
            return None;
        }
        match v.pointer(p)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    let id = text(&cfg.id_field)
        .or_else(|| topic.rsplit('/').next().map(str::to_string))
        .unwrap_or_default();
    let Some(input) = cfg.input(&id) else {
        return Err((
            TriggerResult::UnknownInput,
            format!("no input {:?} is configured", truncate(&id)),
        ));
    };
    if !cfg.state_field.is_empty() {
        let state = text(&cfg.state_field).unwrap_or_default();
        if !cfg
            .active_values
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&state))
        {
            return Err((
                TriggerResult::Inactive,
                format!("{} is {:?}", cfg.state_field, truncate(&state)),
            ));
        }
    }
    let message = text(&cfg.message_field).map(|m| truncate(&m).to_string());
    Ok((input.clone(), message))
}

/// At most 200 bytes of a payload's text (on a char boundary), for events and logs.
pub fn truncate(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One trigger per input per `window`.
#[derive(Debug)]
pub struct Debounce {
    window: Duration,
    last: HashMap<String, Instant>,
}

impl Debounce {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            last: HashMap::new(),
        }
    }

    /// Whether a trigger of `input` at `now` is new (and remembers it).
    pub fn admit(&mut self, input: &str, now: Instant) -> bool {
        match self.last.get(input) {
            Some(t) if now.saturating_duration_since(*t) < self.window => false,
            _ => {
                self.last.insert(input.to_string(), now);
                true
            }
        }
    }
}

/// An `alarm` incident waiting for its second snapshot.
#[derive(Debug)]
struct Open {
    camera: CameraId,
    incident_id: Uuid,
    trigger: AlarmTrigger,
    due: Duration,
}

/// The alarm stage of analytics: open incidents until their second snapshot.
#[derive(Debug, Default)]
pub struct AlarmStage {
    open: Vec<Open>,
}

impl AlarmStage {
    /// A trigger: a `start` incident on each linked camera (with the camera's latest
    /// frame), and one alert. `frame_of` gives a camera's latest frame.
    pub fn trigger<'a>(
        &mut self,
        ctx: &Context,
        t: &AlarmTrigger,
        frame_of: impl Fn(&CameraId) -> Option<&'a OwnedRgb>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let due = ctx.clock.monotonic() + t.after;
        let mut first: Option<(Uuid, Uuid, Option<Media>)> = None;
        for camera in &t.input.cameras {
            ctx.metrics
                .incidents
                .with_label_values(&[camera.as_str(), IncidentKind::Alarm.as_str()])
                .inc();
            let id = Uuid::now_v7();
            let media =
                ctx.save_scene(camera, &format!("alarm-{id}-start"), t.at, frame_of(camera));
            let event = incident(
                ctx,
                camera,
                id,
                IncidentPhase::Start,
                t,
                t.at,
                media.clone(),
            );
            first.get_or_insert((event.id, id, media));
            out.push(event);
            self.open.push(Open {
                camera: camera.clone(),
                incident_id: id,
                trigger: t.clone(),
                due,
            });
        }
        let (source, incident_id, media) = match first {
            Some((e, i, m)) => (e, Some(i), m),
            None => (Uuid::now_v7(), None, None),
        };
        let alarm = info(t);
        let name = &alarm.name;
        let cameras = t.input.cameras.clone();
        let summary = match cameras.len() {
            0 => format!("Alarm {name} ({}) triggered", t.input.kind),
            _ => format!(
                "Alarm {name} ({}) triggered: cameras {}",
                t.input.kind,
                cameras
                    .iter()
                    .map(CameraId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let alert = Event::new(
            &ctx.origin.site,
            &ctx.origin.node,
            cameras.first().cloned(),
            t.at,
            EventPayload::Alert(Box::new(AlertEvent {
                reason: AlertReason::Alarm,
                severity: t.input.severity,
                summary,
                source_event_id: source,
                plate: None,
                hotlist: None,
                pass_id: None,
                vehicle: None,
                incident_id,
                rule: Some(t.input.id.clone()),
                alarm: Some(alarm),
                cameras,
                media,
            })),
        );
        out.push(alert);
        out
    }

    /// Ends the incidents whose second snapshot is due (all of them with `all`), each
    /// with its camera's latest frame.
    pub fn due<'a>(
        &mut self,
        ctx: &Context,
        all: bool,
        frame_of: impl Fn(&CameraId) -> Option<&'a OwnedRgb>,
    ) -> Vec<Event> {
        let now = ctx.clock.monotonic();
        let now_utc = ctx.clock.now_utc();
        let (done, open): (Vec<Open>, Vec<Open>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|o| all || o.due <= now);
        self.open = open;
        done.into_iter()
            .map(|o| {
                let name = format!("alarm-{}-after", o.incident_id);
                let media = ctx.save_scene(&o.camera, &name, now_utc, frame_of(&o.camera));
                incident(
                    ctx,
                    &o.camera,
                    o.incident_id,
                    IncidentPhase::End,
                    &o.trigger,
                    now_utc,
                    media,
                )
            })
            .collect()
    }
}

fn info(t: &AlarmTrigger) -> AlarmInfo {
    AlarmInfo {
        input: t.input.id.clone(),
        name: t.input.name.clone().unwrap_or_else(|| t.input.id.clone()),
        kind: t.input.kind.clone(),
        via: t.via.to_string(),
        message: t.message.clone(),
    }
}

fn incident(
    ctx: &Context,
    camera: &CameraId,
    id: Uuid,
    phase: IncidentPhase,
    t: &AlarmTrigger,
    now: DateTime<Utc>,
    media: Option<Media>,
) -> Event {
    Event::new(
        &ctx.origin.site,
        &ctx.origin.node,
        Some(camera.clone()),
        now,
        EventPayload::Incident(Box::new(IncidentEvent {
            lifecycle: phase,
            incident_id: id,
            rule: t.input.id.clone(),
            kind: IncidentKind::Alarm,
            severity: t.input.severity,
            zone: None,
            line: None,
            objects: Vec::new(),
            started_at: t.at,
            duration_ms: (now - t.at).num_milliseconds().max(0) as u64,
            count: None,
            max_count: None,
            direction: None,
            crossings: None,
            classifier: None,
            alarm: Some(info(t)),
            media,
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AlarmsConfig {
        AlarmsConfig {
            mqtt_topic: "alarms/#".into(),
            state_field: "/state".into(),
            inputs: vec![AlarmInput {
                id: "panic-1".into(),
                name: Some("Panic button, Parque Berrío".into()),
                kind: "panic_button".into(),
                cameras: vec![CameraId::new("gate").unwrap()],
                severity: Severity::High,
            }],
            ..AlarmsConfig::default()
        }
    }

    #[test]
    fn payloads_name_their_input_in_a_field_or_the_topic() {
        let c = cfg();
        let (i, m) = parse_mqtt(
            &c,
            "alarms/x",
            br#"{"id":"panic-1","state":"ALARM","message":"help"}"#,
        )
        .unwrap();
        assert_eq!((i.id.as_str(), m.as_deref()), ("panic-1", Some("help")));
        let (i, m) = parse_mqtt(&c, "alarms/panic-1", br#"{"state":"on"}"#).unwrap();
        assert_eq!((i.id.as_str(), m), ("panic-1", None));
        let err = |topic: &str, p: &[u8]| parse_mqtt(&c, topic, p).unwrap_err();
        assert_eq!(
            err("alarms/panic-1", br#"{"state":"restore"}"#).0,
            TriggerResult::Inactive
        );
        assert_eq!(
            err("alarms/other", br#"{"state":"on"}"#).0,
            TriggerResult::UnknownInput
        );
        let (r, why) = err("alarms/panic-1", b"\xff{not json");
        assert_eq!(r, TriggerResult::BadPayload);
        assert!(why.contains("not JSON"), "{why}");
        assert_eq!(err("alarms/panic-1", b"[1]").0, TriggerResult::BadPayload);
    }

    #[test]
    fn config_errors_name_their_field() {
        let mut c = cfg();
        c.mqtt_topic = "alarms/#/x".into();
        c.id_field = "id".into();
        c.inputs.push(c.inputs[0].clone());
        c.inputs[1].cameras = vec![CameraId::new("nowhere").unwrap()];
        let e: Vec<String> = c
            .validate(&[CameraId::new("gate").unwrap()])
            .iter()
            .map(|f| f.to_string())
            .collect();
        let all = e.join("\n");
        for want in [
            "mqtt_topic",
            "id_field",
            "inputs[1].id",
            "inputs[1].cameras[0]",
        ] {
            assert!(all.contains(want), "{want} missing in:\n{all}");
        }
        assert!(cfg().validate(&[CameraId::new("gate").unwrap()]).is_empty());
    }

    #[test]
    fn one_trigger_per_input_per_window() {
        let mut d = Debounce::new(Duration::from_secs(30));
        let t = Instant::now();
        assert!(d.admit("a", t));
        assert!(!d.admit("a", t + Duration::from_secs(29)));
        assert!(d.admit("b", t + Duration::from_secs(1)));
        assert!(d.admit("a", t + Duration::from_secs(31)));
    }
}
