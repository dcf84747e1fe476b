//! The one shape of a configuration problem, used by every section's `validate()` and by
//! the whole file's loader: the field's path and what is wrong with it.

use std::fmt;

/// A problem with one configuration value. Sections report `field` relative to themselves
/// (`jpeg_quality`); the loader prefixes the section (`snapshots.jpeg_quality`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same problem seen from an enclosing table: `prefix.field`.
    pub fn within(self, prefix: &str) -> Self {
        Self {
            field: format!("{prefix}.{}", self.field),
            message: self.message,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}
