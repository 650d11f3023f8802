//! `autoPauseOnCommutationStart`: which line to pause or unpause in its
//! queues, decided from the call-model events.
//!
//! Pure: events in, orders out. The rules:
//! - a queue call of a line starts talking (`CommutationStarted`) and the
//!   line is not known to be paused already: pause it (all queues);
//! - the last call the bridge paused it for ends (`RingFinished`): unpause;
//! - the line was paused before (a `QueueState` said so): leave it alone,
//!   now and when the call ends;
//! - someone unpauses the line during the call (`QueueState` unpaused), or
//!   the operator sends `queue_pause`, or the pause action fails: the
//!   bridge no longer owns the pause and will not unpause it.

use crate::calls::model::{fixed, CallId, Line};
use crate::calls::{CallEvent, EventKind};
use crate::limits::{AUTO_PAUSE_CALLS, AUTO_PAUSE_LINES};

/// What to ask Asterisk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// `QueuePause` of the line, `Paused: true`, all queues.
    Pause(Line),
    /// `QueuePause` of the line, `Paused: false`, all queues.
    Unpause(Line),
}

#[derive(Debug, Clone)]
struct LineState {
    line: Line,
    /// The last pause state a `QueueState` gave, if any.
    paused: Option<bool>,
    /// Calls the bridge paused the line for, still talking.
    calls: heapless::Vec<CallId, AUTO_PAUSE_CALLS>,
}

/// The pause state the bridge follows, per line.
#[derive(Debug, Default)]
pub struct AutoPause {
    lines: heapless::Vec<LineState, AUTO_PAUSE_LINES>,
    full: u64,
}

impl AutoPause {
    /// Reads one published event; `queue_call` says whether its call came
    /// from a queue (asked of the tracker only for `CommutationStarted`).
    pub fn on_event(&mut self, ev: &CallEvent, queue_call: impl FnOnce() -> bool) -> Option<Order> {
        match &ev.kind {
            EventKind::CommutationStarted { .. } => {
                if !queue_call() {
                    return None;
                }
                let i = match self.find(&ev.line) {
                    Some(i) => i,
                    None => self.add(&ev.line)?,
                };
                let st = &mut self.lines[i];
                if !st.calls.is_empty() {
                    // Already paused by the bridge (a transfer, a second leg).
                    if !st.calls.contains(&ev.call) {
                        let _ = st.calls.push(ev.call.clone());
                    }
                    return None;
                }
                if st.paused == Some(true) {
                    return None;
                }
                let _ = st.calls.push(ev.call.clone());
                Some(Order::Pause(st.line.clone()))
            }
            EventKind::RingFinished { .. } => {
                let i = self.find(&ev.line)?;
                let st = &mut self.lines[i];
                let at = st.calls.iter().position(|c| *c == ev.call)?;
                st.calls.swap_remove(at);
                st.calls.is_empty().then(|| Order::Unpause(st.line.clone()))
            }
            EventKind::QueueState { paused, .. } => {
                let i = match self.find(&ev.line) {
                    Some(i) => Some(i),
                    // Remember pauses, so a later queue call leaves them be;
                    // an unpaused line needs no entry.
                    None if *paused => self.add(&ev.line),
                    None => None,
                }?;
                let st = &mut self.lines[i];
                st.paused = Some(*paused);
                if !*paused {
                    // Unpaused during the call by someone else.
                    st.calls.clear();
                }
                None
            }
            _ => None,
        }
    }

    /// The operator paused or unpaused `line` through the bridge: the pause
    /// is theirs now.
    pub fn operator_paused(&mut self, line: &str, paused: bool) {
        if let Some(i) = self.find(line) {
            self.lines[i].calls.clear();
            self.lines[i].paused = Some(paused);
        }
    }

    /// The bridge's pause of `line` failed: nothing to unpause later.
    pub fn pause_failed(&mut self, line: &str) {
        if let Some(i) = self.find(line) {
            self.lines[i].calls.clear();
        }
    }

    /// True while the bridge holds a pause of `line`.
    pub fn is_auto_paused(&self, line: &str) -> bool {
        self.find(line)
            .is_some_and(|i| !self.lines[i].calls.is_empty())
    }

    /// Queue calls not paused because [`AUTO_PAUSE_LINES`] lines held a
    /// pause of the bridge.
    pub fn full(&self) -> u64 {
        self.full
    }

    fn find(&self, line: &str) -> Option<usize> {
        self.lines.iter().position(|s| s.line == line)
    }

    /// A new entry for `line`, making room by forgetting a line without a
    /// pause of the bridge; `None` (counted) when there is none.
    fn add(&mut self, line: &str) -> Option<usize> {
        let st = LineState {
            line: fixed(line),
            paused: None,
            calls: heapless::Vec::new(),
        };
        if let Err(st) = self.lines.push(st) {
            let Some(free) = self.lines.iter().position(|s| s.calls.is_empty()) else {
                self.full += 1;
                if self.full.is_power_of_two() {
                    log::warn!(
                        "autoPauseOnCommutationStart: {AUTO_PAUSE_LINES} lines are paused by the \
                         bridge; line {line} is not paused for its queue call ({} times so far)",
                        self.full
                    );
                }
                return None;
            };
            self.lines.swap_remove(free);
            let _ = self.lines.push(st);
        }
        Some(self.lines.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::model::InfoJson;
    use crate::calls::{HoldBy, Reason};

    fn ev(line: &str, call: &str, kind: EventKind) -> CallEvent {
        CallEvent {
            line: fixed(line),
            call: fixed(call),
            kind,
            info: InfoJson::new(),
        }
    }

    fn talks(line: &str, call: &str) -> CallEvent {
        ev(
            line,
            call,
            EventKind::CommutationStarted {
                number: fixed("0612345678"),
                name: fixed(""),
            },
        )
    }

    fn ends(line: &str, call: &str) -> CallEvent {
        ev(
            line,
            call,
            EventKind::RingFinished {
                reason: Reason::Completed,
                cause: 16,
                answered: true,
            },
        )
    }

    fn queue_state(line: &str, paused: bool) -> CallEvent {
        ev(
            line,
            "",
            EventKind::QueueState {
                paused,
                reason: fixed(""),
                queue: fixed("support"),
            },
        )
    }

    fn pause(line: &str) -> Option<Order> {
        Some(Order::Pause(fixed(line)))
    }

    fn unpause(line: &str) -> Option<Order> {
        Some(Order::Unpause(fixed(line)))
    }

    #[test]
    fn a_queue_call_pauses_while_it_talks_and_unpauses_when_it_ends() {
        let mut a = AutoPause::default();
        assert_eq!(a.on_event(&talks("1006", "q.1"), || true), pause("1006"));
        assert!(a.is_auto_paused("1006"));
        // Our own pause comes back as QueueState: still ours.
        assert_eq!(a.on_event(&queue_state("1006", true), || true), None);
        assert_eq!(a.on_event(&ends("1006", "q.1"), || true), unpause("1006"));
        assert!(!a.is_auto_paused("1006"));
    }

    #[test]
    fn an_ordinary_call_changes_nothing() {
        let mut a = AutoPause::default();
        assert_eq!(a.on_event(&talks("1006", "c.1"), || false), None);
        assert_eq!(a.on_event(&ends("1006", "c.1"), || false), None);
    }

    #[test]
    fn a_line_paused_before_the_call_stays_paused_after_it() {
        let mut a = AutoPause::default();
        assert_eq!(a.on_event(&queue_state("1006", true), || true), None);
        assert_eq!(a.on_event(&talks("1006", "q.1"), || true), None);
        assert_eq!(a.on_event(&ends("1006", "q.1"), || true), None);
    }

    #[test]
    fn a_line_unpaused_since_is_paused_again() {
        let mut a = AutoPause::default();
        a.on_event(&queue_state("1006", true), || true);
        a.on_event(&queue_state("1006", false), || true);
        assert_eq!(a.on_event(&talks("1006", "q.1"), || true), pause("1006"));
    }

    #[test]
    fn unpaused_by_someone_else_during_the_call_is_not_unpaused_again() {
        let mut a = AutoPause::default();
        a.on_event(&talks("1006", "q.1"), || true);
        a.on_event(&queue_state("1006", false), || true);
        assert_eq!(a.on_event(&ends("1006", "q.1"), || true), None);
    }

    #[test]
    fn the_operator_taking_over_cancels_the_unpause() {
        let mut a = AutoPause::default();
        a.on_event(&talks("1006", "q.1"), || true);
        a.operator_paused("1006", true);
        assert_eq!(a.on_event(&ends("1006", "q.1"), || true), None);
        // And the line counts as paused by them for the next call.
        assert_eq!(a.on_event(&talks("1006", "q.2"), || true), None);
    }

    #[test]
    fn a_failed_pause_is_not_undone() {
        let mut a = AutoPause::default();
        a.on_event(&talks("1006", "q.1"), || true);
        a.pause_failed("1006");
        assert_eq!(a.on_event(&ends("1006", "q.1"), || true), None);
    }

    #[test]
    fn the_pause_lasts_until_the_last_call_it_covers_ends() {
        let mut a = AutoPause::default();
        assert_eq!(a.on_event(&talks("1006", "q.1"), || true), pause("1006"));
        // A new party on the same call, then a second queue call.
        assert_eq!(a.on_event(&talks("1006", "q.1"), || true), None);
        assert_eq!(a.on_event(&talks("1006", "q.2"), || true), None);
        assert_eq!(a.on_event(&ends("1006", "q.1"), || true), None);
        assert_eq!(a.on_event(&ends("1006", "q.2"), || true), unpause("1006"));
    }

    #[test]
    fn the_queue_question_is_asked_only_when_a_call_starts_talking() {
        let mut a = AutoPause::default();
        let hold = ev("1006", "q.1", EventKind::PutHoldAction { by: HoldBy::Line });
        assert_eq!(a.on_event(&hold, || panic!("asked for a hold")), None);
        assert_eq!(a.on_event(&ends("1006", "q.1"), || panic!("asked")), None);
    }

    #[test]
    fn full_table_refuses_new_lines_only_when_every_entry_holds_a_pause() {
        let mut a = AutoPause::default();
        for i in 0..AUTO_PAUSE_LINES {
            a.on_event(&queue_state(&format!("p{i}"), true), || true);
        }
        // Entries without a bridge pause make room.
        assert_eq!(a.on_event(&talks("2000", "x.1"), || true), pause("2000"));
        for i in 0..AUTO_PAUSE_LINES {
            a.on_event(&talks(&format!("l{i}"), "c"), || true);
        }
        assert_eq!(a.full(), 1, "the one line that found no room");
        assert_eq!(a.on_event(&talks("3000", "y.1"), || true), None);
        assert_eq!(a.full(), 2);
        assert!(a.is_auto_paused("2000"));
    }
}
