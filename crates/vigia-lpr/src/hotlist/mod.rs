//! Hotlists: plates to alert on (stolen vehicles, wanted, ...), from the files centers keep.
//!
//! Formats ([`parse`]): header-named CSV (vigia's own, Rekor alert-list exports, Milestone
//! match lists, spreadsheets in English or Spanish; `,` `;` tab or `|`), and Genetec AutoVu
//! style files without a header, delimited or fixed-width, whose attribute order the config
//! gives. Each entry may carry a list, category, state, notes, id, priority (0 highest, 100
//! lowest, as Genetec ranks hotlists), and the days it is in force (`EffectiveDate`,
//! `ExpiryDate`). Plates are normalised (upper case, no spaces, dashes or dots). Bad rows are
//! reported with their line numbers; good rows load.
//!
//! Matching: exact, or within `max_distance` of an edit distance where substituting a
//! confusable pair (`O`/`0`, `I`/`1`, `B`/`8`, ...) costs 0.5 and anything else 1.
//!
//! Lookup is indexed ([`index`]): every plate is filed under its confusion-free key (each
//! confusable letter replaced by its digit, packed in a `u64`). A plate within distance 1 of
//! a read has a key within one plain edit of the read's key, so a lookup tries the read's
//! key and its one-edit neighbours (a few hundred hash probes) and verifies the candidates
//! with the exact distance, whatever the list's size. Distances above 1 fall back to a scan.

mod index;
mod parse;
mod source;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use vigia_core::event::{HotlistInfo, Severity};

use crate::charset::confusable;
use crate::error::LprError;

pub use parse::{FixedField, HotlistFormat};
pub use source::HotlistSource;

/// Whether a header or attribute name stands for the plate column.
pub fn parse_column_is_plate(name: &str) -> bool {
    parse::column(name) == Some(parse::Col::Plate)
}

/// One hotlist entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HotlistEntry {
    pub plate: String,
    /// List, category and state are shared by the entries that have the same one (a million
    /// rows hold a handful of distinct values).
    pub list: Arc<str>,
    pub category: Option<Arc<str>>,
    pub notes: Option<String>,
    /// The `id` column, else `<source>:<line>`.
    pub entry_id: String,
    /// Issuing state, department or country (`PlateState`).
    pub state: Option<Arc<str>>,
    /// 0 (highest) to 100 (lowest): the row's, else its file's `priority`.
    pub priority: Option<u8>,
    /// First day the entry is in force.
    pub effective: Option<NaiveDate>,
    /// Last day the entry is in force.
    pub expires: Option<NaiveDate>,
}

impl HotlistEntry {
    /// The severity of the alert a hit raises: priority 0-33 (or none) `high`, 34-66
    /// `medium`, 67-100 `low`.
    pub fn alert_severity(&self) -> Severity {
        match self.priority {
            None | Some(0..=33) => Severity::High,
            Some(34..=66) => Severity::Medium,
            Some(_) => Severity::Low,
        }
    }

    /// Whether the entry is in force on `day` (every entry is, with no day given).
    pub fn in_force(&self, day: Option<NaiveDate>) -> bool {
        let Some(day) = day else { return true };
        self.effective.is_none_or(|d| d <= day) && self.expires.is_none_or(|d| day <= d)
    }
}

/// A row that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// A hit.
#[derive(Debug, Clone, PartialEq)]
pub struct HotlistMatch {
    pub entry: HotlistEntry,
    /// 0 for an exact match.
    pub distance: f32,
}

impl From<&HotlistMatch> for HotlistInfo {
    /// What an `lpr` event says about its hit.
    fn from(m: &HotlistMatch) -> Self {
        HotlistInfo {
            matched: true,
            list: Some(m.entry.list.to_string()),
            entry_id: Some(m.entry.entry_id.clone()),
            category: m.entry.category.as_deref().map(str::to_string),
            notes: m.entry.notes.clone(),
            listed_plate: Some(m.entry.plate.clone()),
            match_distance: Some(m.distance),
            state: m.entry.state.as_deref().map(str::to_string),
            priority: m.entry.priority,
            expires: m.entry.expires.map(|d| d.to_string()),
        }
    }
}

/// A set of hotlist entries, indexed by confusion-free key.
#[derive(Debug, Clone, Default)]
pub struct Hotlist {
    entries: Vec<HotlistEntry>,
    by_key: HashMap<u64, Vec<u32>>,
}

impl Hotlist {
    /// Parses header-named CSV text (see [`parse`]). `default_list` names the list when a
    /// row has none; `source` names the file in entry ids.
    pub fn parse_csv(text: &str, default_list: &str, source: &str) -> (Self, Vec<RowError>) {
        let src = HotlistSource::csv(Path::new(source));
        Self::parse(text, &src, default_list, source)
    }

    /// Parses `text` in `src`'s format.
    pub fn parse(
        text: &str,
        src: &HotlistSource,
        default_list: &str,
        source: &str,
    ) -> (Self, Vec<RowError>) {
        let mut list = Self::default();
        let errors = parse::parse(text, src, default_list, source, &mut |e| list.insert(e));
        (list, errors)
    }

    /// Loads a file in `src`'s format; the file stem is the default list name.
    pub fn load(src: &HotlistSource) -> Result<(Self, Vec<RowError>), LprError> {
        let path = &src.path;
        let bytes = std::fs::read(path).map_err(|e| LprError::Hotlist {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // Lists exported on Windows are often Latin-1 / Windows-1252, not UTF-8.
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("hotlist");
        let source = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("hotlist");
        let list = src.list.as_deref().unwrap_or(stem);
        Ok(Self::parse(&text, src, list, source))
    }

    pub fn insert(&mut self, e: HotlistEntry) {
        let Some(key) = index::key(&e.plate) else {
            return; // normalised plates of 2 to 12 characters always have a key
        };
        self.by_key
            .entry(key)
            .or_default()
            .push(self.entries.len() as u32);
        self.entries.push(e);
    }

    /// Adds every entry of `other`.
    pub fn merge(&mut self, other: Hotlist) {
        for e in other.entries {
            self.insert(e);
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries matching `number` within `max_distance`, closest first (then by priority),
    /// whatever the day.
    pub fn lookup(&self, number: &str, max_distance: f32) -> Vec<HotlistMatch> {
        self.lookup_on(number, max_distance, None)
    }

    /// Entries in force on `day` matching `number` within `max_distance`, closest first,
    /// then highest priority (0) first.
    pub fn lookup_on(
        &self,
        number: &str,
        max_distance: f32,
        day: Option<NaiveDate>,
    ) -> Vec<HotlistMatch> {
        let candidates: Vec<u32> = match index::key(number) {
            Some(key) if max_distance <= 1.0 => {
                let mut c: Vec<u32> = Vec::new();
                index::neighbours(key, max_distance > 0.0, &mut |k| {
                    if let Some(ids) = self.by_key.get(&k) {
                        c.extend_from_slice(ids);
                    }
                });
                c.sort_unstable();
                c.dedup();
                c
            }
            _ => (0..self.entries.len() as u32).collect(),
        };
        self.verified(number, max_distance, day, candidates)
    }

    /// The unindexed lookup (every entry of a similar length), kept as the benchmark's
    /// baseline and as the reference the index is tested against.
    #[doc(hidden)]
    pub fn lookup_scan(&self, number: &str, max_distance: f32) -> Vec<HotlistMatch> {
        let (n, span) = (number.len(), max_distance.floor() as usize);
        let candidates = (0..self.entries.len() as u32)
            .filter(|&i| self.entries[i as usize].plate.len().abs_diff(n) <= span)
            .collect();
        self.verified(number, max_distance, None, candidates)
    }

    fn verified(
        &self,
        number: &str,
        max_distance: f32,
        day: Option<NaiveDate>,
        candidates: Vec<u32>,
    ) -> Vec<HotlistMatch> {
        let mut out: Vec<HotlistMatch> = candidates
            .into_iter()
            .map(|i| &self.entries[i as usize])
            .filter(|e| e.in_force(day))
            .filter_map(|e| {
                let d = if e.plate == number {
                    0.0
                } else if max_distance > 0.0 {
                    distance(number, &e.plate)
                } else {
                    return None;
                };
                (d <= max_distance).then(|| HotlistMatch {
                    entry: e.clone(),
                    distance: d,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            a.distance.total_cmp(&b.distance).then(
                a.entry
                    .priority
                    .unwrap_or(u8::MAX)
                    .cmp(&b.entry.priority.unwrap_or(u8::MAX)),
            )
        });
        out
    }
}

/// Edit distance with cheap confusable substitutions (0.5) — OCR errors on plates are
/// mostly look-alike letters and digits.
pub fn distance(a: &str, b: &str) -> f32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<f32> = (0..=b.len()).map(|j| j as f32).collect();
    let mut cur = vec![0f32; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i as f32;
        for j in 1..=b.len() {
            let sub = if a[i - 1] == b[j - 1] {
                0.0
            } else if confusable(a[i - 1], b[j - 1]) {
                0.5
            } else {
                1.0
            };
            cur[j] = (prev[j - 1] + sub).min(prev[j] + 1.0).min(cur[j - 1] + 1.0);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
