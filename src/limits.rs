//! Every capacity in ctibridge, as a named constant with what happens at the limit.
//!
//! Values a deployment may want to tune are config keys (see `config`), each
//! bounded by a hard ceiling defined here; the rest are fixed.

/// Default size of the AMI read buffer, in bytes. One packet must fit in it.
///
/// **At the limit:** a packet larger than the buffer is skipped to its blank
/// line, counted as `codec.skipped` on /health, and the next packet parses.
pub const AMI_BUFFER_SIZE: usize = 64 * 1024;

/// Largest AMI read buffer a config may ask for (`amiBufferSize`).
pub const AMI_BUFFER_SIZE_MAX: usize = 4 * 1024 * 1024;

/// Smallest AMI read buffer a config may ask for.
pub const AMI_BUFFER_SIZE_MIN: usize = 1024;

/// Default longest AMI line, in bytes, without its line ending.
///
/// **At the limit:** the packet holding the line is skipped to its blank line,
/// counted as `codec.skipped`, and the stream stays in sync.
pub const AMI_MAX_LINE: usize = 8 * 1024;

/// Default most `Key: Value` fields in one AMI packet. `PJSIPShowEndpoint`
/// answers carry about 90; `Response: Follows` output lines count as fields.
///
/// **At the limit:** the packet is skipped to its blank line, counted as
/// `codec.skipped`, and the next packet parses.
pub const AMI_MAX_FIELDS: usize = 128;

/// Largest `amiMaxFields` a config may ask for.
pub const AMI_MAX_FIELDS_MAX: usize = 4096;

/// Most health/metrics HTTP connections served at once.
///
/// **At the limit:** a new connection is closed at once and counted as
/// `http.refused`; the ones in progress finish normally.
pub const HTTP_MAX_CONNECTIONS: usize = 8;

/// Largest HTTP request head accepted by the health endpoint, in bytes.
///
/// **At the limit:** the request gets `431` and the connection closes;
/// counted as `http.refused`.
pub const HTTP_MAX_REQUEST: usize = 2048;

/// Most headers parsed in one HTTP request.
///
/// **At the limit:** the request gets `431`; counted as `http.refused`.
pub const HTTP_MAX_HEADERS: usize = 24;

/// Seconds a client has to send its whole request head.
///
/// **At the limit:** the connection is closed without an answer and counted
/// as `http.refused`, so a slow client cannot hold a slot.
pub const HTTP_HEADER_TIMEOUT_S: u64 = 5;

/// Default capacity of the call tracker's channel table (`channels`): every
/// live Asterisk channel (phones, trunks, Local halves) takes one slot.
///
/// **At the limit:** a new channel is not tracked and counted as
/// `channels.refused` (logged once per burst); calls already tracked go on
/// unchanged, and a call that was never started is never finished.
pub const CHANNELS: usize = 1024;

/// Largest channel table a config may ask for.
pub const CHANNELS_MAX: usize = 65_536;

/// Smallest channel table a config may ask for.
pub const CHANNELS_MIN: usize = 16;

/// Bridges tracked at once, per channel slot (the bridge table has
/// `channels × BRIDGES_PER_CHANNEL` slots; a bridge needs a channel to live).
///
/// **At the limit:** a new bridge is not tracked and counted as
/// `bridges.refused`; its channels are seen as not bridged, so no
/// `CommutationStarted` is sent for them until a tracked bridge forms.
pub const BRIDGES_PER_CHANNEL: usize = 1;

/// Channels remembered per bridge (two for a call; more for conferences and
/// the moment of a transfer).
///
/// **At the limit:** a further channel entering the bridge is not listed
/// and counted as `bridges.members_dropped`; the first members keep their
/// party.
pub const BRIDGE_MEMBERS: usize = 8;

/// Pending originate hints (`call` commands whose channel has not appeared
/// yet).
///
/// **At the limit:** the oldest hint is forgotten and counted as
/// `originate.hints_dropped`; its call is still reported, as an Originate
/// leg without a known number until the PBX names it.
pub const ORIGINATE_HINTS: usize = 64;

/// Uniqueids of channels that hung up recently, remembered so that a late
/// event for a dead channel does not bring it back.
///
/// **At the limit:** the oldest is forgotten (a ring buffer); nothing is
/// counted.
pub const RECENT_HANGUPS: usize = 64;

/// Most `packetInfoConfig` keys.
///
/// **At the limit:** further keys are ignored (config validation says so).
pub const INFO_KEYS_MAX: usize = 8;

/// Longest `packetInfoConfig` key name, in bytes.
///
/// **At the limit:** the key is ignored (config validation says so).
pub const INFO_KEY_MAX: usize = 32;

/// Longest value copied into an event's `info`, in bytes.
///
/// **At the limit:** the value is cut at a character boundary.
pub const INFO_VALUE_MAX: usize = 64;

/// Longest rendered `info` object of one event, in bytes.
///
/// **At the limit:** the keys that do not fit are left out of that event.
pub const INFO_JSON_MAX: usize = 512;

/// Longest Uniqueid (the call id) kept, in bytes. Asterisk's are about 20
/// (`1795422529.0`), longer with a system name.
///
/// **At the limit:** the id is cut; two ids equal in their first 64 bytes
/// are taken for the same channel.
pub const UNIQUEID_MAX: usize = 64;

/// Longest channel name kept, in bytes (Asterisk's own limit is 80).
///
/// **At the limit:** the name is cut; lookups by name may then miss.
pub const CHANNEL_NAME_MAX: usize = 80;

/// Longest line (extension) kept, in bytes.
///
/// **At the limit:** the line is cut at a character boundary.
pub const LINE_MAX: usize = 32;

/// Longest phone number kept (caller, connected, dialled), in bytes.
///
/// **At the limit:** the number is cut at a character boundary.
pub const NUMBER_MAX: usize = 40;

/// Longest caller or connected name kept, in bytes (UTF-8).
///
/// **At the limit:** the name is cut at a character boundary.
pub const NAME_MAX: usize = 64;

/// Longest bridge id kept, in bytes (Asterisk's are 36-byte UUIDs).
///
/// **At the limit:** the id is cut; ids equal in their first 72 bytes are
/// taken for the same bridge.
pub const BRIDGE_ID_MAX: usize = 72;
