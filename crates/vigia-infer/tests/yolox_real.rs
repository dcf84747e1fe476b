//! YOLOX-nano through ONNX Runtime on a real photo, checked against a reference computed
//! independently (onnxruntime in Python with PIL resize, same letterbox and decode):
//! eu3.jpg -> one car, score 0.925, box [29.9, 56.5, 443.1, 224.2] (x, y, w, h).

#![allow(clippy::print_stderr, reason = "the comparison figures are the report")]

use std::path::PathBuf;

use vigia_core::BBox;
use vigia_infer::detector::{Detector, DetectorOptions};
use vigia_infer::{DetectorConfig, ExecutionProvider, RgbView, runtime};
use vigia_testkit::{paths, shared_or_skip};

fn detector() -> Detector {
    detector_from("models/yolox_nano.toml")
}

fn detector_from(manifest: &str) -> Detector {
    let env = runtime::environment(None).expect("ONNX Runtime (run the README's set-up)");
    let opts = DetectorOptions {
        detector: DetectorConfig {
            manifest: paths::project_root().join(manifest),
            ..DetectorConfig::default()
        },
        provider: ExecutionProvider::Cpu,
        threads: 1,
        models_dirs: Vec::<PathBuf>::new(),
    };
    Detector::load(&env, &opts)
        .unwrap_or_else(|e| panic!("{manifest} loads (run the README's set-up): {e}"))
}

/// The input sized to the picture (`yolox_nano_fit.toml`, 416x256 for 16:9) finds what the
/// fixed 416x416 input finds: same classes, same boxes, same scores within rounding, on
/// every labelled photo and on a 16:9 cut of each.
#[test]
fn an_input_fitted_to_the_picture_finds_what_the_square_input_finds() {
    let dir = shared_or_skip!("data/plates/eu");
    let mut fixed = detector();
    let mut fit = detector_from("models/yolox_nano_fit.toml");
    let (mut want, mut found, mut max_score_diff) = (0usize, 0usize, 0f32);
    let mut photos: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    photos.sort();
    for path in &photos {
        let img = image::open(path).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        let view = RgbView::new(w, h, w as usize * 3, img.as_raw()).unwrap();
        let wide = BBox::new(0.0, 0.0, w as f32, (w as f32 * 9.0 / 16.0).min(h as f32));
        for region in [None, Some(wide)] {
            let a = fixed.detect_in(&view, region).unwrap();
            let b = fit.detect_in(&view, region).unwrap();
            for d in &a {
                want += 1;
                if let Some(m) = b
                    .iter()
                    .find(|e| e.label == d.label && e.bbox.iou(&d.bbox) > 0.8)
                {
                    found += 1;
                    max_score_diff = max_score_diff.max((m.score - d.score).abs());
                }
            }
        }
    }
    let recall = found as f64 / want.max(1) as f64;
    eprintln!(
        "fitted input: {found} of {want} square-input detections found again ({:.1} %), largest score difference {max_score_diff:.3}, {} photos",
        recall * 100.0,
        photos.len()
    );
    assert!(want > 100, "{want}");
    assert!(recall >= 0.95, "{found} of {want}");
}

#[test]
fn detects_the_car_in_a_real_photo_like_the_reference() {
    let path = shared_or_skip!("data/plates/eu/eu3.jpg");
    let img = image::open(&path).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let view = RgbView::new(w, h, w as usize * 3, img.as_raw()).unwrap();
    let mut det = detector();
    let found = det.detect(&view).unwrap();
    let cars: Vec<_> = found.iter().filter(|d| &*d.label == "car").collect();
    assert_eq!(cars.len(), 1, "{found:?}");
    let car = cars[0];
    assert!((car.score - 0.925).abs() < 0.03, "score {}", car.score);
    let reference = BBox::new(29.9, 56.5, 443.1, 224.2);
    assert!(
        car.bbox.iou(&reference) > 0.95,
        "{:?} vs {reference:?}",
        car.bbox
    );
    // Same picture twice: same answer (sessions are deterministic on CPU).
    assert_eq!(det.detect(&view).unwrap(), found);
}

#[test]
fn a_uniform_grey_picture_has_no_objects() {
    let grey = vec![114u8; 640 * 360 * 3];
    let view = RgbView::new(640, 360, 640 * 3, &grey).unwrap();
    assert!(detector().detect(&view).unwrap().is_empty());
}

#[test]
fn a_model_file_with_the_wrong_checksum_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(paths::project_root().join("models/yolox_nano.toml"))
        .unwrap()
        .replace("file = \"yolox_nano.onnx\"", "file = \"bad.onnx\"");
    std::fs::write(dir.path().join("m.toml"), manifest).unwrap();
    std::fs::write(dir.path().join("bad.onnx"), b"not a model").unwrap();
    let env = runtime::environment(None).unwrap();
    let opts = DetectorOptions {
        detector: DetectorConfig {
            manifest: dir.path().join("m.toml"),
            ..DetectorConfig::default()
        },
        provider: ExecutionProvider::Cpu,
        threads: 1,
        models_dirs: Vec::new(),
    };
    let err = Detector::load(&env, &opts).unwrap_err().to_string();
    assert!(err.contains("bad.onnx") && err.contains("sha256"), "{err}");
}
