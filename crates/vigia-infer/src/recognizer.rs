//! [`Recognizer`]: text recognition of cropped regions (plate OCR), batched.
//!
//! Two output kinds, from the manifest:
//! - `slots` (fast-plate-ocr): a probability distribution over the alphabet for each of a
//!   fixed number of character slots; slots whose best character is the pad are empty;
//! - `ctc` (PP-OCR): a distribution per time step; greedy CTC decoding (best path, repeats
//!   collapsed, blanks dropped).
//!
//! Only `0-9` and `A-Z` are kept (upper-cased). Each character keeps its probability and its
//! top alternatives, so a plate grammar can later choose the best character a position
//! allows (e.g. `0` over `O` where the format wants a digit) from the model's own evidence.

use std::path::Path;

use ort::environment::Environment;
use vigia_core::{BBox, CharRead, TextRead};

use crate::error::InferError;
use crate::image::{Preprocessor, RgbView};
use crate::manifest::{ModelManifest, OutputSpec, Task};
use crate::model::{InputBatch, LoadedModel, RunSettings};

/// Alternatives kept per character.
const TOP_K: usize = 5;

fn plate_char(c: char) -> Option<char> {
    let u = c.to_ascii_uppercase();
    u.is_ascii_alphanumeric().then_some(u)
}

enum Decoder {
    Slots { alphabet: Vec<char>, pad: usize },
    Ctc { vocab: Vec<char>, blank: usize },
}

/// A text recogniser (one per worker thread).
pub struct Recognizer {
    model: LoadedModel,
    pre: Preprocessor,
    batch: InputBatch,
    max_batch: usize,
    decoder: Decoder,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("model", &self.model.manifest.name)
            .finish_non_exhaustive()
    }
}

impl Recognizer {
    /// Loads a `recognize` manifest. `max_batch` crops go through the model at once.
    pub fn load(
        env: &Environment,
        manifest: &Path,
        run: &RunSettings,
        max_batch: usize,
    ) -> Result<Self, InferError> {
        let manifest = ModelManifest::load(manifest)?;
        let model = LoadedModel::load(env, manifest, Task::Recognize, run)?;
        let decoder = match &model.manifest.output {
            OutputSpec::Slots { alphabet, pad, .. } => {
                let alphabet: Vec<char> = alphabet.chars().collect();
                let pad = alphabet
                    .iter()
                    .position(|c| c == pad)
                    .expect("checked on load");
                Decoder::Slots { alphabet, pad }
            }
            OutputSpec::Ctc {
                charset,
                blank_index,
                ..
            } => {
                let chars: Vec<char> = match charset.strip_prefix("metadata:") {
                    Some(key) => {
                        let meta = model
                            .session
                            .metadata()
                            .map_err(|e| model.model_err(e.to_string()))?;
                        let text = meta.custom(key).ok_or_else(|| {
                            model.model_err(format!("model metadata has no {key:?} charset"))
                        })?;
                        text.split('\n')
                            .map(|l| l.chars().next().unwrap_or(' '))
                            .collect()
                    }
                    None => charset.chars().collect(),
                };
                // Vocabulary: blank, the charset, a space.
                let mut vocab = Vec::with_capacity(chars.len() + 2);
                vocab.push('\0');
                vocab.extend(chars);
                vocab.push(' ');
                if let Some(dims) = model.output_dims()
                    && let Some(&v) = dims.last()
                    && v >= 0
                    && v as usize != vocab.len()
                {
                    return Err(model.model_err(format!(
                        "output has {v} classes, the charset gives {} (blank + {} + space)",
                        vocab.len(),
                        vocab.len() - 2
                    )));
                }
                Decoder::Ctc {
                    vocab,
                    blank: *blank_index,
                }
            }
            other => {
                return Err(model.model_err(format!(
                    "{} is not a recogniser output",
                    other.decode_name()
                )));
            }
        };
        let pre = Preprocessor::new(model.manifest.input.clone());
        let max_batch = max_batch.max(1);
        let batch = InputBatch::new(model.manifest.input.dtype, pre.item_len(), max_batch);
        Ok(Self {
            model,
            pre,
            batch,
            max_batch,
            decoder,
        })
    }

    pub fn name(&self) -> &str {
        &self.model.manifest.name
    }

    pub fn manifest(&self) -> &ModelManifest {
        &self.model.manifest
    }

    /// Reads the text in each of `regions` of `img` (one result per region, same order).
    pub fn recognize(
        &mut self,
        img: &RgbView,
        regions: &[BBox],
    ) -> Result<Vec<TextRead>, InferError> {
        let mut out = Vec::with_capacity(regions.len());
        for chunk in regions.chunks(self.max_batch) {
            out.extend(self.run_chunk(img, chunk)?);
        }
        Ok(out)
    }

    fn run_chunk(&mut self, img: &RgbView, regions: &[BBox]) -> Result<Vec<TextRead>, InferError> {
        self.batch
            .fill_crops(&mut self.pre, img, regions)
            .map_err(|m| self.model.run_err(m))?;
        let (dims, data) = self.model.run(&self.batch, regions.len())?;
        let [n, steps, classes] = dims.as_slice() else {
            return Err(self
                .model
                .run_err(format!("unexpected output shape {dims:?}")));
        };
        let (n, steps, classes) = (*n as usize, *steps as usize, *classes as usize);
        if n != regions.len() || data.len() != n * steps * classes {
            return Err(self
                .model
                .run_err(format!("unexpected output shape {dims:?}")));
        }
        Ok((0..n)
            .map(|i| {
                let item = &data[i * steps * classes..(i + 1) * steps * classes];
                match &self.decoder {
                    Decoder::Slots { alphabet, pad } => decode_slots(item, classes, alphabet, *pad),
                    Decoder::Ctc { vocab, blank } => decode_ctc(item, classes, vocab, *blank),
                }
            })
            .collect())
    }
}

/// Top-k plate characters of one distribution, best first.
fn top_chars(dist: &[f32], symbols: &[char]) -> Vec<(char, f32)> {
    let mut v: Vec<(char, f32)> = dist
        .iter()
        .zip(symbols)
        .filter_map(|(p, c)| plate_char(*c).map(|c| (c, *p)))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(TOP_K);
    v
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// Fixed-slot decoding.
pub fn decode_slots(item: &[f32], classes: usize, alphabet: &[char], pad: usize) -> TextRead {
    let mut read = TextRead::default();
    for slot in item.chunks_exact(classes) {
        let best = argmax(slot);
        if best == pad {
            continue;
        }
        let Some(ch) = alphabet.get(best).copied().and_then(plate_char) else {
            continue;
        };
        read.text.push(ch);
        read.chars.push(CharRead {
            ch,
            prob: slot[best],
            alternatives: top_chars(slot, alphabet),
        });
    }
    read
}

/// Greedy CTC decoding.
pub fn decode_ctc(item: &[f32], classes: usize, vocab: &[char], blank: usize) -> TextRead {
    let mut read = TextRead::default();
    let mut prev = usize::MAX;
    for step in item.chunks_exact(classes) {
        let best = argmax(step);
        if best != blank
            && best != prev
            && let Some(ch) = vocab.get(best).copied().and_then(plate_char)
        {
            read.text.push(ch);
            read.chars.push(CharRead {
                ch,
                prob: step[best],
                alternatives: top_chars(step, vocab),
            });
        }
        prev = best;
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onehot(classes: usize, i: usize, p: f32) -> Vec<f32> {
        let mut v = vec![(1.0 - p) / (classes - 1) as f32; classes];
        v[i] = p;
        v
    }

    #[test]
    fn slots_drop_pad_and_keep_alternatives() {
        let alphabet: Vec<char> = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_".chars().collect();
        let idx = |c: char| alphabet.iter().position(|a| *a == c).unwrap();
        let mut item = Vec::new();
        for (c, p) in [('A', 0.9), ('_', 0.99), ('B', 0.8), ('1', 0.7), ('_', 0.9)] {
            item.extend(onehot(37, idx(c), p));
        }
        // Make 'O' the runner-up of the '1' slot... no: of a new 0/O slot.
        let mut slot = vec![0.0; 37];
        slot[idx('0')] = 0.55;
        slot[idx('O')] = 0.45;
        item.extend(slot);
        let r = decode_slots(&item, 37, &alphabet, idx('_'));
        assert_eq!(r.text, "AB10");
        assert_eq!(r.chars[3].alternatives[..2], [('0', 0.55), ('O', 0.45)]);
        assert!((r.mean_prob() - (0.9 + 0.8 + 0.7 + 0.55) / 4.0).abs() < 1e-6);
        assert!((r.min_prob() - 0.55).abs() < 1e-6);
    }

    #[test]
    fn ctc_collapses_repeats_drops_blanks_and_non_plate_chars() {
        let vocab = vec!['\0', 'a', 'b', '-', '1', ' '];
        let steps: Vec<Vec<f32>> = [1, 1, 0, 1, 3, 2, 2, 0, 2, 4, 5]
            .iter()
            .map(|&i| onehot(6, i, 0.9))
            .collect();
        let r = decode_ctc(&steps.concat(), 6, &vocab, 0);
        assert_eq!(r.text, "AABB1");
        assert_eq!(r.chars.len(), 5);
    }
}
