//! Codec + tracker throughput on at least 1,000 concurrent calls, and the
//! peak memory.
//!
//! The stream is built from the real captures in tests/recordings: each
//! capture is copied `COPIES` times with renumbered ids and lines (so every
//! copy is a different call on different phones), and the copies are
//! interleaved packet by packet, so all of them are in progress at once. The
//! captures are played one after the other through one tracker, three
//! times, read in 64 KiB pieces as from a socket.
//!
//! Run: `cargo bench --bench tracker`. Prints numbers; asserts nothing.

use ctibridge::ami::{Decoder, Item, Kind, Limits};
use ctibridge::calls::{CallEvent, Tracker, TrackerOptions};
use std::time::{Duration, Instant};

const COPIES: usize = 1200;
const READ: usize = 64 * 1024;
const PASSES: usize = 3;

type Fields = Vec<(String, String)>;

fn packets(bytes: &[u8]) -> Vec<Fields> {
    let mut dec = Decoder::new(Limits::default());
    let mut out = Vec::new();
    let mut rest = bytes;
    loop {
        let n = dec.feed(rest);
        rest = &rest[n..];
        if rest.is_empty() {
            dec.finish();
        }
        while let Some(item) = dec.next_item() {
            if let Item::Packet(p) = item {
                if matches!(p.kind(), Kind::Event(_)) {
                    out.push(
                        p.fields()
                            .map(|(k, v)| {
                                (
                                    String::from_utf8_lossy(k).into_owned(),
                                    String::from_utf8_lossy(v).into_owned(),
                                )
                            })
                            .collect(),
                    );
                }
            }
        }
        if rest.is_empty() {
            return out;
        }
    }
}

/// Copy `n` of a packet: ids prefixed, the peer part of channel names (the
/// line) suffixed, so copies never share a channel, a bridge or a line.
fn renumber(p: &Fields, n: usize, out: &mut Vec<u8>) {
    for (k, v) in p {
        let kl = k.to_ascii_lowercase();
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        if v.is_empty() || v.starts_with('<') {
            out.extend_from_slice(v.as_bytes());
        } else if kl.contains("uniqueid") || kl.contains("linkedid") || kl == "bridgeid" {
            out.extend_from_slice(format!("c{n}-{v}").as_bytes());
        } else if kl.ends_with("channel") || kl == "channel1" || kl == "channel2" {
            match v.rfind('-') {
                Some(i) => out.extend_from_slice(format!("{}x{n}{}", &v[..i], &v[i..]).as_bytes()),
                None => out.extend_from_slice(v.as_bytes()),
            }
        } else {
            out.extend_from_slice(v.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// One capture, `COPIES` times, interleaved packet by packet.
fn interleaved(p: &[Fields]) -> Vec<u8> {
    let mut out = Vec::new();
    for packet in p {
        for n in 0..COPIES {
            renumber(packet, n, &mut out);
        }
    }
    out
}

fn status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l[key.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}

struct Run {
    packets: u64,
    events: u64,
    peak_channels: u64,
    time: Duration,
}

fn feed(stream: &[u8], dec: &mut Decoder, tracker: Option<&mut Tracker>, run: &mut Run) {
    let mut out: Vec<CallEvent> = Vec::with_capacity(64);
    let t = Instant::now();
    let mut tracker = tracker;
    for chunk in stream.chunks(READ) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = dec.feed(rest);
            rest = &rest[n..];
            while let Some(item) = dec.next_item() {
                if let Item::Packet(p) = item {
                    run.packets += 1;
                    if let Some(tr) = tracker.as_deref_mut() {
                        tr.handle(&p, &mut out);
                        run.events += out.len() as u64;
                        out.clear();
                    }
                }
            }
        }
        if let Some(tr) = tracker.as_deref() {
            run.peak_channels = run.peak_channels.max(tr.stats().channels_used);
        }
    }
    run.time += t.elapsed();
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recordings");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ami"))
        .collect();
    files.sort();
    let captures: Vec<Vec<Fields>> = files
        .iter()
        .map(|f| packets(&std::fs::read(f).unwrap()))
        .collect();
    println!(
        "stream: {} captures x {COPIES} interleaved copies, {PASSES} passes",
        captures.len()
    );
    println!("before: VmRSS {}", status("VmRSS:"));

    let opts = TrackerOptions {
        channel_capacity: 4096,
        ..TrackerOptions::default()
    };
    let rss_kb = |s: String| s.trim_end_matches(" kB").trim().parse::<i64>().unwrap_or(0);
    let before = rss_kb(status("VmRSS:"));
    let mut tracker = Tracker::new(opts);
    println!(
        "tracker tables for 4096 channels: {} kB (VmRSS growth at Tracker::new)",
        rss_kb(status("VmRSS:")) - before
    );
    let mut dec = Decoder::new(Limits::default());
    let mut with = Run {
        packets: 0,
        events: 0,
        peak_channels: 0,
        time: Duration::ZERO,
    };
    let mut codec_only = Run {
        packets: 0,
        events: 0,
        peak_channels: 0,
        time: Duration::ZERO,
    };
    let mut largest = 0;
    for pass in 0..PASSES {
        for c in &captures {
            let stream = interleaved(c);
            largest = largest.max(stream.len());
            feed(&stream, &mut dec, None, &mut codec_only);
            feed(&stream, &mut dec, Some(&mut tracker), &mut with);
        }
        println!(
            "after pass {}: VmRSS {}, channels in use {}, refused {}",
            pass + 1,
            status("VmRSS:"),
            tracker.stats().channels_used,
            tracker.stats().channels_refused
        );
    }
    let secs = with.time.as_secs_f64();
    let codec_secs = codec_only.time.as_secs_f64();
    let tracker_secs = (secs - codec_secs).max(1e-9);
    println!(
        "codec+tracker: {:.2} M AMI events/s ({} packets in {:.3} s; {} call events out)",
        with.packets as f64 / secs / 1e6,
        with.packets,
        secs,
        with.events
    );
    println!(
        "codec alone: {:.2} M packets/s; tracker alone (difference): {:.2} M events/s",
        codec_only.packets as f64 / codec_secs / 1e6,
        with.packets as f64 / tracker_secs / 1e6
    );
    println!(
        "concurrency: up to {} channels tracked at once ({} concurrent calls per capture)",
        with.peak_channels, COPIES
    );
    println!(
        "memory: VmHWM {} (includes the largest input stream, {:.1} MB), VmRSS now {}",
        status("VmHWM:"),
        largest as f64 / 1e6,
        status("VmRSS:")
    );
}
