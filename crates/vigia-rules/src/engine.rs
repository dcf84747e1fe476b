//! [`RuleSet`]: the rules of one camera, fed with the camera's tracks each analysed frame.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use vigia_core::BBox;
use vigia_core::event::{CrossingDirection, IncidentPhase};

use crate::config::{Anchor, RuleConfig, RuleKind};
use crate::debounce::{Debouncer, Episode, Gate};
use crate::geom::{Point, inside, side};

/// A track as rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackView {
    pub id: u64,
    pub label: Arc<str>,
    /// Normalised box.
    pub bbox: BBox,
    /// Normalised velocity: frame widths / heights per second.
    pub velocity: [f32; 2],
}

impl TrackView {
    fn anchor(&self, a: Anchor) -> Point {
        match a {
            Anchor::BottomCenter => [self.bbox.x + self.bbox.w / 2.0, self.bbox.y2()],
            Anchor::Center => [
                self.bbox.x + self.bbox.w / 2.0,
                self.bbox.y + self.bbox.h / 2.0,
            ],
        }
    }

    fn speed(&self) -> f32 {
        (self.velocity[0].powi(2) + self.velocity[1].powi(2)).sqrt()
    }
}

/// An incident change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Index of the rule in the set.
    pub rule: usize,
    /// Unique within the set; the same for start, updates and end.
    pub incident: u64,
    pub phase: IncidentPhase,
    /// Tracks involved now (at the end: the last ones).
    pub objects: Vec<u64>,
    pub started_at: Duration,
    pub at: Duration,
    /// Objects counted (zone rules).
    pub count: Option<u32>,
    pub max_count: Option<u32>,
    pub crossing: Option<CrossingDirection>,
    /// Crossings so far: `[a_to_b, b_to_a]`.
    pub totals: Option<[u64; 2]>,
    /// Classifier score, when the rule has a classifier.
    pub score: Option<f32>,
}

enum State {
    Zone(Debouncer),
    PerObject(BTreeMap<u64, Debouncer>),
    Line {
        sides: HashMap<u64, i8>,
        totals: [u64; 2],
    },
}

struct Entry {
    cfg: RuleConfig,
    classes: Vec<String>,
    min_duration: Duration,
    clear_after: Duration,
    state: State,
}

/// The rules of one camera.
pub struct RuleSet {
    rules: Vec<Entry>,
    next_incident: u64,
}

fn secs(v: Option<f32>, default: f32) -> Duration {
    Duration::from_secs_f32(v.unwrap_or(default).max(0.0))
}

impl RuleSet {
    /// Rules are expected to be valid ([`RuleConfig::validate`]).
    pub fn new(rules: Vec<RuleConfig>) -> Self {
        let rules = rules
            .into_iter()
            .map(|cfg| {
                let min_duration = match cfg.kind {
                    RuleKind::Loitering | RuleKind::StoppedVehicle => secs(cfg.dwell_secs, 0.0),
                    RuleKind::Crowding => secs(cfg.min_duration_secs, 3.0),
                    RuleKind::WrongWay => secs(cfg.min_duration_secs, 1.0),
                    _ => secs(cfg.min_duration_secs, 0.0),
                };
                let clear_after = secs(cfg.clear_after_secs, 2.0);
                let state = match cfg.kind {
                    RuleKind::ZoneIntrusion | RuleKind::Crowding => {
                        State::Zone(Debouncer::new(min_duration, clear_after))
                    }
                    RuleKind::LineCrossing => State::Line {
                        sides: HashMap::new(),
                        totals: [0, 0],
                    },
                    _ => State::PerObject(BTreeMap::new()),
                };
                Entry {
                    classes: cfg.watched_classes(),
                    cfg,
                    min_duration,
                    clear_after,
                    state,
                }
            })
            .collect();
        Self {
            rules,
            next_incident: 1,
        }
    }

    /// Ends every open incident at `now` (the camera was removed or its rules changed).
    pub fn end_all(&mut self, now: Duration) -> Vec<Change> {
        self.rules
            .iter_mut()
            .enumerate()
            .flat_map(|(ri, e)| {
                e.state
                    .end_all()
                    .into_iter()
                    .map(move |ep| episode_change(ri, now, IncidentPhase::End, &ep))
            })
            .collect()
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleConfig> {
        self.rules.iter().map(|e| &e.cfg)
    }

    pub fn rule(&self, i: usize) -> &RuleConfig {
        &self.rules[i].cfg
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Feeds the camera's live tracks at monotonic `now` and local wall time `local`.
    /// `gate` decides whether an incident may start (the classifier stage); rules without a
    /// classifier are not asked.
    pub fn update(
        &mut self,
        now: Duration,
        local: NaiveDateTime,
        tracks: &[TrackView],
        gate: &mut dyn FnMut(usize, &[u64]) -> Gate,
    ) -> Vec<Change> {
        let mut out = Vec::new();
        let next = &mut self.next_incident;
        for (ri, e) in self.rules.iter_mut().enumerate() {
            let change = |phase: IncidentPhase, ep: &Episode| episode_change(ri, now, phase, ep);
            if !e.cfg.active_at(local) {
                // Outside its schedule a rule ends what it had and watches nothing.
                out.extend(
                    e.state
                        .end_all()
                        .iter()
                        .map(|ep| change(IncidentPhase::End, ep)),
                );
                continue;
            }
            let has_gate = e.cfg.classifier.is_some();
            let mut ask = |objs: &[u64]| {
                if has_gate {
                    gate(ri, objs)
                } else {
                    Gate::Allow(None)
                }
            };
            let watched: Vec<&TrackView> = tracks
                .iter()
                .filter(|t| e.classes.iter().any(|c| **c == *t.label))
                .collect();
            let in_zone = |t: &TrackView| zone_holds(&e.cfg, t);
            match &mut e.state {
                State::Zone(d) => {
                    let ids: Vec<u64> = watched
                        .iter()
                        .filter(|t| in_zone(t))
                        .map(|t| t.id)
                        .collect();
                    let n = ids.len() as u32;
                    let cond = match e.cfg.kind {
                        RuleKind::Crowding => n >= e.cfg.min_count.unwrap_or(2),
                        _ => n > 0,
                    };
                    let mut ids = ids;
                    ids.sort_unstable();
                    if let Some((p, ep)) = d.step(now, cond, &ids, n, next, &mut ask) {
                        out.push(change(p, &ep));
                    }
                }
                State::PerObject(map) => {
                    let cos_tol = e.cfg.angle_tolerance_deg.unwrap_or(60.0).to_radians().cos();
                    let min_speed = e.cfg.min_speed.unwrap_or(0.05);
                    let max_speed = e.cfg.max_speed.unwrap_or(0.02);
                    let dir = e.cfg.direction.unwrap_or([0.0, 1.0]);
                    let dlen = (dir[0].powi(2) + dir[1].powi(2)).sqrt().max(f32::EPSILON);
                    let holds = |t: &TrackView| -> bool {
                        if !in_zone(t) {
                            return false;
                        }
                        match e.cfg.kind {
                            RuleKind::StoppedVehicle => t.speed() <= max_speed,
                            RuleKind::WrongWay => {
                                let s = t.speed();
                                s >= min_speed
                                    && (-(t.velocity[0] * dir[0] + t.velocity[1] * dir[1])
                                        / (s * dlen))
                                        >= cos_tol
                            }
                            _ => true,
                        }
                    };
                    let now_true: Vec<u64> =
                        watched.iter().filter(|t| holds(t)).map(|t| t.id).collect();
                    // Wrong way: a vehicle that stops (in traffic, at a light) and drives on
                    // the wrong way is one incident; only driving the allowed way, leaving
                    // the zone or being lost ends it.
                    let paused: Vec<u64> = if e.cfg.kind == RuleKind::WrongWay {
                        watched
                            .iter()
                            .filter(|t| in_zone(t) && t.speed() < min_speed)
                            .map(|t| t.id)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    for id in &now_true {
                        map.entry(*id)
                            .or_insert_with(|| Debouncer::new(e.min_duration, e.clear_after));
                    }
                    let ids: Vec<u64> = map.keys().copied().collect();
                    for id in ids {
                        let d = map.get_mut(&id).expect("present");
                        let cond = now_true.contains(&id) || (d.active() && paused.contains(&id));
                        if let Some((p, ep)) = d.step(now, cond, &[id], 1, next, &mut ask) {
                            out.push(change(p, &ep));
                        }
                        if d.idle() {
                            map.remove(&id);
                        }
                    }
                }
                State::Line { sides, totals } => {
                    let line = Line {
                        rule: ri,
                        cfg: &e.cfg,
                        sides,
                        totals,
                    };
                    out.extend(line.step(&watched, now, next));
                }
            }
        }
        out
    }
}

/// A line-crossing rule's state for one step.
struct Line<'a> {
    rule: usize,
    cfg: &'a RuleConfig,
    sides: &'a mut HashMap<u64, i8>,
    totals: &'a mut [u64; 2],
}

impl Line<'_> {
    /// Each watched track that changed sides is one crossing: a start and an end at once.
    fn step(self, watched: &[&TrackView], now: Duration, next: &mut u64) -> Vec<Change> {
        let mut out = Vec::new();
        let [a, b] = self.cfg.line.expect("validated");
        let hysteresis = self.cfg.hysteresis.unwrap_or(0.01);
        let mut seen = Vec::new();
        for t in watched {
            seen.push(t.id);
            let (dist, along) = side(a, b, t.anchor(self.cfg.anchor));
            if !(-0.05..=1.05).contains(&along) || dist.abs() < hysteresis {
                continue;
            }
            let s: i8 = if dist > 0.0 { 1 } else { -1 };
            if let Some(prev) = self.sides.insert(t.id, s)
                && prev != s
            {
                let crossing = if prev > 0 {
                    CrossingDirection::AToB
                } else {
                    CrossingDirection::BToA
                };
                self.totals[usize::from(crossing == CrossingDirection::BToA)] += 1;
                let incident = *next;
                *next += 1;
                for phase in [IncidentPhase::Start, IncidentPhase::End] {
                    out.push(Change {
                        rule: self.rule,
                        incident,
                        phase,
                        objects: vec![t.id],
                        started_at: now,
                        at: now,
                        count: None,
                        max_count: None,
                        crossing: Some(crossing),
                        totals: Some(*self.totals),
                        score: None,
                    });
                }
            }
        }
        self.sides.retain(|id, _| seen.contains(id));
        out
    }
}

/// The change of a zone or per-object rule's episode.
fn episode_change(rule: usize, now: Duration, phase: IncidentPhase, ep: &Episode) -> Change {
    Change {
        rule,
        incident: ep.incident,
        phase,
        objects: ep.objects.clone(),
        started_at: ep.started_at,
        at: now,
        count: Some(ep.count),
        max_count: Some(ep.max_count),
        crossing: None,
        totals: None,
        score: ep.score,
    }
}

impl State {
    /// Ends every open episode (a rule outside its schedule) and forgets line sides.
    fn end_all(&mut self) -> Vec<Episode> {
        match self {
            State::Zone(d) => d.force_end().into_iter().collect(),
            State::PerObject(m) => std::mem::take(m)
                .into_values()
                .filter_map(|mut d| d.force_end())
                .collect(),
            State::Line { sides, .. } => {
                sides.clear();
                Vec::new()
            }
        }
    }
}

/// Whether the track's anchor is inside the rule's zone (always, for a rule without one).
fn zone_holds(cfg: &RuleConfig, t: &TrackView) -> bool {
    cfg.zone
        .as_deref()
        .is_none_or(|z| inside(z, t.anchor(cfg.anchor)))
}
