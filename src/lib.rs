//! ctibridge links an Asterisk PBX to the people who answer its phones.
//!
//! It logs in to the Asterisk Manager Interface (AMI), keeps every live
//! channel in a fixed-capacity table, turns raw events into a call model and
//! pushes that model over WebSocket to operator panels and CRM connectors.
//!
//! # How data flows
//!
//! ```text
//!  AMI bytes ──▶ ami::codec ──▶ ami::message::Packet ──▶ calls (tracker)
//!  (socket or        (fixed buffer,       (borrowed view)        │
//!   recording)        bounded)                                   ▼
//!                                                       call-model events
//!                                                                │
//!  operators ◀── WebSocket clients ◀── fan-out (per line, bounded queues)
//!       │
//!       └── commands ──▶ validation ──▶ AMI actions ──▶ PBX
//! ```
//!
//! - [`app`]: the running bridge, wiring all of the below on one executor.
//! - [`ami`]: the AMI codec and packets, actions, the live session with
//!   login, keepalive, reconnect and resync, the replay source, the recorder.
//! - [`calls`]: the call tracker and the call model clients see.
//! - [`replay`]: `ctibridge replay`, a recording's call events as JSON lines.
//! - [`http`]: the local /health and /metrics endpoint.
//! - [`ws`]: the WebSocket server: sign-in, per-line fan-out, commands in,
//!   the panel page on the same port, wss:// with the `tls` feature.
//! - [`json`]: JSON string escaping shared by every writer.
//! - [`packets`]: `replay --packets`, a recording's packets as JSON lines.
//! - [`config`]: the JSON config file, checked key by key.
//! - [`control`]: client commands carried out on the PBX (the WebSocket
//!   server's backend), auto-pause of queue members.
//! - [`cli`], [`commands`]: the command line and what each subcommand does.
//! - [`limits`]: every capacity, with what happens at the limit.
//!
//! Everything runs on one thread: an `async-executor` `LocalExecutor` with
//! `async-net` sockets. Memory is bounded: every buffer, table and queue has a
//! named capacity.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ami;
pub mod app;
pub mod calls;
pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod http;
pub mod json;
pub mod limits;
pub mod packets;
pub mod replay;
pub mod ws;
