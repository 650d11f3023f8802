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

/// Longest line of an AMI action we send, in bytes, without its CRLF.
/// Asterisk reads each action line into a 1024-byte buffer that must also
/// hold the line's CRLF (`manager.c`, `get_input`), so 1022 is the most it
/// accepts; a longer line makes it discard the action.
///
/// **At the limit:** the action is refused before it is sent, with
/// `InvalidAction::LineTooLong`; nothing is written and the session carries on.
pub const AMI_ACTION_MAX_LINE: usize = 1022;

/// Most fields in one AMI action we send (Asterisk takes 128 lines at most).
///
/// **At the limit:** the action is refused before it is sent, with
/// `InvalidAction::TooManyFields`.
pub const AMI_ACTION_MAX_FIELDS: usize = 64;

/// Most AMI actions waiting for their answer at once, the session's own
/// (login, keepalive, resync) included.
///
/// **At the limit:** `SessionHandle::send` fails at once with
/// `ActionError::TooManyPending`, counted as `actionsRefused` on /health; the
/// actions already waiting are not disturbed.
pub const AMI_MAX_PENDING_ACTIONS: usize = 64;

/// Most bytes of actions queued for writing to Asterisk and not yet written.
///
/// **At the limit:** `SessionHandle::send` fails with
/// `ActionError::TooManyPending`, counted as `actionsRefused`.
pub const AMI_WRITE_QUEUE_BYTES: usize = 64 * 1024;

/// Most items one list action (`EventList: start` ... `Complete`) collects for
/// its caller.
///
/// **At the limit:** further items are dropped and counted (in the reply and
/// as `listItemsDropped` on /health); the caller still gets the reply at the
/// list's end.
pub const AMI_MAX_LIST_ITEMS: usize = 2048;

/// Most bytes of items one list action collects for its caller.
///
/// **At the limit:** as for [`AMI_MAX_LIST_ITEMS`].
pub const AMI_MAX_LIST_BYTES: usize = 1024 * 1024;

/// Longest error message kept from a refused action (`Response: Error`), in
/// bytes.
///
/// **At the limit:** the message is cut at a character boundary.
pub const AMI_ERROR_MESSAGE_MAX: usize = 200;

/// Longest text kept for /health: the last error and the banner.
///
/// **At the limit:** the text is cut at a character boundary.
pub const AMI_STATUS_TEXT_MAX: usize = 200;

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

// ---- Config: capacities a deployment may tune, and the config file itself ----

/// Largest config file read, in bytes.
///
/// **At the limit:** the file is refused before it is parsed, with a message
/// giving the size; nothing starts.
pub const CONFIG_MAX_BYTES: usize = 64 * 1024;

/// Deepest nesting of objects and arrays in the config file.
///
/// **At the limit:** the file is refused with the line and column of the
/// first bracket too deep; nothing starts.
pub const CONFIG_MAX_DEPTH: usize = 16;

/// Most users (`users`, one token each) in a config.
///
/// **At the limit:** the config is refused with a message naming `users`;
/// nothing starts.
pub const MAX_USERS: usize = 256;

/// Most `dialPatterns` per user.
///
/// **At the limit:** the config is refused naming the user's `dialPatterns`.
pub const MAX_DIAL_PATTERNS: usize = 8;

/// Most AMI keys in `packetInfoConfig`.
///
/// **At the limit:** the config is refused naming `packetInfoConfig`.
pub const MAX_PACKET_INFO_KEYS: usize = INFO_KEYS_MAX;

/// Smallest `amiMaxLine` a config may ask for.
pub const AMI_MAX_LINE_MIN: usize = 256;

/// Smallest `amiMaxFields` a config may ask for.
pub const AMI_MAX_FIELDS_MIN: usize = 16;

/// Default `originateRatePerMinute`: calls one user may start per minute.
///
/// **At the limit:** the `call` command is answered with an error result
/// (`code` `rate_limited`) and counted; the user's other commands still work.
pub const ORIGINATE_RATE_PER_MINUTE: u32 = 10;

/// Largest `originateRatePerMinute` a config may ask for.
pub const ORIGINATE_RATE_PER_MINUTE_MAX: u32 = 600;

/// Default capacity of the call tracker's channel table (`channels`): every
/// live Asterisk channel (phones, trunks, Local halves) takes one slot.
///
/// **At the limit:** a new channel is not tracked and counted as
/// `channels.refused` (logged once per burst); calls already tracked go on
/// unchanged, and a call that was never started is never finished.
pub const CHANNELS: usize = 1024;

/// Largest channel table a config may ask for (`maxChannels`).
pub const CHANNELS_MAX: usize = 8192;

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

/// Queue memberships (a line in a queue) whose pause state is remembered,
/// so that a client connecting later is told it (in its snapshot).
///
/// **At the limit:** a new membership is not remembered and is counted as
/// `dropped.queue_states`; its `QueueState` events are still sent to the
/// clients connected at the time.
pub const QUEUE_STATES: usize = 1024;

/// Uniqueids of channels that hung up recently, remembered so that a late
/// event for a dead channel does not bring it back.
///
/// **At the limit:** the oldest is forgotten (a ring buffer); nothing is
/// counted. An event naming a forgotten channel again is taken as a new
/// channel, so its call may start again under the same id (the `tracker`
/// fuzz target found this; a PBX sends its late events within moments of
/// the hangup, not after 64 others).
pub const RECENT_HANGUPS: usize = 64;

/// Most `packetInfoConfig` keys the tracker copies into `info`.
///
/// **At the limit:** the config is refused naming `packetInfoConfig`
/// ([`MAX_PACKET_INFO_KEYS`] is this same number).
pub const INFO_KEYS_MAX: usize = 8;

/// Longest `packetInfoConfig` key name, in bytes.
///
/// **At the limit:** the config is refused naming `packetInfoConfig`.
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
/// Default most WebSocket connections open at once (`maxClients`), counting
/// those still in their handshake or not yet signed in.
///
/// **At the limit:** a new connection gets its handshake completed and is
/// closed at once with code 1013 (try again later), counted as
/// `clients.refused`; the connected clients carry on.
pub const WS_CLIENTS: usize = 256;

/// Largest `maxClients` a config may ask for.
pub const WS_CLIENTS_MAX: usize = 4096;

/// Most connections being refused at once when the server is full.
///
/// **At the limit:** further connections are dropped without a handshake and
/// counted as `clients.refused`.
pub const WS_MAX_REFUSING: usize = 8;

/// Default events waiting for one client (`clientQueue`).
///
/// **At the limit:** that client is closed with code 1008 (too slow) and
/// counted as `clients.closed_slow`; the AMI reader and every other client
/// never wait for it.
pub const WS_CLIENT_QUEUE: usize = 256;

/// Largest `clientQueue` a config may ask for.
pub const WS_CLIENT_QUEUE_MAX: usize = 4096;

/// Smallest `clientQueue` a config may ask for (one call's life is about
/// five events, and a new client gets its line's state first).
pub const WS_CLIENT_QUEUE_MIN: usize = 16;

/// Size of a WebSocket connection's read buffer, in bytes: what one read
/// takes from the socket. Clients send small commands (at most
/// [`WS_MAX_COMMAND`]); a larger frame makes the buffer grow up to
/// [`WS_MAX_MESSAGE`]. Each connection keeps this much resident.
pub const WS_READ_BUFFER: usize = 1024;

/// Largest WebSocket message or frame read from a client, in bytes.
///
/// **At the limit:** the client gets a `too_large` error result and the
/// connection closes with code 1009, counted as `clients.bad_frames`; other
/// clients carry on.
pub const WS_MAX_MESSAGE: usize = 16 * 1024;

/// Largest command a client may send, in bytes. Commands are small JSON
/// objects; anything longer is a mistake.
///
/// **At the limit:** the frame gets a `too_large` error result and is
/// dropped; the connection carries on.
pub const WS_MAX_COMMAND: usize = 2 * 1024;

/// Largest event frame the fan-out sends, in bytes.
///
/// **At the limit:** the event is sent to nobody and counted as
/// `events.dropped`; the next event goes out normally.
pub const WS_MAX_EVENT: usize = 64 * 1024;

/// Most bytes a connection's WebSocket writer may hold unsent.
///
/// **At the limit:** cannot be reached: one event at most is buffered per
/// client, and events are at most [`WS_MAX_EVENT`] bytes.
pub const WS_MAX_WRITE_BUFFER: usize = 2 * WS_MAX_EVENT;

/// Largest HTTP request head (the WebSocket upgrade or a panel page request)
/// on the WebSocket port, in bytes.
///
/// **At the limit:** the request gets `431` and the connection closes.
pub const WS_MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Most headers in an HTTP request on the WebSocket port.
///
/// **At the limit:** the request gets `431` and the connection closes.
pub const WS_MAX_HEADERS: usize = 32;

/// Seconds a new connection has for TLS and the WebSocket upgrade.
///
/// **At the limit:** the connection is dropped and counted as
/// `clients.handshake_timeouts`, so a slow or silent client cannot hold a
/// slot.
pub const WS_HANDSHAKE_TIMEOUT_S: u64 = 10;

/// Seconds a WebSocket client has to send its `auth` frame.
///
/// **At the limit:** the connection is closed with code 1008.
pub const WS_AUTH_TIMEOUT_S: u64 = 10;

/// Seconds between the server's WebSocket pings to a quiet client.
pub const WS_PING_INTERVAL_S: u64 = 30;

/// Seconds without any frame from a client (pongs count) before it is
/// considered gone.
///
/// **At the limit:** the connection is closed with code 1001 and its slot
/// freed.
pub const WS_IDLE_TIMEOUT_S: u64 = 95;

/// Seconds one frame may take to be written to a client.
///
/// **At the limit:** the connection is closed with code 1008 (too slow) and
/// counted as `clients.closed_slow`.
pub const WS_WRITE_TIMEOUT_S: u64 = 30;

/// Seconds given to a closing handshake before the socket is dropped.
pub const WS_CLOSE_TIMEOUT_S: u64 = 3;

/// Milliseconds the bridge waits at shutdown (SIGTERM, SIGINT) for its
/// WebSocket clients to complete their closing handshakes (code 1001), while
/// it logs off AMI.
///
/// **At the limit:** the clients still open are dropped without their close
/// answer and the process exits anyway, so a stop never takes much longer
/// than this (systemd waits 90 s before SIGKILL; panels reconnect either way).
pub const WS_SHUTDOWN_GRACE_MS: u64 = 1000;

/// Most commands of one connection being carried out at once.
///
/// **At the limit:** the next command gets a `rate_limited` error result at
/// once; the connection carries on.
pub const WS_MAX_PENDING_COMMANDS: usize = 4;

/// Longest access token, in bytes.
///
/// **At the limit:** a longer token is a bad token.
pub const WS_MAX_TOKEN: usize = 128;

/// Longest command `id` string a client may choose, in bytes.
///
/// **At the limit:** the command gets a `bad_json` error result with a null id.
pub const WS_MAX_ID: usize = 64;

/// Longest call id (an Asterisk `Uniqueid`), in bytes.
///
/// **At the limit:** the command gets an `invalid_value` error result.
pub const WS_MAX_CALL_ID: usize = 64;

/// Longest dialled number, in characters (`[0-9*#+]`).
///
/// **At the limit:** the command gets an `invalid_number` error result.
pub const WS_MAX_NUMBER: usize = 32;

/// Longest queue pause reason or queue name, in bytes.
///
/// **At the limit:** the command gets an `invalid_value` error result.
pub const WS_MAX_TEXT: usize = 64;

/// Addresses whose failed sign-ins are remembered (IPv6 by /64 prefix).
///
/// **At the limit:** the address with the oldest last failure is forgotten
/// to make room; failures keep being slowed down.
pub const WS_AUTH_FAILURE_TABLE: usize = 256;

/// Failed sign-ins from one address allowed without delay (typing mistakes).
pub const WS_AUTH_FREE_FAILURES: u32 = 3;

/// Longest wait imposed on an address after repeated failed sign-ins, in
/// seconds. The wait doubles from one second with each failure past
/// [`WS_AUTH_FREE_FAILURES`], up to this.
///
/// **At the limit:** every further attempt from that address within the wait
/// gets `rate_limited` without its token being checked, and the connection
/// closes.
pub const WS_AUTH_DELAY_MAX_S: u64 = 60;

/// Seconds after its last failure before an address's failures are forgotten.
pub const WS_AUTH_FORGET_S: u64 = 600;

// ---- Client commands carried out on the PBX (`control`) ----

/// Seconds the line's phone may ring for a `call` or `unhold` Originate
/// (the Originate's `Timeout`).
///
/// **At the limit:** Asterisk stops ringing the phone; the call ends with
/// `RingFinished` (`no_answer`), and with `asyncOriginate` off the `call`
/// result is a `failed` error.
pub const ORIGINATE_RING_TIMEOUT_S: u64 = 30;

/// Seconds a party parked by `hold` stays parked (the Park's `Timeout`).
///
/// **At the limit:** Asterisk calls the line's phone back with the parked
/// party (the Park's `Channel2`, the line's channel), as for any parked call
/// that times out; nothing is lost.
pub const HOLD_PARK_TIMEOUT_S: u64 = 300;

/// Parties parked by `hold` remembered so that `unhold` can bring them back
/// by the held call's id.
///
/// **At the limit:** the oldest is forgotten and counted as
/// `control.held_dropped`; its party stays parked and rings the line back at
/// [`HOLD_PARK_TIMEOUT_S`], but `unhold` of that call gets `not_found`.
pub const HELD_CALLS: usize = 64;

/// Lines whose queue pause state `autoPauseOnCommutationStart` follows.
///
/// **At the limit:** a line whose state carries nothing (no call paused by
/// the bridge) is forgotten to make room; when every entry holds a pause
/// made by the bridge, a new line's queue call is not paused, counted as
/// `control.auto_pause_full` and logged once per burst.
pub const AUTO_PAUSE_LINES: usize = 256;

/// Calls of one line that keep it auto-paused at once (a queue call and the
/// calls of a transfer or a consultation).
///
/// **At the limit:** a further call does not extend the pause; the line is
/// unpaused when the calls listed end.
pub const AUTO_PAUSE_CALLS: usize = 4;

/// Users whose originate rate is followed (one bucket per user name).
///
/// **At the limit:** cannot be reached with a valid config (at most
/// [`MAX_USERS`] users); otherwise the bucket least recently used is reused,
/// which can only let a call through, never refuse one.
pub const ORIGINATE_RATE_USERS: usize = MAX_USERS;
