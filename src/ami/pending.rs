//! The fixed-capacity table of actions waiting for Asterisk's answer.
//!
//! Pure: no socket, no clock. Every entry has a deadline computed from the
//! `now` its caller passed; [`PendingTable::expire`] gives back the ones whose
//! deadline has passed, and [`PendingTable::next_deadline`] says when to look
//! again. Answers are matched by `ActionID`, which the session writes as
//! `<prefix>-<sequence>`.

use super::action::{bounded, error_text, ActionError, Expect, OwnedPacket, Reply};
use super::message::{Kind, Packet};
use crate::limits;
use std::time::{Duration, Instant};

/// How far an entry has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the `Response:`.
    Response,
    /// Collecting list items until the closing event.
    Listing,
    /// Got `Response: Success`, waiting for the named event.
    Event(&'static str),
}

/// One action waiting for its answer.
#[derive(Debug)]
struct Entry<W> {
    seq: u64,
    deadline: Instant,
    /// How long the deadline moves on when a list item arrives.
    timeout: Duration,
    expect: Expect,
    /// List items are handed back as [`Routed::ListItem`] instead of kept.
    items_to_caller: bool,
    stage: Stage,
    response: Option<OwnedPacket>,
    event: Option<OwnedPacket>,
    items: Vec<OwnedPacket>,
    item_bytes: usize,
    items_dropped: u32,
    /// Items seen (kept, dropped or handed back).
    items_seen: u32,
    waiter: W,
}

/// What a packet meant to the table.
#[derive(Debug)]
pub enum Routed<W> {
    /// Not an answer to anything we sent: an ordinary event (or a response
    /// without our ActionID). Events go to the sink.
    NotOurs,
    /// A response or event carrying one of our ActionIDs whose action is no
    /// longer waiting (it timed out or its connection ended): dropped.
    Late,
    /// Taken by a waiting action (response stored, item collected).
    Taken,
    /// An item of a list whose items are not collected (see
    /// [`PendingTable::insert`] with `collect_items = false`); the caller
    /// passes it on.
    ListItem,
    /// The action is answered: its waiter and result. `items_seen` counts
    /// the list items, including those not collected.
    Done {
        /// Whoever waits.
        waiter: W,
        /// The reply or the refusal.
        result: Result<Reply, ActionError>,
        /// List items seen.
        items_seen: u32,
    },
}

/// A fixed-capacity table of waiting actions, matched by ActionID.
#[derive(Debug)]
pub struct PendingTable<W> {
    entries: heapless::Vec<Entry<W>, { limits::AMI_MAX_PENDING_ACTIONS }>,
    prefix: heapless::String<32>,
    next_seq: u64,
    late: u64,
    items_dropped: u64,
}

impl<W> PendingTable<W> {
    /// An empty table whose ActionIDs start with `prefix` and a dash.
    pub fn new(prefix: &str) -> PendingTable<W> {
        PendingTable {
            entries: heapless::Vec::new(),
            prefix: bounded(prefix),
            next_seq: 1,
            late: 0,
            items_dropped: 0,
        }
    }

    /// Number of waiting actions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when no further action can wait.
    pub fn is_full(&self) -> bool {
        self.entries.is_full()
    }

    /// Answers that came after their action had stopped waiting.
    pub fn late_answers(&self) -> u64 {
        self.late
    }

    /// List items dropped at the list limits, over all actions.
    pub fn items_dropped(&self) -> u64 {
        self.items_dropped
    }

    /// The ActionID of sequence number `seq`.
    pub fn action_id(&self, seq: u64) -> heapless::String<64> {
        use core::fmt::Write;
        let mut s = heapless::String::new();
        let _ = write!(s, "{}-{}", self.prefix, seq);
        s
    }

    /// Registers an action that waits until `deadline`, and returns its
    /// sequence number (for [`PendingTable::action_id`]). Sequence numbers
    /// are never reused, so an answer from an old connection cannot match a
    /// new action.
    ///
    /// `collect_items = false` hands list items back as
    /// [`Routed::ListItem`] (the session's own resync) instead of keeping them.
    ///
    /// # Errors
    /// [`ActionError::TooManyPending`] when the table is full; the waiter is
    /// given back.
    pub fn insert(
        &mut self,
        now: Instant,
        timeout: Duration,
        expect: Expect,
        collect_items: bool,
        waiter: W,
    ) -> Result<u64, (ActionError, W)> {
        if self.entries.is_full() {
            return Err((ActionError::TooManyPending, waiter));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            seq,
            deadline: now + timeout,
            timeout,
            expect,
            items_to_caller: !collect_items,
            stage: Stage::Response,
            response: None,
            event: None,
            items: Vec::new(),
            item_bytes: 0,
            items_dropped: 0,
            items_seen: 0,
            waiter,
        };
        if let Err(e) = self.entries.push(entry) {
            return Err((ActionError::TooManyPending, e.waiter));
        }
        Ok(seq)
    }

    /// Takes back the action `seq` (it could not be sent after all).
    pub fn cancel(&mut self, seq: u64) -> Option<W> {
        let i = self.entries.iter().position(|e| e.seq == seq)?;
        Some(self.entries.swap_remove(i).waiter)
    }

    /// The earliest deadline, if anything waits.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.deadline).min()
    }

    /// Moves the deadline of action `seq` to `deadline` if that is later.
    pub fn postpone(&mut self, seq: u64, deadline: Instant) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.seq == seq) {
            e.deadline = e.deadline.max(deadline);
        }
    }

    /// Removes one action whose deadline is at or before `now` and returns
    /// its waiter; call until `None`.
    pub fn expire(&mut self, now: Instant) -> Option<W> {
        let i = self.entries.iter().position(|e| e.deadline <= now)?;
        Some(self.entries.swap_remove(i).waiter)
    }

    /// Removes every action (the connection ended) and returns the waiters,
    /// oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = W> {
        let mut all = core::mem::take(&mut self.entries);
        all.sort_unstable_by_key(|e| e.seq);
        all.into_iter().map(|e| e.waiter)
    }

    fn our_seq(&self, action_id: &str) -> Option<u64> {
        let rest = action_id.strip_prefix(self.prefix.as_str())?;
        rest.strip_prefix('-')?.parse().ok()
    }

    /// Matches `packet` against the waiting actions.
    pub fn route(&mut self, now: Instant, packet: &Packet<'_>) -> Routed<W> {
        let Some(seq) = packet.get("ActionID").and_then(|id| self.our_seq(id)) else {
            return Routed::NotOurs;
        };
        let Some(i) = self.entries.iter().position(|e| e.seq == seq) else {
            // The answer, list item or OriginateResponse of an action that
            // timed out or belonged to an earlier connection: nobody waits.
            self.late += 1;
            return Routed::Late;
        };
        match packet.kind() {
            Kind::Response(status) => self.on_response(i, status, packet),
            Kind::Event(name) => self.on_event(i, now, name, packet),
            _ => Routed::NotOurs,
        }
    }

    fn finish(&mut self, i: usize, result: Result<(), ActionError>) -> Routed<W> {
        let e = self.entries.swap_remove(i);
        let items_seen = e.items_seen;
        let result = match (result, e.response) {
            (Err(err), _) => Err(err),
            (Ok(()), Some(response)) => Ok(Reply {
                response,
                event: e.event,
                items: e.items,
                items_dropped: e.items_dropped,
            }),
            // Finished by an event before any response: not reachable
            // through `route`, kept total for safety.
            (Ok(()), None) => Err(ActionError::ConnectionLost),
        };
        Routed::Done {
            waiter: e.waiter,
            result,
            items_seen,
        }
    }

    fn on_response(&mut self, i: usize, status: &str, packet: &Packet<'_>) -> Routed<W> {
        let e = &mut self.entries[i];
        if e.stage != Stage::Response {
            // A second response for one ActionID: ignore it.
            self.late += 1;
            return Routed::Late;
        }
        if status.eq_ignore_ascii_case("Error") {
            let message = error_text(
                packet.get("Message").unwrap_or("(no message)"),
                limits::AMI_ERROR_MESSAGE_MAX,
            );
            return self.finish(i, Err(ActionError::Refused { message }));
        }
        e.response = Some(OwnedPacket::new(packet));
        let opens_list = packet
            .get("EventList")
            .is_some_and(|v| v.eq_ignore_ascii_case("start"));
        match e.expect {
            Expect::List => {
                e.stage = Stage::Listing;
                Routed::Taken
            }
            _ if opens_list => {
                e.stage = Stage::Listing;
                Routed::Taken
            }
            Expect::ResponseThenEvent(name) if status.eq_ignore_ascii_case("Success") => {
                if e.event.is_some() {
                    self.finish(i, Ok(()))
                } else {
                    e.stage = Stage::Event(name);
                    Routed::Taken
                }
            }
            _ => self.finish(i, Ok(())),
        }
    }

    fn on_event(&mut self, i: usize, now: Instant, name: &str, packet: &Packet<'_>) -> Routed<W> {
        let e = &mut self.entries[i];
        match (e.stage, e.expect) {
            (Stage::Listing, _) | (Stage::Response, Expect::List) => {
                let ends = packet
                    .get("EventList")
                    .is_some_and(|v| v.eq_ignore_ascii_case("Complete"))
                    || name.ends_with("Complete");
                if ends {
                    if e.response.is_none() {
                        e.response = Some(OwnedPacket::new(packet));
                    }
                    return self.finish(i, Ok(()));
                }
                e.deadline = now + e.timeout;
                e.items_seen = e.items_seen.saturating_add(1);
                if e.items_to_caller {
                    return Routed::ListItem;
                }
                let size = packet.raw().len();
                if e.items.len() < limits::AMI_MAX_LIST_ITEMS
                    && e.item_bytes + size <= limits::AMI_MAX_LIST_BYTES
                {
                    e.items.push(OwnedPacket::new(packet));
                    e.item_bytes += size;
                } else {
                    e.items_dropped += 1;
                    self.items_dropped += 1;
                }
                Routed::Taken
            }
            (Stage::Event(want), _) if name.eq_ignore_ascii_case(want) => {
                e.event = Some(OwnedPacket::new(packet));
                self.finish(i, Ok(()))
            }
            (Stage::Response, Expect::ResponseThenEvent(want))
                if name.eq_ignore_ascii_case(want) =>
            {
                // The event came first; the response will complete it.
                e.event = Some(OwnedPacket::new(packet));
                Routed::Taken
            }
            _ => Routed::NotOurs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::codec::{Decoder, Item, Limits};

    /// Decodes `text` (LF line ends are fine) and routes every packet.
    fn route_all(t: &mut PendingTable<u32>, now: Instant, text: &str) -> Vec<Routed<u32>> {
        let mut dec = Decoder::new(Limits::default());
        dec.feed(text.as_bytes());
        let mut out = Vec::new();
        while let Some(Item::Packet(p)) = dec.next_item() {
            out.push(t.route(now, &p));
        }
        out
    }

    fn done(r: &Routed<u32>) -> (&u32, &Result<Reply, ActionError>) {
        match r {
            Routed::Done { waiter, result, .. } => (waiter, result),
            other => panic!("not done: {other:?}"),
        }
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn response_with_our_action_id_completes_the_action() {
        let now = Instant::now();
        let mut t = PendingTable::new("ctib-ab");
        let seq = t.insert(now, T, Expect::Response, true, 7).unwrap();
        assert_eq!(t.action_id(seq).as_str(), "ctib-ab-1");
        let r = route_all(
            &mut t,
            now,
            "Response: Success\nActionID: ctib-ab-1\nPing: Pong\n\n",
        );
        let (w, res) = done(&r[0]);
        assert_eq!(*w, 7);
        assert_eq!(res.as_ref().unwrap().get("Ping"), Some("Pong"));
        assert!(t.is_empty());
    }

    #[test]
    fn error_response_is_a_refusal_with_the_message() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::Response, true, 1).unwrap();
        let r = route_all(
            &mut t,
            now,
            "Response: Error\nActionID: p-1\nMessage: No such channel\n\n",
        );
        let (_, res) = done(&r[0]);
        match res {
            Err(ActionError::Refused { message }) => {
                assert_eq!(&**message, "No such channel")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn foreign_and_missing_action_ids_are_not_ours() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::Response, true, 1).unwrap();
        let r = route_all(
            &mut t,
            now,
            "Response: Success\nActionID: orig-1\n\nEvent: Hangup\n\nResponse: Success\nActionID: p-x\n\n",
        );
        assert!(r.iter().all(|r| matches!(r, Routed::NotOurs)), "{r:?}");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn an_answer_after_the_deadline_is_late() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::Response, true, 1).unwrap();
        assert_eq!(t.next_deadline(), Some(now + T));
        assert_eq!(t.expire(now + T - Duration::from_millis(1)), None);
        assert_eq!(t.expire(now + T), Some(1));
        let r = route_all(
            &mut t,
            now,
            "Response: Success\nActionID: p-1\n\nEvent: QueueMember\nActionID: p-1\n\n",
        );
        assert!(matches!(r[0], Routed::Late));
        assert!(
            matches!(r[1], Routed::Late),
            "a late list item is dropped too"
        );
        assert_eq!(t.late_answers(), 2);
    }

    #[test]
    fn list_collects_items_until_complete() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::List, true, 3).unwrap();
        let r = route_all(
            &mut t,
            now,
            "Response: Success\nActionID: p-1\nEventList: start\nMessage: Channels will follow\n\n\
             Event: CoreShowChannel\nActionID: p-1\nChannel: PJSIP/1000-00000000\n\n\
             Event: Newchannel\nChannel: PJSIP/1006-00000002\n\n\
             Event: CoreShowChannel\nActionID: p-1\nChannel: PJSIP/1002-00000001\n\n\
             Event: CoreShowChannelsComplete\nActionID: p-1\nEventList: Complete\nListItems: 2\n\n",
        );
        assert!(matches!(r[0], Routed::Taken));
        assert!(matches!(r[1], Routed::Taken));
        assert!(matches!(r[2], Routed::NotOurs), "an unrelated event passes");
        let (w, res) = done(&r[4]);
        assert_eq!(*w, 3);
        let reply = res.as_ref().unwrap();
        let chans: Vec<_> = reply
            .items()
            .map(|p| p.get("Channel").unwrap().to_owned())
            .collect();
        assert_eq!(chans, ["PJSIP/1000-00000000", "PJSIP/1002-00000001"]);
        assert_eq!(reply.message(), Some("Channels will follow"));
    }

    #[test]
    fn a_response_opening_a_list_is_collected_even_without_asking() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::Response, true, 1).unwrap();
        let r = route_all(
            &mut t,
            now,
            "Response: Success\nActionID: p-1\nEventList: start\n\n\
             Event: QueueParams\nActionID: p-1\nQueue: support\n\n\
             Event: QueueStatusComplete\nActionID: p-1\nEventList: Complete\nListItems: 1\n\n",
        );
        let (_, res) = done(&r[2]);
        assert_eq!(res.as_ref().unwrap().item_count(), 1);
    }

    #[test]
    fn asterisk_11_list_without_eventlist_ends_at_its_complete_event() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::List, true, 1).unwrap();
        let r = route_all(
            &mut t,
            now,
            "Response: Success\nActionID: p-1\nMessage: Queue status will follow\n\n\
             Event: QueueParams\nActionID: p-1\n\n\
             Event: QueueStatusComplete\nActionID: p-1\n\n",
        );
        let (_, res) = done(&r[2]);
        assert_eq!(res.as_ref().unwrap().item_count(), 1);
    }

    #[test]
    fn items_not_collected_are_handed_back_and_counted() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::List, false, 1).unwrap();
        let r = route_all(
            &mut t,
            now,
            "Response: Success\nActionID: p-1\nEventList: start\n\n\
             Event: CoreShowChannel\nActionID: p-1\n\n\
             Event: CoreShowChannel\nActionID: p-1\n\n\
             Event: CoreShowChannelsComplete\nActionID: p-1\nEventList: Complete\n\n",
        );
        assert!(matches!(r[1], Routed::ListItem));
        assert!(matches!(r[2], Routed::ListItem));
        match &r[3] {
            Routed::Done {
                items_seen, result, ..
            } => {
                assert_eq!(*items_seen, 2);
                assert_eq!(result.as_ref().unwrap().item_count(), 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn list_items_move_the_deadline_on() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::List, true, 1).unwrap();
        let later = now + Duration::from_secs(4);
        route_all(
            &mut t,
            later,
            "Response: Success\nActionID: p-1\nEventList: start\n\nEvent: X\nActionID: p-1\n\n",
        );
        assert_eq!(t.next_deadline(), Some(later + T));
    }

    #[test]
    fn list_beyond_the_item_limit_drops_and_counts() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(now, T, Expect::List, true, 1).unwrap();
        let mut text = String::from("Response: Success\nActionID: p-1\nEventList: start\n\n");
        for _ in 0..limits::AMI_MAX_LIST_ITEMS + 3 {
            text.push_str("Event: Item\nActionID: p-1\n\n");
        }
        text.push_str("Event: ItemComplete\nActionID: p-1\nEventList: Complete\n\n");
        let r = route_all(&mut t, now, &text);
        let (_, res) = done(r.last().unwrap());
        let reply = res.as_ref().unwrap();
        assert_eq!(reply.item_count(), limits::AMI_MAX_LIST_ITEMS);
        assert_eq!(reply.items_dropped(), 3);
        assert_eq!(t.items_dropped(), 3);
    }

    #[test]
    fn originate_waits_for_its_originate_response_event() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(
            now,
            T,
            Expect::ResponseThenEvent("OriginateResponse"),
            true,
            1,
        )
        .unwrap();
        let r = route_all(
            &mut t,
            now,
            "Response: Success\nActionID: p-1\nMessage: Originate successfully queued\n\n\
             Event: OriginateResponse\nActionID: p-1\nResponse: Success\nReason: 4\nUniqueid: 1.8\n\n",
        );
        assert!(matches!(r[0], Routed::Taken));
        let (_, res) = done(&r[1]);
        let ev = res.as_ref().unwrap().event().unwrap();
        assert_eq!(ev.get("Reason"), Some("4"));
        assert_eq!(ev.get("Uniqueid"), Some("1.8"));
    }

    #[test]
    fn originate_response_before_the_response_still_completes() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        t.insert(
            now,
            T,
            Expect::ResponseThenEvent("OriginateResponse"),
            true,
            1,
        )
        .unwrap();
        let r = route_all(
            &mut t,
            now,
            "Event: OriginateResponse\nActionID: p-1\nResponse: Failure\nReason: 3\n\n\
             Response: Success\nActionID: p-1\n\n",
        );
        assert!(matches!(r[0], Routed::Taken));
        let (_, res) = done(&r[1]);
        assert_eq!(
            res.as_ref().unwrap().event().unwrap().get("Reason"),
            Some("3")
        );
    }

    #[test]
    fn the_table_is_fixed_capacity_and_never_reuses_ids() {
        let now = Instant::now();
        let mut t = PendingTable::new("p");
        for i in 0..limits::AMI_MAX_PENDING_ACTIONS as u32 {
            t.insert(now, T, Expect::Response, true, i).unwrap();
        }
        assert!(t.is_full());
        match t.insert(now, T, Expect::Response, true, 99) {
            Err((ActionError::TooManyPending, 99)) => {}
            other => panic!("{other:?}"),
        }
        let drained: Vec<_> = t.drain().collect();
        assert_eq!(drained.len(), limits::AMI_MAX_PENDING_ACTIONS);
        let seq = t.insert(now, T, Expect::Response, true, 0).unwrap();
        assert_eq!(seq, limits::AMI_MAX_PENDING_ACTIONS as u64 + 1);
    }
}
