//! JSON text output shared by every writer: string escaping, nothing else.
//!
//! Wire objects are small and flat, so they are written directly into a
//! `core::fmt::Write` sink with a fixed key order; this module only makes
//! sure a string value is always valid JSON whatever bytes the PBX sent.

use core::fmt::{self, Write};

/// Writes `s` as a JSON string literal, quotes included: `"` and `\` are
/// escaped, control characters become `\n`, `\r`, `\t` or `\u00XX`.
pub fn write_str(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => None,
            _ => continue,
        };
        out.write_str(&s[plain..i])?;
        match esc {
            Some(e) => out.write_str(e)?,
            None => write!(out, "\\u{:04x}", c as u32)?,
        }
        plain = i + c.len_utf8();
    }
    out.write_str(&s[plain..])?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut o = String::new();
        write_str(&mut o, s).unwrap();
        o
    }

    #[test]
    fn quotes_backslashes_and_controls_are_escaped() {
        assert_eq!(esc(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            esc("l1\r\nl2\t\u{0}\u{1f}\u{7f}"),
            r#""l1\r\nl2\t\u0000\u001f\u007f""#
        );
    }

    #[test]
    fn non_ascii_text_passes_unchanged() {
        assert_eq!(esc("Zoë 名前"), "\"Zoë 名前\"");
    }
}
