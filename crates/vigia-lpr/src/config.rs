//! The `[lpr]` config section.

use std::path::PathBuf;
use vigia_core::FieldError;

use serde::Deserialize;

pub use crate::hotlist::HotlistSource;
use crate::pass::PassConfig;

/// `[lpr]`: license-plate recognition (on cameras with `lpr = true`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LprConfig {
    /// Plate detector manifest. Default `models/platedet_fit_int8.toml`.
    pub plate_detector: PathBuf,
    /// Plate OCR manifest. Default `models/cct_xs_v1_global.toml`.
    pub ocr: PathBuf,
    /// A second OCR asked only about reads holding a letter the first reads for a
    /// look-alike (`O` for `Q`, `V` for `W`); it may change only those letters, where it
    /// agrees on every other character. `""` turns it off. Default
    /// `models/ppocr_v4_rec.toml`.
    pub look_alike_ocr: PathBuf,
    /// Plate boxes down to this detector score are read; the OCR decides which are plates.
    /// Default 0.01.
    pub plate_score_threshold: f32,
    /// At most this many plate candidates are read per frame (highest scores). Default 16.
    pub max_candidates: usize,
    /// A read is kept when its mean character probability reaches this. Default 0.6.
    pub min_read_confidence: f32,
    /// Plates shorter or longer than this (without a matching format) are ignored.
    /// Defaults 4 and 10.
    pub min_plate_chars: usize,
    pub max_plate_chars: usize,
    /// Built-in plate grammars to apply (`CO`). Default `["CO"]`.
    pub countries: Vec<String>,
    /// Extra grammar files (TOML, like crates/vigia-lpr/formats/CO.toml).
    pub grammar_files: Vec<PathBuf>,
    /// Run plate detection only on frames where the detector found a vehicle. Default true.
    pub vehicle_gate: bool,
    /// With the vehicle gate on, frames where something moved but the detector found no
    /// vehicle in the read zone still have their plates looked for (the whole zone at the
    /// plate detector's full input size) on every this-many-th such frame in a row (2: the
    /// second, fourth, ...; the lone frame after a vehicle left is not read): a vehicle too
    /// close to the camera for the object detector (its front filling the picture) still
    /// gets its plate read. 1 = each such frame, 0 = never. Default 2.
    pub scan_without_vehicle_every: u32,
    /// Plates are looked for on the vehicles in view only, read so the widest vehicle is
    /// at most this many pixels wide (never enlarged); 0 = the whole frame (or read zone)
    /// at the plate detector's full input size. Needs a plate detector with a free input
    /// size (`fit = "aspect"`, as models/platedet_fit_int8.toml); a fixed-size one reads the
    /// vehicles' part of the frame at its input size. Default 320.
    pub scan_vehicle_width: u32,
    /// OCR crops per model call. Default 16.
    pub ocr_batch: usize,
    /// Plate boxes blurred along x (a vehicle crossing fast) are also read deblurred
    /// (docs/lpr.md). Default true.
    pub deblur: bool,
    pub pass: PassConfig,
    /// Hotlist CSV files.
    pub hotlists: Vec<HotlistSource>,
    /// Hotlist matches up to this distance are hits (0 = exact only; a confusable
    /// substitution such as O/0 costs 0.5, any other edit 1). Default 1.0.
    pub hotlist_max_distance: f32,
    /// How often hotlist files are checked for changes. Default 10 s.
    pub hotlist_reload_secs: u64,
    /// A reloaded hotlist file that lost more than this share of its entries (an empty or
    /// truncated file, a half-finished copy) is refused: the previous contents stay in
    /// force and the refusal is reported. 0 to 1; 1 accepts anything. Default 0.5.
    pub hotlist_max_drop: f32,
}

impl Default for LprConfig {
    fn default() -> Self {
        Self {
            plate_detector: PathBuf::from("models/platedet_fit_int8.toml"),
            ocr: PathBuf::from("models/cct_xs_v1_global.toml"),
            look_alike_ocr: PathBuf::from("models/ppocr_v4_rec.toml"),
            plate_score_threshold: 0.01,
            max_candidates: 16,
            min_read_confidence: 0.6,
            min_plate_chars: 4,
            max_plate_chars: 10,
            countries: vec!["CO".to_string()],
            grammar_files: Vec::new(),
            vehicle_gate: true,
            scan_without_vehicle_every: 2,
            scan_vehicle_width: 320,
            ocr_batch: 16,
            deblur: true,
            pass: PassConfig::default(),
            hotlists: Vec::new(),
            hotlist_max_distance: 1.0,
            hotlist_reload_secs: 10,
            hotlist_max_drop: 0.5,
        }
    }
}

impl LprConfig {
    /// `look_alike_ocr`, unless it is switched off (`""`).
    pub fn look_alike_ocr(&self) -> Option<&std::path::Path> {
        let p = self.look_alike_ocr.as_path();
        (!p.as_os_str().is_empty()).then_some(p)
    }

    /// Checks the values; returns `(field, message)` pairs.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e: Vec<FieldError> = Vec::new();
        if !(0.0..=1.0).contains(&self.plate_score_threshold) {
            e.push(FieldError::new(
                "plate_score_threshold",
                "must be in [0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&self.min_read_confidence) {
            e.push(FieldError::new("min_read_confidence", "must be in [0, 1]"));
        }
        if self.max_candidates == 0 || self.ocr_batch == 0 {
            e.push(FieldError::new(
                "max_candidates",
                "max_candidates and ocr_batch must be at least 1",
            ));
        }
        if self.min_plate_chars == 0
            || self.min_plate_chars > self.max_plate_chars
            || self.max_plate_chars > 12
        {
            e.push(FieldError::new(
                "min_plate_chars",
                "need 1 <= min_plate_chars <= max_plate_chars <= 12",
            ));
        }
        if self.scan_vehicle_width != 0 && !(32..=4096).contains(&self.scan_vehicle_width) {
            e.push(FieldError::new(
                "scan_vehicle_width",
                "must be 0 (off) or 32..=4096 pixels",
            ));
        }
        if self.hotlist_max_distance < 0.0 || self.hotlist_max_distance > 3.0 {
            e.push(FieldError::new("hotlist_max_distance", "must be in [0, 3]"));
        }
        if !(0.0..=1.0).contains(&self.hotlist_max_drop) {
            e.push(FieldError::new("hotlist_max_drop", "must be in [0, 1]"));
        }
        if self.hotlist_reload_secs == 0 {
            e.push(FieldError::new("hotlist_reload_secs", "must be at least 1"));
        }
        e.extend(self.pass.validate().into_iter().map(|f| f.within("pass")));
        for (i, h) in self.hotlists.iter().enumerate() {
            e.extend(
                h.validate()
                    .into_iter()
                    .map(|f| f.within(&format!("hotlists[{i}]"))),
            );
            if !h.path.is_file() {
                e.push(FieldError::new(
                    format!("hotlists[{i}].path"),
                    format!("{} does not exist", h.path.display()),
                ));
            }
        }
        for (i, g) in self.grammar_files.iter().enumerate() {
            if !g.is_file() {
                e.push(FieldError::new(
                    format!("grammar_files[{i}]"),
                    format!("{} does not exist", g.display()),
                ));
            }
        }
        if let Err(m) = crate::grammar::Grammar::load(
            &self.countries,
            &self.grammar_files,
            self.min_plate_chars,
            self.max_plate_chars,
        ) {
            e.push(FieldError::new("countries", m.to_string()));
        }
        e
    }
}
