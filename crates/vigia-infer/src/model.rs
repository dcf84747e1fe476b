//! What every model shares: finding and verifying the file, creating the session, checking
//! its input against the manifest, and running it on a batch.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use half::f16;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use vigia_core::BBox;

use crate::config::ExecutionProvider;
use crate::error::InferError;
use crate::image::{Preprocessor, RgbView};
use crate::manifest::{InputDtype, InputFit, Layout, ModelManifest, Task};
use crate::runtime;

/// A verified model with its session.
pub struct LoadedModel {
    pub manifest: ModelManifest,
    pub path: PathBuf,
    pub session: Session,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("model", &self.manifest.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Where and how a model runs.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub provider: ExecutionProvider,
    pub threads: usize,
    pub models_dirs: Vec<PathBuf>,
}

impl LoadedModel {
    /// Finds the file, checks its sha256, creates the session and checks the input.
    pub fn load(
        env: &Environment,
        manifest: ModelManifest,
        task: Task,
        run: &RunSettings,
    ) -> Result<Self, InferError> {
        let manifest_err = |message: String| InferError::Manifest {
            path: manifest.dir.join(format!("{}.toml", manifest.name)),
            message,
        };
        if manifest.task != task {
            return Err(manifest_err(format!(
                "task is {:?}, this stage needs {task:?}",
                manifest.task
            )));
        }
        let path = manifest.resolve_file(&run.models_dirs)?;
        manifest.verify(&path)?;
        let eps = runtime::execution_providers(run.provider)?;
        let session =
            build_session(env, run.threads, eps, &path).map_err(|e| InferError::Model {
                model: manifest.name.clone(),
                path: path.clone(),
                message: e.to_string(),
            })?;
        let m = Self {
            manifest,
            path,
            session,
        };
        m.check_input().map_err(|message| m.model_err(message))?;
        if !m
            .session
            .outputs()
            .iter()
            .any(|o| o.name() == m.manifest.output.name())
        {
            let names: Vec<_> = m
                .session
                .outputs()
                .iter()
                .map(|o| o.name().to_string())
                .collect();
            return Err(m.model_err(format!(
                "manifest output {:?} is not an output of the model (it has {names:?})",
                m.manifest.output.name()
            )));
        }
        tracing::info!(
            model = %m.manifest.name,
            version = %m.manifest.version,
            path = %m.path.display(),
            provider = run.provider.as_str(),
            threads = run.threads,
            "model loaded"
        );
        Ok(m)
    }

    pub fn model_err(&self, message: String) -> InferError {
        InferError::Model {
            model: self.manifest.name.clone(),
            path: self.path.clone(),
            message,
        }
    }

    pub fn run_err(&self, message: impl std::fmt::Display) -> InferError {
        InferError::Run {
            model: self.manifest.name.clone(),
            message: message.to_string(),
        }
    }

    /// The input shape for a batch of `n`.
    pub fn input_shape(&self, n: usize) -> [usize; 4] {
        let i = &self.manifest.input;
        self.input_shape_sized(n, (i.width, i.height))
    }

    /// The input shape for a batch of `n` items of `width x height` (`fit = "aspect"`).
    pub fn input_shape_sized(&self, n: usize, (width, height): (u32, u32)) -> [usize; 4] {
        match self.manifest.input.layout {
            Layout::Nchw => [n, 3, height as usize, width as usize],
            Layout::Nhwc => [n, height as usize, width as usize, 3],
        }
    }

    fn check_input(&self) -> Result<(), String> {
        let spec = &self.manifest.input;
        let input = self
            .session
            .inputs()
            .iter()
            .find(|i| i.name() == spec.name)
            .ok_or_else(|| {
                format!(
                    "manifest input {:?} is not an input of the model (it has {:?})",
                    spec.name,
                    self.session
                        .inputs()
                        .iter()
                        .map(|i| i.name())
                        .collect::<Vec<_>>()
                )
            })?;
        let want = self.input_shape(1).map(|d| d as i64);
        if let Some(shape) = input.dtype().tensor_shape() {
            let dims: &[i64] = shape;
            let ok = dims.len() == 4 && dims.iter().zip(want).all(|(d, w)| *d < 0 || *d == w);
            if !ok {
                return Err(format!(
                    "input {:?} has shape {dims:?}, the manifest describes {want:?}",
                    spec.name
                ));
            }
            let (h, w) = match spec.layout {
                Layout::Nchw => (dims[2], dims[3]),
                Layout::Nhwc => (dims[1], dims[2]),
            };
            if spec.fit == InputFit::Aspect && (h >= 0 || w >= 0) {
                return Err(format!(
                    "the manifest asks for fit = \"aspect\" but input {:?} has a fixed size {dims:?} (free its height and width, e.g. with models/fit_input.py)",
                    spec.name
                ));
            }
        }
        let want_ty = match spec.dtype {
            InputDtype::F32 => ort::value::TensorElementType::Float32,
            InputDtype::F16 => ort::value::TensorElementType::Float16,
            InputDtype::U8 => ort::value::TensorElementType::Uint8,
        };
        if let Some(ty) = input.dtype().tensor_type()
            && ty != want_ty
        {
            return Err(format!(
                "input {:?} is {ty:?}, the manifest says {:?}",
                spec.name, spec.dtype
            ));
        }
        Ok(())
    }

    /// The declared shape of the manifest's output (`-1` for dynamic dimensions).
    pub fn output_dims(&self) -> Option<Vec<i64>> {
        let name = self.manifest.output.name();
        self.session
            .outputs()
            .iter()
            .find(|o| o.name() == name)
            .and_then(|o| o.dtype().tensor_shape().map(|s| s.to_vec()))
    }

    /// Runs the model on a batch and returns the manifest's output as f32 with its shape.
    pub fn run(
        &mut self,
        batch: &InputBatch,
        n: usize,
    ) -> Result<(Vec<i64>, Vec<f32>), InferError> {
        self.run_with(batch, self.input_shape(n), |_, dims, data| {
            (dims.to_vec(), data.to_vec())
        })
    }

    /// Runs the model on a batch of `shape` (`fit = "aspect"` inputs have their own) and
    /// hands the manifest and its output (dims, f32 values) to `read` without copying the
    /// output (the detector decodes in place).
    pub fn run_with<R>(
        &mut self,
        batch: &InputBatch,
        shape: [usize; 4],
        read: impl FnOnce(&ModelManifest, &[i64], &[f32]) -> R,
    ) -> Result<R, InferError> {
        let n = shape[0];
        let name = self.manifest.input.name.clone();
        let out_name = self.manifest.output.name().to_string();
        let model = self.manifest.name.clone();
        let err = |e: ort::Error| InferError::Run {
            model: model.clone(),
            message: e.to_string(),
        };
        let outputs = match batch {
            InputBatch::F32(v) => {
                let t = TensorRef::from_array_view((shape, &v[..n * item(shape)])).map_err(err)?;
                self.session
                    .run(ort::inputs![name.as_str() => t])
                    .map_err(err)?
            }
            InputBatch::F16 { half, .. } => {
                let t =
                    TensorRef::from_array_view((shape, &half[..n * item(shape)])).map_err(err)?;
                self.session
                    .run(ort::inputs![name.as_str() => t])
                    .map_err(err)?
            }
            InputBatch::U8(v) => {
                let t = TensorRef::from_array_view((shape, &v[..n * item(shape)])).map_err(err)?;
                self.session
                    .run(ort::inputs![name.as_str() => t])
                    .map_err(err)?
            }
        };
        let value = &outputs[out_name.as_str()];
        let (dims, data): (&[i64], Cow<'_, [f32]>) = match value.try_extract_tensor::<f32>() {
            Ok((s, d)) => (s, Cow::Borrowed(d)),
            Err(_) => {
                let (s, d) = value.try_extract_tensor::<f16>().map_err(err)?;
                (s, Cow::Owned(d.iter().map(|h| h.to_f32()).collect()))
            }
        };
        Ok(read(&self.manifest, dims, &data))
    }
}

fn item(shape: [usize; 4]) -> usize {
    shape[1] * shape[2] * shape[3]
}

/// A reusable input buffer of up to `capacity` items, in the model's element type.
pub enum InputBatch {
    F32(Vec<f32>),
    /// Filled as f32 (`full`), converted to `half` before running.
    F16 {
        full: Vec<f32>,
        half: Vec<f16>,
    },
    U8(Vec<u8>),
}

impl InputBatch {
    pub fn new(dtype: InputDtype, item_len: usize, capacity: usize) -> Self {
        let n = item_len * capacity;
        match dtype {
            InputDtype::F32 => InputBatch::F32(vec![0.0; n]),
            InputDtype::F16 => InputBatch::F16 {
                full: vec![0.0; n],
                half: vec![f16::ZERO; n],
            },
            InputDtype::U8 => InputBatch::U8(vec![0; n]),
        }
    }

    /// Fills the batch with one item per region of `img` (at most the capacity), ready to
    /// run. Shared by the batched crop models (OCR, classifiers).
    pub fn fill_crops(
        &mut self,
        pre: &mut Preprocessor,
        img: &RgbView,
        regions: &[BBox],
    ) -> Result<(), InferError> {
        let len = pre.item_len();
        for (i, r) in regions.iter().enumerate() {
            let range = i * len..(i + 1) * len;
            match self {
                InputBatch::U8(v) => pre.fill_u8(img, Some(*r), &mut v[range])?,
                InputBatch::F32(v) => pre.fill_f32(img, Some(*r), &mut v[range])?,
                InputBatch::F16 { full, .. } => pre.fill_f32(img, Some(*r), &mut full[range])?,
            };
        }
        self.finish(regions.len() * len);
        Ok(())
    }

    /// Converts the f32 staging area of the first `len` elements (f16 models).
    pub fn finish(&mut self, len: usize) {
        if let InputBatch::F16 { full, half } = self {
            for (h, f) in half[..len].iter_mut().zip(&full[..len]) {
                *h = f16::from_f32(*f);
            }
        }
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
