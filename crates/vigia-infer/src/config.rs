//! The `[inference]` config section.

use std::path::PathBuf;
use vigia_core::FieldError;

use serde::Deserialize;

/// Where models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionProvider {
    /// ONNX Runtime's CPU provider (default; the PyPI wheel has only this one).
    #[default]
    Cpu,
    /// NVIDIA CUDA (cargo feature `cuda`, and an ONNX Runtime built with CUDA).
    Cuda,
    /// NVIDIA TensorRT (cargo feature `tensorrt`).
    Tensorrt,
    /// Intel OpenVINO (cargo feature `openvino`).
    Openvino,
}

impl ExecutionProvider {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExecutionProvider::Cpu => "cpu",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::Tensorrt => "tensorrt",
            ExecutionProvider::Openvino => "openvino",
        }
    }
}

/// `[inference.detector]`: the object detector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Model manifest (TOML). Default `models/yolox_nano_fit.toml`.
    pub manifest: PathBuf,
    /// Detections below this confidence are discarded. Default 0.35.
    pub score_threshold: f32,
    /// IoU above which a lower-scored box of the same class is suppressed. Default 0.45.
    pub nms_iou_threshold: f32,
    /// Class names to keep (from the model's labels). Default: people and vehicles
    /// (`person`, `bicycle`, `car`, `motorcycle`, `bus`, `truck`). Empty keeps all.
    pub classes: Vec<String>,
    /// At most this many detections per frame, highest scores first. Default 100.
    pub max_detections: usize,
    /// Labels that suppress each other in NMS (one vehicle detected as both `car` and
    /// `truck` keeps its best box). Default `[["car", "truck", "bus"]]`.
    pub nms_groups: Vec<Vec<String>>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            manifest: PathBuf::from("models/yolox_nano_fit.toml"),
            score_threshold: 0.35,
            nms_iou_threshold: 0.45,
            classes: ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
                .map(String::from)
                .to_vec(),
            max_detections: 100,
            nms_groups: vec![["car", "truck", "bus"].map(String::from).to_vec()],
        }
    }
}

/// `[inference]`: runtime, models and workers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceConfig {
    /// Path of the ONNX Runtime shared library. Default: `ORT_DYLIB_PATH`, then
    /// `.vigia/onnxruntime/libonnxruntime.so.1.31.1` in this or a parent directory (where the
    /// set-up puts it), then the system's `libonnxruntime.so`.
    pub ort_library: Option<PathBuf>,
    /// Directories searched for model files named in manifests, in order, after the
    /// manifest's own directory. Default: `.vigia/models` in this or a parent directory.
    pub models_dirs: Vec<PathBuf>,
    /// Execution provider. Default `cpu`.
    pub execution_provider: ExecutionProvider,
    /// Inference worker threads, each with its own sessions. Default 1.
    pub workers: usize,
    /// ONNX Runtime intra-op threads per session. Default 1: YOLOX-nano takes 8.0 ms per
    /// frame with 1 thread and 7.8 ms with 2 (benches/pipeline.rs), so a second thread is
    /// better spent decoding or on another worker.
    pub threads_per_worker: usize,
    pub detector: DetectorConfig,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            ort_library: None,
            models_dirs: Vec::new(),
            execution_provider: ExecutionProvider::Cpu,
            workers: 1,
            threads_per_worker: 1,
            detector: DetectorConfig::default(),
        }
    }
}

impl InferenceConfig {
    /// Checks the values; returns `(field path, message)` pairs.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.workers == 0 || self.workers > 64 {
            errs.push(FieldError::new(
                "workers",
                format!("must be 1..=64, got {}", self.workers),
            ));
        }
        if self.threads_per_worker == 0 || self.threads_per_worker > 256 {
            errs.push(FieldError::new(
                "threads_per_worker",
                format!("must be 1..=256, got {}", self.threads_per_worker),
            ));
        }
        let d = &self.detector;
        if !(0.0..=1.0).contains(&d.score_threshold) {
            errs.push(FieldError::new(
                "detector.score_threshold",
                format!("must be in [0, 1], got {}", d.score_threshold),
            ));
        }
        if !(d.nms_iou_threshold > 0.0 && d.nms_iou_threshold <= 1.0) {
            errs.push(FieldError::new(
                "detector.nms_iou_threshold",
                format!("must be in (0, 1], got {}", d.nms_iou_threshold),
            ));
        }
        if d.max_detections == 0 {
            errs.push(FieldError::new(
                "detector.max_detections",
                "must be at least 1".to_string(),
            ));
        }
        errs
    }
}
