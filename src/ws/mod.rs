//! The WebSocket side: operator panels and CRM connectors connect, sign in,
//! receive their line's call events and send commands back.
//!
//! ```text
//!  AMI reader ──publish(line, json)──▶ fanout::Hub ──bounded queue per client──┐
//!                                                                              ▼
//!  TcpListener ─▶ server (limit, TLS, HTTP upgrade or panel page) ─▶ client task
//!                                                                   │  auth::Users
//!                                                                   │  protocol::parse
//!                                                                   ▼
//!                                                    Backend::execute (AMI actions)
//! ```
//!
//! - [`server`]: the accept loop, connection limit, one task per client.
//! - [`handshake`]: the HTTP request on the port: WebSocket upgrade or panel page.
//! - [`protocol`]: client frames parsed into [`Request`]/[`Command`], results written.
//! - [`auth`]: users and tokens, constant-time compare, failed sign-ins slowed down.
//! - [`fanout`]: the per-line fan-out with a bounded queue per client.
//! - `tls`: certificate and key for wss:// (cargo feature `tls`).
//!
//! The rest of the program plugs in through [`Backend`].

pub mod auth;
mod client;
pub mod fanout;
pub mod handshake;
pub mod protocol;
pub mod server;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;

pub use auth::{User, UserEntry, Users, UsersError};
pub use fanout::{Hub, HubStats};
pub use protocol::{CallId, Command, CommandError, ErrorCode, Number, Request, Text};
pub use server::{Server, Settings, Stats};
#[cfg(feature = "tls")]
pub use tls::{Tls, TlsError};

use std::future::Future;
use std::pin::Pin;

/// A boxed future that stays on this thread.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What a successful command reports beyond `"ok":true`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Done {
    /// For `call`: the id the new call will have on the user's line (the
    /// preset channel `Uniqueid`), sent as `"call"` in the result so the
    /// client can match the `RingStarted` that follows.
    pub call: Option<CallId>,
}

/// The rest of the program as the WebSocket side sees it; the app implements
/// it. Everything runs on one thread, so implementations may hold `Rc` and
/// `RefCell` freely.
pub trait Backend {
    /// The current state of `line`'s calls as ready event frames: for each
    /// live call its `RingStarted`, then `CommutationStarted` if it has
    /// talked, then `PutHoldAction` if it is on hold. Sent to a client right
    /// after it signs in, before any live event (docs/protocol.md, 5.2).
    fn snapshot(&self, line: &str) -> Vec<String>;

    /// True when `call` is the id of a live call of `line`. Commands naming
    /// another call get `forbidden` without reaching [`Backend::execute`].
    fn owns_call(&self, line: &str, call: &str) -> bool;

    /// Carries out a validated command for `user` (its call, if any, belongs
    /// to the user's line). The future runs to completion even if the client
    /// disconnects meanwhile, and its outcome becomes the command's result.
    fn execute<'a>(
        &'a self,
        user: &'a User,
        cmd: Command,
    ) -> LocalFuture<'a, Result<Done, CommandError>>;
}
