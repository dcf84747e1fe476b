//! The rule kinds, as the [`crate::engine::RuleSet`] runs them:
//!
//! | kind | condition | incident |
//! |---|---|---|
//! | `zone_intrusion` | at least one watched object's anchor inside the zone | one per zone while occupied; update when the objects change |
//! | `line_crossing` | an anchor moves from one side of the line to the other (beyond `hysteresis`, within the segment) | one per crossing (start and end at once) with its direction and the running totals per direction |
//! | `loitering` | an object's anchor inside the zone | one per object once it stayed `dwell_secs` |
//! | `crowding` | `min_count` or more objects inside the zone | one per zone once it held `min_duration_secs`; update when the count changes |
//! | `wrong_way` | an object (in the zone, if any) moving at `min_speed` or more within `angle_tolerance_deg` of the reverse of `direction` | one per object once it held `min_duration_secs`; stops on the way do not end it |
//! | `stopped_vehicle` | a vehicle inside the zone at `max_speed` or less | one per vehicle once it held `dwell_secs` |
//!
//! Every incident ends `clear_after_secs` after its condition stopped (an object leaving,
//! moving again, or its track being lost); coming back within that time continues it.

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::NaiveDateTime;
    use vigia_core::BBox;

    use crate::config::{RuleConfig, RuleKind};
    use crate::debounce::Gate;
    use crate::engine::{Change, RuleSet, TrackView};
    use vigia_core::event::{CrossingDirection, IncidentPhase};

    fn rule(kind: RuleKind) -> RuleConfig {
        RuleConfig {
            name: "r".into(),
            camera: vigia_core::CameraId::new("c").unwrap(),
            kind,
            enabled: true,
            classes: Vec::new(),
            zone: Some(vec![[0.2, 0.2], [0.6, 0.2], [0.6, 0.8], [0.2, 0.8]]),
            line: None,
            severity: vigia_core::event::Severity::Medium,
            schedule: Vec::new(),
            anchor: crate::config::Anchor::Center,
            dwell_secs: None,
            min_count: None,
            min_duration_secs: None,
            clear_after_secs: None,
            direction: None,
            angle_tolerance_deg: None,
            min_speed: None,
            max_speed: None,
            hysteresis: None,
            classifier: None,
        }
    }

    fn person(id: u64, x: f32, y: f32) -> TrackView {
        TrackView {
            id,
            label: Arc::from("person"),
            bbox: BBox::new(x - 0.02, y - 0.05, 0.04, 0.1),
            velocity: [0.0, 0.0],
        }
    }

    fn car(id: u64, x: f32, y: f32, v: [f32; 2]) -> TrackView {
        TrackView {
            id,
            label: Arc::from("car"),
            bbox: BBox::new(x - 0.05, y - 0.03, 0.1, 0.06),
            velocity: v,
        }
    }

    fn noon() -> NaiveDateTime {
        NaiveDateTime::parse_from_str("2026-11-23 12:00", "%Y-%m-%d %H:%M").unwrap()
    }

    /// Runs frames at 200 ms; `scene(i)` gives the tracks of frame i.
    fn run(
        rules: Vec<RuleConfig>,
        frames: usize,
        scene: impl Fn(usize) -> Vec<TrackView>,
    ) -> Vec<Change> {
        let mut set = RuleSet::new(rules);
        let mut out = Vec::new();
        for i in 0..frames {
            out.extend(set.update(
                Duration::from_millis(i as u64 * 200),
                noon(),
                &scene(i),
                &mut |_, _| Gate::Allow(None),
            ));
        }
        out
    }

    fn phases(c: &[Change]) -> Vec<(IncidentPhase, u64)> {
        c.iter().map(|c| (c.phase, c.incident)).collect()
    }

    #[test]
    fn zone_intrusion_one_incident_per_occupancy_updates_on_joins() {
        // Person 1 walks in at frame 5, person 2 joins at 10, both leave at 20.
        let c = run(vec![rule(RuleKind::ZoneIntrusion)], 40, |i| {
            let mut v = Vec::new();
            if i < 20 {
                v.push(person(1, if i >= 5 { 0.4 } else { 0.1 }, 0.5));
            }
            if (10..20).contains(&i) {
                v.push(person(2, 0.45, 0.5));
            }
            v
        });
        assert_eq!(
            phases(&c),
            vec![
                (IncidentPhase::Start, 1),
                (IncidentPhase::Update, 1),
                (IncidentPhase::End, 1)
            ]
        );
        assert_eq!(c[0].at, Duration::from_millis(1000));
        assert_eq!(c[1].objects, vec![1, 2]);
        // Ends 2 s (clear_after) after the last frame with someone inside (frame 19).
        assert_eq!(c[2].at, Duration::from_millis(19 * 200 + 2000));
    }

    #[test]
    fn zone_re_entry_within_clear_after_continues_after_it_starts_anew() {
        let inside_at =
            |i: usize| (0..10).contains(&i) || (15..20).contains(&i) || (40..45).contains(&i);
        let c = run(vec![rule(RuleKind::ZoneIntrusion)], 70, |i| {
            vec![person(1, if inside_at(i) { 0.4 } else { 0.9 }, 0.5)]
        });
        // Out for 1 s (frames 10-14): same incident. Out for 4 s (20-39): a new one.
        assert_eq!(
            phases(&c),
            vec![
                (IncidentPhase::Start, 1),
                (IncidentPhase::End, 1),
                (IncidentPhase::Start, 2),
                (IncidentPhase::End, 2)
            ]
        );
    }

    #[test]
    fn a_track_lost_inside_the_zone_ends_the_incident_after_clear_after() {
        let c = run(vec![rule(RuleKind::ZoneIntrusion)], 40, |i| {
            if i < 10 {
                vec![person(1, 0.4, 0.5)]
            } else {
                vec![]
            }
        });
        assert_eq!(
            phases(&c),
            vec![(IncidentPhase::Start, 1), (IncidentPhase::End, 1)]
        );
        assert_eq!(c[1].at, Duration::from_millis(9 * 200 + 2000));
    }

    #[test]
    fn other_classes_are_ignored() {
        let c = run(vec![rule(RuleKind::ZoneIntrusion)], 20, |_| {
            vec![car(1, 0.4, 0.5, [0.0, 0.0])]
        });
        assert!(c.is_empty());
    }

    #[test]
    fn line_crossing_counts_each_direction_and_ignores_jitter_on_the_line() {
        let mut r = rule(RuleKind::LineCrossing);
        r.zone = None;
        r.line = Some([[0.5, 0.0], [0.5, 1.0]]);
        // Person 1: left to right (A to B). Person 2: right to left (B to A), then back.
        // Person 3: stands on the line, wobbling within the hysteresis. Person 4: passes
        // beyond the segment's end.
        let c = run(vec![r], 30, |i| {
            let t = i as f32 / 29.0;
            vec![
                person(1, 0.2 + 0.6 * t, 0.5),
                person(
                    2,
                    if i < 20 {
                        0.8 - 0.03 * i as f32
                    } else {
                        0.2 + 0.03 * (i - 20) as f32 * 2.0
                    },
                    0.3,
                ),
                person(3, 0.5 + if i % 2 == 0 { 0.004 } else { -0.004 }, 0.7),
                TrackView {
                    bbox: BBox::new(0.2 + 0.6 * t, 1.3, 0.04, 0.1),
                    ..person(4, 0.0, 0.0)
                },
            ]
        });
        let crossings: Vec<(u64, CrossingDirection)> = c
            .iter()
            .filter(|c| c.phase == IncidentPhase::Start)
            .map(|c| (c.objects[0], c.crossing.unwrap()))
            .collect();
        assert_eq!(
            crossings,
            vec![
                (2, CrossingDirection::BToA),
                (1, CrossingDirection::AToB),
                (2, CrossingDirection::AToB)
            ]
        );
        let last = c.last().unwrap();
        assert_eq!(
            (last.phase, last.totals),
            (IncidentPhase::End, Some([2, 1]))
        );
    }

    #[test]
    fn loitering_needs_the_dwell_and_is_per_object() {
        let mut r = rule(RuleKind::Loitering);
        r.dwell_secs = Some(3.0);
        // Person 1 stays 5 s, person 2 only 2 s.
        let c = run(vec![r], 60, |i| {
            let mut v = Vec::new();
            if i < 25 {
                v.push(person(1, 0.4, 0.5));
            }
            if i < 10 {
                v.push(person(2, 0.3, 0.3));
            }
            v
        });
        assert_eq!(
            phases(&c),
            vec![(IncidentPhase::Start, 1), (IncidentPhase::End, 1)]
        );
        assert_eq!(c[0].objects, vec![1]);
        assert_eq!(c[0].at, Duration::from_millis(3000));
        assert_eq!(c[0].started_at, Duration::ZERO);
    }

    #[test]
    fn crowding_starts_at_the_count_and_reports_it() {
        let mut r = rule(RuleKind::Crowding);
        r.min_count = Some(3);
        r.min_duration_secs = Some(1.0);
        let c = run(vec![r], 60, |i| {
            let n = match i {
                0..10 => 2,
                10..30 => 3,
                30..40 => 4,
                _ => 1,
            };
            (0..n)
                .map(|k| person(k, 0.3 + 0.05 * k as f32, 0.5))
                .collect()
        });
        assert_eq!(
            phases(&c),
            vec![
                (IncidentPhase::Start, 1),
                (IncidentPhase::Update, 1),
                (IncidentPhase::End, 1)
            ]
        );
        assert_eq!(
            (c[0].count, c[0].at),
            (Some(3), Duration::from_millis(3000))
        );
        assert_eq!(c[1].count, Some(4));
        assert_eq!(c[2].max_count, Some(4));
    }

    #[test]
    fn wrong_way_flags_only_sustained_motion_against_the_direction() {
        let mut r = rule(RuleKind::WrongWay);
        r.zone = None;
        r.direction = Some([0.0, 1.0]); // traffic goes down the image
        let c = run(vec![r], 30, |_| {
            vec![
                car(1, 0.3, 0.5, [0.0, 0.1]),   // right way
                car(2, 0.5, 0.5, [0.02, -0.1]), // wrong way
                car(3, 0.7, 0.5, [0.0, -0.01]), // too slow to count
                car(4, 0.9, 0.5, [0.1, 0.0]),   // crossing traffic: 90 degrees, not wrong way
            ]
        });
        assert_eq!(phases(&c), vec![(IncidentPhase::Start, 1)]);
        assert_eq!(c[0].objects, vec![2]);
        assert_eq!(c[0].at, Duration::from_millis(1000));
    }

    #[test]
    fn wrong_way_through_a_stop_is_one_incident_until_the_vehicle_turns_or_leaves() {
        let mut r = rule(RuleKind::WrongWay);
        r.zone = None;
        r.direction = Some([0.0, 1.0]);
        // Frames 0-9 wrong way, 10-59 stopped (10 s), 60-69 wrong way again, 70-89 the
        // right way, then gone.
        let c = run(vec![r], 110, |i| match i {
            0..10 | 60..70 => vec![car(1, 0.5, 0.5, [0.0, -0.1])],
            10..60 => vec![car(1, 0.5, 0.5, [0.0, 0.0])],
            70..90 => vec![car(1, 0.5, 0.5, [0.0, 0.1])],
            _ => vec![],
        });
        assert_eq!(
            phases(&c),
            vec![(IncidentPhase::Start, 1), (IncidentPhase::End, 1)]
        );
        // It ends `clear_after` (2 s) after its last wrong-way frame (69): it turned.
        assert_eq!(c[1].at, Duration::from_millis(69 * 200 + 2000));
    }

    #[test]
    fn stopped_vehicle_after_the_dwell_ends_when_it_drives_off() {
        let mut r = rule(RuleKind::StoppedVehicle);
        r.dwell_secs = Some(2.0);
        let c = run(vec![r], 50, |i| match i {
            0..5 => vec![car(1, 0.3, 0.5, [0.1, 0.0])],
            5..30 => vec![car(1, 0.4, 0.5, [0.0, 0.0])],
            _ => vec![car(1, 0.4 + 0.02 * (i - 30) as f32, 0.5, [0.1, 0.0])],
        });
        assert_eq!(
            phases(&c),
            vec![(IncidentPhase::Start, 1), (IncidentPhase::End, 1)]
        );
        assert_eq!(
            c[0].at,
            Duration::from_millis(3000),
            "stopped at 1.0 s + 2 s dwell"
        );
        assert_eq!(c[1].at, Duration::from_millis(30 * 200 - 200 + 2000));
    }

    #[test]
    fn schedules_switch_rules_on_and_off() {
        let mut r = rule(RuleKind::ZoneIntrusion);
        r.schedule = vec![crate::config::ScheduleWindow::parse(&[], "22:00", "06:00")];
        let mut set = RuleSet::new(vec![r]);
        let night = NaiveDateTime::parse_from_str("2026-11-23 23:00", "%Y-%m-%d %H:%M").unwrap();
        let someone = vec![person(1, 0.4, 0.5)];
        let mut g = |_: usize, _: &[u64]| Gate::Allow(None);
        assert!(
            set.update(Duration::ZERO, noon(), &someone, &mut g)
                .is_empty(),
            "off at noon"
        );
        let c = set.update(Duration::from_secs(1), night, &someone, &mut g);
        assert_eq!(c[0].phase, IncidentPhase::Start);
        let morning = NaiveDateTime::parse_from_str("2026-11-24 06:00", "%Y-%m-%d %H:%M").unwrap();
        let c = set.update(Duration::from_secs(2), morning, &someone, &mut g);
        assert_eq!(
            c[0].phase,
            IncidentPhase::End,
            "the schedule closing ends it"
        );
    }

    #[test]
    fn a_classifier_gate_holds_the_start_until_it_agrees() {
        let mut r = rule(RuleKind::ZoneIntrusion);
        r.classifier = Some(crate::config::ClassifierGate {
            manifest: "m.toml".into(),
            label: "fight".into(),
            min_score: 0.5,
        });
        let mut set = RuleSet::new(vec![r]);
        let someone = vec![person(1, 0.4, 0.5)];
        let mut asked = 0;
        let mut gate = |_: usize, _: &[u64]| {
            asked += 1;
            if asked < 3 {
                Gate::Deny
            } else {
                Gate::Allow(Some(0.8))
            }
        };
        let mut all = Vec::new();
        for i in 0..5u64 {
            all.extend(set.update(Duration::from_millis(i * 200), noon(), &someone, &mut gate));
        }
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].phase, all[0].score, all[0].started_at),
            (IncidentPhase::Start, Some(0.8), Duration::ZERO)
        );
    }
}
