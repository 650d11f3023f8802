//! Raw bytes into the AMI decoder, split at a fuzzer-chosen point: it must
//! never panic, and whatever it yields must be readable.
#![no_main]

use ctibridge::ami::{Decoder, Item, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        buffer: 512,
        max_line: 100,
        max_fields: 8,
    };
    let mut dec = Decoder::new(limits);
    let split = data.first().map_or(0, |&b| b as usize).min(data.len());
    for piece in [&data[..split], &data[split..]] {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = dec.feed(rest);
            rest = &rest[n..];
            while let Some(item) = dec.next_item() {
                if let Item::Packet(p) = item {
                    let _ = (p.kind(), p.get("Uniqueid"), p.fields().count());
                }
            }
        }
    }
    dec.finish();
    while dec.next_item().is_some() {}
});
