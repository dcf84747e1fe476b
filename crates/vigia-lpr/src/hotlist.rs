//! Hotlists: plates to alert on (stolen vehicles, wanted, ...), from CSV files.
//!
//! CSV: one plate per row with optional list, category and notes. A header row is
//! recognised by its names (English or Spanish: `plate`/`placa`/`matricula`, `list`/`lista`,
//! `category`/`categoria`/`motivo`, `notes`/`notas`/`observaciones`, `id`), in any order;
//! without a header the columns are `plate, list, category, notes`. The delimiter is `,` or
//! `;` (spreadsheets in Spanish locales write `;`). Plates are normalised (upper case, no
//! spaces, dashes or dots). Bad rows are reported with their line numbers; good rows load.
//!
//! Matching: exact, or within `max_distance` of an edit distance where substituting a
//! confusable pair (`O`/`0`, `I`/`1`, `B`/`8`, ...) costs 0.5 and anything else 1.

use crate::error::LprError;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::charset::{confusable, normalise};

/// One hotlist entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HotlistEntry {
    pub plate: String,
    pub list: Arc<str>,
    pub category: Option<String>,
    pub notes: Option<String>,
    /// The `id` column, else `<source>:<line>`.
    pub entry_id: String,
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

/// A set of hotlist entries.
#[derive(Debug, Clone, Default)]
pub struct Hotlist {
    by_plate: HashMap<String, Vec<HotlistEntry>>,
    by_len: HashMap<usize, Vec<String>>,
}

#[derive(Clone, Copy)]
enum Col {
    Plate,
    List,
    Category,
    Notes,
    Id,
}

fn column(name: &str) -> Option<Col> {
    let n = name
        .trim()
        .to_lowercase()
        .replace(['á', 'à'], "a")
        .replace('í', "i")
        .replace('ó', "o");
    match n.as_str() {
        "plate" | "placa" | "matricula" | "license" | "licence" | "license_plate"
        | "licence_plate" | "plate_number" | "number" | "patente" => Some(Col::Plate),
        "list" | "lista" | "source" | "fuente" => Some(Col::List),
        "category" | "categoria" | "type" | "tipo" | "reason" | "motivo" => Some(Col::Category),
        "notes" | "notas" | "note" | "nota" | "description" | "descripcion" | "observaciones"
        | "comment" | "comments" => Some(Col::Notes),
        "id" | "entry_id" => Some(Col::Id),
        _ => None,
    }
}

impl Hotlist {
    /// Parses CSV text. `default_list` names the list when a row has none; `source` names
    /// the file in entry ids.
    pub fn parse_csv(text: &str, default_list: &str, source: &str) -> (Self, Vec<RowError>) {
        let first = text.lines().next().unwrap_or_default();
        let delimiter = if first.matches(';').count() > first.matches(',').count() {
            b';'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let mut list = Self::default();
        let mut errors = Vec::new();
        let mut columns: Vec<Option<Col>> = vec![
            Some(Col::Plate),
            Some(Col::List),
            Some(Col::Category),
            Some(Col::Notes),
        ];
        let default_list: Arc<str> = default_list.into();
        for (i, rec) in reader.records().enumerate() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| physical_line(text, p.byte()));
                    errors.push(RowError {
                        line,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let line = rec
                .position()
                .map_or(i as u64 + 1, |p| physical_line(text, p.byte()));
            if i == 0 {
                let named: Vec<Option<Col>> = rec.iter().map(column).collect();
                if named.iter().any(|c| matches!(c, Some(Col::Plate))) {
                    columns = named;
                    continue;
                }
            }
            if rec.iter().all(str::is_empty) {
                continue;
            }
            let mut plate = None;
            let mut row_list = None;
            let mut category = None;
            let mut notes = None;
            let mut id = None;
            for (value, col) in rec.iter().zip(&columns) {
                let v = (!value.is_empty()).then(|| value.to_string());
                match col {
                    Some(Col::Plate) => plate = v,
                    Some(Col::List) => row_list = v,
                    Some(Col::Category) => category = v,
                    Some(Col::Notes) => notes = v,
                    Some(Col::Id) => id = v,
                    None => {}
                }
            }
            let Some(raw) = plate else {
                errors.push(RowError {
                    line,
                    message: "no plate".to_string(),
                });
                continue;
            };
            let Some(norm) = normalise(&raw) else {
                errors.push(RowError {
                    line,
                    message: format!("plate {raw:?} has characters other than letters, digits, spaces, dashes or dots"),
                });
                continue;
            };
            if !(2..=12).contains(&norm.len()) {
                errors.push(RowError {
                    line,
                    message: format!("plate {raw:?} has {} characters (2 to 12)", norm.len()),
                });
                continue;
            }
            list.insert(HotlistEntry {
                plate: norm,
                list: row_list.map_or_else(|| default_list.clone(), |l| l.as_str().into()),
                category,
                notes,
                entry_id: id.unwrap_or_else(|| format!("{source}:{line}")),
            });
        }
        (list, errors)
    }

    /// Loads a CSV file; the file stem is the default list name.
    pub fn load(path: &Path, list_name: Option<&str>) -> Result<(Self, Vec<RowError>), LprError> {
        let text = std::fs::read_to_string(path).map_err(|e| LprError::Hotlist {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("hotlist");
        let source = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("hotlist");
        Ok(Self::parse_csv(&text, list_name.unwrap_or(stem), source))
    }

    pub fn insert(&mut self, e: HotlistEntry) {
        let key = e.plate.clone();
        let entries = self.by_plate.entry(key.clone()).or_default();
        if entries.is_empty() {
            self.by_len.entry(key.len()).or_default().push(key);
        }
        entries.push(e);
    }

    /// Adds every entry of `other`.
    pub fn merge(&mut self, other: Hotlist) {
        for (_, entries) in other.by_plate {
            for e in entries {
                self.insert(e);
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_plate.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_plate.is_empty()
    }

    /// Entries matching `number` within `max_distance`, closest first.
    pub fn lookup(&self, number: &str, max_distance: f32) -> Vec<HotlistMatch> {
        let mut out: Vec<HotlistMatch> = Vec::new();
        if let Some(es) = self.by_plate.get(number) {
            out.extend(es.iter().map(|e| HotlistMatch {
                entry: e.clone(),
                distance: 0.0,
            }));
        }
        if max_distance > 0.0 {
            let n = number.len();
            let span = max_distance.floor() as usize;
            for len in n.saturating_sub(span)..=n + span {
                for plate in self.by_len.get(&len).into_iter().flatten() {
                    if plate == number {
                        continue;
                    }
                    let d = distance(number, plate);
                    if d <= max_distance {
                        out.extend(self.by_plate[plate].iter().map(|e| HotlistMatch {
                            entry: e.clone(),
                            distance: d,
                        }));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        out
    }
}

/// 1-based line of a byte offset (the csv crate's own line counter skips blank lines).
fn physical_line(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(bytes.len());
    // A record's offset can point at blank lines before it.
    while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
        end += 1;
    }
    bytes[..end].iter().filter(|b| **b == b'\n').count() as u64 + 1
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_in_any_order_semicolons_and_spanish_names() {
        let text = "Lista;Placa;Motivo;Observaciones\nrobados;abc-123;hurto;moto roja\npolicia; XYZ 98D ;;\n";
        let (h, errs) = Hotlist::parse_csv(text, "default", "robados.csv");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(h.len(), 2);
        let m = h.lookup("ABC123", 0.0);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].entry.list.as_ref(), "robados");
        assert_eq!(m[0].entry.category.as_deref(), Some("hurto"));
        assert_eq!(m[0].entry.notes.as_deref(), Some("moto roja"));
        assert_eq!(m[0].entry.entry_id, "robados.csv:2");
        assert_eq!(h.lookup("XYZ98D", 0.0)[0].entry.list.as_ref(), "policia");
    }

    #[test]
    fn no_header_is_positional_and_bad_rows_are_reported_with_lines() {
        let text =
            "ABC123,stolen,vehicle theft\n\n,stolen\nAB#12,stolen\nDEF456\nTOOLONGPLATE123,x\n";
        let (h, errs) = Hotlist::parse_csv(text, "default", "f.csv");
        assert_eq!(h.len(), 2);
        assert_eq!(h.lookup("DEF456", 0.0)[0].entry.list.as_ref(), "default");
        let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 6], "{errs:?}");
        assert!(errs[1].message.contains("AB#12"));
    }

    #[test]
    fn confusion_aware_distance() {
        assert_eq!(distance("ABC123", "ABC123"), 0.0);
        assert_eq!(distance("ABC123", "ABC12З".replace('З', "3").as_str()), 0.0);
        assert_eq!(distance("AB0123", "ABO123"), 0.5);
        assert_eq!(distance("8BC123", "BBC123"), 0.5);
        assert_eq!(distance("ABC123", "ABC124"), 1.0);
        assert_eq!(distance("ABC123", "ABC12"), 1.0);
        assert_eq!(distance("ABC123", "XYZ987"), 6.0);
    }

    #[test]
    fn lookup_exact_then_fuzzy_sorted_by_distance() {
        let (h, _) = Hotlist::parse_csv(
            "plate,list\nEMK001,stolen\nEMK00I,stolen\nEMK007,wanted\nFDV094,stolen\n",
            "d",
            "f",
        );
        let m = h.lookup("EMK001", 1.0);
        let got: Vec<(&str, f32)> = m
            .iter()
            .map(|m| (m.entry.plate.as_str(), m.distance))
            .collect();
        assert_eq!(got, vec![("EMK001", 0.0), ("EMK00I", 0.5), ("EMK007", 1.0)]);
        assert_eq!(h.lookup("EMK001", 0.5).len(), 2);
        assert!(h.lookup("ZZZ999", 1.0).is_empty());
    }

    #[test]
    fn merge_keeps_every_entry() {
        let (mut a, _) = Hotlist::parse_csv("ABC123,a", "d", "a");
        let (b, _) = Hotlist::parse_csv("ABC123,b\nXYZ789,b", "d", "b");
        a.merge(b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.lookup("ABC123", 0.0).len(), 2);
    }
}
