//! The call tracker: AMI events in, the call model of PROTOCOL.md out.
//!
//! A pure state machine: no socket, no clock. The AMI session (or a replay)
//! hands it one packet at a time; it answers with call-model events.

use super::fields::{Fields, Snap};
use super::model::{
    fixed, set_str, CallEvent, CallId, Direction, EventKind, HoldBy, InfoJson, Line, Name, Number,
    Reason, TransferKind,
};
use super::names::{self, QueueFormat};
use super::queues::QueueStates;
use super::table::{
    hash, BridgeId, BridgeKind, BridgeTable, ChanName, ChanTable, DialStatus, Phase, NONE,
    PARK_SPACE_MAX,
};
use crate::ami::Packet;
use crate::config::QUEUE_FORMAT_MAX;
use crate::json;
use crate::limits;
use heapless::{Deque, String, Vec};

type Out<'o> = &'o mut dyn FnMut(CallEvent);

/// What the tracker needs from the config. The lead maps `config` onto it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerOptions {
    /// Channel technology of the users' phones: `PJSIP/` or `SIP/`
    /// (config `protocol`).
    pub protocol: String<16>,
    /// Queue member interface of a line, `{0}` (or `{line}`) standing for the
    /// line (config `queueExtensionFormat`, default `Local/{0}@from-queue/n`).
    pub queue_extension_format: String<{ QUEUE_FORMAT_MAX }>,
    /// Also start an incoming call at `Newstate` Ringing of the line's
    /// channel, not only at `DialBegin` (config
    /// `sendRingStartedOnRingingState`, default true).
    pub ring_on_ringing_state: bool,
    /// AMI keys copied into every event of a call as `info` (config
    /// `packetInfoConfig`). `ChanVariable(NAME)` picks one channel variable.
    pub info_keys: Vec<String<{ limits::INFO_KEY_MAX }>, { limits::INFO_KEYS_MAX }>,
    /// Channel table capacity (config `channels`), clamped to
    /// [`limits::CHANNELS_MIN`]..=[`limits::CHANNELS_MAX`].
    pub channel_capacity: usize,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            protocol: fixed("PJSIP/"),
            queue_extension_format: fixed("Local/{0}@from-queue/n"),
            ring_on_ringing_state: true,
            info_keys: Vec::new(),
            channel_capacity: limits::CHANNELS,
        }
    }
}

/// A config value the tracker cannot take, named by its config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsError {
    /// `protocol` is not `PJSIP/` or `SIP/` (or another `TECH/`, at most 16
    /// bytes, ending in `/`).
    Protocol,
    /// `queueExtensionFormat` is longer than [`QUEUE_FORMAT_MAX`] bytes or
    /// has no `{0}`.
    QueueExtensionFormat,
    /// `packetInfoConfig` names more than 8 keys, or a key longer than 32
    /// bytes.
    PacketInfoConfig,
    /// `channels` is outside 16..=65536.
    Channels,
}

impl core::fmt::Display for OptionsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            OptionsError::Protocol => {
                "`protocol` must be the phones' channel technology with its slash, \
                 such as \"PJSIP/\" or \"SIP/\""
            }
            OptionsError::QueueExtensionFormat => {
                return write!(
                    f,
                    "`queueExtensionFormat` must contain {{0}} where the line goes, \
                     such as \"Local/{{0}}@from-queue/n\" (at most {QUEUE_FORMAT_MAX} bytes)"
                );
            }
            OptionsError::PacketInfoConfig => {
                "`packetInfoConfig` may name at most 8 AMI keys of at most 32 bytes each"
            }
            OptionsError::Channels => "`channels` must be between 16 and 65536",
        })
    }
}

impl std::error::Error for OptionsError {}

impl TrackerOptions {
    /// Options from config values, checked: `protocol` (`PJSIP/`),
    /// `queueExtensionFormat`, `sendRingStartedOnRingingState`,
    /// `packetInfoConfig` keys, `channels`.
    ///
    /// # Errors
    /// The first value that does not fit, as an [`OptionsError`].
    pub fn new(
        protocol: &str,
        queue_extension_format: &str,
        ring_on_ringing_state: bool,
        info_keys: &[&str],
        channel_capacity: usize,
    ) -> Result<TrackerOptions, OptionsError> {
        let protocol = protocol.trim();
        if protocol.len() < 2 || protocol.len() > 16 || !protocol.ends_with('/') {
            return Err(OptionsError::Protocol);
        }
        let format = queue_extension_format.trim();
        if format.len() > QUEUE_FORMAT_MAX || !(format.contains("{0}") || format.contains("{line}"))
        {
            return Err(OptionsError::QueueExtensionFormat);
        }
        let mut keys = Vec::new();
        for k in info_keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
            if k.len() > limits::INFO_KEY_MAX || keys.push(fixed(k)).is_err() {
                return Err(OptionsError::PacketInfoConfig);
            }
        }
        if !(limits::CHANNELS_MIN..=limits::CHANNELS_MAX).contains(&channel_capacity) {
            return Err(OptionsError::Channels);
        }
        Ok(TrackerOptions {
            protocol: fixed(protocol),
            queue_extension_format: fixed(format),
            ring_on_ringing_state,
            info_keys: keys,
            channel_capacity,
        })
    }
}

/// The tracker's figures for /health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Channels tracked now.
    pub channels_used: u64,
    /// Channel table capacity.
    pub channels_capacity: u64,
    /// New channels not tracked because the table was full.
    pub channels_refused: u64,
    /// Bridges tracked now.
    pub bridges_used: u64,
    /// Bridge table capacity.
    pub bridges_capacity: u64,
    /// New bridges not tracked because the table was full.
    pub bridges_refused: u64,
    /// Channels not listed in a bridge that already had
    /// [`limits::BRIDGE_MEMBERS`] members.
    pub bridge_members_dropped: u64,
    /// Originate hints forgotten because [`limits::ORIGINATE_HINTS`] were
    /// pending.
    pub hints_dropped: u64,
    /// Queue memberships whose pause state was not remembered because
    /// [`limits::QUEUE_STATES`] were known.
    pub queue_states_dropped: u64,
    /// Calls started (`RingStarted` sent) since start.
    pub calls_started: u64,
    /// Call-model events produced since start.
    pub events: u64,
}

#[derive(Debug, Clone)]
struct Hint {
    uid: CallId,
    number: Number,
}

/// Which AMI events the tracker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Newchannel,
    Newstate,
    NewCallerid,
    NewConnectedLine,
    DialBegin,
    DialEnd,
    Dial11,
    BridgeCreate,
    BridgeEnter,
    BridgeLeave,
    BridgeDestroy,
    BridgeMerge,
    Bridge11,
    Hold,
    Unhold,
    Hangup,
    BlindTransfer,
    AttendedTransfer,
    Transfer11,
    LocalBridge,
    Rename,
    Masquerade,
    ParkedCall,
    UnParkedCall,
    QueueMemberPause,
    QueueMember,
    QueueMemberRemoved,
    QueueCallerAbandon,
    AgentCalled,
    OriginateResponse,
    CoreShowChannel,
}

impl Ev {
    fn of(name: &str) -> Option<Ev> {
        Some(match name {
            "Newchannel" => Ev::Newchannel,
            "Newstate" => Ev::Newstate,
            "NewCallerid" => Ev::NewCallerid,
            "NewConnectedLine" => Ev::NewConnectedLine,
            "DialBegin" => Ev::DialBegin,
            "DialEnd" => Ev::DialEnd,
            "Dial" => Ev::Dial11,
            "BridgeCreate" => Ev::BridgeCreate,
            "BridgeEnter" => Ev::BridgeEnter,
            "BridgeLeave" => Ev::BridgeLeave,
            "BridgeDestroy" => Ev::BridgeDestroy,
            "BridgeMerge" => Ev::BridgeMerge,
            "Bridge" => Ev::Bridge11,
            "Hold" => Ev::Hold,
            "Unhold" => Ev::Unhold,
            "Hangup" => Ev::Hangup,
            "BlindTransfer" => Ev::BlindTransfer,
            "AttendedTransfer" => Ev::AttendedTransfer,
            "Transfer" => Ev::Transfer11,
            "LocalBridge" => Ev::LocalBridge,
            "Rename" => Ev::Rename,
            "Masquerade" => Ev::Masquerade,
            "ParkedCall" => Ev::ParkedCall,
            "UnParkedCall" | "ParkedCallTimeOut" => Ev::UnParkedCall,
            "QueueMemberPause" | "QueueMemberPaused" => Ev::QueueMemberPause,
            "QueueMember" | "QueueMemberStatus" | "QueueMemberAdded" => Ev::QueueMember,
            "QueueMemberRemoved" => Ev::QueueMemberRemoved,
            "QueueCallerAbandon" => Ev::QueueCallerAbandon,
            "AgentCalled" | "AgentConnect" => Ev::AgentCalled,
            "OriginateResponse" => Ev::OriginateResponse,
            "CoreShowChannel" => Ev::CoreShowChannel,
            _ => return None,
        })
    }
}

/// A number or name as the PBX sent it, with `<unknown>` read as empty.
fn clean(v: &str) -> &str {
    let v = v.trim();
    if v.eq_ignore_ascii_case("<unknown>") || v == "(null)" || v == "<null>" {
        ""
    } else {
        v
    }
}

/// An extension worth showing as a dialled number: not empty and not one
/// of Asterisk's special one-letter extensions (`s`, `h`, ...).
fn dialled(v: Option<&str>) -> &str {
    let v = clean(v.unwrap_or(""));
    match v {
        "s" | "h" | "i" | "t" | "o" | "a" | "e" => "",
        _ => v,
    }
}

/// The number part of a `DialString` (`1002`, `PJSIP/1006`,
/// `9898@trunk`, `7006/sip:7006@host`).
fn dialstring_number(v: Option<&str>) -> &str {
    let v = clean(v.unwrap_or(""));
    let v = v.rsplit_once('/').map_or(v, |(head, tail)| {
        if tail.starts_with("sip:") {
            head.rsplit_once('/').map_or(head, |(_, h)| h)
        } else {
            tail
        }
    });
    v.split('@').next().unwrap_or("")
}

fn first_nonempty<'a>(vals: &[&'a str]) -> &'a str {
    vals.iter().copied().find(|v| !v.is_empty()).unwrap_or("")
}

/// The value of a `packetInfoConfig` key in `p`: a plain key, or
/// `ChanVariable(NAME)` for one `ChanVariable: NAME=value` line.
fn info_value<'a>(p: &Packet<'a>, key: &str) -> Option<&'a str> {
    if let (Some(open), true) = (key.find('('), key.ends_with(')')) {
        let (base, var) = (&key[..open], &key[open + 1..key.len() - 1]);
        return p
            .get_all(base)
            .find_map(|v| v.strip_prefix(var)?.strip_prefix('='));
    }
    p.get(key)
}

/// A live call as [`Tracker::call_info`] sees it, borrowed from the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallInfo<'a> {
    /// The line whose call it is.
    pub line: &'a str,
    /// The name of the line's channel (`PJSIP/1000-0000002a`).
    pub channel: &'a str,
    /// The Uniqueid of the line's channel (the call id, except after an
    /// Asterisk 11 masquerade).
    pub uniqueid: &'a str,
    /// The channel the line's channel is bridged with, if any (a Local
    /// half when the party is reached through Local channels).
    pub peer_channel: Option<&'a str>,
    /// The Uniqueid of that channel.
    pub peer_uniqueid: Option<&'a str>,
    /// The line's channel was rung by a queue (`AgentCalled`).
    pub queue: bool,
    /// At least one `CommutationStarted` was sent.
    pub answered: bool,
    /// The hold in place, if any.
    pub hold: Option<HoldBy>,
}

/// Tracks channels, bridges and calls; see the module documentation.
///
/// Memory is fixed at construction: a channel table of
/// `channel_capacity` slots, a bridge table, and small fixed buffers. No
/// heap growth happens per event.
pub struct Tracker {
    opts: TrackerOptions,
    queue_format: QueueFormat,
    chans: ChanTable,
    bridges: BridgeTable,
    hints: Deque<Hint, { limits::ORIGINATE_HINTS }>,
    recent: [(u32, CallId); limits::RECENT_HANGUPS],
    recent_at: usize,
    resyncing: bool,
    epoch: u32,
    refusing: bool,
    /// Hangups remembered in `recent` since the start.
    remembered: u64,
    queues: QueueStates,
    stats: TrackerStats,
}

impl Tracker {
    /// A tracker with its tables allocated.
    pub fn new(opts: TrackerOptions) -> Tracker {
        let cap = opts
            .channel_capacity
            .clamp(limits::CHANNELS_MIN, limits::CHANNELS_MAX);
        Tracker {
            queue_format: QueueFormat::parse(&opts.queue_extension_format),
            chans: ChanTable::new(cap, opts.info_keys.len()),
            bridges: BridgeTable::new(cap * limits::BRIDGES_PER_CHANNEL),
            hints: Deque::new(),
            recent: core::array::from_fn(|_| (0, CallId::new())),
            recent_at: 0,
            resyncing: false,
            epoch: 0,
            refusing: false,
            remembered: 0,
            queues: QueueStates::default(),
            stats: TrackerStats::default(),
            opts,
        }
    }

    /// The options this tracker runs with.
    pub fn options(&self) -> &TrackerOptions {
        &self.opts
    }

    /// The figures for /health.
    pub fn stats(&self) -> TrackerStats {
        TrackerStats {
            channels_used: self.chans.used() as u64,
            channels_capacity: self.chans.capacity() as u64,
            bridges_used: self.bridges.used() as u64,
            bridges_capacity: self.bridges.capacity() as u64,
            queue_states_dropped: self.queues.refused(),
            ..self.stats
        }
    }

    /// Processes one AMI packet and appends the call-model events it causes
    /// to `out`, in order. Only events (`Event:`) are read; responses,
    /// actions and unknown events change nothing. Never panics on input.
    pub fn handle(&mut self, p: &Packet<'_>, out: &mut impl Extend<CallEvent>) {
        self.handle_with(p, &mut |e| out.extend(Some(e)));
    }

    /// [`Tracker::handle`] with a callback for each event.
    pub fn handle_with(&mut self, p: &Packet<'_>, out: &mut dyn FnMut(CallEvent)) {
        let Some(name) = p.event() else { return };
        let Some(ev) = Ev::of(name) else {
            if !self.opts.info_keys.is_empty() {
                if let Some(slot) = self.chans.find_uid(p.get("Uniqueid").unwrap_or("")) {
                    self.capture_info(slot, p);
                }
            }
            return;
        };
        let f = Fields::read(p);
        if !self.opts.info_keys.is_empty() {
            if let Some(slot) = self.chans.find_uid(f.uniqueid.unwrap_or("")) {
                self.capture_info(slot, p);
            }
        }
        match ev {
            Ev::Newchannel => self.on_newchannel(&f, p, out),
            Ev::Newstate => {
                if let Some(slot) = self.touch(&f.plain(), true, false) {
                    self.start_on_state(slot, out);
                }
            }
            Ev::NewCallerid => {
                self.touch(&f.plain(), false, false);
            }
            Ev::NewConnectedLine => self.on_connected_line(&f, out),
            Ev::DialBegin => self.on_dial_begin(&f, out),
            Ev::DialEnd => self.on_dial_end(&f),
            Ev::Dial11 => match f.subevent.map(str::trim) {
                Some(s) if s.eq_ignore_ascii_case("Begin") => self.on_dial_begin(&f, out),
                Some(s) if s.eq_ignore_ascii_case("End") => self.on_dial_end(&f),
                _ => {}
            },
            Ev::BridgeCreate => {
                self.bridge_for(f.bridge.unwrap_or(""), f.bridgetype);
            }
            Ev::BridgeEnter => self.on_bridge_enter(&f, out),
            Ev::BridgeLeave => self.on_bridge_leave(&f, out),
            Ev::BridgeDestroy => {
                if let Some(b) = self.bridges.find(f.bridge.unwrap_or("")) {
                    self.destroy_bridge(b);
                }
            }
            Ev::BridgeMerge => self.on_bridge_merge(&f, out),
            Ev::Bridge11 => self.on_bridge11(&f, out),
            Ev::Hold => {
                let on = f
                    .status
                    .is_none_or(|s| !s.trim().eq_ignore_ascii_case("Off"));
                self.on_hold(&f, on, out);
            }
            Ev::Unhold => self.on_hold(&f, false, out),
            Ev::Hangup => {
                if let Some(slot) = self.find(&f.plain()) {
                    let cause = f.cause.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
                    self.hangup(slot, cause, None, out);
                }
            }
            Ev::BlindTransfer => self.on_blind_transfer(&f, out),
            Ev::AttendedTransfer => self.on_attended_transfer(&f, out),
            Ev::Transfer11 => self.on_transfer11(&f, out),
            Ev::LocalBridge => self.on_local_bridge(&f),
            Ev::Rename => {
                let slot = self.find(&Fields::bare(f.uniqueid, f.channel.or(f.oldname)));
                if let (Some(slot), Some(new)) = (slot, f.newname) {
                    self.chans.rename(slot, new.trim());
                }
            }
            Ev::Masquerade => self.on_masquerade(&f, out),
            Ev::ParkedCall => self.on_parked(&f, true, out),
            Ev::UnParkedCall => self.on_parked(&f, false, out),
            Ev::QueueMemberPause => self.on_queue_pause(&f, true, out),
            Ev::QueueMember => self.on_queue_pause(&f, false, out),
            Ev::QueueMemberRemoved => {
                if let Some(line) = self.queue_line(&f) {
                    let line: Line = fixed(line);
                    self.queues.remove(&line, clean(f.queue.unwrap_or("")));
                }
            }
            Ev::QueueCallerAbandon => {
                if let Some(slot) = self.find(&f.plain()) {
                    self.chans.get_mut(slot).call.dial_status = DialStatus::Cancel;
                }
            }
            Ev::AgentCalled => self.on_agent_called(&f),
            Ev::OriginateResponse => self.on_originate_response(&f, out),
            Ev::CoreShowChannel => self.on_core_show_channel(&f, p),
        }
    }

    /// Tells the tracker that the WebSocket command `call` is about to send
    /// an Originate with `ChannelId: uniqueid` from `line` to `number`. Call
    /// it before sending the action. When that channel appears, its call
    /// starts at once as outgoing to `number` (also when the Originate goes
    /// through a Local channel that then dials the line's phone).
    pub fn expect_originate(&mut self, uniqueid: &str, line: &str, number: &str) {
        let _ = line;
        if self.hints.is_full() {
            self.hints.pop_front();
            self.stats.hints_dropped += 1;
        }
        let _ = self.hints.push_back(Hint {
            uid: fixed(uniqueid),
            number: fixed(clean(number)),
        });
    }

    /// The events a newly connected client needs for `line`'s live calls:
    /// for each, `RingStarted`, then `CommutationStarted` with the current
    /// party if it talks (or talked), then `PutHoldAction` if it is on
    /// hold. Calls come in table order. Then a `QueueState` for each queue
    /// membership of the line whose pause state is known.
    pub fn snapshot(&self, line: &str, out: &mut impl Extend<CallEvent>) {
        for slot in self.chans.used_slots() {
            let c = self.chans.get(slot);
            if c.line != line || c.call.phase != Phase::Started {
                continue;
            }
            let k = &c.call;
            out.extend(Some(self.event(
                slot,
                EventKind::RingStarted {
                    direction: k.direction.unwrap_or(Direction::Incoming),
                    number: k.number.clone(),
                    name: k.name.clone(),
                },
            )));
            if k.commutated {
                out.extend(Some(self.event(
                    slot,
                    EventKind::CommutationStarted {
                        number: k.party_num.clone(),
                        name: k.party_name.clone(),
                    },
                )));
            }
            if let Some(by) = k.hold {
                out.extend(Some(self.event(slot, EventKind::PutHoldAction { by })));
            }
        }
        for m in self.queues.of(line) {
            out.extend(Some(CallEvent {
                line: m.line.clone(),
                call: CallId::new(),
                kind: EventKind::QueueState {
                    paused: m.paused,
                    reason: m.reason.clone(),
                    queue: m.queue.clone(),
                },
                info: InfoJson::new(),
            }));
        }
    }

    /// What a client command needs to know about the live call `call` (a
    /// call id of an event: `RingStarted` sent, `RingFinished` not yet), or
    /// `None` when there is no such call.
    pub fn call_info(&self, call: &str) -> Option<CallInfo<'_>> {
        let call = call.trim();
        if call.is_empty() {
            return None;
        }
        let live = |slot: u32| {
            let c = self.chans.get(slot);
            c.used && c.call.phase == Phase::Started && c.call.id == call
        };
        // The call id is the channel's Uniqueid, except after an Asterisk 11
        // masquerade moved the call to another channel.
        let slot = self
            .chans
            .find_uid(call)
            .filter(|&s| live(s))
            .or_else(|| self.chans.used_slots().find(|&s| live(s)))?;
        let c = self.chans.get(slot);
        let peer = (c.bridge != NONE)
            .then(|| {
                self.bridges
                    .get(c.bridge)
                    .members
                    .iter()
                    .copied()
                    .find(|&m| m != slot)
            })
            .flatten()
            .map(|m| self.chans.get(m));
        Some(CallInfo {
            line: &c.line,
            channel: &c.name,
            uniqueid: &c.uid,
            peer_channel: peer.map(|p| p.name.as_str()),
            peer_uniqueid: peer.map(|p| p.uid.as_str()),
            queue: self.is_queue_leg(slot),
            answered: c.call.commutated,
            hold: c.call.hold,
        })
    }

    /// The parking space of the channel `uniqueid` while it is parked
    /// (from `ParkedCall`, cleared by `UnParkedCall` or `ParkedCallTimeOut`),
    /// or `None` when it is not parked or not tracked.
    pub fn parking_space(&self, uniqueid: &str) -> Option<&str> {
        let slot = self.chans.find_uid(uniqueid.trim())?;
        let space = self.chans.get(slot).park_space.as_str();
        (!space.is_empty()).then_some(space)
    }

    /// Whether the channel `uniqueid` hung up among the last
    /// [`limits::RECENT_HANGUPS`] hangups, so that a late event for it is
    /// ignored. Once forgotten, a late event that names it again is taken as
    /// a new channel: its call may start again with the same call id.
    pub fn remembers_hangup(&self, uniqueid: &str) -> bool {
        self.recently_hung_up(uniqueid.trim())
    }

    /// How many hangups the tracker has remembered since it was made: a
    /// hangup is forgotten once [`limits::RECENT_HANGUPS`] more have been
    /// remembered after it (see [`Tracker::remembers_hangup`]).
    pub fn hangups_remembered(&self) -> u64 {
        self.remembered
    }

    /// Starts a resync after a (re)login: the session then feeds every
    /// `CoreShowChannel` of a `CoreShowChannels` action through
    /// [`Tracker::handle`] and calls [`Tracker::end_resync`] on
    /// `CoreShowChannelsComplete`. Live events may interleave.
    pub fn begin_resync(&mut self) {
        self.resyncing = true;
        // Pauses may have changed while disconnected: forget them rather
        // than tell a stale state (a `QueueStatus` after the login, or the
        // next change, tells them again).
        self.queues.clear();
        self.epoch = self.epoch.wrapping_add(1);
        for slot in 0..self.chans.touched() as u32 {
            let c = self.chans.get_mut(slot);
            if c.used {
                c.bridge = NONE;
            }
        }
        for b in 0..self.bridges.touched() as u32 {
            let br = self.bridges.get_mut(b);
            if br.used {
                br.members.clear();
            }
        }
    }

    /// Gives up a resync whose channel list failed (an error answer to
    /// `CoreShowChannels`): no call is finished or started; bridges are
    /// learnt again from the next bridge events. Start a new resync when
    /// the list can be asked again.
    pub fn abort_resync(&mut self) {
        self.resyncing = false;
    }

    /// True between [`Tracker::begin_resync`] and [`Tracker::end_resync`].
    pub fn resyncing(&self) -> bool {
        self.resyncing
    }

    /// Ends a resync: calls whose channel was not listed ended while the
    /// bridge was away and get `RingFinished` (cause 0, reason `completed`
    /// if they had been answered, `failed` otherwise); calls found in
    /// progress start (`RingStarted`, then `CommutationStarted` if bridged);
    /// calls whose party changed meanwhile get `CommutationStarted`.
    pub fn end_resync(&mut self, out: &mut impl Extend<CallEvent>) {
        self.end_resync_with(&mut |e| out.extend(Some(e)));
    }

    /// [`Tracker::end_resync`] with a callback for each event.
    pub fn end_resync_with(&mut self, out: &mut dyn FnMut(CallEvent)) {
        if !self.resyncing {
            return;
        }
        self.resyncing = false;
        let cap = self.chans.touched() as u32;
        for slot in 0..cap {
            let c = self.chans.get(slot);
            if c.used && c.seen != self.epoch {
                let reason = if c.call.commutated {
                    Reason::Completed
                } else {
                    Reason::Failed
                };
                self.hangup(slot, 0, Some(reason), out);
            }
        }
        for slot in 0..cap {
            let c = self.chans.get(slot);
            if !c.used || c.line.is_empty() || c.call.phase != Phase::Idle || !c.call.resync_found {
                continue;
            }
            if c.state >= 4 || c.call.resync_dir.is_some() || c.bridge != NONE {
                let dir = c.call.resync_dir.unwrap_or(match c.state {
                    5 => Direction::Incoming,
                    _ => Direction::Outgoing,
                });
                let (num, name) = match dir {
                    Direction::Incoming => (c.clnum.clone(), c.clname.clone()),
                    Direction::Outgoing if !c.clnum.is_empty() => {
                        (c.clnum.clone(), c.clname.clone())
                    }
                    Direction::Outgoing => (c.exten.clone(), Name::new()),
                };
                self.start(slot, dir, &num, &name, out);
            }
        }
        for slot in 0..cap {
            let c = self.chans.get(slot);
            if c.used && !c.line.is_empty() {
                self.refresh_party(slot, out);
            }
        }
        for b in 0..self.bridges.touched() as u32 {
            let br = self.bridges.get(b);
            if br.used && br.members.is_empty() {
                self.bridges.release(b);
            }
        }
    }

    // ---- channels -------------------------------------------------------

    fn find(&self, s: &Snap<'_>) -> Option<u32> {
        if !s.uid.is_empty() {
            return self.chans.find_uid(s.uid.trim());
        }
        self.chans.find_name(s.name.trim())
    }

    fn recently_hung_up(&self, uid: &str) -> bool {
        let h = hash(uid);
        self.recent
            .iter()
            .any(|(rh, ruid)| *rh == h && ruid.as_str() == uid)
    }

    /// Finds the channel `s` describes and updates what it says about it;
    /// with `create`, a channel not yet known is added (`counted`: a refusal
    /// at the limit is counted and logged).
    fn touch(&mut self, s: &Snap<'_>, create: bool, counted: bool) -> Option<u32> {
        let slot = match self.find(s) {
            Some(slot) => slot,
            None => {
                let uid = s.uid.trim();
                if !create || uid.is_empty() || self.recently_hung_up(uid) {
                    return None;
                }
                match self.chans.alloc(uid, s.name.trim()) {
                    Some(slot) => {
                        self.refusing = false;
                        self.init_chan(slot, s);
                        slot
                    }
                    None => {
                        if counted {
                            self.stats.channels_refused += 1;
                            if !self.refusing {
                                self.refusing = true;
                                log::warn!(
                                    "channel table full ({} channels): {} is not tracked; \
                                     raise `channels` in the config",
                                    self.chans.capacity(),
                                    s.name
                                );
                            }
                        }
                        return None;
                    }
                }
            }
        };
        self.update(slot, s);
        Some(slot)
    }

    fn init_chan(&mut self, slot: u32, s: &Snap<'_>) {
        let protocol = &self.opts.protocol;
        let epoch = self.epoch;
        let c = self.chans.get_mut(slot);
        c.seen = epoch;
        c.initial_state = s.state.unwrap_or(0);
        if let Some(line) = names::line_of_channel(&c.name, protocol) {
            c.line = fixed(line);
        }
        c.local = names::local_half(&c.name);
        if c.local != 0 {
            let mut other = ChanName::new();
            if names::other_half(&c.name.clone(), &mut other) {
                if let Some(o) = self.chans.find_name(&other) {
                    if o != slot {
                        let (a, b) = self.chans.pair_mut(slot, o);
                        a.pair = o;
                        b.pair = slot;
                    }
                }
            }
        }
    }

    fn update(&mut self, slot: u32, s: &Snap<'_>) {
        let c = self.chans.get_mut(slot);
        if let Some(st) = s.state {
            c.state = st;
        }
        if let Some(v) = s.cnum {
            set_str(&mut c.cnum, clean(v));
        }
        if let Some(v) = s.cname {
            set_str(&mut c.cname, clean(v));
        }
        if let Some(v) = s.clnum {
            set_str(&mut c.clnum, clean(v));
        }
        if let Some(v) = s.clname {
            set_str(&mut c.clname, clean(v));
        }
        if c.call.phase == Phase::Idle {
            let ext = dialled(s.exten);
            if !ext.is_empty() {
                set_str(&mut c.exten, ext);
            }
        }
    }

    fn remember_hangup(&mut self, uid: &str) {
        self.recent[self.recent_at] = (hash(uid), fixed(uid));
        self.recent_at = (self.recent_at + 1) % self.recent.len();
        self.remembered += 1;
    }

    fn capture_info(&mut self, slot: u32, p: &Packet<'_>) {
        if self.chans.get(slot).line.is_empty() {
            return;
        }
        for (i, key) in self.opts.info_keys.iter().enumerate() {
            if let Some(v) = info_value(p, key) {
                self.chans.set_info(slot, i, v.trim());
            }
        }
    }

    // ---- emitting -------------------------------------------------------

    fn event(&self, slot: u32, kind: EventKind) -> CallEvent {
        let c = self.chans.get(slot);
        let mut info = InfoJson::new();
        for (key, val) in self.opts.info_keys.iter().zip(self.chans.info(slot)) {
            let Some(val) = val else { continue };
            // `ChanVariable(NAME)` is shown as `NAME`.
            let key = match (key.find('('), key.ends_with(')')) {
                (Some(open), true) => &key[open + 1..key.len() - 1],
                _ => key.as_str(),
            };
            let mark = info.len();
            let ok = (mark == 0 || info.push(',').is_ok())
                && json::write_str(&mut info, key).is_ok()
                && info.push(':').is_ok()
                && json::write_str(&mut info, val).is_ok();
            if !ok {
                info.truncate(mark);
                break;
            }
        }
        CallEvent {
            line: c.line.clone(),
            call: c.call.id.clone(),
            kind,
            info,
        }
    }

    /// Sends an event of a started call; anything else is dropped, which
    /// keeps invariants 1 and 2 whatever the handlers do.
    fn emit(&mut self, slot: u32, kind: EventKind, out: Out<'_>) {
        if self.chans.get(slot).call.phase != Phase::Started {
            return;
        }
        let e = self.event(slot, kind);
        self.stats.events += 1;
        out(e);
    }

    fn start(&mut self, slot: u32, dir: Direction, number: &str, name: &str, out: Out<'_>) {
        let c = self.chans.get_mut(slot);
        if c.line.is_empty() || !matches!(c.call.phase, Phase::Idle | Phase::Pending) {
            return;
        }
        c.call.phase = Phase::Started;
        c.call.id = c.uid.clone();
        c.call.direction = Some(dir);
        set_str(&mut c.call.number, number);
        set_str(&mut c.call.name, name);
        self.stats.calls_started += 1;
        let kind = EventKind::RingStarted {
            direction: dir,
            number: fixed(number),
            name: fixed(name),
        };
        self.emit(slot, kind, out);
    }

    /// Starts a call that must be shown now (it talks, or it ends) although
    /// no event said which way it goes: the direction is guessed from how the
    /// channel appeared.
    fn start_anyway(&mut self, slot: u32, party: (&str, &str), out: Out<'_>) {
        let c = self.chans.get(slot);
        let dir = if c.call.phase == Phase::Pending {
            Direction::Outgoing
        } else if c.call.dialled {
            Direction::Incoming
        } else {
            match c.initial_state {
                4 => Direction::Outgoing,
                0 | 5 => Direction::Incoming,
                _ => Direction::Outgoing,
            }
        };
        let (num, name): (Number, Name) = match dir {
            Direction::Outgoing if !c.exten.is_empty() && c.call.phase != Phase::Pending => {
                (c.exten.clone(), Name::new())
            }
            Direction::Incoming if !c.clnum.is_empty() && party.0.is_empty() => {
                (c.clnum.clone(), c.clname.clone())
            }
            _ => (fixed(party.0), fixed(party.1)),
        };
        self.start(slot, dir, &num, &name, out);
    }

    /// Starts the call of a line's channel on its state: `Ring` (the phone
    /// dials out) or, with `ring_on_ringing_state`, `Ringing`.
    fn start_on_state(&mut self, slot: u32, out: Out<'_>) {
        let c = self.chans.get(slot);
        if c.line.is_empty() || c.call.phase != Phase::Idle {
            return;
        }
        match c.state {
            4 => {
                let num = c.exten.clone();
                self.start(slot, Direction::Outgoing, &num, "", out);
            }
            5 if self.opts.ring_on_ringing_state => {
                let (num, name) = (c.clnum.clone(), c.clname.clone());
                self.start(slot, Direction::Incoming, &num, &name, out);
            }
            _ => {}
        }
    }

    fn reason(&self, slot: u32, cause: u16) -> Reason {
        let k = &self.chans.get(slot).call;
        if k.transferred {
            return Reason::Transferred;
        }
        if k.commutated {
            return Reason::Completed;
        }
        match cause {
            26 => return Reason::AnsweredElsewhere,
            21 => return Reason::Rejected,
            17 => return Reason::Busy,
            _ => {}
        }
        match k.dial_status {
            DialStatus::Busy => return Reason::Busy,
            DialStatus::NoAnswer => return Reason::NoAnswer,
            DialStatus::Cancel => return Reason::Cancelled,
            DialStatus::Failed => return Reason::Failed,
            DialStatus::Answer | DialStatus::None => {}
        }
        match cause {
            16 => Reason::Completed,
            127 => Reason::Cancelled,
            18 | 19 => Reason::NoAnswer,
            _ => Reason::Failed,
        }
    }

    /// The channel is gone: finish its call (with `reason`, or the reason
    /// its history gives) and free its slot.
    fn hangup(&mut self, slot: u32, cause: u16, reason: Option<Reason>, out: Out<'_>) {
        if self.chans.get(slot).call.phase == Phase::Pending && reason.is_none() {
            self.start_anyway(slot, ("", ""), out);
        }
        if self.chans.get(slot).call.phase == Phase::Started {
            let reason = reason.unwrap_or_else(|| self.reason(slot, cause));
            let answered = self.chans.get(slot).call.commutated;
            self.emit(
                slot,
                EventKind::RingFinished {
                    reason,
                    cause,
                    answered,
                },
                out,
            );
            self.chans.get_mut(slot).call.phase = Phase::Finished;
        }
        let c = self.chans.get(slot);
        let (bridge, pair) = (c.bridge, c.pair);
        if bridge != NONE {
            self.leave(slot, bridge);
        }
        if pair != NONE && self.chans.get(pair).pair == slot {
            self.chans.get_mut(pair).pair = NONE;
        }
        let uid = self.chans.get(slot).uid.clone();
        self.remember_hangup(&uid);
        self.chans.release(slot);
    }

    // ---- parties and bridges ---------------------------------------------

    fn bridge_for(&mut self, id: &str, kind: Option<&str>) -> Option<u32> {
        let id = id.trim();
        if id.is_empty() {
            return None;
        }
        if let Some(b) = self.bridges.find(id) {
            if kind.is_some() {
                self.bridges.get_mut(b).kind = BridgeKind::of(kind);
            }
            return Some(b);
        }
        let b = self.bridges.alloc(id, BridgeKind::of(kind));
        if b.is_none() {
            self.stats.bridges_refused += 1;
        }
        b
    }

    fn join(&mut self, slot: u32, bridge: u32) {
        let old = self.chans.get(slot).bridge;
        if old == bridge {
            return;
        }
        if old != NONE {
            self.leave(slot, old);
        }
        if self.bridges.get_mut(bridge).members.push(slot).is_err() {
            self.stats.bridge_members_dropped += 1;
            return;
        }
        self.chans.get_mut(slot).bridge = bridge;
    }

    fn leave(&mut self, slot: u32, bridge: u32) {
        let members = &mut self.bridges.get_mut(bridge).members;
        if let Some(i) = members.iter().position(|&m| m == slot) {
            members.remove(i);
        }
        let c = self.chans.get_mut(slot);
        if c.bridge == bridge {
            c.bridge = NONE;
        }
    }

    fn destroy_bridge(&mut self, bridge: u32) {
        let members = self.bridges.get(bridge).members.clone();
        for m in members {
            let c = self.chans.get_mut(m);
            if c.bridge == bridge {
                c.bridge = NONE;
            }
        }
        self.bridges.release(bridge);
    }

    /// The line channels in `bridge` and in the bridges reached from it
    /// through Local channel pairs, `exclude` left out.
    fn lines_around(&self, bridge: u32, exclude: u32) -> Vec<u32, 16> {
        let mut bridges: Vec<u32, 8> = Vec::new();
        let mut lines: Vec<u32, 16> = Vec::new();
        let _ = bridges.push(bridge);
        let mut i = 0;
        while i < bridges.len() {
            let b = bridges[i];
            i += 1;
            for &m in &self.bridges.get(b).members {
                if m == exclude {
                    continue;
                }
                let c = self.chans.get(m);
                if !c.line.is_empty() {
                    if !lines.contains(&m) {
                        let _ = lines.push(m);
                    }
                } else if c.local != 0 && c.pair != NONE {
                    let pb = self.chans.get(c.pair).bridge;
                    if pb != NONE && !bridges.contains(&pb) {
                        let _ = bridges.push(pb);
                    }
                }
            }
        }
        lines
    }

    /// The real party behind `peer` as seen from `me`: through Local channel
    /// pairs and the bridges beyond them to a channel that is not Local.
    /// When the chain is not complete yet, the last Local channel's caller
    /// (which Asterisk keeps as the far party) stands in; when a Local
    /// channel's other half runs dialplan (an application, not a bridge),
    /// the party is the extension the Local channel was made for. A party
    /// with no caller ID at all (withheld, a CLI originate) is still a party:
    /// empty number and name. `None` only while nobody is there yet: a Local
    /// channel that has not answered.
    fn resolve(&self, peer: u32, me: u32) -> Option<(Number, Name)> {
        let mut p = peer;
        for _ in 0..4 {
            let pc = self.chans.get(p);
            if pc.local == 0 {
                break;
            }
            let q = pc.pair;
            if q == NONE {
                break;
            }
            let qb = self.chans.get(q).bridge;
            if qb == NONE || self.bridges.get(qb).kind == BridgeKind::Holding {
                break;
            }
            match self
                .bridges
                .get(qb)
                .members
                .iter()
                .copied()
                .find(|&m| m != q && m != me)
            {
                Some(r) => p = r,
                None => break,
            }
        }
        let pc = self.chans.get(p);
        let mc = self.chans.get(me);
        if pc.local != 0 && pc.state != 6 {
            // A Local channel not answered yet (the one a blind transfer
            // puts in the bridge while its other half still rings): nobody
            // to talk with yet.
            None
        } else if !pc.cnum.is_empty() {
            Some((pc.cnum.clone(), pc.cname.clone()))
        } else if !mc.clnum.is_empty() || !mc.clname.is_empty() {
            Some((mc.clnum.clone(), mc.clname.clone()))
        } else if let Some(exten) = names::local_exten(&pc.name) {
            Some((fixed(exten), Name::new()))
        } else {
            Some((Number::new(), Name::new()))
        }
    }

    /// Sends `CommutationStarted` if the line's channel talks with a party
    /// other than the last one sent.
    fn refresh_party(&mut self, slot: u32, out: Out<'_>) {
        let c = self.chans.get(slot);
        if c.line.is_empty() || c.call.phase == Phase::Finished || c.bridge == NONE {
            return;
        }
        let b = self.bridges.get(c.bridge);
        if b.kind == BridgeKind::Holding {
            return;
        }
        let Some(peer) = b.members.iter().copied().find(|&m| m != slot) else {
            return;
        };
        let Some((num, name)) = self.resolve(peer, slot) else {
            return;
        };
        if self.chans.get(slot).call.phase != Phase::Started {
            self.start_anyway(slot, (&num, &name), out);
        }
        let k = &self.chans.get(slot).call;
        if k.phase != Phase::Started {
            return;
        }
        let same = if num.is_empty() {
            k.party_name == name
        } else {
            k.party_num == num
        };
        if k.commutated && same {
            return;
        }
        // Talking with someone new ends any hold first (a retrieved park, a
        // transfer completed while held, the line consulting a third party).
        if let Some(by) = k.hold {
            self.chans.get_mut(slot).call.hold = None;
            self.emit(slot, EventKind::EndHoldAction { by }, out);
        }
        let k = &mut self.chans.get_mut(slot).call;
        k.commutated = true;
        k.party_num = num.clone();
        k.party_name = name.clone();
        self.emit(
            slot,
            EventKind::CommutationStarted { number: num, name },
            out,
        );
    }

    fn refresh_around(&mut self, bridge: u32, out: Out<'_>) {
        for slot in self.lines_around(bridge, NONE) {
            self.refresh_party(slot, out);
        }
    }

    fn set_hold(&mut self, slot: u32, by: HoldBy, on: bool, out: Out<'_>) {
        let k = &self.chans.get(slot).call;
        if k.phase != Phase::Started || !k.commutated {
            return;
        }
        match (on, k.hold) {
            (true, None) => {
                self.chans.get_mut(slot).call.hold = Some(by);
                self.emit(slot, EventKind::PutHoldAction { by }, out);
            }
            (false, Some(held)) if held == by => {
                self.chans.get_mut(slot).call.hold = None;
                self.emit(slot, EventKind::EndHoldAction { by }, out);
            }
            _ => {}
        }
    }

    // ---- event handlers -------------------------------------------------

    fn on_newchannel(&mut self, f: &Fields<'_>, p: &Packet<'_>, out: Out<'_>) {
        let Some(slot) = self.touch(&f.plain(), true, true) else {
            return;
        };
        if !self.opts.info_keys.is_empty() {
            self.capture_info(slot, p);
        }
        let uid = self.chans.get(slot).uid.clone();
        if let Some(i) = self.hints.iter().position(|h| h.uid == uid) {
            // Deque has no remove(i): rotate the hint to the front.
            for _ in 0..i {
                if let Some(h) = self.hints.pop_front() {
                    let _ = self.hints.push_back(h);
                }
            }
            if let Some(h) = self.hints.pop_front() {
                self.chans.get_mut(slot).hint = Some(h.number.clone());
                self.start(slot, Direction::Outgoing, &h.number, "", out);
            }
        }
        self.start_on_state(slot, out);
    }

    fn on_connected_line(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let Some(slot) = self.touch(&f.plain(), false, false) else {
            return;
        };
        let c = self.chans.get(slot);
        let k = &c.call;
        if c.line.is_empty() || k.phase != Phase::Started || k.commutated || c.clnum.is_empty() {
            return;
        }
        // The first leg of an Originate gets the line's own caller id as its
        // connected line (the Originate's `CallerID`): that is not the other
        // party.
        if c.clnum.as_str() == c.line.as_str() {
            return;
        }
        if k.number == c.clnum && k.name == c.clname {
            return;
        }
        let (num, name) = (c.clnum.clone(), c.clname.clone());
        let k = &mut self.chans.get_mut(slot).call;
        k.number = num.clone();
        k.name = name.clone();
        self.emit(slot, EventKind::CallerChanged { number: num, name }, out);
    }

    /// The originate hint that applies to a channel dialled by `caller`: the
    /// caller's own, or its Local pair's, and only when the caller is a Local
    /// channel (an Originate through `Local/…` reaching the user's phone). A
    /// hinted phone that dials another phone is an ordinary call: the dialled
    /// phone's call is incoming.
    fn caller_hint(&self, caller: u32) -> Option<Number> {
        let c = self.chans.get(caller);
        if c.local == 0 {
            return None;
        }
        if let Some(h) = &c.hint {
            return Some(h.clone());
        }
        if c.local != 0 && c.pair != NONE {
            return self.chans.get(c.pair).hint.clone();
        }
        None
    }

    fn on_dial_begin(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let cs = f.plain();
        let caller = if cs.uid.is_empty() && cs.name.is_empty() {
            None
        } else {
            self.touch(&cs, true, false)
        };
        let dest = self.touch(&f.dest(), true, false);
        if let (Some(c), Some(d)) = (caller, dest) {
            let gen = self.chans.get(d).gen;
            let queue = self.is_queue_leg(c);
            let cc = self.chans.get_mut(c);
            cc.dial_dest = d;
            cc.dial_dest_gen = gen;
            if queue {
                self.chans.get_mut(d).queue_leg = true;
            }
        }
        if let Some(c) = caller {
            let cc = self.chans.get(c);
            if !cc.line.is_empty() && matches!(cc.call.phase, Phase::Idle | Phase::Pending) {
                let num: Number = fixed(first_nonempty(&[
                    dialled(f.exten),
                    if cc.call.phase == Phase::Idle {
                        cc.exten.as_str()
                    } else {
                        ""
                    },
                    clean(f.d_cnum.unwrap_or("")),
                    dialstring_number(f.dialstring),
                ]));
                self.start(c, Direction::Outgoing, &num, "", out);
            }
        }
        let Some(d) = dest else { return };
        let dc = self.chans.get(d);
        if dc.line.is_empty() || dc.call.phase != Phase::Idle {
            return;
        }
        self.chans.get_mut(d).call.dialled = true;
        match caller {
            None => match self.chans.get(d).hint.clone() {
                Some(h) => self.start(d, Direction::Outgoing, &h, "", out),
                None => self.chans.get_mut(d).call.phase = Phase::Pending,
            },
            Some(c) => {
                if let Some(h) = self.caller_hint(c) {
                    self.start(d, Direction::Outgoing, &h, "", out);
                    return;
                }
                let (cnum, cname) = (clean(f.cnum.unwrap_or("")), clean(f.cname.unwrap_or("")));
                let (dnum, dname) = (
                    clean(f.d_clnum.unwrap_or("")),
                    clean(f.d_clname.unwrap_or("")),
                );
                // The caller's own id; else what the dialled phone is told.
                let (num, name) = if !cnum.is_empty() {
                    (cnum, first_nonempty(&[cname, dname]))
                } else {
                    (dnum, first_nonempty(&[dname, cname]))
                };
                self.start(d, Direction::Incoming, num, name, out);
            }
        }
    }

    fn on_dial_end(&mut self, f: &Fields<'_>) {
        let status = DialStatus::parse(f.dialstatus.unwrap_or(""));
        if status == DialStatus::None {
            return;
        }
        let caller = self.find(&f.plain());
        let ds = f.dest();
        let dest = if ds.uid.is_empty() && ds.name.is_empty() {
            caller.and_then(|c| {
                let cc = self.chans.get(c);
                let d = cc.dial_dest;
                (d != NONE && self.chans.get(d).used && self.chans.get(d).gen == cc.dial_dest_gen)
                    .then_some(d)
            })
        } else {
            self.find(&ds)
        };
        for slot in [caller, dest].into_iter().flatten() {
            let k = &mut self.chans.get_mut(slot).call;
            if k.dial_status != DialStatus::Answer {
                k.dial_status = status;
            }
        }
    }

    fn on_bridge_enter(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let Some(b) = self.bridge_for(f.bridge.unwrap_or(""), f.bridgetype) else {
            return;
        };
        let Some(slot) = self.touch(&f.plain(), true, false) else {
            return;
        };
        self.join(slot, b);
        self.refresh_around(b, out);
    }

    fn on_bridge_leave(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let (Some(slot), Some(b)) = (
            self.find(&f.plain()),
            self.bridges.find(f.bridge.unwrap_or("").trim()),
        ) else {
            return;
        };
        self.leave(slot, b);
        if self.bridges.get(b).members.len() >= 2 {
            let members = self.bridges.get(b).members.clone();
            for m in members {
                self.refresh_party(m, out);
            }
        }
    }

    fn on_bridge_merge(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let to = self.bridge_for(f.to_bridge.unwrap_or(""), None);
        let from = self.bridges.find(f.from_bridge.unwrap_or("").trim());
        let (Some(to), Some(from)) = (to, from) else {
            return;
        };
        if to == from {
            return;
        }
        for m in self.bridges.get(from).members.clone() {
            self.join(m, to);
        }
        self.destroy_bridge(from);
        self.refresh_around(to, out);
    }

    /// Asterisk 11 `Bridge` (`Bridgestate: Link` / `Unlink`): a two-party
    /// bridge named after the first channel.
    fn on_bridge11(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let link = f
            .bridgestate
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("Link"));
        let a = self.touch(&Fields::bare(f.uniqueid1, f.channel1), link, false);
        let b = self.touch(&Fields::bare(f.uniqueid2, f.channel2), link, false);
        let mut id = BridgeId::new();
        let _ = id.push('~');
        let _ = id.push_str(f.uniqueid1.or(f.channel1).unwrap_or("").trim());
        if link {
            let Some(br) = self.bridge_for(&id, None) else {
                return;
            };
            for s in [a, b].into_iter().flatten() {
                self.join(s, br);
            }
            self.refresh_around(br, out);
        } else if let Some(br) = self.bridges.find(&id) {
            for s in [a, b].into_iter().flatten() {
                self.leave(s, br);
            }
            if self.bridges.get(br).members.is_empty() {
                self.bridges.release(br);
            }
        }
    }

    fn on_hold(&mut self, f: &Fields<'_>, on: bool, out: Out<'_>) {
        let Some(holder) = self.touch(&f.plain(), true, false) else {
            return;
        };
        if !self.chans.get(holder).line.is_empty() {
            self.set_hold(holder, HoldBy::Line, on, out);
        }
        let b = self.chans.get(holder).bridge;
        if b == NONE {
            return;
        }
        for peer in self.lines_around(b, holder) {
            self.set_hold(peer, HoldBy::Peer, on, out);
        }
    }

    fn on_parked(&mut self, f: &Fields<'_>, parked: bool, out: Out<'_>) {
        let s = Fields::bare(f.parkee_uid.or(f.uniqueid), f.parkee_chan.or(f.channel));
        let Some(slot) = self.find(&s) else { return };
        let c = self.chans.get_mut(slot);
        c.park_space.clear();
        if parked {
            let space = f.parking_space.unwrap_or("").trim();
            if space.len() <= PARK_SPACE_MAX {
                set_str(&mut c.park_space, space);
            }
        }
        let k = &self.chans.get(slot).call;
        if k.phase != Phase::Started || !k.commutated {
            return;
        }
        if parked {
            if let Some(by @ (HoldBy::Line | HoldBy::Peer)) = k.hold {
                self.set_hold(slot, by, false, out);
            }
            self.set_hold(slot, HoldBy::Park, true, out);
        } else {
            self.set_hold(slot, HoldBy::Park, false, out);
        }
    }

    fn transferred(
        &mut self,
        uid: Option<&str>,
        kind: TransferKind,
        number: &str,
        left: bool,
        out: Out<'_>,
    ) {
        let Some(slot) = self.chans.find_uid(uid.unwrap_or("").trim()) else {
            return;
        };
        if self.chans.get(slot).line.is_empty() {
            return;
        }
        if left {
            self.chans.get_mut(slot).call.transferred = true;
        }
        self.emit(
            slot,
            EventKind::Transferred {
                kind,
                number: fixed(number),
            },
            out,
        );
    }

    fn success(f: &Fields<'_>) -> bool {
        f.result
            .is_none_or(|r| r.trim().eq_ignore_ascii_case("Success"))
    }

    fn on_blind_transfer(&mut self, f: &Fields<'_>, out: Out<'_>) {
        if !Self::success(f) {
            return;
        }
        let to = clean(f.extension.unwrap_or(""));
        self.transferred(f.transferer_uid, TransferKind::Blind, to, true, out);
        self.transferred(f.transferee_uid, TransferKind::Blind, to, false, out);
    }

    fn on_attended_transfer(&mut self, f: &Fields<'_>, out: Out<'_>) {
        if !Self::success(f) {
            return;
        }
        let target = first_nonempty(&[
            clean(f.target_cnum.unwrap_or("")),
            clean(f.second_clnum.unwrap_or("")),
        ]);
        let transferee = first_nonempty(&[
            clean(f.transferee_cnum.unwrap_or("")),
            clean(f.orig_clnum.unwrap_or("")),
        ]);
        self.transferred(f.orig_uid, TransferKind::Attended, target, true, out);
        self.transferred(f.second_uid, TransferKind::Attended, transferee, true, out);
        self.transferred(f.transferee_uid, TransferKind::Attended, target, false, out);
        self.transferred(f.target_uid, TransferKind::Attended, transferee, false, out);
    }

    /// Asterisk 11 `Transfer`: `Channel`/`Uniqueid` is the transferer.
    fn on_transfer11(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let kind = match f.transfertype.map(str::trim) {
            Some(t) if t.eq_ignore_ascii_case("Attended") => TransferKind::Attended,
            _ => TransferKind::Blind,
        };
        let to = clean(f.transferexten.unwrap_or(""));
        self.transferred(f.uniqueid, kind, to, true, out);
        self.transferred(f.target_uid11, kind, to, false, out);
    }

    fn on_local_bridge(&mut self, f: &Fields<'_>) {
        let one = self.find(&Fields::bare(
            f.l1_uid.or(f.uniqueid1),
            f.l1_chan.or(f.channel1),
        ));
        let two = self.find(&Fields::bare(
            f.l2_uid.or(f.uniqueid2),
            f.l2_chan.or(f.channel2),
        ));
        if let (Some(a), Some(b)) = (one, two) {
            if a != b {
                let (x, y) = self.chans.pair_mut(a, b);
                x.pair = b;
                y.pair = a;
            }
        }
    }

    /// Asterisk 11 `Masquerade`: the `Original` channel takes over the
    /// `Clone`'s identity, so the clone's call (and line) moves to it and
    /// keeps its call id; the clone then hangs up as `<ZOMBIE>` with no call.
    fn on_masquerade(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let clone = self.chans.find_name(f.clone.unwrap_or("").trim());
        let orig = self.chans.find_name(f.original.unwrap_or("").trim());
        let (Some(c), Some(o)) = (clone, orig) else {
            return;
        };
        if c == o || self.chans.get(c).line.is_empty() {
            return;
        }
        if self.chans.get(o).call.phase == Phase::Started {
            let reason = if self.chans.get(o).call.commutated {
                Reason::Completed
            } else {
                Reason::AnsweredElsewhere
            };
            let answered = self.chans.get(o).call.commutated;
            self.emit(
                o,
                EventKind::RingFinished {
                    reason,
                    cause: 0,
                    answered,
                },
                out,
            );
        }
        let old_pair = self.chans.get(o).pair;
        if old_pair != NONE && self.chans.get(old_pair).pair == o {
            self.chans.get_mut(old_pair).pair = NONE;
        }
        self.chans.move_info(c, o);
        let (cc, oc) = self.chans.pair_mut(c, o);
        oc.call = core::mem::take(&mut cc.call);
        oc.line = core::mem::take(&mut cc.line);
        oc.cnum = cc.cnum.clone();
        oc.cname = cc.cname.clone();
        oc.clnum = cc.clnum.clone();
        oc.clname = cc.clname.clone();
        oc.local = 0;
        oc.pair = NONE;
        oc.initial_state = cc.initial_state;
    }

    /// The line of the queue member an event is about.
    fn queue_line<'f>(&self, f: &Fields<'f>) -> Option<&'f str> {
        let iface = f
            .interface
            .or(f.location)
            .or(f.state_interface)
            .unwrap_or("")
            .trim();
        names::line_of_interface(iface, &self.opts.protocol, &self.queue_format)
    }

    /// A member's pause state: remembered for snapshots; sent as
    /// `QueueState` when `announce` (a pause or unpause happened) and it
    /// changed. Status events (`QueueMemberStatus`, `QueueMember`, …) only
    /// update what is remembered: they repeat the state on every call.
    fn on_queue_pause(&mut self, f: &Fields<'_>, announce: bool, out: Out<'_>) {
        let Some(line) = self.queue_line(f) else {
            return;
        };
        let Some(paused_field) = f.paused else {
            return;
        };
        let paused = {
            let p = paused_field.trim();
            p == "1" || p.eq_ignore_ascii_case("true")
        };
        let reason = clean(f.pausedreason.or(f.reason).unwrap_or(""));
        let queue = clean(f.queue.unwrap_or(""));
        self.queues.set(line, queue, paused, reason);
        if !announce {
            return;
        }
        let e = CallEvent {
            line: fixed::<{ limits::LINE_MAX }>(line) as Line,
            call: CallId::new(),
            kind: EventKind::QueueState {
                paused,
                reason: fixed(reason),
                queue: fixed(clean(f.queue.unwrap_or(""))),
            },
            info: InfoJson::new(),
        };
        self.stats.events += 1;
        out(e);
    }

    /// `AgentCalled` (and `AgentConnect`): the queue rings this member
    /// channel. A line's channel is marked directly (a `PJSIP/1006` member);
    /// a Local member (`Local/1006@from-queue/n`) is marked, and the channels
    /// its other half dials inherit the mark (see `on_dial_begin`).
    fn on_agent_called(&mut self, f: &Fields<'_>) {
        let s = if f.d_uid.is_some() || f.d_chan.is_some() {
            f.dest()
        } else {
            Fields::bare(None, f.dest_chan11)
        };
        if let Some(slot) = self.touch(&s, true, false) {
            self.chans.get_mut(slot).queue_leg = true;
        }
    }

    /// True when `slot` was rung by a queue, itself or through its Local
    /// pair.
    fn is_queue_leg(&self, slot: u32) -> bool {
        let c = self.chans.get(slot);
        c.queue_leg || (c.local != 0 && c.pair != NONE && self.chans.get(c.pair).queue_leg)
    }

    fn on_originate_response(&mut self, f: &Fields<'_>, out: Out<'_>) {
        let Some(slot) = self.find(&f.plain()) else {
            return;
        };
        if self.chans.get(slot).call.phase != Phase::Pending {
            return;
        }
        let num = dialled(f.exten);
        if !num.is_empty() {
            self.start(slot, Direction::Outgoing, num, "", out);
        }
    }

    fn on_core_show_channel(&mut self, f: &Fields<'_>, p: &Packet<'_>) {
        let s = f.plain();
        let known = self.find(&s).is_some();
        let Some(slot) = self.touch(&s, true, true) else {
            return;
        };
        if !self.opts.info_keys.is_empty() {
            self.capture_info(slot, p);
        }
        let epoch = self.epoch;
        let c = self.chans.get_mut(slot);
        c.seen = epoch;
        if !known {
            c.call.resync_found = true;
            c.call.resync_dir = match f.application.map(str::trim) {
                Some("AppDial" | "AppQueue") => Some(Direction::Incoming),
                Some("AppDial2" | "Dial" | "Queue") => Some(Direction::Outgoing),
                _ => None,
            };
        }
        if let Some(id) = f.bridgeid.map(str::trim).filter(|b| !b.is_empty()) {
            if let Some(b) = self.bridge_for(id, None) {
                self.join(slot, b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::{Decoder, Item, Limits};

    /// Feeds AMI text (packets separated by blank lines, `\n` endings).
    fn feed(t: &mut Tracker, ami: &str) -> std::vec::Vec<CallEvent> {
        let mut dec = Decoder::new(Limits::default());
        let mut out = std::vec::Vec::new();
        let mut rest = ami.as_bytes();
        loop {
            let n = dec.feed(rest);
            rest = &rest[n..];
            if rest.is_empty() {
                dec.finish();
            }
            while let Some(item) = dec.next_item() {
                if let Item::Packet(p) = item {
                    t.handle(&p, &mut out);
                }
            }
            if rest.is_empty() {
                return out;
            }
        }
    }

    fn brief(evs: &[CallEvent]) -> std::vec::Vec<std::string::String> {
        evs.iter()
            .map(|e| {
                let detail = match &e.kind {
                    EventKind::RingStarted {
                        direction, number, ..
                    } => format!("{} {}", direction.as_str(), number),
                    EventKind::CommutationStarted { number, .. }
                    | EventKind::CallerChanged { number, .. } => number.to_string(),
                    EventKind::PutHoldAction { by } | EventKind::EndHoldAction { by } => {
                        by.as_str().to_string()
                    }
                    EventKind::RingFinished {
                        reason,
                        cause,
                        answered,
                    } => format!("{} {} {}", reason.as_str(), cause, answered),
                    EventKind::Transferred { kind, number } => {
                        format!("{} {}", kind.as_str(), number)
                    }
                    EventKind::QueueState { paused, queue, .. } => format!("{paused} {queue}"),
                };
                format!("{} {} {} {}", e.line, e.call, e.name(), detail)
            })
            .collect()
    }

    fn newchannel(name: &str, uid: &str, state: u8, num: &str, exten: &str) -> std::string::String {
        format!(
            "Event: Newchannel\nChannel: {name}\nChannelState: {state}\nCallerIDNum: {num}\n\
             CallerIDName: Name {num}\nConnectedLineNum: <unknown>\nExten: {exten}\nUniqueid: {uid}\n\n"
        )
    }

    fn dial_begin(
        caller: &str,
        cuid: &str,
        cnum: &str,
        dest: &str,
        duid: &str,
    ) -> std::string::String {
        format!(
            "Event: DialBegin\nChannel: {caller}\nCallerIDNum: {cnum}\nCallerIDName: Name {cnum}\n\
             Uniqueid: {cuid}\nDestChannel: {dest}\nDestUniqueid: {duid}\nDialString: x\n\n"
        )
    }

    fn dial_end(cuid: &str, duid: &str, status: &str) -> std::string::String {
        format!("Event: DialEnd\nUniqueid: {cuid}\nDestUniqueid: {duid}\nDialStatus: {status}\n\n")
    }

    fn state(uid: &str, st: u8) -> std::string::String {
        format!("Event: Newstate\nUniqueid: {uid}\nChannelState: {st}\n\n")
    }

    fn enter(bridge: &str, uid: &str) -> std::string::String {
        format!(
            "Event: BridgeEnter\nBridgeUniqueid: {bridge}\nBridgeType: basic\nUniqueid: {uid}\n\n"
        )
    }

    fn hangup(uid: &str, cause: u16) -> std::string::String {
        format!("Event: Hangup\nUniqueid: {uid}\nCause: {cause}\n\n")
    }

    /// 1000 calls 1002; 1002 rings.
    fn call_ringing() -> (Tracker, std::vec::Vec<CallEvent>) {
        let mut t = Tracker::new(TrackerOptions::default());
        let ami = newchannel("PJSIP/1000-00000001", "1.1", 4, "1000", "1002")
            + &newchannel("PJSIP/1002-00000002", "1.2", 0, "1002", "s")
            + &dial_begin(
                "PJSIP/1000-00000001",
                "1.1",
                "1000",
                "PJSIP/1002-00000002",
                "1.2",
            )
            + &state("1.2", 5);
        let evs = feed(&mut t, &ami);
        (t, evs)
    }

    /// The same call, answered and bridged.
    fn call_talking() -> (Tracker, std::vec::Vec<CallEvent>) {
        let (mut t, mut evs) = call_ringing();
        let ami = state("1.2", 6)
            + &dial_end("1.1", "1.2", "ANSWER")
            + &enter("b1", "1.2")
            + &enter("b1", "1.1");
        evs.extend(feed(&mut t, &ami));
        (t, evs)
    }

    #[test]
    fn ringing_call_starts_once_on_each_line() {
        let (_, evs) = call_ringing();
        assert_eq!(
            brief(&evs),
            [
                "1000 1.1 RingStarted outgoing 1002",
                "1002 1.2 RingStarted incoming 1000"
            ]
        );
        assert_eq!(
            evs[1].kind,
            EventKind::RingStarted {
                direction: Direction::Incoming,
                number: fixed("1000"),
                name: fixed("Name 1000"),
            }
        );
    }

    #[test]
    fn ringing_then_cancel_finishes_with_cancelled() {
        let (mut t, _) = call_ringing();
        let evs = feed(
            &mut t,
            &(dial_end("1.1", "1.2", "CANCEL") + &hangup("1.2", 127) + &hangup("1.1", 127)),
        );
        assert_eq!(
            brief(&evs),
            [
                "1002 1.2 RingFinished cancelled 127 false",
                "1000 1.1 RingFinished cancelled 127 false"
            ]
        );
    }

    #[test]
    fn ringing_then_no_answer_finishes_with_no_answer_despite_cause_16() {
        let (mut t, _) = call_ringing();
        let evs = feed(
            &mut t,
            &(dial_end("1.1", "1.2", "NOANSWER") + &hangup("1.2", 16) + &hangup("1.1", 16)),
        );
        assert_eq!(
            brief(&evs),
            [
                "1002 1.2 RingFinished no_answer 16 false",
                "1000 1.1 RingFinished no_answer 16 false"
            ]
        );
    }

    #[test]
    fn busy_callee_finishes_both_sides_busy() {
        let (mut t, _) = call_ringing();
        let evs = feed(
            &mut t,
            &(hangup("1.2", 17) + &dial_end("1.1", "1.2", "BUSY") + &hangup("1.1", 16)),
        );
        assert_eq!(
            brief(&evs),
            [
                "1002 1.2 RingFinished busy 17 false",
                "1000 1.1 RingFinished busy 16 false"
            ]
        );
    }

    #[test]
    fn rejected_and_answered_elsewhere_come_from_the_cause() {
        let (mut t, _) = call_ringing();
        let evs = feed(&mut t, &hangup("1.2", 21));
        assert_eq!(brief(&evs), ["1002 1.2 RingFinished rejected 21 false"]);
        let (mut t, _) = call_ringing();
        let evs = feed(
            &mut t,
            &(dial_end("1.1", "1.2", "CANCEL") + &hangup("1.2", 26)),
        );
        assert_eq!(
            brief(&evs),
            ["1002 1.2 RingFinished answered_elsewhere 26 false"]
        );
    }

    #[test]
    fn unknown_cause_without_dial_status_is_failed() {
        let (mut t, _) = call_ringing();
        let evs = feed(&mut t, &hangup("1.2", 38));
        assert_eq!(brief(&evs), ["1002 1.2 RingFinished failed 38 false"]);
    }

    #[test]
    fn answered_call_commutes_both_lines_with_the_other_party() {
        let (_, evs) = call_talking();
        assert_eq!(
            brief(&evs[2..]),
            [
                "1002 1.2 CommutationStarted 1000",
                "1000 1.1 CommutationStarted 1002"
            ]
        );
    }

    #[test]
    fn talking_then_hangup_finishes_completed_answered() {
        let (mut t, _) = call_talking();
        let evs = feed(&mut t, &(hangup("1.1", 16) + &hangup("1.2", 16)));
        assert_eq!(
            brief(&evs),
            [
                "1000 1.1 RingFinished completed 16 true",
                "1002 1.2 RingFinished completed 16 true"
            ]
        );
    }

    #[test]
    fn hold_by_line_is_hold_by_peer_on_the_other_side() {
        let (mut t, _) = call_talking();
        let evs = feed(
            &mut t,
            "Event: Hold\nUniqueid: 1.1\n\nEvent: Hold\nUniqueid: 1.1\n\nEvent: Unhold\nUniqueid: 1.1\n\n",
        );
        assert_eq!(
            brief(&evs),
            [
                "1000 1.1 PutHoldAction line",
                "1002 1.2 PutHoldAction peer",
                "1000 1.1 EndHoldAction line",
                "1002 1.2 EndHoldAction peer"
            ]
        );
    }

    #[test]
    fn asterisk11_hold_status_off_ends_the_hold() {
        let (mut t, _) = call_talking();
        let evs = feed(
            &mut t,
            "Event: Hold\nStatus: On\nUniqueid: 1.2\n\nEvent: Hold\nStatus: Off\nUniqueid: 1.2\n\n",
        );
        assert_eq!(
            brief(&evs),
            [
                "1002 1.2 PutHoldAction line",
                "1000 1.1 PutHoldAction peer",
                "1002 1.2 EndHoldAction line",
                "1000 1.1 EndHoldAction peer"
            ]
        );
    }

    #[test]
    fn hold_while_ringing_is_ignored() {
        let (mut t, _) = call_ringing();
        let evs = feed(&mut t, "Event: Hold\nUniqueid: 1.1\n\n");
        assert!(evs.is_empty());
    }

    #[test]
    fn parked_call_is_on_hold_by_park_until_picked_up_by_a_new_party() {
        let (mut t, _) = call_talking();
        let ami = "Event: BridgeLeave\nBridgeUniqueid: b1\nUniqueid: 1.1\n\n\
                   Event: ParkedCall\nParkeeUniqueid: 1.1\nParkingSpace: 701\n\n"
            .to_string()
            + "Event: BridgeEnter\nBridgeUniqueid: park\nBridgeType: parking\nUniqueid: 1.1\n\n"
            + &hangup("1.2", 16)
            + &newchannel("PJSIP/1006-00000003", "1.3", 4, "1006", "701")
            + &state("1.3", 6)
            + "Event: BridgeLeave\nBridgeUniqueid: park\nUniqueid: 1.1\n\n\
               Event: UnParkedCall\nParkeeUniqueid: 1.1\nRetrieverUniqueid: 1.3\n\n"
            + &enter("b2", "1.1")
            + &enter("b2", "1.3");
        let evs = feed(&mut t, &ami);
        assert_eq!(
            brief(&evs),
            [
                "1000 1.1 PutHoldAction park",
                "1002 1.2 RingFinished completed 16 true",
                "1006 1.3 RingStarted outgoing 701",
                "1000 1.1 EndHoldAction park",
                "1000 1.1 CommutationStarted 1006",
                "1006 1.3 CommutationStarted 1000",
            ]
        );
    }

    #[test]
    fn party_change_ends_a_hold_by_peer_first() {
        let (mut t, _) = call_talking();
        let ami = "Event: Hold\nUniqueid: 1.2\n\n".to_string()
            + "Event: BridgeLeave\nBridgeUniqueid: b1\nUniqueid: 1.2\n\n"
            + &newchannel("PJSIP/1006-00000003", "1.3", 0, "1006", "s")
            + &enter("b1", "1.3");
        let evs = feed(&mut t, &ami);
        assert_eq!(
            brief(&evs),
            [
                "1002 1.2 PutHoldAction line",
                "1000 1.1 PutHoldAction peer",
                "1000 1.1 EndHoldAction peer",
                "1000 1.1 CommutationStarted 1006",
                // 1006 was never seen dialled: it is shown when it talks,
                // incoming because the PBX created its channel.
                "1006 1.3 RingStarted incoming 1000",
                "1006 1.3 CommutationStarted 1000",
            ]
        );
    }

    #[test]
    fn withheld_caller_is_still_a_party_to_talk_with() {
        let mut t = Tracker::new(TrackerOptions::default());
        let trunk = "Event: Newchannel\nChannel: PJSIP/trunk-00000001\nChannelState: 4\n\
                     CallerIDNum: <unknown>\nCallerIDName: <unknown>\nExten: 1002\nUniqueid: 9.1\n\n";
        let ami = trunk.to_string()
            + &newchannel("PJSIP/1002-00000002", "9.2", 0, "1002", "s")
            + "Event: DialBegin\nChannel: PJSIP/trunk-00000001\nCallerIDNum: <unknown>\n\
               CallerIDName: <unknown>\nUniqueid: 9.1\nDestChannel: PJSIP/1002-00000002\n\
               DestUniqueid: 9.2\nDialString: 1002\n\n"
            + &state("9.2", 6)
            + &dial_end("9.1", "9.2", "ANSWER")
            + &enter("b9", "9.2")
            + &enter("b9", "9.1")
            + &hangup("9.2", 16);
        let evs = feed(&mut t, &ami);
        let phone: std::vec::Vec<_> = evs.into_iter().filter(|e| e.line() == "1002").collect();
        assert_eq!(
            brief(&phone),
            [
                "1002 9.2 RingStarted incoming ",
                "1002 9.2 CommutationStarted ",
                "1002 9.2 RingFinished completed 16 true",
            ]
        );
    }

    #[test]
    fn same_party_again_sends_no_second_commutation() {
        let (mut t, _) = call_talking();
        let ami = "Event: BridgeLeave\nBridgeUniqueid: b1\nUniqueid: 1.1\n\n".to_string()
            + &enter("b1", "1.1");
        assert!(feed(&mut t, &ami).is_empty());
    }

    #[test]
    fn blind_transfer_finishes_the_transferer_with_transferred() {
        let (mut t, _) = call_talking();
        let ami = "Event: BlindTransfer\nResult: Success\nTransfererUniqueid: 1.2\n\
                   TransfereeUniqueid: 1.1\nExtension: 1006\n\n"
            .to_string()
            + &hangup("1.2", 16);
        let evs = feed(&mut t, &ami);
        assert_eq!(
            brief(&evs),
            [
                "1002 1.2 Transferred blind 1006",
                "1000 1.1 Transferred blind 1006",
                "1002 1.2 RingFinished transferred 16 true",
            ]
        );
    }

    #[test]
    fn originate_leg_without_hint_starts_when_the_number_is_known() {
        let mut t = Tracker::new(TrackerOptions::default());
        let ami = newchannel("PJSIP/1000-00000008", "2.8", 0, "1000", "s")
            + "Event: DialBegin\nDestChannel: PJSIP/1000-00000008\nDestUniqueid: 2.8\nDialString: 1000\n\n"
            + &state("2.8", 5)
            + &state("2.8", 6)
            + "Event: OriginateResponse\nResponse: Success\nChannel: PJSIP/1000-00000008\n\
               Exten: 1002\nUniqueid: 2.8\n\n";
        let evs = feed(&mut t, &ami);
        assert_eq!(brief(&evs), ["1000 2.8 RingStarted outgoing 1002"]);
    }

    #[test]
    fn unanswered_originate_leg_is_reported_when_it_ends() {
        let mut t = Tracker::new(TrackerOptions::default());
        let ami = newchannel("PJSIP/1000-00000008", "2.8", 0, "1000", "s")
            + "Event: DialBegin\nDestChannel: PJSIP/1000-00000008\nDestUniqueid: 2.8\n\n"
            + &state("2.8", 5)
            + "Event: DialEnd\nDestUniqueid: 2.8\nDialStatus: NOANSWER\n\n"
            + &hangup("2.8", 19);
        let evs = feed(&mut t, &ami);
        assert_eq!(
            brief(&evs),
            [
                "1000 2.8 RingStarted outgoing ",
                "1000 2.8 RingFinished no_answer 19 false"
            ]
        );
    }

    #[test]
    fn originate_leg_connected_to_its_own_line_is_no_caller_change() {
        let mut t = Tracker::new(TrackerOptions::default());
        t.expect_originate("orig-8", "1000", "1002");
        let ami = newchannel("PJSIP/1000-0000000b", "orig-8", 0, "1000", "s")
            + "Event: NewConnectedLine\nUniqueid: orig-8\nConnectedLineNum: 1000\n\
               ConnectedLineName: Alice\n\n"
            + "Event: NewConnectedLine\nUniqueid: orig-8\nConnectedLineNum: 1002\n\
               ConnectedLineName: Bob 1002\n\n";
        let evs = feed(&mut t, &ami);
        assert_eq!(
            brief(&evs),
            [
                "1000 orig-8 RingStarted outgoing 1002",
                "1000 orig-8 CallerChanged 1002",
            ]
        );
    }

    #[test]
    fn hinted_originate_starts_at_once_with_the_number() {
        let mut t = Tracker::new(TrackerOptions::default());
        t.expect_originate("orig-7", "1000", "+33 1 23");
        let ami = newchannel("PJSIP/1000-00000009", "orig-7", 0, "1000", "s")
            + "Event: DialBegin\nDestChannel: PJSIP/1000-00000009\nDestUniqueid: orig-7\n\n"
            + &state("orig-7", 5);
        let evs = feed(&mut t, &ami);
        assert_eq!(brief(&evs), ["1000 orig-7 RingStarted outgoing +33 1 23"]);
    }

    #[test]
    fn hinted_originate_through_a_local_channel_marks_the_dialled_phone_outgoing() {
        let mut t = Tracker::new(TrackerOptions::default());
        t.expect_originate("o.1", "1000", "555");
        let ami = newchannel("Local/1000@from-internal-0001;1", "o.1", 0, "", "1000")
            + &newchannel("Local/1000@from-internal-0001;2", "o.2", 4, "", "1000")
            + &newchannel("PJSIP/1000-0000000a", "o.3", 0, "1000", "s")
            + &dial_begin(
                "Local/1000@from-internal-0001;2",
                "o.2",
                "",
                "PJSIP/1000-0000000a",
                "o.3",
            );
        let evs = feed(&mut t, &ami);
        assert_eq!(brief(&evs), ["1000 o.3 RingStarted outgoing 555"]);
    }

    #[test]
    fn hinted_originate_of_a_phone_that_dials_another_phone_rings_it_incoming() {
        // What a `call` command does on a real Asterisk 22: the line's phone
        // is originated with a preset ChannelId, answers, and the dialplan
        // dials 1002 from it.
        let mut t = Tracker::new(TrackerOptions::default());
        t.expect_originate("ctib-1", "1000", "1002");
        let ami = newchannel("PJSIP/1000-00000002", "ctib-1", 0, "1000", "s")
            + &newchannel("PJSIP/1002-00000003", "1.3", 0, "1002", "s")
            + &dial_begin(
                "PJSIP/1000-00000002",
                "ctib-1",
                "1000",
                "PJSIP/1002-00000003",
                "1.3",
            );
        let evs = feed(&mut t, &ami);
        let b = brief(&evs);
        assert_eq!(b[0], "1000 ctib-1 RingStarted outgoing 1002");
        assert!(
            b.contains(&"1002 1.3 RingStarted incoming 1000".to_string()),
            "{b:?}"
        );
    }

    #[test]
    fn ringing_state_alone_starts_an_incoming_call_when_enabled() {
        let ami = newchannel("PJSIP/1002-00000002", "1.2", 0, "1002", "s")
            + "Event: Newstate\nUniqueid: 1.2\nChannelState: 5\nConnectedLineNum: 777\n\
               ConnectedLineName: Caller\n\n";
        let mut on = Tracker::new(TrackerOptions::default());
        assert_eq!(
            brief(&feed(&mut on, &ami)),
            ["1002 1.2 RingStarted incoming 777"]
        );
        let mut off = Tracker::new(TrackerOptions {
            ring_on_ringing_state: false,
            ..TrackerOptions::default()
        });
        assert!(feed(&mut off, &ami).is_empty());
    }

    #[test]
    fn ringing_before_dial_begin_still_starts_once() {
        let mut t = Tracker::new(TrackerOptions::default());
        let ami = newchannel("PJSIP/1000-00000001", "1.1", 4, "1000", "1002")
            + &newchannel("PJSIP/1002-00000002", "1.2", 0, "1002", "s")
            + &state("1.2", 5)
            + &dial_begin(
                "PJSIP/1000-00000001",
                "1.1",
                "1000",
                "PJSIP/1002-00000002",
                "1.2",
            );
        let evs = feed(&mut t, &ami);
        assert_eq!(evs.iter().filter(|e| e.line == "1002").count(), 1);
    }

    #[test]
    fn local_pair_is_followed_to_the_real_party() {
        let mut t = Tracker::new(TrackerOptions::default());
        let ami = newchannel("PJSIP/7007-00000001", "q.1", 4, "7007", "88")
            + &state("q.1", 6)
            + &newchannel("Local/7006@from-queue-0001;1", "q.2", 0, "", "7006")
            + &newchannel("Local/7006@from-queue-0001;2", "q.3", 4, "7007", "7006")
            + &newchannel("PJSIP/7006-00000002", "q.4", 0, "7006", "s")
            + &dial_begin(
                "Local/7006@from-queue-0001;2",
                "q.3",
                "7007",
                "PJSIP/7006-00000002",
                "q.4",
            )
            + &state("q.4", 6)
            + &state("q.2", 6)
            + &state("q.3", 6)
            + &enter("bb", "q.4")
            + &enter("bb", "q.3")
            + &enter("ba", "q.2")
            + &enter("ba", "q.1");
        let evs = feed(&mut t, &ami);
        assert_eq!(
            brief(&evs),
            [
                "7007 q.1 RingStarted outgoing 88",
                "7006 q.4 RingStarted incoming 7007",
                "7006 q.4 CommutationStarted 7007",
                "7007 q.1 CommutationStarted 7006",
            ]
        );
    }

    #[test]
    fn blind_transfer_shows_the_target_only_once_it_answers() {
        let (mut t, _) = call_talking();
        // 1002 blind-transfers 1000 to 1006: Asterisk puts a ringing Local
        // channel in 1000's bridge; its other half dials 1006.
        let ami = "Event: BlindTransfer\nResult: Success\nTransfererUniqueid: 1.2\n\
                   TransfereeUniqueid: 1.1\nExtension: 1006\n\n"
            .to_string()
            + "Event: BridgeLeave\nBridgeUniqueid: b1\nUniqueid: 1.2\n\n"
            + &hangup("1.2", 16)
            + &newchannel("Local/1006@from-internal-0002;1", "t.1", 0, "1000", "1006")
            + &newchannel("Local/1006@from-internal-0002;2", "t.2", 4, "1000", "1006")
            + &enter("b1", "t.1")
            + &newchannel("PJSIP/1006-00000009", "t.3", 0, "1006", "s")
            + &dial_begin(
                "Local/1006@from-internal-0002;2",
                "t.2",
                "1000",
                "PJSIP/1006-00000009",
                "t.3",
            )
            + &state("t.3", 6)
            + &state("t.1", 6)
            + &state("t.2", 6)
            + &enter("b2", "t.3")
            + &enter("b2", "t.2");
        let evs = feed(&mut t, &ami);
        assert_eq!(
            brief(&evs),
            [
                "1002 1.2 Transferred blind 1006",
                "1000 1.1 Transferred blind 1006",
                "1002 1.2 RingFinished transferred 16 true",
                "1006 t.3 RingStarted incoming 1000",
                "1006 t.3 CommutationStarted 1000",
                "1000 1.1 CommutationStarted 1006",
            ]
        );
    }

    #[test]
    fn consulting_a_third_party_while_holding_ends_the_hold_first() {
        let (mut t, _) = call_talking();
        let ami = "Event: Hold\nUniqueid: 1.2\n\n".to_string()
            + "Event: BridgeLeave\nBridgeUniqueid: b1\nUniqueid: 1.2\n\n"
            + &newchannel("PJSIP/1006-00000003", "1.3", 0, "1006", "s")
            + &enter("b3", "1.3")
            + &enter("b3", "1.2");
        let evs = feed(&mut t, &ami);
        assert_eq!(
            brief(&evs),
            [
                "1002 1.2 PutHoldAction line",
                "1000 1.1 PutHoldAction peer",
                "1006 1.3 RingStarted incoming 1002",
                "1006 1.3 CommutationStarted 1002",
                "1002 1.2 EndHoldAction line",
                "1002 1.2 CommutationStarted 1006",
            ]
        );
    }

    #[test]
    fn full_table_refuses_new_channels_and_never_finishes_them() {
        let mut t = Tracker::new(TrackerOptions {
            channel_capacity: limits::CHANNELS_MIN,
            ..TrackerOptions::default()
        });
        let mut ami = std::string::String::new();
        for i in 0..limits::CHANNELS_MIN + 3 {
            ami += &newchannel(&format!("PJSIP/{i}-0000"), &format!("9.{i}"), 4, "1", "2");
        }
        for i in 0..limits::CHANNELS_MIN + 3 {
            ami += &hangup(&format!("9.{i}"), 16);
        }
        let evs = feed(&mut t, &ami);
        let starts = evs.iter().filter(|e| e.name() == "RingStarted").count();
        let ends = evs.iter().filter(|e| e.name() == "RingFinished").count();
        assert_eq!((starts, ends), (limits::CHANNELS_MIN, limits::CHANNELS_MIN));
        assert_eq!(t.stats().channels_refused, 3);
        assert_eq!(t.stats().channels_used, 0);
    }

    #[test]
    fn late_event_of_a_dead_channel_does_not_revive_it() {
        let (mut t, _) = call_talking();
        feed(&mut t, &(hangup("1.1", 16) + &hangup("1.2", 16)));
        let evs = feed(&mut t, &(state("1.2", 6) + &enter("b9", "1.2")));
        assert!(evs.is_empty());
        assert_eq!(t.stats().channels_used, 0);
    }

    /// Found by the `tracker` fuzz target: a late `Newstate` for a channel
    /// whose call had finished started that call again once more than
    /// `RECENT_HANGUPS` other channels had hung up since (the documented
    /// limit); within the limit it never does.
    #[test]
    fn a_late_event_never_restarts_a_finished_call_while_its_hangup_is_remembered() {
        let (mut t, _) = call_talking();
        feed(&mut t, &(hangup("1.1", 16) + &hangup("1.2", 16)));
        let others = |t: &mut Tracker, from: usize, n: usize| {
            for i in from..from + n {
                let uid = format!("9.{i}");
                let name = format!("PJSIP/2000-{i:08x}");
                feed(
                    t,
                    &(newchannel(&name, &uid, 4, "2000", "1") + &hangup(&uid, 16)),
                );
            }
        };
        others(&mut t, 0, limits::RECENT_HANGUPS - 2);
        assert!(t.remembers_hangup("1.2"));
        assert!(feed(&mut t, &state("1.2", 5)).is_empty());
        others(&mut t, 100, 1);
        assert!(!t.remembers_hangup("1.1"), "the oldest is forgotten first");
        assert!(t.remembers_hangup("1.2"));
        assert!(feed(&mut t, &state("1.2", 5)).is_empty());
        others(&mut t, 200, 1);
        assert!(!t.remembers_hangup("1.2"));
        assert_eq!(t.hangups_remembered(), 2 + limits::RECENT_HANGUPS as u64);
    }

    #[test]
    fn snapshot_replays_live_calls_of_one_line() {
        let (mut t, _) = call_talking();
        feed(&mut t, "Event: Hold\nUniqueid: 1.1\n\n");
        let mut snap = std::vec::Vec::new();
        t.snapshot("1002", &mut snap);
        assert_eq!(
            brief(&snap),
            [
                "1002 1.2 RingStarted incoming 1000",
                "1002 1.2 CommutationStarted 1000",
                "1002 1.2 PutHoldAction peer"
            ]
        );
        snap.clear();
        t.snapshot("4242", &mut snap);
        assert!(snap.is_empty());
    }

    #[test]
    fn resync_finishes_vanished_calls_and_starts_found_ones() {
        let (mut t, _) = call_talking();
        t.begin_resync();
        let ami = "Event: CoreShowChannel\nChannel: PJSIP/1002-00000002\nUniqueid: 1.2\n\
                   ChannelState: 6\nBridgeId: b7\nApplication: AppDial\nConnectedLineNum: 1000\n\n\
                   Event: CoreShowChannel\nChannel: PJSIP/1006-00000005\nUniqueid: 1.5\n\
                   ChannelState: 6\nBridgeId: b7\nApplication: Dial\nCallerIDNum: 1006\n\
                   ConnectedLineNum: 1002\nConnectedLineName: Bob\n\n\
                   Event: CoreShowChannel\nChannel: PJSIP/1007-00000006\nUniqueid: 1.6\n\
                   ChannelState: 5\nApplication: AppDial\nConnectedLineNum: 1009\n\n";
        assert!(feed(&mut t, ami).is_empty(), "nothing before the end");
        let mut evs = std::vec::Vec::new();
        t.end_resync(&mut evs);
        assert_eq!(
            brief(&evs),
            [
                "1000 1.1 RingFinished completed 0 true",
                "1006 1.5 RingStarted outgoing 1002",
                "1007 1.6 RingStarted incoming 1009",
                "1002 1.2 CommutationStarted 1006",
                "1006 1.5 CommutationStarted 1002",
            ]
        );
        assert!(!t.resyncing());
    }

    #[test]
    fn aborted_resync_finishes_nothing() {
        let (mut t, _) = call_talking();
        t.begin_resync();
        t.abort_resync();
        let mut evs = std::vec::Vec::new();
        t.end_resync(&mut evs);
        assert!(evs.is_empty());
        assert_eq!(t.stats().channels_used, 2);
    }

    #[test]
    fn queue_member_pause_goes_to_the_member_line() {
        let mut t = Tracker::new(TrackerOptions::default());
        let evs = feed(
            &mut t,
            "Event: QueueMemberPause\nQueue: support\nInterface: Local/1006@from-queue/n\n\
             Paused: 1\nPausedReason: Lunch\n\n",
        );
        assert_eq!(
            evs[0].to_string(),
            r#"{"event":"QueueState","line":"1006","call":"","paused":true,"reason":"Lunch","queue":"support"}"#
        );
    }

    #[test]
    fn a_later_client_is_told_the_known_queue_pause_state() {
        let mut t = Tracker::new(TrackerOptions::default());
        // Status events only update what is remembered: no event.
        let evs = feed(
            &mut t,
            "Event: QueueMemberStatus\nQueue: support\nInterface: PJSIP/1002\nPaused: 0\n\n\
             Event: QueueMember\nQueue: sales\nLocation: PJSIP/1002\nPaused: 1\n\
             PausedReason: Break\n\n",
        );
        assert!(evs.is_empty());
        let mut snap = std::vec::Vec::new();
        t.snapshot("1002", &mut snap);
        assert_eq!(
            brief(&snap),
            [
                "1002  QueueState false support",
                "1002  QueueState true sales"
            ]
        );
        // A pause is sent and remembered; a removed membership is forgotten.
        let evs = feed(
            &mut t,
            "Event: QueueMemberPause\nQueue: support\nInterface: PJSIP/1002\nPaused: 1\n\
             PausedReason: Lunch\n\n\
             Event: QueueMemberRemoved\nQueue: sales\nInterface: PJSIP/1002\n\n",
        );
        assert_eq!(brief(&evs), ["1002  QueueState true support"]);
        let mut snap = std::vec::Vec::new();
        t.snapshot("1002", &mut snap);
        assert_eq!(snap.len(), 1);
        assert_eq!(
            snap[0].to_string(),
            r#"{"event":"QueueState","line":"1002","call":"","paused":true,"reason":"Lunch","queue":"support"}"#
        );
        let mut other = std::vec::Vec::new();
        t.snapshot("1000", &mut other);
        assert!(other.is_empty());
    }

    #[test]
    fn info_keys_are_copied_into_every_event_of_the_call() {
        let mut opts = TrackerOptions::default();
        let _ = opts.info_keys.push(fixed("Linkedid"));
        let _ = opts.info_keys.push(fixed("ChanVariable(CRMID)"));
        let mut t = Tracker::new(opts);
        let ami = "Event: Newchannel\nChannel: PJSIP/1000-1\nChannelState: 4\nExten: 5\n\
                   Uniqueid: 3.1\nLinkedid: 3.0\nChanVariable: CRMID=42\n\n"
            .to_string()
            + &hangup("3.1", 16);
        let evs = feed(&mut t, &ami);
        assert!(evs[0]
            .to_string()
            .ends_with(r#","info":{"Linkedid":"3.0","CRMID":"42"}}"#));
        assert!(evs[1]
            .to_string()
            .contains(r#""info":{"Linkedid":"3.0","CRMID":"42"}"#));
    }

    /// Found by the `config` fuzz target: check-config accepted a
    /// `queueExtensionFormat` of up to 96 bytes, the tracker refused more
    /// than 64, so such a config passed its check and then the bridge would
    /// not start.
    #[test]
    fn a_queue_format_as_long_as_the_config_allows_is_taken_whole() {
        let prefix = "Local/".to_string() + &"q".repeat(QUEUE_FORMAT_MAX - 40);
        let format = format!(
            "{prefix}{{line}}@{}/n",
            "c".repeat(QUEUE_FORMAT_MAX - prefix.len() - 9)
        );
        assert_eq!(format.len(), QUEUE_FORMAT_MAX);
        let o = TrackerOptions::new("PJSIP/", &format, true, &[], 64).unwrap();
        assert_eq!(o.queue_extension_format.as_str(), format);
        let member = format.replace("{line}", "1000");
        assert_eq!(
            QueueFormat::parse(&o.queue_extension_format).line_of(&member),
            Some("1000")
        );
        let longer = format.replace("{line}", "{line}x");
        assert_eq!(
            TrackerOptions::new("PJSIP/", &longer, true, &[], 64),
            Err(OptionsError::QueueExtensionFormat)
        );
        assert!(OptionsError::QueueExtensionFormat
            .to_string()
            .contains("at most 96 bytes"));
    }

    #[test]
    fn options_from_config_values_are_checked() {
        let o = TrackerOptions::new("SIP/", "Local/{0}@q", false, &["Linkedid", " "], 64).unwrap();
        assert_eq!(o.protocol.as_str(), "SIP/");
        assert_eq!(o.info_keys.len(), 1);
        assert_eq!(
            TrackerOptions::new("PJSIP", "Local/{0}@q", true, &[], 64),
            Err(OptionsError::Protocol)
        );
        assert_eq!(
            TrackerOptions::new("PJSIP/", "Local/1000@q", true, &[], 64),
            Err(OptionsError::QueueExtensionFormat)
        );
        assert_eq!(
            TrackerOptions::new("PJSIP/", "Local/{0}@q", true, &["k"; 9], 64),
            Err(OptionsError::PacketInfoConfig)
        );
        assert_eq!(
            TrackerOptions::new("PJSIP/", "Local/{0}@q", true, &[], 1),
            Err(OptionsError::Channels)
        );
        assert!(OptionsError::Channels.to_string().contains("channels"));
    }

    #[test]
    fn dialstring_number_strips_technology_and_host() {
        assert_eq!(dialstring_number(Some("1002")), "1002");
        assert_eq!(dialstring_number(Some("PJSIP/1006")), "1006");
        assert_eq!(dialstring_number(Some("9898@trunk")), "9898");
        assert_eq!(
            dialstring_number(Some("7006/sip:7006@203.0.113.13:5060")),
            "7006"
        );
    }

    // ---- accessors for client commands ------------------------------------

    fn agent_called(
        caller_uid: &str,
        dest: &str,
        dest_uid: &str,
        iface: &str,
    ) -> std::string::String {
        format!(
            "Event: AgentCalled\nUniqueid: {caller_uid}\nDestChannel: {dest}\n\
             DestUniqueid: {dest_uid}\nQueue: support\nInterface: {iface}\n\n"
        )
    }

    #[test]
    fn call_info_names_the_line_channel_and_its_peer() {
        let (t, _) = call_talking();
        let info = t.call_info("1.1").expect("a live call");
        assert_eq!(info.line, "1000");
        assert_eq!(info.channel, "PJSIP/1000-00000001");
        assert_eq!(info.uniqueid, "1.1");
        assert_eq!(info.peer_channel, Some("PJSIP/1002-00000002"));
        assert_eq!(info.peer_uniqueid, Some("1.2"));
        assert!(info.answered);
        assert!(!info.queue);
        assert_eq!(info.hold, None);
    }

    #[test]
    fn call_info_of_a_ringing_call_has_no_peer() {
        let (t, _) = call_ringing();
        let info = t.call_info("1.2").expect("a live call");
        assert_eq!(info.line, "1002");
        assert_eq!(info.peer_channel, None);
        assert!(!info.answered);
    }

    #[test]
    fn call_info_knows_no_finished_unknown_or_non_line_call() {
        let (mut t, _) = call_talking();
        assert_eq!(t.call_info("9.9"), None);
        assert_eq!(t.call_info(""), None);
        feed(&mut t, &hangup("1.1", 16));
        assert_eq!(t.call_info("1.1"), None);
        assert!(t.call_info("1.2").is_some());
    }

    #[test]
    fn a_static_queue_member_call_is_a_queue_call() {
        let mut t = Tracker::new(TrackerOptions::default());
        let ami = newchannel("PJSIP/1000-0000000b", "f.11", 4, "1000", "7000")
            + &state("f.11", 6)
            + &newchannel("PJSIP/1006-0000000c", "f.12", 0, "1006", "7000")
            + &agent_called("f.11", "PJSIP/1006-0000000c", "f.12", "PJSIP/1006")
            + &dial_begin(
                "PJSIP/1000-0000000b",
                "f.11",
                "1000",
                "PJSIP/1006-0000000c",
                "f.12",
            )
            + &state("f.12", 6)
            + &enter("bq", "f.12")
            + &enter("bq", "f.11");
        let evs = feed(&mut t, &ami);
        assert!(evs
            .iter()
            .any(|e| e.call == "f.12" && e.name() == "CommutationStarted"));
        assert!(t.call_info("f.12").unwrap().queue, "the member's call");
        assert!(!t.call_info("f.11").unwrap().queue, "the caller's call");
    }

    #[test]
    fn a_local_queue_member_marks_the_phone_its_other_half_dials() {
        let mut t = Tracker::new(TrackerOptions::default());
        let ami = newchannel("PJSIP/7007-00000001", "q.1", 4, "7007", "88")
            + &state("q.1", 6)
            + &newchannel("Local/7006@from-queue-0001;1", "q.2", 0, "", "7006")
            + &newchannel("Local/7006@from-queue-0001;2", "q.3", 4, "7007", "7006")
            + &agent_called(
                "q.1",
                "Local/7006@from-queue-0001;1",
                "q.2",
                "Local/7006@from-queue/n",
            )
            + &newchannel("PJSIP/7006-00000002", "q.4", 0, "7006", "s")
            + &dial_begin(
                "Local/7006@from-queue-0001;2",
                "q.3",
                "7007",
                "PJSIP/7006-00000002",
                "q.4",
            );
        feed(&mut t, &ami);
        assert!(t.call_info("q.4").unwrap().queue);
        assert!(!t.call_info("q.1").unwrap().queue);
    }

    #[test]
    fn an_ordinary_call_is_not_a_queue_call() {
        let mut t = Tracker::new(TrackerOptions::default());
        // Same Local shape as a queue member, but no AgentCalled.
        let ami = newchannel("PJSIP/7007-00000001", "q.1", 4, "7007", "7006")
            + &newchannel("Local/7006@from-internal-0001;1", "q.2", 0, "", "7006")
            + &newchannel("Local/7006@from-internal-0001;2", "q.3", 4, "7007", "7006")
            + &newchannel("PJSIP/7006-00000002", "q.4", 0, "7006", "s")
            + &dial_begin(
                "Local/7006@from-internal-0001;2",
                "q.3",
                "7007",
                "PJSIP/7006-00000002",
                "q.4",
            );
        feed(&mut t, &ami);
        assert!(!t.call_info("q.4").unwrap().queue);
    }

    #[test]
    fn parking_space_is_known_while_parked() {
        let (mut t, _) = call_talking();
        assert_eq!(t.parking_space("1.2"), None);
        feed(
            &mut t,
            "Event: ParkedCall\nParkeeChannel: PJSIP/1002-00000002\nParkeeUniqueid: 1.2\n\
             ParkingSpace: 701\nParkingLot: default\n\n",
        );
        assert_eq!(t.parking_space("1.2"), Some("701"));
        feed(
            &mut t,
            "Event: ParkedCallTimeOut\nParkeeUniqueid: 1.2\nParkingSpace: 701\n\n",
        );
        assert_eq!(t.parking_space("1.2"), None);
        feed(
            &mut t,
            "Event: ParkedCall\nParkeeUniqueid: 1.2\nParkingSpace: 702\n\n",
        );
        assert_eq!(t.parking_space("1.2"), Some("702"));
        feed(
            &mut t,
            "Event: UnParkedCall\nParkeeUniqueid: 1.2\nParkingSpace: 702\n\n",
        );
        assert_eq!(t.parking_space("1.2"), None);
    }

    #[test]
    fn an_overlong_parking_space_is_not_kept_cut() {
        let (mut t, _) = call_talking();
        let long = "7".repeat(PARK_SPACE_MAX + 1);
        feed(
            &mut t,
            &format!("Event: ParkedCall\nParkeeUniqueid: 1.2\nParkingSpace: {long}\n\n"),
        );
        assert_eq!(t.parking_space("1.2"), None);
        assert_eq!(t.parking_space("nobody"), None);
    }

    #[test]
    fn in_the_queue_recording_only_the_answering_member_talks_on_a_queue_call() {
        // f_queue_answered: 1000 calls queue 7000, static members 1002 and
        // 1006 ring, 1006 answers (README of tests/recordings).
        let bytes = include_bytes!("../../tests/recordings/f_queue_answered.ami");
        let mut t = Tracker::new(TrackerOptions::default());
        let mut dec = Decoder::new(Limits::default());
        let mut talks = std::vec::Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = dec.feed(rest);
            rest = &rest[n..];
            while let Some(item) = dec.next_item() {
                let Item::Packet(p) = item else { continue };
                let mut out = std::vec::Vec::new();
                t.handle(&p, &mut out);
                for e in out.iter().filter(|e| e.name() == "CommutationStarted") {
                    let queue = t.call_info(&e.call).is_some_and(|i| i.queue);
                    talks.push((e.line.to_string(), queue));
                }
            }
        }
        talks.sort();
        assert_eq!(
            talks,
            [("1000".to_string(), false), ("1006".to_string(), true)]
        );
    }
}
