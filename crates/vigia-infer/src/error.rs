//! The inference error type.

use std::path::PathBuf;

/// Errors from loading the runtime or a model, or from running one. Each names the file
/// or model involved.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("ONNX Runtime library not found; tried: {tried}. {hint}")]
    RuntimeMissing { tried: String, hint: &'static str },
    #[error("loading ONNX Runtime from {path}: {message}")]
    Runtime { path: PathBuf, message: String },
    #[error("model manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("model file for {model} not found; tried: {tried}. {hint}")]
    ModelMissing {
        model: String,
        tried: String,
        hint: &'static str,
    },
    #[error("model file {path}: sha256 is {actual}, the manifest expects {expected}")]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model {model} ({path}): {message}")]
    Model {
        model: String,
        path: PathBuf,
        message: String,
    },
    #[error("running model {model}: {message}")]
    Run { model: String, message: String },
    /// A picture that cannot be used (size, stride, buffer).
    #[error("picture: {0}")]
    Image(String),
    #[error("execution provider {provider} is not available: {message}")]
    Provider {
        provider: &'static str,
        message: String,
    },
}

/// What to do when the runtime or a model is missing.
pub const SETUP_HINT: &str =
    "Run the README's set-up (`make demo` or `make test` run it), or see docs/models.md";
