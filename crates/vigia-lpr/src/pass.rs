//! One read per vehicle pass.
//!
//! The binary groups plate observations into passes by a key (the vehicle track the plate
//! lies in, or a plate-only track) and feeds them here. A pass's reading is consolidated by
//! voting: first the plate length (weighted by read likelihood), then each character
//! (weighted by read likelihood × character probability). Lifecycle:
//! - `new` once a pass has `min_reads` reads (or, at its end, a single read of at least
//!   `single_read_min_likelihood`);
//! - `update` when the consolidated number changes after `new`;
//! - `end` after `end_after_ms` without a read or a sight of the pass's vehicle, with the
//!   final consolidation, or at once when the reads show the next vehicle (below).
//!
//! A pass follows a vehicle, not a track: once it has `min_reads` reads, reads that
//! disagree with its reading (a different plate, not a misread) are held aside, and when
//! `min_reads` of them agree the pass ends and they open the next pass. Vehicles queueing
//! at the same spot thus give one pass each even when the tracker sees one long track.
//!
//! A pass whose number is an active pass's, or that of a pass that ended less than
//! `dedup_window_secs` ago on this camera, or either cut short (`W4X4WP` for `VW4X4WP`: a
//! plate filling the picture, its first character outside the box), is suppressed: no
//! second event for the same plate. A reading one character off is *not* suppressed:
//! fleets register plates in sequence (`EMK001`, `EMK002` may pass within a minute). But a
//! pass whose reading is unsure (none of its reads of that number reaches
//! `single_read_min_likelihood`) and could be a misread of such a pass's ([`disagree`]
//! says no) is held: announced once a read of it is sure, dropped at its end if none is
//! (a blurred second track of the same vehicle read `RK841AL` at 0.62 beside `RK891AU` at
//! 0.98).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use vigia_core::FieldError;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use vigia_core::BBox;
use vigia_core::event::{Lifecycle, Travel};

use crate::grammar::{Grammar, PlateColor, PlateText};

/// `[lpr.pass]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassConfig {
    /// Reads needed before a pass is announced (`new`). Default 2.
    pub min_reads: u32,
    /// A pass ends after this long without a read or a sight of its vehicle. Default
    /// 700 ms (3 analysed frames at 5 fps): the final read comes within a second of the
    /// vehicle leaving.
    pub end_after_ms: u64,
    /// No second event for the same plate on the same camera within this window.
    /// Default 60 s.
    pub dedup_window_secs: u64,
    /// A pass with fewer than `min_reads` reads is still reported at its end when its
    /// reading is at least this likely. Default 0.9.
    pub single_read_min_likelihood: f32,
    /// Reads kept per pass for voting (the most likely ones). Default 64.
    pub max_reads_per_pass: usize,
    /// A pass is *settled* once it has `settled_min_reads` reads voting every character
    /// at least `settled_likelihood` and no disagreeing read held aside; while every
    /// vehicle in view has a settled pass, the plate reader runs on one analysed frame in
    /// `settled_read_every` (a check read: one that disagrees unsettles the pass). 1 reads
    /// every frame. Defaults 4, 3, 0.9.
    pub settled_read_every: u32,
    pub settled_min_reads: u32,
    pub settled_likelihood: f32,
    /// Whether the plate detector keeps reading vehicles with a settled pass while others
    /// in view are not settled. Default false: they are left out of the scanned region
    /// (read on the check frames only, one in `settled_read_every`).
    pub read_settled_vehicles: bool,
}

impl Default for PassConfig {
    fn default() -> Self {
        Self {
            min_reads: 2,
            end_after_ms: 700,
            dedup_window_secs: 60,
            single_read_min_likelihood: 0.9,
            max_reads_per_pass: 64,
            settled_read_every: 4,
            settled_min_reads: 3,
            settled_likelihood: 0.9,
            read_settled_vehicles: false,
        }
    }
}

impl PassConfig {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        if self.min_reads == 0 {
            e.push(FieldError::new(
                "min_reads",
                "must be at least 1".to_string(),
            ));
        }
        if self.end_after_ms == 0 {
            e.push(FieldError::new("end_after_ms", "must be > 0".to_string()));
        }
        if !(0.0..=1.0).contains(&self.single_read_min_likelihood) {
            e.push(FieldError::new(
                "single_read_min_likelihood",
                "must be in [0, 1]".to_string(),
            ));
        }
        if self.settled_read_every == 0 {
            e.push(FieldError::new(
                "settled_read_every",
                "must be at least 1 (1: read every frame)".to_string(),
            ));
        }
        if !(0.0..=1.0).contains(&self.settled_likelihood) {
            e.push(FieldError::new(
                "settled_likelihood",
                "must be in [0, 1]".to_string(),
            ));
        }
        if self.max_reads_per_pass == 0 {
            e.push(FieldError::new(
                "max_reads_per_pass",
                "must be at least 1".to_string(),
            ));
        }
        e
    }
}

/// The vehicle a plate was seen on.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleRef {
    pub track_id: u64,
    pub class: Arc<str>,
    pub likelihood: f32,
    pub bbox: BBox,
}

/// One plate read in one frame.
#[derive(Debug, Clone)]
pub struct Observation<M> {
    pub at: Duration,
    pub at_utc: DateTime<Utc>,
    pub plate: PlateText,
    pub color: Option<PlateColor>,
    pub bbox: BBox,
    pub vehicle: Option<VehicleRef>,
    /// Whatever the caller attaches (snapshot bytes, frame size, ...).
    pub media: M,
}

/// A reading candidate of a pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub number: String,
    /// Share of the pass's read weight behind this number.
    pub likelihood: f32,
    pub reads: u32,
}

/// A pass's consolidated reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsolidatedRead {
    pub number: String,
    pub format: Option<Arc<str>>,
    pub country: Option<Arc<str>>,
    pub plate_type: Option<Arc<str>>,
    pub color: Option<PlateColor>,
    pub likelihood: f32,
    pub char_likelihoods: Vec<f32>,
    pub candidates: Vec<Candidate>,
    pub reads: u32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// What a pass reports.
#[derive(Debug, Clone)]
pub struct PassEvent<M> {
    pub pass_id: u64,
    pub lifecycle: Lifecycle,
    pub read: ConsolidatedRead,
    /// The most likely read of the consolidated number (for its snapshot and boxes).
    pub best: Observation<M>,
    /// The plate's box in the pass's first and latest reads (for the direction of travel).
    pub first_bbox: BBox,
    pub last_bbox: BBox,
    /// Time between the first and the latest read.
    pub observed_for: Duration,
}

/// A plate must grow or shrink by this factor to count as approaching / receding.
const SCALE_MOTION: f32 = 1.2;
/// Or move this far across the image (fraction of the frame) to count as crossing it.
const SHIFT_MOTION: f32 = 0.05;
/// A plate must be watched this long without moving to count as stationary.
const STATIONARY_AFTER: Duration = Duration::from_secs(2);

/// The direction of travel from a plate's first and latest boxes in a `width` x `height`
/// frame: approaching / receding when its size changed by 20 % or more (the usual LPR view,
/// vehicles driving towards or away from the camera), else left / right / up / down when it
/// moved 5 % of the frame or more, else stationary once watched for 2 s; `None` before
/// that (too early to tell).
pub fn direction(
    first: BBox,
    last: BBox,
    observed_for: Duration,
    width: u32,
    height: u32,
) -> Option<vigia_core::event::Direction> {
    let (fx, fy) = first.center();
    let (lx, ly) = last.center();
    let dx = (lx - fx) / width.max(1) as f32;
    let dy = (ly - fy) / height.max(1) as f32;
    let scale = if first.h > 0.0 { last.h / first.h } else { 1.0 };
    let travel = if scale >= SCALE_MOTION {
        Travel::Approaching
    } else if scale <= 1.0 / SCALE_MOTION {
        Travel::Receding
    } else if dx.abs().max(dy.abs()) < SHIFT_MOTION {
        if observed_for < STATIONARY_AFTER {
            return None;
        }
        Travel::Stationary
    } else if dx.abs() >= dy.abs() {
        if dx > 0.0 {
            Travel::Right
        } else {
            Travel::Left
        }
    } else if dy > 0.0 {
        Travel::Down
    } else {
        Travel::Up
    };
    let r = |v: f32| (v * 1000.0).round() / 1000.0;
    Some(vigia_core::event::Direction {
        travel,
        dx: r(dx),
        dy: r(dy),
        scale: r(scale),
    })
}

struct Pass<M> {
    id: u64,
    /// The most likely reads (at most `max_reads_per_pass`, not in time order).
    obs: Vec<Observation<M>>,
    /// Reads that disagree with the pass's reading (another vehicle's?), held aside.
    pending: Vec<Observation<M>>,
    /// Time and plate box of the first and the latest read (kept apart from `obs`, which
    /// drops unlikely reads), for the direction of travel.
    first: (Duration, BBox),
    latest: (Duration, BBox),
    total_reads: u32,
    first_seen: DateTime<Utc>,
    last_seen: Duration,
    announced: Option<String>,
    suppressed: bool,
    /// Read with confidence (see [`PassConfig::settled_read_every`]).
    settled: bool,
    /// The voted number as of the latest read that voted (kept, so a read held aside is
    /// compared without voting again).
    reading: String,
}

/// Passes of one camera.
pub struct PassTracker<M> {
    cfg: PassConfig,
    grammar: Arc<Grammar>,
    passes: HashMap<u64, Pass<M>>,
    /// Numbers of passes that ended, with when.
    recent: VecDeque<(String, Duration)>,
    next_id: u64,
}

impl<M: Clone> PassTracker<M> {
    pub fn new(cfg: PassConfig, grammar: Arc<Grammar>) -> Self {
        Self {
            cfg,
            grammar,
            passes: HashMap::new(),
            recent: VecDeque::new(),
            next_id: 1,
        }
    }

    /// Passes in progress.
    pub fn active(&self) -> usize {
        self.passes.len()
    }

    /// Adds a read to the pass `key`.
    ///
    /// A read that disagrees with the pass's reading (see [`disagree`]) once the pass has
    /// `min_reads` reads does not vote: it is held aside, and when `min_reads` such reads
    /// agree with each other the pass ends and they start a new one under the same key.
    /// That is the next vehicle at the same spot (a queue at a gate, stop-and-go traffic),
    /// whose track the vehicle tracker may well have carried over.
    pub fn observe(&mut self, key: u64, obs: Observation<M>) -> Vec<PassEvent<M>> {
        let now = obs.at;
        let mut events = self.tick(now);
        let min_reads = self.cfg.min_reads as usize;
        if let Some(pass) = self.passes.get_mut(&key)
            && pass.obs.len() >= min_reads
            && disagree(&pass.reading, &obs.plate.number)
        {
            if pass
                .pending
                .first()
                .is_some_and(|p| disagree(&p.plate.number, &obs.plate.number))
            {
                pass.pending.clear();
            }
            pass.pending.push(obs);
            pass.settled = false;
            if pass.pending.len() >= min_reads {
                let mut old = self.passes.remove(&key).expect("present");
                let pending = std::mem::take(&mut old.pending);
                events.extend(self.finish(key, &old, now));
                for o in pending {
                    events.extend(self.add(key, o));
                }
            }
            return events;
        }
        events.extend(self.add(key, obs));
        events
    }

    /// Whether the pass `key` is settled: read with confidence, nothing disagreeing held
    /// aside (its vehicle's plate need not be read on every frame).
    pub fn is_settled(&self, key: u64) -> bool {
        self.passes.get(&key).is_some_and(|p| p.settled)
    }

    /// The vehicle of pass `key` is still in view at `now` (its plate may be unreadable for
    /// a moment): the pass stays open.
    pub fn touch(&mut self, key: u64, now: Duration) {
        if let Some(p) = self.passes.get_mut(&key) {
            p.last_seen = p.last_seen.max(now);
        }
    }

    /// Adds a read that votes in the pass `key` (opening it if need be).
    fn add(&mut self, key: u64, obs: Observation<M>) -> Vec<PassEvent<M>> {
        let now = obs.at;
        let mut events = Vec::new();
        let cap = self.cfg.max_reads_per_pass;
        let id = self.next_id;
        let pass = self.passes.entry(key).or_insert_with(|| Pass {
            id,
            obs: Vec::new(),
            pending: Vec::new(),
            first: (obs.at, obs.bbox),
            latest: (obs.at, obs.bbox),
            total_reads: 0,
            first_seen: obs.at_utc,
            last_seen: now,
            announced: None,
            suppressed: false,
            settled: false,
            reading: String::new(),
        });
        if pass.id == id {
            self.next_id += 1;
        }
        pass.last_seen = pass.last_seen.max(now);
        pass.total_reads += 1;
        pass.latest = (obs.at, obs.bbox);
        pass.obs.push(obs);
        if pass.obs.len() > cap {
            // Keep the most likely reads.
            let worst = pass
                .obs
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.plate.likelihood.total_cmp(&b.1.plate.likelihood))
                .map(|(i, _)| i)
                .expect("non-empty");
            pass.obs.swap_remove(worst);
        }
        let read = consolidate(pass, &self.grammar);
        pass.reading.clone_from(&read.number);
        // Every character sure, not only their mean: one character split between two
        // readings (`M` and `N` in turn) keeps the pass read until the votes tell.
        pass.settled = pass.pending.is_empty()
            && pass.obs.len() >= self.cfg.settled_min_reads as usize
            && !read.char_likelihoods.is_empty()
            && read
                .char_likelihoods
                .iter()
                .all(|&c| c >= self.cfg.settled_likelihood);
        if pass.suppressed {
            return events;
        }
        match pass.announced.clone() {
            None if pass.obs.len() as u32 >= self.cfg.min_reads => {
                let duplicate = self.is_duplicate(key, &read.number, now);
                let doubtful = !duplicate && self.unsure_near_another(key, &read.number, now);
                let pass = self.passes.get_mut(&key).expect("present");
                if duplicate {
                    tracing::debug!(number = %read.number, "plate pass suppressed as a duplicate");
                    pass.suppressed = true;
                } else if doubtful {
                    tracing::debug!(number = %read.number, "plate pass held: unsure, near another");
                } else {
                    pass.announced = Some(read.number.clone());
                    events.push(event(pass, Lifecycle::New, read));
                }
            }
            Some(prev) if prev != read.number => {
                let pass = self.passes.get_mut(&key).expect("present");
                pass.announced = Some(read.number.clone());
                events.push(event(pass, Lifecycle::Update, read));
            }
            _ => {}
        }
        events
    }

    fn is_duplicate(&self, key: u64, number: &str, now: Duration) -> bool {
        self.another_reading(key, now, |n| same_or_cut_short(n, number))
    }

    /// Whether pass `key` has no sure read of `number` (the vote's likelihood is pulled
    /// down by the reads from afar, so each read is asked) and `number` could be a misread
    /// of another pass's reading.
    fn unsure_near_another(&self, key: u64, number: &str, now: Duration) -> bool {
        let sure = self.passes[&key].obs.iter().any(|o| {
            o.plate.number == number && o.plate.likelihood >= self.cfg.single_read_min_likelihood
        });
        !sure && self.another_reading(key, now, |n| !disagree(n, number))
    }

    /// Whether `matches` holds for the announced reading of an active pass other than `key`
    /// or for one that ended within `dedup_window_secs`.
    fn another_reading(&self, key: u64, now: Duration, matches: impl Fn(&str) -> bool) -> bool {
        let window = Duration::from_secs(self.cfg.dedup_window_secs);
        self.passes.iter().any(|(k, p)| {
            *k != key && !p.suppressed && p.announced.as_deref().is_some_and(&matches)
        }) || self
            .recent
            .iter()
            .any(|(n, t)| matches(n) && now.saturating_sub(*t) <= window)
    }

    /// The events of a pass that is over (already removed from `passes`).
    fn finish(&mut self, key: u64, pass: &Pass<M>, now: Duration) -> Vec<PassEvent<M>> {
        if pass.suppressed {
            return Vec::new();
        }
        let read = consolidate(pass, &self.grammar);
        match &pass.announced {
            Some(_) => {
                self.recent.push_back((read.number.clone(), now));
                vec![event(pass, Lifecycle::End, read)]
            }
            None if read.likelihood >= self.cfg.single_read_min_likelihood
                && !self.is_duplicate(key, &read.number, now) =>
            {
                self.recent.push_back((read.number.clone(), now));
                vec![
                    event(pass, Lifecycle::New, read.clone()),
                    event(pass, Lifecycle::End, read),
                ]
            }
            None => Vec::new(),
        }
    }

    /// Ends passes without a read (or a sight of their vehicle) for `end_after_ms`; call
    /// it on a timer too. Reads a pass held aside as another vehicle's start a new pass.
    /// Ends every open pass at `now` (the camera was removed or reconfigured): each gets
    /// its final read; reads held aside for a next pass are dropped.
    pub fn end_all(&mut self, now: Duration) -> Vec<PassEvent<M>> {
        let mut keys: Vec<u64> = self.passes.keys().copied().collect();
        keys.sort_unstable();
        let mut events = Vec::new();
        for key in keys {
            let pass = self.passes.remove(&key).expect("present");
            events.extend(self.finish(key, &pass, now));
        }
        events
    }

    pub fn tick(&mut self, now: Duration) -> Vec<PassEvent<M>> {
        let end_after = Duration::from_millis(self.cfg.end_after_ms);
        let window = Duration::from_secs(self.cfg.dedup_window_secs);
        while self
            .recent
            .front()
            .is_some_and(|(_, t)| now.saturating_sub(*t) > window)
        {
            self.recent.pop_front();
        }
        let mut ended: Vec<u64> = self
            .passes
            .iter()
            .filter(|(_, p)| now.saturating_sub(p.last_seen) > end_after)
            .map(|(k, _)| *k)
            .collect();
        ended.sort_unstable();
        let mut events = Vec::new();
        for key in ended {
            let mut pass = self.passes.remove(&key).expect("present");
            let pending = std::mem::take(&mut pass.pending);
            events.extend(self.finish(key, &pass, now));
            for o in pending
                .into_iter()
                .filter(|o| now.saturating_sub(o.at) <= end_after)
            {
                events.extend(self.add(key, o));
            }
        }
        events
    }
}

/// Whether two readings are of different plates rather than misreads of one (see
/// [`vigia_core::text::different_plates`]).
pub fn disagree(a: &str, b: &str) -> bool {
    vigia_core::text::different_plates(a, b)
}

/// Whether `a` and `b` are one reading, or one is the other with one or two characters cut
/// off its ends (at least 4 left): a second track of the same plate read partly.
fn same_or_cut_short(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short == long || (short.len() >= 4 && long.len() - short.len() <= 2 && long.contains(short))
}

fn event<M: Clone>(pass: &Pass<M>, lifecycle: Lifecycle, read: ConsolidatedRead) -> PassEvent<M> {
    let best = pass
        .obs
        .iter()
        .filter(|o| o.plate.number == read.number)
        .max_by(|a, b| a.plate.likelihood.total_cmp(&b.plate.likelihood))
        .or_else(|| {
            pass.obs
                .iter()
                .max_by(|a, b| a.plate.likelihood.total_cmp(&b.plate.likelihood))
        })
        .expect("a pass has reads")
        .clone();
    PassEvent {
        pass_id: pass.id,
        lifecycle,
        read,
        best,
        first_bbox: pass.first.1,
        last_bbox: pass.latest.1,
        observed_for: pass.latest.0.saturating_sub(pass.first.0),
    }
}

fn consolidate<M>(pass: &Pass<M>, grammar: &Grammar) -> ConsolidatedRead {
    let obs = &pass.obs;
    // 1. Length.
    let mut by_len: HashMap<usize, f32> = HashMap::new();
    for o in obs {
        *by_len.entry(o.plate.number.len()).or_default() += o.plate.likelihood;
    }
    let len = by_len
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
        .map_or(0, |(l, _)| *l);
    // 2. Characters.
    let same_len: Vec<&Observation<M>> =
        obs.iter().filter(|o| o.plate.number.len() == len).collect();
    let total: f32 = same_len
        .iter()
        .map(|o| o.plate.likelihood)
        .sum::<f32>()
        .max(f32::EPSILON);
    let mut number = String::with_capacity(len);
    let mut char_likelihoods = Vec::with_capacity(len);
    for i in 0..len {
        let mut votes: Vec<(char, f32)> = Vec::new();
        for o in &same_len {
            let ch = o.plate.number.as_bytes()[i] as char;
            let w = o.plate.likelihood * o.plate.char_likelihoods.get(i).copied().unwrap_or(0.0);
            match votes.iter_mut().find(|v| v.0 == ch) {
                Some(v) => v.1 += w,
                None => votes.push((ch, w)),
            }
        }
        let (ch, w) = votes
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .unwrap_or(('?', 0.0));
        number.push(ch);
        char_likelihoods.push((w / total).clamp(0.0, 1.0));
    }
    let likelihood = if char_likelihoods.is_empty() {
        0.0
    } else {
        char_likelihoods.iter().sum::<f32>() / char_likelihoods.len() as f32
    };
    // Candidates: whole numbers by weight.
    let all: f32 = obs
        .iter()
        .map(|o| o.plate.likelihood)
        .sum::<f32>()
        .max(f32::EPSILON);
    let mut candidates: Vec<Candidate> = Vec::new();
    for o in obs {
        match candidates.iter_mut().find(|c| c.number == o.plate.number) {
            Some(c) => {
                c.likelihood += o.plate.likelihood / all;
                c.reads += 1;
            }
            None => candidates.push(Candidate {
                number: o.plate.number.clone(),
                likelihood: o.plate.likelihood / all,
                reads: 1,
            }),
        }
    }
    candidates.sort_by(|a, b| b.likelihood.total_cmp(&a.likelihood));
    candidates.truncate(5);
    // Colour: the most frequent estimate.
    let mut colors: Vec<(PlateColor, u32)> = Vec::new();
    for c in obs.iter().filter_map(|o| o.color) {
        match colors.iter_mut().find(|x| x.0 == c) {
            Some(x) => x.1 += 1,
            None => colors.push((c, 1)),
        }
    }
    let color = colors.iter().max_by_key(|c| c.1).map(|c| c.0);
    let format = grammar.classify(&number, color);
    ConsolidatedRead {
        format: format.map(|f| f.name.clone()),
        country: format.map(|f| f.country.clone()),
        plate_type: format.and_then(|f| f.plate_type.clone()),
        color,
        number,
        likelihood,
        char_likelihoods,
        candidates,
        reads: pass.total_reads,
        first_seen: pass.first_seen,
        last_seen: obs
            .iter()
            .map(|o| o.at_utc)
            .max()
            .unwrap_or(pass.first_seen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grammar() -> Arc<Grammar> {
        Arc::new(Grammar::load(&["CO".to_string()], &[] as &[&std::path::Path], 4, 10).unwrap())
    }

    fn obs(t_ms: u64, number: &str, p: f32) -> Observation<u32> {
        Observation {
            at: Duration::from_millis(t_ms),
            at_utc: DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000 + t_ms as i64)
                .unwrap(),
            plate: PlateText {
                number: number.into(),
                raw: number.into(),
                format: None,
                country: None,
                plate_type: None,
                char_likelihoods: vec![p; number.len()],
                likelihood: p,
            },
            color: Some(PlateColor::Yellow),
            bbox: BBox::new(0.0, 0.0, 10.0, 5.0),
            vehicle: None,
            media: t_ms as u32,
        }
    }

    /// The events of one pass of `number`: new, then end.
    fn one_pass(number: &str) -> Vec<(Lifecycle, String)> {
        vec![
            (Lifecycle::New, number.to_string()),
            (Lifecycle::End, number.to_string()),
        ]
    }

    fn kinds(ev: &[PassEvent<u32>]) -> Vec<(Lifecycle, String)> {
        ev.iter()
            .map(|e| (e.lifecycle, e.read.number.clone()))
            .collect()
    }

    #[test]
    fn direction_of_travel_from_the_first_and_latest_plate_boxes() {
        let b = |x: f32, y: f32, h: f32| BBox::new(x, y, h * 4.0, h);
        let long = Duration::from_secs(3);
        let d = |a, z| direction(a, z, long, 1000, 500).unwrap().travel;
        assert_eq!(
            d(b(100.0, 100.0, 20.0), b(100.0, 150.0, 30.0)),
            Travel::Approaching
        );
        assert_eq!(
            d(b(100.0, 100.0, 30.0), b(100.0, 80.0, 20.0)),
            Travel::Receding
        );
        assert_eq!(
            d(b(100.0, 100.0, 20.0), b(300.0, 110.0, 20.0)),
            Travel::Right
        );
        assert_eq!(
            d(b(300.0, 100.0, 20.0), b(100.0, 100.0, 20.0)),
            Travel::Left
        );
        assert_eq!(d(b(100.0, 300.0, 20.0), b(110.0, 100.0, 20.0)), Travel::Up);
        assert_eq!(
            d(b(100.0, 100.0, 20.0), b(110.0, 105.0, 21.0)),
            Travel::Stationary
        );
        let r = direction(
            b(100.0, 100.0, 20.0),
            b(300.0, 100.0, 20.0),
            long,
            1000,
            500,
        )
        .unwrap();
        assert_eq!((r.dx, r.dy, r.scale), (0.2, 0.0, 1.0));
        // Two reads 200 ms apart that barely moved: too early to say.
        let early = Duration::from_millis(200);
        assert!(
            direction(
                b(100.0, 100.0, 20.0),
                b(102.0, 100.0, 20.0),
                early,
                1000,
                500
            )
            .is_none()
        );
        let moving = direction(
            b(100.0, 100.0, 20.0),
            b(200.0, 100.0, 20.0),
            early,
            1000,
            500,
        );
        assert_eq!(moving.unwrap().travel, Travel::Right);
    }

    #[test]
    fn a_pass_votes_character_by_character_and_reports_once() {
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        let mut ev = Vec::new();
        // Frames of one car: mostly EMK001, one misread each at a different position.
        for (i, (n, p)) in [
            ("EMK001", 0.9),
            ("EMK00I", 0.6),
            ("FMK001", 0.5),
            ("EMK001", 0.95),
            ("EMX001", 0.4),
        ]
        .iter()
        .enumerate()
        {
            ev.extend(t.observe(7, obs(i as u64 * 200, n, *p)));
        }
        assert_eq!(kinds(&ev), vec![(Lifecycle::New, "EMK001".to_string())]);
        let end = t.tick(Duration::from_millis(800 + 2001));
        assert_eq!(kinds(&end), vec![(Lifecycle::End, "EMK001".to_string())]);
        let r = &end[0].read;
        assert_eq!(r.reads, 5);
        assert_eq!(r.format.as_deref(), Some("co_particular"));
        assert_eq!(r.country.as_deref(), Some("CO"));
        assert_eq!(r.candidates[0].number, "EMK001");
        assert_eq!(r.candidates[0].reads, 2);
        assert!(
            r.likelihood > 0.5 && r.likelihood <= 1.0,
            "{}",
            r.likelihood
        );
        // The snapshot comes from the most likely read of the final number.
        assert_eq!(end[0].best.media, 600);
        assert_eq!(t.active(), 0);
    }

    #[test]
    fn a_changed_reading_is_an_update() {
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        let mut ev = t.observe(1, obs(0, "ABC123", 0.6));
        ev.extend(t.observe(1, obs(200, "ABC123", 0.6)));
        for i in 2..6 {
            ev.extend(t.observe(1, obs(i * 200, "ABC128", 0.9)));
        }
        assert_eq!(
            kinds(&ev),
            vec![
                (Lifecycle::New, "ABC123".to_string()),
                (Lifecycle::Update, "ABC128".to_string())
            ]
        );
    }

    #[test]
    fn the_same_plate_again_within_the_window_is_suppressed() {
        let cfg = PassConfig {
            dedup_window_secs: 30,
            ..PassConfig::default()
        };
        let mut t = PassTracker::new(cfg, grammar());
        let mut ev = Vec::new();
        for i in 0..3 {
            ev.extend(t.observe(1, obs(i * 200, "EMK001", 0.9)));
        }
        ev.extend(t.tick(Duration::from_millis(5000)));
        // The same car seen again 10 s later (a new track): no second event.
        for i in 0..3 {
            ev.extend(t.observe(2, obs(15_000 + i * 200, "EMK001", 0.9)));
        }
        ev.extend(t.tick(Duration::from_millis(20_000)));
        // It cut short on another track (the first character outside the box): no event.
        for i in 0..3 {
            ev.extend(t.observe(4, obs(25_000 + i * 200, "MK001", 0.9)));
        }
        ev.extend(t.tick(Duration::from_millis(30_000)));
        // And again after the window: reported.
        for i in 0..3 {
            ev.extend(t.observe(3, obs(60_000 + i * 200, "EMK001", 0.9)));
        }
        ev.extend(t.tick(Duration::from_millis(70_000)));
        // The next plate of a fleet registered in sequence, within the window: reported.
        for i in 0..3 {
            ev.extend(t.observe(5, obs(71_000 + i * 200, "EMK002", 0.9)));
        }
        ev.extend(t.tick(Duration::from_millis(75_000)));
        let n: Vec<_> = kinds(&ev).into_iter().map(|k| k.0).collect();
        assert_eq!(
            n,
            vec![
                Lifecycle::New,
                Lifecycle::End,
                Lifecycle::New,
                Lifecycle::End,
                Lifecycle::New,
                Lifecycle::End
            ]
        );
    }

    #[test]
    fn a_reading_cut_short_is_the_same_plate_one_off_is_not() {
        assert!(same_or_cut_short("VW4X4WP", "W4X4WP"));
        assert!(same_or_cut_short("MK00", "EMK001"));
        assert!(same_or_cut_short("EMK001", "EMK001"));
        assert!(!same_or_cut_short("EMK001", "EMK002"));
        assert!(!same_or_cut_short("BSE5579", "SES579"));
        assert!(!same_or_cut_short("EMK001", "K00"), "too little left");
        assert!(!same_or_cut_short("EMK001XY", "K001X"), "three cut off");
    }

    #[test]
    fn an_unsure_reading_near_another_pass_waits_until_sure() {
        // A second track of the same vehicle, blurred: two unsure reads two characters off
        // the first pass's reading give no pass at all.
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        let mut ev = Vec::new();
        for i in 0..3 {
            ev.extend(t.observe(1, obs(i * 200, "RK891AU", 0.98)));
        }
        ev.extend(t.observe(2, obs(700, "RK841AL", 0.6)));
        ev.extend(t.observe(2, obs(900, "RK841AL", 0.6)));
        ev.extend(t.tick(Duration::from_millis(10_000)));
        assert_eq!(kinds(&ev), one_pass("RK891AU"));
        // The next vehicle of a fleet (`EMK002` after `EMK001`), unsure while far, is
        // announced as soon as its reading is sure; a sure reading is announced at once.
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        let mut ev = Vec::new();
        for i in 0..3 {
            ev.extend(t.observe(1, obs(i * 200, "EMK001", 0.98)));
        }
        ev.extend(t.observe(2, obs(700, "EMK002", 0.6)));
        ev.extend(t.observe(2, obs(900, "EMK002", 0.6)));
        assert_eq!(kinds(&ev), vec![(Lifecycle::New, "EMK001".to_string())]);
        for i in 0..4 {
            ev.extend(t.observe(2, obs(1100 + i * 200, "EMK002", 0.99)));
        }
        ev.extend(t.observe(3, obs(2000, "EMK003", 0.97)));
        ev.extend(t.observe(3, obs(2200, "EMK003", 0.97)));
        ev.extend(t.tick(Duration::from_millis(10_000)));
        let news: Vec<_> = kinds(&ev)
            .into_iter()
            .filter(|(l, _)| *l == Lifecycle::New)
            .map(|(_, n)| n)
            .collect();
        assert_eq!(news, ["EMK001", "EMK002", "EMK003"]);
    }

    #[test]
    fn two_tracks_of_one_plate_at_once_give_one_pass() {
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        let mut ev = Vec::new();
        for i in 0..3 {
            ev.extend(t.observe(1, obs(i * 200, "EMK001", 0.9)));
            ev.extend(t.observe(2, obs(i * 200 + 100, "EMK001", 0.9)));
        }
        ev.extend(t.tick(Duration::from_millis(10_000)));
        assert_eq!(kinds(&ev), one_pass("EMK001"));
    }

    #[test]
    fn a_single_read_counts_only_when_sure() {
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        assert!(t.observe(1, obs(0, "EMK001", 0.95)).is_empty());
        assert!(t.observe(2, obs(0, "XYZ987", 0.5)).is_empty());
        let ev = t.tick(Duration::from_millis(5000));
        assert_eq!(kinds(&ev), one_pass("EMK001"));
    }

    #[test]
    fn different_plates_disagree_misreads_do_not() {
        assert!(!disagree("EMK001", "EMK00I"));
        assert!(!disagree("EMK001", "FMK00I"));
        assert!(disagree("EMK001", "FDV094"));
        assert!(disagree("EMK001", "EMX0O7"));
        assert!(!disagree("ABC12", "ABC13"));
        assert!(disagree("ABC12", "ABX19"));
        assert!(disagree("M5XSX", "WA56660"));
    }

    #[test]
    fn the_next_vehicle_on_the_same_track_is_a_new_pass() {
        // Stop-and-go at a gate: the tracker carries one track over from a car to the
        // next one; the reads say there were two.
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        let mut ev = Vec::new();
        for i in 0..5 {
            ev.extend(t.observe(1, obs(i * 200, "EMK001", 0.9)));
        }
        // One stray confident misread of the second car: held aside, the pass goes on.
        ev.extend(t.observe(1, obs(1000, "FDV094", 0.8)));
        assert_eq!(kinds(&ev), vec![(Lifecycle::New, "EMK001".to_string())]);
        // The second car's second read: the first pass ends, the second starts.
        ev.extend(t.observe(1, obs(1200, "FDV094", 0.9)));
        for i in 7..10 {
            ev.extend(t.observe(1, obs(i * 200, "FDV094", 0.9)));
        }
        ev.extend(t.tick(Duration::from_millis(10_000)));
        assert_eq!(
            kinds(&ev),
            vec![
                (Lifecycle::New, "EMK001".to_string()),
                (Lifecycle::End, "EMK001".to_string()),
                (Lifecycle::New, "FDV094".to_string()),
                (Lifecycle::End, "FDV094".to_string()),
            ]
        );
        assert_ne!(ev[0].pass_id, ev[2].pass_id);
        // Neither pass voted the other's reads.
        assert_eq!(ev[1].read.reads, 5);
        assert_eq!(ev[3].read.reads, 5);
    }

    #[test]
    fn a_lone_disagreeing_read_starts_a_pass_when_the_first_ends() {
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        let mut ev = Vec::new();
        for i in 0..3 {
            ev.extend(t.observe(1, obs(i * 200, "EMK001", 0.9)));
        }
        ev.extend(t.observe(1, obs(600, "FDV094", 0.95)));
        ev.extend(t.tick(Duration::from_millis(400 + 701)));
        // The first pass ended at its time; the held read opened the next, which a sure
        // single read reports at its own end.
        assert_eq!(kinds(&ev)[1], (Lifecycle::End, "EMK001".to_string()));
        assert_eq!(t.active(), 1);
        ev.extend(t.tick(Duration::from_millis(10_000)));
        assert_eq!(
            kinds(&ev)[2..],
            [
                (Lifecycle::New, "FDV094".to_string()),
                (Lifecycle::End, "FDV094".to_string())
            ]
        );
    }

    #[test]
    fn a_vehicle_in_view_keeps_its_pass_open() {
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        for i in 0..3 {
            t.observe(1, obs(i * 200, "EMK001", 0.9));
        }
        for i in 0..20 {
            t.touch(1, Duration::from_millis(400 + i * 200));
            assert!(t.tick(Duration::from_millis(400 + i * 200)).is_empty());
        }
        assert_eq!(t.tick(Duration::from_millis(4200 + 2001)).len(), 1);
    }

    #[test]
    fn a_pass_settles_on_confident_reads_and_unsettles_on_a_disagreeing_one() {
        let mut t = PassTracker::new(PassConfig::default(), grammar());
        t.observe(1, obs(0, "EMK001", 0.95));
        t.observe(1, obs(200, "EMK001", 0.95));
        assert!(!t.is_settled(1), "two reads are not enough");
        t.observe(1, obs(400, "EMK001", 0.95));
        assert!(t.is_settled(1));
        t.observe(1, obs(600, "FDV094", 0.95));
        assert!(!t.is_settled(1), "another plate may be there");
        // Unsure reads never settle a pass.
        for i in 0..5 {
            t.observe(2, obs(i * 200, "ABC123", 0.6));
        }
        assert!(!t.is_settled(2));
        assert!(!t.is_settled(3));
        // Sure reads that split one character (`M` / `N`) never settle it either, though
        // the mean of the voted characters is high.
        for (i, n) in ["YFM946", "YFN946", "YFN946", "YFM946"].iter().enumerate() {
            t.observe(4, obs(i as u64 * 200, n, 0.97));
        }
        assert!(!t.is_settled(4));
    }

    #[test]
    fn reads_kept_per_pass_are_bounded() {
        let cfg = PassConfig {
            max_reads_per_pass: 4,
            ..PassConfig::default()
        };
        let mut t = PassTracker::new(cfg, grammar());
        for i in 0..50 {
            t.observe(1, obs(i * 10, "EMK001", 0.5 + (i % 5) as f32 * 0.1));
        }
        let ev = t.tick(Duration::from_millis(10_000));
        assert_eq!(ev[0].read.reads, 50);
        assert!(ev[0].best.plate.likelihood >= 0.9 - 1e-6);
    }
}
