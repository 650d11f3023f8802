//! Codec throughput: MB/s and packets/s on a stream of at least 50 MB built
//! from the real recordings, read in 64 KiB pieces as from a socket.
//!
//! Run: `cargo bench --bench codec`. Prints numbers; asserts nothing.

use ctibridge::ami::{Decoder, Item, Limits};
use std::time::Instant;

const TARGET_BYTES: usize = 50 * 1024 * 1024;
const READ: usize = 64 * 1024;

fn corpus() -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["tests/recordings", "../shared/ami-traces"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "ami") {
                    files.push(e.path());
                }
            }
        }
    }
    files.sort();
    let mut one = Vec::new();
    for f in &files {
        one.extend_from_slice(&std::fs::read(f).unwrap());
        // Files may end without their blank line: close the last packet.
        one.extend_from_slice(b"\r\n\r\n");
    }
    let mut all = Vec::with_capacity(TARGET_BYTES + one.len());
    while all.len() < TARGET_BYTES {
        all.extend_from_slice(&one);
    }
    println!(
        "corpus: {} files, {:.1} MB",
        files.len(),
        all.len() as f64 / 1e6
    );
    all
}

fn run(input: &[u8]) -> (u64, u64) {
    let mut dec = Decoder::new(Limits::default());
    let (mut packets, mut fields) = (0u64, 0u64);
    for chunk in input.chunks(READ) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = dec.feed(rest);
            rest = &rest[n..];
            while let Some(item) = dec.next_item() {
                if let Item::Packet(p) = item {
                    packets += 1;
                    fields += p.len() as u64;
                }
            }
        }
    }
    (packets, fields)
}

fn main() {
    let input = corpus();
    run(&input); // warm up
    let mut best = f64::MAX;
    let mut counts = (0, 0);
    for _ in 0..5 {
        let t = Instant::now();
        counts = run(&input);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mb = input.len() as f64 / 1e6;
    println!(
        "codec: {:.0} MB/s, {:.2} M packets/s, {:.1} M fields/s (best of 5; {} packets, {:.3} s)",
        mb / best,
        counts.0 as f64 / best / 1e6,
        counts.1 as f64 / best / 1e6,
        counts.0,
        best
    );
}
