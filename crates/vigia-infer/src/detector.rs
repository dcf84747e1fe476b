//! [`Detector`]: an object detector session (one per worker thread).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;
use vigia_core::Detection;

use crate::config::{DetectorConfig, ExecutionProvider};
use crate::error::InferError;
use crate::image::{Preprocessor, RgbView};
use crate::manifest::{InputDtype, Layout, ModelManifest, OutputSpec, Task};
use crate::nms::nms;
use crate::runtime;
use crate::yolox;

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
    manifest: ModelManifest,
    model_path: PathBuf,
    session: Session,
    pre: Preprocessor,
    input: Vec<f32>,
    labels: Vec<Arc<str>>,
    keep: Vec<bool>,
    cfg: DetectorConfig,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.manifest.name)
            .field("path", &self.model_path)
            .finish_non_exhaustive()
    }
}

/// Maps class names to a keep-mask over `labels`; unknown names are an error.
pub fn class_mask(labels: &[String], classes: &[String]) -> Result<Vec<bool>, String> {
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
        if manifest.task != Task::Detect {
            return Err(InferError::Manifest {
                path: opts.detector.manifest.clone(),
                message: "task must be \"detect\" for the detector".to_string(),
            });
        }
        if manifest.input.dtype != InputDtype::F32 {
            return Err(InferError::Manifest {
                path: opts.detector.manifest.clone(),
                message: "the detector supports f32 inputs".to_string(),
            });
        }
        let path = manifest.resolve_file(&opts.models_dirs)?;
        manifest.verify(&path)?;
        let model_err = |message: String| InferError::Model {
            model: manifest.name.clone(),
            path: path.clone(),
            message,
        };
        let keep = class_mask(&manifest.labels, &opts.detector.classes)
            .map_err(|m| model_err(format!("inference.detector.classes: {m}")))?;
        let eps = runtime::execution_providers(opts.provider)?;
        let session =
            build_session(env, opts.threads, eps, &path).map_err(|e| model_err(e.to_string()))?;
        check_io(&session, &manifest).map_err(model_err)?;
        let labels = manifest
            .labels
            .iter()
            .map(|l| Arc::from(l.as_str()))
            .collect();
        let pre = Preprocessor::new(manifest.input.clone());
        let input = vec![0f32; pre.item_len()];
        tracing::info!(
            model = %manifest.name,
            version = %manifest.version,
            path = %path.display(),
            provider = opts.provider.as_str(),
            threads = opts.threads,
            "detector loaded"
        );
        Ok(Self {
            manifest,
            model_path: path,
            session,
            pre,
            input,
            labels,
            keep,
            cfg: opts.detector.clone(),
        })
    }

    /// The model name (from its manifest).
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// Detects objects in `img`; boxes are in `img` pixels, clipped to it.
    pub fn detect(&mut self, img: &RgbView) -> Result<Vec<Detection>, InferError> {
        let run_err = |message: String| InferError::Run {
            model: self.manifest.name.clone(),
            message,
        };
        let transform = self
            .pre
            .fill_f32(img, None, &mut self.input)
            .map_err(run_err)?;
        let spec = &self.manifest.input;
        let shape = match spec.layout {
            Layout::Nchw => [1usize, 3, spec.height as usize, spec.width as usize],
            Layout::Nhwc => [1usize, spec.height as usize, spec.width as usize, 3],
        };
        let candidates = {
            let tensor = TensorRef::from_array_view((shape, &self.input[..])).map_err(|e| {
                InferError::Run {
                    model: self.manifest.name.clone(),
                    message: e.to_string(),
                }
            })?;
            let outputs = self
                .session
                .run(ort::inputs![spec.name.as_str() => tensor])
                .map_err(|e| InferError::Run {
                    model: self.manifest.name.clone(),
                    message: e.to_string(),
                })?;
            match &self.manifest.output {
                OutputSpec::Yolox { name, strides } => {
                    let (_, data) =
                        outputs[name.as_str()]
                            .try_extract_tensor::<f32>()
                            .map_err(|e| InferError::Run {
                                model: self.manifest.name.clone(),
                                message: e.to_string(),
                            })?;
                    yolox::decode(
                        data,
                        spec.width,
                        spec.height,
                        strides,
                        self.labels.len(),
                        &self.keep,
                        self.cfg.score_threshold,
                    )
                    .map_err(|m| InferError::Run {
                        model: self.manifest.name.clone(),
                        message: m,
                    })?
                }
            }
        };
        let kept = nms(
            candidates,
            self.cfg.nms_iou_threshold,
            self.cfg.max_detections,
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

fn build_session(
    env: &Environment,
    threads: usize,
    eps: Vec<ort::ep::ExecutionProviderDispatch>,
    path: &Path,
) -> ort::Result<Session> {
    Session::builder(env)?
        .with_intra_threads(threads)?
        .with_intra_op_spinning(false)?
        .with_execution_providers(eps)?
        .commit_from_file(path)
}

/// Checks the session's input and output against the manifest.
fn check_io(session: &Session, m: &ModelManifest) -> Result<(), String> {
    let input = session
        .inputs()
        .iter()
        .find(|i| i.name() == m.input.name)
        .ok_or_else(|| {
            format!(
                "manifest input {:?} is not an input of the model (it has {:?})",
                m.input.name,
                session
                    .inputs()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
            )
        })?;
    let want: [i64; 4] = match m.input.layout {
        Layout::Nchw => [1, 3, m.input.height as i64, m.input.width as i64],
        Layout::Nhwc => [1, m.input.height as i64, m.input.width as i64, 3],
    };
    if let Some(shape) = input.dtype().tensor_shape() {
        let dims: &[i64] = shape;
        let ok = dims.len() == 4 && dims.iter().zip(want).all(|(d, w)| *d < 0 || *d == w);
        if !ok {
            return Err(format!(
                "input {:?} has shape {dims:?}, the manifest describes {want:?}",
                m.input.name
            ));
        }
    }
    match &m.output {
        OutputSpec::Yolox { name, strides } => {
            let out = session
                .outputs()
                .iter()
                .find(|o| o.name() == name)
                .ok_or_else(|| format!("manifest output {name:?} is not an output of the model"))?;
            if let Some(shape) = out.dtype().tensor_shape() {
                let dims: &[i64] = shape;
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
        }
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
