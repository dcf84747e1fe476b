//! The plate-logic error type.

use std::path::PathBuf;

/// Errors from plate grammars and hotlists; each message names the format, country or
/// file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LprError {
    /// A plate pattern that cannot be parsed.
    #[error("{0}")]
    Pattern(String),
    /// A plate format, grammar file or built-in country that cannot be used.
    #[error("{0}")]
    Grammar(String),
    /// A hotlist file that cannot be read.
    #[error("{}: {message}", path.display())]
    Hotlist { path: PathBuf, message: String },
}
