//! The per-connection state machine: banner, login, keepalive, resync, and
//! routing of every packet. Pure: it never touches a socket or reads the
//! clock; the session adapter passes `now`, feeds packets and timer ticks,
//! writes [`Core::output_mut`] to the socket and applies the [`Effects`].

use super::action::{bounded, error_text, Action, ActionError, ErrorText, InvalidAction, Reply};
use super::message::{Kind, Packet};
use super::pending::{PendingTable, Routed};
use crate::limits;
use core::fmt;
use md5::{Digest, Md5};
use std::time::{Duration, Instant};

/// Text kept for /health and the sink (bounded).
pub type StatusText = heapless::String<{ limits::AMI_STATUS_TEXT_MAX }>;

/// Slots of the pending table kept for the session's own actions (keepalive,
/// resync, logoff), so callers can never crowd out the keepalive.
const RESERVED_SLOTS: usize = 4;

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// `Challenge` then `Login` with `Key` = md5(challenge + secret): the
    /// secret never crosses the network.
    #[default]
    Md5,
    /// `Login` with `Secret` in clear.
    Plain,
}

/// The AMI secret. Its `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the login only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The key Asterisk expects in an MD5 login: the lowercase hex MD5 of the
/// challenge followed by the secret (`manager.c`, `authenticate`).
pub fn md5_key(challenge: &str, secret: &str) -> heapless::String<32> {
    let mut h = Md5::new();
    h.update(challenge.as_bytes());
    h.update(secret.as_bytes());
    let digest = h.finalize();
    let mut out = heapless::String::new();
    for b in digest {
        for nibble in [b >> 4, b & 0xf] {
            let c = char::from_digit(u32::from(nibble), 16).unwrap_or('0');
            // 32 hex digits fit exactly.
            let _ = out.push(c);
        }
    }
    out
}

/// The version in a banner line: `11.0.0` from `Asterisk Call Manager/11.0.0`,
/// `Proxy/1.1` from `Asterisk Call Manager Proxy/1.1`.
pub fn banner_version(line: &str) -> &str {
    let rest = line
        .strip_prefix("Asterisk Call Manager")
        .unwrap_or(line)
        .trim();
    rest.strip_prefix('/').unwrap_or(rest).trim()
}

/// Why a connection ended, in words for the log and /health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// TCP connect failed (refused, unreachable, unknown host).
    ConnectFailed(ErrorText),
    /// TCP connect took longer than the connect timeout.
    ConnectTimeout,
    /// No `Asterisk Call Manager` banner in time.
    NoBanner,
    /// Asterisk refused the login (`Response: Error`), with its message.
    LoginRefused(ErrorText),
    /// No answer to `Challenge` or `Login` in time.
    LoginTimeout,
    /// The user name or secret cannot be sent (line break in it).
    LoginInvalid(InvalidAction),
    /// No answer to `Ping` in time: the connection is dead.
    KeepaliveTimeout,
    /// Asterisk closed the connection.
    Closed,
    /// A socket error (reset, broken pipe).
    Io(ErrorText),
    /// Writing the recording failed.
    TapFailed(ErrorText),
    /// We were asked to stop (after `Logoff` when logged in).
    Shutdown,
}

impl End {
    /// True for a refused login (counted as a login failure).
    pub fn is_login_refusal(&self) -> bool {
        matches!(self, End::LoginRefused(_) | End::LoginInvalid(_))
    }
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::ConnectFailed(e) => write!(f, "cannot connect: {e}"),
            End::ConnectTimeout => f.write_str("connect timed out"),
            End::NoBanner => {
                f.write_str("no 'Asterisk Call Manager' greeting: is this the AMI port?")
            }
            End::LoginRefused(m) if m.contains("Already In Use") => write!(
                f,
                "login refused ({m}): another program is logged in as this user and \
                 manager.conf has allowmultiplelogin = no; give the bridge its own user"
            ),
            End::LoginRefused(m) => write!(
                f,
                "login refused ({m}): wrong user name or secret, or this address is not \
                 allowed by the user's permit/deny lines in manager.conf"
            ),
            End::LoginTimeout => f.write_str("no answer to the login"),
            End::LoginInvalid(e) => write!(f, "the AMI user name or secret cannot be sent: {e}"),
            End::KeepaliveTimeout => f.write_str("no answer to Ping: connection presumed dead"),
            End::Closed => f.write_str("Asterisk closed the connection"),
            End::Io(e) => write!(f, "connection error: {e}"),
            End::TapFailed(e) => write!(f, "cannot write the recording: {e}"),
            End::Shutdown => f.write_str("shut down"),
        }
    }
}

/// A change of the session's life, owned (see `SessionChange`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Logged in.
    Connected {
        /// AMI version from the banner.
        version: heapless::String<64>,
    },
    /// The resync list is about to come.
    ResyncStarted,
    /// The resync list ended (or failed: `error`).
    ResyncFinished {
        /// `CoreShowChannel` items passed to the sink.
        channels: u32,
        /// Why the list is incomplete, if it is.
        error: Option<StatusText>,
    },
    /// The logged-in connection ended.
    Disconnected {
        /// Why.
        reason: StatusText,
    },
}

/// What the adapter must do after one step of the core.
#[derive(Debug)]
pub struct Effects<W> {
    /// Pass the packet just routed to `sink.packet`.
    pub forward: bool,
    /// Call `sink.session` with these, in order, after the packet.
    pub changes: heapless::Vec<Change, 4>,
    /// Hand these results to their waiters.
    pub done: Vec<(W, Result<Reply, ActionError>)>,
    /// End the connection for this reason.
    pub close: Option<End>,
}

impl<W> Default for Effects<W> {
    fn default() -> Self {
        Effects {
            forward: false,
            changes: heapless::Vec::new(),
            done: Vec::new(),
            close: None,
        }
    }
}

impl<W> Effects<W> {
    fn change(&mut self, c: Change) {
        // Never more than two changes per step; the capacity is four.
        let _ = self.changes.push(c);
    }

    fn close(&mut self, end: End) {
        if self.close.is_none() {
            self.close = Some(end);
        }
    }
}

/// Who waits for an action's answer.
#[derive(Debug)]
pub enum Waiter<W> {
    /// A caller of the session handle.
    Caller(W),
    /// Our `Challenge`.
    Challenge,
    /// Our `Login`.
    Login,
    /// Our keepalive `Ping`.
    Ping,
    /// Our resync `CoreShowChannels`.
    ResyncChannels,
    /// Our resync `QueueStatus`.
    ResyncQueues,
    /// Our `Logoff`.
    Logoff,
}

/// The connection's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No connection.
    Idle,
    /// Connected, waiting for the banner.
    Banner,
    /// `Challenge` or `Login` sent.
    LoggingIn,
    /// Logged in: events flow, callers may send actions.
    Ready,
    /// `Logoff` sent, waiting for `Goodbye` or the close.
    LoggingOff,
}

/// Settings the core needs (from `SessionOptions`).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// AMI user.
    pub user: String,
    /// AMI secret.
    pub secret: Secret,
    /// Login method.
    pub auth: Auth,
    /// Time allowed for each answer.
    pub action_timeout: Duration,
    /// Time between keepalive pings.
    pub ping_interval: Duration,
    /// Send `CoreShowChannels` after login.
    pub resync: bool,
    /// Also send `QueueStatus` after login.
    pub resync_queues: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            user: String::new(),
            secret: Secret::default(),
            auth: Auth::Md5,
            action_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(20),
            resync: true,
            resync_queues: false,
        }
    }
}

/// Counters kept by the core for /health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreCounters {
    /// Answers that came after their action stopped waiting.
    pub late_answers: u64,
    /// List items dropped at the list limits.
    pub list_items_dropped: u64,
    /// Actions refused with `TooManyPending`.
    pub actions_refused: u64,
    /// Responses that carried no ActionID of ours.
    pub stray_responses: u64,
}

/// The per-connection state machine, generic over the callers' waiter type.
#[derive(Debug)]
pub struct Core<W> {
    cfg: CoreConfig,
    phase: Phase,
    banner_deadline: Option<Instant>,
    pending: PendingTable<Waiter<W>>,
    out: Vec<u8>,
    next_ping: Option<Instant>,
    /// Our keepalive Ping waiting for its answer.
    ping_seq: Option<u64>,
    resync_open: bool,
    /// `CoreShowChannel` items passed on during the open resync.
    resync_items: u32,
    healthy: bool,
    version: heapless::String<64>,
    banner: StatusText,
    stray: u64,
    refused: u64,
}

impl<W> Core<W> {
    /// A core whose ActionIDs start with `prefix`.
    pub fn new(prefix: &str, cfg: CoreConfig) -> Core<W> {
        Core {
            cfg,
            phase: Phase::Idle,
            banner_deadline: None,
            pending: PendingTable::new(prefix),
            out: Vec::new(),
            next_ping: None,
            ping_seq: None,
            resync_open: false,
            resync_items: 0,
            healthy: false,
            version: heapless::String::new(),
            banner: StatusText::new(),
            stray: 0,
            refused: 0,
        }
    }

    /// Replaces the settings (takes effect at the next connection).
    pub fn configure(&mut self, cfg: CoreConfig) {
        self.cfg = cfg;
    }

    /// The settings.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// True when logged in and not logging off.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The AMI version from the last banner.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The last banner line.
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// Counters for /health.
    pub fn counters(&self) -> CoreCounters {
        CoreCounters {
            late_answers: self.pending.late_answers(),
            list_items_dropped: self.pending.items_dropped(),
            actions_refused: self.refused,
            stray_responses: self.stray,
        }
    }

    /// Bytes to write to the socket; the adapter takes them.
    pub fn output_mut(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// When the core next needs [`Core::on_timer`].
    pub fn next_deadline(&self) -> Option<Instant> {
        let ping = match self.phase {
            Phase::Ready if self.ping_seq.is_none() => self.next_ping,
            _ => None,
        };
        [self.banner_deadline, self.pending.next_deadline(), ping]
            .into_iter()
            .flatten()
            .min()
    }

    /// A TCP connection was made: wait for the banner.
    pub fn connection_started(&mut self, now: Instant) {
        self.phase = Phase::Banner;
        self.banner_deadline = Some(now + self.cfg.action_timeout);
        self.out.clear();
        self.next_ping = None;
        self.ping_seq = None;
        self.resync_open = false;
        self.resync_items = 0;
        self.healthy = false;
        self.version.clear();
        self.banner.clear();
    }

    /// The connection ended: every waiting caller gets `ConnectionLost`, an
    /// open resync is finished with the reason, and a logged-in session says
    /// `Disconnected`. Returns true if the connection had proved healthy
    /// (logged in and answered at least one of our own actions).
    pub fn connection_ended(&mut self, end: &End, eff: &mut Effects<W>) -> bool {
        let reason: StatusText = bounded(&end.to_string());
        for w in self.pending.drain() {
            if let Waiter::Caller(c) = w {
                eff.done.push((c, Err(ActionError::ConnectionLost)));
            }
        }
        if self.resync_open {
            self.resync_open = false;
            eff.change(Change::ResyncFinished {
                channels: self.resync_items,
                error: Some(reason.clone()),
            });
        }
        if matches!(self.phase, Phase::Ready | Phase::LoggingOff) {
            eff.change(Change::Disconnected { reason });
        }
        self.phase = Phase::Idle;
        self.banner_deadline = None;
        self.next_ping = None;
        self.ping_seq = None;
        self.out.clear();
        core::mem::replace(&mut self.healthy, false)
    }

    /// Queues a caller's action. Only when [`Core::is_ready`].
    ///
    /// # Errors
    /// `NotConnected`, `TooManyPending` (table or write queue full), or
    /// `Invalid`; the waiter is given back.
    pub fn enqueue(
        &mut self,
        now: Instant,
        action: &Action,
        waiter: W,
    ) -> Result<(), (ActionError, W)> {
        if self.phase != Phase::Ready {
            return Err((ActionError::NotConnected, waiter));
        }
        if self.pending.len() + RESERVED_SLOTS >= limits::AMI_MAX_PENDING_ACTIONS
            || self.out.len() + action.wire_len(40) > limits::AMI_WRITE_QUEUE_BYTES
        {
            self.refused += 1;
            return Err((ActionError::TooManyPending, waiter));
        }
        let timeout = self.cfg.action_timeout + action.extra_wait();
        match self.send(now, action, timeout, true, Waiter::Caller(waiter)) {
            Ok(_) => Ok(()),
            Err((e, Waiter::Caller(w))) => {
                if e == ActionError::TooManyPending {
                    self.refused += 1;
                }
                Err((e, w))
            }
            Err(_) => unreachable!("send gives back the waiter it was given"),
        }
    }

    /// Registers `action` in the pending table and appends it to the output.
    fn send(
        &mut self,
        now: Instant,
        action: &Action,
        timeout: Duration,
        collect_items: bool,
        waiter: Waiter<W>,
    ) -> Result<u64, (ActionError, Waiter<W>)> {
        let seq = self
            .pending
            .insert(now, timeout, action.expect(), collect_items, waiter)?;
        let id = self.pending.action_id(seq);
        if let Err(e) = action.encode(&id, &mut self.out) {
            let w = self.pending.cancel(seq).expect("just inserted");
            return Err((ActionError::Invalid(e), w));
        }
        Ok(seq)
    }

    /// Sends one of our own actions; a full table (impossible with the
    /// reserved slots) only loses that action.
    fn send_own(
        &mut self,
        now: Instant,
        action: &Action,
        collect_items: bool,
        w: Waiter<W>,
    ) -> Result<u64, ActionError> {
        let t = self.cfg.action_timeout;
        self.send(now, action, t, collect_items, w)
            .map_err(|(e, _)| e)
    }

    /// Bytes arrived: the connection is alive even if the answer to our Ping
    /// is queued behind a burst of events, so its deadline moves on.
    pub fn on_bytes(&mut self, now: Instant) {
        if let Some(seq) = self.ping_seq {
            self.pending.postpone(seq, now + self.cfg.action_timeout);
        }
    }

    /// Sends `Logoff` if logged in (returns true), so the connection can end
    /// with Asterisk's `Goodbye`; false when there is nothing to log off.
    pub fn begin_logoff(&mut self, now: Instant) -> bool {
        if self.phase != Phase::Ready {
            return false;
        }
        if self
            .send_own(now, &Action::logoff(), true, Waiter::Logoff)
            .is_err()
        {
            return false;
        }
        self.phase = Phase::LoggingOff;
        true
    }

    fn start_login(&mut self, now: Instant, eff: &mut Effects<W>) {
        self.banner_deadline = None;
        self.phase = Phase::LoggingIn;
        let sent = match self.cfg.auth {
            Auth::Md5 => self.send_own(now, &Action::challenge_md5(), true, Waiter::Challenge),
            Auth::Plain => match Action::login_plain(&self.cfg.user, self.cfg.secret.expose()) {
                Ok(a) => self.send_own(now, &a, true, Waiter::Login),
                Err(e) => Err(ActionError::Invalid(e)),
            },
        };
        if let Err(e) = sent {
            eff.close(login_error(e));
        }
    }

    fn logged_in(&mut self, now: Instant, eff: &mut Effects<W>) {
        self.phase = Phase::Ready;
        self.next_ping = Some(now + self.cfg.ping_interval);
        eff.change(Change::Connected {
            version: self.version.clone(),
        });
        if self.cfg.resync {
            if self
                .send_own(
                    now,
                    &Action::core_show_channels(),
                    false,
                    Waiter::ResyncChannels,
                )
                .is_ok()
            {
                self.resync_open = true;
                eff.change(Change::ResyncStarted);
            }
            if self.cfg.resync_queues {
                if let Ok(q) = Action::queue_status(None) {
                    let _ = self.send_own(now, &q, false, Waiter::ResyncQueues);
                }
            }
        }
    }

    /// Routes one packet from Asterisk.
    pub fn on_packet(&mut self, now: Instant, packet: &Packet<'_>, eff: &mut Effects<W>) {
        if let Kind::Banner(line) = packet.kind() {
            if self.phase == Phase::Banner {
                self.banner = bounded(line);
                self.version = bounded(banner_version(line));
                self.start_login(now, eff);
            }
            return;
        }
        if self.phase == Phase::Banner {
            // No banner (an unusual proxy): log in anyway.
            self.start_login(now, eff);
        }
        match self.pending.route(now, packet) {
            Routed::NotOurs => match packet.kind() {
                Kind::Event(_) if matches!(self.phase, Phase::Ready | Phase::LoggingOff) => {
                    eff.forward = true;
                }
                Kind::Response(_) => self.stray += 1,
                _ => {}
            },
            Routed::Late | Routed::Taken => {}
            Routed::ListItem => {
                if self.resync_open && packet.event() == Some("CoreShowChannel") {
                    self.resync_items += 1;
                }
                eff.forward = true;
            }
            Routed::Done {
                waiter,
                result,
                items_seen,
            } => self.on_done(now, waiter, result, items_seen, eff),
        }
    }

    fn on_done(
        &mut self,
        now: Instant,
        waiter: Waiter<W>,
        result: Result<Reply, ActionError>,
        items_seen: u32,
        eff: &mut Effects<W>,
    ) {
        match waiter {
            Waiter::Caller(c) => eff.done.push((c, result)),
            Waiter::Challenge => match result {
                Ok(reply) => match reply.get("Challenge") {
                    Some(ch) if !ch.is_empty() => {
                        let key = md5_key(ch, self.cfg.secret.expose());
                        match Action::login_md5(&self.cfg.user, &key) {
                            Ok(a) => {
                                if let Err(e) = self.send_own(now, &a, true, Waiter::Login) {
                                    eff.close(login_error(e));
                                }
                            }
                            Err(e) => eff.close(End::LoginInvalid(e)),
                        }
                    }
                    _ => eff.close(End::LoginRefused(text(
                        "the server sent no MD5 challenge; set the AMI auth to plain",
                    ))),
                },
                Err(e) => eff.close(login_error(e)),
            },
            Waiter::Login => match result {
                Ok(_) => self.logged_in(now, eff),
                Err(e) => eff.close(login_error(e)),
            },
            Waiter::Ping => {
                self.healthy = true;
                self.ping_seq = None;
                self.next_ping = Some(now + self.cfg.ping_interval);
            }
            Waiter::ResyncChannels => {
                self.healthy = true;
                self.resync_open = false;
                let error = match result {
                    Ok(_) => None,
                    Err(e) => Some(bounded(&format!("CoreShowChannels: {e}"))),
                };
                eff.change(Change::ResyncFinished {
                    channels: items_seen,
                    error,
                });
            }
            Waiter::ResyncQueues => {
                if let Err(e) = result {
                    log::warn!(
                        "QueueStatus after login failed ({e}); queue states will show up \
                         as queue events arrive"
                    );
                }
            }
            Waiter::Logoff => eff.close(End::Shutdown),
        }
    }

    /// Handles every deadline at or before `now`.
    pub fn on_timer(&mut self, now: Instant, eff: &mut Effects<W>) {
        if self.banner_deadline.is_some_and(|d| d <= now) {
            self.banner_deadline = None;
            eff.close(End::NoBanner);
        }
        while let Some(w) = self.pending.expire(now) {
            match w {
                Waiter::Caller(c) => eff.done.push((c, Err(ActionError::Timeout))),
                Waiter::Challenge | Waiter::Login => eff.close(End::LoginTimeout),
                Waiter::Ping => eff.close(End::KeepaliveTimeout),
                Waiter::ResyncChannels => {
                    self.resync_open = false;
                    eff.change(Change::ResyncFinished {
                        channels: self.resync_items,
                        error: Some(bounded("CoreShowChannels: Asterisk did not answer in time")),
                    });
                }
                Waiter::ResyncQueues => log::warn!("QueueStatus after login got no answer in time"),
                Waiter::Logoff => eff.close(End::Shutdown),
            }
        }
        if self.phase == Phase::Ready
            && self.ping_seq.is_none()
            && self.next_ping.is_some_and(|t| t <= now)
        {
            if let Ok(seq) = self.send_own(now, &Action::ping(), true, Waiter::Ping) {
                self.ping_seq = Some(seq);
            } else {
                self.next_ping = Some(now + self.cfg.ping_interval);
            }
        }
    }
}

fn login_error(e: ActionError) -> End {
    match e {
        ActionError::Refused { message } => End::LoginRefused(message),
        ActionError::Invalid(i) => End::LoginInvalid(i),
        ActionError::Timeout => End::LoginTimeout,
        other => End::LoginRefused(text(&other.to_string())),
    }
}

/// An error text for [`End`], bounded.
pub fn text(s: &str) -> ErrorText {
    error_text(s, limits::AMI_STATUS_TEXT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::codec::{Decoder, Item, Limits};

    fn cfg(auth: Auth) -> CoreConfig {
        CoreConfig {
            user: "bridge".into(),
            secret: Secret::new("s3cret"),
            auth,
            action_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(20),
            resync: true,
            resync_queues: false,
        }
    }

    /// Feeds `text` to the core, returning the effects of each packet.
    fn feed(core: &mut Core<u32>, now: Instant, text: &str) -> Vec<Effects<u32>> {
        let mut dec = Decoder::new(Limits::default());
        dec.feed(text.as_bytes());
        let mut out = Vec::new();
        while let Some(Item::Packet(p)) = dec.next_item() {
            let mut eff = Effects::default();
            core.on_packet(now, &p, &mut eff);
            out.push(eff);
        }
        out
    }

    fn take_out(core: &mut Core<u32>) -> String {
        String::from_utf8(core.output_mut().split_off(0)).unwrap()
    }

    /// The MD5 key checked against a value computed outside this program:
    /// `python3 -c 'import hashlib;print(hashlib.md5(b"123456789"+b"s3cret").hexdigest())'`
    /// printed d32b5714dd0e3ae70d4a845d5e524f3f.
    #[test]
    fn md5_key_matches_an_independent_computation() {
        assert_eq!(
            md5_key("123456789", "s3cret").as_str(),
            "d32b5714dd0e3ae70d4a845d5e524f3f"
        );
        // The challenge from the panoramisk trace with secret "bridge":
        // python3 ... md5(b"145769581"+b"bridge") = c22762bb0b616fd564c5967bc8da95d3.
        assert_eq!(
            md5_key("145769581", "bridge").as_str(),
            "c22762bb0b616fd564c5967bc8da95d3"
        );
    }

    #[test]
    fn banner_versions() {
        assert_eq!(banner_version("Asterisk Call Manager/11.0.0"), "11.0.0");
        assert_eq!(banner_version("Asterisk Call Manager/1.3"), "1.3");
        assert_eq!(
            banner_version("Asterisk Call Manager Proxy/1.1"),
            "Proxy/1.1"
        );
    }

    fn logged_in_core(now: Instant) -> Core<u32> {
        let mut c = Core::new("t", cfg(Auth::Md5));
        c.connection_started(now);
        feed(&mut c, now, "Asterisk Call Manager/11.0.0\r\n");
        feed(
            &mut c,
            now,
            "Response: Success\r\nActionID: t-1\r\nChallenge: 123456789\r\n\r\n",
        );
        let effs = feed(
            &mut c,
            now,
            "Response: Success\r\nActionID: t-2\r\nMessage: Authentication accepted\r\n\r\n",
        );
        assert_eq!(
            effs[0].changes.as_slice(),
            &[
                Change::Connected {
                    version: bounded("11.0.0")
                },
                Change::ResyncStarted
            ]
        );
        take_out(&mut c);
        c
    }

    #[test]
    fn md5_login_sends_challenge_then_key_then_resync() {
        let now = Instant::now();
        let mut c: Core<u32> = Core::new("t", cfg(Auth::Md5));
        c.connection_started(now);
        assert_eq!(take_out(&mut c), "", "nothing before the banner");
        feed(&mut c, now, "Asterisk Call Manager/11.0.0\r\n");
        assert_eq!(
            take_out(&mut c),
            "Action: Challenge\r\nActionID: t-1\r\nAuthType: MD5\r\n\r\n"
        );
        feed(
            &mut c,
            now,
            "Response: Success\r\nActionID: t-1\r\nChallenge: 123456789\r\n\r\n",
        );
        assert_eq!(
            take_out(&mut c),
            "Action: Login\r\nActionID: t-2\r\nAuthType: MD5\r\nUsername: bridge\r\n\
             Key: d32b5714dd0e3ae70d4a845d5e524f3f\r\nEvents: on\r\n\r\n"
        );
        assert!(!c.is_ready());
        feed(
            &mut c,
            now,
            "Response: Success\r\nActionID: t-2\r\nMessage: Authentication accepted\r\n\r\n",
        );
        assert!(c.is_ready());
        assert_eq!(
            take_out(&mut c),
            "Action: CoreShowChannels\r\nActionID: t-3\r\n\r\n"
        );
    }

    #[test]
    fn plain_login_sends_the_secret_once() {
        let now = Instant::now();
        let mut c: Core<u32> = Core::new("t", cfg(Auth::Plain));
        c.connection_started(now);
        feed(&mut c, now, "Asterisk Call Manager/11.0.0\r\n");
        assert_eq!(
            take_out(&mut c),
            "Action: Login\r\nActionID: t-1\r\nUsername: bridge\r\nSecret: s3cret\r\nEvents: on\r\n\r\n"
        );
    }

    #[test]
    fn refused_login_closes_with_asterisks_message() {
        let now = Instant::now();
        let mut c: Core<u32> = Core::new("t", cfg(Auth::Plain));
        c.connection_started(now);
        feed(&mut c, now, "Asterisk Call Manager/11.0.0\r\n");
        let effs = feed(
            &mut c,
            now,
            "Response: Error\r\nActionID: t-1\r\nMessage: Authentication failed\r\n\r\n",
        );
        assert_eq!(
            effs[0].close,
            Some(End::LoginRefused("Authentication failed".into()))
        );
        let mut eff = Effects::default();
        c.connection_ended(effs[0].close.as_ref().unwrap(), &mut eff);
        assert!(eff.changes.is_empty(), "never connected: no Disconnected");
    }

    #[test]
    fn login_already_in_use_points_at_allowmultiplelogin() {
        let e = End::LoginRefused("Login Already In Use".into()).to_string();
        assert!(e.contains("allowmultiplelogin"), "{e}");
        let e = End::LoginRefused("Authentication failed".into()).to_string();
        assert!(e.contains("permit/deny"), "{e}");
    }

    #[test]
    fn no_banner_in_time_closes() {
        let now = Instant::now();
        let mut c: Core<u32> = Core::new("t", cfg(Auth::Md5));
        c.connection_started(now);
        assert_eq!(c.next_deadline(), Some(now + Duration::from_secs(5)));
        let mut eff = Effects::default();
        c.on_timer(now + Duration::from_secs(5), &mut eff);
        assert_eq!(eff.close, Some(End::NoBanner));
    }

    #[test]
    fn login_without_answer_times_out() {
        let now = Instant::now();
        let mut c: Core<u32> = Core::new("t", cfg(Auth::Md5));
        c.connection_started(now);
        feed(&mut c, now, "Asterisk Call Manager/11.0.0\r\n");
        let mut eff = Effects::default();
        c.on_timer(now + Duration::from_secs(5), &mut eff);
        assert_eq!(eff.close, Some(End::LoginTimeout));
    }

    #[test]
    fn resync_items_go_to_the_sink_and_finish_at_complete() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        let effs = feed(
            &mut c,
            now,
            "Event: FullyBooted\r\nPrivilege: system,all\r\n\r\n\
             Response: Success\r\nActionID: t-3\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n\
             Event: CoreShowChannel\r\nActionID: t-3\r\nChannel: PJSIP/1000-00000000\r\n\r\n\
             Event: Newchannel\r\nChannel: PJSIP/1006-00000002\r\n\r\n\
             Event: CoreShowChannel\r\nActionID: t-3\r\nChannel: PJSIP/1002-00000001\r\n\r\n\
             Event: CoreShowChannelsComplete\r\nActionID: t-3\r\nEventList: Complete\r\nListItems: 2\r\n\r\n",
        );
        let fwd: Vec<bool> = effs.iter().map(|e| e.forward).collect();
        assert_eq!(fwd, [true, false, true, true, true, false]);
        assert_eq!(
            effs[5].changes.as_slice(),
            &[Change::ResyncFinished {
                channels: 2,
                error: None
            }]
        );
    }

    #[test]
    fn refused_resync_finishes_with_the_reason() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        let effs = feed(
            &mut c,
            now,
            "Response: Error\r\nActionID: t-3\r\nMessage: Permission denied\r\n\r\n",
        );
        match &effs[0].changes[0] {
            Change::ResyncFinished {
                channels: 0,
                error: Some(e),
            } => {
                assert!(e.contains("Permission denied"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resync_without_answer_finishes_at_the_timeout() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        let mut eff = Effects::default();
        c.on_timer(now + Duration::from_secs(5), &mut eff);
        assert!(matches!(
            eff.changes.as_slice(),
            [Change::ResyncFinished { error: Some(_), .. }]
        ));
        assert_eq!(eff.close, None, "a slow resync does not end the connection");
    }

    #[test]
    fn connection_lost_during_resync_finishes_it_before_disconnected() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        c.enqueue(now, &Action::ping(), 9).unwrap();
        let mut eff = Effects::default();
        c.connection_ended(&End::Closed, &mut eff);
        assert!(matches!(
            eff.changes.as_slice(),
            [
                Change::ResyncFinished { error: Some(_), .. },
                Change::Disconnected { .. }
            ]
        ));
        assert!(matches!(
            eff.done.as_slice(),
            [(9, Err(ActionError::ConnectionLost))]
        ));
    }

    #[test]
    fn resync_cut_short_still_counts_the_channels_passed_on() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        feed(
            &mut c,
            now,
            "Response: Success\r\nActionID: t-3\r\nEventList: start\r\n\r\n\
             Event: CoreShowChannel\r\nActionID: t-3\r\nChannel: PJSIP/1000-00000000\r\n\r\n",
        );
        let mut eff = Effects::default();
        c.connection_ended(&End::Closed, &mut eff);
        assert!(matches!(
            eff.changes.as_slice(),
            [
                Change::ResyncFinished {
                    channels: 1,
                    error: Some(_)
                },
                Change::Disconnected { .. }
            ]
        ));
    }

    #[test]
    fn keepalive_pings_at_the_interval_and_dies_without_pong() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        feed(&mut c, now, "Response: Success\r\nActionID: t-3\r\nEventList: start\r\n\r\nEvent: CoreShowChannelsComplete\r\nActionID: t-3\r\nEventList: Complete\r\n\r\n");
        let t20 = now + Duration::from_secs(20);
        assert_eq!(c.next_deadline(), Some(t20));
        let mut eff = Effects::default();
        c.on_timer(t20, &mut eff);
        assert_eq!(take_out(&mut c), "Action: Ping\r\nActionID: t-4\r\n\r\n");
        // Answered: the next ping is 20 s after the pong.
        let t21 = t20 + Duration::from_secs(1);
        feed(
            &mut c,
            t21,
            "Response: Success\r\nActionID: t-4\r\nPing: Pong\r\nTimestamp: 1.0\r\n\r\n",
        );
        assert_eq!(c.next_deadline(), Some(t21 + Duration::from_secs(20)));
        // Not answered: dead after the action timeout.
        let t41 = t21 + Duration::from_secs(20);
        c.on_timer(t41, &mut eff);
        let mut eff = Effects::default();
        c.on_timer(t41 + Duration::from_secs(5), &mut eff);
        assert_eq!(eff.close, Some(End::KeepaliveTimeout));
    }

    #[test]
    fn incoming_bytes_keep_a_slow_pong_alive() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        let t20 = now + Duration::from_secs(20);
        let mut eff = Effects::default();
        c.on_timer(t20, &mut eff);
        assert!(take_out(&mut c).contains("Action: Ping"));
        // Events keep arriving 4 s later: the ping may wait 5 s from then.
        c.on_bytes(t20 + Duration::from_secs(4));
        let mut eff = Effects::default();
        c.on_timer(t20 + Duration::from_secs(6), &mut eff);
        assert_eq!(eff.close, None);
        c.on_timer(t20 + Duration::from_secs(9), &mut eff);
        assert_eq!(eff.close, Some(End::KeepaliveTimeout));
    }

    #[test]
    fn caller_actions_wait_for_their_own_action_id() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        c.enqueue(
            now,
            &Action::hangup("PJSIP/1002-0000001b", Some(16)).unwrap(),
            1,
        )
        .unwrap();
        c.enqueue(now, &Action::ping(), 2).unwrap();
        assert_eq!(
            take_out(&mut c),
            "Action: Hangup\r\nActionID: t-4\r\nChannel: PJSIP/1002-0000001b\r\nCause: 16\r\n\r\n\
             Action: Ping\r\nActionID: t-5\r\n\r\n"
        );
        let effs = feed(
            &mut c,
            now,
            "Response: Success\r\nActionID: t-5\r\nPing: Pong\r\n\r\n\
             Response: Error\r\nActionID: t-4\r\nMessage: No such channel\r\n\r\n",
        );
        assert!(matches!(effs[0].done.as_slice(), [(2, Ok(_))]));
        assert!(matches!(
            effs[1].done.as_slice(),
            [(1, Err(ActionError::Refused { .. }))]
        ));
    }

    #[test]
    fn caller_action_times_out_without_ending_the_connection() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        c.enqueue(now, &Action::ping(), 1).unwrap();
        let mut eff = Effects::default();
        c.on_timer(now + Duration::from_secs(5), &mut eff);
        assert!(eff
            .done
            .iter()
            .any(|(w, r)| *w == 1 && matches!(r, Err(ActionError::Timeout))));
        assert_eq!(eff.close, None);
    }

    #[test]
    fn actions_are_refused_before_login_and_when_full() {
        let now = Instant::now();
        let mut c: Core<u32> = Core::new("t", cfg(Auth::Md5));
        assert_eq!(
            c.enqueue(now, &Action::ping(), 1).err().map(|e| e.0),
            Some(ActionError::NotConnected)
        );
        let mut c = logged_in_core(now);
        let mut n = 0;
        while c.enqueue(now, &Action::ping(), n).is_ok() {
            n += 1;
        }
        assert_eq!(
            n as usize,
            limits::AMI_MAX_PENDING_ACTIONS - RESERVED_SLOTS - 1
        );
        assert_eq!(c.counters().actions_refused, 1);
    }

    #[test]
    fn logoff_ends_with_goodbye() {
        let now = Instant::now();
        let mut c = logged_in_core(now);
        assert!(c.begin_logoff(now));
        assert!(take_out(&mut c).starts_with("Action: Logoff\r\n"));
        let effs = feed(
            &mut c,
            now,
            "Response: Goodbye\r\nActionID: t-4\r\nMessage: Thanks for all the fish.\r\n\r\n",
        );
        assert_eq!(effs[0].close, Some(End::Shutdown));
    }

    #[test]
    fn no_md5_challenge_is_a_refusal_in_clear_words() {
        let now = Instant::now();
        let mut c: Core<u32> = Core::new("t", cfg(Auth::Md5));
        c.connection_started(now);
        feed(&mut c, now, "Asterisk Call Manager/11.0.0\r\n");
        let effs = feed(&mut c, now, "Response: Success\r\nActionID: t-1\r\n\r\n");
        assert!(matches!(&effs[0].close, Some(End::LoginRefused(m)) if m.contains("challenge")));
    }

    #[test]
    fn secret_never_shows_in_debug() {
        let c: Core<u32> = Core::new("t", cfg(Auth::Md5));
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
