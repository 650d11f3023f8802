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

/// What [`QueueStates::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// New or different from what was known.
    Changed,
    /// Known already, with this state and reason.
    Same,
    /// Not remembered: [`QUEUE_STATES`] memberships are known already.
    Full,
}

/// The memberships, at most [`QUEUE_STATES`]; grows only up to that.
#[derive(Debug, Default)]
pub(crate) struct QueueStates {
    known: Vec<Membership>,
    refused: u64,
}

impl QueueStates {
    /// Records the state of `line` in `queue`. An unpause for all queues
    /// (empty `queue`) also settles every known membership of the line.
    pub fn set(&mut self, line: &str, queue: &str, paused: bool, reason: &str) -> Change {
        if queue.is_empty() {
            let mut changed = false;
            for m in self.known.iter_mut().filter(|m| m.line == line) {
                if m.paused != paused || m.reason != reason {
                    m.paused = paused;
                    m.reason = fixed(reason);
                    changed = true;
                }
            }
            if changed {
                return Change::Changed;
            }
        }
        if let Some(m) = self
            .known
            .iter_mut()
            .find(|m| m.line == line && m.queue == queue)
        {
            if m.paused == paused && m.reason == reason {
                return Change::Same;
            }
            m.paused = paused;
            m.reason = fixed(reason);
            return Change::Changed;
        }
        if self.known.len() >= QUEUE_STATES {
            self.refused += 1;
            return Change::Full;
        }
        self.known.push(Membership {
            line: fixed(line),
            queue: fixed(queue),
            paused,
            reason: fixed(reason),
        });
        Change::Changed
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

    #[test]
    fn a_change_is_reported_once() {
        let mut q = QueueStates::default();
        assert_eq!(q.set("1006", "support", true, "Lunch"), Change::Changed);
        assert_eq!(q.set("1006", "support", true, "Lunch"), Change::Same);
        assert_eq!(q.set("1006", "support", false, ""), Change::Changed);
        let of: Vec<_> = q.of("1006").collect();
        assert_eq!(of.len(), 1);
        assert!(!of[0].paused);
    }

    #[test]
    fn unpause_in_all_queues_settles_every_membership_of_the_line() {
        let mut q = QueueStates::default();
        q.set("1006", "support", true, "Break");
        q.set("1006", "sales", true, "Break");
        q.set("1002", "sales", true, "Break");
        assert_eq!(q.set("1006", "", false, ""), Change::Changed);
        assert!(q.of("1006").all(|m| !m.paused));
        assert!(q.of("1002").all(|m| m.paused));
    }

    #[test]
    fn a_full_table_refuses_new_memberships_and_counts_them() {
        let mut q = QueueStates::default();
        for i in 0..QUEUE_STATES {
            assert_eq!(q.set(&i.to_string(), "q", false, ""), Change::Changed);
        }
        assert_eq!(q.set("new", "q", true, ""), Change::Full);
        assert_eq!(q.refused(), 1);
        // Known ones still change.
        assert_eq!(q.set("0", "q", true, "x"), Change::Changed);
        q.remove("0", "q");
        assert_eq!(q.of("0").count(), 0);
        assert_eq!(q.set("new", "q", true, ""), Change::Changed);
    }
}
