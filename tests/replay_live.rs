//! The live captures of tests/recordings/live (a real Asterisk 22 with the
//! AMI classes docs/asterisk.md recommends) through codec and tracker, each
//! compared per line with what its README says happened.

mod common;

use common::calls::events;
use common::invariants::check_events;
use ctibridge::calls::{CallEvent, Tracker, TrackerOptions};
use std::path::PathBuf;

fn live(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/recordings/live")
        .join(name);
    common::read(&path)
}

/// One line's events as short text: name, then the fields that matter.
fn line(events: &[CallEvent], line: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.line() == line)
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.to_string()).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            match e.name() {
                "RingStarted" => format!("RingStarted {} {}", s("direction"), s("number")),
                "CommutationStarted" => format!("CommutationStarted {}", s("number")),
                "RingFinished" => format!(
                    "RingFinished {} {} {}",
                    s("reason"),
                    v["cause"],
                    v["answered"]
                ),
                other => other.to_string(),
            }
        })
        .filter(|t| t != "CallerChanged")
        .collect()
}

fn pjsip() -> TrackerOptions {
    TrackerOptions::default()
}

#[test]
fn answered_call_caller_hangs_up() {
    let ev = events(&live("a_answered_caller_hangup.ami"), &pjsip());
    check_events(&ev).unwrap();
    assert_eq!(
        line(&ev, "1000"),
        [
            "RingStarted outgoing 1002",
            "CommutationStarted 1002",
            "RingFinished completed 16 true"
        ]
    );
    assert_eq!(
        line(&ev, "1002"),
        [
            "RingStarted incoming 1000",
            "CommutationStarted 1000",
            "RingFinished completed 16 true"
        ]
    );
}

#[test]
fn busy_callee_with_hangup_request_before_dial_begin() {
    let ev = events(&live("b_callee_busy.ami"), &pjsip());
    check_events(&ev).unwrap();
    assert_eq!(
        line(&ev, "1000"),
        ["RingStarted outgoing 1002", "RingFinished busy 17 false"]
    );
    assert_eq!(
        line(&ev, "1002"),
        ["RingStarted incoming 1000", "RingFinished busy 17 false"]
    );
}

#[test]
fn cli_originate_first_leg_is_an_outgoing_call_of_the_phone() {
    let ev = events(&live("c_cli_originate_phone_to_1002.ami"), &pjsip());
    check_events(&ev).unwrap();
    assert_eq!(
        line(&ev, "1000"),
        [
            "RingStarted outgoing 1002",
            "CommutationStarted 1002",
            "RingFinished completed 16 true"
        ]
    );
    assert_eq!(
        line(&ev, "1002"),
        [
            "RingStarted incoming 1000",
            "CommutationStarted 1000",
            "RingFinished completed 16 true"
        ]
    );
}

#[test]
fn local_channels_alone_make_no_line_events() {
    assert!(events(&live("d_local_originate_wait.ami"), &pjsip()).is_empty());
}

#[test]
fn ami_hangup_of_the_callee_completes_both() {
    let ev = events(&live("f_ami_hangup_callee.ami"), &pjsip());
    check_events(&ev).unwrap();
    assert_eq!(
        line(&ev, "1000"),
        [
            "RingStarted outgoing 1002",
            "CommutationStarted 1002",
            "RingFinished completed 16 true"
        ]
    );
    assert_eq!(
        line(&ev, "1002"),
        [
            "RingStarted incoming 1000",
            "CommutationStarted 1000",
            "RingFinished completed 16 true"
        ]
    );
}

#[test]
fn resync_from_a_real_channel_list_shows_the_call_in_progress() {
    // The bridge starts while 1000 and 1002 talk: the resync alone must
    // show both calls as talking, and no Local half as a line.
    let bytes = live("e_coreshowchannels_live_call.ami");
    let mut tracker = Tracker::new(pjsip());
    let mut out = Vec::new();
    let mut dec = ctibridge::ami::Decoder::new(Default::default());
    dec.feed(&bytes);
    dec.finish();
    tracker.begin_resync();
    while let Some(item) = dec.next_item() {
        if let ctibridge::ami::Item::Packet(p) = item {
            tracker.handle(&p, &mut out);
        }
    }
    tracker.end_resync(&mut out);
    let lines: Vec<_> = out
        .iter()
        .map(|e| format!("{} {}", e.line(), e.name()))
        .collect();
    assert_eq!(
        line(&out, "1000"),
        ["RingStarted outgoing 1002", "CommutationStarted 1002"],
        "{lines:?}"
    );
    assert_eq!(
        line(&out, "1002"),
        ["RingStarted incoming 1000", "CommutationStarted 1000"],
        "{lines:?}"
    );
    assert!(
        out.iter().all(|e| e.line() == "1000" || e.line() == "1002"),
        "{lines:?}"
    );
}

#[test]
fn a_regex_hangup_list_answer_is_no_call() {
    let ev = events(&live("f_ami_hangup_callee.actionconn.ami"), &pjsip());
    assert!(ev.is_empty());
}

#[test]
fn phone_talking_with_a_local_channel_running_an_application_is_talking() {
    // Nobody's caller ID: the Local half has `<unknown>`; the party is the
    // extension the Local channel was made for (601).
    let ev = events(&live("g_local_app_to_phone.ami"), &pjsip());
    check_events(&ev).unwrap();
    assert_eq!(
        line(&ev, "1000"),
        [
            "RingStarted incoming ",
            "CommutationStarted 601",
            "RingFinished completed 16 true"
        ]
    );
}

#[test]
fn blind_transfer_of_a_call_with_a_local_application_channel() {
    let ev = events(&live("h_local_app_blind_transfer.ami"), &pjsip());
    check_events(&ev).unwrap();
    assert_eq!(
        line(&ev, "1000"),
        [
            "RingStarted incoming ",
            "CommutationStarted 601",
            "Transferred",
            "RingFinished transferred 16 true"
        ]
    );
    assert_eq!(
        line(&ev, "1002"),
        [
            "RingStarted incoming ",
            "CommutationStarted 601",
            "RingFinished completed 16 true"
        ]
    );
}
