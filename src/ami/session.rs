//! The live AMI session: connect, log in, keep alive, resync, reconnect; the
//! handle the rest of the program sends actions through; the sink it feeds.
//!
//! This is the thin adapter around [`conn::Core`](super::conn::Core): it owns
//! the socket, the clock and the timers, and nothing else decides anything.
//!
//! # The hand-off to the call tracker
//!
//! Everything reaches the application through one [`AmiSink`], called
//! synchronously by the reader (it must not block; it must not call back
//! into the session while it runs). For each connection the calls come in
//! this order:
//!
//! 1. `session(Connected { version })` once Asterisk accepted the login.
//! 2. `session(ResyncStarted)`; the session has just sent `CoreShowChannels`.
//! 3. `packet(..)` for every event, as it arrives. Among them, one
//!    `CoreShowChannel` event per channel that exists at the moment Asterisk
//!    ran the action (each carries the session's `ActionID`). Ordinary events
//!    keep flowing meanwhile; they are not held back.
//! 4. `session(ResyncFinished { channels, error })` when
//!    `CoreShowChannelsComplete` arrives (`error: None`, `channels` = items
//!    passed on), or when the action is refused or gets no answer in time,
//!    or the connection drops first (`error: Some(reason)`). With an error
//!    the picture is incomplete: the tracker must not end calls just
//!    because they were not listed. `CoreShowChannelsComplete` itself is not
//!    passed on.
//! 5. With `resync_queues`, the `QueueParams`/`QueueMember`/`QueueEntry`
//!    items of a `QueueStatus` follow as ordinary packets (after
//!    `ResyncFinished`, since Asterisk answers actions in order).
//! 6. `session(Disconnected { reason })` when a logged-in connection ends.
//!    Every `ResyncStarted` gets its `ResyncFinished` before this.
//!
//! A login that fails produces no call at all (it shows in
//! [`SessionStatus`] and the log). Responses are never passed to the sink.
//! Events carrying the ActionID of a caller's action (list items, an
//! `OriginateResponse`) go to that caller only; when nobody waits for them
//! any more (timed out, earlier connection) they are dropped and counted as
//! late answers.

use super::action::{bounded, Action, ActionError, Reply};
use super::codec::{self, Decoder, Item, Limits};
use super::conn::{text, Change, Core, CoreConfig, Effects, End, StatusText};
pub use super::conn::{Auth, Secret};
use super::message::Packet;
use async_io::{Async, Timer};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use futures_lite::future::{self, FutureExt};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// How to reach and log in to Asterisk, and every timing of the session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Asterisk's address: an IP address (best) or a host name, resolved at
    /// each connection attempt.
    pub host: String,
    /// AMI port, 5038 by default.
    pub port: u16,
    /// The `[user]` of manager.conf.
    pub user: String,
    /// Its `secret`.
    pub secret: Secret,
    /// MD5 challenge (default) or plain secret.
    pub auth: Auth,
    /// Time allowed for the TCP connect (default 5 s).
    pub connect_timeout: Duration,
    /// Time between keepalive pings (default 20 s).
    pub ping_interval: Duration,
    /// Time allowed for each answer: banner, login, ping, actions (default
    /// 5 s). Keep it above 1 s: Asterisk waits 1 s before refusing a login.
    pub action_timeout: Duration,
    /// Codec limits (read buffer, line, fields).
    pub limits: Limits,
    /// Also send `QueueStatus` after each login.
    pub resync_queues: bool,
    /// First reconnect delay (default 0.5 s).
    pub backoff_min: Duration,
    /// Longest reconnect delay (default 30 s).
    pub backoff_max: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            host: "127.0.0.1".into(),
            port: 5038,
            user: String::new(),
            secret: Secret::default(),
            auth: Auth::Md5,
            connect_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(20),
            action_timeout: Duration::from_secs(5),
            limits: Limits::default(),
            resync_queues: false,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

impl SessionOptions {
    fn core_config(&self, resync: bool) -> CoreConfig {
        CoreConfig {
            user: self.user.clone(),
            secret: self.secret.clone(),
            auth: self.auth,
            action_timeout: self.action_timeout,
            ping_interval: self.ping_interval,
            resync,
            resync_queues: self.resync_queues,
        }
    }
}

/// A change in the session's life, passed to [`AmiSink::session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionChange<'a> {
    /// Logged in; `version` is the AMI version from the banner (`11.0.0`
    /// on Asterisk 22), or the recording's banner in playback.
    Connected {
        /// AMI version (not the Asterisk version).
        version: &'a str,
    },
    /// A channel resync begins: `CoreShowChannel` items follow as packets.
    ResyncStarted,
    /// The resync ended. See the module documentation.
    ResyncFinished {
        /// `CoreShowChannel` items passed to the sink.
        channels: u32,
        /// `Some(reason)` when the list is incomplete.
        error: Option<&'a str>,
    },
    /// The logged-in connection ended.
    Disconnected {
        /// Why, in words.
        reason: &'a str,
    },
}

impl Change {
    fn as_session_change(&self) -> SessionChange<'_> {
        match self {
            Change::Connected { version } => SessionChange::Connected { version },
            Change::ResyncStarted => SessionChange::ResyncStarted,
            Change::ResyncFinished { channels, error } => SessionChange::ResyncFinished {
                channels: *channels,
                error: error.as_deref(),
            },
            Change::Disconnected { reason } => SessionChange::Disconnected { reason },
        }
    }
}

/// Where the session delivers what Asterisk sends. Called synchronously by
/// the reader: an implementation must return quickly and never block, and
/// must not call into the session handle synchronously (spawn instead).
pub trait AmiSink {
    /// Every event from the PBX (including `CoreShowChannel` items during
    /// resync), in arrival order.
    fn packet(&mut self, packet: &Packet<'_>);
    /// Connection life: `Connected`, `ResyncStarted`, `ResyncFinished`,
    /// `Disconnected`.
    fn session(&mut self, change: SessionChange<'_>);
}

impl<T: AmiSink + ?Sized> AmiSink for &mut T {
    fn packet(&mut self, packet: &Packet<'_>) {
        (**self).packet(packet)
    }
    fn session(&mut self, change: SessionChange<'_>) {
        (**self).session(change)
    }
}

impl<T: AmiSink + ?Sized> AmiSink for Rc<RefCell<T>> {
    fn packet(&mut self, packet: &Packet<'_>) {
        self.borrow_mut().packet(packet)
    }
    fn session(&mut self, change: SessionChange<'_>) {
        self.borrow_mut().session(change)
    }
}

/// A sink that drops everything (for `record`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl AmiSink for NullSink {
    fn packet(&mut self, _: &Packet<'_>) {}
    fn session(&mut self, _: SessionChange<'_>) {}
}

/// Where the events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Not started.
    #[default]
    None,
    /// A live Asterisk.
    Live,
    /// A recorded scenario (`filePath`).
    Playback,
}

/// The session's state for /health. Cheap to copy out with
/// [`SessionHandle::status`].
#[derive(Debug, Clone, Default)]
pub struct SessionStatus {
    /// Live or playback.
    pub source: Source,
    /// Logged in (or replaying).
    pub connected: bool,
    /// AMI version from the banner (`11.0.0`, `Proxy/1.1`).
    pub version: heapless::String<64>,
    /// The whole banner line.
    pub banner: StatusText,
    /// When the current connection logged in.
    pub connected_since: Option<SystemTime>,
    /// Successful logins after the first (a PBX restart or a network cut
    /// that healed counts once, however many attempts it took).
    pub reconnects: u32,
    /// Successful logins since start.
    pub logins: u32,
    /// The last reason a connection ended or failed, empty if none.
    pub last_error: StatusText,
    /// Logins Asterisk refused.
    pub login_failures: u32,
    /// Codec counters: bytes, packets, skipped packets, malformed lines.
    pub codec: codec::Stats,
    /// Answers that came after their action had timed out.
    pub late_answers: u64,
    /// List items dropped at the list limits.
    pub list_items_dropped: u64,
    /// Actions refused because too many were waiting.
    pub actions_refused: u64,
    /// Responses with no ActionID of ours (dropped).
    pub stray_responses: u64,
    /// Partial packets dropped because the connection ended mid-packet.
    pub truncated_packets: u64,
    /// Client `Action:` packets skipped in a recording (playback).
    pub skipped_client_packets: u64,
}

/// The reply slot of one `send`.
#[derive(Default)]
struct Slot {
    result: RefCell<Option<Result<Reply, ActionError>>>,
    waker: Cell<Option<Waker>>,
}

impl Slot {
    fn fill(&self, r: Result<Reply, ActionError>) {
        *self.result.borrow_mut() = Some(r);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl core::fmt::Debug for Slot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Slot")
    }
}

struct SlotWait(Rc<Slot>);

impl Future for SlotWait {
    type Output = Result<Reply, ActionError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.0.result.borrow_mut().take() {
            return Poll::Ready(r);
        }
        self.0.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Wakes the session task when a caller queued an action.
#[derive(Default)]
struct Notify {
    flag: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Notify {
    fn notify(&self) {
        self.flag.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    async fn notified(&self) {
        future::poll_fn(|cx| {
            if self.flag.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

struct Shared {
    core: RefCell<Core<Rc<Slot>>>,
    status: RefCell<SessionStatus>,
    notify: Notify,
}

/// A cheap, clonable handle on the session: send actions, read the status.
/// Make one, pass clones around, and give one to [`run_session`] (or
/// [`run_playback`](super::run_playback)).
#[derive(Clone)]
pub struct SessionHandle {
    shared: Rc<Shared>,
}

impl Default for SessionHandle {
    fn default() -> Self {
        SessionHandle::new()
    }
}

impl core::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionHandle").finish_non_exhaustive()
    }
}

impl SessionHandle {
    /// A handle not yet attached to a running session: `send` answers
    /// `NotConnected` until [`run_session`] has logged in.
    pub fn new() -> SessionHandle {
        let tag = fastrand::u32(..);
        let prefix = format!("ctib-{tag:08x}");
        SessionHandle {
            shared: Rc::new(Shared {
                core: RefCell::new(Core::new(&prefix, CoreConfig::default())),
                status: RefCell::new(SessionStatus::default()),
                notify: Notify::default(),
            }),
        }
    }

    /// Sends `action` and waits for its answer: the response, or for an
    /// [`Action::originate`] the `OriginateResponse` event too, or for a
    /// response that opens a list, the whole list.
    ///
    /// # Errors
    /// [`ActionError`]: not connected, refused by Asterisk, timed out,
    /// connection lost, too many waiting, or invalid.
    pub async fn send(&self, action: Action) -> Result<Reply, ActionError> {
        let slot = Rc::new(Slot::default());
        self.shared
            .core
            .borrow_mut()
            .enqueue(Instant::now(), &action, slot.clone())
            .map_err(|(e, _)| e)?;
        self.shared.notify.notify();
        SlotWait(slot).await
    }

    /// Sends a list action (`EventList: start` ... `...Complete`) and waits
    /// for the whole list; its items (up to
    /// [`AMI_MAX_LIST_ITEMS`](crate::limits::AMI_MAX_LIST_ITEMS)) go to this
    /// caller only, in [`Reply::items`].
    ///
    /// # Errors
    /// As [`SessionHandle::send`].
    pub async fn send_list(&self, action: Action) -> Result<Reply, ActionError> {
        self.send(action.expecting_list()).await
    }

    /// True when logged in to Asterisk.
    pub fn is_connected(&self) -> bool {
        self.shared.core.borrow().is_ready()
    }

    /// A copy of the state for /health.
    pub fn status(&self) -> SessionStatus {
        let mut s = self.shared.status.borrow().clone();
        let c = self.shared.core.borrow().counters();
        s.late_answers = c.late_answers;
        s.list_items_dropped = c.list_items_dropped;
        s.actions_refused = c.actions_refused;
        s.stray_responses = c.stray_responses;
        s
    }

    pub(crate) fn status_mut(&self) -> std::cell::RefMut<'_, SessionStatus> {
        self.shared.status.borrow_mut()
    }

    pub(crate) fn connection_started(&self, now: Instant) {
        self.shared.core.borrow_mut().connection_started(now);
    }

    pub(crate) fn configure(&self, opts: &SessionOptions, resync: bool) {
        self.shared
            .core
            .borrow_mut()
            .configure(opts.core_config(resync));
    }
}

/// A shutdown future that can be waited on repeatedly and remembers firing.
pub(crate) struct Stop<'a> {
    fut: Option<Pin<&'a mut (dyn Future<Output = ()> + 'a)>>,
}

impl<'a> Stop<'a> {
    pub(crate) fn new(fut: Pin<&'a mut (dyn Future<Output = ()> + 'a)>) -> Stop<'a> {
        Stop { fut: Some(fut) }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.fut.is_none()
    }

    /// Completes when the shutdown fires (at once if it already has).
    pub(crate) async fn wait(&mut self) {
        if let Some(f) = self.fut.as_mut() {
            f.as_mut().await;
            self.fut = None;
        }
    }

    /// Runs `fut`, or stops early: `None` if the shutdown fired first.
    pub(crate) async fn or<T>(&mut self, fut: impl Future<Output = T>) -> Option<T> {
        async { Some(fut.await) }
            .or(async {
                self.wait().await;
                None
            })
            .await
    }
}

/// Passes raw received bytes on (for `record`).
pub(crate) type Tap<'a> = &'a mut dyn FnMut(&[u8]) -> io::Result<()>;

fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, End> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // A host name: the system resolver blocks this thread briefly. Use an
    // IP address in the config to avoid it.
    match (host, port).to_socket_addrs() {
        Ok(a) => Ok(a.collect()),
        Err(e) => Err(End::ConnectFailed(text(&format!(
            "cannot resolve '{host}': {e}"
        )))),
    }
}

/// Opens the TCP connection (first address that answers).
pub(crate) async fn connect(opts: &SessionOptions) -> Result<Async<TcpStream>, End> {
    let mut last = End::ConnectFailed(text("no address"));
    log::debug!(
        "connecting to the Asterisk manager at {}:{}",
        opts.host,
        opts.port
    );
    for addr in resolve(&opts.host, opts.port)? {
        let attempt = async { Some(Async::<TcpStream>::connect(addr).await) }.or(async {
            Timer::after(opts.connect_timeout).await;
            None
        });
        match attempt.await {
            Some(Ok(s)) => {
                let _ = s.get_ref().set_nodelay(true);
                return Ok(s);
            }
            Some(Err(e)) => last = End::ConnectFailed(text(&format!("{addr}: {e}"))),
            None => last = End::ConnectTimeout,
        }
    }
    Err(last)
}

enum Ev {
    Read(io::Result<usize>),
    Wrote(io::Result<usize>),
    Timer,
    Notified,
    Stop,
}

/// Applies effects: packet to the sink, changes, replies, and says whether
/// to close.
fn apply<S: AmiSink>(
    handle: &SessionHandle,
    eff: Effects<Rc<Slot>>,
    sink: &mut S,
    packet: Option<&Packet<'_>>,
) -> Option<End> {
    if eff.forward {
        if let Some(p) = packet {
            sink.packet(p);
        }
    }
    for c in &eff.changes {
        {
            let mut st = handle.status_mut();
            match c {
                Change::Connected { version } => {
                    if st.logins > 0 {
                        st.reconnects += 1;
                    }
                    st.logins += 1;
                    st.connected = true;
                    st.version = version.clone();
                    st.banner = bounded(handle.shared.core.borrow().banner());
                    st.connected_since = Some(SystemTime::now());
                }
                Change::Disconnected { .. } => {
                    st.connected = false;
                    st.connected_since = None;
                }
                _ => {}
            }
        }
        sink.session(c.as_session_change());
    }
    for (slot, r) in eff.done {
        slot.fill(r);
    }
    eff.close
}

/// Runs one TCP connection until it ends; returns why.
pub(crate) async fn drive<S: AmiSink>(
    stream: &Async<TcpStream>,
    handle: &SessionHandle,
    dec: &mut Decoder,
    sink: &mut S,
    mut tap: Option<Tap<'_>>,
    stop: &mut Stop<'_>,
) -> End {
    let shared = &*handle.shared;
    let mut rbuf = vec![0u8; READ_CHUNK];
    let mut writing: Vec<u8> = Vec::new();
    let mut written = 0usize;
    let mut stopping = false;
    loop {
        if written == writing.len() {
            writing.clear();
            written = 0;
            core::mem::swap(&mut writing, shared.core.borrow_mut().output_mut());
        }
        let deadline = shared.core.borrow().next_deadline();
        let ev = {
            let read = async {
                let mut r = stream;
                Ev::Read(r.read(&mut rbuf).await)
            };
            let write = async {
                if written < writing.len() {
                    let mut w = stream;
                    Ev::Wrote(w.write(&writing[written..]).await)
                } else {
                    future::pending().await
                }
            };
            let timer = async {
                match deadline {
                    Some(d) => {
                        Timer::at(d).await;
                    }
                    None => future::pending::<()>().await,
                }
                Ev::Timer
            };
            let notified = async {
                shared.notify.notified().await;
                Ev::Notified
            };
            let stopped = async {
                if stopping {
                    future::pending::<()>().await;
                }
                stop.wait().await;
                Ev::Stop
            };
            read.or(write).or(timer).or(notified).or(stopped).await
        };
        let now = Instant::now();
        match ev {
            Ev::Read(Ok(0)) => {
                if dec.pending() > 0 {
                    handle.status_mut().truncated_packets += 1;
                }
                return if stopping { End::Shutdown } else { End::Closed };
            }
            Ev::Read(Ok(n)) => {
                if let Some(t) = tap.as_mut() {
                    if let Err(e) = t(&rbuf[..n]) {
                        return End::TapFailed(text(&e.to_string()));
                    }
                }
                shared.core.borrow_mut().on_bytes(now);
                let mut rest = &rbuf[..n];
                while !rest.is_empty() {
                    let took = dec.feed(rest);
                    rest = &rest[took..];
                    if let Some(end) = drain(handle, dec, sink, now) {
                        handle.status_mut().codec = dec.stats();
                        return end;
                    }
                }
                handle.status_mut().codec = dec.stats();
                // Let the clients' tasks send what this chunk queued before
                // reading the next one: a socket that always has data makes
                // the read ready at once, which would starve them until
                // their queues overflow.
                future::yield_now().await;
            }
            Ev::Read(Err(e)) | Ev::Wrote(Err(e)) => {
                return if stopping {
                    End::Shutdown
                } else {
                    End::Io(text(&e.to_string()))
                };
            }
            Ev::Wrote(Ok(0)) => return End::Io(text("the socket accepts no more data")),
            Ev::Wrote(Ok(n)) => written += n,
            Ev::Timer => {
                let mut eff = Effects::default();
                shared.core.borrow_mut().on_timer(now, &mut eff);
                if let Some(end) = apply(handle, eff, sink, None) {
                    return end;
                }
            }
            Ev::Notified => {}
            Ev::Stop => {
                stopping = true;
                if !shared.core.borrow_mut().begin_logoff(now) {
                    return End::Shutdown;
                }
            }
        }
    }
}

/// Hands every complete packet in the decoder to the core and the sink.
fn drain<S: AmiSink>(
    handle: &SessionHandle,
    dec: &mut Decoder,
    sink: &mut S,
    now: Instant,
) -> Option<End> {
    while let Some(item) = dec.next_item() {
        match item {
            Item::Packet(p) => {
                let mut eff = Effects::default();
                handle.shared.core.borrow_mut().on_packet(now, &p, &mut eff);
                if let Some(end) = apply(handle, eff, sink, Some(&p)) {
                    return Some(end);
                }
            }
            Item::Skipped {
                error,
                first_in_burst,
            } => {
                if first_in_burst {
                    log::warn!("skipped an AMI packet: {error}");
                }
            }
        }
    }
    None
}

/// Ends a connection in the core and the status; returns whether it had
/// proved healthy.
pub(crate) fn finish_connection<S: AmiSink>(
    handle: &SessionHandle,
    end: &End,
    sink: &mut S,
) -> bool {
    let mut eff = Effects::default();
    let healthy = handle
        .shared
        .core
        .borrow_mut()
        .connection_ended(end, &mut eff);
    apply(handle, eff, sink, None);
    let mut st = handle.status_mut();
    st.connected = false;
    st.connected_since = None;
    if end.is_login_refusal() {
        st.login_failures += 1;
    }
    if *end != End::Shutdown {
        st.last_error = bounded(&end.to_string());
    }
    healthy
}

/// Logs a connection end once per kind of trouble, in words an
/// administrator can act on; repeats go to debug.
#[derive(Default)]
struct Notice {
    last: Option<core::mem::Discriminant<End>>,
}

impl Notice {
    fn ended(&mut self, opts: &SessionOptions, end: &End, delay: Duration) {
        let kind = core::mem::discriminant(end);
        let first = self.last != Some(kind);
        self.last = Some(kind);
        let at = format!("{}:{}", opts.host, opts.port);
        if first {
            match end {
                End::LoginRefused(_) | End::LoginInvalid(_) => log::warn!(
                    "Asterisk manager at {at}, user '{}': {end}. Retrying with backoff; \
                     logged once until a login succeeds",
                    opts.user
                ),
                _ => log::warn!(
                    "Asterisk manager at {at}: {end}; reconnecting in {:.1} s (backoff up to {} s)",
                    delay.as_secs_f64(),
                    opts.backoff_max.as_secs()
                ),
            }
        } else {
            log::debug!(
                "Asterisk manager at {at}: {end}; retry in {:.1} s",
                delay.as_secs_f64()
            );
        }
    }

    fn connected(&mut self, opts: &SessionOptions, version: &str) {
        self.last = None;
        log::info!(
            "logged in to the Asterisk manager at {}:{} as '{}' (AMI {version})",
            opts.host,
            opts.port,
            opts.user
        );
    }
}

/// A sink wrapper that logs the login and an incomplete resync.
struct Watch<'a, S> {
    inner: &'a mut S,
    opts: &'a SessionOptions,
    notice: &'a mut Notice,
}

impl<S: AmiSink> AmiSink for Watch<'_, S> {
    fn packet(&mut self, packet: &Packet<'_>) {
        self.inner.packet(packet)
    }
    fn session(&mut self, change: SessionChange<'_>) {
        match change {
            SessionChange::Connected { version } => self.notice.connected(self.opts, version),
            SessionChange::ResyncFinished { error: Some(e), .. } => {
                if e.contains("Permission denied") {
                    log::warn!(
                        "channel resync refused ({e}): add 'reporting' to the write= line of \
                         the AMI user in manager.conf. Calls already up when the bridge \
                         connected are not shown until their next event"
                    );
                } else {
                    log::warn!("channel resync incomplete: {e}");
                }
            }
            _ => {}
        }
        self.inner.session(change)
    }
}

/// Runs the live session until `shutdown` completes: connects, logs in,
/// resyncs, passes every event to `sink`, answers `handle` callers, and
/// reconnects after any loss with exponential backoff (0.5 s to 30 s by
/// default, with jitter). On shutdown it sends `Logoff`, waits briefly for
/// `Goodbye`, and returns.
pub async fn run_session<S: AmiSink>(
    opts: SessionOptions,
    mut sink: S,
    handle: SessionHandle,
    shutdown: impl Future<Output = ()>,
) {
    handle.configure(&opts, true);
    handle.status_mut().source = Source::Live;
    let mut shutdown = core::pin::pin!(shutdown);
    let mut stop = Stop::new(shutdown.as_mut());
    let mut backoff = super::backoff::Backoff::new(opts.backoff_min, opts.backoff_max);
    let mut dec = Decoder::new(opts.limits);
    let mut notice = Notice::default();
    while !stop.is_stopped() {
        let mut watch = Watch {
            inner: &mut sink,
            opts: &opts,
            notice: &mut notice,
        };
        let end = match stop.or(connect(&opts)).await {
            None => End::Shutdown,
            Some(Err(e)) => e,
            Some(Ok(stream)) => {
                dec.reset();
                handle.connection_started(Instant::now());
                drive(&stream, &handle, &mut dec, &mut watch, None, &mut stop).await
            }
        };
        let healthy = finish_connection(&handle, &end, &mut watch);
        if end == End::Shutdown || stop.is_stopped() {
            break;
        }
        if healthy {
            backoff.reset();
        }
        let delay = backoff.next_delay(fastrand::f64());
        notice.ended(&opts, &end, delay);
        if stop.or(Timer::after(delay)).await.is_none() {
            break;
        }
    }
    log::info!("AMI session stopped");
}
