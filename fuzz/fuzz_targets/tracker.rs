//! The AMI decoder plus the call tracker, with a 16-channel table (the
//! smallest) so the table fills: whatever the PBX sends, in whatever order,
//! the call-model events must keep the four invariants of PROTOCOL.md, for
//! a client subscribed from the start and for one that joins midway (its
//! snapshot, then the live events of its line). Every event must also write
//! JSON that reads back as the same event.
//!
//! The first byte picks how the rest is read:
//! - even: raw AMI bytes (any chunking, a 4 KiB codec buffer), as from a PBX;
//! - odd: a script over a pool of real packets (our Asterisk 22 recordings,
//!   built into the target): each 3-byte step emits one pool packet, with
//!   its channel names and ids renamed into one of 4 generations (so one
//!   recorded call can run several times at once, interleaved), or begins,
//!   ends or aborts a resync, adds an originate hint, or lets a client join.
#![no_main]

use ctibridge::ami::{Decoder, Item, Kind, Limits};
use ctibridge::calls::invariants::{Checker, Seen};
use ctibridge::calls::{CallEvent, Tracker, TrackerOptions};
use ctibridge::limits::RECENT_HANGUPS;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Our own recordings (tests/recordings), the packet pool of script mode.
const RECORDINGS: &[&[u8]] = &[
    include_bytes!("../../tests/recordings/a_answered_caller_hangup.ami"),
    include_bytes!("../../tests/recordings/b_caller_cancel_no_answer.ami"),
    include_bytes!("../../tests/recordings/d_hold_unhold.ami"),
    include_bytes!("../../tests/recordings/e_ami_originate.ami"),
    include_bytes!("../../tests/recordings/f_queue_answered.ami"),
    include_bytes!("../../tests/recordings/g1_redirect_transfer.ami"),
    include_bytes!("../../tests/recordings/h_park_and_retrieve.ami"),
    include_bytes!("../../tests/recordings/i_ami_hangup.ami"),
    include_bytes!("../../tests/recordings/live/a_answered_caller_hangup.ami"),
    include_bytes!("../../tests/recordings/live/b_callee_busy.ami"),
    include_bytes!("../../tests/recordings/live/c_cli_originate_phone_to_1002.ami"),
    include_bytes!("../../tests/recordings/live/d_local_originate_wait.ami"),
    include_bytes!("../../tests/recordings/live/e_coreshowchannels_live_call.ami"),
    include_bytes!("../../tests/recordings/live/f_ami_hangup_callee.ami"),
];

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// With `CTIBRIDGE_FUZZ_TRACE` set, every packet and event is printed on
/// stderr: for reading a crash input.
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("CTIBRIDGE_FUZZ_TRACE").is_some())
}

/// Every non-action packet of the recordings, as fields.
fn pool() -> &'static [Fields] {
    static POOL: OnceLock<Vec<Fields>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut out = Vec::new();
        for rec in RECORDINGS {
            let _ = ctibridge::ami::codec::decode_all(rec, Limits::default(), |item| {
                if let Item::Packet(p) = item {
                    if !matches!(p.kind(), Kind::Action(_) | Kind::Banner(_)) {
                        out.push(p.fields().map(|(k, v)| (k.to_vec(), v.to_vec())).collect());
                    }
                }
                Ok::<(), ()>(())
            });
        }
        out
    })
}

/// Keys whose values name a channel, a call or a bridge: renamed per
/// generation so that copies of one recording are distinct calls.
fn renamed_key(key: &[u8]) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with(b"uniqueid") || k.ends_with(b"linkedid") || k.ends_with(b"channel")
}

fn serialize(fields: &Fields, generation: u8, out: &mut Vec<u8>) {
    for (k, v) in fields {
        out.extend_from_slice(k);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        if generation > 0 && renamed_key(k) && !v.is_empty() {
            out.extend_from_slice(format!("g{generation}").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Both the stream from the start and the stream of a client that joined
/// later, checked as they grow.
struct Checked {
    tracker: Tracker,
    /// Everything the tracker emitted.
    all: Checker,
    /// The line of the last event.
    last_line: Option<String>,
    /// Finished calls: `hangups_remembered` before the step that finished
    /// them.
    finished_at: HashMap<(String, String), u64>,
    /// `hangups_remembered` before the current step.
    hangups_before: u64,
    /// A client that joined: its line, what it received.
    joined: Option<(String, Checker)>,
    events: Vec<CallEvent>,
    json: String,
}

impl Checked {
    fn new() -> Checked {
        let opts = TrackerOptions {
            channel_capacity: 16,
            info_keys: ["Uniqueid", "ChanVariable(FROM_DID)", "Queue"]
                .iter()
                .map(|k| ctibridge::calls::model::fixed(k))
                .collect(),
            ..TrackerOptions::default()
        };
        Checked {
            tracker: Tracker::new(opts),
            all: Checker::new(),
            last_line: None,
            finished_at: HashMap::new(),
            hangups_before: 0,
            joined: None,
            events: Vec::new(),
            json: String::new(),
        }
    }

    /// Takes the tracker's new events into both streams and checks them.
    fn take(&mut self) {
        for e in self.events.drain(..) {
            let seen = Seen::from_event(&e);
            self.json.clear();
            e.write_json(&mut self.json)
                .expect("write_json into a String");
            if trace() {
                eprintln!("    => {}", self.json);
            }
            let back = Seen::from_json(&self.json)
                .unwrap_or_else(|| panic!("not a flat JSON object: {}", self.json));
            assert_eq!(
                (&back.event, &back.line, &back.call),
                (&seen.event, &seen.line, &seen.call),
                "JSON {}",
                self.json
            );
            // The tracker remembers the last RECENT_HANGUPS hangups only: a
            // late event for a channel it forgot is a new channel, and its
            // call may start again with the same id (limits.rs). A second
            // start is forgiven only when more than RECENT_HANGUPS hangups
            // were remembered since the step before the one that finished
            // the call (a step may hang up many channels: end_resync); any
            // other is a bug.
            let hangups = self.tracker.hangups_remembered();
            if seen.event == "RingStarted" {
                let key = (seen.line.clone(), seen.call.clone());
                if let Some(&before) = self.finished_at.get(&key) {
                    if hangups - before > RECENT_HANGUPS as u64 {
                        self.finished_at.remove(&key);
                        self.all.forget(&seen.line, &seen.call);
                        if let Some((_, got)) = &mut self.joined {
                            got.forget(&seen.line, &seen.call);
                        }
                    }
                }
            }
            if seen.event == "RingFinished" {
                self.finished_at
                    .insert((seen.line.clone(), seen.call.clone()), self.hangups_before);
            }
            if let Err(e) = self.all.push(&seen) {
                panic!("invariant broken for a client subscribed from the start: {e}");
            }
            if let Some((line, got)) = &mut self.joined {
                if *line == seen.line {
                    if let Err(e) = got.push(&seen) {
                        panic!(
                            "invariant broken for a client of line {line} that joined midway: {e}"
                        );
                    }
                }
            }
            self.last_line = Some(seen.line);
        }
    }

    fn decoded(&mut self, dec: &mut Decoder) {
        while let Some(item) = dec.next_item() {
            if let Item::Packet(p) = item {
                if trace() {
                    eprintln!(
                        "packet {}",
                        String::from_utf8_lossy(p.raw()).replace("\r\n", " | ")
                    );
                }
                self.hangups_before = self.tracker.hangups_remembered();
                if !matches!(p.kind(), Kind::Action(_)) {
                    self.tracker.handle(&p, &mut self.events);
                }
                if let Some(uid) = trace()
                    .then(|| std::env::var("CTIBRIDGE_FUZZ_WATCH").ok())
                    .flatten()
                {
                    let st = self.tracker.stats();
                    eprintln!(
                        "  [channels {} hangups {} {uid} remembered {}]",
                        st.channels_used,
                        self.tracker.hangups_remembered(),
                        self.tracker.remembers_hangup(&uid)
                    );
                }
            }
            self.take();
        }
    }

    /// A client of the line of the last event joins now (one at most).
    fn join(&mut self) {
        if self.joined.is_some() {
            return;
        }
        let Some(line) = self.last_line.clone() else {
            return;
        };
        let mut snap: Vec<CallEvent> = Vec::new();
        self.tracker.snapshot(&line, &mut snap);
        let mut got = Checker::new();
        for e in &snap {
            if let Err(e) = got.push(&Seen::from_event(e)) {
                panic!("a snapshot of line {line} breaks an invariant: {e}");
            }
        }
        self.joined = Some((line, got));
    }
}

fn raw(data: &[u8]) {
    let mut c = Checked::new();
    let limits = Limits {
        buffer: 4096,
        max_line: 1024,
        max_fields: 64,
    };
    let mut dec = Decoder::new(limits);
    // Chunk sizes cycle through the first bytes, so reads split anywhere.
    let (sizes, body) = data.split_at(data.len().min(4));
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let want = sizes
            .get(i % sizes.len().max(1))
            .map_or(rest.len(), |&s| s as usize + 1);
        i += 1;
        let n = dec.feed(&rest[..want.min(rest.len())]);
        rest = &rest[n..];
        c.decoded(&mut dec);
        if i == 8 {
            c.join();
        }
    }
    dec.finish();
    c.decoded(&mut dec);
}

fn script(data: &[u8]) {
    let pool = pool();
    if pool.is_empty() {
        return;
    }
    let mut c = Checked::new();
    let mut dec = Decoder::new(Limits::default());
    let mut buf = Vec::new();
    for step in data.chunks_exact(3) {
        let (op, a, b) = (step[0], step[1], step[2]);
        match op & 0x0f {
            0..=9 => {
                let which = (usize::from(a) << 8 | usize::from(b)) % pool.len();
                buf.clear();
                serialize(&pool[which], op >> 6, &mut buf);
                let mut rest = &buf[..];
                while !rest.is_empty() {
                    let n = dec.feed(rest);
                    rest = &rest[n..];
                    c.decoded(&mut dec);
                }
            }
            10.. if trace() => {
                eprintln!("op {}", op & 0x0f);
                script_op(&mut c, op, a, b, pool);
            }
            10.. => script_op(&mut c, op, a, b, pool),
        }
    }
    dec.finish();
    c.decoded(&mut dec);
}

/// The steps of a script that do not emit a packet.
fn script_op(c: &mut Checked, op: u8, a: u8, b: u8, pool: &[Fields]) {
    match op & 0x0f {
        10 => c.tracker.begin_resync(),
        11 => {
            c.hangups_before = c.tracker.hangups_remembered();
            c.tracker.end_resync(&mut c.events);
            c.take();
        }
        12 => c.tracker.abort_resync(),
        13 => {
            // An originate hint for an id a pool packet may carry.
            let which = (usize::from(a) << 8 | usize::from(b)) % pool.len();
            if let Some((_, uid)) = pool[which]
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"Uniqueid"))
            {
                let uid = String::from_utf8_lossy(uid);
                c.tracker.expect_originate(&uid, "1000", "1002");
            }
        }
        _ => c.join(),
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => script(rest),
        Some((_, rest)) => raw(rest),
        None => {}
    }
});
