//! `ctibridge replay FILE`: a recording's call-model events as JSON lines,
//! exactly what a client subscribed to every line would receive.

use crate::ami::codec::decode_all;
use crate::ami::{Item, Kind, Limits};
use crate::calls::{CallEvent, Tracker, TrackerOptions, TrackerStats};
use std::io::{self, Write};

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// AMI packets decoded (client `Action:` packets included).
    pub packets: u64,
    /// Packets the codec skipped for breaking a limit.
    pub skipped: u64,
    /// Call events written.
    pub events: u64,
    /// The tracker's counters at the end.
    pub tracker: TrackerStats,
}

/// Replays `input` (raw AMI bytes: CRLF or LF, with or without banner, a
/// last packet without its blank line accepted) through the codec
/// ([`Limits::default`]) and a fresh [`Tracker`] with `opts`, and writes one
/// JSON object per call event to `out`, each followed by `\n`. Client
/// `Action:` packets are skipped. With `lines` set, only events of those
/// lines are written. Nothing depends on the clock: two runs write the same
/// bytes. Skipped packets and refusals are reported on `warn`.
///
/// # Errors
/// Only the errors of `out` and `warn`.
pub fn run(
    input: &[u8],
    opts: &TrackerOptions,
    lines: Option<&[&str]>,
    out: &mut impl Write,
    warn: &mut impl Write,
) -> io::Result<ReplayStats> {
    let mut tracker = Tracker::new(opts.clone());
    let mut events: Vec<CallEvent> = Vec::with_capacity(16);
    let mut line = String::with_capacity(256);
    let mut stats = ReplayStats::default();
    decode_all(input, Limits::default(), |item| {
        match item {
            Item::Packet(p) => {
                stats.packets += 1;
                if !matches!(p.kind(), Kind::Action(_)) {
                    tracker.handle(&p, &mut events);
                }
            }
            Item::Skipped { error, .. } => {
                stats.skipped += 1;
                writeln!(warn, "warning: packet skipped: {error}")?;
            }
        }
        for e in events.drain(..) {
            if lines.is_some_and(|ls| !ls.contains(&e.line())) {
                continue;
            }
            line.clear();
            // Writing into a String cannot fail.
            let _ = e.write_json(&mut line);
            line.push('\n');
            out.write_all(line.as_bytes())?;
            stats.events += 1;
        }
        Ok::<(), io::Error>(())
    })?;
    stats.tracker = tracker.stats();
    if stats.tracker.channels_refused > 0 {
        writeln!(
            warn,
            "warning: {} channels were not tracked: the channel table ({}) was full",
            stats.tracker.channels_refused, stats.tracker.channels_capacity
        )?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "Asterisk Call Manager/11.0.0\r\n\
        Action: Originate\r\nChannel: PJSIP/1\r\n\r\n\
        Event: Newchannel\r\nChannel: PJSIP/1000-00000001\r\nChannelState: 4\r\n\
        Exten: 1002\r\nUniqueid: 1.1\r\n\r\n\
        Event: Hangup\r\nUniqueid: 1.1\r\nCause: 16";

    #[test]
    fn events_become_json_lines_and_actions_are_skipped() {
        let mut out = Vec::new();
        let mut warn = Vec::new();
        let s = run(
            CALL.as_bytes(),
            &TrackerOptions::default(),
            None,
            &mut out,
            &mut warn,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"event\":\"RingStarted\",\"line\":\"1000\",\"call\":\"1.1\",\"direction\":\"outgoing\",\"number\":\"1002\",\"name\":\"\"}\n\
             {\"event\":\"RingFinished\",\"line\":\"1000\",\"call\":\"1.1\",\"reason\":\"completed\",\"cause\":16,\"answered\":false}\n"
        );
        assert_eq!((s.packets, s.events), (4, 2));
        assert!(warn.is_empty());
    }

    #[test]
    fn line_filter_keeps_only_the_given_lines() {
        let mut out = Vec::new();
        run(
            CALL.as_bytes(),
            &TrackerOptions::default(),
            Some(&["1002"]),
            &mut out,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(out.is_empty());
    }
}
