//! Recognised text (plate OCR output).

/// One recognised character.
#[derive(Debug, Clone, PartialEq)]
pub struct CharRead {
    pub ch: char,
    pub prob: f32,
    /// Up to 5 candidates for this position (`0-9`, `A-Z`), best first; the first is `ch`
    /// unless a grammar chose another.
    pub alternatives: Vec<(char, f32)>,
}

/// A recognised text: upper-case `0-9A-Z` only.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextRead {
    pub text: String,
    pub chars: Vec<CharRead>,
}

impl TextRead {
    /// Builds a read where every character has probability `prob` (tests, tools).
    pub fn certain(text: &str, prob: f32) -> Self {
        Self {
            text: text.to_string(),
            chars: text
                .chars()
                .map(|ch| CharRead {
                    ch,
                    prob,
                    alternatives: vec![(ch, prob)],
                })
                .collect(),
        }
    }

    /// Mean character probability (0 for an empty text).
    pub fn mean_prob(&self) -> f32 {
        if self.chars.is_empty() {
            0.0
        } else {
            self.chars.iter().map(|c| c.prob).sum::<f32>() / self.chars.len() as f32
        }
    }

    /// Lowest character probability (0 for an empty text).
    pub fn min_prob(&self) -> f32 {
        self.chars
            .iter()
            .map(|c| c.prob)
            .fold(None, |m: Option<f32>, p| Some(m.map_or(p, |m| m.min(p))))
            .unwrap_or(0.0)
    }
}

/// Levenshtein distance between two texts (insertions, deletions and substitutions all
/// cost 1), in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Whether two plate readings are of different plates rather than misreads of one: they
/// differ in at least 40 % of the longer one's characters (edit distance; 3 of 6 or 7, 2 of
/// 5), and never fewer than 2. One or two wrong characters are a misread, which voting
/// fixes. The rule that splits LPR passes, and that the LPR benchmark scores with.
pub fn different_plates(a: &str, b: &str) -> bool {
    let longest = a.chars().count().max(b.chars().count());
    edit_distance(a, b) >= (longest * 2).div_ceil(5).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities() {
        let r = TextRead::certain("ABC", 0.5);
        assert_eq!(r.mean_prob(), 0.5);
        assert_eq!(r.min_prob(), 0.5);
        assert_eq!(TextRead::default().mean_prob(), 0.0);
    }
}
