//! The four invariants of PROTOCOL.md, checked on a stream of call events,
//! either as [`CallEvent`]s or as the JSON lines clients receive.
//!
//! A checker for tests and fuzz targets, not used by the running bridge (it
//! keeps every call it has seen, so its memory grows with its input).
//!
//! Use: [`check`] on [`Seen::from_event`] or [`Seen::from_json`] of each
//! event, or [`check_events`] on tracker output, or a [`Checker`] fed one
//! event at a time; the error names the first broken rule.

use crate::calls::{CallEvent, EventKind};
use std::collections::HashMap;

/// What the checker needs of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The event name (`RingStarted`, ...).
    pub event: String,
    /// The line (extension) the event is for.
    pub line: String,
    /// The call id; empty for events without a call (`QueueState`).
    pub call: String,
    /// `answered` of a `RingFinished`.
    pub answered: Option<bool>,
    /// `by` of a hold event.
    pub by: Option<String>,
}

impl Seen {
    /// What the checker needs of a tracker event.
    pub fn from_event(e: &CallEvent) -> Seen {
        let (answered, by) = match &e.kind {
            EventKind::RingFinished { answered, .. } => (Some(*answered), None),
            EventKind::PutHoldAction { by } | EventKind::EndHoldAction { by } => {
                (None, Some(by.as_str().to_string()))
            }
            _ => (None, None),
        };
        Seen {
            event: e.name().to_string(),
            line: e.line().to_string(),
            call: e.call().to_string(),
            answered,
            by,
        }
    }

    /// Reads one compact JSON object as ctibridge writes it (flat; string,
    /// number and boolean values). `None` if it is not such an object or has
    /// no `event`.
    pub fn from_json(text: &str) -> Option<Seen> {
        let fields = flat_json(text)?;
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        Some(Seen {
            event: get("event")?,
            line: get("line").unwrap_or_default(),
            call: get("call").unwrap_or_default(),
            answered: get("answered").map(|v| v == "true"),
            by: get("by"),
        })
    }
}

/// The members of a flat JSON object as (key, value text); strings are
/// unescaped, other scalars kept as written, nested objects skipped.
pub fn flat_json(text: &str) -> Option<Vec<(String, String)>> {
    let mut chars = text.trim().chars().peekable();
    let mut out = Vec::new();
    if chars.next()? != '{' {
        return None;
    }
    fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        let mut s = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(s),
                '\\' => match chars.next()? {
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    't' => s.push('\t'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
    }
    loop {
        match chars.next()? {
            '}' => return Some(out),
            ',' | ' ' => continue,
            '"' => {
                let key = string(&mut chars)?;
                if chars.next()? != ':' {
                    return None;
                }
                let value = match chars.peek()? {
                    '"' => {
                        chars.next();
                        string(&mut chars)?
                    }
                    '{' => {
                        let mut depth = 0;
                        for c in chars.by_ref() {
                            match c {
                                '{' => depth += 1,
                                '}' => {
                                    depth -= 1;
                                    if depth == 0 {
                                        break;
                                    }
                                }
                                _ => {}
                            }
                        }
                        String::from("{...}")
                    }
                    _ => {
                        let mut v = String::new();
                        while let Some(&c) = chars.peek() {
                            if c == ',' || c == '}' {
                                break;
                            }
                            v.push(c);
                            chars.next();
                        }
                        v.trim().to_string()
                    }
                };
                out.push((key, value));
            }
            _ => return None,
        }
    }
}

#[derive(Default)]
struct CallState {
    started: bool,
    finished: bool,
    commutations: usize,
    held: Option<String>,
}

/// The invariants checked one event at a time, for streams too long to
/// check again from the start after each event (fuzz targets). [`check`]
/// is this over a slice.
#[derive(Default)]
pub struct Checker {
    calls: HashMap<(String, String), CallState>,
    seen: usize,
}

impl Checker {
    /// A checker that has seen no event.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Whether the call `call` of `line` has had its `RingFinished`.
    pub fn finished(&self, line: &str, call: &str) -> bool {
        self.calls
            .get(&(line.to_string(), call.to_string()))
            .is_some_and(|c| c.finished)
    }

    /// Forgets the call `call` of `line`: its id may start again as a new
    /// call. For a tracker that has forgotten that the channel hung up
    /// ([`crate::calls::Tracker::remembers_hangup`]): what it remembers is
    /// bounded by [`crate::limits::RECENT_HANGUPS`].
    pub fn forget(&mut self, line: &str, call: &str) {
        self.calls.remove(&(line.to_string(), call.to_string()));
    }

    /// Checks the next event of the stream against those before it; the
    /// error names the event (by its index in the stream) and the broken
    /// rule. Events without a call (`QueueState`) are not checked.
    pub fn push(&mut self, e: &Seen) -> Result<(), String> {
        let i = self.seen;
        self.seen += 1;
        if e.call.is_empty() {
            return Ok(());
        }
        let at = || format!("event {i} ({} line {} call {})", e.event, e.line, e.call);
        let c = self
            .calls
            .entry((e.line.clone(), e.call.clone()))
            .or_default();
        if c.finished {
            return Err(format!("{}: comes after RingFinished (invariant 2)", at()));
        }
        match e.event.as_str() {
            "RingStarted" => {
                if c.started {
                    return Err(format!("{}: second RingStarted (invariant 1)", at()));
                }
                c.started = true;
            }
            _ if !c.started => {
                return Err(format!("{}: before RingStarted (invariant 1)", at()));
            }
            "CommutationStarted" => c.commutations += 1,
            "PutHoldAction" => {
                if c.commutations == 0 {
                    return Err(format!(
                        "{}: hold before CommutationStarted (invariant 4)",
                        at()
                    ));
                }
                if c.held.is_some() {
                    return Err(format!(
                        "{}: two PutHoldAction in a row (invariant 4)",
                        at()
                    ));
                }
                c.held = Some(e.by.clone().unwrap_or_default());
            }
            "EndHoldAction" => match c.held.take() {
                None => {
                    return Err(format!(
                        "{}: EndHoldAction without hold (invariant 4)",
                        at()
                    ))
                }
                Some(by) if Some(&by) != e.by.as_ref() => {
                    return Err(format!("{}: ends a hold by {by} (invariant 4)", at()))
                }
                Some(_) => {}
            },
            "RingFinished" => {
                let answered = e.answered.unwrap_or(false);
                if answered != (c.commutations > 0) {
                    return Err(format!(
                        "{}: answered={answered} after {} CommutationStarted (invariant 3)",
                        at(),
                        c.commutations
                    ));
                }
                c.finished = true;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Checks the four invariants for every (line, call) in `events`, in order.
/// Events without a call (`QueueState`) are not checked. A call without
/// `RingFinished` is allowed (still up when the stream ended).
///
/// Besides PROTOCOL.md's wording, an `EndHoldAction` must name the same
/// `by` as the `PutHoldAction` it ends.
///
/// # Errors
/// The first broken rule, naming the event and the invariant.
pub fn check(events: &[Seen]) -> Result<(), String> {
    let mut checker = Checker::new();
    events.iter().try_for_each(|e| checker.push(e))
}

/// [`check`] on tracker output.
///
/// # Errors
/// As [`check`].
pub fn check_events(events: &[CallEvent]) -> Result<(), String> {
    check(&events.iter().map(Seen::from_event).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(event: &str, call: &str) -> Seen {
        Seen {
            event: event.into(),
            line: "1".into(),
            call: call.into(),
            answered: None,
            by: Some("line".into()),
        }
    }

    #[test]
    fn checker_catches_each_broken_rule() {
        let mut fin = s("RingFinished", "a");
        fin.answered = Some(false);
        assert!(check(&[s("RingStarted", "a"), fin.clone()]).is_ok());
        assert!(check(&[s("CommutationStarted", "a")]).is_err());
        assert!(check(&[s("RingStarted", "a"), s("RingStarted", "a")]).is_err());
        assert!(check(&[s("RingStarted", "a"), fin.clone(), s("PutHoldAction", "a")]).is_err());
        assert!(check(&[s("RingStarted", "a"), s("CommutationStarted", "a"), fin]).is_err());
        assert!(check(&[s("RingStarted", "a"), s("PutHoldAction", "a")]).is_err());
        assert!(check(&[
            s("RingStarted", "a"),
            s("CommutationStarted", "a"),
            s("EndHoldAction", "a")
        ])
        .is_err());
    }

    #[test]
    fn a_forgotten_call_may_start_again() {
        let mut fin = s("RingFinished", "a");
        fin.answered = Some(false);
        let mut c = Checker::new();
        c.push(&s("RingStarted", "a")).unwrap();
        assert!(!c.finished("1", "a"));
        c.push(&fin).unwrap();
        assert!(c.finished("1", "a"));
        assert!(c.push(&s("RingStarted", "a")).is_err());
        c.forget("1", "a");
        c.push(&s("RingStarted", "a")).unwrap();
    }

    #[test]
    fn json_lines_are_read_back() {
        let seen = Seen::from_json(
            r#"{"event":"RingFinished","line":"10\"0","call":"1.2","reason":"completed","cause":16,"answered":true,"info":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(seen.line, "10\"0");
        assert_eq!(seen.answered, Some(true));
    }
}
