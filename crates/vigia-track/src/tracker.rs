//! [`Tracker`]: ByteTrack-style association.
//!
//! Each frame:
//! 1. every track predicts its box at the frame's time from its velocity;
//! 2. detections scoring at least `high_score` are matched to all tracks (confirmed,
//!    tentative and lost) by maximum total IoU (Hungarian), pairs below `match_iou` refused;
//! 3. weaker detections are matched the same way, at the stricter `low_match_iou`, to the
//!    tracks still unmatched — an occluded or blurred object keeps its track instead of
//!    being dropped (ByteTrack's key idea);
//! 4. unmatched confident detections start tentative tracks; a track is confirmed (reported
//!    `New`) after `min_hits` sightings; a track unseen for `lost_timeout_ms` ends (`End` if
//!    it was confirmed).
//!
//! Detections of different classes never match, except labels in one `class_groups` entry
//! (a detector often alternates `car` / `truck` for one vehicle); a track's label is the one
//! with the highest summed score.

use std::sync::Arc;
use std::time::Duration;
use vigia_core::FieldError;

use chrono::{DateTime, Utc};
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::Deserialize;
use vigia_core::{BBox, Detection};

/// `[tracker]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score are matched first and may start tracks. Weaker ones
    /// (down to the detector's threshold) only continue tracks. Default 0.5.
    pub high_score: f32,
    /// Minimum IoU between a track's predicted box and a confident detection. Default 0.2.
    pub match_iou: f32,
    /// Minimum IoU for weak detections (second stage). Default 0.4.
    pub low_match_iou: f32,
    /// Sightings needed before a track is confirmed and reported. Default 3.
    pub min_hits: u32,
    /// A track unseen for this long ends. Default 2000 ms.
    pub lost_timeout_ms: u64,
    /// Labels that may alternate within one track. Default `[["car", "truck", "bus"]]`.
    pub class_groups: Vec<Vec<String>>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            match_iou: 0.2,
            low_match_iou: 0.4,
            min_hits: 3,
            lost_timeout_ms: 2000,
            class_groups: vec![["car", "truck", "bus"].map(String::from).to_vec()],
        }
    }
}

impl TrackerConfig {
    /// Checks the values; returns `(field, message)` pairs.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (name, v) in [
            ("high_score", self.high_score),
            ("match_iou", self.match_iou),
            ("low_match_iou", self.low_match_iou),
        ] {
            if !(0.0..=1.0).contains(&v) {
                errs.push(FieldError::new(name, format!("must be in [0, 1], got {v}")));
            }
        }
        if self.min_hits == 0 {
            errs.push(FieldError::new(
                "min_hits",
                "must be at least 1".to_string(),
            ));
        }
        if self.lost_timeout_ms == 0 {
            errs.push(FieldError::new(
                "lost_timeout_ms",
                "must be > 0".to_string(),
            ));
        }
        errs
    }
}

/// A tracked object as reported in events.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedObject {
    pub id: u64,
    pub class_id: u32,
    pub label: Arc<str>,
    /// Last box, pixels.
    pub bbox: BBox,
    /// Highest detector score seen.
    pub best_score: f32,
    pub hits: u32,
    pub first_seen: Duration,
    pub last_seen: Duration,
    pub first_seen_utc: DateTime<Utc>,
    pub last_seen_utc: DateTime<Utc>,
    /// Velocity of the box centre, pixels per second (smoothed).
    pub velocity: (f32, f32),
    /// Whether it was matched in the latest update.
    pub seen_now: bool,
}

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackEvent {
    /// A track was confirmed.
    New(TrackedObject),
    /// A confirmed track was lost for longer than the timeout.
    End(TrackedObject),
}

#[derive(Debug)]
struct Track {
    obj: TrackedObject,
    confirmed: bool,
    /// Summed score per label (the track's label is the best).
    votes: Vec<(Arc<str>, u32, f32)>,
    /// Seen in the previous update (eligible for the second stage).
    tracked: bool,
}

impl Track {
    fn predicted(&self, now: Duration) -> BBox {
        let dt = now
            .saturating_sub(self.obj.last_seen)
            .as_secs_f32()
            .min(1.0);
        let b = self.obj.bbox;
        BBox::new(
            b.x + self.obj.velocity.0 * dt,
            b.y + self.obj.velocity.1 * dt,
            b.w,
            b.h,
        )
    }

    fn absorb(&mut self, d: &Detection, now: Duration, now_utc: DateTime<Utc>) {
        let dt = now.saturating_sub(self.obj.last_seen).as_secs_f32();
        if dt > 0.0 {
            let (c0, c1) = (self.obj.bbox.center(), d.bbox.center());
            let v = ((c1.0 - c0.0) / dt, (c1.1 - c0.1) / dt);
            // Smoothed; the first measured step sets it directly.
            let a = if self.obj.hits <= 1 { 1.0 } else { 0.5 };
            self.obj.velocity = (
                a * v.0 + (1.0 - a) * self.obj.velocity.0,
                a * v.1 + (1.0 - a) * self.obj.velocity.1,
            );
        }
        self.obj.bbox = d.bbox;
        self.obj.best_score = self.obj.best_score.max(d.score);
        self.obj.hits += 1;
        self.obj.last_seen = now;
        self.obj.last_seen_utc = now_utc;
        self.obj.seen_now = true;
        match self.votes.iter_mut().find(|v| v.0 == d.label) {
            Some(v) => v.2 += d.score,
            None => self.votes.push((d.label.clone(), d.class_id, d.score)),
        }
        if let Some(best) = self.votes.iter().max_by(|a, b| a.2.total_cmp(&b.2)) {
            self.obj.label = best.0.clone();
            self.obj.class_id = best.1;
        }
    }
}

/// The tracker for one camera.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    /// Track id given to each detection of the last update (0: none), in input order.
    assigned: Vec<u64>,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
            assigned: Vec::new(),
        }
    }

    fn group(&self, label: &str) -> Option<usize> {
        self.cfg
            .class_groups
            .iter()
            .position(|g| g.iter().any(|l| l == label))
    }

    fn compatible(&self, t: &Track, d: &Detection) -> bool {
        t.obj.label == d.label
            || t.votes.iter().any(|v| v.0 == d.label)
            || matches!((self.group(&t.obj.label), self.group(&d.label)), (Some(a), Some(b)) if a == b)
    }

    /// Optimal matching of `tracks` to `dets` (indices) with IoU >= `min_iou`.
    fn assign(
        &self,
        tracks: &[usize],
        dets: &[usize],
        all: &[Detection],
        now: Duration,
        min_iou: f32,
    ) -> Vec<(usize, usize)> {
        if tracks.is_empty() || dets.is_empty() {
            return Vec::new();
        }
        let iou = |ti: usize, di: usize| -> f32 {
            let t = &self.tracks[ti];
            let d = &all[di];
            if !self.compatible(t, d) {
                return 0.0;
            }
            t.predicted(now).iou(&d.bbox).max(t.obj.bbox.iou(&d.bbox))
        };
        // kuhn_munkres needs rows <= columns.
        let transpose = tracks.len() > dets.len();
        let (rows, cols) = if transpose {
            (dets, tracks)
        } else {
            (tracks, dets)
        };
        let weights = Matrix::from_fn(rows.len(), cols.len(), |(r, c)| {
            let (ti, di) = if transpose {
                (cols[c], rows[r])
            } else {
                (rows[r], cols[c])
            };
            let v = iou(ti, di);
            if v >= min_iou {
                (v * 1_000_000.0) as i64
            } else {
                0
            }
        });
        let (_, assignment) = kuhn_munkres(&weights);
        assignment
            .into_iter()
            .enumerate()
            .filter_map(|(r, c)| {
                let (ti, di) = if transpose {
                    (cols[c], rows[r])
                } else {
                    (rows[r], cols[c])
                };
                (iou(ti, di) >= min_iou && weights[(r, c)] > 0).then_some((ti, di))
            })
            .collect()
    }

    /// Feeds one frame's detections (taken at monotonic time `now`).
    pub fn update(
        &mut self,
        now: Duration,
        now_utc: DateTime<Utc>,
        detections: &[Detection],
    ) -> Vec<TrackEvent> {
        let mut events = self.expire(now);
        for t in &mut self.tracks {
            t.obj.seen_now = false;
        }
        self.assigned = vec![0; detections.len()];
        let high: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score >= self.cfg.high_score)
            .collect();
        let low: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score < self.cfg.high_score)
            .collect();
        // Stage 1: confident detections against every track.
        let all_tracks: Vec<usize> = (0..self.tracks.len()).collect();
        let first = self.assign(&all_tracks, &high, detections, now, self.cfg.match_iou);
        let mut matched_tracks = vec![false; self.tracks.len()];
        let mut matched_dets = vec![false; detections.len()];
        for &(ti, di) in &first {
            matched_tracks[ti] = true;
            matched_dets[di] = true;
        }
        // Stage 2: weak detections continue the remaining live tracks (at a stricter IoU
        // against the predicted box). Unlike ByteTrack's original, tracks missed in the
        // previous frame qualify too: a dropout followed by weak detections (occlusion) must
        // not starve a track until it expires (found by the property tests).
        let remaining: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| !matched_tracks[t])
            .collect();
        let second = self.assign(&remaining, &low, detections, now, self.cfg.low_match_iou);
        for &(ti, di) in &second {
            matched_tracks[ti] = true;
            matched_dets[di] = true;
        }
        for (ti, di) in first.into_iter().chain(second) {
            let t = &mut self.tracks[ti];
            t.absorb(&detections[di], now, now_utc);
            self.assigned[di] = t.obj.id;
            if !t.confirmed && t.obj.hits >= self.cfg.min_hits {
                t.confirmed = true;
                events.push(TrackEvent::New(t.obj.clone()));
            }
        }
        for (ti, t) in self.tracks.iter_mut().enumerate() {
            t.tracked = matched_tracks[ti];
        }
        // New tentative tracks from unmatched confident detections.
        for &di in &high {
            if matched_dets[di] {
                continue;
            }
            let d = &detections[di];
            let obj = TrackedObject {
                id: self.next_id,
                class_id: d.class_id,
                label: d.label.clone(),
                bbox: d.bbox,
                best_score: d.score,
                hits: 1,
                first_seen: now,
                last_seen: now,
                first_seen_utc: now_utc,
                last_seen_utc: now_utc,
                velocity: (0.0, 0.0),
                seen_now: true,
            };
            self.assigned[di] = obj.id;
            self.next_id += 1;
            let confirmed = self.cfg.min_hits <= 1;
            if confirmed {
                events.push(TrackEvent::New(obj.clone()));
            }
            self.tracks.push(Track {
                votes: vec![(d.label.clone(), d.class_id, d.score)],
                obj,
                confirmed,
                tracked: true,
            });
        }
        events
    }

    /// A frame was not analysed because nothing moved: the objects are where they were.
    pub fn touch(&mut self, now: Duration, now_utc: DateTime<Utc>) {
        for t in &mut self.tracks {
            if t.tracked {
                t.obj.last_seen = now;
                t.obj.last_seen_utc = now_utc;
                t.obj.velocity = (0.0, 0.0);
            }
        }
    }

    /// Ends tracks unseen for longer than the timeout. Call it on a timer too, so objects
    /// end when a camera stops sending frames.
    pub fn expire(&mut self, now: Duration) -> Vec<TrackEvent> {
        let timeout = Duration::from_millis(self.cfg.lost_timeout_ms);
        let mut events = Vec::new();
        self.tracks.retain(|t| {
            let lost = now.saturating_sub(t.obj.last_seen) > timeout;
            if lost && t.confirmed {
                events.push(TrackEvent::End(t.obj.clone()));
            }
            !lost
        });
        events
    }

    /// Ends every track now (the camera was removed or reconfigured): an `End` for each
    /// confirmed one.
    pub fn end_all(&mut self) -> Vec<TrackEvent> {
        self.tracks
            .drain(..)
            .filter(|t| t.confirmed)
            .map(|t| TrackEvent::End(t.obj))
            .collect()
    }

    /// The track id each detection of the last [`Tracker::update`] belongs to (0 for a weak
    /// detection that continued no track), in the order the detections were given.
    pub fn assignments(&self) -> &[u64] {
        &self.assigned
    }

    /// Confirmed tracks alive now.
    pub fn confirmed(&self) -> impl Iterator<Item = &TrackedObject> {
        self.tracks.iter().filter(|t| t.confirmed).map(|t| &t.obj)
    }

    /// Labels seen by class groups (for tests and docs).
    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(label: &str, score: f32, x: f32, y: f32) -> Detection {
        Detection {
            class_id: match label {
                "person" => 0,
                "car" => 2,
                "truck" => 7,
                _ => 99,
            },
            label: label.into(),
            score,
            bbox: BBox::new(x, y, 40.0, 80.0),
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn kinds(ev: &[TrackEvent]) -> Vec<(&'static str, u64)> {
        ev.iter()
            .map(|e| match e {
                TrackEvent::New(o) => ("new", o.id),
                TrackEvent::End(o) => ("end", o.id),
            })
            .collect()
    }

    #[test]
    fn an_object_that_appears_moves_and_leaves_gives_one_new_and_one_end() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut all = Vec::new();
        for i in 0..20u64 {
            all.extend(tr.update(
                ms(i * 200),
                Utc::now(),
                &[det("person", 0.8, 100.0 + i as f32 * 5.0, 50.0)],
            ));
        }
        for i in 20..40u64 {
            all.extend(tr.update(ms(i * 200), Utc::now(), &[]));
        }
        assert_eq!(kinds(&all), vec![("new", 1), ("end", 1)]);
        let TrackEvent::End(o) = &all[1] else {
            panic!()
        };
        assert_eq!(
            (o.hits, o.first_seen, o.last_seen),
            (20, ms(0), ms(19 * 200))
        );
        // 5 px per 200 ms = 25 px/s to the right.
        assert!(
            (o.velocity.0 - 25.0).abs() < 0.5 && o.velocity.1.abs() < 0.5,
            "{:?}",
            o.velocity
        );
    }

    #[test]
    fn weak_detections_only_continue_tracks() {
        let mut tr = Tracker::new(TrackerConfig::default());
        // A weak detection alone starts nothing.
        assert!(
            tr.update(ms(0), Utc::now(), &[det("person", 0.3, 10.0, 10.0)])
                .is_empty()
        );
        assert_eq!(tr.assignments(), &[0]);
        // A confirmed track survives frames where the object is only weakly detected.
        for i in 1..4u64 {
            tr.update(ms(i * 200), Utc::now(), &[det("person", 0.9, 200.0, 10.0)]);
        }
        for i in 4..20u64 {
            tr.update(
                ms(i * 200),
                Utc::now(),
                &[det("person", 0.3, 200.0 + i as f32, 10.0)],
            );
            assert_eq!(tr.assignments(), &[1], "frame {i}");
        }
        assert_eq!(tr.confirmed().count(), 1);
    }

    #[test]
    fn a_vehicle_whose_label_alternates_keeps_one_track() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut all = Vec::new();
        for i in 0..10u64 {
            let label = if i % 2 == 0 { "car" } else { "truck" };
            all.extend(tr.update(
                ms(i * 200),
                Utc::now(),
                &[det(
                    label,
                    if label == "car" { 0.9 } else { 0.6 },
                    10.0 + i as f32 * 4.0,
                    10.0,
                )],
            ));
        }
        assert_eq!(kinds(&all), vec![("new", 1)]);
        assert_eq!(&*tr.confirmed().next().unwrap().label, "car");
        // A person never continues a car's track.
        tr.update(ms(2000), Utc::now(), &[det("person", 0.9, 50.0, 10.0)]);
        assert_ne!(tr.assignments(), &[1]);
    }

    #[test]
    fn motion_prediction_keeps_a_fast_object_through_a_missed_frame() {
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut all = Vec::new();
        // 25 px per frame on a 40 px box: after a missed frame it has moved 50 px, more than
        // its width, so its last box no longer overlaps; the predicted box does.
        for i in [0u64, 1, 2, 3, 5, 6, 7] {
            all.extend(tr.update(
                ms(i * 200),
                Utc::now(),
                &[det("car", 0.9, i as f32 * 25.0, 10.0)],
            ));
        }
        assert_eq!(kinds(&all), vec![("new", 1)]);
        assert_eq!(tr.assignments(), &[1]);
    }

    #[test]
    fn touch_keeps_still_objects_alive_without_detections() {
        let mut tr = Tracker::new(TrackerConfig::default());
        for i in 0..3u64 {
            tr.update(ms(i * 200), Utc::now(), &[det("car", 0.9, 10.0, 10.0)]);
        }
        for i in 3..50u64 {
            tr.touch(ms(i * 200), Utc::now());
            assert!(tr.expire(ms(i * 200)).is_empty());
        }
        assert_eq!(tr.confirmed().count(), 1);
        assert_eq!(kinds(&tr.expire(ms(49 * 200 + 2001))), vec![("end", 1)]);
    }

    #[test]
    fn validate_reports_bad_values() {
        let bad = TrackerConfig {
            high_score: 1.5,
            min_hits: 0,
            lost_timeout_ms: 0,
            ..TrackerConfig::default()
        };
        assert_eq!(bad.validate().len(), 3);
        assert!(TrackerConfig::default().validate().is_empty());
    }
}
