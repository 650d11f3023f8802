//! Parties parked by `hold`, remembered by the held call's id so that
//! `unhold` can find them after the line's own channel has gone.
//!
//! Pure and bounded ([`HELD_CALLS`]).

use crate::calls::model::{fixed, CallId, Line};
use crate::limits::HELD_CALLS;
use heapless::Deque;

#[derive(Debug, Clone)]
struct Held {
    line: Line,
    call: CallId,
    parkee: CallId,
}

/// The parks made by `hold`, oldest first.
#[derive(Debug, Default)]
pub struct HeldCalls {
    list: Deque<Held, HELD_CALLS>,
    dropped: u64,
}

impl HeldCalls {
    /// Remembers that `line`'s call `call` parked the channel `parkee`
    /// (its Uniqueid). At [`HELD_CALLS`] the oldest is forgotten.
    pub fn insert(&mut self, line: &str, call: &str, parkee: &str) {
        self.remove(line, call);
        if self.list.is_full() {
            self.list.pop_front();
            self.dropped += 1;
        }
        let _ = self.list.push_back(Held {
            line: fixed(line),
            call: fixed(call),
            parkee: fixed(parkee),
        });
    }

    /// The parkee of `line`'s held call `call`.
    pub fn parkee(&self, line: &str, call: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|h| h.line == line && h.call == call)
            .map(|h| h.parkee.as_str())
    }

    /// Forgets `line`'s held call `call`.
    pub fn remove(&mut self, line: &str, call: &str) {
        let n = self.list.len();
        for _ in 0..n {
            if let Some(h) = self.list.pop_front() {
                if h.line != line || h.call != call {
                    let _ = self.list.push_back(h);
                }
            }
        }
    }

    /// Parks forgotten at the limit since start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Parks remembered now.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when no park is remembered.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_park_is_found_by_line_and_call_only() {
        let mut h = HeldCalls::default();
        h.insert("1000", "1.1", "1.2");
        assert_eq!(h.parkee("1000", "1.1"), Some("1.2"));
        assert_eq!(h.parkee("1002", "1.1"), None);
        assert_eq!(h.parkee("1000", "1.3"), None);
        h.remove("1000", "1.1");
        assert_eq!(h.parkee("1000", "1.1"), None);
        assert!(h.is_empty());
    }

    #[test]
    fn parking_the_same_call_again_replaces_the_parkee() {
        let mut h = HeldCalls::default();
        h.insert("1000", "1.1", "1.2");
        h.insert("1000", "1.1", "1.9");
        assert_eq!(h.len(), 1);
        assert_eq!(h.parkee("1000", "1.1"), Some("1.9"));
    }

    #[test]
    fn the_oldest_park_is_forgotten_at_the_limit_and_counted() {
        let mut h = HeldCalls::default();
        for i in 0..=HELD_CALLS {
            h.insert("1000", &format!("c.{i}"), &format!("p.{i}"));
        }
        assert_eq!(h.len(), HELD_CALLS);
        assert_eq!(h.dropped(), 1);
        assert_eq!(h.parkee("1000", "c.0"), None);
        assert_eq!(h.parkee("1000", "c.1"), Some("p.1"));
        // Order is kept by removals too.
        h.remove("1000", "c.5");
        h.insert("1000", "x", "y");
        assert_eq!(h.dropped(), 1);
        h.insert("1000", "z", "w");
        assert_eq!(h.parkee("1000", "c.1"), None, "c.1 was the oldest left");
    }
}
