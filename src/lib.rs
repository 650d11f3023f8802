//! ctibridge: links an Asterisk PBX (AMI) to operator panels over WebSocket.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ami;
pub mod limits;
pub mod json;
pub mod packets;
pub mod cli;
pub mod commands;
