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

/// Default most WebSocket connections open at once (`maxClients`), counting
/// those still in their handshake or not yet signed in.
///
/// **At the limit:** a new connection gets its handshake completed and is
/// closed at once with code 1013 (try again later), counted as
/// `clients.refused`; the connected clients carry on.
pub const WS_MAX_CLIENTS: usize = 256;

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

/// Size of a WebSocket connection's read buffer, in bytes.
pub const WS_READ_BUFFER: usize = 4 * 1024;

/// Largest WebSocket message or frame read from a client, in bytes.
///
/// **At the limit:** the client gets a `too_large` error result and the
/// connection closes with code 1009; other clients carry on.
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
/// **At the limit:** the connection is dropped, so a slow or silent client
/// cannot hold a slot.
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
