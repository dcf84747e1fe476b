//! [`Detector`]: an object detector (one per worker thread). YOLOX and YOLOv8 outputs,
//! f32 or f16 inputs, as the manifest says.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::environment::Environment;
use vigia_core::{BBox, Detection};

use crate::config::{DetectorConfig, ExecutionProvider};
use crate::error::InferError;
use crate::image::{Preprocessor, RgbView};
use crate::manifest::{ModelManifest, OutputSpec, Task};
use crate::model::{InputBatch, LoadedModel, RunSettings};
use crate::nms::nms_grouped;
use crate::{yolov8, yolox};

/// How to build a [`Detector`].
#[derive(Debug, Clone)]
pub struct DetectorOptions {
    pub detector: DetectorConfig,
    pub provider: ExecutionProvider,
    pub threads: usize,
    pub models_dirs: Vec<PathBuf>,
}

/// An object detector: preprocessing, the ONNX Runtime session and decoding.
pub struct Detector {
    model: LoadedModel,
    pre: Preprocessor,
    input: InputBatch,
    labels: Vec<Arc<str>>,
    keep: Vec<bool>,
    /// NMS group per class id.
    groups: Vec<u32>,
    cfg: DetectorConfig,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.model.manifest.name)
            .field("path", &self.model.path)
            .finish_non_exhaustive()
    }
}

/// Maps class names to a keep-mask over `labels`; unknown names are an error.
pub(crate) fn class_mask(labels: &[String], classes: &[String]) -> Result<Vec<bool>, String> {
    if classes.is_empty() {
        return Ok(vec![true; labels.len()]);
    }
    let mut keep = vec![false; labels.len()];
    for c in classes {
        match labels.iter().position(|l| l == c) {
            Some(i) => keep[i] = true,
            None => return Err(format!("class {c:?} is not a label of this model")),
        }
    }
    Ok(keep)
}

impl Detector {
    /// Loads the manifest at `opts.detector.manifest`, finds and verifies the model file,
    /// creates the session and checks its inputs and outputs against the manifest.
    pub fn load(env: &Environment, opts: &DetectorOptions) -> Result<Self, InferError> {
        let manifest = ModelManifest::load(&opts.detector.manifest)?;
        Self::from_manifest(env, manifest, opts)
    }

    /// Like [`Detector::load`] with an already loaded manifest.
    pub fn from_manifest(
        env: &Environment,
        manifest: ModelManifest,
        opts: &DetectorOptions,
    ) -> Result<Self, InferError> {
        let run = RunSettings {
            provider: opts.provider,
            threads: opts.threads,
            models_dirs: opts.models_dirs.clone(),
        };
        let model = LoadedModel::load(env, manifest, Task::Detect, &run)?;
        let m = &model.manifest;
        let keep = class_mask(&m.labels, &opts.detector.classes)
            .map_err(|e| model.model_err(format!("classes: {e}")))?;
        check_output(&model).map_err(|e| model.model_err(e))?;
        let labels = m.labels.iter().map(|l| Arc::from(l.as_str())).collect();
        let groups = (0..m.labels.len())
            .map(|i| {
                opts.detector
                    .nms_groups
                    .iter()
                    .position(|g| g.contains(&m.labels[i]))
                    .map_or(i as u32, |g| (m.labels.len() + g) as u32)
            })
            .collect();
        let pre = Preprocessor::new(m.input.clone());
        let input = InputBatch::new(m.input.dtype, pre.item_len(), 1);
        Ok(Self {
            model,
            pre,
            input,
            labels,
            keep,
            groups,
            cfg: opts.detector.clone(),
        })
    }

    /// The model name (from its manifest).
    pub fn name(&self) -> &str {
        &self.model.manifest.name
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.model.manifest
    }

    pub fn model_path(&self) -> &Path {
        &self.model.path
    }

    /// The scale a whole `width x height` frame is read at when the model's input size is
    /// free (a region read at this scale sees what the whole frame would); `None` for a
    /// fixed-size model, which enlarges any region to its input.
    pub fn full_scale(&self, width: u32, height: u32) -> Option<f32> {
        self.pre.full_scale(width as f32, height as f32)
    }

    /// Detects objects in `img`; boxes are in `img` pixels, clipped to it.
    pub fn detect(&mut self, img: &RgbView) -> Result<Vec<Detection>, InferError> {
        self.detect_in(img, None)
    }

    /// Detects objects in `region` of `img` (or all of it); boxes are in `img` pixels.
    pub fn detect_in(
        &mut self,
        img: &RgbView,
        region: Option<BBox>,
    ) -> Result<Vec<Detection>, InferError> {
        self.detect_scaled(img, region, f32::INFINITY)
    }

    /// Like [`Detector::detect_in`], the region scaled by at most `max_scale` when the
    /// model's input size is free (`fit = "aspect"`): a small region is not enlarged to the
    /// full input, a large one read at a lower resolution. Fixed-size models ignore it.
    pub fn detect_scaled(
        &mut self,
        img: &RgbView,
        region: Option<BBox>,
        max_scale: f32,
    ) -> Result<Vec<Detection>, InferError> {
        let (rw, rh) = region.map_or((img.width as f32, img.height as f32), |r| {
            let r = r.clip(img.width as f32, img.height as f32);
            (r.w, r.h)
        });
        let size = self.pre.fit_scaled(rw, rh, max_scale);
        let len = self.pre.item_len();
        let staging = match &mut self.input {
            InputBatch::F32(v) => &mut v[..len],
            InputBatch::F16 { full, .. } => &mut full[..len],
            InputBatch::U8(_) => {
                return Err(self.model.run_err("u8 detector inputs are not supported"));
            }
        };
        let transform = self
            .pre
            .fill_f32(img, region, staging)
            .map_err(|m| self.model.run_err(m))?;
        self.input.finish(len);
        let shape = self.model.input_shape_sized(1, size);
        let (labels, keep, threshold) = (self.labels.len(), &self.keep, self.cfg.score_threshold);
        // Decoded straight from ONNX Runtime's output buffer (no copy of the ~1 MB tensor).
        let candidates = self
            .model
            .run_with(&self.input, shape, |manifest, dims, data| {
                match &manifest.output {
                    OutputSpec::Yolox { strides, .. } => {
                        yolox::decode(data, size.0, size.1, strides, labels, keep, threshold)
                    }
                    OutputSpec::Yolov8 { .. } => match dims {
                        [1, rows, anchors] => yolov8::decode(
                            data,
                            *rows as usize,
                            *anchors as usize,
                            labels,
                            keep,
                            threshold,
                        ),
                        other => Err(format!("unexpected output shape {other:?}")),
                    },
                    OutputSpec::Yolov8Dfl {
                        strides, reg_max, ..
                    } => yolov8::decode_dfl(
                        data,
                        yolov8::DflHead {
                            width: size.0,
                            height: size.1,
                            strides,
                            reg_max: *reg_max,
                        },
                        labels,
                        keep,
                        threshold,
                    ),
                    other => Err(format!("{} is not a detector output", other.decode_name())),
                }
            })?
            .map_err(|m| self.model.run_err(m))?;
        let kept = nms_grouped(
            candidates,
            self.cfg.nms_iou_threshold,
            self.cfg.max_detections,
            &self.groups,
        );
        let (w, h) = (img.width as f32, img.height as f32);
        Ok(kept
            .into_iter()
            .filter_map(|c| {
                let bbox = transform.to_source(&c.bbox).clip(w, h);
                (bbox.area() > 0.0).then(|| Detection {
                    class_id: c.class_id,
                    label: self.labels[c.class_id as usize].clone(),
                    score: c.score,
                    bbox,
                })
            })
            .collect())
    }
}

/// Checks the declared output shape against the decoder.
fn check_output(model: &LoadedModel) -> Result<(), String> {
    let m = &model.manifest;
    let Some(dims) = model.output_dims() else {
        return Ok(());
    };
    match &m.output {
        OutputSpec::Yolox { name, strides } => {
            let anchors = yolox::anchor_count(m.input.width, m.input.height, strides) as i64;
            let row = 5 + m.labels.len() as i64;
            let ok = dims.len() == 3
                && (dims[1] < 0 || dims[1] == anchors)
                && (dims[2] < 0 || dims[2] == row);
            if !ok {
                return Err(format!(
                    "output {name:?} has shape {dims:?}; YOLOX with {} labels and strides {strides:?} gives [1, {anchors}, {row}]",
                    m.labels.len()
                ));
            }
        }
        OutputSpec::Yolov8 { name } => {
            let need = 4 + m.labels.len() as i64;
            if dims.len() != 3 || (dims[1] >= 0 && dims[1] < need) {
                return Err(format!(
                    "output {name:?} has shape {dims:?}; YOLOv8 with {} labels needs [1, >= {need}, anchors]",
                    m.labels.len()
                ));
            }
        }
        OutputSpec::Yolov8Dfl { name, reg_max, .. } => {
            let rows = 4 * i64::from(*reg_max) + m.labels.len() as i64;
            if dims.len() != 3 || (dims[1] >= 0 && dims[1] != rows) {
                return Err(format!(
                    "output {name:?} has shape {dims:?}; a raw YOLOv8 head with {} labels and reg_max {reg_max} gives [1, {rows}, anchors]",
                    m.labels.len()
                ));
            }
        }
        other => return Err(format!("{} is not a detector output", other.decode_name())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_mask_keeps_named_classes_and_rejects_unknown() {
        let labels: Vec<String> = ["person", "bicycle", "car"].map(String::from).to_vec();
        assert_eq!(class_mask(&labels, &[]).unwrap(), vec![true; 3]);
        assert_eq!(
            class_mask(&labels, &["car".into(), "person".into()]).unwrap(),
            vec![true, false, true]
        );
        assert!(
            class_mask(&labels, &["persn".into()])
                .unwrap_err()
                .contains("persn")
        );
    }
}
