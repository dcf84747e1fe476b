//! Reading license plates in pictures, with the models: the plate detector proposes boxes,
//! the OCR reads them in one batch, the plate grammar (vigia-lpr) decodes and classifies
//! each read. Shared by the live pipeline (one [`PlateReader`] per inference worker),
//! `vigia read` and `vigia eval`.
//!
//! - [`reader`]: [`PlateReader`], the detector → OCR → grammar chain on one picture.
//! - [`chain`]: [`Chain`], the vehicle detector beside the plate reader, for the tools;
//!   pictures from files.
//! - [`eval`]: `vigia eval`, the chain scored on a labelled folder.
//! - [`region`]: where and at what resolution plates are looked for (the vehicles in view).
//! - [`deblur`]: horizontal motion blur found, measured and undone on a plate box.
//! - [`look_alike`]: a second OCR's opinion on letters the first reads for look-alikes.
//!
//! The per-pass logic (voting, hotlists) is model-free and lives in `vigia-lpr`.

pub mod chain;
pub mod deblur;
pub mod eval;
pub mod look_alike;
pub mod reader;
pub mod region;

use std::path::PathBuf;

pub use chain::{Chain, default_manifest, load_rgb};
pub use eval::{EvalReport, evaluate};
pub use reader::{PlateFound, PlateReader, PlateScan, StageTimes};

/// Errors of the plate chain.
#[derive(Debug, thiserror::Error)]
pub enum PlatesError {
    /// A model could not be loaded; `what` names it and its config key. The cause is the
    /// error's source (printed after it by `{:#}`, not repeated in the message).
    #[error("loading {what}")]
    Model {
        what: &'static str,
        source: vigia_infer::InferError,
    },
    /// The plate grammars could not be built.
    #[error("loading plate grammars (lpr.countries, lpr.grammar_files): {0}")]
    Grammar(vigia_lpr::LprError),
    /// Running a model failed.
    #[error(transparent)]
    Infer(#[from] vigia_infer::InferError),
    /// A picture could not be read.
    #[error("{}: {message}", path.display())]
    Image { path: PathBuf, message: String },
    /// A labelled dataset is malformed (`at` is the file, or `file:line`).
    #[error("{at}: {message}")]
    Dataset { at: String, message: String },
}
