//! The Asterisk Manager Interface: codec, packets, actions, the live session.
//!
//! Bytes from Asterisk go through [`codec`] into [`Packet`]s; [`conn`] (pure)
//! decides what each one means (login, keepalive, resync, an answer to a
//! waiting action, or an event); [`session`] owns the socket and hands events
//! to an [`AmiSink`]. [`playback`] feeds the same sink from a recording, and
//! [`record`] writes what a live Asterisk sends to a file.

pub mod action;
pub mod backoff;
pub mod codec;
pub mod conn;
pub mod message;
pub mod pending;
pub mod playback;
pub mod record;
pub mod session;

pub use action::{Action, ActionError, InvalidAction, Originate, OwnedPacket, Reply};
pub use codec::{CodecError, Decoder, Item, Limits};
pub use conn::{md5_key, Auth, Secret};
pub use message::{Kind, Packet};
pub use playback::{run_playback, PlaybackError, PlaybackOptions, PlaybackSource};
pub use session::{
    run_session, AmiSink, NullSink, SessionChange, SessionHandle, SessionOptions, SessionStatus,
    Source,
};
