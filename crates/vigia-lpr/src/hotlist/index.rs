//! The hotlist index key: a plate with every confusable letter replaced by its digit (so
//! `O`, `D`, `Q` and `0` are one symbol), packed 5 bits per character into a `u64` (25
//! symbols, 1 to 25; 0 marks no character, so lengths never collide; 12 characters at most).
//!
//! If `distance(a, b) <= 1` (confusable substitutions cost 0.5, other edits 1), an optimal
//! alignment has at most one edit that is not a confusable substitution, so the keys of `a`
//! and `b` are equal or one plain edit apart: [`neighbours`] visits exactly those keys.
//! (Equal keys do not imply a match — `O` and `D` share a key but are not a confusable
//! pair — so candidates are verified with the exact distance.)

use crate::charset::CONFUSABLE;

/// Symbols: `0`-`9` are 1..=10; letters confusable with a digit take the digit's symbol;
/// the 15 other letters are 11..=25.
fn symbol(c: char) -> Option<u64> {
    if let Some(d) = c.to_digit(10) {
        return Some(u64::from(d) + 1);
    }
    if let Some(&(_, digit)) = CONFUSABLE.iter().find(|(l, _)| *l == c) {
        return symbol(digit);
    }
    const OTHERS: &str = "CEFHJKMNPRUVWXY";
    OTHERS.find(c).map(|i| i as u64 + 11)
}

const BITS: u32 = 5;
const MAX_LEN: usize = 12;
const SYMBOLS: u64 = 25;

/// The key of a normalised plate (`None`: empty, longer than 12, or not `0-9A-Z`).
pub fn key(plate: &str) -> Option<u64> {
    if plate.is_empty() || plate.len() > MAX_LEN {
        return None;
    }
    plate
        .chars()
        .try_fold(0u64, |k, c| Some((k << BITS) | symbol(c)?))
}

fn unpack(key: u64) -> Vec<u64> {
    let mut s = Vec::with_capacity(MAX_LEN);
    let mut k = key;
    while k != 0 {
        s.push(k & 31);
        k >>= BITS;
    }
    s.reverse();
    s
}

fn pack(s: impl Iterator<Item = u64>) -> u64 {
    s.fold(0, |k, c| (k << BITS) | c)
}

/// Calls `visit` with `key` and, when `edits`, every key one substitution, insertion or
/// deletion away (duplicates possible).
pub fn neighbours(key: u64, edits: bool, visit: &mut dyn FnMut(u64)) {
    visit(key);
    if !edits {
        return;
    }
    let s = unpack(key);
    let n = s.len();
    for i in 0..n {
        if n > 1 {
            visit(pack(
                s.iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, c)| *c),
            ));
        }
        for c in 1..=SYMBOLS {
            if c != s[i] {
                visit(pack(
                    s.iter()
                        .enumerate()
                        .map(|(j, &x)| if j == i { c } else { x }),
                ));
            }
        }
    }
    if n < MAX_LEN {
        for i in 0..=n {
            for c in 1..=SYMBOLS {
                visit(pack(
                    s[..i]
                        .iter()
                        .copied()
                        .chain(std::iter::once(c))
                        .chain(s[i..].iter().copied()),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusables_share_a_key_and_lengths_do_not_collide() {
        assert_eq!(key("ABC100"), key("4BC1OO"));
        assert_ne!(key("ABC10"), key("ABC100"));
        assert_eq!(key("ABC-10"), None);
        assert_eq!(key("ABCDEFGHJKLMN"), None);
        assert!(key("XYZ987").is_some());
        assert_eq!(unpack(key("C0E").unwrap()), vec![11, 1, 12]);
    }

    #[test]
    fn neighbours_cover_one_edit_of_every_kind() {
        let mut seen = std::collections::HashSet::new();
        neighbours(key("CEF").unwrap(), true, &mut |k| {
            seen.insert(k);
        });
        for near in ["CEF", "CE", "EF", "CEH", "XEF", "CEFH", "HCEF", "CHEF"] {
            assert!(seen.contains(&key(near).unwrap()), "{near}");
        }
        assert!(!seen.contains(&key("CXX").unwrap()));
    }
}
