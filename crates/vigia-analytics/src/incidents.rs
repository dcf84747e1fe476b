//! The incident stage of analytics: a camera's tracks → its rules → `incident` events (and
//! `alert` events for high-severity incidents).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use uuid::Uuid;
use vigia_core::event::{
    AlertEvent, AlertReason, ClassifierScore, CrossingTotals, IncidentEvent, IncidentObject,
    IncidentPhase, Media, Severity,
};
use vigia_core::{BBox, CameraId, Event, EventPayload};
use vigia_infer::{Classifier, RgbView};
use vigia_rules::debounce::Gate;
use vigia_rules::{Change, RuleConfig, RuleSet, TrackView};

use crate::events::round4;
use crate::snapshots::OwnedRgb;
use crate::{Context, Moment};

/// A rule's classifier stage.
pub struct Gatekeeper {
    pub classifier: Classifier,
    pub label: String,
    pub min_score: f32,
    last_try: Option<Duration>,
}

impl Gatekeeper {
    pub fn new(classifier: Classifier, label: String, min_score: f32) -> Self {
        Self {
            classifier,
            label,
            min_score,
            last_try: None,
        }
    }
}

/// The classifier is asked at most this often per rule while a condition is pending.
const GATE_INTERVAL: Duration = Duration::from_secs(1);

/// The rules of one camera, with what their incidents need.
pub struct CameraRules {
    camera: CameraId,
    /// Local time of the rules' schedules.
    utc_offset: FixedOffset,
    set: RuleSet,
    gates: HashMap<usize, Gatekeeper>,
    /// Open incidents: sequence → (id, start time).
    open: HashMap<u64, (Uuid, DateTime<Utc>)>,
    /// Last known view of each track (an incident's end may come after its track is gone).
    last_views: HashMap<u64, (TrackView, Duration)>,
    media: HashMap<u64, Media>,
}

impl std::fmt::Debug for CameraRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraRules")
            .field("camera", &self.camera)
            .field("rules", &self.set.rules().count())
            .finish_non_exhaustive()
    }
}

impl CameraRules {
    pub fn new(
        camera: CameraId,
        rules: Vec<RuleConfig>,
        gates: HashMap<usize, Gatekeeper>,
        utc_offset: FixedOffset,
    ) -> Self {
        Self {
            camera,
            utc_offset,
            set: RuleSet::new(rules),
            gates,
            open: HashMap::new(),
            last_views: HashMap::new(),
            media: HashMap::new(),
        }
    }

    /// Runs the rules on the camera's live tracks at `at`; returns the events.
    pub fn update(
        &mut self,
        ctx: &Context,
        at: Moment,
        views: &[TrackView],
        frame: Option<&OwnedRgb>,
    ) -> Vec<Event> {
        let (now, now_utc) = (at.mono, at.utc);
        for v in views {
            self.last_views.insert(v.id, (v.clone(), now));
        }
        self.last_views
            .retain(|_, (_, t)| now.saturating_sub(*t) < Duration::from_secs(120));
        let local = now_utc.with_timezone(&self.utc_offset).naive_local();
        let gates = &mut self.gates;
        let by_id: HashMap<u64, &TrackView> = views.iter().map(|v| (v.id, v)).collect();
        let mut gate = |rule: usize, objects: &[u64]| -> Gate {
            let Some(g) = gates.get_mut(&rule) else {
                return Gate::Allow(None);
            };
            if g.last_try
                .is_some_and(|t| now.saturating_sub(t) < GATE_INTERVAL)
            {
                return Gate::Deny;
            }
            g.last_try = Some(now);
            let Some(frame) = frame else {
                return Gate::Deny;
            };
            let Ok(img) = RgbView::new(
                frame.width,
                frame.height,
                frame.width as usize * 3,
                &frame.data,
            ) else {
                return Gate::Deny;
            };
            let (w, h) = (frame.width as f32, frame.height as f32);
            let crops: Vec<BBox> = objects
                .iter()
                .filter_map(|id| by_id.get(id))
                .map(|v| BBox::new(v.bbox.x * w, v.bbox.y * h, v.bbox.w * w, v.bbox.h * h))
                .filter(|b| b.w >= 2.0 && b.h >= 2.0)
                .collect();
            if crops.is_empty() {
                return Gate::Deny;
            }
            let Some(li) = g.classifier.labels().iter().position(|l| *l == g.label) else {
                return Gate::Deny;
            };
            match g.classifier.classify(&img, &crops) {
                Ok(scores) => {
                    let best = scores.iter().map(|s| s[li]).fold(0.0f32, f32::max);
                    if best >= g.min_score {
                        Gate::Allow(Some(best))
                    } else {
                        Gate::Deny
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "incident classifier failed");
                    Gate::Deny
                }
            }
        };
        let changes = self.set.update(now, local, views, &mut gate);
        changes
            .iter()
            .flat_map(|ch| self.emit(ctx, at, ch, frame))
            .collect()
    }

    /// Ends every open incident at `at` (the camera was removed or its rules changed).
    pub fn end_all(&mut self, ctx: &Context, at: Moment) -> Vec<Event> {
        let changes = self.set.end_all(at.mono);
        changes
            .iter()
            .flat_map(|ch| self.emit(ctx, at, ch, None))
            .collect()
    }

    /// The events of one rule change: the incident, and an alert at a high-severity start.
    fn emit(
        &mut self,
        ctx: &Context,
        at: Moment,
        ch: &Change,
        frame: Option<&OwnedRgb>,
    ) -> Vec<Event> {
        let (now, now_utc) = (at.mono, at.utc);
        let camera = &self.camera.clone();
        let rule = self.set.rule(ch.rule).clone();
        let started_utc = now_utc
            - chrono::Duration::from_std(now.saturating_sub(ch.started_at)).unwrap_or_default();
        let (id, started_utc) = *self
            .open
            .entry(ch.incident)
            .or_insert_with(|| (Uuid::now_v7(), started_utc));
        if ch.phase == IncidentPhase::Start {
            ctx.metrics
                .incidents
                .with_label_values(&[camera.as_str(), rule.kind.as_str()])
                .inc();
            if let Some(m) = ctx.save_scene(camera, &format!("incident-{id}"), now_utc, frame) {
                self.media.insert(ch.incident, m);
            }
        }
        let media = self.media.get(&ch.incident).cloned();
        let objects = ch
            .objects
            .iter()
            .filter_map(|oid| self.last_views.get(oid))
            .map(|(v, _)| IncidentObject {
                track_id: v.id,
                class: v.label.to_string(),
                bbox: round4(v.bbox),
            })
            .collect();
        let classifier = ch.score.and_then(|s| {
            self.gates.get(&ch.rule).map(|g| ClassifierScore {
                model: g.classifier.name().to_string(),
                label: g.label.clone(),
                score: (s * 1000.0).round() / 1000.0,
            })
        });
        let payload = IncidentEvent {
            lifecycle: ch.phase,
            incident_id: id,
            rule: rule.name.clone(),
            kind: rule.kind,
            severity: rule.severity,
            zone: rule.zone.clone(),
            line: rule.line,
            objects,
            started_at: started_utc,
            duration_ms: now.saturating_sub(ch.started_at).as_millis() as u64,
            count: ch.count,
            max_count: ch.max_count,
            direction: ch.crossing,
            crossings: ch.totals.map(|t| CrossingTotals {
                a_to_b: t[0],
                b_to_a: t[1],
            }),
            classifier,
            alarm: None,
            media: media.clone(),
        };
        let summary = summary(&rule, camera, &payload);
        let event = Event::new(
            &ctx.origin.site,
            &ctx.origin.node,
            Some(camera.clone()),
            now_utc,
            EventPayload::Incident(Box::new(payload)),
        );
        let mut out = Vec::new();
        if ch.phase == IncidentPhase::Start && rule.severity == Severity::High {
            let alert = Event::new(
                &ctx.origin.site,
                &ctx.origin.node,
                Some(camera.clone()),
                now_utc,
                EventPayload::Alert(Box::new(AlertEvent {
                    reason: AlertReason::Incident,
                    severity: Severity::High,
                    summary,
                    source_event_id: event.id,
                    plate: None,
                    hotlist: None,
                    pass_id: None,
                    vehicle: None,
                    incident_id: Some(id),
                    rule: Some(rule.name.clone()),
                    alarm: None,
                    cameras: Vec::new(),
                    media,
                })),
            );
            out.push(alert);
        }
        out.insert(0, event);
        if ch.phase == IncidentPhase::End {
            self.open.remove(&ch.incident);
            self.media.remove(&ch.incident);
        }
        out
    }
}

/// One line for an operator's screen.
fn summary(rule: &RuleConfig, camera: &CameraId, payload: &IncidentEvent) -> String {
    match (&payload.direction, payload.count) {
        (Some(d), _) => format!(
            "{} on {} ({}): crossing {}",
            rule.kind.as_str(),
            rule.name,
            camera,
            d
        ),
        (None, Some(n)) if n > 1 => format!(
            "{} on {} ({}): {} objects",
            rule.kind.as_str(),
            rule.name,
            camera,
            n
        ),
        _ => format!("{} on {} ({})", rule.kind.as_str(), rule.name, camera),
    }
}

/// Rules' view of a tracked object: normalised box and velocity.
pub fn view(o: &vigia_track::TrackedObject, width: u32, height: u32) -> TrackView {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    TrackView {
        id: o.id,
        label: o.label.clone(),
        bbox: o.bbox.normalised(width, height),
        velocity: [o.velocity.0 / w, o.velocity.1 / h],
    }
}
