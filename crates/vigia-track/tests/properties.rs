//! Tracker properties under random scenes.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use proptest::prelude::*;
use vigia_core::{BBox, Detection};
use vigia_track::{TrackEvent, Tracker, TrackerConfig};

#[derive(Debug, Clone)]
struct Object {
    x0: f32,
    vx: f32,
    lane: usize,
    label: &'static str,
}

fn object() -> impl Strategy<Value = Object> {
    (
        0f32..600.0,
        -120f32..120.0,
        prop_oneof![Just("person"), Just("car"), Just("truck")],
    )
        .prop_map(|(x0, vx, label)| Object {
            x0,
            vx,
            lane: 0,
            label,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Objects in separate lanes (never overlapping), detected with noise, random scores and
    /// dropouts of up to 3 frames: once an object's track is confirmed its id never changes,
    /// and no two objects ever get the same id.
    #[test]
    fn ids_never_jump_between_well_separated_objects(
        mut objects in proptest::collection::vec(object(), 1..6),
        drops in proptest::collection::vec(0u8..10, 60 * 6),
        noise in proptest::collection::vec(-2f32..2.0, 60 * 6 * 2),
        scores in proptest::collection::vec(0.3f32..1.0, 60 * 6),
    ) {
        for (i, o) in objects.iter_mut().enumerate() {
            o.lane = i;
        }
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut ids: HashMap<usize, u64> = HashMap::new();
        let mut all_ids: HashMap<usize, HashSet<u64>> = HashMap::new();
        let mut missed = vec![0u32; objects.len()];
        for f in 0..60usize {
            let t = Duration::from_millis(f as u64 * 200);
            let mut dets = Vec::new();
            let mut who = Vec::new();
            for (i, o) in objects.iter().enumerate() {
                let k = f * 6 + i;
                // Drop about 20 % of sightings, never more than 3 in a row.
                if drops[k] < 2 && missed[i] < 3 {
                    missed[i] += 1;
                    continue;
                }
                missed[i] = 0;
                let x = o.x0 + o.vx * t.as_secs_f32() + noise[2 * k];
                let y = o.lane as f32 * 200.0 + noise[2 * k + 1];
                dets.push(Detection {
                    class_id: 0,
                    label: o.label.into(),
                    score: scores[k],
                    bbox: BBox::new(x, y, 40.0, 80.0),
                });
                who.push(i);
            }
            tr.update(t, Utc::now(), &dets);
            let confirmed: HashSet<u64> = tr.confirmed().map(|o| o.id).collect();
            for (j, &i) in who.iter().enumerate() {
                let id = tr.assignments()[j];
                if id == 0 {
                    continue;
                }
                // Every id an object ever gets is its own.
                if let Some((other, _)) = all_ids.iter().find(|(o, ids)| **o != i && ids.contains(&id)) {
                    prop_assert!(false, "objects {} and {} shared track {}", i, other, id);
                }
                all_ids.entry(i).or_default().insert(id);
                // Once its track is confirmed, an object keeps it.
                if !confirmed.contains(&id) {
                    continue;
                }
                match ids.get(&i) {
                    Some(prev) => prop_assert_eq!(*prev, id, "object {} switched confirmed track at frame {}", i, f),
                    None => { ids.insert(i, id); }
                }
            }
        }
        let distinct: HashSet<u64> = ids.values().copied().collect();
        prop_assert_eq!(distinct.len(), ids.len(), "two objects shared a track: {:?}", ids);
    }

    /// A track ends on the first check after it was unseen for longer than the timeout,
    /// never before.
    #[test]
    fn a_track_ends_after_the_configured_time_unseen(
        timeout in 300u64..5000,
        seen in 3usize..20,
        checks in proptest::collection::vec(1u64..400, 1..80),
    ) {
        let cfg = TrackerConfig { lost_timeout_ms: timeout, ..TrackerConfig::default() };
        let mut tr = Tracker::new(cfg);
        let d = Detection { class_id: 0, label: "person".into(), score: 0.9, bbox: BBox::new(10.0, 10.0, 40.0, 80.0) };
        let mut t = 0u64;
        for _ in 0..seen {
            tr.update(Duration::from_millis(t), Utc::now(), std::slice::from_ref(&d));
            t += 100;
        }
        let last_seen = t - 100;
        let mut ended_at = None;
        for c in checks {
            t += c;
            let ev = tr.expire(Duration::from_millis(t));
            if ev.iter().any(|e| matches!(e, TrackEvent::End(_))) {
                prop_assert!(ended_at.is_none(), "ended twice");
                ended_at = Some(t);
                prop_assert!(t - last_seen > timeout, "ended {} ms after the last sighting, timeout {}", t - last_seen, timeout);
            } else if ended_at.is_none() {
                prop_assert!(t - last_seen <= timeout, "still alive {} ms after the last sighting, timeout {}", t - last_seen, timeout);
            }
        }
    }
}
