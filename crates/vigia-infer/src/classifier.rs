//! [`Classifier`]: scores crops of a picture with a `classify` model (the pluggable stage of
//! incident rules, e.g. a fight/violence model a monitoring center brings).

use std::path::Path;

use ort::environment::Environment;
use vigia_core::BBox;

use crate::error::InferError;
use crate::image::{Preprocessor, RgbView};
use crate::manifest::{ModelManifest, OutputSpec, Task};
use crate::model::{InputBatch, LoadedModel, RunSettings};

/// A crop classifier (one per thread).
pub struct Classifier {
    model: LoadedModel,
    pre: Preprocessor,
    batch: InputBatch,
    max_batch: usize,
    softmax: bool,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("model", &self.model.manifest.name)
            .finish_non_exhaustive()
    }
}

fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum.max(f32::MIN_POSITIVE);
    }
}

impl Classifier {
    pub fn load(
        env: &Environment,
        manifest: &Path,
        run: &RunSettings,
        max_batch: usize,
    ) -> Result<Self, InferError> {
        let manifest = ModelManifest::load(manifest)?;
        let model = LoadedModel::load(env, manifest, Task::Classify, run)?;
        let OutputSpec::Scores { softmax, .. } = model.manifest.output else {
            return Err(model.model_err("a classifier needs a `scores` output".to_string()));
        };
        let pre = Preprocessor::new(model.manifest.input.clone());
        let max_batch = max_batch.max(1);
        let batch = InputBatch::new(model.manifest.input.dtype, pre.item_len(), max_batch);
        Ok(Self {
            model,
            pre,
            batch,
            max_batch,
            softmax,
        })
    }

    pub fn name(&self) -> &str {
        &self.model.manifest.name
    }

    pub fn labels(&self) -> &[String] {
        &self.model.manifest.labels
    }

    /// Class probabilities for each region (in `labels` order).
    pub fn classify(
        &mut self,
        img: &RgbView,
        regions: &[BBox],
    ) -> Result<Vec<Vec<f32>>, InferError> {
        let mut out = Vec::with_capacity(regions.len());
        for chunk in regions.chunks(self.max_batch) {
            self.batch
                .fill_crops(&mut self.pre, img, chunk)
                .map_err(|m| self.model.run_err(m))?;
            let (dims, data) = self.model.run(&self.batch, chunk.len())?;
            let classes = self.model.manifest.labels.len();
            if dims.len() != 2 || dims[1] as usize != classes || data.len() != chunk.len() * classes
            {
                return Err(self.model.run_err(format!(
                    "output shape {dims:?} does not match {} crops x {classes} labels",
                    chunk.len()
                )));
            }
            for row in data.chunks_exact(classes) {
                let mut p = row.to_vec();
                if self.softmax {
                    softmax(&mut p);
                }
                out.push(p);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_normalises() {
        let mut v = vec![1.0, 2.0, 3.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[2] > v[1] && v[1] > v[0]);
    }
}
