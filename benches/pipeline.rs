#![allow(clippy::print_stderr)]
//! Per-stage costs of the analysis pipeline, each next to its baseline:
//!
//! - `preprocess`: letterbox of a 768x432 frame (the demo cameras) and of a 1920x1080 frame
//!   into YOLOX's 416x416 f32 input;
//! - `detector`: YOLOX-nano end to end (preprocess, ONNX Runtime, decode, NMS) on a 16:9
//!   picture: the square 416x416 input with 1 (baseline) and 2 intra-op threads, the input
//!   fitted to the picture (`models/yolox_nano_fit.toml`, 416x256) and int8
//!   (`models/yolox_nano_int8.toml`); next to
//!   them `bare_ort`: the same model's session alone on the same prepared tensor (what vigia
//!   adds is the difference), with vigia's session options and with ONNX Runtime's defaults
//!   (spinning intra-op threads) (needs the set-up; skipped with a message otherwise);
//! - `tracker`: one tracker update with 5 and 50 objects in the frame;
//! - `tracking_and_rules`: per analysed frame, the tracker alone (baseline) vs the tracker
//!   plus one rule of each of the six kinds, with 5 and 50 moving objects;
//! - `motion_gate`: the gate's check of a 768x432 frame (what a skipped frame costs instead
//!   of the detector);
//! - `outbox_append`: one 600-byte event appended and acknowledged with `fsync = "never"`
//!   (baseline) vs `"interval"` (group commit every 50 ms) vs `"always"` (fdatasync per
//!   record); `outbox_append_4_writers`: the same from 4 threads at once. Criterion prints
//!   events/s (`thrpt`). Set `VIGIA_BENCH_DIR` to a directory on the outbox's disk.
//!
//! Run: `cargo bench --bench pipeline` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigia_core::{BBox, Detection};
use vigia_infer::detector::{Detector, DetectorOptions};
use vigia_infer::image::Preprocessor;
use vigia_infer::manifest::ModelManifest;
use vigia_infer::{DetectorConfig, ExecutionProvider, RgbView, runtime};
use vigia_outbox::{FsyncPolicy, Outbox, OutboxConfig};
use vigia_track::{Tracker, TrackerConfig};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A frame with texture (a gradient), so resizing does real work.
fn frame(w: u32, h: u32) -> Vec<u8> {
    (0..w * h * 3).map(|i| (i % 251) as u8).collect()
}

fn preprocess(c: &mut Criterion) {
    let manifest = ModelManifest::load(&root().join("models/yolox_nano.toml")).unwrap();
    let mut g = c.benchmark_group("preprocess");
    for (w, h) in [(768u32, 432u32), (1920, 1080)] {
        let data = frame(w, h);
        let view = RgbView::new(w, h, w as usize * 3, &data).unwrap();
        let mut pre = Preprocessor::new(manifest.input.clone());
        let mut out = vec![0f32; pre.item_len()];
        g.bench_function(BenchmarkId::new("letterbox_416", format!("{w}x{h}")), |b| {
            b.iter(|| pre.fill_f32(black_box(&view), None, &mut out).unwrap())
        });
    }
    g.finish();
}

fn detector(c: &mut Criterion) {
    let env = match runtime::environment(None) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("detector benchmark skipped: {e}");
            return;
        }
    };
    let photo = root().join("../shared/data/plates/eu/eu3.jpg");
    let (w, h, data) = match image::open(&photo) {
        Ok(img) => {
            let rgb = img.to_rgb8();
            (rgb.width(), rgb.height(), rgb.into_raw())
        }
        Err(_) => (768, 432, frame(768, 432)),
    };
    let view = RgbView::new(w, h, w as usize * 3, &data).unwrap();
    let mut g = c.benchmark_group("detector");
    g.measurement_time(Duration::from_secs(8));
    // A 16:9 cut of the photo, as a camera frame is.
    let wide = vigia_core::BBox::new(0.0, 0.0, w as f32, (w as f32 * 9.0 / 16.0).min(h as f32));
    for (model, threads) in [
        ("yolox_nano", 1usize),
        ("yolox_nano", 2),
        ("yolox_nano_fit", 1),
        ("yolox_nano_int8", 1),
    ] {
        let opts = DetectorOptions {
            detector: DetectorConfig {
                manifest: root().join(format!("models/{model}.toml")),
                ..DetectorConfig::default()
            },
            provider: ExecutionProvider::Cpu,
            threads,
            models_dirs: Vec::new(),
        };
        let mut det = match Detector::load(&env, &opts) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("detector benchmark {model} skipped: {e}");
                continue;
            }
        };
        g.bench_function(BenchmarkId::new(model, format!("{threads}_threads")), |b| {
            b.iter(|| det.detect_in(black_box(&view), Some(wide)).unwrap())
        });
    }
    g.finish();
    bare_ort(c, &env, &view, wide);
}

fn bare_session(
    env: &ort::environment::Environment,
    threads: usize,
    spinning: bool,
    path: &std::path::Path,
) -> ort::Result<ort::session::Session> {
    ort::session::Session::builder(env)?
        .with_intra_threads(threads)?
        .with_intra_op_spinning(spinning)?
        .commit_from_file(path)
}

/// The float model's session alone on a prepared tensor: vigia's options (intra-op threads
/// that sleep when idle) and ONNX Runtime's defaults (they spin).
fn bare_ort(
    c: &mut Criterion,
    env: &ort::environment::Environment,
    view: &RgbView,
    region: vigia_core::BBox,
) {
    let manifest = ModelManifest::load(&root().join("models/yolox_nano.toml")).unwrap();
    let path = root().join(".vigia/models/yolox_nano.onnx");
    let mut pre = Preprocessor::new(manifest.input.clone());
    let mut input = vec![0f32; pre.item_len()];
    pre.fill_f32(view, Some(region), &mut input).unwrap();
    let shape = [1usize, 3, 416, 416];
    let mut g = c.benchmark_group("bare_ort");
    g.measurement_time(Duration::from_secs(8));
    for (threads, spinning) in [(1usize, false), (2, false), (1, true), (2, true)] {
        let session = bare_session(env, threads, spinning, &path);
        let mut session = match session {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bare ONNX Runtime benchmark skipped: {e}");
                return;
            }
        };
        let name = if spinning {
            "spinning"
        } else {
            "vigia_options"
        };
        g.bench_function(
            BenchmarkId::new(format!("yolox_nano_{name}"), format!("{threads}_threads")),
            |b| {
                b.iter(|| {
                    let t = ort::value::TensorRef::from_array_view((shape, &input[..])).unwrap();
                    let out = session.run(ort::inputs!["images" => t]).unwrap();
                    black_box(out.len())
                })
            },
        );
    }
    g.finish();
}

fn tracker(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracker");
    for n in [5usize, 50] {
        let dets: Vec<Detection> = (0..n)
            .map(|i| Detection {
                class_id: (i % 3) as u32,
                label: "car".into(),
                score: 0.8,
                bbox: BBox::new((i % 10) as f32 * 70.0, (i / 10) as f32 * 80.0, 50.0, 60.0),
            })
            .collect();
        let mut tr = Tracker::new(TrackerConfig::default());
        let mut t = 0u64;
        g.bench_function(BenchmarkId::new("update", format!("{n}_objects")), |b| {
            b.iter(|| {
                t += 200;
                tr.update(Duration::from_millis(t), Utc::now(), black_box(&dets))
            })
        });
    }
    g.finish();
}

/// Where the outbox benchmarks write: `VIGIA_BENCH_DIR` (put it on the disk the outbox will
/// use: fsync cost is the disk's), else the system temp dir.
fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("VIGIA_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn open_outbox(policy: FsyncPolicy) -> (tempfile::TempDir, Outbox) {
    let dir = bench_dir();
    let cfg = OutboxConfig {
        fsync: policy,
        fsync_interval_ms: 50,
        max_bytes: 64 << 30,
        ..OutboxConfig::default()
    };
    let (ob, _) = Outbox::open(dir.path(), &cfg).unwrap();
    (dir, ob)
}

const POLICIES: [FsyncPolicy; 3] = [
    FsyncPolicy::Never,
    FsyncPolicy::Interval,
    FsyncPolicy::Always,
];

fn outbox(c: &mut Criterion) {
    let payload = vec![b'x'; 600];
    let mut g = c.benchmark_group("outbox_append");
    g.throughput(Throughput::Elements(1));
    for policy in POLICIES {
        let (_dir, ob) = open_outbox(policy);
        g.bench_function(
            BenchmarkId::new(
                "append_then_ack_600_bytes",
                format!("{policy:?}").to_lowercase(),
            ),
            |b| {
                b.iter(|| {
                    let seq = ob.append(black_box(&payload)).unwrap();
                    ob.ack(seq).unwrap();
                })
            },
        );
    }
    g.finish();

    // Several cameras' analysis appending at once: 4 threads x 50 events per iteration.
    let mut g = c.benchmark_group("outbox_append_4_writers");
    g.throughput(Throughput::Elements(200));
    g.sample_size(10);
    for policy in POLICIES {
        let (_dir, ob) = open_outbox(policy);
        g.bench_function(
            BenchmarkId::new("200_events_600_bytes", format!("{policy:?}").to_lowercase()),
            |b| {
                b.iter(|| {
                    std::thread::scope(|s| {
                        for _ in 0..4 {
                            s.spawn(|| {
                                for _ in 0..50 {
                                    let seq = ob.append(black_box(&payload)).unwrap();
                                    ob.ack(seq).unwrap();
                                }
                            });
                        }
                    });
                })
            },
        );
    }
    g.finish();
}

/// `n` people walking right, 20 px per frame, wrapping around a 1280x720 frame.
fn walkers(n: usize, step: u64) -> Vec<Detection> {
    (0..n)
        .map(|i| {
            let x = ((i as u64 * 97 + step * 20) % 1200) as f32;
            let y = (i / 10) as f32 * 120.0 + 40.0;
            Detection {
                class_id: 0,
                label: "person".into(),
                score: 0.8,
                bbox: BBox::new(x, y, 40.0, 100.0),
            }
        })
        .collect()
}

fn six_rules() -> Vec<vigia_rules::RuleConfig> {
    let text = r#"
[[rules]]
name = "zone"
camera = "c"
kind = "zone_intrusion"
zone = [[0.1, 0.1], [0.6, 0.1], [0.6, 0.9], [0.1, 0.9]]
[[rules]]
name = "line"
camera = "c"
kind = "line_crossing"
line = [[0.5, 0.0], [0.5, 1.0]]
[[rules]]
name = "loiter"
camera = "c"
kind = "loitering"
zone = [[0.1, 0.1], [0.6, 0.1], [0.6, 0.9], [0.1, 0.9]]
dwell_secs = 10
[[rules]]
name = "crowd"
camera = "c"
kind = "crowding"
zone = [[0, 0], [1, 0], [1, 1], [0, 1]]
min_count = 5
[[rules]]
name = "wrong"
camera = "c"
kind = "wrong_way"
direction = [-1, 0]
classes = ["person"]
[[rules]]
name = "stopped"
camera = "c"
kind = "stopped_vehicle"
zone = [[0, 0], [1, 0], [1, 1], [0, 1]]
dwell_secs = 10
classes = ["person"]
"#;
    #[derive(serde::Deserialize)]
    struct F {
        rules: Vec<vigia_rules::RuleConfig>,
    }
    toml::from_str::<F>(text).unwrap().rules
}

fn tracking_and_rules(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracking_and_rules");
    let (w, h) = (1280u32, 720u32);
    let local = Utc::now().naive_utc();
    for n in [5usize, 50] {
        let frames: Vec<Vec<Detection>> = (0..64).map(|s| walkers(n, s)).collect();
        for with_rules in [false, true] {
            let mut tr = Tracker::new(TrackerConfig::default());
            let mut rules =
                vigia_rules::RuleSet::new(if with_rules { six_rules() } else { Vec::new() });
            let mut step = 0u64;
            let name = if with_rules {
                "tracker_and_6_rules"
            } else {
                "tracker_only"
            };
            g.bench_function(BenchmarkId::new(name, format!("{n}_objects")), |b| {
                b.iter(|| {
                    step += 1;
                    let now = Duration::from_millis(step * 200);
                    let dets = &frames[(step % 64) as usize];
                    let changes = tr.update(now, Utc::now(), black_box(dets));
                    if with_rules {
                        let views: Vec<vigia_rules::TrackView> = tr
                            .confirmed()
                            .map(|o| vigia_rules::TrackView {
                                id: o.id,
                                label: o.label.clone(),
                                bbox: o.bbox.normalised(w, h),
                                velocity: [o.velocity.0 / w as f32, o.velocity.1 / h as f32],
                            })
                            .collect();
                        let out = rules.update(now, local, &views, &mut |_, _| {
                            vigia_rules::debounce::Gate::Allow(None)
                        });
                        black_box(out);
                    }
                    black_box(changes)
                })
            });
        }
    }
    g.finish();
}

fn motion_gate(c: &mut Criterion) {
    let mut g = c.benchmark_group("motion_gate");
    let (w, h) = (768u32, 432u32);
    let a = frame(w, h);
    let mut b2 = a.clone();
    b2.iter_mut()
        .take(20_000)
        .for_each(|v| *v = v.wrapping_add(60));
    let views = [
        RgbView::new(w, h, w as usize * 3, &a).unwrap(),
        RgbView::new(w, h, w as usize * 3, &b2).unwrap(),
    ];
    let mut gate = vigia_infer::motion::MotionGate::new(Default::default());
    let mut i = 0u64;
    g.bench_function(BenchmarkId::new("check", format!("{w}x{h}")), |b| {
        b.iter(|| {
            i += 1;
            gate.check(
                black_box(&views[(i % 2) as usize]),
                Duration::from_millis(i * 200),
            )
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    preprocess,
    detector,
    tracker,
    tracking_and_rules,
    motion_gate,
    outbox
);
criterion_main!(benches);
