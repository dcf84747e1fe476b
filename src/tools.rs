//! `vigia read` and `vigia eval`: the plate chain on still pictures; `vigia draw-rules`:
//! a camera's rules drawn on a frame of it.
//!
//! `eval` scores a folder in the openalpr benchmark format: for each image an optional
//! `.txt` beside it with lines `file x y w h PLATE` (tab or space separated; box in
//! pixels). An image without a `.txt` is labelled by its file name (`EMK001.jpg`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use vigia_core::BBox;
use vigia_infer::detector::{Detector, DetectorOptions};
use vigia_infer::{RgbView, runtime};
use vigia_lpr::hotlist::distance;

use crate::config::Config;
use crate::plates::{PlateFound, PlateReader, PlateScan, StageTimes, load_rgb};

/// The vehicle classes the LPR chain cares about.
pub const VEHICLE_CLASSES: &[&str] = &["car", "motorcycle", "bus", "truck"];

/// The models of the plate chain, plus the vehicle detector.
pub struct Chain {
    pub vehicles: Detector,
    pub plates: PlateReader,
}

impl Chain {
    pub fn load(cfg: &Config) -> Result<Self> {
        let env = runtime::environment(cfg.inference.ort_library.as_deref())?;
        let vehicles = Detector::load(
            &env,
            &DetectorOptions {
                detector: cfg.inference.detector.clone(),
                provider: cfg.inference.execution_provider,
                threads: cfg.inference.threads_per_worker,
                models_dirs: cfg.inference.models_dirs.clone(),
            },
        )
        .context("loading the vehicle detector (inference.detector)")?;
        let plates = PlateReader::load(&env, &cfg.lpr, &cfg.inference)?;
        Ok(Self { vehicles, plates })
    }
}

#[derive(Debug, Serialize)]
struct PlateJson {
    number: String,
    raw: String,
    format: Option<String>,
    country_code: Option<String>,
    plate_type: Option<String>,
    color: Option<vigia_lpr::PlateColor>,
    likelihood: f32,
    char_likelihoods: Vec<f32>,
    detection_score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
}

fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

impl From<&PlateFound> for PlateJson {
    fn from(p: &PlateFound) -> Self {
        Self {
            number: p.plate.number.clone(),
            raw: p.plate.raw.clone(),
            format: p.plate.format.as_deref().map(str::to_string),
            country_code: p.plate.country.as_deref().map(str::to_string),
            plate_type: p.plate.plate_type.as_deref().map(str::to_string),
            color: p.color,
            likelihood: round3(p.plate.likelihood),
            char_likelihoods: p
                .plate
                .char_likelihoods
                .iter()
                .map(|v| round3(*v))
                .collect(),
            detection_score: round3(p.detection_score),
            bbox: [
                p.bbox.x.round(),
                p.bbox.y.round(),
                p.bbox.w.round(),
                p.bbox.h.round(),
            ],
        }
    }
}

/// `vigia read IMAGE...`: JSON, one object per image.
#[allow(clippy::print_stdout)]
pub fn read(cfg: &Config, images: &[PathBuf]) -> Result<()> {
    let mut chain = Chain::load(cfg)?;
    let mut out = Vec::new();
    for path in images {
        let (w, h, rgb) = load_rgb(path)?;
        let view = RgbView::new(w, h, w as usize * 3, &rgb).map_err(anyhow::Error::msg)?;
        let t = Instant::now();
        let vehicles = chain.vehicles.detect(&view)?;
        let vehicle_ms = t.elapsed().as_secs_f64() * 1e3;
        let (plates, times) = chain.plates.read(&view)?;
        out.push(serde_json::json!({
            "file": path.display().to_string(),
            "width": w,
            "height": h,
            "plates": plates.iter().map(PlateJson::from).collect::<Vec<_>>(),
            "vehicles": vehicles
                .iter()
                .filter(|d| VEHICLE_CLASSES.contains(&&*d.label))
                .map(|d| serde_json::json!({
                    "type": &*d.label,
                    "likelihood": round3(d.score),
                    "box": [d.bbox.x.round(), d.bbox.y.round(), d.bbox.w.round(), d.bbox.h.round()],
                }))
                .collect::<Vec<_>>(),
            "timings_ms": {
                "vehicle_detection": round3(vehicle_ms as f32),
                "plate_detection": round3(times.plate_detection_ms as f32),
                "ocr": round3(times.ocr_ms as f32),
                "grammar": round3(times.grammar_ms as f32),
            },
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// One labelled plate.
#[derive(Debug, Clone)]
pub struct Label {
    pub image: PathBuf,
    pub bbox: Option<BBox>,
    pub plate: String,
}

/// Reads a dataset folder (see the module docs).
pub fn load_dataset(dir: &Path) -> Result<Vec<Label>> {
    let mut images: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the dataset", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    images.sort();
    let mut labels = Vec::new();
    for img in images {
        let txt = img.with_extension("txt");
        if txt.is_file() {
            let text = std::fs::read_to_string(&txt)?;
            for (n, line) in text.lines().enumerate() {
                let parts: Vec<&str> = line.split_whitespace().collect();
                if parts.is_empty() {
                    continue;
                }
                if parts.len() < 6 {
                    bail!("{}:{}: expected `file x y w h PLATE`", txt.display(), n + 1);
                }
                let num = |i: usize| -> Result<f32> {
                    parts[i].parse::<f32>().with_context(|| {
                        format!("{}:{}: bad number {:?}", txt.display(), n + 1, parts[i])
                    })
                };
                let plate =
                    vigia_lpr::charset::normalise(&parts[5..].join("")).with_context(|| {
                        format!("{}:{}: bad plate {:?}", txt.display(), n + 1, parts[5])
                    })?;
                labels.push(Label {
                    image: img.clone(),
                    bbox: Some(BBox::new(num(1)?, num(2)?, num(3)?, num(4)?)),
                    plate,
                });
            }
        } else if let Some(plate) = img
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(vigia_lpr::charset::normalise)
        {
            labels.push(Label {
                image: img.clone(),
                bbox: None,
                plate,
            });
        }
    }
    if labels.is_empty() {
        bail!(
            "{}: no labelled images (openalpr format: IMAGE.jpg + IMAGE.txt)",
            dir.display()
        );
    }
    Ok(labels)
}

/// Per-image result of an evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalItem {
    pub file: String,
    pub label: String,
    pub read: Option<String>,
    pub likelihood: Option<f32>,
    pub exact: bool,
    pub detected: Option<bool>,
    pub vehicles: usize,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub p95: f64,
}

fn stat(mut v: Vec<f64>) -> Stat {
    if v.is_empty() {
        return Stat {
            mean: 0.0,
            p95: 0.0,
        };
    }
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let p95 = v[((v.len() as f64 * 0.95).ceil() as usize).clamp(1, v.len()) - 1];
    Stat {
        mean: (mean * 100.0).round() / 100.0,
        p95: (p95 * 100.0).round() / 100.0,
    }
}

/// The result of `vigia eval`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub dataset: String,
    pub plates: usize,
    pub images: usize,
    pub exact: usize,
    pub exact_accuracy: f64,
    /// Exact match when letter O and digit 0 count as one character.
    pub exact_o_equals_0: usize,
    pub char_accuracy: f64,
    pub detection_recall: Option<f64>,
    pub images_without_vehicle: usize,
    pub stage_ms: std::collections::BTreeMap<&'static str, Stat>,
    pub models: std::collections::BTreeMap<&'static str, String>,
    pub items: Vec<EvalItem>,
}

/// `vigia eval --dataset DIR`.
pub fn evaluate(cfg: &Config, dir: &Path) -> Result<EvalReport> {
    let labels = load_dataset(dir)?;
    let mut chain = Chain::load(cfg)?;
    let mut items = Vec::new();
    let (mut char_ok, mut char_total) = (0usize, 0usize);
    let (mut with_box, mut detected) = (0usize, 0usize);
    let mut times: Vec<(f64, StageTimes, f64)> = Vec::new();
    let mut images = 0usize;
    let mut no_vehicle = 0usize;
    let mut current: Option<PathBuf> = None;
    let mut cache: Option<(PlateScan, usize)> = None;
    let per_image: std::collections::HashMap<PathBuf, usize> =
        labels.iter().fold(Default::default(), |mut m, l| {
            *m.entry(l.image.clone()).or_default() += 1;
            m
        });
    for label in &labels {
        if current.as_ref() != Some(&label.image) {
            current = Some(label.image.clone());
            images += 1;
            let (w, h, rgb) = load_rgb(&label.image)?;
            let view = RgbView::new(w, h, w as usize * 3, &rgb).map_err(anyhow::Error::msg)?;
            let t0 = Instant::now();
            let vehicles = chain
                .vehicles
                .detect(&view)?
                .into_iter()
                .filter(|d| VEHICLE_CLASSES.contains(&&*d.label))
                .count();
            let vehicle_ms = t0.elapsed().as_secs_f64() * 1e3;
            if vehicles == 0 {
                no_vehicle += 1;
            }
            let scan = chain.plates.scan(&view)?;
            let total = t0.elapsed().as_secs_f64() * 1e3;
            times.push((vehicle_ms, scan.times, total));
            cache = Some((scan, vehicles));
        }
        let (scan, vehicles) = cache.as_ref().expect("filled above");
        let (found, candidates) = (&scan.found, &scan.candidates);
        // One labelled plate in the image: the most confident read. Several: the read
        // overlapping the labelled box most.
        let pick = match label.bbox {
            Some(b) if per_image[&label.image] > 1 => found
                .iter()
                .filter(|f| f.bbox.iou(&b) > 0.0)
                .max_by(|x, y| x.bbox.iou(&b).total_cmp(&y.bbox.iou(&b))),
            _ => found.first(),
        };
        let read = pick.map(|p| p.plate.number.clone());
        let exact = read.as_deref() == Some(label.plate.as_str());
        let d = read.as_deref().map_or(label.plate.len() as f32, |r| {
            plain_distance(r, &label.plate)
        });
        char_ok += label.plate.len().saturating_sub(d.round() as usize);
        char_total += label.plate.len();
        let det = label
            .bbox
            .map(|b| candidates.iter().any(|(c, _)| c.iou(&b) >= 0.5));
        if let Some(d) = det {
            with_box += 1;
            detected += usize::from(d);
        }
        items.push(EvalItem {
            file: label
                .image
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default(),
            label: label.plate.clone(),
            read,
            likelihood: pick.map(|p| round3(p.plate.likelihood)),
            exact,
            detected: det,
            vehicles: *vehicles,
        });
    }
    let exact = items.iter().filter(|i| i.exact).count();
    let o0 = |s: &str| s.replace('O', "0");
    let exact_o_equals_0 = items
        .iter()
        .filter(|i| i.read.as_deref().map(o0) == Some(o0(&i.label)))
        .count();
    let mut stage_ms = std::collections::BTreeMap::new();
    stage_ms.insert(
        "1_vehicle_detection",
        stat(times.iter().map(|t| t.0).collect()),
    );
    stage_ms.insert(
        "2_plate_detection",
        stat(times.iter().map(|t| t.1.plate_detection_ms).collect()),
    );
    stage_ms.insert("3_ocr", stat(times.iter().map(|t| t.1.ocr_ms).collect()));
    stage_ms.insert(
        "4_grammar_and_selection",
        stat(times.iter().map(|t| t.1.grammar_ms).collect()),
    );
    stage_ms.insert("5_total", stat(times.iter().map(|t| t.2).collect()));
    let (det_name, ocr_name) = chain.plates.model_names();
    let mut models = std::collections::BTreeMap::new();
    models.insert("vehicle_detector", chain.vehicles.name().to_string());
    models.insert("plate_detector", det_name);
    models.insert("ocr", ocr_name);
    Ok(EvalReport {
        dataset: dir.display().to_string(),
        plates: items.len(),
        images,
        exact,
        exact_accuracy: exact as f64 / items.len() as f64,
        exact_o_equals_0,
        char_accuracy: char_ok as f64 / char_total.max(1) as f64,
        detection_recall: (with_box > 0).then(|| detected as f64 / with_box as f64),
        images_without_vehicle: no_vehicle,
        stage_ms,
        models,
        items,
    })
}

/// Plain edit distance (every edit costs 1).
fn plain_distance(a: &str, b: &str) -> f32 {
    // The confusion-aware distance with no confusables is the plain one; reuse it on
    // strings where confusable substitutions cost the same as the plain ones would.
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j - 1] + sub).min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[b.len()] as f32
}

impl EvalReport {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let pct = |n: usize| 100.0 * n as f64 / self.plates.max(1) as f64;
        let mut s = format!(
            "vigia eval: {} ({} plates in {} images)\n",
            self.dataset, self.plates, self.images
        );
        s += &format!(
            "  models: {} → {} → {}\n",
            self.models["vehicle_detector"], self.models["plate_detector"], self.models["ocr"]
        );
        s += &format!(
            "  exact match             {:>4}/{:<4} {:6.2} %\n",
            self.exact,
            self.plates,
            pct(self.exact)
        );
        s += &format!(
            "  exact, O = 0            {:>4}/{:<4} {:6.2} %   (letter O and digit 0 as one character)\n",
            self.exact_o_equals_0,
            self.plates,
            pct(self.exact_o_equals_0)
        );
        s += &format!(
            "  character accuracy              {:6.2} %\n",
            100.0 * self.char_accuracy
        );
        if let Some(r) = self.detection_recall {
            s += &format!(
                "  plate detection recall          {:6.2} %   (a candidate box with IoU >= 0.5)\n",
                100.0 * r
            );
        }
        s += &format!(
            "  images without a vehicle        {:>4}     (the live vehicle gate would skip them)\n",
            self.images_without_vehicle
        );
        s += "  stage                         mean ms   p95 ms\n";
        for (k, v) in &self.stage_ms {
            s += &format!(
                "    {:<26} {:>8.1} {:>8.1}\n",
                &k[2..].replace('_', " "),
                v.mean,
                v.p95
            );
        }
        let misses: Vec<&EvalItem> = self.items.iter().filter(|i| !i.exact).collect();
        if !misses.is_empty() {
            s += "  misreads:\n";
            for m in misses {
                s += &format!(
                    "    {:<16} {:<10} read {}\n",
                    m.file,
                    m.label,
                    m.read.as_deref().map_or("nothing".to_string(), |r| format!(
                        "{r} ({:.2}, distance {})",
                        m.likelihood.unwrap_or(0.0),
                        distance(r, &m.label)
                    ))
                );
            }
        }
        s
    }
}

/// Draws the rules of `camera` (default: the only camera with rules) on a frame of it —
/// `image` (a picture, or a video at `at` seconds) or else the camera's own file — and
/// writes it to `out`. Returns the legend.
pub fn draw_camera_rules(
    cfg: &Config,
    camera: Option<&str>,
    image: Option<&Path>,
    at: f64,
    out: &Path,
) -> Result<Vec<String>> {
    let mut with_rules: Vec<&str> = cfg.rules.iter().map(|r| r.camera.as_str()).collect();
    with_rules.sort_unstable();
    with_rules.dedup();
    let camera = match camera {
        Some(c) => {
            if !cfg.cameras.iter().any(|cam| cam.id.as_str() == c) {
                bail!("no camera {c:?} in the configuration");
            }
            c.to_string()
        }
        None => match with_rules.as_slice() {
            [one] => (*one).to_string(),
            [] => bail!("the configuration has no [[rules]]"),
            many => bail!(
                "several cameras have rules ({}): pick one with --camera",
                many.join(", ")
            ),
        },
    };
    let rules: Vec<_> = cfg
        .rules
        .iter()
        .filter(|r| r.camera.as_str() == camera)
        .cloned()
        .collect();
    let source = match image {
        Some(p) => p.to_path_buf(),
        None => {
            let cam = cfg
                .cameras
                .iter()
                .find(|c| c.id.as_str() == camera)
                .expect("checked above");
            match cam.source() {
                Ok(vigia_ingest::Source::File { path }) => path,
                _ => {
                    bail!("camera {camera} is not a file: give a picture of its view with --image")
                }
            }
        }
    };
    let is_picture = matches!(
        source
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("jpg" | "jpeg" | "png")
    );
    let mut img = if is_picture {
        image::open(&source)
            .with_context(|| format!("{}: cannot decode the picture", source.display()))?
            .to_rgb8()
    } else {
        if !(at.is_finite() && at >= 0.0) {
            bail!("--at must be a time in seconds, not {at}");
        }
        let still =
            vigia_ingest::still::grab_frame(&source, std::time::Duration::from_secs_f64(at))
                .map_err(anyhow::Error::msg)?;
        image::RgbImage::from_raw(still.width, still.height, still.rgb)
            .context("a frame of the wrong size")?
    };
    let legend = crate::draw::draw_rules(&mut img, &rules);
    img.save(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(legend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_the_demo_lobby_rules_on_a_frame_of_its_video() {
        let Ok(video) =
            vigia_testkit::paths::shared_file("data/video/one-by-one-person-detection.mp4")
        else {
            vigia_testkit::paths::skip("draws_the_demo_lobby_rules", "no ../shared");
            return;
        };
        let root = vigia_testkit::paths::project_root();
        let cfg = Config::load(&root.join("configs/demo.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lobby.png");
        let legend = draw_camera_rules(&cfg, Some("lobby"), Some(&video), 30.0, &out).unwrap();
        assert_eq!(legend.len(), 3, "{legend:?}");
        assert!(legend[2].contains("line_crossing"), "{legend:?}");
        let img = image::open(&out).unwrap();
        assert_eq!((img.width(), img.height()), (768, 432));
        // Several cameras have rules: the tool asks which one.
        let e = draw_camera_rules(&cfg, None, Some(&video), 0.0, &out).unwrap_err();
        assert!(e.to_string().contains("--camera"), "{e}");
        let e = draw_camera_rules(&cfg, Some("nope"), None, 0.0, &out).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn dataset_formats() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.jpg"), b"x").unwrap();
        std::fs::write(d.path().join("a.txt"), "a.jpg\t10\t20\t30\t8\tAB-123\n").unwrap();
        std::fs::write(d.path().join("EMK001.jpg"), b"x").unwrap();
        std::fs::write(d.path().join("notes.md"), b"x").unwrap();
        let l = load_dataset(d.path()).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].plate, "AB123");
        assert_eq!(l[1].bbox, Some(BBox::new(10.0, 20.0, 30.0, 8.0)));
        assert_eq!((l[0].plate.as_str(), l[0].bbox), ("EMK001", None));
        std::fs::write(d.path().join("a.txt"), "a.jpg 10 20\n").unwrap();
        let e = load_dataset(d.path()).unwrap_err().to_string();
        assert!(e.contains("a.txt:1"), "{e}");
    }

    #[test]
    fn stats_and_distances() {
        let s = stat(vec![1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!((s.mean, s.p95), (22.0, 100.0));
        assert_eq!(plain_distance("ABC123", "ABC123"), 0.0);
        assert_eq!(plain_distance("ABO123", "AB0123"), 1.0);
        assert_eq!(plain_distance("", "AB"), 2.0);
    }
}
