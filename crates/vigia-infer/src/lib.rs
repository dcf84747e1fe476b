//! Inference for vigia: ONNX Runtime through `ort`, models described by manifests.
//!
//! - [`runtime`]: loads the ONNX Runtime library once per process (`load-dynamic`).
//! - [`manifest`]: model manifests (file, sha256, input spec, output decoding, labels).
//! - [`image`]: RGB views, letterbox/stretch resize, tensor fill.
//! - [`nms`]: class-aware non-maximum suppression.
//! - [`motion`]: the motion gate (skip the detector when nothing moved).
//! - [`yolox`], [`yolov8`]: detector output decoding.
//! - [`model`]: loading, verifying and running any model (shared by the stages below).
//! - [`detector`]: [`Detector`], an object detector session.
//! - [`classifier`]: [`Classifier`], scores of crops (the rules' optional classifier stage).
//! - [`recognizer`]: [`Recognizer`], batched text recognition (plate OCR): fixed slots or CTC.
//! - [`config`]: the `[inference]` config section.
//!
//! Sessions are not shared: `Session::run` takes `&mut self`, so each inference worker
//! thread owns its own [`Detector`]. Inference never runs on a GStreamer or tokio thread.

pub mod classifier;
pub mod config;
pub mod detector;
pub mod error;
pub mod image;
pub mod manifest;
pub mod model;
pub mod motion;
pub mod nms;
pub mod recognizer;
pub mod runtime;
pub mod yolov8;
pub mod yolox;

pub use classifier::Classifier;
pub use config::{DetectorConfig, ExecutionProvider, InferenceConfig};
pub use detector::Detector;
pub use error::InferError;
pub use image::RgbView;
pub use manifest::ModelManifest;
pub use recognizer::Recognizer;
