//! The fan-out: call-model events go to the clients of their line, each
//! through its own bounded queue; the publisher never waits.
//!
//! Single-threaded: the hub lives in an `Rc`, the AMI reader calls
//! [`Hub::publish`] and returns at once; each connection awaits
//! [`Subscription::next`]. A client whose queue is full is marked lagging,
//! its queue is emptied and its connection closes it (code 1008).

use crate::limits::{WS_CLIENT_QUEUE_MAX, WS_MAX_EVENT};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// An event frame to send.
    Event(Rc<str>),
    /// The client fell behind: its queue overflowed and was emptied; close it.
    Lagged,
}

/// Counters of the hub, for /health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Clients subscribed now.
    pub clients: u64,
    /// Events published (call-model events, not `Raw`).
    pub published: u64,
    /// Clients marked lagging because their queue was full.
    pub lagged: u64,
    /// Events sent to nobody because they were larger than [`WS_MAX_EVENT`].
    pub dropped: u64,
}

struct Slot {
    line: Rc<str>,
    debug: bool,
    queue: VecDeque<Rc<str>>,
    lagged: bool,
    waker: Option<Waker>,
}

struct Inner {
    slots: Vec<Option<Slot>>,
    /// The slots of each line's clients, so a publish visits only those
    /// (not every client connected).
    by_line: HashMap<Rc<str>, Vec<usize>>,
    /// Clients in debug mode, so the publisher skips `Raw` frames at once
    /// when there are none.
    debug: usize,
    capacity: usize,
    stats: HubStats,
}

/// The per-line fan-out of event frames to subscribed clients.
pub struct Hub {
    inner: RefCell<Inner>,
}

impl Hub {
    /// A hub whose clients each hold at most `client_queue` waiting events
    /// (config `clientQueue`; clamped to 1..=[`WS_CLIENT_QUEUE_MAX`]).
    pub fn new(client_queue: usize) -> Rc<Hub> {
        Rc::new(Hub {
            inner: RefCell::new(Inner {
                slots: Vec::new(),
                by_line: HashMap::new(),
                debug: 0,
                capacity: client_queue.clamp(1, WS_CLIENT_QUEUE_MAX),
                stats: HubStats::default(),
            }),
        })
    }

    /// Subscribes a client to `line`'s events (and its `Raw` events when
    /// `debug`). Events published from now on are queued for it.
    pub fn subscribe(self: &Rc<Self>, line: &str, debug: bool) -> Subscription {
        let mut inner = self.inner.borrow_mut();
        let line: Rc<str> = match inner.by_line.get_key_value(line) {
            Some((l, _)) => l.clone(),
            None => line.into(),
        };
        let slot = Slot {
            line: line.clone(),
            debug,
            queue: VecDeque::new(),
            lagged: false,
            waker: None,
        };
        let index = match inner.slots.iter().position(Option::is_none) {
            Some(i) => {
                inner.slots[i] = Some(slot);
                i
            }
            None => {
                inner.slots.push(Some(slot));
                inner.slots.len() - 1
            }
        };
        inner.by_line.entry(line).or_default().push(index);
        inner.debug += usize::from(debug);
        inner.stats.clients += 1;
        Subscription {
            hub: self.clone(),
            index,
        }
    }

    /// Queues a call-model event frame for every client of `line`. Never
    /// waits: a client whose queue is full is marked lagging instead.
    pub fn publish(&self, line: &str, frame: &str) {
        let mut inner = self.inner.borrow_mut();
        inner.stats.published += 1;
        inner.push(line, frame, false);
    }

    /// Queues a `Raw` event frame (an AMI packet of one of `line`'s
    /// channels) for the clients of `line` in debug mode.
    pub fn publish_raw(&self, line: &str, frame: &str) {
        self.inner.borrow_mut().push(line, frame, true);
    }

    /// True when a client of `line` is in debug mode, so the publisher
    /// renders a `Raw` frame only when someone will receive it.
    pub fn wants_raw(&self, line: &str) -> bool {
        let inner = self.inner.borrow();
        if inner.debug == 0 {
            return false;
        }
        inner.by_line.get(line).is_some_and(|ix| {
            ix.iter()
                .filter_map(|&i| inner.slots[i].as_ref())
                .any(|s| s.debug && !s.lagged)
        })
    }

    /// True when some client is in debug mode: without one, no `Raw` frame
    /// is ever wanted and the publisher need not look at the packet.
    pub fn any_raw(&self) -> bool {
        self.inner.borrow().debug > 0
    }

    /// The hub's counters now.
    pub fn stats(&self) -> HubStats {
        self.inner.borrow().stats
    }

    /// Waiting-event capacity of each client.
    pub fn client_queue(&self) -> usize {
        self.inner.borrow().capacity
    }
}

impl Inner {
    fn push(&mut self, line: &str, frame: &str, raw: bool) {
        if frame.len() > WS_MAX_EVENT {
            self.stats.dropped += 1;
            log::warn!(
                "event of {} bytes for line {line} not sent: larger than {WS_MAX_EVENT} bytes",
                frame.len()
            );
            return;
        }
        let capacity = self.capacity;
        let mut shared: Option<Rc<str>> = None;
        let mut lagged = 0;
        let Some(clients) = self.by_line.get(line) else {
            return;
        };
        for &i in clients {
            let Some(slot) = self.slots[i].as_mut() else {
                continue;
            };
            if slot.lagged || (raw && !slot.debug) {
                continue;
            }
            if slot.queue.len() >= capacity {
                slot.lagged = true;
                slot.queue = VecDeque::new();
                lagged += 1;
            } else {
                let f = shared.get_or_insert_with(|| frame.into());
                slot.queue.push_back(f.clone());
            }
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
        self.stats.lagged += lagged;
    }
}

/// One client's place in the hub; dropping it unsubscribes.
pub struct Subscription {
    hub: Rc<Hub>,
    index: usize,
}

impl Subscription {
    /// Waits for the next event frame, or for the news that the client fell
    /// behind. Cancel-safe: dropping the future loses nothing.
    pub async fn next(&self) -> Next {
        poll_fn(|cx| {
            let mut inner = self.hub.inner.borrow_mut();
            let Some(slot) = inner.slots[self.index].as_mut() else {
                return Poll::Ready(Next::Lagged);
            };
            if slot.lagged {
                return Poll::Ready(Next::Lagged);
            }
            match slot.queue.pop_front() {
                Some(frame) => Poll::Ready(Next::Event(frame)),
                None => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Resolves when the client falls behind (for racing against a write).
    pub async fn lagged(&self) {
        poll_fn(|cx| {
            let mut inner = self.hub.inner.borrow_mut();
            match inner.slots[self.index].as_mut() {
                Some(slot) if !slot.lagged => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(()),
            }
        })
        .await
    }

    /// Turns `Raw` events on or off for this client.
    pub fn set_debug(&self, on: bool) {
        let mut inner = self.hub.inner.borrow_mut();
        let Some(slot) = inner.slots[self.index].as_mut() else {
            return;
        };
        let was = core::mem::replace(&mut slot.debug, on);
        inner.debug = inner.debug + usize::from(on) - usize::from(was);
    }

    /// Whether this client receives `Raw` events.
    pub fn debug(&self) -> bool {
        self.hub.inner.borrow().slots[self.index]
            .as_ref()
            .is_some_and(|s| s.debug)
    }

    /// Events waiting for this client.
    pub fn waiting(&self) -> usize {
        self.hub.inner.borrow().slots[self.index]
            .as_ref()
            .map_or(0, |s| s.queue.len())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut inner = self.hub.inner.borrow_mut();
        if let Some(slot) = inner.slots[self.index].take() {
            inner.debug -= usize::from(slot.debug);
            if let Some(ix) = inner.by_line.get_mut(&*slot.line) {
                ix.retain(|&i| i != self.index);
                if ix.is_empty() {
                    inner.by_line.remove(&*slot.line);
                }
            }
        }
        inner.stats.clients -= 1;
        while inner.slots.last().is_some_and(Option::is_none) {
            inner.slots.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    fn drain(s: &Subscription) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(n) = block_on(poll_once(s.next())) {
            match n {
                Next::Event(f) => out.push(f.to_string()),
                Next::Lagged => {
                    out.push("LAGGED".into());
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn events_reach_the_clients_of_their_line_only() {
        let hub = Hub::new(8);
        let a = hub.subscribe("1000", false);
        let a2 = hub.subscribe("1000", false);
        let b = hub.subscribe("1002", false);
        hub.publish("1000", "e1");
        hub.publish("1002", "e2");
        hub.publish("1000", "e3");
        hub.publish("10000", "e4");
        assert_eq!(drain(&a), ["e1", "e3"]);
        assert_eq!(drain(&a2), ["e1", "e3"]);
        assert_eq!(drain(&b), ["e2"]);
        assert_eq!(hub.stats().published, 4);
    }

    #[test]
    fn raw_events_reach_debug_clients_of_their_line_only() {
        let hub = Hub::new(8);
        let plain = hub.subscribe("1000", false);
        let dbg = hub.subscribe("1000", true);
        let other = hub.subscribe("1002", true);
        hub.publish_raw("1000", "raw1");
        plain.set_debug(true);
        dbg.set_debug(false);
        hub.publish_raw("1000", "raw2");
        assert_eq!(drain(&plain), ["raw2"]);
        assert_eq!(drain(&dbg), ["raw1"]);
        assert!(drain(&other).is_empty());
    }

    #[test]
    fn a_full_queue_marks_only_that_client_lagging() {
        let hub = Hub::new(3);
        let slow = hub.subscribe("1000", false);
        let fast = hub.subscribe("1000", false);
        for i in 0..3 {
            hub.publish("1000", &format!("e{i}"));
            assert_eq!(drain(&fast), [format!("e{i}")]);
        }
        assert_eq!(slow.waiting(), 3);
        hub.publish("1000", "e3");
        assert_eq!(slow.waiting(), 0, "the lagging queue is freed at once");
        assert_eq!(drain(&slow), ["LAGGED"]);
        assert_eq!(drain(&fast), ["e3"]);
        hub.publish("1000", "e4");
        assert_eq!(drain(&slow), ["LAGGED"]);
        assert_eq!(drain(&fast), ["e4"]);
        assert_eq!(hub.stats().lagged, 1);
        assert!(block_on(poll_once(slow.lagged())).is_some());
        assert!(block_on(poll_once(fast.lagged())).is_none());
    }

    #[test]
    fn unsubscribing_frees_the_slot() {
        let hub = Hub::new(4);
        let a = hub.subscribe("1000", false);
        let b = hub.subscribe("1000", false);
        assert_eq!(hub.stats().clients, 2);
        drop(a);
        hub.publish("1000", "x");
        assert_eq!(drain(&b), ["x"]);
        let c = hub.subscribe("1000", false);
        assert_eq!(hub.stats().clients, 2);
        hub.publish("1000", "y");
        assert_eq!(drain(&c), ["y"]);
        drop(b);
        drop(c);
        assert_eq!(hub.stats().clients, 0);
        hub.publish("1000", "z");
    }

    #[test]
    fn raw_is_wanted_only_while_a_client_of_the_line_is_in_debug_mode() {
        let hub = Hub::new(4);
        let a = hub.subscribe("1000", false);
        assert!(!hub.any_raw());
        let b = hub.subscribe("1000", true);
        assert!(hub.any_raw() && hub.wants_raw("1000") && !hub.wants_raw("1002"));
        b.set_debug(false);
        assert!(!hub.any_raw() && !hub.wants_raw("1000"));
        a.set_debug(true);
        a.set_debug(true);
        assert!(hub.wants_raw("1000"));
        drop(a);
        assert!(!hub.any_raw() && !hub.wants_raw("1000"));
        drop(b);
        hub.publish("1000", "nobody");
    }

    #[test]
    fn oversized_events_are_dropped_and_counted() {
        let hub = Hub::new(4);
        let a = hub.subscribe("1000", false);
        hub.publish("1000", &"x".repeat(WS_MAX_EVENT + 1));
        assert!(drain(&a).is_empty());
        assert_eq!(hub.stats().dropped, 1);
    }

    #[test]
    fn a_waiting_client_is_woken_by_a_publish() {
        let hub = Hub::new(4);
        let a = hub.subscribe("1000", false);
        let mut next = Box::pin(a.next());
        assert!(block_on(poll_once(next.as_mut())).is_none());
        hub.publish("1000", "wake");
        assert_eq!(block_on(next), Next::Event("wake".into()));
    }
}
