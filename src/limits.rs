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
