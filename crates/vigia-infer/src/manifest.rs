//! Model manifests: everything vigia needs to know to run a model, so that models are
//! swapped by config, not code.
//!
//! A manifest is a TOML file beside (or pointing at) the model file:
//!
//! ```toml
//! name = "yolox_nano"
//! version = "0.1.1rc0"
//! task = "detect"
//! file = "yolox_nano.onnx"
//! sha256 = "695e75..."
//! license = "Apache-2.0"
//! source = "Megvii YOLOX"
//! urls = ["https://..."]
//! labels = ["person", "bicycle", ...]
//!
//! [input]
//! name = "images"
//! dtype = "f32"        # f32 | u8
//! layout = "nchw"      # nchw | nhwc
//! color = "bgr"        # rgb | bgr
//! width = 416
//! height = 416
//! resize = "letterbox" # letterbox | stretch
//! pad_position = "top_left"  # top_left | center
//! pad_value = 114
//! scale = 1.0          # f32 inputs: value = (pixel * scale - mean[c]) / std[c]
//! mean = [0.0, 0.0, 0.0]
//! std = [1.0, 1.0, 1.0]
//!
//! [output]
//! name = "output"
//! decode = "yolox"
//! strides = [8, 16, 32]
//! ```

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use vigia_core::paths;

use crate::error::{InferError, SETUP_HINT};

/// Where the set-up puts verified model files, relative to the project root.
pub const LOCAL_MODELS_DIR: &str = ".vigia/models";

/// Input element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputDtype {
    F32,
    /// Half precision (filled as f32, converted).
    F16,
    U8,
}

/// Input tensor layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    Nchw,
    Nhwc,
}

/// Channel order the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorOrder {
    Rgb,
    Bgr,
}

/// How a picture is fitted to the input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Keep the aspect ratio, pad the rest with `pad_value`.
    Letterbox,
    /// Stretch to the input size.
    Stretch,
}

/// Where a letterboxed picture sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadPosition {
    /// Picture at the top-left, padding right and bottom (YOLOX).
    #[default]
    TopLeft,
    /// Picture centred, padding split on both sides (Ultralytics).
    Center,
}

/// How the input's size is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFit {
    /// Always `width x height` (models exported with a fixed input size).
    #[default]
    Fixed,
    /// Sized to each picture: letterboxed into `width x height`, then each side rounded up
    /// to a multiple of `fit_multiple`, so a wide camera frame carries little padding. Needs
    /// a model whose input height and width are free (fully convolutional detectors).
    Aspect,
}

/// `[input]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub dtype: InputDtype,
    pub layout: Layout,
    pub color: ColorOrder,
    pub width: u32,
    pub height: u32,
    /// `fixed` (default) or `aspect`.
    #[serde(default)]
    pub fit: InputFit,
    /// With `fit = "aspect"`: each side is a multiple of this (the model's largest stride).
    #[serde(default = "thirty_two")]
    pub fit_multiple: u32,
    pub resize: ResizeMode,
    #[serde(default)]
    pub pad_position: PadPosition,
    #[serde(default)]
    pub pad_value: u8,
    #[serde(default = "one")]
    pub scale: f32,
    #[serde(default)]
    pub mean: [f32; 3],
    #[serde(default = "ones")]
    pub std: [f32; 3],
}

fn one() -> f32 {
    1.0
}

fn thirty_two() -> u32 {
    32
}

fn sixteen() -> u32 {
    16
}

fn ones() -> [f32; 3] {
    [1.0; 3]
}

/// `[output]`: how the output tensor is decoded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "decode", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputSpec {
    /// YOLOX head before decoding: `[1, anchors, 5 + classes]` with raw `(x, y, log w,
    /// log h)` per grid cell of each stride, then objectness and class scores (sigmoid
    /// already applied).
    Yolox { name: String, strides: Vec<u32> },
    /// Ultralytics YOLOv8 head: `[1, 4 + classes (+ extra), anchors]` with `(cx, cy, w, h)`
    /// in input pixels, then class scores (sigmoid applied); extra rows (segmentation mask
    /// coefficients) are ignored.
    Yolov8 { name: String },
    /// Ultralytics YOLOv8 head before its in-graph decoding (models/fit_input.py cuts it
    /// there so the input size can vary): `[1, 4 x reg_max + classes, anchors]`, per anchor
    /// (the cells of each stride's grid in `strides` order, row-major) the distribution
    /// logits of the distances to the left, top, right and bottom sides (`reg_max` bins
    /// each, in strides), then class logits.
    Yolov8Dfl {
        name: String,
        strides: Vec<u32>,
        #[serde(default = "sixteen")]
        reg_max: u32,
    },
    /// Fixed character slots (fast-plate-ocr): `[N, slots, alphabet]` probabilities; the
    /// `pad` character marks empty slots.
    Slots {
        name: String,
        alphabet: String,
        pad: char,
    },
    /// CTC (PP-OCR): `[N, steps, vocabulary]` probabilities, vocabulary = blank at
    /// `blank_index`, then `charset`, then a space. `charset` is the characters inline, or
    /// `metadata:<key>` to read them (newline-separated) from the model's metadata.
    Ctc {
        name: String,
        charset: String,
        #[serde(default)]
        blank_index: usize,
    },
    /// Class scores `[N, classes]` for each crop, in `labels` order; `softmax = true` when
    /// the model outputs logits.
    Scores {
        name: String,
        #[serde(default)]
        softmax: bool,
    },
}

impl OutputSpec {
    /// The `decode` value.
    pub fn decode_name(&self) -> &'static str {
        match self {
            OutputSpec::Yolox { .. } => "yolox",
            OutputSpec::Yolov8 { .. } => "yolov8",
            OutputSpec::Yolov8Dfl { .. } => "yolov8_dfl",
            OutputSpec::Slots { .. } => "slots",
            OutputSpec::Ctc { .. } => "ctc",
            OutputSpec::Scores { .. } => "scores",
        }
    }

    /// The output tensor name.
    pub fn name(&self) -> &str {
        match self {
            OutputSpec::Yolox { name, .. }
            | OutputSpec::Yolov8 { name }
            | OutputSpec::Yolov8Dfl { name, .. }
            | OutputSpec::Slots { name, .. }
            | OutputSpec::Ctc { name, .. }
            | OutputSpec::Scores { name, .. } => name,
        }
    }
}

/// A model file inside a wheel on PyPI.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiSource {
    /// Requirement, e.g. `rapidocr-onnxruntime==1.4.4`.
    pub package: String,
    /// Path of the file inside the wheel.
    pub member: String,
}

/// A model the set-up makes from another one (quantisation) rather than downloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSource {
    /// The script that makes it, relative to the project root (e.g. `models/quantize.py`).
    pub script: String,
    /// The model file it is made from (obtained first, by its own manifest).
    pub from: String,
    /// The set-up's Python environment to run it in (`.vigia/venv-<venv>`), when not the
    /// script's own.
    #[serde(default)]
    pub venv: Option<String>,
    /// The set-up fails when it cannot build it (a default configuration names it);
    /// otherwise a model that cannot be built is skipped with a note.
    #[serde(default)]
    pub required: bool,
    /// What an int8 quantisation is calibrated on: `"synthetic"` (scenes
    /// models/synthetic_scenes.py renders, so any machine can build it); absent, the
    /// labelled photos in `../shared`.
    #[serde(default)]
    pub calibration: Option<String>,
}

/// What the model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Object detection (boxes with classes): `yolox`, `yolov8` or `yolov8_dfl` outputs.
    Detect,
    /// Text recognition of a cropped region: `slots` or `ctc` outputs.
    Recognize,
    /// Classification of a cropped region: `scores` output.
    Classify,
}

/// A model manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    pub name: String,
    pub version: String,
    pub task: Task,
    /// Model file name (or path relative to the manifest).
    pub file: PathBuf,
    /// Lower-case hex sha256 of the model file, checked on every load.
    pub sha256: String,
    pub license: String,
    pub source: String,
    /// Upstream download locations (used by the set-up on machines with internet).
    #[serde(default)]
    pub urls: Vec<String>,
    /// A PyPI wheel that carries the model (used by the set-up).
    #[serde(default)]
    pub pypi: Option<PypiSource>,
    /// Made by a script of the project from another model (used by the set-up).
    #[serde(default)]
    pub build: Option<BuildSource>,
    /// Class names (detectors), index = class id.
    #[serde(default)]
    pub labels: Vec<String>,
    pub input: InputSpec,
    pub output: OutputSpec,
    /// Directory of the manifest file (set on load).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl ModelManifest {
    /// Reads and checks a manifest.
    pub fn load(path: &Path) -> Result<Self, InferError> {
        let err = |message: String| InferError::Manifest {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut m: ModelManifest = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        m.dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let problems = m.problems();
        if !problems.is_empty() {
            return Err(err(problems.join("; ")));
        }
        Ok(m)
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            p.push("sha256: must be 64 hex digits".to_string());
        }
        match (self.task, &self.output) {
            (
                Task::Detect,
                OutputSpec::Yolox { .. } | OutputSpec::Yolov8 { .. } | OutputSpec::Yolov8Dfl { .. },
            ) => {
                if self.labels.is_empty() {
                    p.push("labels: a detector needs its class names".to_string());
                }
            }
            (Task::Recognize, OutputSpec::Slots { .. } | OutputSpec::Ctc { .. }) => {}
            (Task::Classify, OutputSpec::Scores { .. }) => {
                if self.labels.is_empty() {
                    p.push("labels: a classifier needs its class names".to_string());
                }
            }
            (task, out) => p.push(format!(
                "output.decode: {} does not fit task {task:?}",
                out.decode_name()
            )),
        }
        let i = &self.input;
        if i.width == 0 || i.height == 0 || i.width > 4096 || i.height > 4096 {
            p.push(format!(
                "input: width and height must be 1..=4096, got {}x{}",
                i.width, i.height
            ));
        }
        if i.std.contains(&0.0) {
            p.push("input.std: must not contain 0".to_string());
        }
        if i.fit == InputFit::Aspect {
            if i.resize != ResizeMode::Letterbox || i.pad_position != PadPosition::TopLeft {
                p.push(
                    "input.fit: \"aspect\" needs resize = \"letterbox\" and pad_position = \"top_left\""
                        .to_string(),
                );
            }
            if i.fit_multiple == 0
                || !i.width.is_multiple_of(i.fit_multiple)
                || !i.height.is_multiple_of(i.fit_multiple)
            {
                p.push(format!(
                    "input.fit_multiple: {} must divide the input size {}x{}",
                    i.fit_multiple, i.width, i.height
                ));
            }
            if let OutputSpec::Yolox { strides, .. } | OutputSpec::Yolov8Dfl { strides, .. } =
                &self.output
                && strides
                    .iter()
                    .any(|s| *s == 0 || !i.fit_multiple.is_multiple_of(*s))
            {
                p.push(format!(
                    "input.fit_multiple: {} must be a multiple of every output stride",
                    i.fit_multiple
                ));
            }
        }
        match &self.output {
            OutputSpec::Yolov8 { .. } | OutputSpec::Scores { .. } => {}
            OutputSpec::Slots { alphabet, pad, .. } => {
                if !alphabet.contains(*pad) {
                    p.push(format!("output.pad: {pad:?} is not in the alphabet"));
                }
            }
            OutputSpec::Ctc { charset, .. } => {
                if charset.is_empty() {
                    p.push("output.charset: must not be empty".to_string());
                }
            }
            OutputSpec::Yolov8Dfl { reg_max, .. } if *reg_max == 0 || *reg_max > 64 => {
                p.push(format!("output.reg_max: must be 1..=64, got {reg_max}"));
            }
            OutputSpec::Yolox { strides, .. } | OutputSpec::Yolov8Dfl { strides, .. } => {
                if strides.is_empty() {
                    p.push("output.strides: must not be empty".to_string());
                }
                for s in strides {
                    if *s == 0 || !i.width.is_multiple_of(*s) || !i.height.is_multiple_of(*s) {
                        p.push(format!(
                            "output.strides: {s} does not divide the input size {}x{}",
                            i.width, i.height
                        ));
                    }
                }
            }
        }
        p
    }

    /// Finds the model file: a path relative to the manifest, then each of `dirs`, then
    /// [`LOCAL_MODELS_DIR`] in this or a parent directory.
    pub fn resolve_file(&self, dirs: &[PathBuf]) -> Result<PathBuf, InferError> {
        let mut candidates = vec![self.dir.join(&self.file)];
        candidates.extend(dirs.iter().map(|d| d.join(&self.file)));
        if let Some(local) = paths::find_upwards(Path::new(LOCAL_MODELS_DIR)) {
            candidates.push(local.join(&self.file));
        }
        if let Some(found) = candidates.iter().find(|p| p.is_file()) {
            return Ok(found.clone());
        }
        let mut tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        if !tried.iter().any(|t| t.contains(LOCAL_MODELS_DIR)) {
            tried.push(format!("{LOCAL_MODELS_DIR} (not found upwards)"));
        }
        Err(InferError::ModelMissing {
            model: self.name.clone(),
            tried: tried.join(", "),
            hint: SETUP_HINT,
        })
    }

    /// Checks `path` against the manifest's sha256.
    pub fn verify(&self, path: &Path) -> Result<(), InferError> {
        let actual = sha256_file(path).map_err(|e| InferError::Model {
            model: self.name.clone(),
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if !actual.eq_ignore_ascii_case(&self.sha256) {
            return Err(InferError::Checksum {
                path: path.to_path_buf(),
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// Lower-case hex sha256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "m"
version = "1"
task = "detect"
file = "m.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
license = "MIT"
source = "test"
labels = ["a", "b"]
[input]
name = "images"
dtype = "f32"
layout = "nchw"
color = "bgr"
width = 64
height = 32
resize = "letterbox"
pad_value = 114
[output]
decode = "yolox"
name = "output"
strides = [8, 16, 32]
"#;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("m.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The error loading `text` as a manifest gives.
    fn load_error(dir: &Path, text: &str) -> String {
        ModelManifest::load(&write(dir, text))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn loads_a_good_manifest_with_defaults() {
        let d = tempfile::tempdir().unwrap();
        let m = ModelManifest::load(&write(d.path(), GOOD)).unwrap();
        assert_eq!(m.input.std, [1.0; 3]);
        assert_eq!(m.input.scale, 1.0);
        assert_eq!(m.input.pad_position, PadPosition::TopLeft);
        assert_eq!(m.dir, d.path());
    }

    #[test]
    fn names_the_file_and_the_problem() {
        let d = tempfile::tempdir().unwrap();
        let bad = GOOD.replace("strides = [8, 16, 32]", "strides = [8, 16, 64]");
        let e = load_error(d.path(), &bad);
        assert!(
            e.contains("m.toml") && e.contains("64 does not divide"),
            "{e}"
        );
        let bad = GOOD.replace("layout = \"nchw\"", "layout = \"chw\"");
        let e = load_error(d.path(), &bad);
        assert!(e.contains("layout") || e.contains("chw"), "{e}");
        let bad = format!("{GOOD}\nextra = 1\n");
        assert!(ModelManifest::load(&write(d.path(), &bad)).is_err());
    }

    #[test]
    fn aspect_fitting_is_checked_against_padding_and_strides() {
        let d = tempfile::tempdir().unwrap();
        let fit = GOOD.replace(
            "resize = \"letterbox\"",
            "resize = \"letterbox\"\nfit = \"aspect\"",
        );
        let m = ModelManifest::load(&write(d.path(), &fit)).unwrap();
        assert_eq!((m.input.fit, m.input.fit_multiple), (InputFit::Aspect, 32));
        let centred = fit.replace(
            "pad_value = 114",
            "pad_value = 114\npad_position = \"center\"",
        );
        let e = load_error(d.path(), &centred);
        assert!(e.contains("input.fit") && e.contains("top_left"), "{e}");
        let coarse = fit.replace(
            "resize = \"letterbox\"",
            "resize = \"letterbox\"\nfit_multiple = 8",
        );
        let e = load_error(d.path(), &coarse);
        assert!(e.contains("multiple of every output stride"), "{e}");
    }

    #[test]
    fn verify_checks_sha256() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("m.onnx");
        std::fs::write(&f, b"abc").unwrap();
        let good = GOOD.replace(
            "0000000000000000000000000000000000000000000000000000000000000000",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        );
        let m = ModelManifest::load(&write(d.path(), &good)).unwrap();
        assert_eq!(m.resolve_file(&[]).unwrap(), f);
        m.verify(&f).unwrap();
        std::fs::write(&f, b"abd").unwrap();
        assert!(matches!(m.verify(&f), Err(InferError::Checksum { .. })));
    }

    #[test]
    fn missing_model_file_lists_where_it_looked() {
        let d = tempfile::tempdir().unwrap();
        let m = ModelManifest::load(&write(d.path(), GOOD)).unwrap();
        let e = m
            .resolve_file(&[PathBuf::from("/nowhere")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nowhere/m.onnx") && e.contains("set-up"), "{e}");
    }
}
