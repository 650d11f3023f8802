//! The config text before serde sees it: syntax checked with line and column,
//! `//` comments removed, and bare scalars turned into tagged strings.
//!
//! serde-json-core cannot read a value without knowing its type first (it
//! has no `deserialize_any`), yet the old service's users write `true` and
//! `"true"`, `5038` and `"5038"` alike. So this pass rewrites every bare
//! scalar (`true`, `false`, `null`, a number) into a JSON string that starts
//! with the byte [`BARE`]: `5038` becomes `"\x015038"`. After it, every leaf
//! in the document is a string, `deserialize_ignored_any` dispatches on the
//! next byte (`"`, `[` or `{`), and each key decides how to read its text.
//! A real string can never start with that byte: raw control characters are
//! refused here, and so is the escape `\u0001`.

use super::error::ConfigError;
use crate::limits::CONFIG_MAX_DEPTH;

/// First byte of a string that was a bare scalar in the file.
pub(super) const BARE: char = '\u{1}';

/// Where the scanner is in the grammar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The top-level value.
    Top,
    /// A value after `:`.
    ObjValue,
    /// After `{`: a key or `}`.
    ObjFirst,
    /// After `,` in an object: a key.
    ObjNext,
    /// After a key: `:`.
    Colon,
    /// After a member value: `,` or `}`.
    ObjComma,
    /// After `[`: a value or `]`.
    ArrFirst,
    /// After `,` in an array: a value.
    ArrNext,
    /// After an element: `,` or `]`.
    ArrComma,
    /// After the top-level object: nothing but whitespace and comments.
    Done,
}

/// An open bracket: `true` for an object, with its byte offset.
type Open = (bool, usize);

/// Checks the syntax of `input` (JSON with `//` line comments, one object at
/// the top, an optional UTF-8 byte order mark) and returns the text for
/// serde: comments dropped, bare scalars tagged (see the module docs).
pub(super) fn prepare(input: &[u8]) -> Result<Vec<u8>, ConfigError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = match core::str::from_utf8(input) {
        Ok(t) => t,
        Err(e) => {
            return Err(syntax(
                input,
                e.valid_up_to(),
                "the file is not UTF-8 text: save it as UTF-8",
            ))
        }
    };
    let b = text.as_bytes();
    // Each bare scalar grows by three bytes (two quotes and the tag), and a
    // scalar is at least one byte: the output is at most four times the input.
    let mut out = Vec::with_capacity(b.len() + b.len() / 2);
    let mut stack: heapless::Vec<Open, CONFIG_MAX_DEPTH> = heapless::Vec::new();
    let mut expect = Expect::Top;
    let mut i = 0;
    let err = |at: usize, what: &'static str| Err(syntax(b, at, what));

    loop {
        // Whitespace and comments.
        match b.get(i) {
            Some(b' ' | b'\t' | b'\r' | b'\n') => {
                out.push(b[i]);
                i += 1;
                continue;
            }
            Some(b'/') => match b.get(i + 1) {
                Some(b'/') => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                Some(b'*') => {
                    return err(i, "only // comments are allowed, not /* */");
                }
                _ => return err(i, "a lone '/': comments start with //"),
            },
            None => {
                return match expect {
                    Expect::Done => Ok(out),
                    Expect::Top => {
                        err(i, "the file is empty: a config is one JSON object, { ... }")
                    }
                    _ => match stack.last() {
                        Some(&(true, at)) => {
                            err(at, "this '{' is never closed: the file ends first")
                        }
                        Some(&(false, at)) => {
                            err(at, "this '[' is never closed: the file ends first")
                        }
                        None => err(i, "the file ends in the middle of a value"),
                    },
                };
            }
            Some(_) => {}
        }
        let c = b[i];
        match expect {
            Expect::Done => {
                return err(
                    i,
                    "text after the end of the config object: remove it (one object per file)",
                )
            }
            Expect::Colon => {
                if c != b':' {
                    return err(i, "expected ':' after the key");
                }
                out.push(c);
                i += 1;
                expect = Expect::ObjValue;
            }
            Expect::ObjComma | Expect::ArrComma => {
                let close = if expect == Expect::ObjComma {
                    b'}'
                } else {
                    b']'
                };
                if c == b',' {
                    out.push(c);
                    i += 1;
                    expect = if expect == Expect::ObjComma {
                        Expect::ObjNext
                    } else {
                        Expect::ArrNext
                    };
                } else if c == close {
                    out.push(c);
                    i += 1;
                    stack.pop();
                    expect = after_value(&stack);
                } else if expect == Expect::ObjComma {
                    return err(
                        i,
                        "expected ',' or '}' after the value: is a comma missing?",
                    );
                } else {
                    return err(
                        i,
                        "expected ',' or ']' after the value: is a comma missing?",
                    );
                }
            }
            Expect::ObjFirst | Expect::ObjNext => match c {
                b'"' => {
                    i = string(b, i, &mut out)?;
                    expect = Expect::Colon;
                }
                b'}' if expect == Expect::ObjFirst => {
                    out.push(c);
                    i += 1;
                    stack.pop();
                    expect = after_value(&stack);
                }
                b'}' => {
                    return err(
                        i,
                        "a comma before '}': JSON allows no trailing comma, remove it",
                    )
                }
                b'\'' => return err(i, "keys need double quotes, not single quotes"),
                _ => return err(i, "expected a key in double quotes"),
            },
            Expect::Top | Expect::ObjValue | Expect::ArrFirst | Expect::ArrNext => {
                if expect == Expect::Top && c != b'{' {
                    return err(i, "the config must be one JSON object, starting with '{'");
                }
                match c {
                    b'{' | b'[' => {
                        if stack.push((c == b'{', i)).is_err() {
                            return err(
                                i,
                                "nested too deeply (a config needs four levels at most)",
                            );
                        }
                        out.push(c);
                        i += 1;
                        expect = if c == b'{' {
                            Expect::ObjFirst
                        } else {
                            Expect::ArrFirst
                        };
                    }
                    b']' if expect == Expect::ArrFirst => {
                        out.push(c);
                        i += 1;
                        stack.pop();
                        expect = after_value(&stack);
                    }
                    b']' if expect == Expect::ArrNext => {
                        return err(
                            i,
                            "a comma before ']': JSON allows no trailing comma, remove it",
                        )
                    }
                    b'"' => {
                        i = string(b, i, &mut out)?;
                        expect = after_value(&stack);
                    }
                    b'-' | b'0'..=b'9' => {
                        let end = number(b, i)?;
                        tagged(&mut out, &b[i..end]);
                        i = end;
                        expect = after_value(&stack);
                    }
                    b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                        let mut end = i;
                        while end < b.len()
                            && (b[end].is_ascii_alphanumeric() || b[end] == b'_' || b[end] == b'.')
                        {
                            end += 1;
                        }
                        let word = &b[i..end];
                        match word {
                            b"true" | b"false" | b"null" => tagged(&mut out, word),
                            _ if word.eq_ignore_ascii_case(b"true")
                                || word.eq_ignore_ascii_case(b"false") =>
                            {
                                return err(
                                    i,
                                    "write true and false in lower case (or in double quotes)",
                                )
                            }
                            _ => {
                                return err(
                                    i,
                                    "a word without quotes: text values need double quotes",
                                )
                            }
                        }
                        i = end;
                        expect = after_value(&stack);
                    }
                    b'\'' => return err(i, "strings need double quotes, not single quotes"),
                    b',' | b'}' | b']' => return err(i, "a value is missing here"),
                    _ => {
                        return err(
                            i,
                            "expected a value: a string in double quotes, a number, \
                             true, false, null, an object or a list",
                        )
                    }
                }
            }
        }
    }
}

fn after_value(stack: &[Open]) -> Expect {
    match stack.last() {
        None => Expect::Done,
        Some((true, _)) => Expect::ObjComma,
        Some((false, _)) => Expect::ArrComma,
    }
}

fn tagged(out: &mut Vec<u8>, raw: &[u8]) {
    out.push(b'"');
    out.push(BARE as u8);
    out.extend_from_slice(raw);
    out.push(b'"');
}

/// Scans the string starting at the quote `b[start]`, copies it to `out`
/// unchanged and returns the offset after its closing quote.
fn string(b: &[u8], start: usize, out: &mut Vec<u8>) -> Result<usize, ConfigError> {
    let mut i = start + 1;
    loop {
        match b.get(i) {
            None => return Err(syntax(b, start, "this string is never closed")),
            Some(b'"') => break,
            Some(b'\\') => match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = b.get(i + 2..i + 6).and_then(|h| {
                        core::str::from_utf8(h)
                            .ok()
                            .and_then(|h| u16::from_str_radix(h, 16).ok())
                    });
                    match hex {
                        None => {
                            return Err(syntax(
                                b,
                                i,
                                "a \\u escape needs four hex digits, e.g. \\u00e9",
                            ))
                        }
                        Some(0xD800..=0xDFFF) => {
                            return Err(syntax(
                                b,
                                i,
                                "\\uD800-\\uDFFF (surrogate pairs) are not supported: \
                                 write the character itself, the file is UTF-8",
                            ))
                        }
                        Some(1) => {
                            return Err(syntax(b, i, "the escape \\u0001 is not allowed here"))
                        }
                        Some(_) => i += 6,
                    }
                }
                _ => {
                    return Err(syntax(
                        b,
                        i,
                        "unknown escape: use \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX \
                         (a Windows path needs \\\\ for each \\)",
                    ))
                }
            },
            Some(b'\n') => {
                return Err(syntax(
                    b,
                    start,
                    "this string is not closed on its line (a line break inside a string \
                     must be written \\n)",
                ))
            }
            Some(&c) if c < 0x20 || c == 0x7f => {
                return Err(syntax(
                    b,
                    i,
                    "a control character inside a string: write it as an escape, e.g. \\t",
                ))
            }
            Some(_) => i += 1,
        }
    }
    out.extend_from_slice(&b[start..=i]);
    Ok(i + 1)
}

/// Scans a JSON number starting at `start` and returns the offset after it.
fn number(b: &[u8], start: usize) -> Result<usize, ConfigError> {
    let digits = |mut i: usize| {
        let from = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i, i - from)
    };
    let mut i = start;
    if b[i] == b'-' {
        i += 1;
    }
    let int_start = i;
    let (end, n) = digits(i);
    if n == 0 {
        return Err(syntax(b, start, "a '-' must be followed by digits"));
    }
    if n > 1 && b[int_start] == b'0' {
        return Err(syntax(
            b,
            start,
            "a number cannot start with 0: remove the zero, or put the value in double quotes",
        ));
    }
    i = end;
    if b.get(i) == Some(&b'.') {
        let (end, n) = digits(i + 1);
        if n == 0 {
            return Err(syntax(b, i, "a '.' in a number must be followed by digits"));
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let (end, n) = digits(j);
        if n == 0 {
            return Err(syntax(b, i, "an exponent in a number must have digits"));
        }
        i = end;
    }
    if matches!(b.get(i), Some(c) if c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_') {
        return Err(syntax(
            b,
            start,
            "not a number: put text values in double quotes",
        ));
    }
    Ok(i)
}

/// A syntax error at byte `at` of `b`, with 1-based line and column (in
/// characters).
fn syntax(b: &[u8], at: usize, what: &'static str) -> ConfigError {
    let at = at.min(b.len());
    let before = &b[..at];
    let line_start = before
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    // Count characters, not bytes: continuation bytes do not start one.
    let column = before[line_start..]
        .iter()
        .filter(|&&c| (c & 0xC0) != 0x80)
        .count()
        + 1;
    ConfigError::Syntax {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        String::from_utf8(prepare(s.as_bytes()).unwrap()).unwrap()
    }

    /// (line, column, message) of a refused text.
    fn bad(s: &str) -> (u32, u32, &'static str) {
        match prepare(s.as_bytes()) {
            Err(ConfigError::Syntax { line, column, what }) => (line, column, what),
            other => panic!("expected a syntax error for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn bare_scalars_become_tagged_strings_and_strings_stay() {
        assert_eq!(
            ok(r#"{"a":true,"b":5038,"c":"x","d":[null,-1.5e3]}"#),
            "{\"a\":\"\u{1}true\",\"b\":\"\u{1}5038\",\"c\":\"x\",\"d\":[\"\u{1}null\",\"\u{1}-1.5e3\"]}"
        );
    }

    #[test]
    fn line_comments_are_removed_but_slashes_in_strings_stay() {
        let out = ok("// head\n{ \"url\": \"http://x//y\", // tail\n \"p\": 1 }\n// end");
        assert!(out.contains("\"http://x//y\""));
        assert!(!out.contains("head") && !out.contains("tail") && !out.contains("end"));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(ok("\u{feff}{}"), "{}");
    }

    #[test]
    fn escapes_are_checked_but_copied_unchanged() {
        assert_eq!(ok(r#"{"s":"a\"b\u00e9\\"}"#), r#"{"s":"a\"b\u00e9\\"}"#);
        assert_eq!(bad(r#"{"s":"C:\temp\x"}"#).0, 1);
        assert!(bad(r#"{"s":"C:\x"}"#).2.contains("Windows path"));
        assert!(bad(r#"{"s":"\u12"}"#).2.contains("four hex digits"));
        assert!(bad(r#"{"s":"\ud83d\ude00"}"#).2.contains("surrogate"));
        assert!(bad(r#"{"s":"\u0001x"}"#).2.contains("\\u0001"));
    }

    #[test]
    fn errors_report_line_and_column_in_characters() {
        // The é is two bytes but one column.
        assert_eq!(
            bad("{\n  \"name\": \"é\"\n  \"port\": 1\n}"),
            (
                3,
                3,
                "expected ',' or '}' after the value: is a comma missing?"
            )
        );
        assert_eq!(bad("{\"a\": 1,}").0, 1);
        assert_eq!(bad("{\"a\": 1,}").1, 9);
        assert!(bad("{\"a\": [1,]}").2.contains("trailing comma"));
        assert!(bad("{\"a\": 1,}").2.contains("trailing comma"));
    }

    #[test]
    fn common_mistakes_get_their_own_message() {
        assert!(bad("{'a': 1}").2.contains("double quotes"));
        assert!(bad("{\"a\": 'x'}").2.contains("double quotes"));
        assert!(bad("{\"a\": yes}").2.contains("double quotes"));
        assert!(bad("{\"a\": True}").2.contains("lower case"));
        assert!(bad("{\"a\": 05038}").2.contains("cannot start with 0"));
        assert!(bad("{\"a\": 1 /* c */}").2.contains("only //"));
        assert!(bad("{\"a\" 1}").2.contains("':'"));
        assert!(bad("{\"a\": }").2.contains("missing"));
        assert!(bad("{\"a\": \"x\ny\"}")
            .2
            .contains("not closed on its line"));
        assert!(bad("{\"a\": \"x\ty\"}").2.contains("control character"));
        assert!(bad("{\"a\": 12ab}").2.contains("not a number"));
    }

    #[test]
    fn the_top_level_is_one_object() {
        assert!(bad("").2.contains("empty"));
        assert!(bad("  // only a comment\n").2.contains("empty"));
        assert!(bad("[1]").2.contains("one JSON object"));
        assert!(bad("{} {}").2.contains("after the end"));
    }

    #[test]
    fn unclosed_brackets_point_at_the_opening_one() {
        assert_eq!(
            bad("{\n \"users\": [\n  {\"a\": 1}\n"),
            (2, 11, "this '[' is never closed: the file ends first")
        );
        assert_eq!(bad("{\"a\": \"x").1, 7);
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let deep = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(CONFIG_MAX_DEPTH),
            "]".repeat(CONFIG_MAX_DEPTH)
        );
        assert!(bad(&deep).2.contains("nested too deeply"));
        let fits = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(CONFIG_MAX_DEPTH - 1),
            "]".repeat(CONFIG_MAX_DEPTH - 1)
        );
        ok(&fits);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_position() {
        let (line, column, what) = match prepare(b"{\n\"a\": \"\xff\"}") {
            Err(ConfigError::Syntax { line, column, what }) => (line, column, what),
            other => panic!("{other:?}"),
        };
        assert_eq!((line, column), (2, 7));
        assert!(what.contains("UTF-8"));
    }

    #[test]
    fn every_prefix_of_a_config_is_refused_or_accepted_without_panic() {
        let text = "{\"a\": [1, \"x\\u00e9\", {\"b\": null}], // c\n \"c\": -2.5e-3}";
        for n in 0..text.len() {
            let _ = prepare(&text.as_bytes()[..n]);
        }
        ok(text);
    }
}
