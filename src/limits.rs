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
