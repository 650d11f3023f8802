//! Drives codec + tracker over recorded bytes, in any chunking, for tests.
#![allow(dead_code)]

use ctibridge::ami::{Decoder, Item, Kind, Limits};
use ctibridge::calls::{CallEvent, Tracker, TrackerOptions};

/// Replays `input` fed in pieces whose sizes come from `sizes`, client
/// `Action:` packets skipped, and returns every call event in order.
pub fn events_chunked(
    input: &[u8],
    opts: &TrackerOptions,
    mut sizes: impl FnMut() -> usize,
) -> Vec<CallEvent> {
    let mut dec = Decoder::new(Limits::default());
    let mut tracker = Tracker::new(opts.clone());
    let mut out = Vec::new();
    let mut at = 0;
    let drain = |dec: &mut Decoder, tracker: &mut Tracker, out: &mut Vec<CallEvent>| {
        while let Some(item) = dec.next_item() {
            if let Item::Packet(p) = item {
                if !matches!(p.kind(), Kind::Action(_)) {
                    tracker.handle(&p, out);
                }
            }
        }
    };
    while at < input.len() {
        let n = sizes().max(1).min(input.len() - at);
        let mut piece = &input[at..at + n];
        while !piece.is_empty() {
            let took = dec.feed(piece);
            piece = &piece[took..];
            drain(&mut dec, &mut tracker, &mut out);
        }
        at += n;
    }
    dec.finish();
    drain(&mut dec, &mut tracker, &mut out);
    out
}

/// Replays `input` in one piece.
pub fn events(input: &[u8], opts: &TrackerOptions) -> Vec<CallEvent> {
    events_chunked(input, opts, || usize::MAX)
}

/// Options with another `protocol`.
pub fn with_protocol(protocol: &str) -> TrackerOptions {
    let mut o = TrackerOptions::default();
    o.protocol.clear();
    o.protocol.push_str(protocol).unwrap();
    o
}
