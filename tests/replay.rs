//! The call model on the real recordings.
//!
//! For each capture in tests/recordings the expected sequence per line is
//! written below from the capture README (tests/recordings/README.md) and
//! the packets of the file, with the reason for each step; it is compared
//! with what codec + tracker produce. Every third-party trace in
//! ../shared/ami-traces must replay without panic and keep the invariants.

mod common;
use common::calls::{events, events_chunked, with_protocol};
use common::invariants::{check, check_events, Seen};
use common::*;
use ctibridge::calls::{CallEvent, EventKind, TrackerOptions};

/// One event in a compact form: event, call, then the key fields.
fn brief(e: &CallEvent) -> String {
    match &e.kind {
        EventKind::RingStarted {
            direction,
            number,
            name,
        } => format!(
            "RingStarted {} {} {number} '{name}'",
            e.call(),
            direction.as_str()
        ),
        EventKind::CommutationStarted { number, name } => {
            format!("CommutationStarted {} {number} '{name}'", e.call())
        }
        EventKind::CallerChanged { number, name } => {
            format!("CallerChanged {} {number} '{name}'", e.call())
        }
        EventKind::PutHoldAction { by } => format!("PutHoldAction {} {}", e.call(), by.as_str()),
        EventKind::EndHoldAction { by } => format!("EndHoldAction {} {}", e.call(), by.as_str()),
        EventKind::RingFinished {
            reason,
            cause,
            answered,
        } => format!(
            "RingFinished {} {} {cause} answered={answered}",
            e.call(),
            reason.as_str()
        ),
        EventKind::Transferred { kind, number } => {
            format!("Transferred {} {} {number}", e.call(), kind.as_str())
        }
        EventKind::QueueState {
            paused,
            reason,
            queue,
        } => format!("QueueState {paused} '{reason}' {queue}"),
    }
}

/// Replays a capture and compares, line by line, with `expected`; also
/// checks that no other line got events and that the invariants hold.
fn expect(file: &str, expected: &[(&str, &[&str])]) {
    let bytes = read(&recordings_dir().join(file));
    let got = events(&bytes, &TrackerOptions::default());
    check_events(&got).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut lines: Vec<&str> = got.iter().map(|e| e.line()).collect();
    lines.sort_unstable();
    lines.dedup();
    let mut want_lines: Vec<&str> = expected.iter().map(|(l, _)| *l).collect();
    want_lines.sort_unstable();
    assert_eq!(lines, want_lines, "{file}: lines with events");
    for (line, want) in expected {
        let got_line: Vec<String> = got
            .iter()
            .filter(|e| e.line() == *line)
            .map(brief)
            .collect();
        assert_eq!(got_line, *want, "{file}: line {line}");
    }
}

// a: PJSIP/1000-00000000 (Uniqueid 1795422529.0) is created in state Ring
// with Exten 1002: 1000 dials out. PJSIP/1002-00000001 (.1) is then dialled
// (DialBegin, caller Alice 1000). NewConnectedLine tells 1000 it reaches
// "Bob 1002". 1002 answers, both enter one basic bridge, 1000 hangs up:
// both Hangup with cause 16.
#[test]
fn a_answered_caller_hangup() {
    expect(
        "a_answered_caller_hangup.ami",
        &[
            (
                "1000",
                &[
                    "RingStarted 1795422529.0 outgoing 1002 ''",
                    "CallerChanged 1795422529.0 1002 'Bob 1002'",
                    "CommutationStarted 1795422529.0 1002 'Bob 1002'",
                    "RingFinished 1795422529.0 completed 16 answered=true",
                ],
            ),
            (
                "1002",
                &[
                    "RingStarted 1795422529.1 incoming 1000 'Alice 1000'",
                    "CommutationStarted 1795422529.1 1000 'Alice 1000'",
                    "RingFinished 1795422529.1 completed 16 answered=true",
                ],
            ),
        ],
    );
}

// b: 1000 (.2) dials 1002 (.3), which rings; 1000 sends CANCEL: DialEnd
// CANCEL and both Hangup with cause 127. Nobody talked.
#[test]
fn b_caller_cancel_no_answer() {
    expect(
        "b_caller_cancel_no_answer.ami",
        &[
            (
                "1000",
                &[
                    "RingStarted 1795422538.2 outgoing 1002 ''",
                    "CallerChanged 1795422538.2 1002 'Bob 1002'",
                    "RingFinished 1795422538.2 cancelled 127 answered=false",
                ],
            ),
            (
                "1002",
                &[
                    "RingStarted 1795422538.3 incoming 1000 'Alice 1000'",
                    "RingFinished 1795422538.3 cancelled 127 answered=false",
                ],
            ),
        ],
    );
}

// d: answered call 1000 (.6) ↔ 1002 (.7). `Hold` then `Unhold` on 1000's
// channel: 1000 holds (by line), 1002 is held (by peer; it hears the MOH).
#[test]
fn d_hold_unhold() {
    expect(
        "d_hold_unhold.ami",
        &[
            (
                "1000",
                &[
                    "RingStarted 1795422552.6 outgoing 1002 ''",
                    "CallerChanged 1795422552.6 1002 'Bob 1002'",
                    "CommutationStarted 1795422552.6 1002 'Bob 1002'",
                    "PutHoldAction 1795422552.6 line",
                    "EndHoldAction 1795422552.6 line",
                    "RingFinished 1795422552.6 completed 16 answered=true",
                ],
            ),
            (
                "1002",
                &[
                    "RingStarted 1795422552.7 incoming 1000 'Alice 1000'",
                    "CommutationStarted 1795422552.7 1000 'Alice 1000'",
                    "PutHoldAction 1795422552.7 peer",
                    "EndHoldAction 1795422552.7 peer",
                    "RingFinished 1795422552.7 completed 16 answered=true",
                ],
            ),
        ],
    );
}

// e: AMI Originate of PJSIP/1000 to 1002@from-internal. PJSIP/1000-00000008
// (.8) is rung by a DialBegin with no caller: the first leg of an Originate,
// outgoing. Its number (1002) is known at OriginateResponse (Exten 1002),
// which comes after 1000 answers; only then does the call appear. 1000 then
// dials 1002 (.9, incoming, caller Alice 1000), they talk, 1002 hangs up
// (cause 16 on both).
#[test]
fn e_ami_originate() {
    expect(
        "e_ami_originate.ami",
        &[
            (
                "1000",
                &[
                    "RingStarted 1795422570.8 outgoing 1002 ''",
                    "CallerChanged 1795422570.8 1002 'Bob 1002'",
                    "CommutationStarted 1795422570.8 1002 'Bob 1002'",
                    "RingFinished 1795422570.8 completed 16 answered=true",
                ],
            ),
            (
                "1002",
                &[
                    "RingStarted 1795422571.9 incoming 1000 'Alice 1000'",
                    "CommutationStarted 1795422571.9 1000 'Alice 1000'",
                    "RingFinished 1795422571.9 completed 16 answered=true",
                ],
            ),
        ],
    );
}

// f: 1000 (.11) dials 7000, the queue. The PBX answers (Newstate Up) but
// that is no conversation: waiting in the queue with MOH is neither talk nor
// hold. The queue rings 1006 (.12) and 1002 (.13), both callers "Alice
// 1000". 1006 answers: 1002 is cancelled with cause 26 (answered elsewhere),
// 1000 learns its party "Carol 1006" (NewConnectedLine) and talks with 1006.
// 1000 hangs up, cause 16 on both.
#[test]
fn f_queue_answered() {
    expect(
        "f_queue_answered.ami",
        &[
            (
                "1000",
                &[
                    "RingStarted 1795422587.11 outgoing 7000 ''",
                    "CallerChanged 1795422587.11 1006 'Carol 1006'",
                    "CommutationStarted 1795422587.11 1006 'Carol 1006'",
                    "RingFinished 1795422587.11 completed 16 answered=true",
                ],
            ),
            (
                "1006",
                &[
                    "RingStarted 1795422588.12 incoming 1000 'Alice 1000'",
                    "CommutationStarted 1795422588.12 1000 'Alice 1000'",
                    "RingFinished 1795422588.12 completed 16 answered=true",
                ],
            ),
            (
                "1002",
                &[
                    "RingStarted 1795422588.13 incoming 1000 'Alice 1000'",
                    "RingFinished 1795422588.13 answered_elsewhere 26 answered=false",
                ],
            ),
        ],
    );
}

// g1: 1000 (.14) ↔ 1002 (.15), then AMI Redirect of 1000's channel to 1006.
// 1000's channel lives on (same call), leaves the bridge, dials 1006 (.16)
// and talks to it: a second CommutationStarted with the new party. 1002 is
// hung up by Asterisk (cause 16) after talking: completed.
#[test]
fn g1_redirect_transfer() {
    expect(
        "g1_redirect_transfer.ami",
        &[
            (
                "1000",
                &[
                    "RingStarted 1795422603.14 outgoing 1002 ''",
                    "CallerChanged 1795422603.14 1002 'Bob 1002'",
                    "CommutationStarted 1795422603.14 1002 'Bob 1002'",
                    "CommutationStarted 1795422603.14 1006 'Carol 1006'",
                    "RingFinished 1795422603.14 completed 16 answered=true",
                ],
            ),
            (
                "1002",
                &[
                    "RingStarted 1795422603.15 incoming 1000 'Alice 1000'",
                    "CommutationStarted 1795422603.15 1000 'Alice 1000'",
                    "RingFinished 1795422603.15 completed 16 answered=true",
                ],
            ),
            (
                "1006",
                &[
                    "RingStarted 1795422607.16 incoming 1000 'Alice 1000'",
                    "CommutationStarted 1795422607.16 1000 'Alice 1000'",
                    "RingFinished 1795422607.16 completed 16 answered=true",
                ],
            ),
        ],
    );
}

// h: 1000 (.25) ↔ 1002 (.26); AMI Park of 1000: ParkedCall (space 701), so
// 1000's call is on hold by park; 1002 is hung up (cause 16). 1006 (.27)
// dials 701 (outgoing) and picks the call up: UnParkedCall ends the park
// hold, and 1000 now talks with Carol 1006, 1006 with Alice 1000. 1006
// hangs up, then Asterisk hangs up 1000 (cause 16 on both).
#[test]
fn h_park_and_retrieve() {
    expect(
        "h_park_and_retrieve.ami",
        &[
            (
                "1000",
                &[
                    "RingStarted 1795422670.25 outgoing 1002 ''",
                    "CallerChanged 1795422670.25 1002 'Bob 1002'",
                    "CommutationStarted 1795422670.25 1002 'Bob 1002'",
                    "PutHoldAction 1795422670.25 park",
                    "EndHoldAction 1795422670.25 park",
                    "CommutationStarted 1795422670.25 1006 'Carol 1006'",
                    "RingFinished 1795422670.25 completed 16 answered=true",
                ],
            ),
            (
                "1002",
                &[
                    "RingStarted 1795422670.26 incoming 1000 'Alice 1000'",
                    "CommutationStarted 1795422670.26 1000 'Alice 1000'",
                    "RingFinished 1795422670.26 completed 16 answered=true",
                ],
            ),
            (
                "1006",
                &[
                    "RingStarted 1795422677.27 outgoing 701 ''",
                    "CommutationStarted 1795422677.27 1000 'Alice 1000'",
                    "RingFinished 1795422677.27 completed 16 answered=true",
                ],
            ),
        ],
    );
}

// i: 1000 (.28) ↔ 1002 (.29); AMI Hangup of 1002's channel with cause 16;
// both Hangup events carry cause 16.
#[test]
fn i_ami_hangup() {
    expect(
        "i_ami_hangup.ami",
        &[
            (
                "1000",
                &[
                    "RingStarted 1795422686.28 outgoing 1002 ''",
                    "CallerChanged 1795422686.28 1002 'Bob 1002'",
                    "CommutationStarted 1795422686.28 1002 'Bob 1002'",
                    "RingFinished 1795422686.28 completed 16 answered=true",
                ],
            ),
            (
                "1002",
                &[
                    "RingStarted 1795422686.29 incoming 1000 'Alice 1000'",
                    "CommutationStarted 1795422686.29 1000 'Alice 1000'",
                    "RingFinished 1795422686.29 completed 16 answered=true",
                ],
            ),
        ],
    );
}

#[test]
fn every_recording_is_covered_above() {
    let mut files: Vec<String> = std::fs::read_dir(recordings_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ami"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "a_answered_caller_hangup.ami",
            "b_caller_cancel_no_answer.ami",
            "d_hold_unhold.ami",
            "e_ami_originate.ami",
            "f_queue_answered.ami",
            "g1_redirect_transfer.ami",
            "h_park_and_retrieve.ami",
            "i_ami_hangup.ami"
        ]
    );
}

#[test]
fn replay_output_is_deterministic_json_that_keeps_the_invariants() {
    for entry in std::fs::read_dir(recordings_dir()).unwrap().flatten() {
        if entry.path().extension().is_none_or(|x| x != "ami") {
            continue;
        }
        let bytes = read(&entry.path());
        let run = || {
            let mut out = Vec::new();
            let mut warn = Vec::new();
            ctibridge::replay::run(
                &bytes,
                &TrackerOptions::default(),
                None,
                &mut out,
                &mut warn,
            )
            .unwrap();
            assert!(warn.is_empty(), "{:?}", String::from_utf8_lossy(&warn));
            out
        };
        let first = run();
        assert_eq!(first, run(), "two runs, same bytes");
        let text = String::from_utf8(first).unwrap();
        let seen: Vec<Seen> = text
            .lines()
            .map(|l| Seen::from_json(l).unwrap_or_else(|| panic!("not a JSON event: {l}")))
            .collect();
        assert!(!seen.is_empty());
        check(&seen).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
    }
}

#[test]
fn sip_protocol_sees_no_line_in_pjsip_recordings() {
    let bytes = read(&recordings_dir().join("a_answered_caller_hangup.ami"));
    assert!(events(&bytes, &with_protocol("SIP/")).is_empty());
}

fn trace(name: &str) -> Option<Vec<u8>> {
    traces_dir().map(|d| read(&d.join(name)))
}

#[test]
fn every_trace_replays_and_keeps_the_invariants() {
    let Some(dir) = traces_dir() else { return };
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_none_or(|x| x != "ami") {
            continue;
        }
        let bytes = read(&entry.path());
        for protocol in ["PJSIP/", "SIP/", "SCCP/", "Local/"] {
            let opts = with_protocol(protocol);
            let whole = events(&bytes, &opts);
            check_events(&whole)
                .unwrap_or_else(|e| panic!("{} with {protocol}: {e}", entry.path().display()));
            let mut rng = Rng(bytes.len() as u64 | 1);
            let chunked = events_chunked(&bytes, &opts, || 1 + rng.below(97) as usize);
            assert_eq!(whole, chunked, "{}", entry.path().display());
        }
        n += 1;
    }
    assert!(n >= 20, "only {n} traces");
}

// pyfreepbx queue-call-answered: PJSIP/7007 calls queue 88; the members are
// Local/70xx@from-queue channels whose ;2 half dials the phone. First round:
// 7006's phone (…877) rings, the queue gives up (DialEnd CANCEL from the
// Local ;2, Hangup cause 16): cancelled. Second round 7006 (…884) answers;
// the caller sits in a bridge with Local;1, the phone in another bridge with
// Local;2: the real parties are 7006 and 7007 through the pair.
#[test]
fn queue_call_through_local_channels_shows_the_real_parties() {
    let Some(bytes) = trace("queue-call-answered.pyfreepbx.ami") else {
        return;
    };
    let got: Vec<String> = events(&bytes, &TrackerOptions::default())
        .iter()
        .filter(|e| e.name() != "CallerChanged")
        .map(|e| format!("{} {}", e.line(), brief(e)))
        .collect();
    assert_eq!(
        got,
        [
            "7007 RingStarted 1781704152.3807872 outgoing 88 ''",
            "7006 RingStarted 1781704153.3807877 incoming 7007 'Ext 7007'",
            "7006 RingFinished 1781704153.3807877 cancelled 16 answered=false",
            "7006 RingStarted 1781704173.3807884 incoming 7007 'Ext 7007'",
            "7006 CommutationStarted 1781704173.3807884 7007 'Ext 7007'",
            "7007 CommutationStarted 1781704152.3807872 7006 'Ext 7006'",
            "7006 RingFinished 1781704173.3807884 completed 16 answered=true",
            "7007 RingFinished 1781704152.3807872 completed 16 answered=true",
        ]
    );
}

// pyfreepbx rejected: 7004 rejects (Hangup cause 21); 7003's DialEnd says
// NOANSWER, and 7003's own Hangup carries cause 21 too: rejected on both.
#[test]
fn rejected_call_is_rejected_on_both_lines() {
    let Some(bytes) = trace("call-not-answered-rejected.pyfreepbx.ami") else {
        return;
    };
    let ends: Vec<String> = events(&bytes, &TrackerOptions::default())
        .iter()
        .filter(|e| e.name() == "RingFinished")
        .map(|e| format!("{} {}", e.line(), brief(e)))
        .collect();
    assert_eq!(
        ends,
        [
            "7004 RingFinished 1781705122.3809251 rejected 21 answered=false",
            "7003 RingFinished 1781705122.3809250 rejected 21 answered=false",
        ]
    );
}

// panoramisk originate (Asterisk 11): SIP/ddddd-00000000 (.2) is dialled by
// a Local channel, then masqueraded into the Local ;1 (Uniqueid .0): the
// phone's call keeps its id .2 and goes on to dial 254 (SIP/uuuuu, .3).
#[test]
fn asterisk11_masquerade_keeps_the_phone_call_whole() {
    let Some(bytes) = trace("originate-local-optimization.panoramisk.ami") else {
        return;
    };
    let got: Vec<String> = events(&bytes, &with_protocol("SIP/"))
        .iter()
        .map(|e| format!("{} {}", e.line(), brief(e)))
        .collect();
    assert_eq!(
        got,
        [
            "ddddd RingStarted 1414510601.2 incoming  'Panoramisk tests'",
            "ddddd CommutationStarted 1414510601.2  'Panoramisk tests'",
            "uuuuu RingStarted 1414510609.3 incoming 259 'S F'",
            "ddddd CommutationStarted 1414510601.2 254 'L G'",
            "uuuuu CommutationStarted 1414510609.3 259 'S F'",
            "uuuuu RingFinished 1414510609.3 completed 16 answered=true",
            "ddddd RingFinished 1414510601.2 completed 16 answered=true",
        ]
    );
}

#[test]
fn queue_member_pause_reaches_the_member_line() {
    let Some(bytes) = trace("queue-member-pause.goami2.ami") else {
        return;
    };
    let got: Vec<String> = events(&bytes, &with_protocol("SIP/"))
        .iter()
        .map(|e| format!("{} {}", e.line(), brief(e)))
        .collect();
    assert_eq!(
        got,
        [
            "9921-12 QueueState false '' Books_12",
            "9921-12 QueueState true 'Break' Books_12"
        ]
    );
}

/// Feeds AMI bytes to an existing tracker.
fn feed(t: &mut ctibridge::calls::Tracker, bytes: &[u8]) -> Vec<CallEvent> {
    let mut dec = ctibridge::ami::Decoder::new(ctibridge::ami::Limits::default());
    let mut out = Vec::new();
    let mut rest = bytes;
    loop {
        let n = dec.feed(rest);
        rest = &rest[n..];
        if rest.is_empty() {
            dec.finish();
        }
        while let Some(item) = dec.next_item() {
            if let ctibridge::ami::Item::Packet(p) = item {
                t.handle(&p, &mut out);
            }
        }
        if rest.is_empty() {
            return out;
        }
    }
}

/// d_hold_unhold cut just before its `Event: Hold`: (talking, rest).
fn d_split() -> (Vec<u8>, Vec<u8>) {
    let bytes = read(&recordings_dir().join("d_hold_unhold.ami"));
    let at = bytes
        .windows(13)
        .position(|w| w == b"Event: Hold\r\n")
        .unwrap();
    (bytes[..at].to_vec(), bytes[at..].to_vec())
}

// A bridge started while d's call was already up: after login the session
// lists the channels (CoreShowChannel, written here from the recording's
// state at the cut: both Up in bridge b278b75a…, 1000 running Dial, 1002
// the dialled side, AppDial). The calls appear with their party, and the
// rest of the recording (hold, unhold, hangup) continues them.
#[test]
fn resync_mid_call_shows_the_calls_and_the_stream_continues_them() {
    let (_, rest) = d_split();
    let mut t = ctibridge::calls::Tracker::new(TrackerOptions::default());
    t.begin_resync();
    let list = "Event: CoreShowChannel\r\nChannel: PJSIP/1000-00000006\r\nChannelState: 6\r\n\
        CallerIDNum: 1000\r\nCallerIDName: Alice 1000\r\nConnectedLineNum: 1002\r\n\
        ConnectedLineName: Bob 1002\r\nExten: 1002\r\nUniqueid: 1795422552.6\r\n\
        Linkedid: 1795422552.6\r\nBridgeId: b278b75a-da41-4820-a9ce-ef3f776d1a0b\r\n\
        Application: Dial\r\nApplicationData: PJSIP/1002,30,tT\r\nDuration: 00:00:04\r\n\r\n\
        Event: CoreShowChannel\r\nChannel: PJSIP/1002-00000007\r\nChannelState: 6\r\n\
        CallerIDNum: 1002\r\nCallerIDName: Bob 1002\r\nConnectedLineNum: 1000\r\n\
        ConnectedLineName: Alice 1000\r\nExten: \r\nUniqueid: 1795422552.7\r\n\
        Linkedid: 1795422552.6\r\nBridgeId: b278b75a-da41-4820-a9ce-ef3f776d1a0b\r\n\
        Application: AppDial\r\nApplicationData: (Outgoing Line)\r\nDuration: 00:00:04\r\n\r\n\
        Event: CoreShowChannelsComplete\r\nEventList: Complete\r\nListItems: 2\r\n\r\n";
    let mut got = feed(&mut t, list.as_bytes());
    assert!(got.is_empty(), "nothing before the list is complete");
    t.end_resync(&mut got);
    got.extend(feed(&mut t, &rest));
    check_events(&got).unwrap();
    let b: Vec<String> = got
        .iter()
        .map(|e| format!("{} {}", e.line(), brief(e)))
        .collect();
    assert_eq!(
        b,
        [
            "1000 RingStarted 1795422552.6 outgoing 1002 'Bob 1002'",
            "1002 RingStarted 1795422552.7 incoming 1000 'Alice 1000'",
            "1000 CommutationStarted 1795422552.6 1002 'Bob 1002'",
            "1002 CommutationStarted 1795422552.7 1000 'Alice 1000'",
            "1000 PutHoldAction 1795422552.6 line",
            "1002 PutHoldAction 1795422552.7 peer",
            "1000 EndHoldAction 1795422552.6 line",
            "1002 EndHoldAction 1795422552.7 peer",
            "1002 RingFinished 1795422552.7 completed 16 answered=true",
            "1000 RingFinished 1795422552.6 completed 16 answered=true",
        ]
    );
}

// The connection dropped while d's call was up, and when the bridge is back
// the PBX lists no channel: the call ended meanwhile. Both lines get their
// RingFinished (answered, so `completed`, cause 0: not known), and a
// snapshot for a new client is then empty.
#[test]
fn resync_after_calls_ended_meanwhile_finishes_them() {
    let (talking, _) = d_split();
    let mut t = ctibridge::calls::Tracker::new(TrackerOptions::default());
    let mut got = feed(&mut t, &talking);
    let mut snap = Vec::new();
    t.snapshot("1002", &mut snap);
    assert_eq!(
        snap.iter().map(brief).collect::<Vec<_>>(),
        [
            "RingStarted 1795422552.7 incoming 1000 'Alice 1000'",
            "CommutationStarted 1795422552.7 1000 'Alice 1000'",
            // 1002 is a member of queue `support` (a `QueueMemberStatus`
            // with `Paused: 0` in the recording).
            "QueueState false '' support"
        ]
    );
    t.begin_resync();
    feed(
        &mut t,
        b"Event: CoreShowChannelsComplete\r\nEventList: Complete\r\nListItems: 0\r\n\r\n",
    );
    let before = got.len();
    t.end_resync(&mut got);
    check_events(&got).unwrap();
    assert_eq!(
        got[before..].iter().map(brief).collect::<Vec<_>>(),
        [
            "RingFinished 1795422552.6 completed 0 answered=true",
            "RingFinished 1795422552.7 completed 0 answered=true"
        ]
    );
    snap.clear();
    t.snapshot("1002", &mut snap);
    assert!(snap.is_empty());
    assert_eq!(t.stats().channels_used, 0);
}

// Same resync while nothing changed: no event at all.
#[test]
fn resync_with_nothing_changed_sends_nothing() {
    let (talking, _) = d_split();
    let mut t = ctibridge::calls::Tracker::new(TrackerOptions::default());
    feed(&mut t, &talking);
    t.begin_resync();
    let list = "Event: CoreShowChannel\r\nChannel: PJSIP/1000-00000006\r\nChannelState: 6\r\n\
        Uniqueid: 1795422552.6\r\nBridgeId: b278b75a-da41-4820-a9ce-ef3f776d1a0b\r\n\r\n\
        Event: CoreShowChannel\r\nChannel: PJSIP/1002-00000007\r\nChannelState: 6\r\n\
        Uniqueid: 1795422552.7\r\nBridgeId: b278b75a-da41-4820-a9ce-ef3f776d1a0b\r\n\r\n";
    let mut got = feed(&mut t, list.as_bytes());
    t.end_resync(&mut got);
    assert!(got.is_empty(), "{got:?}");
}
