//! The AMI byte stream the harness sends, built from real captures, and the
//! oracle: the library's own tracker run over the identical bytes, which
//! says what every line's clients must receive and which packet caused it.

use ctibridge::ami::codec::decode_all;
use ctibridge::ami::{Item, Kind, Limits};
use ctibridge::calls::{CallEvent, Tracker, TrackerOptions};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// One packet's fields.
pub type Fields = Vec<(String, String)>;

/// A capture's events (no actions, no responses, no list items).
pub struct Capture {
    pub packets: Vec<Fields>,
    /// The lines (digit peers of device channels) the capture uses, sorted.
    pub lines: Vec<String>,
}

/// The channel driver prefix the captures use (and the config must name).
pub const PROTOCOL: &str = "PJSIP/";

/// Loads every `*.ami` file of `dir`, sorted by name.
pub fn load_captures(dir: &Path) -> Vec<Capture> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ami"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let mut packets = Vec::new();
        let _ = decode_all(&bytes, Limits::default(), |item| {
            if let Item::Packet(p) = item {
                let is_event = matches!(p.kind(), Kind::Event(_));
                let session = p.get("ActionID").is_some()
                    || p.get("Event")
                        .is_some_and(|e| e.eq_ignore_ascii_case("FullyBooted"));
                if is_event && !session {
                    packets.push(
                        p.fields()
                            .map(|(k, v)| {
                                (
                                    String::from_utf8_lossy(k).into_owned(),
                                    String::from_utf8_lossy(v).into_owned(),
                                )
                            })
                            .collect::<Fields>(),
                    );
                }
            }
            Ok::<(), ()>(())
        });
        let mut lines = BTreeSet::new();
        for p in &packets {
            for (k, v) in p {
                if is_channel_key(&k.to_ascii_lowercase()) {
                    if let Some(rest) = v.strip_prefix(PROTOCOL) {
                        let peer = rest.rsplit_once('-').map_or(rest, |(l, _)| l);
                        if !peer.is_empty() && peer.bytes().all(|b| b.is_ascii_digit()) {
                            lines.insert(peer.to_string());
                        }
                    }
                }
            }
        }
        if !packets.is_empty() {
            out.push(Capture {
                packets,
                lines: lines.into_iter().collect(),
            });
        }
    }
    out
}

fn is_channel_key(kl: &str) -> bool {
    kl.ends_with("channel") || kl == "channel1" || kl == "channel2"
}

fn is_id_key(kl: &str) -> bool {
    kl.contains("uniqueid") || kl.contains("linkedid") || kl == "bridgeid"
}

/// The generated stream: bytes and where each packet ends.
pub struct Stream {
    pub bytes: Vec<u8>,
    /// `ends[i]`: offset just past packet `i`'s blank line.
    pub ends: Vec<usize>,
    pub calls: u64,
}

/// The line number of slot `s`'s `j`-th line.
pub fn line_of_slot(s: usize, j: usize, per_slot: usize) -> String {
    (100_000 + s * per_slot + j).to_string()
}

/// Rewrites `v`: every run of digits equal to one of `lines` becomes the
/// slot's line.
fn map_lines(v: &str, map: &HashMap<&str, String>, out: &mut String) {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let run = &v[start..i];
            match map.get(run) {
                Some(new) => out.push_str(new),
                None => out.push_str(run),
            }
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_digit() {
                i += 1;
            }
            out.push_str(&v[start..i]);
        }
    }
}

fn write_packet(p: &Fields, copy: u64, map: &HashMap<&str, String>, out: &mut Vec<u8>) {
    let mut val = String::with_capacity(64);
    for (k, v) in p {
        let kl = k.to_ascii_lowercase();
        val.clear();
        if v.is_empty() || v.starts_with('<') {
            val.push_str(v);
        } else if is_id_key(&kl) {
            val.push_str(&format!("c{copy}-{v}"));
        } else {
            map_lines(v, map, &mut val);
            if is_channel_key(&kl) {
                // A new channel name for each copy: Asterisk's counter
                // after the last '-' gets the copy number in front.
                if let Some(i) = val.rfind('-') {
                    val.insert_str(i + 1, &format!("{copy:x}z"));
                }
            }
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(val.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// `slots` calls in progress at once, interleaved packet by packet; each
/// slot plays the captures one after the other (slot `s` starts with
/// capture `s mod n`), every call a new copy with its own ids and its
/// slot's lines. New calls stop once `packets` packets were written; the
/// calls in progress then run to their end.
pub fn generate(captures: &[Capture], slots: usize, packets: usize) -> Stream {
    let per_slot = captures
        .iter()
        .map(|c| c.lines.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let maps: Vec<Vec<HashMap<&str, String>>> = (0..slots)
        .map(|s| {
            captures
                .iter()
                .map(|c| {
                    c.lines
                        .iter()
                        .enumerate()
                        .map(|(j, l)| (l.as_str(), line_of_slot(s, j, per_slot)))
                        .collect()
                })
                .collect()
        })
        .collect();
    struct Slot {
        capture: usize,
        pos: usize,
        copy: u64,
        active: bool,
    }
    let mut next_copy = 0u64;
    let mut state: Vec<Slot> = (0..slots)
        .map(|s| {
            next_copy += 1;
            Slot {
                capture: s % captures.len(),
                pos: 0,
                copy: next_copy - 1,
                active: true,
            }
        })
        .collect();
    let mut bytes = Vec::with_capacity(packets * 400);
    let mut ends = Vec::with_capacity(packets + 1024);
    let mut active = slots;
    while active > 0 {
        for (s, slot) in state.iter_mut().enumerate() {
            if !slot.active {
                continue;
            }
            let c = &captures[slot.capture];
            write_packet(
                &c.packets[slot.pos],
                slot.copy,
                &maps[s][slot.capture],
                &mut bytes,
            );
            ends.push(bytes.len());
            slot.pos += 1;
            if slot.pos == c.packets.len() {
                if ends.len() >= packets {
                    slot.active = false;
                    active -= 1;
                } else {
                    slot.capture = (slot.capture + 1) % captures.len();
                    slot.pos = 0;
                    slot.copy = next_copy;
                    next_copy += 1;
                }
            }
        }
    }
    Stream {
        bytes,
        ends,
        calls: next_copy,
    }
}

/// What the clients of one line must receive, in order: the packet index
/// that produced each frame, and the frame.
#[derive(Default)]
pub struct Expected {
    pub frames: Vec<(u32, Box<str>)>,
}

/// The oracle's findings.
pub struct Oracle {
    pub by_line: HashMap<String, Expected>,
    pub events: u64,
    pub peak_channels: u64,
    pub refused: u64,
}

/// Runs the tracker over `stream` (decoded as the bridge decodes it)
/// and keeps the frames of `lines` (all lines when `None`).
pub fn oracle(stream: &Stream, opts: &TrackerOptions, lines: Option<&[String]>) -> Oracle {
    let mut tracker = Tracker::new(opts.clone());
    let mut by_line: HashMap<String, Expected> = HashMap::new();
    if let Some(ls) = lines {
        for l in ls {
            by_line.insert(l.clone(), Expected::default());
        }
    }
    let mut events: Vec<CallEvent> = Vec::with_capacity(16);
    let mut index: u32 = 0;
    let mut total = 0u64;
    let mut peak = 0u64;
    let mut frame = String::new();
    let decoded = decode_all(&stream.bytes, Limits::default(), |item| {
        let Item::Packet(p) = item else {
            return Ok::<(), std::convert::Infallible>(());
        };
        tracker.handle(&p, &mut events);
        for e in events.drain(..) {
            total += 1;
            if lines.is_none() || by_line.contains_key(e.line()) {
                frame.clear();
                let _ = e.write_json(&mut frame);
                by_line
                    .entry(e.line().to_string())
                    .or_default()
                    .frames
                    .push((index, frame.as_str().into()));
            }
        }
        index += 1;
        if index.is_multiple_of(64) {
            peak = peak.max(tracker.stats().channels_used);
        }
        Ok(())
    });
    let Ok(_) = decoded;
    assert_eq!(
        index as usize,
        stream.ends.len(),
        "the oracle decoded a different number of packets than were generated"
    );
    let st = tracker.stats();
    Oracle {
        by_line,
        events: total,
        peak_channels: peak.max(st.channels_used),
        refused: st.channels_refused,
    }
}
