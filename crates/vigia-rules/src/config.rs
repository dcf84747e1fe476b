//! `[[rules]]` entries.

use std::path::PathBuf;
use vigia_core::FieldError;

use chrono::{Datelike, NaiveDateTime, NaiveTime, Weekday};
use serde::Deserialize;
use vigia_core::CameraId;
use vigia_core::event::Severity;

use crate::geom::{Point, area};

/// What a rule watches for: the kind of the incidents it raises (one type from the
/// config to the wire).
pub use vigia_core::event::IncidentKind as RuleKind;

/// Classes a rule of `kind` watches when it names none.
pub fn default_classes(kind: RuleKind) -> Vec<String> {
    let v: &[&str] = match kind {
        RuleKind::ZoneIntrusion | RuleKind::Loitering | RuleKind::Crowding => &["person"],
        RuleKind::LineCrossing => &["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        RuleKind::WrongWay | RuleKind::StoppedVehicle => &["car", "motorcycle", "bus", "truck"],
        RuleKind::Alarm => &[],
    };
    v.iter().map(|s| s.to_string()).collect()
}

/// Which point of a box stands for the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The middle of the box's bottom edge: where a person or vehicle touches the ground.
    #[default]
    BottomCenter,
    /// The centre of the box.
    Center,
}

/// A time window in which a rule is active (local time, `utc_offset`). Parsed once when
/// the config is read; a bad value is kept as a problem for [`RuleConfig::validate`] (so
/// one bad window does not hide the rule's other errors) and the window never matches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "RawWindow")]
pub struct ScheduleWindow {
    /// Days the window starts on; empty means every day.
    pub days: Vec<Weekday>,
    pub from: NaiveTime,
    /// Earlier than `from` for a window that crosses midnight.
    pub to: NaiveTime,
    problems: Vec<String>,
}

/// A window as written: `days` (`mon` .. `sun`, or `lun` .. `dom`), `from` and `to` as
/// `HH:MM`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default)]
    days: Vec<String>,
    from: String,
    to: String,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().as_str() {
        "mon" | "lun" => Weekday::Mon,
        "tue" | "mar" => Weekday::Tue,
        "wed" | "mie" => Weekday::Wed,
        "thu" | "jue" => Weekday::Thu,
        "fri" | "vie" => Weekday::Fri,
        "sat" | "sab" => Weekday::Sat,
        "sun" | "dom" => Weekday::Sun,
        _ => return None,
    })
}

impl From<RawWindow> for ScheduleWindow {
    fn from(raw: RawWindow) -> Self {
        let mut problems = Vec::new();
        let mut time = |s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M").unwrap_or_else(|_| {
                problems.push(format!("{s:?} is not HH:MM"));
                NaiveTime::MIN
            })
        };
        let (from, to) = (time(&raw.from), time(&raw.to));
        let days = raw
            .days
            .iter()
            .filter_map(|d| {
                let day = weekday(d);
                if day.is_none() {
                    problems.push(format!(
                        "unknown day {d:?} (mon, tue, wed, thu, fri, sat, sun)"
                    ));
                }
                day
            })
            .collect();
        Self {
            days,
            from,
            to,
            problems,
        }
    }
}

impl ScheduleWindow {
    /// A window from its written form (see [`ScheduleWindow`]).
    pub fn parse(days: &[&str], from: &str, to: &str) -> Self {
        RawWindow {
            days: days.iter().map(|d| d.to_string()).collect(),
            from: from.to_string(),
            to: to.to_string(),
        }
        .into()
    }

    /// Whether local time `t` is inside the window.
    pub fn contains(&self, t: NaiveDateTime) -> bool {
        if !self.problems.is_empty() {
            return false;
        }
        let (from, to) = (self.from, self.to);
        let day_ok = |d: Weekday| self.days.is_empty() || self.days.contains(&d);
        let now = t.time();
        if from <= to {
            day_ok(t.weekday()) && now >= from && now < to
        } else {
            // Crosses midnight: the evening part belongs to today, the morning part to the
            // day the window started.
            (now >= from && day_ok(t.weekday())) || (now < to && day_ok(t.weekday().pred()))
        }
    }

    /// What was wrong with the written window.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// An ONNX classifier that must agree before the incident starts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierGate {
    /// Model manifest (`task = "classify"`).
    pub manifest: PathBuf,
    /// The label whose probability is checked.
    pub label: String,
    /// The incident starts only when a crop of an involved object reaches this. Default 0.5.
    #[serde(default = "half")]
    pub min_score: f32,
}

fn half() -> f32 {
    0.5
}

fn yes() -> bool {
    true
}

fn medium() -> Severity {
    Severity::Medium
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique per camera; appears in incidents.
    pub name: String,
    pub camera: CameraId,
    pub kind: RuleKind,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Classes watched. Default per kind (people; vehicles; both for lines).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Polygon `[[x, y], ...]`, normalised. Zone kinds; optional for `wrong_way`.
    #[serde(default)]
    pub zone: Option<Vec<Point>>,
    /// `[[x, y], [x, y]]`: `line_crossing`. Side A is on the left when walking from the first
    /// point to the second in the image (the left half for a line drawn top to bottom).
    #[serde(default)]
    pub line: Option<[Point; 2]>,
    /// `low`, `medium` (default) or `high`; high incidents also go to `<prefix>/alerts`.
    #[serde(default = "medium")]
    pub severity: Severity,
    /// Active windows; empty means always.
    #[serde(default)]
    pub schedule: Vec<ScheduleWindow>,
    /// Point that stands for an object. Default `bottom_center`.
    #[serde(default)]
    pub anchor: Anchor,
    /// `loitering`, `stopped_vehicle`: seconds in the zone before the incident starts.
    #[serde(default)]
    pub dwell_secs: Option<f32>,
    /// `crowding`: objects needed.
    #[serde(default)]
    pub min_count: Option<u32>,
    /// How long the condition must hold before the incident starts. Defaults: 0 (zone
    /// intrusion), 3 s (crowding), 1 s (wrong way).
    #[serde(default)]
    pub min_duration_secs: Option<f32>,
    /// How long the condition must be gone before the incident ends. Default 2 s.
    #[serde(default)]
    pub clear_after_secs: Option<f32>,
    /// `wrong_way`: the allowed direction of motion `[dx, dy]` (image coordinates).
    #[serde(default)]
    pub direction: Option<Point>,
    /// `wrong_way`: motion within this angle of the reverse direction is wrong. Default 60°.
    #[serde(default)]
    pub angle_tolerance_deg: Option<f32>,
    /// `wrong_way`: slower objects are ignored (frame sizes per second). Default 0.05.
    #[serde(default)]
    pub min_speed: Option<f32>,
    /// `stopped_vehicle`: at most this speed counts as stopped (frame sizes per second).
    /// Default 0.02.
    #[serde(default)]
    pub max_speed: Option<f32>,
    /// `line_crossing`: distance from the line (frame sizes) an object must reach on the
    /// other side to count, against jitter. Default 0.01.
    #[serde(default)]
    pub hysteresis: Option<f32>,
    #[serde(default)]
    pub classifier: Option<ClassifierGate>,
}

impl RuleConfig {
    /// Checks the values; returns `(field, message)` pairs.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e: Vec<FieldError> = Vec::new();
        let mut push = |f: &str, m: &str| e.push(FieldError::new(f, m));
        if self.name.is_empty() || self.name.len() > 64 {
            push("name", "must be 1 to 64 characters");
        }
        if self.kind == RuleKind::Alarm {
            push(
                "kind",
                "alarm incidents come from alarm inputs ([[alarms.inputs]]), not from rules",
            );
        }
        let needs_zone = matches!(
            self.kind,
            RuleKind::ZoneIntrusion
                | RuleKind::Loitering
                | RuleKind::Crowding
                | RuleKind::StoppedVehicle
        );
        match &self.zone {
            None if needs_zone => push(
                "zone",
                &format!("{} needs a zone polygon", self.kind.as_str()),
            ),
            Some(z) => {
                if z.len() < 3 {
                    push("zone", "a polygon needs at least 3 points");
                } else if area(z) < 1e-5 {
                    push("zone", "the polygon has no area");
                }
                if z.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
                    push("zone", "coordinates are normalised: 0 to 1");
                }
            }
            None => {}
        }
        match (&self.line, self.kind) {
            (None, RuleKind::LineCrossing) => {
                push("line", "line_crossing needs a line [[x, y], [x, y]]")
            }
            (Some(l), _) => {
                if l.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
                    push("line", "coordinates are normalised: 0 to 1");
                }
                if (l[0][0] - l[1][0]).abs() + (l[0][1] - l[1][1]).abs() < 1e-4 {
                    push("line", "the two points are the same");
                }
            }
            _ => {}
        }
        if matches!(self.kind, RuleKind::Loitering | RuleKind::StoppedVehicle)
            && self.dwell_secs.is_none_or(|d| d <= 0.0)
        {
            push(
                "dwell_secs",
                &format!("{} needs dwell_secs > 0", self.kind.as_str()),
            );
        }
        if self.kind == RuleKind::Crowding && self.min_count.is_none_or(|c| c < 2) {
            push("min_count", "crowding needs min_count >= 2");
        }
        if self.kind == RuleKind::WrongWay {
            match self.direction {
                None => push(
                    "direction",
                    "wrong_way needs the allowed direction [dx, dy]",
                ),
                Some(d) if d[0].abs() + d[1].abs() < 1e-6 => {
                    push("direction", "must not be [0, 0]")
                }
                _ => {}
            }
        }
        for (f, v) in [
            ("min_duration_secs", self.min_duration_secs),
            ("clear_after_secs", self.clear_after_secs),
            ("min_speed", self.min_speed),
            ("max_speed", self.max_speed),
            ("hysteresis", self.hysteresis),
        ] {
            if v.is_some_and(|v| v < 0.0 || !v.is_finite()) {
                push(f, "must be a number >= 0");
            }
        }
        if self
            .angle_tolerance_deg
            .is_some_and(|a| !(0.0..=90.0).contains(&a))
        {
            push("angle_tolerance_deg", "must be 0 to 90");
        }
        for (i, w) in self.schedule.iter().enumerate() {
            for m in w.problems() {
                push(&format!("schedule[{i}]"), m);
            }
        }
        if let Some(c) = &self.classifier
            && !(0.0..=1.0).contains(&c.min_score)
        {
            push("classifier.min_score", "must be in [0, 1]");
        }
        e
    }

    /// Classes watched (the configured ones, else the kind's defaults).
    pub fn watched_classes(&self) -> Vec<String> {
        if self.classes.is_empty() {
            default_classes(self.kind)
        } else {
            self.classes.clone()
        }
    }

    /// Whether the rule is active at local time `t`.
    pub fn active_at(&self, t: NaiveDateTime) -> bool {
        self.enabled && (self.schedule.is_empty() || self.schedule.iter().any(|w| w.contains(t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: &str, extra: &str) -> Result<RuleConfig, String> {
        toml::from_str(&format!(
            "name = \"r\"\ncamera = \"c\"\nkind = \"{kind}\"\n{extra}"
        ))
        .map_err(|e: toml::de::Error| e.to_string())
    }

    fn fields(r: &RuleConfig) -> Vec<String> {
        r.validate().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn each_kind_names_what_it_misses() {
        assert_eq!(fields(&rule("zone_intrusion", "").unwrap()), vec!["zone"]);
        assert_eq!(fields(&rule("line_crossing", "").unwrap()), vec!["line"]);
        assert_eq!(
            fields(&rule("loitering", "zone = [[0,0],[1,0],[1,1]]").unwrap()),
            vec!["dwell_secs"]
        );
        assert_eq!(
            fields(&rule("crowding", "zone = [[0,0],[1,0],[1,1]]\nmin_count = 1").unwrap()),
            vec!["min_count"]
        );
        assert_eq!(fields(&rule("wrong_way", "").unwrap()), vec!["direction"]);
        assert_eq!(
            fields(
                &rule(
                    "stopped_vehicle",
                    "zone = [[0,0],[1,0],[2,1]]\ndwell_secs = 5"
                )
                .unwrap()
            ),
            vec!["zone"]
        );
        assert!(rule("teleport", "").is_err());
        let ok = rule("zone_intrusion", "zone = [[0.1,0.1],[0.9,0.1],[0.9,0.9]]").unwrap();
        assert!(ok.validate().is_empty());
        assert_eq!(ok.watched_classes(), vec!["person"]);
    }

    #[test]
    fn schedules_cross_midnight_by_the_starting_day() {
        let w = ScheduleWindow::parse(&["fri"], "22:00", "06:00");
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        // 2026-11-27 is a Friday.
        assert!(w.contains(t("2026-11-27 23:30")));
        assert!(
            w.contains(t("2026-11-28 05:59")),
            "Saturday morning belongs to Friday night"
        );
        assert!(!w.contains(t("2026-11-28 06:00")));
        assert!(
            !w.contains(t("2026-11-28 23:30")),
            "Saturday night is not in the window"
        );
        assert!(!w.contains(t("2026-11-27 12:00")));
        let day = ScheduleWindow::parse(&[], "08:00", "18:00");
        assert!(day.contains(t("2026-11-29 08:00")) && !day.contains(t("2026-11-29 18:00")));
        let bad = ScheduleWindow::parse(&["someday"], "25:00", "06:00");
        assert_eq!(bad.problems().len(), 2);
    }
}
