//! A hotlist file's place and layout (`[lpr] hotlists = [...]`).

use std::path::PathBuf;

use serde::Deserialize;
use vigia_core::FieldError;

use super::{FixedField, HotlistFormat};

/// A hotlist file (formats: [`crate::hotlist`], docs/lpr.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotlistSource {
    /// The file. Relative paths resolve against the config file.
    pub path: PathBuf,
    /// List name for rows without one. Default: the file name without extension.
    #[serde(default)]
    pub list: Option<String>,
    /// `csv` (a header names the columns; default) or `genetec` (no header: `fields` or
    /// `fixed` name them).
    #[serde(default)]
    pub format: HotlistFormat,
    /// Column delimiter: one character or `tab`. Default: detected (`csv`), `;` (`genetec`).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// `genetec`: the attribute of each column, in order (`PlateNumber`, `PlateState`,
    /// `Category`, `EffectiveDate`, `ExpiryDate`, ...).
    #[serde(default)]
    pub fields: Vec<String>,
    /// `genetec` fixed-width files: `{ name, start (1-based), length }` per attribute.
    #[serde(default)]
    pub fixed: Vec<FixedField>,
    /// Priority of the file's entries without their own: 0 (highest) to 100 (lowest).
    /// Hits at 0-33 raise `high` alerts, 34-66 `medium`, 67-100 `low`; none: `high`.
    #[serde(default)]
    pub priority: Option<u8>,
}

impl HotlistSource {
    /// A header-named CSV file with every default.
    pub fn csv(path: &std::path::Path) -> Self {
        Self {
            path: path.to_path_buf(),
            list: None,
            format: HotlistFormat::Csv,
            delimiter: None,
            fields: Vec::new(),
            fixed: Vec::new(),
            priority: None,
        }
    }

    /// Problems with the layout settings, at their field names.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        let names = self.fields.iter().chain(self.fixed.iter().map(|f| &f.name));
        if self.format == HotlistFormat::Genetec
            && !names.into_iter().any(|n| super::parse_column_is_plate(n))
        {
            e.push(FieldError::new(
                "fields",
                "a genetec hotlist needs `fields` (or `fixed`) naming its PlateNumber column",
            ));
        }
        if let Some(d) = &self.delimiter
            && d != "tab"
            && d.chars().count() != 1
        {
            e.push(FieldError::new("delimiter", "one character, or \"tab\""));
        }
        if self.priority.is_some_and(|p| p > 100) {
            e.push(FieldError::new("priority", "0 (highest) to 100 (lowest)"));
        }
        if self.fixed.iter().any(|f| f.start == 0 || f.length == 0) {
            e.push(FieldError::new(
                "fixed",
                "start is 1-based and length at least 1",
            ));
        }
        e
    }
}
