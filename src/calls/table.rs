//! Fixed-capacity storage for the tracker: the channel table and the bridge
//! table, each with open-addressing indexes, all allocated once.

use super::model::{fixed, set_str, CallId, Direction, HoldBy, Line, Name, Number};
use crate::limits::{BRIDGE_ID_MAX, BRIDGE_MEMBERS, CHANNEL_NAME_MAX, INFO_VALUE_MAX};
use heapless::{String, Vec};

/// "No slot".
pub(crate) const NONE: u32 = u32::MAX;

/// A channel name.
pub(crate) type ChanName = String<CHANNEL_NAME_MAX>;
/// A bridge id.
pub(crate) type BridgeId = String<BRIDGE_ID_MAX>;

/// FNV-1a, 32 bits: short keys, no attacker-chosen table sizes.
pub(crate) fn hash(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `s` as the fixed-capacity copy would keep it, so lookups of long keys
/// compare what was stored.
fn cut(s: &str, n: usize) -> &str {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[derive(Clone, Copy)]
struct Entry {
    hash: u32,
    slot: u32,
}

const EMPTY: Entry = Entry {
    hash: 0,
    slot: NONE,
};

/// Open addressing with linear probing and backward-shift deletion; twice as
/// many entries as the table has slots, so a probe always ends.
pub(crate) struct Index {
    entries: Box<[Entry]>,
    mask: usize,
}

impl Index {
    pub fn with_capacity(slots: usize) -> Index {
        let size = (slots.max(4) * 2).next_power_of_two();
        Index {
            entries: vec![EMPTY; size].into_boxed_slice(),
            mask: size - 1,
        }
    }

    pub fn find(&self, hash: u32, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = hash as usize & self.mask;
        loop {
            let e = self.entries[i];
            if e.slot == NONE {
                return None;
            }
            if e.hash == hash && eq(e.slot) {
                return Some(e.slot);
            }
            i = (i + 1) & self.mask;
        }
    }

    pub fn insert(&mut self, hash: u32, slot: u32) {
        let mut i = hash as usize & self.mask;
        while self.entries[i].slot != NONE {
            i = (i + 1) & self.mask;
        }
        self.entries[i] = Entry { hash, slot };
    }

    pub fn remove(&mut self, hash: u32, slot: u32) {
        let mut i = hash as usize & self.mask;
        loop {
            let e = self.entries[i];
            if e.slot == NONE {
                return;
            }
            if e.slot == slot {
                break;
            }
            i = (i + 1) & self.mask;
        }
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let e = self.entries[j];
            if e.slot == NONE {
                break;
            }
            let ideal = e.hash as usize & self.mask;
            if hole.wrapping_sub(ideal) & self.mask <= j.wrapping_sub(ideal) & self.mask {
                self.entries[hole] = e;
                hole = j;
            }
        }
        self.entries[hole] = EMPTY;
    }
}

/// Where a line call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Phase {
    /// Not shown to clients (yet).
    #[default]
    Idle,
    /// First leg of an Originate whose number is not known yet.
    Pending,
    /// `RingStarted` sent.
    Started,
    /// `RingFinished` sent.
    Finished,
}

/// How a `Dial` of (or by) this channel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum DialStatus {
    #[default]
    None,
    Answer,
    Busy,
    NoAnswer,
    Cancel,
    Failed,
}

impl DialStatus {
    pub fn parse(s: &str) -> DialStatus {
        match s.trim() {
            "ANSWER" => DialStatus::Answer,
            "BUSY" => DialStatus::Busy,
            "NOANSWER" => DialStatus::NoAnswer,
            "CANCEL" => DialStatus::Cancel,
            "CONGESTION" | "CHANUNAVAIL" | "INVALIDARGS" => DialStatus::Failed,
            _ => DialStatus::None,
        }
    }
}

/// The call-model state of a line's channel.
#[derive(Debug, Clone, Default)]
pub(crate) struct Call {
    pub phase: Phase,
    /// The call id: the Uniqueid when the call started (kept across an
    /// Asterisk 11 masquerade).
    pub id: CallId,
    pub direction: Option<Direction>,
    /// The party of `RingStarted` (updated by `CallerChanged`).
    pub number: Number,
    pub name: Name,
    /// The party of the last `CommutationStarted`.
    pub party_num: Number,
    pub party_name: Name,
    pub commutated: bool,
    pub hold: Option<HoldBy>,
    pub dial_status: DialStatus,
    pub transferred: bool,
    /// Was the destination of a dial (so an incoming call).
    pub dialled: bool,
    /// Found by a resync, not by live events.
    pub resync_found: bool,
    /// Resync: the application suggests this direction.
    pub resync_dir: Option<Direction>,
}

/// One tracked channel.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chan {
    pub used: bool,
    /// Bumped each time the slot is reused, so stale references are seen.
    pub gen: u32,
    pub uid: CallId,
    pub name: ChanName,
    /// The line, empty for channels that are not a line's device.
    pub line: Line,
    /// 1 or 2 for Local channel halves, 0 otherwise.
    pub local: u8,
    pub state: u8,
    pub initial_state: u8,
    pub cnum: Number,
    pub cname: Name,
    pub clnum: Number,
    pub clname: Name,
    /// The dialled extension while the call had not started.
    pub exten: Number,
    pub bridge: u32,
    pub pair: u32,
    /// Last channel this one dialled (Asterisk 11 `Dial End` has no dest).
    pub dial_dest: u32,
    pub dial_dest_gen: u32,
    /// Originate hint (`Tracker::expect_originate`).
    pub hint: Option<Number>,
    /// Resync epoch in which the channel was last listed or created.
    pub seen: u32,
    /// Rung by a queue (`AgentCalled`), directly or through Local channels
    /// dialled from such a leg.
    pub queue_leg: bool,
    /// The parking space while the channel is parked (`ParkedCall`).
    pub park_space: String<PARK_SPACE_MAX>,
    pub call: Call,
}

/// Longest parking space kept; a longer one is not kept at all (a cut
/// space would retrieve the wrong call).
pub(crate) const PARK_SPACE_MAX: usize = 16;

/// A `packetInfoConfig` value kept for a call.
pub(crate) type InfoValue = Option<String<INFO_VALUE_MAX>>;

/// The channel table: slots, a free list and two indexes.
///
/// All memory is reserved at once; the slots are written (and so become
/// resident) only when first used: the free list hands out the lowest
/// slots first, so a table of 4096 channels that never holds more than 50
/// costs the memory of 50.
pub(crate) struct ChanTable {
    /// Reserved for `capacity`; grows (never reallocating) up to the
    /// highest slot used so far.
    slots: std::vec::Vec<Chan>,
    capacity: usize,
    free: std::vec::Vec<u32>,
    by_uid: Index,
    by_name: Index,
    used: usize,
    /// The `packetInfoConfig` values of the calls, `info_keys` per slot,
    /// outside the slots so that a config without keys pays nothing.
    info: std::vec::Vec<InfoValue>,
    info_keys: usize,
}

impl ChanTable {
    /// A table of `capacity` channels, each keeping `info_keys` info values.
    pub fn new(capacity: usize, info_keys: usize) -> ChanTable {
        ChanTable {
            slots: std::vec::Vec::with_capacity(capacity),
            capacity,
            free: (0..capacity as u32).rev().collect(),
            by_uid: Index::with_capacity(capacity),
            by_name: Index::with_capacity(capacity),
            used: 0,
            info: std::vec::Vec::with_capacity(capacity * info_keys),
            info_keys,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Slots written so far: every used slot is below this (loop over
    /// `0..touched()` rather than the capacity).
    pub fn touched(&self) -> usize {
        self.slots.len()
    }

    /// The info values of the call on `slot` (one per info key).
    pub fn info(&self, slot: u32) -> &[InfoValue] {
        let at = slot as usize * self.info_keys;
        self.info.get(at..at + self.info_keys).unwrap_or(&[])
    }

    /// Sets info value `key` of the call on `slot`.
    pub fn set_info(&mut self, slot: u32, key: usize, value: &str) {
        if key < self.info_keys {
            self.info[slot as usize * self.info_keys + key] = Some(super::model::fixed(value));
        }
    }

    /// Moves the info values of the call on `from` to `to` (the call moved).
    pub fn move_info(&mut self, from: u32, to: u32) {
        let k = self.info_keys;
        for i in 0..k {
            let v = self.info[from as usize * k + i].take();
            self.info[to as usize * k + i] = v;
        }
    }

    pub fn used(&self) -> usize {
        self.used
    }

    pub fn get(&self, slot: u32) -> &Chan {
        &self.slots[slot as usize]
    }

    pub fn get_mut(&mut self, slot: u32) -> &mut Chan {
        &mut self.slots[slot as usize]
    }

    /// Two different slots at once.
    pub fn pair_mut(&mut self, a: u32, b: u32) -> (&mut Chan, &mut Chan) {
        assert_ne!(a, b, "pair_mut on one slot");
        let (a, b) = (a as usize, b as usize);
        if a < b {
            let (x, y) = self.slots.split_at_mut(b);
            (&mut x[a], &mut y[0])
        } else {
            let (x, y) = self.slots.split_at_mut(a);
            (&mut y[0], &mut x[b])
        }
    }

    pub fn find_uid(&self, uid: &str) -> Option<u32> {
        if uid.is_empty() {
            return None;
        }
        let key = cut(uid, crate::limits::UNIQUEID_MAX);
        self.by_uid
            .find(hash(key), |s| self.slots[s as usize].uid == key)
    }

    pub fn find_name(&self, name: &str) -> Option<u32> {
        if name.is_empty() {
            return None;
        }
        let key = cut(name, CHANNEL_NAME_MAX);
        self.by_name
            .find(hash(key), |s| self.slots[s as usize].name == key)
    }

    /// A fresh slot for `uid`, or `None` when the table is full.
    pub fn alloc(&mut self, uid: &str, name: &str) -> Option<u32> {
        let slot = self.free.pop()?;
        while self.slots.len() <= slot as usize {
            self.slots.push(Chan::default());
        }
        let k = self.info_keys;
        let at = slot as usize * k;
        if self.info.len() < at + k {
            self.info.resize(at + k, None);
        }
        self.info[at..at + k].fill(None);
        let c = &mut self.slots[slot as usize];
        let gen = c.gen.wrapping_add(1);
        *c = Chan::default();
        c.used = true;
        c.gen = gen;
        c.bridge = NONE;
        c.pair = NONE;
        c.dial_dest = NONE;
        set_str(&mut c.uid, uid);
        set_str(&mut c.name, name);
        self.by_uid.insert(hash(&c.uid), slot);
        if !c.name.is_empty() {
            self.by_name.insert(hash(&c.name), slot);
        }
        self.used += 1;
        Some(slot)
    }

    /// Frees a slot (its indexes too). The caller unlinks bridges and pairs.
    pub fn release(&mut self, slot: u32) {
        let c = &mut self.slots[slot as usize];
        if !c.used {
            return;
        }
        c.used = false;
        self.by_uid.remove(hash(&c.uid), slot);
        if !c.name.is_empty() {
            self.by_name.remove(hash(&c.name), slot);
        }
        self.free.push(slot);
        self.used -= 1;
    }

    pub fn rename(&mut self, slot: u32, name: &str) {
        let c = &mut self.slots[slot as usize];
        if !c.name.is_empty() {
            self.by_name.remove(hash(&c.name), slot);
        }
        set_str(&mut c.name, name);
        if !c.name.is_empty() {
            self.by_name.insert(hash(&c.name), slot);
        }
    }

    /// The used slots, in slot order.
    pub fn used_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, c)| c.used)
            .map(|(i, _)| i as u32)
    }
}

/// What a bridge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum BridgeKind {
    /// Channels talk (basic, confbridge, Asterisk 11 core bridges).
    #[default]
    Talk,
    /// Parking lots and holding bridges: nobody talks.
    Holding,
}

impl BridgeKind {
    pub fn of(bridge_type: Option<&str>) -> BridgeKind {
        match bridge_type.map(str::trim) {
            Some(t) if t.eq_ignore_ascii_case("parking") || t.eq_ignore_ascii_case("holding") => {
                BridgeKind::Holding
            }
            _ => BridgeKind::Talk,
        }
    }
}

/// One bridge: who is in it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bridge {
    pub used: bool,
    pub id: BridgeId,
    pub kind: BridgeKind,
    pub members: Vec<u32, BRIDGE_MEMBERS>,
}

/// The bridge table.
pub(crate) struct BridgeTable {
    slots: std::vec::Vec<Bridge>,
    capacity: usize,
    free: std::vec::Vec<u32>,
    by_id: Index,
    used: usize,
}

impl BridgeTable {
    /// Like the channel table: reserved at once, slots written on first use.
    pub fn new(capacity: usize) -> BridgeTable {
        BridgeTable {
            slots: std::vec::Vec::with_capacity(capacity),
            capacity,
            free: (0..capacity as u32).rev().collect(),
            by_id: Index::with_capacity(capacity),
            used: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Slots written so far: every used slot is below this.
    pub fn touched(&self) -> usize {
        self.slots.len()
    }

    pub fn used(&self) -> usize {
        self.used
    }

    pub fn get(&self, slot: u32) -> &Bridge {
        &self.slots[slot as usize]
    }

    pub fn get_mut(&mut self, slot: u32) -> &mut Bridge {
        &mut self.slots[slot as usize]
    }

    pub fn find(&self, id: &str) -> Option<u32> {
        if id.is_empty() {
            return None;
        }
        let key = cut(id, BRIDGE_ID_MAX);
        self.by_id
            .find(hash(key), |s| self.slots[s as usize].id == key)
    }

    pub fn alloc(&mut self, id: &str, kind: BridgeKind) -> Option<u32> {
        let slot = self.free.pop()?;
        while self.slots.len() <= slot as usize {
            self.slots.push(Bridge::default());
        }
        let b = &mut self.slots[slot as usize];
        *b = Bridge {
            used: true,
            id: fixed(id),
            kind,
            members: Vec::new(),
        };
        self.by_id.insert(hash(&b.id), slot);
        self.used += 1;
        Some(slot)
    }

    pub fn release(&mut self, slot: u32) {
        let b = &mut self.slots[slot as usize];
        if !b.used {
            return;
        }
        b.used = false;
        b.members.clear();
        self.by_id.remove(hash(&b.id), slot);
        self.free.push(slot);
        self.used -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_survives_removals_in_colliding_runs() {
        let mut t = ChanTable::new(64, 0);
        let mut slots = std::vec::Vec::new();
        for i in 0..64 {
            let uid = format!("1795422529.{i}");
            slots.push((uid.clone(), t.alloc(&uid, &format!("PJSIP/1-{i}")).unwrap()));
        }
        assert!(t.alloc("x", "y").is_none(), "full table refuses");
        for (uid, s) in slots.iter().step_by(3) {
            t.release(*s);
            assert_eq!(t.find_uid(uid), None);
        }
        for (i, (uid, s)) in slots.iter().enumerate() {
            if i % 3 != 0 {
                assert_eq!(t.find_uid(uid), Some(*s), "{uid}");
                assert_eq!(t.find_name(&format!("PJSIP/1-{i}")), Some(*s));
            }
        }
        assert_eq!(t.used(), 64 - 22);
    }

    #[test]
    fn rename_moves_the_name_index() {
        let mut t = ChanTable::new(4, 0);
        let s = t.alloc("1.1", "Local/a;1").unwrap();
        t.rename(s, "SIP/ddddd-00000000");
        assert_eq!(t.find_name("Local/a;1"), None);
        assert_eq!(t.find_name("SIP/ddddd-00000000"), Some(s));
    }

    #[test]
    fn long_uniqueids_are_found_by_their_kept_prefix() {
        let mut t = ChanTable::new(4, 0);
        let long = "x".repeat(100);
        let s = t.alloc(&long, "").unwrap();
        assert_eq!(t.find_uid(&long), Some(s));
    }

    #[test]
    fn bridge_kind_from_type() {
        assert_eq!(BridgeKind::of(Some("parking")), BridgeKind::Holding);
        assert_eq!(BridgeKind::of(Some("basic")), BridgeKind::Talk);
        assert_eq!(BridgeKind::of(None), BridgeKind::Talk);
    }
}
