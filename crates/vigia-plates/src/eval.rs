//! `vigia eval`: the plate chain scored on a labelled folder in the openalpr benchmark
//! format: for each image an optional `.txt` beside it with lines `file x y w h PLATE` (tab
//! or space separated; box in pixels). An image without a `.txt` is labelled by its file
//! name (`EMK001.jpg`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use vigia_core::BBox;
use vigia_infer::RgbView;
use vigia_lpr::hotlist::distance;
use vigia_lpr::is_vehicle;

use crate::PlatesError;
use crate::chain::{Chain, load_rgb, round3};
use crate::reader::{PlateScan, StageTimes};

/// One labelled plate.
#[derive(Debug, Clone)]
pub struct Label {
    pub image: PathBuf,
    pub bbox: Option<BBox>,
    pub plate: String,
}

/// Reads a dataset folder (see the module docs).
pub fn load_dataset(dir: &Path) -> Result<Vec<Label>, PlatesError> {
    let bad = |at: String, message: String| PlatesError::Dataset { at, message };
    let mut images: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            bad(
                dir.display().to_string(),
                format!("cannot list the dataset: {e}"),
            )
        })?
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
            let text = std::fs::read_to_string(&txt)
                .map_err(|e| bad(txt.display().to_string(), format!("cannot read: {e}")))?;
            for (n, line) in text.lines().enumerate() {
                let parts: Vec<&str> = line.split_whitespace().collect();
                if parts.is_empty() {
                    continue;
                }
                let at = || format!("{}:{}", txt.display(), n + 1);
                if parts.len() < 6 {
                    return Err(bad(at(), "expected `file x y w h PLATE`".into()));
                }
                let num = |i: usize| -> Result<f32, PlatesError> {
                    parts[i]
                        .parse::<f32>()
                        .map_err(|_| bad(at(), format!("bad number {:?}", parts[i])))
                };
                let plate = vigia_lpr::charset::normalise(&parts[5..].join(""))
                    .ok_or_else(|| bad(at(), format!("bad plate {:?}", parts[5])))?;
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
        return Err(bad(
            dir.display().to_string(),
            "no labelled images (openalpr format: IMAGE.jpg + IMAGE.txt)".into(),
        ));
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

/// Per image: the plate scan, vehicles found, and (vehicle ms, plate stage times, total ms).
type ImageScan = (PlateScan, usize, (f64, StageTimes, f64));

/// Runs the whole chain on one image.
fn scan_image(chain: &mut Chain, path: &Path) -> Result<ImageScan, PlatesError> {
    let (w, h, rgb) = load_rgb(path)?;
    let view = RgbView::new(w, h, w as usize * 3, &rgb).map_err(|message| PlatesError::Image {
        path: path.to_path_buf(),
        message: message.to_string(),
    })?;
    let t0 = Instant::now();
    let vehicles: Vec<_> = chain
        .vehicles
        .detect(&view)?
        .into_iter()
        .filter(|d| is_vehicle(&d.label))
        .map(|d| d.bbox)
        .collect();
    let vehicle_ms = t0.elapsed().as_secs_f64() * 1e3;
    // As the live pipeline looks: on the vehicles (the whole picture when none is found).
    let scan = chain.plates.scan_vehicles(&view, None, &vehicles)?;
    let vehicles = vehicles.len();
    let total = t0.elapsed().as_secs_f64() * 1e3;
    let times = scan.times;
    Ok((scan, vehicles, (vehicle_ms, times, total)))
}

/// Mean and p95 of each stage.
fn stage_table(times: &[(f64, StageTimes, f64)]) -> std::collections::BTreeMap<&'static str, Stat> {
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
    stage_ms
}

/// `vigia eval --dataset DIR` with the models of `chain`.
pub fn evaluate(chain: &mut Chain, dir: &Path) -> Result<EvalReport, PlatesError> {
    let labels = load_dataset(dir)?;
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
            let (scan, vehicles, t) = scan_image(chain, &label.image)?;
            if vehicles == 0 {
                no_vehicle += 1;
            }
            times.push(t);
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
    let stage_ms = stage_table(&times);
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
    vigia_core::text::edit_distance(a, b) as f32
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

#[cfg(test)]
mod tests {
    use super::*;

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
