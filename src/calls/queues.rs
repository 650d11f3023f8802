//! The last known pause state of each line's queue memberships, so that a
//! client that connects later is told whether its line is paused (the
//! snapshot), not only clients that were there when it changed.
//!
//! Fed by every AMI event that carries a member's `Paused` field:
//! `QueueMemberPause` (Asterisk 11: `QueueMemberPaused`), `QueueMemberStatus`,
//! `QueueMemberAdded` and the `QueueMember` items of a `QueueStatus` list;
//! `QueueMemberRemoved` forgets the membership.

use super::model::{fixed, Line, Name};
use crate::limits::QUEUE_STATES;

/// One membership: a line in a queue (`queue` empty: all queues, as a
/// `QueuePause` without `Queue` reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Membership {
    pub line: Line,
    pub queue: Name,
    pub paused: bool,
    pub reason: Name,
}

/// The memberships, at most [`QUEUE_STATES`]; grows only up to that.
#[derive(Debug, Default)]
pub(crate) struct QueueStates {
    known: Vec<Membership>,
    refused: u64,
}

impl QueueStates {
    /// Records the state of `line` in `queue`. An unpause for all queues
    /// (empty `queue`) also settles every known membership of the line. A
    /// new membership when [`QUEUE_STATES`] are known is not remembered,
    /// only counted ([`QueueStates::refused`]).
    pub fn set(&mut self, line: &str, queue: &str, paused: bool, reason: &str) {
        let settle = |m: &mut Membership| {
            m.paused = paused;
            m.reason = fixed(reason);
        };
        if queue.is_empty() {
            self.known
                .iter_mut()
                .filter(|m| m.line == line)
                .for_each(settle);
        }
        if let Some(m) = self
            .known
            .iter_mut()
            .find(|m| m.line == line && m.queue == queue)
        {
            settle(m);
        } else if self.known.len() >= QUEUE_STATES {
            self.refused += 1;
        } else {
            self.known.push(Membership {
                line: fixed(line),
                queue: fixed(queue),
                paused,
                reason: fixed(reason),
            });
        }
    }

    /// Forgets `line` in `queue` (the member was removed).
    pub fn remove(&mut self, line: &str, queue: &str) {
        self.known.retain(|m| !(m.line == line && m.queue == queue));
    }

    /// Forgets every membership (the count of refused ones stays).
    pub fn clear(&mut self) {
        self.known.clear();
    }

    /// The known memberships of `line`.
    pub fn of<'a>(&'a self, line: &'a str) -> impl Iterator<Item = &'a Membership> + 'a {
        self.known.iter().filter(move |m| m.line == line)
    }

    /// Memberships not remembered because the table was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(q: &QueueStates, line: &str) -> Vec<(String, bool, String)> {
        q.of(line)
            .map(|m| (m.queue.to_string(), m.paused, m.reason.to_string()))
            .collect()
    }

    #[test]
    fn the_last_state_of_a_membership_is_kept_once() {
        let mut q = QueueStates::default();
        q.set("1006", "support", true, "Lunch");
        q.set("1006", "support", true, "Lunch");
        assert_eq!(
            state(&q, "1006"),
            [("support".into(), true, "Lunch".into())]
        );
        q.set("1006", "support", false, "");
        assert_eq!(
            state(&q, "1006"),
            [("support".into(), false, String::new())]
        );
    }

    #[test]
    fn unpause_in_all_queues_settles_every_membership_of_the_line() {
        let mut q = QueueStates::default();
        q.set("1006", "support", true, "Break");
        q.set("1006", "sales", true, "Break");
        q.set("1002", "sales", true, "Break");
        q.set("1006", "", false, "");
        assert!(q.of("1006").all(|m| !m.paused));
        assert!(q.of("1002").all(|m| m.paused));
    }

    #[test]
    fn a_full_table_refuses_new_memberships_and_counts_them() {
        let mut q = QueueStates::default();
        for i in 0..QUEUE_STATES {
            q.set(&i.to_string(), "q", false, "");
        }
        q.set("new", "q", true, "");
        assert_eq!(q.refused(), 1);
        assert_eq!(q.of("new").count(), 0);
        // Known ones still change.
        q.set("0", "q", true, "x");
        assert_eq!(state(&q, "0"), [("q".into(), true, "x".into())]);
        q.remove("0", "q");
        assert_eq!(q.of("0").count(), 0);
        q.set("new", "q", true, "");
        assert_eq!(q.of("new").count(), 1);
    }
}
