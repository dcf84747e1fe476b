//! Plate formats as data, and grammar-constrained decoding.
//!
//! A format is a fixed-length pattern in a small regex dialect — `^`, `$`, `[A-Z]`, `[0-9]`,
//! `\d`, `[RS]`, literal characters, `{n}` repeats — plus its country, plate type and
//! background colour. Decoding a read against a format picks, position by position, the
//! most probable character the format allows among the OCR's own alternatives; when none
//! is allowed, a confusable character (`O`→`0`, `I`→`1`, `B`→`8`, `S`→`5`, `Z`→`2`,
//! `G`→`6`, ...) is taken at half the probability. The format that keeps the most
//! probability wins; a read no format accepts stays as read (generic).

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use vigia_core::TextRead;

use crate::charset::{CharClass, confusable_with};
use crate::error::LprError;

/// Plate background colour, estimated from the crop (a wire type of the event contract).
pub use vigia_core::event::PlateColor;

/// One format, as written in a grammar file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub pattern: String,
    #[serde(default)]
    pub color: Option<PlateColor>,
    #[serde(default)]
    pub plate_type: Option<String>,
    /// Rows of characters (2: motorcycle plates); unset: any.
    #[serde(default)]
    pub rows: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrammarFile {
    formats: Vec<FormatSpec>,
}

/// The share of its score a format keeps when the plate's shape says another number of
/// rows ([`Grammar::decode_shaped`]).
pub const ROWS_MISMATCH: f32 = 0.85;

/// A parsed format.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateFormat {
    pub name: Arc<str>,
    pub country: Arc<str>,
    pub color: Option<PlateColor>,
    pub plate_type: Option<Arc<str>>,
    pub rows: Option<u8>,
    pub pattern: String,
    classes: Vec<CharClass>,
}

impl PlateFormat {
    pub fn new(spec: &FormatSpec) -> Result<Self, LprError> {
        Ok(Self {
            name: spec.name.as_str().into(),
            country: spec.country.as_str().into(),
            color: spec.color,
            plate_type: spec.plate_type.as_deref().map(Into::into),
            rows: spec.rows,
            pattern: spec.pattern.clone(),
            classes: parse_pattern(&spec.pattern)
                .map_err(|e| LprError::Grammar(format!("format {}: {e}", spec.name)))?,
        })
    }

    /// Plate length.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Whether `text` matches exactly.
    pub fn matches(&self, text: &str) -> bool {
        text.chars().count() == self.classes.len()
            && text.chars().zip(&self.classes).all(|(c, k)| k.contains(c))
    }
}

/// Parses the pattern dialect into one class per position.
pub fn parse_pattern(p: &str) -> Result<Vec<CharClass>, LprError> {
    pattern_classes(p).map_err(LprError::Pattern)
}

fn pattern_classes(p: &str) -> Result<Vec<CharClass>, String> {
    let s: Vec<char> = p
        .trim_start_matches('^')
        .trim_end_matches('$')
        .chars()
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let class = match s[i] {
            '\\' => {
                i += 1;
                match s.get(i) {
                    Some('d') => CharClass::DIGITS,
                    other => {
                        return Err(format!(
                            "unsupported escape \\{}",
                            other.map_or(String::new(), |c| c.to_string())
                        ));
                    }
                }
            }
            '[' => {
                let end = s[i..].iter().position(|c| *c == ']').ok_or("unclosed [")? + i;
                let mut class = CharClass::default();
                let mut j = i + 1;
                while j < end {
                    if j + 2 < end && s[j + 1] == '-' {
                        let (a, b) = (s[j], s[j + 2]);
                        if a > b {
                            return Err(format!("bad range {a}-{b}"));
                        }
                        for c in a..=b {
                            class = class.union(
                                CharClass::single(c)
                                    .ok_or(format!("{c:?} is not a plate character"))?,
                            );
                        }
                        j += 3;
                    } else {
                        class = class.union(
                            CharClass::single(s[j])
                                .ok_or(format!("{:?} is not a plate character", s[j]))?,
                        );
                        j += 1;
                    }
                }
                if class.is_empty() {
                    return Err("empty []".to_string());
                }
                i = end;
                class
            }
            '.' => CharClass::ANY,
            c => CharClass::single(c).ok_or(format!("{c:?} is not supported in a pattern"))?,
        };
        i += 1;
        let mut count = 1;
        if s.get(i) == Some(&'{') {
            let end = s[i..].iter().position(|c| *c == '}').ok_or("unclosed {")? + i;
            let n: String = s[i + 1..end].iter().collect();
            count = n
                .parse::<usize>()
                .map_err(|_| format!("bad repeat {{{n}}} (only {{n}} is supported)"))?;
            if count == 0 || count > 12 {
                return Err(format!("repeat {{{count}}} out of range"));
            }
            i = end + 1;
        }
        out.extend(std::iter::repeat_n(class, count));
    }
    if out.is_empty() || out.len() > 12 {
        return Err(format!("pattern length {} (1 to 12 characters)", out.len()));
    }
    Ok(out)
}

/// A plate reading after the grammar.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateText {
    /// The plate, corrected by the format when one matched.
    pub number: String,
    /// What the OCR read.
    pub raw: String,
    pub format: Option<Arc<str>>,
    pub country: Option<Arc<str>>,
    pub plate_type: Option<Arc<str>>,
    /// Probability of each character of `number`.
    pub char_likelihoods: Vec<f32>,
    /// Mean of `char_likelihoods`.
    pub likelihood: f32,
}

/// Below this, an alternative is noise, not evidence (unless it is a confusable pair).
const MIN_ALTERNATIVE: f32 = 0.02;
/// A confusable substitution keeps half the original character's probability.
const CONFUSION_FACTOR: f32 = 0.5;

/// A set of formats.
#[derive(Debug, Clone, Default)]
pub struct Grammar {
    formats: Vec<PlateFormat>,
    min_len: usize,
    max_len: usize,
}

impl Grammar {
    /// The built-in formats of a country (`CO`).
    pub fn builtin(country: &str) -> Option<&'static str> {
        match country {
            "CO" => Some(include_str!("../formats/CO.toml")),
            _ => None,
        }
    }

    /// Parses a grammar file's text.
    pub fn parse_formats(text: &str) -> Result<Vec<PlateFormat>, LprError> {
        let f: GrammarFile = toml::from_str(text).map_err(|e| LprError::Grammar(e.to_string()))?;
        f.formats.iter().map(PlateFormat::new).collect()
    }

    /// Builds a grammar from built-in countries and grammar files. Reads outside every
    /// format are kept (generic) when their length is within `min_len..=max_len`.
    pub fn load(
        countries: &[String],
        files: &[impl AsRef<Path>],
        min_len: usize,
        max_len: usize,
    ) -> Result<Self, LprError> {
        let bad = |what: String| move |e: LprError| LprError::Grammar(format!("{what}: {e}"));
        let mut formats = Vec::new();
        for c in countries {
            let text = Self::builtin(c).ok_or_else(|| {
                LprError::Grammar(format!(
                    "no built-in plate formats for country {c:?} (built in: CO); add a grammar file"
                ))
            })?;
            formats.extend(Self::parse_formats(text).map_err(bad(format!("built-in {c}")))?);
        }
        for f in files {
            let f = f.as_ref();
            let text = std::fs::read_to_string(f)
                .map_err(|e| LprError::Grammar(format!("{}: {e}", f.display())))?;
            formats.extend(Self::parse_formats(&text).map_err(bad(f.display().to_string()))?);
        }
        Ok(Self {
            formats,
            min_len,
            max_len,
        })
    }

    /// A grammar with no formats: every read of an acceptable length is generic.
    pub fn generic(min_len: usize, max_len: usize) -> Self {
        Self {
            formats: Vec::new(),
            min_len,
            max_len,
        }
    }

    pub fn formats(&self) -> &[PlateFormat] {
        &self.formats
    }

    /// Applies the grammar to an OCR read. `None` when the read is not plate-like (empty,
    /// or a generic read outside the length limits).
    pub fn decode(&self, read: &TextRead, color: Option<PlateColor>) -> Option<PlateText> {
        self.decode_shaped(read, color, None)
    }

    /// [`Grammar::decode`] knowing how many rows the plate seems to have (from its box's
    /// shape): a format written in other rows keeps only [`ROWS_MISMATCH`] of its score.
    /// A soft preference, as a box's shape is only a hint (a one-row plate seen at an
    /// angle looks narrower): it settles reads that fit both a car and a motorcycle
    /// format through look-alikes (`URG770` / `URG77O`).
    pub fn decode_shaped(
        &self,
        read: &TextRead,
        color: Option<PlateColor>,
        rows: Option<u8>,
    ) -> Option<PlateText> {
        let mut best: Option<(f32, &PlateFormat, String, Vec<f32>)> = None;
        for f in &self.formats {
            if f.len() != read.chars.len() {
                continue;
            }
            // A colour-specific format needs that colour when the colour is known.
            if let (Some(want), Some(got)) = (f.color, color)
                && want != got
            {
                continue;
            }
            let Some((text, probs)) = constrained(read, &f.classes) else {
                continue;
            };
            let mut score = probs.iter().sum::<f32>() / probs.len() as f32;
            if rows.is_some_and(|r| f.rows.unwrap_or(1) != r) {
                score *= ROWS_MISMATCH;
            }
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, f, text, probs));
            }
        }
        if let Some((_, f, number, probs)) = best {
            let score = probs.iter().sum::<f32>() / probs.len() as f32;
            return Some(PlateText {
                number,
                raw: read.text.clone(),
                format: Some(f.name.clone()),
                country: Some(f.country.clone()),
                plate_type: f.plate_type.clone(),
                char_likelihoods: probs,
                likelihood: score,
            });
        }
        let n = read.chars.len();
        if n == 0 || n < self.min_len || n > self.max_len {
            return None;
        }
        let probs: Vec<f32> = read.chars.iter().map(|c| c.prob).collect();
        Some(PlateText {
            number: read.text.clone(),
            raw: read.text.clone(),
            format: None,
            country: None,
            plate_type: None,
            likelihood: read.mean_prob(),
            char_likelihoods: probs,
        })
    }

    /// The format a known plate number matches (for consolidated reads), preferring one
    /// whose colour matches `color`.
    pub fn classify(&self, number: &str, color: Option<PlateColor>) -> Option<&PlateFormat> {
        let matching = || self.formats.iter().filter(|f| f.matches(number));
        matching()
            .find(|f| f.color.is_some() && f.color == color)
            .or_else(|| matching().find(|f| f.color.is_none() || color.is_none()))
            .or_else(|| matching().next())
    }
}

/// The best string `classes` allows, with per-character probabilities.
fn constrained(
    read: &TextRead,
    classes: &[crate::charset::CharClass],
) -> Option<(String, Vec<f32>)> {
    let mut text = String::with_capacity(classes.len());
    let mut probs = Vec::with_capacity(classes.len());
    for (c, class) in read.chars.iter().zip(classes) {
        if class.contains(c.ch) {
            text.push(c.ch);
            probs.push(c.prob);
            continue;
        }
        let alt = c.alternatives.iter().find(|(a, p)| {
            class.contains(*a) && (*p >= MIN_ALTERNATIVE || crate::charset::confusable(*a, c.ch))
        });
        match alt {
            Some(&(a, p)) => {
                text.push(a);
                probs.push(p.max(if crate::charset::confusable(a, c.ch) {
                    c.prob * CONFUSION_FACTOR
                } else {
                    0.0
                }));
            }
            None => {
                let sub = confusable_with(c.ch).find(|a| class.contains(*a))?;
                text.push(sub);
                probs.push(c.prob * CONFUSION_FACTOR);
            }
        }
    }
    Some((text, probs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_core::CharRead;

    fn co() -> Grammar {
        Grammar::load(&["CO".to_string()], &[] as &[&Path], 4, 10).unwrap()
    }

    /// A character with its probability and its alternatives.
    type Char<'a> = (char, f32, &'a [(char, f32)]);

    fn read(chars: &[Char<'_>]) -> TextRead {
        TextRead {
            text: chars.iter().map(|c| c.0).collect(),
            chars: chars
                .iter()
                .map(|(ch, p, alts)| CharRead {
                    ch: *ch,
                    prob: *p,
                    alternatives: std::iter::once((*ch, *p))
                        .chain(alts.iter().copied())
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn patterns_parse_and_reject_what_they_cannot_express() {
        assert_eq!(parse_pattern("^[A-Z]{3}\\d{3}$").unwrap().len(), 6);
        assert_eq!(parse_pattern("[RS][0-9]{5}").unwrap().len(), 6);
        assert_eq!(parse_pattern("AB.1").unwrap().len(), 4);
        for bad in ["[A-Z]{3,4}", "[a-z]", "\\w", "[A-Z", "", "A{0}", "[Z-A]"] {
            assert!(parse_pattern(bad).is_err(), "{bad}");
        }
        let f = PlateFormat::new(&FormatSpec {
            name: "x".into(),
            country: "CO".into(),
            pattern: "^[A-Z]{3}[0-9]{2}[A-Z]$".into(),
            color: None,
            plate_type: None,
            rows: None,
        })
        .unwrap();
        assert!(f.matches("ABC12D") && !f.matches("ABC123") && !f.matches("ABC12"));
    }

    #[test]
    fn colombian_formats_classify_by_pattern_and_colour() {
        let g = co();
        assert_eq!(g.formats().len(), 6);
        let cls = |n: &str, c| g.classify(n, c).map(|f| f.name.to_string());
        assert_eq!(
            cls("EMK001", Some(PlateColor::Yellow)).as_deref(),
            Some("co_particular")
        );
        assert_eq!(
            cls("EMK001", Some(PlateColor::White)).as_deref(),
            Some("co_publico")
        );
        assert_eq!(cls("EMK001", None).as_deref(), Some("co_particular"));
        assert_eq!(cls("ABC12D", None).as_deref(), Some("co_moto"));
        assert_eq!(cls("ABC12", None).as_deref(), Some("co_moto_old"));
        assert_eq!(cls("R12345", None).as_deref(), Some("co_trailer"));
        assert_eq!(cls("CD1234", None).as_deref(), Some("co_diplomatic"));
        assert_eq!(
            cls("CD1234", Some(PlateColor::Other)).as_deref(),
            Some("co_diplomatic")
        );
        assert_eq!(cls("ABCD123", None), None);
    }

    #[test]
    fn a_white_trailer_plate_read_with_a_letter_o_is_no_diplomatic_plate() {
        let g = co();
        // "SO5423" fits the diplomatic pattern as read, and the trailer's only through
        // the O/0 look-alike; diplomatic plates are blue, so a white plate is a trailer.
        let r = read(&[
            ('S', 0.99, &[]),
            ('O', 0.97, &[('0', 0.02)]),
            ('5', 0.99, &[]),
            ('4', 0.99, &[]),
            ('2', 0.99, &[]),
            ('3', 0.99, &[]),
        ]);
        let white = g.decode(&r, Some(PlateColor::White)).unwrap();
        assert_eq!(white.number, "S05423");
        assert_eq!(white.format.as_deref(), Some("co_trailer"));
        let blue = g.decode(&r, Some(PlateColor::Other)).unwrap();
        assert_eq!(blue.format.as_deref(), Some("co_diplomatic"));
    }

    #[test]
    fn positional_confusions_are_fixed_from_the_models_alternatives() {
        let g = co();
        // "EMK0O1": the OCR put a letter O where the format needs a digit, with 0 as its
        // runner-up; and read a digit 0 in the middle correctly.
        let r = read(&[
            ('E', 0.99, &[]),
            ('M', 0.98, &[]),
            ('K', 0.97, &[]),
            ('0', 0.95, &[]),
            ('O', 0.60, &[('0', 0.38)]),
            ('1', 0.99, &[]),
        ]);
        let p = g.decode(&r, Some(PlateColor::Yellow)).unwrap();
        assert_eq!(p.number, "EMK001");
        assert_eq!(p.raw, "EMK0O1");
        assert_eq!(p.format.as_deref(), Some("co_particular"));
        assert_eq!(p.country.as_deref(), Some("CO"));
        assert!((p.char_likelihoods[4] - 0.38).abs() < 1e-6);
    }

    #[test]
    fn confusion_table_applies_when_the_model_gave_no_alternative() {
        let g = co();
        // Letters read as digits at letter positions: 8 -> B, 5 -> S; digit read as I -> 1.
        let r = read(&[
            ('8', 0.9, &[]),
            ('5', 0.9, &[]),
            ('C', 0.9, &[]),
            ('I', 0.8, &[]),
            ('2', 0.9, &[]),
            ('3', 0.9, &[]),
        ]);
        let p = g.decode(&r, None).unwrap();
        assert_eq!(p.number, "BSC123");
        assert!((p.char_likelihoods[0] - 0.45).abs() < 1e-6);
    }

    #[test]
    fn reads_outside_every_format_stay_generic_within_length_limits() {
        let g = co();
        let foreign = read(&[
            ('W', 0.9, &[]),
            ('S', 0.9, &[]),
            ('Q', 0.9, &[]),
            ('3', 0.9, &[]),
            ('0', 0.9, &[]),
            ('2', 0.9, &[]),
            ('1', 0.9, &[]),
        ]);
        let p = g.decode(&foreign, None).unwrap();
        assert_eq!((p.number.as_str(), p.format), ("WSQ3021", None));
        let short = read(&[('A', 0.9, &[]), ('1', 0.9, &[])]);
        assert!(g.decode(&short, None).is_none());
        assert!(
            Grammar::generic(4, 10)
                .decode(&TextRead::default(), None)
                .is_none()
        );
    }

    #[test]
    fn a_letter_that_is_no_confusable_of_a_digit_rejects_the_format() {
        let g = co();
        // K at a digit position with no digit alternative: not Colombian, stays generic.
        let r = read(&[
            ('A', 0.9, &[]),
            ('B', 0.9, &[]),
            ('C', 0.9, &[]),
            ('K', 0.9, &[]),
            ('2', 0.9, &[]),
            ('3', 0.9, &[]),
        ]);
        let p = g.decode(&r, None).unwrap();
        assert_eq!(p.format, None);
        assert_eq!(p.number, "ABCK23");
    }

    #[test]
    fn grammar_files_and_unknown_countries() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ve.toml");
        std::fs::write(&f, "[[formats]]\nname = \"ve_car\"\ncountry = \"VE\"\npattern = \"^[A-Z]{2}[0-9]{3}[A-Z]{2}$\"\n").unwrap();
        let g = Grammar::load(&[], &[&f], 4, 10).unwrap();
        assert_eq!(g.formats()[0].name.as_ref(), "ve_car");
        assert!(
            Grammar::load(&["XX".to_string()], &[] as &[&Path], 4, 10)
                .unwrap_err()
                .to_string()
                .contains("XX")
        );
        std::fs::write(
            &f,
            "[[formats]]\nname = \"bad\"\ncountry = \"VE\"\npattern = \"[a-z]\"\n",
        )
        .unwrap();
        let e = Grammar::load(&[], &[&f], 4, 10).unwrap_err().to_string();
        assert!(e.contains("ve.toml") && e.contains("bad"), "{e}");
    }

    #[test]
    fn a_two_row_shape_prefers_the_motorcycle_reading() {
        let g = co();
        // The OCR reads the last character as the digit 0, the letter O its runner-up.
        let r = read(&[
            ('U', 0.99, &[]),
            ('R', 0.99, &[]),
            ('G', 0.99, &[]),
            ('7', 0.99, &[]),
            ('7', 0.99, &[]),
            ('0', 0.9, &[('O', 0.08)]),
        ]);
        let car = g
            .decode_shaped(&r, Some(PlateColor::Yellow), Some(1))
            .unwrap();
        assert_eq!(car.number, "URG770");
        let moto = g
            .decode_shaped(&r, Some(PlateColor::Yellow), Some(2))
            .unwrap();
        assert_eq!(moto.number, "URG77O");
        assert_eq!(moto.format.as_deref(), Some("co_moto"));
        // No shape known: as before.
        assert_eq!(
            g.decode(&r, Some(PlateColor::Yellow)).unwrap().number,
            "URG770"
        );
    }
}
