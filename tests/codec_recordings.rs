//! The codec on every real recording: packet counts established by reading the
//! files, and identical packets whatever the chunking.

mod common;
use common::*;
use ctibridge::ami::Limits;

/// Packets per file, counted outside this program: blank-line separated
/// paragraphs (`tr -d '\r' | awk` over runs of non-blank lines), plus one for a
/// banner line, which Asterisk sends without a blank line after it. For our
/// captures this equals the README's "msgs" column plus the banner.
const CAPTURES: &[(&str, usize)] = &[
    ("a_answered_caller_hangup.ami", 32 + 1),
    ("b_caller_cancel_no_answer.ami", 21 + 1),
    ("d_hold_unhold.ami", 40 + 1),
    ("e_ami_originate.ami", 39 + 1),
    ("f_queue_answered.ami", 56 + 1),
    ("g1_redirect_transfer.ami", 55 + 1),
    ("h_park_and_retrieve.ami", 58 + 1),
    ("i_ami_hangup.ami", 31 + 1),
    // Our live captures (tests/recordings/live/README.md), same counting.
    ("live/a_answered_caller_hangup.ami", 28 + 1),
    ("live/b_callee_busy.ami", 13 + 1),
    ("live/c_cli_originate_phone_to_1002.ami", 33 + 1),
    ("live/d_local_originate_wait.ami", 18 + 1),
    ("live/e_coreshowchannels_live_call.ami", 9 + 1),
    ("live/f_ami_hangup_callee.actionconn.ami", 14 + 1),
    ("live/f_ami_hangup_callee.ami", 27 + 1),
];

/// Same count for the third-party traces (client `Action:` packets included).
const TRACES: &[(&str, usize)] = &[
    ("basic-call-answered.goami2.ami", 51),
    ("basic-call-answered.pyfreepbx.ami", 20),
    ("call-not-answered-rejected.pyfreepbx.ami", 16),
    ("command-follows.panoramisk.ami", 2),
    ("conference-confbridge.goami2.ami", 25),
    ("error-no-such-channel.panoramisk.ami", 2),
    ("list-pjsip-show-endpoint.panoramisk.ami", 7),
    ("login-failed.panoramisk.ami", 2 + 1),
    ("login-md5-challenge.panoramisk.ami", 2 + 1),
    ("login-ok.panoramisk.ami", 3 + 1),
    ("logoff-goodbye.panoramisk.ami", 2),
    ("multi-device-ring-answered-elsewhere.wazo-amid.ami", 242),
    ("originate-async.pyfreepbx.ami", 12),
    ("originate-local-optimization.panoramisk.ami", 750),
    ("queue-call-abandoned.pyfreepbx.ami", 82),
    ("queue-call-answered.pyfreepbx.ami", 113),
    ("queue-member-login.panoramisk.ami", 163),
    ("queue-member-pause.goami2.ami", 9),
    ("queue-member-unpause.panoramisk.ami", 61),
    ("queue-status-and-errors.goami2.ami", 45),
    ("queue-status-list.panoramisk.ami", 9),
];

fn all_files() -> Vec<(std::path::PathBuf, usize)> {
    let mut v: Vec<_> = CAPTURES
        .iter()
        .map(|(n, c)| (recordings_dir().join(n), *c))
        .collect();
    if let Some(dir) = traces_dir() {
        v.extend(TRACES.iter().map(|(n, c)| (dir.join(n), *c)));
    }
    v
}

#[test]
fn every_recording_parses_to_its_packet_count() {
    for (path, expected) in all_files() {
        let out = decode_whole(&read(&path));
        let skipped: Vec<_> = out
            .iter()
            .filter(|p| matches!(p, Owned::Skipped(_)))
            .collect();
        assert!(skipped.is_empty(), "{}: {skipped:?}", path.display());
        assert_eq!(out.len(), expected, "{}", path.display());
        assert!(matches!(out.last(), Some(Owned::Packet(_))));
    }
}

#[test]
fn the_captures_folder_holds_exactly_the_listed_files() {
    let mut names: Vec<_> = std::fs::read_dir(recordings_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".ami"))
        .collect();
    names.sort();
    let listed: Vec<_> = CAPTURES
        .iter()
        .map(|(n, _)| n.to_string())
        .filter(|n| !n.starts_with("live/"))
        .collect();
    assert_eq!(names, listed);
}

#[test]
fn every_chunk_size_from_1_to_64_gives_identical_packets() {
    for (path, _) in all_files() {
        let input = read(&path);
        let whole = decode_whole(&input);
        for size in 1..=64 {
            let out = decode_chunked(&input, Limits::default(), || size);
            assert_eq!(out, whole, "{} in chunks of {size}", path.display());
        }
    }
}

#[test]
fn random_splits_give_identical_packets() {
    let mut rng = Rng(0x5eed_cafe_f00d);
    for (path, _) in all_files() {
        let input = read(&path);
        let whole = decode_whole(&input);
        for round in 0..20 {
            let max = 1 + rng.below(4096);
            let out = decode_chunked(&input, Limits::default(), || 1 + rng.below(max) as usize);
            assert_eq!(out, whole, "{} round {round}", path.display());
        }
    }
}

#[test]
fn park_response_with_bare_lf_keeps_its_message_and_the_next_packet() {
    let out = decode_whole(&read(&recordings_dir().join("h_park_and_retrieve.ami")));
    let park = out
        .iter()
        .find_map(|p| match p {
            Owned::Packet(f) if f.iter().any(|(k, v)| k == "ActionID" && v == "park-1") => Some(f),
            _ => None,
        })
        .expect("the Park response");
    assert!(park.contains(&("Message".into(), "Park successful".into())));
}

#[test]
fn damaged_capture_lines_do_not_break_the_stream() {
    let Some(dir) = traces_dir() else { return };
    let out = decode_whole(&read(&dir.join("queue-member-login.panoramisk.ami")));
    // The "[218 bytes missing in capture file]Event: Newexten" packet is data
    // with an odd key; the packet after it is an ordinary VarSet.
    let damaged = out
        .iter()
        .position(|p| matches!(p, Owned::Packet(f) if f[0].0.starts_with("[218 bytes missing")))
        .expect("damaged packet present");
    let Owned::Packet(next) = &out[damaged + 1] else {
        panic!()
    };
    assert_eq!(next[0], ("Event".into(), "VarSet".into()));
}

#[test]
fn command_follows_output_is_one_packet() {
    let Some(dir) = traces_dir() else { return };
    let out = decode_whole(&read(&dir.join("command-follows.panoramisk.ami")));
    let Owned::Packet(f) = &out[1] else { panic!() };
    let output: Vec<_> = f.iter().filter(|(k, _)| k == "Output").collect();
    assert_eq!(output.len(), 1);
    assert!(output[0].1.starts_with("Asterisk 11.11.0+xivo"));
}

#[test]
fn oversize_and_garbage_between_real_packets_keep_sync() {
    let input = read(&recordings_dir().join("a_answered_caller_hangup.ami"));
    let whole = decode_whole(&input);
    // Splice a 1 MB line, 10,000 fields and NUL garbage after the 10th packet.
    let cut = find_nth_packet_end(&input, 10);
    let mut hostile = input[..cut].to_vec();
    hostile.extend_from_slice(b"Event: Huge\r\nData: ");
    hostile.extend(std::iter::repeat_n(b'x', 1 << 20));
    hostile.extend_from_slice(b"\r\n\r\nEvent: Wide\r\n");
    for i in 0..10_000 {
        hostile.extend_from_slice(format!("K{i}: v\r\n").as_bytes());
    }
    hostile.extend_from_slice(b"\r\n\x00\x00\xff\xfe: \x01\r\n\r\n");
    hostile.extend_from_slice(&input[cut..]);
    for size in [1usize, 7, 1500, 65536] {
        let out = decode_chunked(&hostile, Limits::default(), || size);
        let good: Vec<_> = out
            .iter()
            .filter(|p| matches!(p, Owned::Packet(_)))
            .cloned()
            .collect();
        let skipped = out.len() - good.len();
        assert_eq!(skipped, 2, "chunk {size}");
        // Everything real is there, plus one garbage packet of data.
        assert_eq!(good.len(), whole.len() + 1, "chunk {size}");
        assert!(
            good[..11] == whole[..11],
            "chunk {size}: the packets before the garbage differ"
        );
        assert!(
            good[12..] == whole[11..],
            "chunk {size}: the packets after the garbage differ"
        );
    }
}

fn find_nth_packet_end(input: &[u8], n: usize) -> usize {
    let mut seen = 0;
    // The banner line has no blank after it: packet 1 is the banner, so the
    // n-th CRLFCRLF ends packet n + 1.
    for i in 0..input.len() - 3 {
        if &input[i..i + 4] == b"\r\n\r\n" {
            seen += 1;
            if seen == n {
                return i + 4;
            }
        }
    }
    panic!("fewer than {n} packets");
}
