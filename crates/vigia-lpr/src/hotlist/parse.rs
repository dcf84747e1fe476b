//! Reading hotlist files.
//!
//! - `format = "csv"` (default): a header row names the columns, in any order, in English or
//!   Spanish, with the names Genetec, Rekor and Milestone exports use (`PlateNumber`,
//!   `Plate Number`, `Registration number`, `placa`, ...; case, spaces, `_` and `-` ignored).
//!   Without a header the columns are `plate, list, category, notes`. Delimiter: the
//!   configured one, else the most frequent of `,` `;` tab `|` on the first line.
//! - `format = "genetec"`: no header; `fields` gives the attribute of each column in order
//!   (Genetec's attribute names: `PlateNumber`, `PlateState`, `Category`, `EffectiveDate`,
//!   `ExpiryDate`, ...; other names are ignored), split by `delimiter` (default `;`; `:`,
//!   `,`, tab) — or, with `fixed`, fixed-width columns at 1-based character positions.
//!
//! Dates are `YYYY-MM-DD` (or `YYYY/MM/DD`, or an RFC 3339 time, whose day counts).
//! Priorities are whole numbers 0 (highest) to 100 (lowest).

use std::sync::Arc;

use chrono::NaiveDate;
use serde::Deserialize;

use super::{HotlistEntry, HotlistSource, RowError};
use crate::charset::normalise;

/// How a hotlist file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HotlistFormat {
    /// Delimited with a header row (or the default columns).
    #[default]
    Csv,
    /// Genetec AutoVu style: no header, columns named by `fields` or `fixed`.
    Genetec,
}

/// A fixed-width column: attribute name, 1-based first character, length in characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedField {
    pub name: String,
    pub start: usize,
    pub length: usize,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Col {
    Plate,
    List,
    Category,
    Notes,
    Id,
    State,
    Priority,
    Effective,
    Expires,
}

/// The column a header or attribute name stands for.
pub(crate) fn column(name: &str) -> Option<Col> {
    let n: String = name
        .trim()
        .to_lowercase()
        .replace(['á', 'à'], "a")
        .replace(['é', 'è'], "e")
        .replace('í', "i")
        .replace('ó', "o")
        .replace('ú', "u")
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .collect();
    Some(match n.as_str() {
        "plate" | "placa" | "matricula" | "license" | "licence" | "licenseplate"
        | "licenceplate" | "platenumber" | "number" | "patente" | "registration"
        | "registrationnumber" | "plateno" | "numeroplaca" => Col::Plate,
        "list" | "lista" | "source" | "fuente" | "hotlist" | "listname" => Col::List,
        "category" | "categoria" | "type" | "tipo" | "reason" | "motivo" | "alerttype" => {
            Col::Category
        }
        "notes" | "notas" | "note" | "nota" | "description" | "descripcion" | "observaciones"
        | "comment" | "comments" | "details" => Col::Notes,
        "id" | "entryid" | "caseid" | "caso" => Col::Id,
        "state" | "platestate" | "province" | "departamento" | "region" | "country" | "pais"
        | "issuingstate" | "jurisdiction" => Col::State,
        "priority" | "prioridad" => Col::Priority,
        "effectivedate" | "effective" | "validfrom" | "desde" | "startdate" => Col::Effective,
        "expirydate" | "expiry" | "expires" | "expiration" | "expirationdate" | "validuntil"
        | "vencimiento" | "fechavencimiento" | "hasta" | "enddate" => Col::Expires,
        _ => return None,
    })
}

/// Reads `text` in `src`'s format; each good row goes to `sink`; returns the bad rows.
pub(crate) fn parse(
    text: &str,
    src: &HotlistSource,
    default_list: &str,
    source: &str,
    sink: &mut dyn FnMut(HotlistEntry),
) -> Vec<RowError> {
    let mut rows = Rows {
        default_list: default_list.into(),
        shared: Default::default(),
        source,
        priority: src.priority,
        errors: Vec::new(),
    };
    match (src.format, src.fixed.is_empty()) {
        (HotlistFormat::Genetec, false) => {
            let cols: Vec<(Option<Col>, usize, usize)> = src
                .fixed
                .iter()
                .map(|f| (column(&f.name), f.start.max(1) - 1, f.length))
                .collect();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() || line.starts_with('#') {
                    continue;
                }
                let chars: Vec<char> = line.chars().collect();
                let values = cols.iter().map(|&(col, start, len)| {
                    let end = (start + len).min(chars.len());
                    let v: String = chars.get(start..end).unwrap_or_default().iter().collect();
                    (col, v.trim().to_string())
                });
                let row: Vec<(Option<Col>, String)> = values.collect();
                rows.row(i as u64 + 1, &row, sink);
            }
        }
        (format, _) => {
            let header = format == HotlistFormat::Csv;
            let columns = match format {
                HotlistFormat::Genetec => src.fields.iter().map(|f| column(f)).collect(),
                HotlistFormat::Csv => vec![
                    Some(Col::Plate),
                    Some(Col::List),
                    Some(Col::Category),
                    Some(Col::Notes),
                ],
            };
            let delimiter = delimiter(src, text);
            delimited(text, delimiter, header, columns, &mut rows, sink);
        }
    }
    rows.errors
}

/// The configured delimiter, else (CSV) the most frequent candidate on the first line.
fn delimiter(src: &HotlistSource, text: &str) -> u8 {
    match src.delimiter.as_deref() {
        Some("tab" | "\t") => b'\t',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        _ if src.format == HotlistFormat::Genetec => b';',
        _ => {
            let first = text.lines().next().unwrap_or_default();
            [b',', b';', b'\t', b'|']
                .into_iter()
                .max_by_key(|&d| (first.matches(d as char).count(), d == b','))
                .unwrap_or(b',')
        }
    }
}

fn delimited(
    text: &str,
    delimiter: u8,
    header: bool,
    mut columns: Vec<Option<Col>>,
    rows: &mut Rows,
    sink: &mut dyn FnMut(HotlistEntry),
) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut lines = Lines {
        text: text.as_bytes(),
        at: 0,
        line: 1,
    };
    for (i, rec) in reader.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(p.byte()));
                rows.errors.push(RowError {
                    line,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = rec.position().map_or(i as u64 + 1, |p| lines.at(p.byte()));
        if header && i == 0 {
            let named: Vec<Option<Col>> = rec.iter().map(column).collect();
            if named.contains(&Some(Col::Plate)) {
                columns = named;
                continue;
            }
        }
        let row: Vec<(Option<Col>, String)> = columns
            .iter()
            .zip(rec.iter())
            .map(|(c, v)| (*c, v.to_string()))
            .collect();
        rows.row(line, &row, sink);
    }
}

struct Rows<'a> {
    default_list: Arc<str>,
    /// One copy of each distinct list, category and state.
    shared: std::collections::HashSet<Arc<str>>,
    source: &'a str,
    priority: Option<u8>,
    errors: Vec<RowError>,
}

impl Rows<'_> {
    /// The shared copy of a repeated value.
    fn share(&mut self, v: String) -> Arc<str> {
        if let Some(s) = self.shared.get(v.as_str()) {
            return s.clone();
        }
        let s: Arc<str> = v.into();
        self.shared.insert(s.clone());
        s
    }

    fn fail(&mut self, line: u64, message: String) {
        self.errors.push(RowError { line, message });
    }

    /// One row's `(column, value)` pairs → an entry, or a row error.
    fn row(
        &mut self,
        line: u64,
        row: &[(Option<Col>, String)],
        sink: &mut dyn FnMut(HotlistEntry),
    ) {
        if row.iter().all(|(_, v)| v.is_empty()) {
            return;
        }
        let get = |c: Col| {
            row.iter()
                .find(|(col, v)| *col == Some(c) && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let Some(raw) = get(Col::Plate) else {
            return self.fail(line, "no plate".into());
        };
        let Some(plate) = normalise(&raw) else {
            return self.fail(line, format!("plate {raw:?} has characters other than letters, digits, spaces, dashes or dots"));
        };
        if !(2..=12).contains(&plate.len()) {
            return self.fail(
                line,
                format!("plate {raw:?} has {} characters (2 to 12)", plate.len()),
            );
        }
        let priority = match get(Col::Priority).map(|p| p.parse::<u8>()) {
            None => self.priority,
            Some(Ok(p)) if p <= 100 => Some(p),
            Some(_) => {
                let p = get(Col::Priority).unwrap_or_default();
                return self.fail(
                    line,
                    format!("priority {p:?} is not a whole number from 0 to 100"),
                );
            }
        };
        let mut dates = [None, None];
        for (slot, col, name) in [
            (0, Col::Effective, "effective date"),
            (1, Col::Expires, "expiry date"),
        ] {
            if let Some(v) = get(col) {
                match date(&v) {
                    Some(d) => dates[slot] = Some(d),
                    None => {
                        return self
                            .fail(line, format!("{name} {v:?} is not a date like 2026-12-31"));
                    }
                }
            }
        }
        sink(HotlistEntry {
            plate,
            list: match get(Col::List) {
                Some(l) => self.share(l),
                None => self.default_list.clone(),
            },
            category: get(Col::Category).map(|c| self.share(c)),
            notes: get(Col::Notes),
            entry_id: get(Col::Id).unwrap_or_else(|| format!("{}:{line}", self.source)),
            state: get(Col::State).map(|s| self.share(s)),
            priority,
            effective: dates[0],
            expires: dates[1],
        });
    }
}

/// `YYYY-MM-DD`, `YYYY/MM/DD`, or the day of an RFC 3339 time.
fn date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%Y/%m/%d"))
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(v)
                .ok()
                .map(|t| t.date_naive())
        })
}

/// 1-based physical lines of byte offsets that only grow (the csv crate's own line counter
/// skips blank lines). Counts from the previous offset, so a file is scanned once: counting
/// from the start for each row made a 1,000,000-row file take hours.
struct Lines<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl Lines<'_> {
    fn at(&mut self, byte: u64) -> u64 {
        let mut end = (byte as usize).min(self.text.len());
        // A record's offset can point at blank lines before it.
        while end < self.text.len() && matches!(self.text[end], b'\n' | b'\r') {
            end += 1;
        }
        if end > self.at {
            self.line += self.text[self.at..end]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            self.at = end;
        }
        self.line
    }
}
