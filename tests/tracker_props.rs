//! Properties of codec + tracker on the real recordings: the invariants of
//! PROTOCOL.md hold, and nothing panics, whatever the chunking, wherever the
//! stream stops, with two recordings interleaved, or with packets lost.

mod common;
use common::calls::{events, events_chunked, with_protocol};
use common::invariants::check_events;
use common::*;
use ctibridge::calls::{CallEvent, TrackerOptions};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

type Fields = Vec<(String, String)>;

/// A recording as packets of owned fields, with the options to replay it.
struct Rec {
    name: String,
    packets: Vec<Fields>,
    opts: TrackerOptions,
}

/// Our captures, plus the third-party traces that carry calls (when
/// ../shared is there).
fn recs() -> &'static [Rec] {
    static RECS: OnceLock<Vec<Rec>> = OnceLock::new();
    RECS.get_or_init(|| {
        let mut files: Vec<(std::path::PathBuf, TrackerOptions)> = Vec::new();
        let mut add = |dir: &std::path::Path, pick: &dyn Fn(&str) -> Option<&'static str>| {
            let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
            names.sort_by_key(|e| e.file_name());
            for e in names {
                let n = e.file_name().to_string_lossy().into_owned();
                if let Some(proto) = n.ends_with(".ami").then(|| pick(&n)).flatten() {
                    files.push((e.path(), with_protocol(proto)));
                }
            }
        };
        add(&recordings_dir(), &|_| Some("PJSIP/"));
        if let Some(dir) = traces_dir() {
            add(&dir, &|n| match n {
                _ if n.contains("pyfreepbx") => Some("PJSIP/"),
                _ if n.starts_with("basic-call")
                    || n.starts_with("multi-device")
                    || n.starts_with("originate-local")
                    || n.starts_with("conference") =>
                {
                    Some("SIP/")
                }
                _ => None,
            });
        }
        files
            .into_iter()
            .map(|(path, opts)| Rec {
                name: path.file_name().unwrap().to_string_lossy().into_owned(),
                packets: decode_whole(&read(&path))
                    .into_iter()
                    .filter_map(|p| match p {
                        Owned::Packet(f) => Some(f),
                        Owned::Skipped(_) => None,
                    })
                    .collect(),
                opts,
            })
            .collect()
    })
}

/// Packets back to AMI bytes (CRLF, a blank line after each).
fn serialize<'a>(packets: impl IntoIterator<Item = &'a Fields>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        for (k, v) in p {
            if k == "Banner" {
                out.extend_from_slice(v.as_bytes());
            } else {
                out.extend_from_slice(format!("{k}: {v}").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A copy of a recording whose channels, uniqueids and bridges cannot
/// collide with the original's: ids get a `tag` prefix, channel names a tag
/// after their last `-` (so their line is unchanged).
fn renamed(packets: &[Fields], tag: &str) -> Vec<Fields> {
    let chan_keys = [
        "channel1",
        "channel2",
        "destination",
        "clone",
        "original",
        "newname",
        "oldname",
    ];
    packets
        .iter()
        .map(|p| {
            p.iter()
                .map(|(k, v)| {
                    let kl = k.to_ascii_lowercase();
                    let v = if v.is_empty() || v.starts_with('<') {
                        v.clone()
                    } else if kl.contains("uniqueid") || kl.contains("linkedid") || kl == "bridgeid"
                    {
                        format!("{tag}{v}")
                    } else if kl.ends_with("channel") || chan_keys.contains(&kl.as_str()) {
                        match v.rfind('-') {
                            Some(i) => format!("{}-{tag}{}", &v[..i], &v[i + 1..]),
                            None => v.clone(),
                        }
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .collect()
}

/// Each call's events, in order, keyed by (line, call).
fn per_call(evs: &[CallEvent]) -> BTreeMap<(String, String), Vec<CallEvent>> {
    let mut m: BTreeMap<(String, String), Vec<CallEvent>> = BTreeMap::new();
    for e in evs {
        m.entry((e.line().to_string(), e.call().to_string()))
            .or_default()
            .push(e.clone());
    }
    m
}

#[test]
fn truncation_at_any_packet_keeps_what_came_before() {
    for rec in recs() {
        let full = events(&serialize(&rec.packets), &rec.opts);
        let mut last = 0;
        for k in 0..=rec.packets.len() {
            let part = events(&serialize(&rec.packets[..k]), &rec.opts);
            check_events(&part).unwrap_or_else(|e| panic!("{} cut at {k}: {e}", rec.name));
            assert!(part.len() >= last, "{}: output shrank at {k}", rec.name);
            assert_eq!(
                part[..],
                full[..part.len()],
                "{} cut at {k}: not a prefix",
                rec.name
            );
            // A call still up at the cut (its channel's Hangup not in the
            // prefix) has no RingFinished.
            let hung_up: Vec<&str> = rec.packets[..k]
                .iter()
                .filter(|p| p.iter().any(|(key, v)| key == "Event" && v == "Hangup"))
                .filter_map(|p| p.iter().find(|(key, _)| key == "Uniqueid"))
                .map(|(_, v)| v.as_str())
                .collect();
            for e in part.iter().filter(|e| e.name() == "RingFinished") {
                assert!(
                    hung_up.contains(&e.call()),
                    "{} cut at {k}: {} finished while up",
                    rec.name,
                    e.call()
                );
            }
            last = part.len();
        }
        assert_eq!(last, full.len());
    }
}

#[test]
fn serialized_packets_replay_like_the_file() {
    // The helpers above are only as good as this: re-encoding the decoded
    // packets changes nothing for the tracker.
    for (i, rec) in recs().iter().enumerate().take(8) {
        let file = read(&recordings_dir().join(&rec.name));
        assert_eq!(
            events(&file, &rec.opts),
            events(&serialize(&rec.packets), &rec.opts),
            "{} ({i})",
            rec.name
        );
    }
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cfg(32))]

    #[test]
    fn any_chunking_gives_the_same_events(
        which in 0usize..64,
        sizes in proptest::collection::vec(1usize..300, 1..40),
    ) {
        let rec = &recs()[which % recs().len()];
        let bytes = serialize(&rec.packets);
        let whole = events(&bytes, &rec.opts);
        let mut i = 0;
        let chunked = events_chunked(&bytes, &rec.opts, || {
            i += 1;
            sizes[i % sizes.len()]
        });
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn truncation_at_any_byte_keeps_the_invariants(which in 0usize..64, cut in 0.0f64..1.0) {
        let rec = &recs()[which % recs().len()];
        let bytes = serialize(&rec.packets);
        let at = (bytes.len() as f64 * cut) as usize;
        let evs = events(&bytes[..at], &rec.opts);
        prop_assert!(check_events(&evs).is_ok(), "{}", check_events(&evs).unwrap_err());
    }

    #[test]
    fn two_interleaved_recordings_give_each_call_its_own_events(
        a in 0usize..64,
        b in 0usize..64,
        pattern in proptest::collection::vec(any::<bool>(), 0..200),
    ) {
        let (ra, rb) = (&recs()[a % recs().len()], &recs()[b % recs().len()]);
        if ra.opts != rb.opts {
            return Ok(());
        }
        let pb = renamed(&rb.packets, "B");
        let alone_a = events(&serialize(&ra.packets), &ra.opts);
        let alone_b = events(&serialize(&pb), &rb.opts);
        // Merge: the pattern says which recording gives the next packet.
        let (mut ia, mut ib) = (0, 0);
        let mut merged: Vec<&Fields> = Vec::new();
        let mut bits = pattern.iter().cycle();
        while ia < ra.packets.len() || ib < pb.len() {
            let take_a = ib >= pb.len() || (ia < ra.packets.len() && *bits.next().unwrap_or(&true));
            if take_a {
                merged.push(&ra.packets[ia]);
                ia += 1;
            } else {
                merged.push(&pb[ib]);
                ib += 1;
            }
        }
        let both = events(&serialize(merged), &ra.opts);
        prop_assert!(check_events(&both).is_ok(), "{}", check_events(&both).unwrap_err());
        let mut want = per_call(&alone_a);
        want.extend(per_call(&alone_b));
        prop_assert_eq!(per_call(&both), want);
    }
}

proptest! {
    // Lost packets are the likeliest way to reach odd states: more cases.
    #![proptest_config(cfg(96))]

    #[test]
    fn dropped_packets_never_break_an_invariant(
        a in 0usize..64,
        b in 0usize..64,
        drop in proptest::collection::vec(0u8..100, 1..100),
        rate in 1u8..60,
    ) {
        let (ra, rb) = (&recs()[a % recs().len()], &recs()[b % recs().len()]);
        let pb = renamed(&rb.packets, "D");
        let kept: Vec<&Fields> = ra
            .packets
            .iter()
            .chain(pb.iter())
            .enumerate()
            .filter(|(i, _)| drop[i % drop.len()] >= rate)
            .map(|(_, p)| p)
            .collect();
        let evs = events(&serialize(kept), &ra.opts);
        prop_assert!(check_events(&evs).is_ok(), "{}", check_events(&evs).unwrap_err());
    }

    #[test]
    fn shuffled_packets_never_break_an_invariant(
        which in 0usize..64,
        swaps in proptest::collection::vec((0usize..400, 0usize..400), 0..30),
    ) {
        let rec = &recs()[which % recs().len()];
        let mut packets: Vec<&Fields> = rec.packets.iter().collect();
        for (i, j) in swaps {
            let n = packets.len();
            packets.swap(i % n, j % n);
        }
        let evs = events(&serialize(packets), &rec.opts);
        prop_assert!(check_events(&evs).is_ok(), "{}", check_events(&evs).unwrap_err());
    }
}

#[test]
fn a_tiny_table_refuses_channels_but_keeps_the_invariants() {
    // Twelve calls at once (24 channels) on a 16-channel table: some
    // channels are refused, and their calls never start.
    let mut packets: Vec<Fields> = Vec::new();
    let base = &recs()[0].packets;
    let copies: Vec<Vec<Fields>> = (0..12).map(|i| renamed(base, &format!("T{i}"))).collect();
    for k in 0..base.len() {
        for c in &copies {
            packets.push(c[k].clone());
        }
    }
    let opts = TrackerOptions {
        channel_capacity: 16,
        ..TrackerOptions::default()
    };
    let evs = events(&serialize(&packets), &opts);
    check_events(&evs).unwrap();
    let starts = evs.iter().filter(|e| e.name() == "RingStarted").count();
    let ends = evs.iter().filter(|e| e.name() == "RingFinished").count();
    assert_eq!(starts, ends, "every call that started also finished");
    assert!(starts > 0 && starts < 24, "{starts} calls started");
}
