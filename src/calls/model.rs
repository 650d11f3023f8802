//! The call model clients see: the events of PROTOCOL.md and their JSON form.

use crate::json;
use crate::limits::{INFO_JSON_MAX, LINE_MAX, NAME_MAX, NUMBER_MAX, UNIQUEID_MAX};
use core::fmt::{self, Write};
use heapless::String;

/// A line (the user's extension), e.g. `1000`.
pub type Line = String<LINE_MAX>;
/// A call id: the Uniqueid of the line's channel.
pub type CallId = String<UNIQUEID_MAX>;
/// A phone number as the PBX gave it.
pub type Number = String<NUMBER_MAX>;
/// A caller or connected name, or other short text (queue, reason).
pub type Name = String<NAME_MAX>;
/// The `info` object of an event, already rendered as JSON members without
/// braces (`"k":"v","k2":"v2"`), empty when there is none.
pub type InfoJson = String<INFO_JSON_MAX>;

/// Copies `src` into `dst`, cut at a character boundary when it does not fit.
pub fn set_str<const N: usize>(dst: &mut String<N>, src: &str) {
    dst.clear();
    let mut end = src.len().min(N);
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    // Cannot fail: `end <= N`.
    let _ = dst.push_str(&src[..end]);
}

/// A fixed-capacity copy of `src`, cut at a character boundary.
pub fn fixed<const N: usize>(src: &str) -> String<N> {
    let mut s = String::new();
    set_str(&mut s, src);
    s
}

/// Which way a call goes, seen from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The line's phone is called.
    Incoming,
    /// The line's phone calls out (or is the first leg of an Originate).
    Outgoing,
}

impl Direction {
    /// The wire word: `incoming` / `outgoing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }
}

/// Who put a call on hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldBy {
    /// The line's own phone.
    Line,
    /// The other party.
    Peer,
    /// The call was parked.
    Park,
}

impl HoldBy {
    /// The wire word: `line` / `peer` / `park`.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldBy::Line => "line",
            HoldBy::Peer => "peer",
            HoldBy::Park => "park",
        }
    }
}

/// Why a call ended (see docs/protocol.md for how each is decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The call was answered (or ended normally, cause 16).
    Completed,
    /// The caller gave up before an answer (CANCEL, cause 127).
    Cancelled,
    /// Busy (cause 17, DialStatus BUSY).
    Busy,
    /// Nobody answered (DialStatus NOANSWER, causes 18/19).
    NoAnswer,
    /// Another phone took the call (cause 26).
    AnsweredElsewhere,
    /// The called phone refused it (cause 21).
    Rejected,
    /// The line's channel left through a transfer.
    Transferred,
    /// Anything else, including calls that ended while the bridge was
    /// disconnected from the PBX and had not been answered.
    Failed,
}

impl Reason {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Completed => "completed",
            Reason::Cancelled => "cancelled",
            Reason::Busy => "busy",
            Reason::NoAnswer => "no_answer",
            Reason::AnsweredElsewhere => "answered_elsewhere",
            Reason::Rejected => "rejected",
            Reason::Transferred => "transferred",
            Reason::Failed => "failed",
        }
    }
}

/// How a call was transferred (optional `Transferred` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// Blind transfer (`BlindTransfer`, Asterisk 11 `Transfer` Blind).
    Blind,
    /// Attended transfer (`AttendedTransfer`, Asterisk 11 `Transfer` Attended).
    Attended,
    /// Redirect (AMI `Redirect`); Asterisk reports none, so this is only sent
    /// when the bridge itself asked for it.
    Redirect,
}

impl TransferKind {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Blind => "blind",
            TransferKind::Attended => "attended",
            TransferKind::Redirect => "redirect",
        }
    }
}

/// What happened, with the event's own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The call appears on the line.
    RingStarted {
        /// Which way it goes.
        direction: Direction,
        /// The other party: caller for incoming, dialled number for outgoing.
        number: Number,
        /// The other party's name, may be empty.
        name: Name,
    },
    /// The line talks with a (new) party.
    CommutationStarted {
        /// The real party's number (through Local channels and queues).
        number: Number,
        /// The real party's name, may be empty.
        name: Name,
    },
    /// The call is put on hold.
    PutHoldAction {
        /// By whom.
        by: HoldBy,
    },
    /// The hold ends.
    EndHoldAction {
        /// By whom (the same as the hold it ends).
        by: HoldBy,
    },
    /// The line's channel is gone. Always the last event of a call.
    RingFinished {
        /// Why.
        reason: Reason,
        /// The Q.850 cause of the `Hangup` (0 when not known).
        cause: u16,
        /// True when at least one `CommutationStarted` was sent.
        answered: bool,
    },
    /// Optional: the other party's number or name changed before the answer.
    CallerChanged {
        /// The new number.
        number: Number,
        /// The new name, may be empty.
        name: Name,
    },
    /// Optional: the call was transferred.
    Transferred {
        /// How.
        kind: TransferKind,
        /// To (or from) whom.
        number: Number,
    },
    /// Optional: the line's queue membership was paused or unpaused. Not tied
    /// to a call: `call` is empty.
    QueueState {
        /// Paused now.
        paused: bool,
        /// The pause reason, may be empty.
        reason: Name,
        /// The queue, may be empty (all queues).
        queue: Name,
    },
}

/// One call-model event, addressed to a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// The line it belongs to.
    pub line: Line,
    /// The call (Uniqueid of the line's channel); empty for `QueueState`.
    pub call: CallId,
    /// What happened.
    pub kind: EventKind,
    /// The `packetInfoConfig` values of the call, rendered (see [`InfoJson`]).
    pub info: InfoJson,
}

impl CallEvent {
    /// The event name as clients know it (`RingStarted`, ...).
    pub fn name(&self) -> &'static str {
        match self.kind {
            EventKind::RingStarted { .. } => "RingStarted",
            EventKind::CommutationStarted { .. } => "CommutationStarted",
            EventKind::PutHoldAction { .. } => "PutHoldAction",
            EventKind::EndHoldAction { .. } => "EndHoldAction",
            EventKind::RingFinished { .. } => "RingFinished",
            EventKind::CallerChanged { .. } => "CallerChanged",
            EventKind::Transferred { .. } => "Transferred",
            EventKind::QueueState { .. } => "QueueState",
        }
    }

    /// The line the event is for: the fan-out routes by it.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The call id (empty for `QueueState`).
    pub fn call(&self) -> &str {
        &self.call
    }

    /// Writes the event as one compact JSON object with a stable key order:
    /// `event`, `line`, `call`, the event's fields, then `info` if any.
    /// Strings are escaped (quotes, backslash, control characters).
    ///
    /// # Errors
    /// Only the errors of `out`.
    pub fn write_json(&self, out: &mut impl Write) -> fmt::Result {
        out.write_str("{\"event\":\"")?;
        out.write_str(self.name())?;
        out.write_str("\",\"line\":")?;
        json::write_str(out, &self.line)?;
        out.write_str(",\"call\":")?;
        json::write_str(out, &self.call)?;
        match &self.kind {
            EventKind::RingStarted {
                direction,
                number,
                name,
            } => {
                write!(out, ",\"direction\":\"{}\",\"number\":", direction.as_str())?;
                json::write_str(out, number)?;
                out.write_str(",\"name\":")?;
                json::write_str(out, name)?;
            }
            EventKind::CommutationStarted { number, name }
            | EventKind::CallerChanged { number, name } => {
                out.write_str(",\"number\":")?;
                json::write_str(out, number)?;
                out.write_str(",\"name\":")?;
                json::write_str(out, name)?;
            }
            EventKind::PutHoldAction { by } | EventKind::EndHoldAction { by } => {
                write!(out, ",\"by\":\"{}\"", by.as_str())?;
            }
            EventKind::RingFinished {
                reason,
                cause,
                answered,
            } => {
                write!(
                    out,
                    ",\"reason\":\"{}\",\"cause\":{},\"answered\":{}",
                    reason.as_str(),
                    cause,
                    answered
                )?;
            }
            EventKind::Transferred { kind, number } => {
                write!(out, ",\"kind\":\"{}\",\"number\":", kind.as_str())?;
                json::write_str(out, number)?;
            }
            EventKind::QueueState {
                paused,
                reason,
                queue,
            } => {
                write!(out, ",\"paused\":{paused},\"reason\":")?;
                json::write_str(out, reason)?;
                out.write_str(",\"queue\":")?;
                json::write_str(out, queue)?;
            }
        }
        if !self.info.is_empty() {
            out.write_str(",\"info\":{")?;
            out.write_str(&self.info)?;
            out.write_char('}')?;
        }
        out.write_char('}')
    }
}

/// The JSON object of [`CallEvent::write_json`].
impl fmt::Display for CallEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_json(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> CallEvent {
        CallEvent {
            line: fixed("1000"),
            call: fixed("1795422529.0"),
            kind,
            info: InfoJson::new(),
        }
    }

    #[test]
    fn ring_started_renders_keys_in_protocol_order() {
        let e = ev(EventKind::RingStarted {
            direction: Direction::Outgoing,
            number: fixed("1002"),
            name: fixed("Bob \"B\" 1002"),
        });
        assert_eq!(
            e.to_string(),
            r#"{"event":"RingStarted","line":"1000","call":"1795422529.0","direction":"outgoing","number":"1002","name":"Bob \"B\" 1002"}"#
        );
    }

    #[test]
    fn ring_finished_renders_numbers_and_booleans_bare() {
        let e = ev(EventKind::RingFinished {
            reason: Reason::NoAnswer,
            cause: 19,
            answered: false,
        });
        assert_eq!(
            e.to_string(),
            r#"{"event":"RingFinished","line":"1000","call":"1795422529.0","reason":"no_answer","cause":19,"answered":false}"#
        );
    }

    #[test]
    fn info_comes_last_as_an_object() {
        let mut e = ev(EventKind::PutHoldAction { by: HoldBy::Park });
        e.info = fixed(r#""Linkedid":"1.2""#);
        assert_eq!(
            e.to_string(),
            r#"{"event":"PutHoldAction","line":"1000","call":"1795422529.0","by":"park","info":{"Linkedid":"1.2"}}"#
        );
    }

    #[test]
    fn control_characters_in_names_are_escaped() {
        let e = ev(EventKind::CommutationStarted {
            number: fixed("1\\2"),
            name: fixed("a\u{1}b\nc"),
        });
        assert!(e
            .to_string()
            .ends_with(r#""number":"1\\2","name":"a\u0001b\nc"}"#));
    }

    #[test]
    fn queue_state_has_an_empty_call() {
        let mut e = ev(EventKind::QueueState {
            paused: true,
            reason: fixed("Break"),
            queue: fixed("support"),
        });
        e.call.clear();
        assert_eq!(
            e.to_string(),
            r#"{"event":"QueueState","line":"1000","call":"","paused":true,"reason":"Break","queue":"support"}"#
        );
    }

    #[test]
    fn set_str_cuts_at_a_character_boundary() {
        let s: String<5> = fixed("abcdé");
        assert_eq!(s.as_str(), "abcd");
        let s: String<6> = fixed("abcdéf");
        assert_eq!(s.as_str(), "abcdé");
    }
}
