//! The WebSocket server: accepts connections up to the limit and gives each
//! its own task on the local executor.

use super::auth::{FailureTable, User, Users};
use super::fanout::Hub;
#[cfg(feature = "tls")]
use super::tls::Tls;
use super::{client, Backend};
use crate::limits::{
    WS_AUTH_TIMEOUT_S, WS_CLIENTS, WS_CLOSE_TIMEOUT_S, WS_HANDSHAKE_TIMEOUT_S, WS_IDLE_TIMEOUT_S,
    WS_MAX_REFUSING, WS_PING_INTERVAL_S, WS_WRITE_TIMEOUT_S,
};
use async_executor::LocalExecutor;
use async_net::TcpListener;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// How the server behaves; the defaults are the named limits.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most connections at once (config `maxClients`), including those not
    /// signed in yet. Past it, new ones are closed with code 1013.
    pub max_clients: usize,
    /// Time for TLS and the HTTP upgrade.
    pub handshake_timeout: Duration,
    /// Time for the `auth` frame after the upgrade.
    pub auth_timeout: Duration,
    /// Quiet time after which the server pings a client.
    pub ping_interval: Duration,
    /// Time without any frame from a client before it is closed (1001).
    pub idle_timeout: Duration,
    /// Time one frame may take to be written before the client is closed
    /// as too slow (1008).
    pub write_timeout: Duration,
    /// Time given to a closing handshake.
    pub close_timeout: Duration,
    /// First wait imposed on an address after repeated failed sign-ins
    /// (doubles with each further failure, see [`FailureTable`]).
    pub auth_slowdown: Duration,
    /// Body of `GET /panel.json` (see `http::panel::panel_json`).
    pub panel_json: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_clients: WS_CLIENTS,
            handshake_timeout: Duration::from_secs(WS_HANDSHAKE_TIMEOUT_S),
            auth_timeout: Duration::from_secs(WS_AUTH_TIMEOUT_S),
            ping_interval: Duration::from_secs(WS_PING_INTERVAL_S),
            idle_timeout: Duration::from_secs(WS_IDLE_TIMEOUT_S),
            write_timeout: Duration::from_secs(WS_WRITE_TIMEOUT_S),
            close_timeout: Duration::from_secs(WS_CLOSE_TIMEOUT_S),
            auth_slowdown: Duration::from_secs(1),
            panel_json: crate::http::panel::panel_json(""),
        }
    }
}

/// The server's counters, for /health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections open now (signed in or not).
    pub connected: u64,
    /// Clients signed in now.
    pub signed_in: u64,
    /// `maxClients`.
    pub capacity: u64,
    /// Clients closed for falling behind (queue full or a write too slow).
    pub closed_slow: u64,
    /// Connections refused because `maxClients` were open.
    pub refused: u64,
    /// Sign-ins with a token that matches no user.
    pub auth_failures: u64,
    /// Sign-ins refused unchecked because their address failed too often.
    pub auth_rate_limited: u64,
    /// Connections dropped because their TLS and HTTP upgrade did not
    /// finish within the handshake timeout (slow or silent clients).
    pub handshake_timeouts: u64,
    /// Connections closed for a framing error: a frame or message over the
    /// size limit (1009), a text frame not UTF-8 (1007), any other
    /// WebSocket protocol error such as an unmasked frame (1002).
    pub bad_frames: u64,
    /// Call-model events published.
    pub events_published: u64,
    /// Events sent to nobody for being too large.
    pub events_dropped: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub open: Cell<usize>,
    pub refusing: Cell<usize>,
    pub closed_slow: Cell<u64>,
    pub refused: Cell<u64>,
    pub auth_failures: Cell<u64>,
    pub auth_rate_limited: Cell<u64>,
    pub handshake_timeouts: Cell<u64>,
    pub bad_frames: Cell<u64>,
    pub last_refusal_log: Cell<Option<Instant>>,
}

impl Counters {
    pub fn bump(c: &Cell<u64>) {
        c.set(c.get() + 1);
    }
}

/// What every connection task shares.
pub(super) struct Shared {
    pub settings: Settings,
    /// Swapped by [`Server::set_users`] when the config is reloaded.
    pub users: RefCell<Users>,
    pub hub: Rc<Hub>,
    pub backend: Rc<dyn Backend>,
    #[cfg(feature = "tls")]
    pub tls: Option<Tls>,
    pub failures: RefCell<FailureTable>,
    pub counters: Counters,
    pub registry: Registry,
}

/// The close the server asks of a connection: code and reason.
pub(super) type Kick = (u16, &'static str);

/// The close of every connection when the server shuts down.
pub(super) const GOING_AWAY: Kick = (1001, "server shutting down");
/// The close of a client whose user was removed or whose token changed.
pub(super) const SIGNED_OUT: Kick = (1008, "signed out");

struct Entry {
    user: Option<Rc<User>>,
    kick: Option<Kick>,
    waker: Option<Waker>,
}

/// The open connections (at most `maxClients`, one entry each), so the
/// server can close them: all at shutdown, some when users change.
#[derive(Default)]
pub(super) struct Registry {
    entries: RefCell<Vec<Option<Entry>>>,
    closing: Cell<bool>,
    drained: RefCell<Option<Waker>>,
}

impl Registry {
    /// Registers a new connection; one that arrives during shutdown is
    /// asked to close at once.
    pub fn enter(&self) -> Ticket<'_> {
        let entry = Entry {
            user: None,
            kick: self.closing.get().then_some(GOING_AWAY),
            waker: None,
        };
        let mut entries = self.entries.borrow_mut();
        let index = match entries.iter().position(Option::is_none) {
            Some(i) => {
                entries[i] = Some(entry);
                i
            }
            None => {
                entries.push(Some(entry));
                entries.len() - 1
            }
        };
        Ticket { reg: self, index }
    }

    /// Asks every connection for which `pick` is true to close with `kick`;
    /// returns how many were asked. `pick` may replace the signed-in user.
    fn kick(&self, kick: Kick, mut pick: impl FnMut(&mut Option<Rc<User>>) -> bool) -> usize {
        let mut n = 0;
        for e in self.entries.borrow_mut().iter_mut().flatten() {
            if e.kick.is_none() && pick(&mut e.user) {
                e.kick = Some(kick);
                n += 1;
                if let Some(w) = e.waker.take() {
                    w.wake();
                }
            }
        }
        n
    }

    fn is_empty(&self) -> bool {
        self.entries.borrow().iter().all(Option::is_none)
    }
}

/// One connection's entry in the [`Registry`]; dropping it removes it.
pub(super) struct Ticket<'s> {
    reg: &'s Registry,
    index: usize,
}

impl Ticket<'_> {
    /// Records who the connection signed in as, so a reload can sign it out.
    pub fn signed_in(&self, user: Rc<User>) {
        if let Some(e) = self.reg.entries.borrow_mut()[self.index].as_mut() {
            e.user = Some(user);
        }
    }

    /// Waits until the server asks this connection to close.
    pub async fn kicked(&self) -> Kick {
        poll_fn(|cx| {
            let mut entries = self.reg.entries.borrow_mut();
            let Some(e) = entries[self.index].as_mut() else {
                return Poll::Ready(GOING_AWAY);
            };
            match e.kick {
                Some(k) => Poll::Ready(k),
                None => {
                    e.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.reg.entries.borrow_mut()[self.index] = None;
        if self.reg.is_empty() {
            if let Some(w) = self.reg.drained.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// The WebSocket server. Cheap to clone (one shared state); keep a clone to
/// read [`Server::stats`] while [`Server::serve`] runs.
#[derive(Clone)]
pub struct Server {
    shared: Rc<Shared>,
}

impl Server {
    /// A plain ws:// server for `users`, fanning out `hub`'s events and
    /// handing commands to `backend`.
    pub fn new(settings: Settings, users: Users, hub: Rc<Hub>, backend: Rc<dyn Backend>) -> Server {
        let failures = RefCell::new(FailureTable::new(settings.auth_slowdown));
        Server {
            shared: Rc::new(Shared {
                settings,
                users: RefCell::new(users),
                hub,
                backend,
                #[cfg(feature = "tls")]
                tls: None,
                failures,
                counters: Counters::default(),
                registry: Registry::default(),
            }),
        }
    }

    /// Makes the server speak wss:// only.
    ///
    /// # Panics
    /// When called on a clone, or after [`Server::serve`] started.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: Tls) -> Server {
        Rc::get_mut(&mut self.shared)
            .expect("Server::with_tls must be called before the server is cloned or served")
            .tls = Some(tls);
        self
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let hub = self.shared.hub.stats();
        Stats {
            connected: c.open.get() as u64,
            signed_in: hub.clients,
            capacity: self.shared.settings.max_clients as u64,
            closed_slow: c.closed_slow.get(),
            refused: c.refused.get(),
            auth_failures: c.auth_failures.get(),
            auth_rate_limited: c.auth_rate_limited.get(),
            handshake_timeouts: c.handshake_timeouts.get(),
            bad_frames: c.bad_frames.get(),
            events_published: hub.published,
            events_dropped: hub.dropped,
        }
    }

    /// Replaces the users who may sign in (a reloaded config). Clients
    /// signed in with a token that no longer names the same user (name and
    /// line) are closed with 1008 "signed out"; the others carry on, and
    /// connections not signed in yet are checked against the new users.
    /// Returns how many clients were signed out.
    pub fn set_users(&self, users: Users) -> usize {
        let sh = &self.shared;
        let old = sh.users.replace(users);
        let new = sh.users.borrow();
        sh.registry.kick(SIGNED_OUT, |user| {
            let Some(u) = user else { return false };
            match old.carried_over(u, &new) {
                Some(same) => {
                    *user = Some(same);
                    false
                }
                None => {
                    log::info!(
                        "WebSocket: {} (line {}) signed out: the reloaded config no longer has its token",
                        u.name,
                        u.line
                    );
                    true
                }
            }
        })
    }

    /// Starts the shutdown: [`Server::serve`] accepts no more connections,
    /// and every open connection, signed in or not, is closed with 1001
    /// "going away" (after the frame it is writing, if any). Await
    /// [`Server::closed`] to know when they are gone.
    pub fn shutdown(&self) {
        let reg = &self.shared.registry;
        reg.closing.set(true);
        reg.kick(GOING_AWAY, |_| true);
    }

    /// Completes when no connection is open. Each closing handshake is
    /// bounded by the close timeout; callers in a hurry add their own.
    pub async fn closed(&self) {
        let reg = &self.shared.registry;
        poll_fn(|cx| {
            if reg.is_empty() {
                Poll::Ready(())
            } else {
                *reg.drained.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Accepts connections on `listener` until the future is dropped or
    /// [`Server::shutdown`] is called, each served by its own task on `ex`
    /// (commands too run as tasks on `ex`). Dropping this future stops
    /// accepting; connections already open carry on until they end.
    pub async fn serve(&self, listener: TcpListener, ex: Rc<LocalExecutor<'static>>) {
        loop {
            if self.shared.registry.closing.get() {
                return;
            }
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, most likely: wait, do not spin.
                    log::warn!("WebSocket port: accept failed: {e}");
                    async_io::Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if self.shared.registry.closing.get() {
                return;
            }
            let _ = tcp.set_nodelay(true);
            let sh = self.shared.clone();
            let c = &sh.counters;
            if c.open.get() >= sh.settings.max_clients {
                Counters::bump(&c.refused);
                let now = Instant::now();
                if c.last_refusal_log
                    .get()
                    .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
                {
                    c.last_refusal_log.set(Some(now));
                    log::warn!(
                        "WebSocket: {} clients connected (maxClients); refusing {peer} and others for a while",
                        sh.settings.max_clients
                    );
                }
                if c.refusing.get() < WS_MAX_REFUSING {
                    c.refusing.set(c.refusing.get() + 1);
                    let guard = Slot(sh.clone(), true);
                    ex.spawn(async move {
                        client::refuse(&guard.0, tcp).await;
                        drop(guard);
                    })
                    .detach();
                }
                continue;
            }
            c.open.set(c.open.get() + 1);
            let guard = Slot(sh, false);
            let ex2 = ex.clone();
            ex.spawn(async move {
                client::run(&guard.0, ex2, tcp, peer).await;
                drop(guard);
            })
            .detach();
        }
    }
}

/// Frees a connection slot when its task ends, however it ends.
struct Slot(Rc<Shared>, bool);

impl Drop for Slot {
    fn drop(&mut self) {
        let c = if self.1 {
            &self.0.counters.refusing
        } else {
            &self.0.counters.open
        };
        c.set(c.get() - 1);
    }
}
