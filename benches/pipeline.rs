#![allow(clippy::print_stderr)]
//! Per-stage costs of the analysis pipeline, each next to its baseline:
//!
//! - `preprocess`: letterbox of a 768x432 frame (the demo cameras) and of a 1920x1080 frame
//!   into YOLOX's 416x416 f32 input;
//! - `detector`: YOLOX-nano end to end (preprocess, ONNX Runtime, decode, NMS) with 1 and 2
//!   intra-op threads (needs the set-up; skipped with a message otherwise);
//! - `tracker`: one IoU tracker update with 5 and 50 objects in the frame;
//! - `outbox_append`: one 600-byte event with `fsync = "never"` (baseline) vs `"always"`.
//!
//! Run: `cargo bench --bench pipeline` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
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
    for threads in [1usize, 2] {
        let opts = DetectorOptions {
            detector: DetectorConfig {
                manifest: root().join("models/yolox_nano.toml"),
                ..DetectorConfig::default()
            },
            provider: ExecutionProvider::Cpu,
            threads,
            models_dirs: Vec::new(),
        };
        let mut det = match Detector::load(&env, &opts) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("detector benchmark skipped: {e}");
                return;
            }
        };
        g.bench_function(
            BenchmarkId::new("yolox_nano", format!("{threads}_threads")),
            |b| b.iter(|| det.detect(black_box(&view)).unwrap()),
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

fn outbox(c: &mut Criterion) {
    let payload = vec![b'x'; 600];
    let mut g = c.benchmark_group("outbox_append");
    for policy in [FsyncPolicy::Never, FsyncPolicy::Always] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = OutboxConfig {
            fsync: policy,
            max_bytes: 64 << 30,
            ..OutboxConfig::default()
        };
        let (ob, _) = Outbox::open(dir.path(), &cfg).unwrap();
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
}

criterion_group!(benches, preprocess, detector, tracker, outbox);
criterion_main!(benches);
