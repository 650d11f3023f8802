//! Helpers shared by the integration tests: where the recordings are, and a
//! decoder driver that feeds bytes in any chunking.
#![allow(dead_code)]

pub mod calls;
pub mod capture;
pub mod fake_ami;
pub mod invariants;

use ctibridge::ami::{Decoder, Item, Limits};
use std::path::PathBuf;

/// The project's own Asterisk 22 captures (copied from ../shared).
pub fn recordings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/recordings")
}

/// The third-party traces in ../shared/ami-traces, or `None` (with a line on
/// stderr saying so) when that folder is not beside the checkout.
pub fn traces_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ami-traces");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "NOTE: {} is absent: the third-party AMI traces are not tested in this run",
            dir.display()
        );
        None
    }
}

/// Reads a recording.
pub fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A decoded packet, owned, for comparisons: its fields (bytes read as
/// lossy UTF-8, enough to compare), or a skip notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Packet(Vec<(String, String)>),
    Skipped(String),
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn drain(dec: &mut Decoder, out: &mut Vec<Owned>) {
    while let Some(item) = dec.next_item() {
        out.push(match item {
            Item::Packet(p) => {
                Owned::Packet(p.fields().map(|(k, v)| (lossy(k), lossy(v))).collect())
            }
            Item::Skipped { error, .. } => Owned::Skipped(format!("{error:?}")),
        });
    }
}

/// Decodes `input` fed in pieces whose sizes come from `sizes` (cycled),
/// then marks end of stream.
pub fn decode_chunked(
    input: &[u8],
    limits: Limits,
    mut sizes: impl FnMut() -> usize,
) -> Vec<Owned> {
    let mut dec = Decoder::new(limits);
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let n = sizes().max(1).min(input.len() - at);
        let mut piece = &input[at..at + n];
        while !piece.is_empty() {
            let took = dec.feed(piece);
            piece = &piece[took..];
            drain(&mut dec, &mut out);
        }
        at += n;
    }
    dec.finish();
    drain(&mut dec, &mut out);
    out
}

/// Decodes `input` in one piece.
pub fn decode_whole(input: &[u8]) -> Vec<Owned> {
    decode_chunked(input, Limits::default(), || usize::MAX)
}

/// A small deterministic random source (xorshift64*), so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
