//! The whole chain of `vigia read` and `vigia eval`: the vehicle detector beside the plate
//! reader, and pictures from files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use vigia_infer::detector::{Detector, DetectorOptions};
use vigia_infer::{InferenceConfig, RgbView, runtime};
use vigia_lpr::{LprConfig, is_vehicle};

use crate::PlatesError;
use crate::reader::{PlateFound, PlateReader};

/// The models of the plate chain, plus the vehicle detector.
pub struct Chain {
    pub vehicles: Detector,
    pub plates: PlateReader,
}

impl Chain {
    /// Loads the vehicle detector of `[inference]` and the plate models of `[lpr]`.
    pub fn load(inference: &InferenceConfig, lpr: &LprConfig) -> Result<Self, PlatesError> {
        let env = runtime::environment(inference.ort_library.as_deref())?;
        let vehicles = Detector::load(
            &env,
            &DetectorOptions {
                detector: inference.detector.clone(),
                provider: inference.execution_provider,
                threads: inference.threads_per_worker,
                models_dirs: inference.models_dirs.clone(),
            },
        )
        .map_err(|source| PlatesError::Model {
            what: "the vehicle detector (inference.detector)",
            source,
        })?;
        let plates = PlateReader::load(&env, lpr, inference)?;
        Ok(Self { vehicles, plates })
    }

    /// `vigia read`: the plates and vehicles in one image file, with the time per stage.
    ///
    /// With `crop` the whole image is read as one plate (no detectors). Without it, an
    /// image where neither a vehicle nor a plate is found but that is shaped like a plate
    /// (see [`plate_shaped`]) is read as a crop too, and the read kept when a plate format
    /// accepts it or it is at least 0.8 sure; `mode` in the output says which way it went.
    pub fn read_file(&mut self, path: &Path, crop: bool) -> Result<serde_json::Value, PlatesError> {
        let (w, h, rgb) = load_rgb(path)?;
        let view =
            RgbView::new(w, h, w as usize * 3, &rgb).map_err(|message| PlatesError::Image {
                path: path.to_path_buf(),
                message: message.to_string(),
            })?;
        let t = Instant::now();
        let vehicles = if crop {
            Vec::new()
        } else {
            self.vehicles.detect(&view)?
        };
        let vehicle_ms = t.elapsed().as_secs_f64() * 1e3;
        let vehicles: Vec<_> = vehicles.iter().filter(|d| is_vehicle(&d.label)).collect();
        let (mut plates, mut times, mut mode) = if crop {
            let (p, t) = self.plates.read_crop(&view)?;
            (p, t, "crop")
        } else {
            let boxes: Vec<_> = vehicles.iter().map(|d| d.bbox).collect();
            let s = self.plates.scan_vehicles(&view, None, &boxes)?;
            (s.found, s.times, "scene")
        };
        if !crop && plates.is_empty() && vehicles.is_empty() && plate_shaped(w, h) {
            let (p, t) = self.plates.read_crop(&view)?;
            plates = p
                .into_iter()
                .filter(|f| f.plate.format.is_some() || f.plate.likelihood >= 0.8)
                .collect();
            times.ocr_ms += t.ocr_ms;
            times.grammar_ms += t.grammar_ms;
            mode = "crop_fallback";
        }
        Ok(serde_json::json!({
            "file": path.display().to_string(),
            "width": w,
            "height": h,
            "mode": mode,
            "plates": plates.iter().map(PlateJson::from).collect::<Vec<_>>(),
            "vehicles": vehicles
                .iter()
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
        }))
    }
}

/// Shaped like a plate crop: between 1.2 and 6 times as wide as high (two-row plates are
/// about 1.6, one-row ones 2 to 5).
pub fn plate_shaped(width: u32, height: u32) -> bool {
    let aspect = width as f32 / height.max(1) as f32;
    (1.2..=6.0).contains(&aspect)
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

pub(crate) fn round3(v: f32) -> f32 {
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

/// Decodes an image file into packed RGB.
pub fn load_rgb(path: &Path) -> Result<(u32, u32, Vec<u8>), PlatesError> {
    let img = image::open(path)
        .map_err(|e| PlatesError::Image {
            path: path.to_path_buf(),
            message: format!("cannot decode the image: {e}"),
        })?
        .to_rgb8();
    Ok((img.width(), img.height(), img.into_raw()))
}

/// Paths of the default manifests when no config file is given: `models/` of the current
/// directory or a parent.
pub fn default_manifest(name: &str) -> PathBuf {
    vigia_core::paths::find_upwards(&PathBuf::from("models").join(name))
        .unwrap_or_else(|| PathBuf::from("models").join(name))
}
