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
