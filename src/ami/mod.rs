//! The Asterisk Manager Interface: codec, packets, actions, the live session.

pub mod codec;
pub mod message;

pub use codec::{CodecError, Decoder, Item, Limits};
pub use message::{Kind, Packet};
