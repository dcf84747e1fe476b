//! Plate characters (`0-9`, `A-Z`) as bit sets, and the pairs OCR confuses.

/// A set of plate characters (bit i: `0-9` then `A-Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CharClass(u64);

impl CharClass {
    pub const DIGITS: CharClass = CharClass(0x3ff);
    pub const LETTERS: CharClass = CharClass(((1u64 << 26) - 1) << 10);
    pub const ANY: CharClass = CharClass((1u64 << 36) - 1);

    fn bit(c: char) -> Option<u64> {
        match c {
            '0'..='9' => Some(1 << (c as u64 - '0' as u64)),
            'A'..='Z' => Some(1 << (10 + c as u64 - 'A' as u64)),
            _ => None,
        }
    }

    pub fn single(c: char) -> Option<CharClass> {
        Self::bit(c).map(CharClass)
    }

    pub fn contains(&self, c: char) -> bool {
        Self::bit(c).is_some_and(|b| self.0 & b != 0)
    }

    pub fn union(self, other: CharClass) -> CharClass {
        CharClass(self.0 | other.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

/// Letter/digit pairs that plate OCR mixes up (and that plate fonts make look alike).
pub const CONFUSABLE: &[(char, char)] = &[
    ('O', '0'),
    ('D', '0'),
    ('Q', '0'),
    ('I', '1'),
    ('L', '1'),
    ('B', '8'),
    ('S', '5'),
    ('Z', '2'),
    ('G', '6'),
    ('A', '4'),
    ('T', '7'),
];

/// Characters `c` is commonly confused with.
pub fn confusable_with(c: char) -> impl Iterator<Item = char> {
    CONFUSABLE.iter().filter_map(move |&(a, b)| {
        if a == c {
            Some(b)
        } else if b == c {
            Some(a)
        } else {
            None
        }
    })
}

/// Whether two characters are a confusable pair.
pub fn confusable(a: char, b: char) -> bool {
    CONFUSABLE
        .iter()
        .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
}

/// Normalises a plate as people write it: upper case, no spaces, dashes, dots or other
/// separators. Returns `None` if anything else than `0-9A-Z` remains.
pub fn normalise(plate: &str) -> Option<String> {
    let out: String = plate
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '·' | '_' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!out.is_empty()
        && out
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && c.is_ascii()))
    .then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_confusions() {
        assert!(CharClass::DIGITS.contains('7') && !CharClass::DIGITS.contains('A'));
        assert!(CharClass::LETTERS.contains('Z') && !CharClass::LETTERS.contains('0'));
        assert!(CharClass::ANY.contains('Q'));
        assert!(!CharClass::ANY.contains('-'));
        assert!(confusable('0', 'O') && confusable('8', 'B') && !confusable('A', 'B'));
        assert_eq!(
            confusable_with('0').collect::<Vec<_>>(),
            vec!['O', 'D', 'Q']
        );
        assert_eq!(normalise(" abc-12.3 ").as_deref(), Some("ABC123"));
        assert_eq!(normalise("AB#1"), None);
        assert_eq!(normalise(" - "), None);
    }
}
