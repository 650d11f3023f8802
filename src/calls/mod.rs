//! The call model: a fixed-capacity channel table fed with AMI events,
//! turned into the call events of the client protocol (PROTOCOL.md).
//!
//! - [`model`]: the events clients see ([`CallEvent`]) and their JSON form.
//! - [`tracker`]: the state machine ([`Tracker`]): one AMI packet in, zero or
//!   more call events out; resync after a reconnect; snapshots for new
//!   clients; originate hints.
//! - [`invariants`]: the four PROTOCOL.md invariants, checked on an event
//!   stream (for tests and fuzz targets).
//! - `table`: the channel and bridge tables (fixed capacity, allocated once).
//! - `names`: lines from channel names and queue member interfaces.
//! - `queues`: the last known queue pause state of each line, for snapshots.
//! - `fields`: the AMI keys the tracker reads, in one pass over a packet.
//!
//! docs/protocol.md describes the model for client authors.

mod fields;
pub mod invariants;
pub mod model;
pub mod names;
mod queues;
mod table;
pub mod tracker;

pub use model::{CallEvent, Direction, EventKind, HoldBy, Reason, TransferKind};
pub use tracker::{CallInfo, OptionsError, Tracker, TrackerOptions, TrackerStats};
