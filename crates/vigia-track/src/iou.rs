//! A greedy IoU tracker.
//!
//! Each frame, detections are matched to live tracks of the same class by descending IoU
//! (pairs below `iou_threshold` never match). Unmatched detections start tentative tracks;
//! a track is confirmed (and reported `New`) after `min_hits` sightings, which keeps
//! one-frame false positives out of the event stream. A track not seen for
//! `lost_timeout_ms` is removed, and reported `End` if it was confirmed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use vigia_core::{BBox, Detection};

/// `[tracker]` settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Minimum IoU between a track's last box and a detection to match them. Default 0.3.
    pub iou_threshold: f32,
    /// Sightings needed before a track is confirmed and reported. Default 3.
    pub min_hits: u32,
    /// A track unseen for this long ends. Default 2000 ms.
    pub lost_timeout_ms: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            iou_threshold: 0.3,
            min_hits: 3,
            lost_timeout_ms: 2000,
        }
    }
}

impl TrackerConfig {
    /// Checks the values; returns `(field, message)` pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut errs = Vec::new();
        if !(self.iou_threshold > 0.0 && self.iou_threshold < 1.0) {
            errs.push((
                "iou_threshold",
                format!("must be in (0, 1), got {}", self.iou_threshold),
            ));
        }
        if self.min_hits == 0 {
            errs.push(("min_hits", "must be at least 1".to_string()));
        }
        if self.lost_timeout_ms == 0 {
            errs.push(("lost_timeout_ms", "must be > 0".to_string()));
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
}

/// The tracker for one camera.
#[derive(Debug)]
pub struct IouTracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    /// Track id given to each detection of the last update, in input order.
    assigned: Vec<u64>,
}

impl IouTracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
            assigned: Vec::new(),
        }
    }

    /// Feeds one frame's detections (taken at monotonic time `now`).
    pub fn update(
        &mut self,
        now: Duration,
        now_utc: DateTime<Utc>,
        detections: &[Detection],
    ) -> Vec<TrackEvent> {
        let mut events = self.expire(now);

        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (di, d) in detections.iter().enumerate() {
                if d.class_id != t.obj.class_id {
                    continue;
                }
                let iou = t.obj.bbox.iou(&d.bbox);
                if iou >= self.cfg.iou_threshold {
                    pairs.push((iou, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_used = vec![false; self.tracks.len()];
        let mut det_used = vec![false; detections.len()];
        self.assigned = vec![0; detections.len()];
        for (_, ti, di) in pairs {
            if track_used[ti] || det_used[di] {
                continue;
            }
            track_used[ti] = true;
            det_used[di] = true;
            let d = &detections[di];
            let t = &mut self.tracks[ti];
            self.assigned[di] = t.obj.id;
            t.obj.bbox = d.bbox;
            t.obj.best_score = t.obj.best_score.max(d.score);
            t.obj.hits += 1;
            t.obj.last_seen = now;
            t.obj.last_seen_utc = now_utc;
            if !t.confirmed && t.obj.hits >= self.cfg.min_hits {
                t.confirmed = true;
                events.push(TrackEvent::New(t.obj.clone()));
            }
        }
        for (di, d) in detections.iter().enumerate() {
            if det_used[di] {
                continue;
            }
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
            };
            self.assigned[di] = obj.id;
            self.next_id += 1;
            let confirmed = self.cfg.min_hits <= 1;
            if confirmed {
                events.push(TrackEvent::New(obj.clone()));
            }
            self.tracks.push(Track { obj, confirmed });
        }
        events
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

    /// The track id each detection of the last [`IouTracker::update`] belongs to (confirmed
    /// or not), in the order the detections were given.
    pub fn assignments(&self) -> &[u64] {
        &self.assigned
    }

    /// Confirmed tracks alive now.
    pub fn confirmed(&self) -> impl Iterator<Item = &TrackedObject> {
        self.tracks.iter().filter(|t| t.confirmed).map(|t| &t.obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32, x: f32, y: f32) -> Detection {
        Detection {
            class_id,
            label: if class_id == 0 { "person" } else { "car" }.into(),
            score: 0.8,
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
        let mut tr = IouTracker::new(TrackerConfig::default());
        let mut all = Vec::new();
        for i in 0..20u64 {
            let d = det(0, 100.0 + i as f32 * 5.0, 50.0);
            all.extend(tr.update(ms(i * 200), Utc::now(), &[d]));
        }
        // Gone: frames without detections until the timeout passes.
        for i in 20..40u64 {
            all.extend(tr.update(ms(i * 200), Utc::now(), &[]));
        }
        assert_eq!(kinds(&all), vec![("new", 1), ("end", 1)]);
        if let TrackEvent::End(o) = &all[1] {
            assert_eq!(o.hits, 20);
            assert_eq!(o.first_seen, ms(0));
            assert_eq!(o.last_seen, ms(19 * 200));
        }
    }

    #[test]
    fn a_one_frame_false_positive_gives_no_event() {
        let mut tr = IouTracker::new(TrackerConfig::default());
        let mut all = tr.update(ms(0), Utc::now(), &[det(1, 10.0, 10.0)]);
        for i in 1..30 {
            all.extend(tr.update(ms(i * 200), Utc::now(), &[]));
        }
        assert!(all.is_empty(), "{all:?}");
    }

    #[test]
    fn two_separated_objects_keep_their_ids() {
        let mut tr = IouTracker::new(TrackerConfig::default());
        let mut news = Vec::new();
        for i in 0..10u64 {
            let a = det(0, 100.0 + i as f32 * 3.0, 50.0);
            let b = det(0, 400.0 - i as f32 * 3.0, 50.0);
            // Alternate the order so ids cannot follow list position.
            let dets = if i % 2 == 0 { vec![a, b] } else { vec![b, a] };
            news.extend(tr.update(ms(i * 200), Utc::now(), &dets));
        }
        assert_eq!(kinds(&news), vec![("new", 1), ("new", 2)]);
        let mut live: Vec<(u64, f32)> = tr.confirmed().map(|o| (o.id, o.bbox.x)).collect();
        live.sort_by_key(|x| x.0);
        assert_eq!(live, vec![(1, 127.0), (2, 373.0)]);
    }

    #[test]
    fn assignments_follow_input_order() {
        let mut tr = IouTracker::new(TrackerConfig::default());
        tr.update(
            ms(0),
            Utc::now(),
            &[det(0, 10.0, 10.0), det(0, 300.0, 10.0)],
        );
        assert_eq!(tr.assignments(), &[1, 2]);
        tr.update(
            ms(200),
            Utc::now(),
            &[det(0, 302.0, 10.0), det(0, 12.0, 10.0), det(1, 600.0, 0.0)],
        );
        assert_eq!(tr.assignments(), &[2, 1, 3]);
    }

    #[test]
    fn classes_never_match_each_other() {
        let mut tr = IouTracker::new(TrackerConfig {
            min_hits: 1,
            ..TrackerConfig::default()
        });
        let ev1 = tr.update(ms(0), Utc::now(), &[det(0, 10.0, 10.0)]);
        let ev2 = tr.update(ms(200), Utc::now(), &[det(1, 10.0, 10.0)]);
        assert_eq!(kinds(&ev1), vec![("new", 1)]);
        assert_eq!(kinds(&ev2), vec![("new", 2)]);
    }

    #[test]
    fn a_short_miss_keeps_the_track_and_expire_ends_it_without_frames() {
        let mut tr = IouTracker::new(TrackerConfig::default());
        let mut all = Vec::new();
        for i in 0..5u64 {
            all.extend(tr.update(ms(i * 200), Utc::now(), &[det(0, 10.0, 10.0)]));
        }
        // Missed for 1 s (below the 2 s timeout), then seen again: same track.
        all.extend(tr.update(ms(2000), Utc::now(), &[det(0, 12.0, 10.0)]));
        assert_eq!(kinds(&all), vec![("new", 1)]);
        // The camera stops: no more frames, only timer ticks.
        assert!(tr.expire(ms(3000)).is_empty());
        assert_eq!(kinds(&tr.expire(ms(4001))), vec![("end", 1)]);
    }

    #[test]
    fn validate_reports_bad_values() {
        let bad = TrackerConfig {
            iou_threshold: 1.5,
            min_hits: 0,
            lost_timeout_ms: 0,
        };
        assert_eq!(bad.validate().len(), 3);
        assert!(TrackerConfig::default().validate().is_empty());
    }
}
