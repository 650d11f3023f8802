//! Dial patterns: which numbers a user may call, in Asterisk's pattern style.
//!
//! Accepted syntax (a subset of Asterisk extension patterns; the leading `_`
//! that Asterisk needs is optional here):
//!
//! | element | matches |
//! |---|---|
//! | `0`-`9`, `*`, `#`, `+` | that character |
//! | `X` | any digit 0-9 |
//! | `Z` | any digit 1-9 |
//! | `N` | any digit 2-9 |
//! | `[15-7*]` | one character of the set: digits, ranges of digits, `*`, `#`, `+` |
//! | `.` (last only) | one or more characters of any kind |
//! | `!` (last only) | zero or more characters of any kind |
//! | `-` | nothing: a separator for readability, as in Asterisk |
//!
//! `X`, `Z`, `N` may be lower case. A pattern without `.` or `!` matches
//! numbers of exactly its length.

use core::fmt;

/// Longest dial pattern, in bytes.
pub const DIAL_PATTERN_MAX: usize = 32;

/// One validated dial pattern, e.g. `1XXX` or `0[1-9]X.`.
#[derive(Clone, PartialEq, Eq)]
pub struct DialPattern(heapless::String<DIAL_PATTERN_MAX>);

impl DialPattern {
    /// Checks `text` and keeps it. The error says what is wrong and how to
    /// fix it.
    pub fn parse(text: &str) -> Result<DialPattern, &'static str> {
        let body = text.strip_prefix('_').unwrap_or(text);
        if body.is_empty() {
            return Err("an empty dial pattern: write e.g. \"1XXX\" or \"0[1-9]X.\"");
        }
        let stored = heapless::String::try_from(text)
            .map_err(|_| "a dial pattern longer than 32 characters")?;
        let b = body.as_bytes();
        let mut i = 0;
        let mut elements = 0;
        while i < b.len() {
            match b[i] {
                b'0'..=b'9' | b'*' | b'#' | b'+' | b'X' | b'x' | b'Z' | b'z' | b'N' | b'n' => {
                    elements += 1;
                }
                b'-' => {}
                b'.' | b'!' => {
                    if i + 1 != b.len() {
                        return Err("'.' and '!' may only end a dial pattern");
                    }
                    elements += 1;
                }
                b'[' => {
                    let close = b[i + 1..]
                        .iter()
                        .position(|&c| c == b']')
                        .ok_or("a '[' without its ']' in a dial pattern")?
                        + i
                        + 1;
                    check_set(&b[i + 1..close])?;
                    elements += 1;
                    i = close;
                }
                b']' => return Err("a ']' without its '[' in a dial pattern"),
                _ => {
                    return Err(
                        "a dial pattern may hold only digits, * # +, X Z N, [sets], \
                                - and a final . or !",
                    )
                }
            }
            i += 1;
        }
        if elements == 0 {
            return Err("an empty dial pattern: write e.g. \"1XXX\" or \"0[1-9]X.\"");
        }
        Ok(DialPattern(stored))
    }

    /// The pattern as written in the config.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `number` matches the whole pattern.
    pub fn matches(&self, number: &str) -> bool {
        let p = self.0.as_bytes();
        let p = p.strip_prefix(b"_").unwrap_or(p);
        let n = number.as_bytes();
        let (mut i, mut j) = (0, 0);
        while i < p.len() {
            let one = match p[i] {
                b'-' => {
                    i += 1;
                    continue;
                }
                b'.' => return n.len() > j,
                b'!' => return true,
                b'[' => {
                    // Validated: the ']' exists.
                    let close = p[i + 1..].iter().position(|&c| c == b']').unwrap_or(0) + i + 1;
                    let hit = n.get(j).is_some_and(|&c| in_set(&p[i + 1..close], c));
                    i = close;
                    hit
                }
                c => n.get(j).is_some_and(|&d| element(c, d)),
            };
            if !one {
                return false;
            }
            i += 1;
            j += 1;
        }
        j == n.len()
    }
}

fn element(pattern: u8, c: u8) -> bool {
    match pattern {
        b'X' | b'x' => c.is_ascii_digit(),
        b'Z' | b'z' => (b'1'..=b'9').contains(&c),
        b'N' | b'n' => (b'2'..=b'9').contains(&c),
        p => p == c,
    }
}

fn check_set(set: &[u8]) -> Result<(), &'static str> {
    if set.is_empty() {
        return Err("an empty [] in a dial pattern");
    }
    let mut k = 0;
    while k < set.len() {
        match set[k] {
            b'0'..=b'9' if set.get(k + 1) == Some(&b'-') => {
                match set.get(k + 2) {
                    Some(&hi @ b'0'..=b'9') if hi >= set[k] => k += 3,
                    _ => return Err("a range in [] must be two digits, low first, e.g. [1-5]"),
                }
                continue;
            }
            b'0'..=b'9' | b'*' | b'#' | b'+' => {}
            _ => return Err("a [] set in a dial pattern may hold only digits, ranges, * # +"),
        }
        k += 1;
    }
    Ok(())
}

fn in_set(set: &[u8], c: u8) -> bool {
    let mut k = 0;
    while k < set.len() {
        if set.get(k + 1) == Some(&b'-') && k + 2 < set.len() {
            if (set[k]..=set[k + 2]).contains(&c) {
                return true;
            }
            k += 3;
        } else {
            if set[k] == c {
                return true;
            }
            k += 1;
        }
    }
    false
}

impl fmt::Debug for DialPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

impl fmt::Display for DialPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DialPattern {
        DialPattern::parse(s).unwrap()
    }

    #[test]
    fn x_z_n_classes_match_their_digits_only() {
        assert!(p("1XXX").matches("1000"));
        assert!(p("1XXX").matches("1999"));
        assert!(!p("1XXX").matches("2000"));
        assert!(!p("1XXX").matches("100"));
        assert!(!p("1XXX").matches("10000"));
        assert!(!p("1XXX").matches("1a00"));
        assert!(p("Z").matches("1") && !p("Z").matches("0"));
        assert!(p("n").matches("2") && !p("N").matches("1"));
    }

    #[test]
    fn a_trailing_dot_needs_one_more_character_and_a_bang_none() {
        assert!(p("0[1-9]X.").matches("0612345678"));
        assert!(p("0[1-9]X.").matches("0610"));
        assert!(!p("0[1-9]X.").matches("061"));
        assert!(!p("0[1-9]X.").matches("0012345"));
        assert!(p("9!").matches("9"));
        assert!(p("9!").matches("9123"));
        assert!(!p("9!").matches("8"));
        assert!(p(".").matches("anything"));
        assert!(!p(".").matches(""));
    }

    #[test]
    fn sets_hold_digits_ranges_and_star_hash_plus() {
        let s = p("[13-5*#+]");
        for ok in ["1", "3", "4", "5", "*", "#", "+"] {
            assert!(s.matches(ok), "{ok}");
        }
        for no in ["2", "6", "0", "x", ""] {
            assert!(!s.matches(no), "{no}");
        }
    }

    #[test]
    fn the_leading_underscore_and_dashes_are_ignored() {
        assert!(p("_1XXX").matches("1234"));
        assert!(p("1-800-NXX-XXXX").matches("18002345678"));
        assert!(!p("1-800-NXX-XXXX").matches("1-800-234-5678"));
    }

    #[test]
    fn literal_star_hash_plus_match_themselves() {
        assert!(p("*72X.").matches("*721000"));
        assert!(p("+33Z.").matches("+33612345678"));
        assert!(!p("+33Z.").matches("0033612345678"));
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_fix() {
        for (bad, fragment) in [
            ("", "empty"),
            ("_", "empty"),
            ("-", "empty"),
            ("1.2", "may only end"),
            ("1!2", "may only end"),
            ("1[23", "without its ']'"),
            ("12]", "without its '['"),
            ("1[]", "empty []"),
            ("1[5-1]", "low first"),
            ("1[a]", "may hold only"),
            ("1Y", "may hold only"),
            ("1 2", "may hold only"),
            ("123456789012345678901234567890123", "longer than 32"),
        ] {
            let e = DialPattern::parse(bad).unwrap_err();
            assert!(e.contains(fragment), "{bad:?}: {e}");
        }
    }
}
