//! Incident rules on real video, end to end: a file replayed through real GStreamer (as fast
//! as analysis allows, stamped with stream time, so the run is deterministic), YOLOX-nano in
//! ONNX Runtime, the tracker and rules, the outbox, and a real mosquitto; the test reads the
//! events as the monitoring center would. Every event must validate against the published
//! schema.
//!
//! The expected counts were taken by watching the videos (the times are in the comments),
//! not from vigia's own output.

// The motion gate's figures are printed for the record (`cargo test -- --nocapture`).
#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use vigia::{Config, RunOptions};
use vigia_sim::render::{RenderSpec, render_slideshow};
use vigia_testkit::mosquitto::Mosquitto;
use vigia_testkit::mqtt::Subscriber;
use vigia_testkit::{free_port, paths, shared_or_skip};

use common::{assert_valid_event, metric};

const PREFIX: &str = "sies/test/incidents";

/// What one replay produced.
struct Replay {
    /// (topic, event) in arrival order.
    events: Vec<(String, Value)>,
    /// /metrics at the end.
    metrics: String,
    /// HTTP port of the node (snapshots), open until `app` stops.
    http_port: u16,
    app: vigia::AppHandle,
    _broker: Mosquitto,
    _dir: tempfile::TempDir,
}

impl Replay {
    fn incidents(&self, rule: &str) -> Vec<&Value> {
        self.events
            .iter()
            .map(|(_, v)| v)
            .filter(|v| v["type"] == "incident" && v["rule"] == rule)
            .collect()
    }

    fn count(&self, rule: &str, lifecycle: &str) -> usize {
        self.incidents(rule)
            .iter()
            .filter(|v| v["lifecycle"] == lifecycle)
            .count()
    }

    fn objects_new(&self, class: &str) -> usize {
        self.events
            .iter()
            .filter(|(_, v)| {
                v["type"] == "object" && v["lifecycle"] == "new" && v["class"] == class
            })
            .count()
    }

    /// Frames the motion gate kept from the detector, and frames the detector ran on.
    /// Frames the motion gate skipped and frames analysed on `camera`; prints them.
    fn frames(&self, camera: &str) -> (f64, f64) {
        let (skipped, analysed) = (
            metric(
                &self.metrics,
                &format!("vigia_frames_skipped_total{{camera=\"{camera}\",reason=\"no_motion\"}}"),
            ),
            metric(
                &self.metrics,
                &format!("vigia_frames_analysed_total{{camera=\"{camera}\"}}"),
            ),
        );
        let in_region = metric(
            &self.metrics,
            &format!("vigia_frames_in_region_total{{camera=\"{camera}\"}}"),
        );
        // The detector's mean time (one model per replay): what the regions save.
        let sum = metric(&self.metrics, "vigia_inference_seconds_sum{model=\"yolox");
        let count = metric(&self.metrics, "vigia_inference_seconds_count{model=\"yolox");
        eprintln!(
            "{camera}: motion gate skipped {skipped} of {} frames ({:.0} %); {in_region} of the {analysed} analysed read in a motion region; detector {:.1} ms per run",
            skipped + analysed,
            100.0 * skipped / (skipped + analysed),
            1000.0 * sum / count.max(1.0)
        );
        (skipped, analysed)
    }

    /// Every incident: one `start`, at most one `end`, in order, all on the camera's
    /// incident topic; `end` for all of them once the replay is over.
    fn check_lifecycles(&self, camera: &str) {
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (topic, v) in &self.events {
            if v["type"] != "incident" {
                continue;
            }
            assert_eq!(topic, &format!("{PREFIX}/cameras/{camera}/incidents"));
            by_id
                .entry(v["incident_id"].as_str().unwrap().to_string())
                .or_default()
                .push(v["lifecycle"].as_str().unwrap().to_string());
        }
        for (id, l) in &by_id {
            assert_eq!(l.first().map(String::as_str), Some("start"), "{id}: {l:?}");
            assert_eq!(l.last().map(String::as_str), Some("end"), "{id}: {l:?}");
            assert!(
                l[1..l.len() - 1].iter().all(|x| x == "update"),
                "{id}: {l:?}"
            );
        }
    }
}

/// Replays `video` as camera `camera` with `rules` (TOML `[[rules]]` tables) and collects
/// every event until the file ended and the node has been quiet for a while (tracks and
/// incidents end a few seconds after the last frame).
async fn replay(camera: &str, video: &Path, fps: f64, rules: &str) -> Replay {
    let broker = Mosquitto::start().unwrap();
    let mut sub = Subscriber::connect(broker.port(), &format!("{PREFIX}/#")).await;
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port().unwrap();
    let root = paths::project_root();
    let head = common::node_config_head("incidents", &dir.path().join("data"), http_port, "", "");
    let text = format!(
        r#"{head}
[mqtt]
url = "mqtt://127.0.0.1:{broker}"
topic_prefix = "{PREFIX}"
[[cameras]]
id = "{camera}"
url = "file://{video}"
file_realtime = false
analysis_fps = {fps:.1}
{rules}
"#,
        broker = broker.port(),
        video = video.display(),
    );
    let rules = text.replace("{root}", &root.display().to_string());
    let cfg = Config::parse(&rules, Path::new("/"), Path::new("replay.toml"))
        .unwrap_or_else(|e| panic!("{e:#?}"));
    let app = vigia::start(cfg, RunOptions::default()).await.unwrap();

    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut ended = false;
    const QUIET: Duration = Duration::from_secs(8);
    loop {
        let wait = if ended {
            (tokio::time::Instant::now() + QUIET).min(deadline)
        } else {
            deadline
        };
        let m = match tokio::time::timeout_at(wait, sub.rx.recv()).await {
            Ok(m) => m.unwrap(),
            Err(_) if ended => break,
            Err(_) => panic!(
                "the replay did not end within 300 s; {} events",
                events.len()
            ),
        };
        if m.topic.ends_with("/available") {
            continue;
        }
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        if m.topic.ends_with("/stats") {
            common::assert_valid_stats(&v);
            continue;
        }
        assert_valid_event(&v);
        if v["type"] == "camera_status" && v["state"] == "offline" {
            ended = true;
        }
        events.push((m.topic, v));
    }
    let (_, metrics) = vigia_testkit::http::get_text(http_port, "/metrics")
        .await
        .unwrap();
    Replay {
        events,
        metrics,
        http_port,
        app,
        _broker: broker,
        _dir: dir,
    }
}

// The lobby video (140 s, one person at a time): six people walk in from the bottom, stand
// at the small table in the middle (feet at x≈0.56–0.64, y≈0.85–0.95), and leave to the
// right. Watched by hand, times in video seconds:
//   person 1:  7 – 19 s at the table (11 s), out to the right at 19 s
//   person 2: 23 – 44 s (19 s)
//   person 3: 51 – 69 s (16.5 s)
//   person 4: 75 – 86 s (8.5 s)
//   person 5: 93 – 119 s (24 s)
//   person 6: 124 – 135 s (9 s)
// Never two people at once. So: 6 intrusions into the table area, 6 crossings of the exit
// line, all left to right (A→B for a line drawn top to bottom), none back; loitering of 16 s
// or more by people 2, 3 and 5; no crowd.
const TABLE: &str = "[[0.4, 0.6], [0.75, 0.6], [0.75, 0.98], [0.4, 0.98]]";

/// The lobby's intrusion, loitering (16 s) and exit-line rules.
fn lobby_rules() -> String {
    format!(
        r#"
[[rules]]
name = "table-area"
camera = "lobby"
kind = "zone_intrusion"
zone = {TABLE}

[[rules]]
name = "table-loiter"
camera = "lobby"
kind = "loitering"
zone = {TABLE}
dwell_secs = 16
severity = "high"

[[rules]]
name = "exit"
camera = "lobby"
kind = "line_crossing"
line = [[0.78, 0.3], [0.78, 1.0]]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_video_gives_the_intrusions_crossings_and_loitering_counted_by_hand() {
    let video = shared_or_skip!("data/video/one-by-one-person-detection.mp4");
    let rules = format!(
        r#"{lobby}
[[rules]]
name = "crowd"
camera = "lobby"
kind = "crowding"
zone = [[0, 0], [1, 0], [1, 1], [0, 1]]
min_count = 2

# The classifier stage, with PP-OCR's text-direction classifier standing in for a
# center's own model: it scores person crops (meaninglessly, but for real).
[[rules]]
name = "table-scored"
camera = "lobby"
kind = "zone_intrusion"
zone = {TABLE}
classifier = {{ manifest = "{{root}}/models/ppocr_cls.toml", label = "180", min_score = 0.0 }}

# No crop can score 1.0: this rule never fires.
[[rules]]
name = "table-never"
camera = "lobby"
kind = "zone_intrusion"
zone = {TABLE}
classifier = {{ manifest = "{{root}}/models/ppocr_cls.toml", label = "180", min_score = 1.0 }}
"#,
        lobby = lobby_rules()
    );
    let r = replay("lobby", &video, 5.0, &rules).await;
    r.check_lifecycles("lobby");

    // One track per person.
    assert_eq!(r.objects_new("person"), 6, "person tracks");

    // Intrusions: one per person, each with the person, the zone and a served snapshot.
    assert_eq!(r.count("table-area", "start"), 6);
    assert_eq!(r.count("table-area", "end"), 6);
    let first = r.incidents("table-area")[0];
    assert_eq!(first["kind"], "zone_intrusion");
    assert_eq!(first["severity"], "medium");
    assert_eq!(first["objects"][0]["class"], "person");
    assert_eq!(first["zone"].as_array().unwrap().len(), 4);
    let url = first["media"]["snapshot_url"].as_str().unwrap();
    let (code, body) = vigia_testkit::http::get(r.http_port, &url[url.find("/api/").unwrap()..])
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert!(body.starts_with(&[0xff, 0xd8]), "a JPEG");
    // Every incident carries a snapshot, also those that start while the motion gate skips
    // frames (people standing still at the table).
    for (_, v) in &r.events {
        if v["type"] == "incident" {
            assert!(v["media"]["snapshot_url"].is_string(), "{v}");
        }
    }
    for v in r.incidents("table-area") {
        if v["lifecycle"] == "end" {
            let d = v["duration_ms"].as_u64().unwrap();
            assert!((5_000..40_000).contains(&d), "a visit lasts 8–25 s: {v}");
        }
    }

    // Crossings: six A→B, none B→A, with running totals.
    let crossings: Vec<&Value> = r
        .incidents("exit")
        .into_iter()
        .filter(|v| v["lifecycle"] == "start")
        .collect();
    assert_eq!(crossings.len(), 6, "{crossings:#?}");
    assert!(crossings.iter().all(|v| v["direction"] == "a_to_b"));
    let last = crossings.last().unwrap();
    assert_eq!(last["crossings"]["a_to_b"], 6);
    assert_eq!(last["crossings"]["b_to_a"], 0);

    // Loitering: people 2, 3 and 5, each once, when their dwell reached 16 s; high severity,
    // so each also raised an alert pointing at it.
    let loiter_starts: Vec<&Value> = r
        .incidents("table-loiter")
        .into_iter()
        .filter(|v| v["lifecycle"] == "start")
        .collect();
    assert_eq!(loiter_starts.len(), 3, "{loiter_starts:#?}");
    assert_eq!(r.count("table-loiter", "end"), 3);
    for v in &loiter_starts {
        assert!(v["duration_ms"].as_u64().unwrap() >= 16_000, "{v}");
        assert_eq!(v["severity"], "high");
    }
    let alerts: Vec<&Value> = r
        .events
        .iter()
        .filter(|(t, v)| v["type"] == "alert" && t == &format!("{PREFIX}/alerts"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(alerts.len(), 3, "{alerts:#?}");
    for a in &alerts {
        assert_eq!(a["reason"], "incident");
        assert_eq!(a["rule"], "table-loiter");
        assert!(
            loiter_starts
                .iter()
                .any(|s| s["id"] == a["source_event_id"] && s["incident_id"] == a["incident_id"]),
            "{a}"
        );
    }

    // Never two people at once.
    assert_eq!(r.incidents("crowd").len(), 0);

    // The classifier stage: its score rides on the incident; an unreachable threshold
    // keeps the rule quiet.
    assert_eq!(r.count("table-scored", "start"), 6);
    for v in r.incidents("table-scored") {
        assert_eq!(v["classifier"]["model"], "ppocr_cls", "{v}");
        assert_eq!(v["classifier"]["label"], "180");
        let s = v["classifier"]["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&s));
    }
    assert_eq!(r.incidents("table-never").len(), 0);
    assert!(
        metric(
            &r.metrics,
            "vigia_incidents_total{camera=\"lobby\",kind=\"loitering\"}"
        ) == 3.0
    );

    let (skipped, analysed) = r.frames("lobby");
    assert!(skipped > 0.0 && analysed > 0.0);
    r.app.stop().await.unwrap();
}

// The car-park video (30 s, seen from above): cars drive through and none stops. (YOLOX-nano,
// trained on COCO's street-level views, hardly sees cars from straight above: this video
// gives one short, spurious `bus` track. The stopped-vehicle rule must stay quiet.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn car_park_video_where_no_car_stops_gives_no_stopped_vehicle() {
    let video = shared_or_skip!("data/video/car-detection.mp4");
    let rules = r#"
[[rules]]
name = "no-stopping"
camera = "car-park"
kind = "stopped_vehicle"
zone = [[0, 0], [1, 0], [1, 1], [0, 1]]
dwell_secs = 4
"#;
    let r = replay("car-park", &video, 5.0, rules).await;
    assert_eq!(r.incidents("no-stopping").len(), 0);
    let (skipped, analysed) = r.frames("car-park");
    assert!(skipped > 0.0 && analysed > 0.0);
    r.app.stop().await.unwrap();
}

// Real car photos rendered into a video: each photo drives in from the left, stops in the
// middle for 10 s, and drives on to the right. The first photo holds two cars (a silver
// car and, beside it, a yellow taxi), the second one (a VW SUV; the cars far behind it are
// a few pixels tall): three stopped vehicles. Each drives against a "left-bound" direction
// (wrong way) and with a "right-bound" one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cars_that_stop_and_drive_the_wrong_way_are_reported() {
    let shared = match paths::shared_dir() {
        Ok(d) => d,
        Err(reason) => {
            paths::skip("cars_that_stop", &reason.to_string());
            return;
        }
    };
    let photos: Vec<PathBuf> = vec![
        shared.join("data/plates/co/EMK001.jpg"),
        shared.join("data/plates/eu/eu10.jpg"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("stops.mp4");
    let spec = RenderSpec {
        hold: Duration::from_secs(10),
        slide: Duration::from_secs(4),
        gap: Duration::from_secs(4),
        ..RenderSpec::default()
    };
    let shown = tokio::task::spawn_blocking({
        let video = video.clone();
        move || render_slideshow(&photos, &video, &spec)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(shown.len(), 2);
    let rules = r#"
[[rules]]
name = "no-stopping"
camera = "street"
kind = "stopped_vehicle"
zone = [[0, 0], [1, 0], [1, 1], [0, 1]]
dwell_secs = 5
severity = "high"

[[rules]]
name = "left-bound"
camera = "street"
kind = "wrong_way"
direction = [-1, 0]

[[rules]]
name = "right-bound"
camera = "street"
kind = "wrong_way"
direction = [1, 0]
"#;
    let r = replay("street", &video, 5.0, rules).await;
    r.check_lifecycles("street");
    let starts = |rule: &str| r.count(rule, "start");
    assert_eq!(
        starts("no-stopping"),
        3,
        "{:#?}",
        r.incidents("no-stopping")
    );
    for v in r.incidents("no-stopping") {
        assert_eq!(v["kind"], "stopped_vehicle");
        let class = v["objects"][0]["class"].as_str().unwrap();
        assert!(["car", "truck", "bus"].contains(&class), "{v}");
    }
    // Each car drives right before its stop and after it: one incident each, through the stop.
    assert_eq!(starts("left-bound"), 3, "{:#?}", r.incidents("left-bound"));
    assert_eq!(
        starts("right-bound"),
        0,
        "{:#?}",
        r.incidents("right-bound")
    );
    let alerts = r
        .events
        .iter()
        .filter(|(_, v)| v["type"] == "alert" && v["rule"] == "no-stopping")
        .count();
    assert_eq!(alerts, 3);
    let (skipped, _) = r.frames("street");
    assert!(skipped > 0.0, "the 10 s stops are still frames");

    r.app.stop().await.unwrap();
}

/// Seconds since the run's first object sighting (runs start at different wall times).
fn offsets(r: &Replay) -> impl Fn(&Value) -> f64 + '_ {
    let t = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis() as f64
            / 1e3
    };
    let zero = r
        .events
        .iter()
        .filter(|(_, v)| v["type"] == "object")
        .map(|(_, v)| t(&v["first_seen"]))
        .fold(f64::INFINITY, f64::min);
    move |v: &Value| t(v) - zero
}

/// `(class, first, last)` of every ended track, and `(rule, start)` of every incident.
type Tracks = Vec<(String, f64, f64)>;
fn tracks_and_incidents(r: &Replay) -> (Tracks, Vec<(String, f64)>) {
    let at = offsets(r);
    let mut tracks = Vec::new();
    let mut incidents = Vec::new();
    for (_, v) in &r.events {
        if v["type"] == "object" && v["lifecycle"] == "end" {
            let class = v["class"].as_str().unwrap().to_string();
            tracks.push((class, at(&v["first_seen"]), at(&v["last_seen"])));
        }
        if v["type"] == "incident" && v["lifecycle"] == "start" {
            incidents.push((
                v["rule"].as_str().unwrap().to_string(),
                at(&v["started_at"]),
            ));
        }
    }
    (tracks, incidents)
}

/// Tracks and incidents of a video under a cheaper setting (`camera_extra`: lines for the
/// camera's table), against analysing every frame at the detector's full input (motion gate
/// off, the reference). A reference track is found when a track of the same class covers
/// half of it, a reference incident when the same rule starts within 2 s.
struct Recall {
    tracks: (usize, usize),
    incidents: (usize, usize),
}

impl Recall {
    fn of((found, of): (usize, usize)) -> f64 {
        found as f64 / of.max(1) as f64
    }
}

async fn recall(camera: &str, video: &Path, rules: &str, what: &str, camera_extra: &str) -> Recall {
    let every = replay(
        camera,
        video,
        5.0,
        &format!("{rules}\n[motion]\nenabled = false\n"),
    )
    .await;
    let (ref_tracks, ref_incidents) = tracks_and_incidents(&every);
    every.app.stop().await.unwrap();
    let cheap = replay(camera, video, 5.0, &format!("{camera_extra}\n{rules}")).await;
    let (skipped, analysed) = cheap.frames(camera);
    let (tracks, incidents) = tracks_and_incidents(&cheap);
    cheap.app.stop().await.unwrap();

    let found_tracks = ref_tracks
        .iter()
        .filter(|(c, s, e)| {
            tracks.iter().any(|(c2, s2, e2)| {
                let overlap = e.min(*e2) - s.max(*s2);
                c == c2 && overlap >= 0.5 * (e - s).min(e2 - s2)
            })
        })
        .count();
    let found_incidents = ref_incidents
        .iter()
        .filter(|(rule, t)| {
            incidents
                .iter()
                .any(|(r2, t2)| rule == r2 && (t - t2).abs() <= 2.0)
        })
        .count();
    let r = Recall {
        tracks: (found_tracks, ref_tracks.len()),
        incidents: (found_incidents, ref_incidents.len()),
    };
    eprintln!(
        "{what} on the {camera} video: {skipped} of {} frames skipped; track recall {found_tracks}/{} = {:.3} ({} tracks: {tracks:?}; reference: {ref_tracks:?}); incident recall {found_incidents}/{} = {:.3} ({} incidents)",
        skipped + analysed,
        ref_tracks.len(),
        Recall::of(r.tracks),
        tracks.len(),
        ref_incidents.len(),
        Recall::of(r.incidents),
        incidents.len(),
    );
    r
}

/// [`recall`] on the lobby video with its rules; ≥ 95 % of tracks and incidents found.
async fn lobby_recall(video: &Path, what: &str, camera_extra: &str) {
    let r = recall("lobby", video, &lobby_rules(), what, camera_extra).await;
    assert!(
        r.tracks.1 >= 6 && r.incidents.1 >= 12,
        "reference too small"
    );
    assert!(
        Recall::of(r.tracks) >= 0.95,
        "{what}: tracks {:?}",
        r.tracks
    );
    assert!(
        Recall::of(r.incidents) >= 0.95,
        "{what}: incidents {:?}",
        r.incidents
    );
}

// The motion gate's cost in events (issue: recall of tracks and incidents against analysing
// every frame): the default gate on, which reads frames with motion only in the region that
// moved, and the gate alone (every frame it lets through read whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_motion_gate_keeps_the_tracks_and_incidents_of_every_frame_analysis() {
    let video = shared_or_skip!("data/video/one-by-one-person-detection.mp4");
    lobby_recall(&video, "motion gate with regions (default)", "").await;
    lobby_recall(
        &video,
        "motion gate, whole frames",
        "[motion]\nregions = false\n",
    )
    .await;
}

// The cheaper detector input (`detector_width = 320`: 320x192 instead of 416x256 for this
// 768x432 camera, the capacity setting of docs/performance.md), motion gate on, against the
// same every-frame full-input reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrower_detector_input_keeps_the_tracks_and_incidents() {
    let video = shared_or_skip!("data/video/one-by-one-person-detection.mp4");
    lobby_recall(
        &video,
        "motion gate and detector_width = 320",
        "detector_width = 320",
    )
    .await;
    // The car park seen from above, where YOLOX-nano sees few cars even at its full input:
    // reported, not asserted (docs/performance.md quotes it).
    let video = shared_or_skip!("data/video/car-detection.mp4");
    recall(
        "car-park",
        &video,
        "",
        "motion gate and detector_width = 320",
        "detector_width = 320",
    )
    .await;
}
