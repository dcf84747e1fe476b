//! A second opinion on look-alike letters (`lpr.look_alike_ocr`).
//!
//! The default OCR (CCT-XS, fast-plate-ocr's global model) reads some letters of the
//! Colombian plates as their look-alikes, and is sure of it: a plainly tailed `Q` comes out
//! `O` at 0.98–1.00, a `W` comes out `V` (docs/accuracy.md). A second recognizer trained on
//! other data (PP-OCRv4, a general text model) tells these apart, although it reads plates
//! worse overall. So it is asked only about reads holding one of those letters, and may
//! only turn such a letter into its look-alike, where it agrees with the first read on
//! every other character: it settles the pair; it never re-reads the plate.

use vigia_lpr::charset::confusable;

/// The letters the first OCR is known to read for another: (what it reads, what it may
/// really be).
pub const PAIRS: [(char, char); 2] = [('O', 'Q'), ('V', 'W')];

/// Whether the second reader should look at `number`.
pub fn doubtful(number: &str) -> bool {
    number.chars().any(|c| PAIRS.iter().any(|p| p.0 == c))
}

/// `first` with the look-alike letters `second` reads differently replaced by `second`'s,
/// when `second` agrees on every other character (letter/digit look-alikes such as `O`/`0`
/// count as agreeing: the first read's grammar already placed those). `None` when nothing
/// changes or the two disagree elsewhere. `second` is the raw read: characters other than
/// letters and digits (spaces, dashes) are left out.
pub fn settle(first: &str, second: &str) -> Option<String> {
    let second: Vec<char> = second
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if first.chars().count() != second.len() {
        return None;
    }
    let mut changed = false;
    let mut out = String::with_capacity(first.len());
    for (a, &b) in first.chars().zip(&second) {
        if a == b || confusable(a, b) {
            out.push(a);
        } else if PAIRS.contains(&(a, b)) {
            out.push(b);
            changed = true;
        } else {
            return None;
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_look_alike_letters_change_and_only_where_the_rest_agrees() {
        assert!(doubtful("TSO834") && doubtful("ISV808") && !doubtful("EMK001"));
        assert_eq!(settle("TSO834", "TSQ834").as_deref(), Some("TSQ834"));
        assert_eq!(settle("TSO834", "TSQ 834").as_deref(), Some("TSQ834"));
        assert_eq!(settle("ISV808", "isw-808").as_deref(), Some("ISW808"));
        // The grammar's digit stays a digit when the second reads its look-alike letter.
        assert_eq!(settle("OAO260", "QAQ26O").as_deref(), Some("QAQ260"));
        // Agreement is nothing to settle.
        assert_eq!(settle("TSO834", "TSO834"), None);
        // Never the other way round, never another letter.
        assert_eq!(settle("TSQ834", "TSO834"), None);
        assert_eq!(settle("TSO834", "TSD834"), None);
        // A disagreement elsewhere, or another length: the second read is not trusted.
        assert_eq!(settle("TSO834", "TSQ884"), None);
        assert_eq!(settle("TSO834", "TSQ8341"), None);
        assert_eq!(settle("TSO834", ""), None);
    }
}
