//! A real call capture renumbered, so one test can play it many times:
//! `b_caller_cancel_no_answer.ami` (1000 calls 1002, 1000 hangs up while
//! 1002 rings; tests/recordings/README.md).
#![allow(dead_code)]

use super::recordings_dir;

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `haystack` with every `from` replaced by `to`.
pub fn replace(haystack: &[u8], from: &str, to: &str) -> Vec<u8> {
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// The events of `b_caller_cancel_no_answer.ami` (no banner, no login
/// answer, no Goodbye), renumbered as call `n`: Uniqueids `1900000000+n.2`
/// (line 1000) and `.3` (line 1002), channels `PJSIP/1000-<n>02` and
/// `PJSIP/1002-<n>03`. Line 1000 gets `RingStarted` ... `RingFinished`
/// (`cancelled`), line 1002 `RingStarted`, `RingFinished` (`cancelled`).
pub fn call_bytes(n: u32) -> Vec<u8> {
    let bytes = std::fs::read(recordings_dir().join("b_caller_cancel_no_answer.ami")).unwrap();
    let booted = find(&bytes, b"Event: FullyBooted").unwrap();
    let start = booted + find(&bytes[booted..], b"\r\n\r\n").unwrap() + 4;
    let end = find(&bytes, b"Response: Goodbye").unwrap();
    let b = &bytes[start..end];
    let b = replace(b, "1795422538.", &format!("{}.", 1_900_000_000 + n));
    let b = replace(&b, "-00000002", &format!("-{n:06x}02"));
    replace(&b, "-00000003", &format!("-{n:06x}03"))
}

/// The call ids of call `n` on line 1000 and on line 1002.
pub fn call_ids(n: u32) -> (String, String) {
    let p = 1_900_000_000 + n;
    (format!("{p}.2"), format!("{p}.3"))
}

/// Call `n` cut before its hang-up (1000 is dialling, 1002 ringing), and
/// the rest.
pub fn ringing_half(n: u32) -> (Vec<u8>, Vec<u8>) {
    let b = call_bytes(n);
    let cut = find(&b, b"Event: HangupRequest").unwrap();
    (b[..cut].to_vec(), b[cut..].to_vec())
}
