//! The running bridge: wires config, AMI source, tracker, fan-out, WebSocket
//! server and health endpoint together on one executor.
//!
//! [`run`] is what `ctibridge run` calls and what the end-to-end tests call
//! on `127.0.0.1:0` listeners. The AMI reader calls [`Core`] synchronously
//! for every packet; `Core` updates the tracker and queues frames in the hub
//! without ever waiting, so a slow client never slows the reader.

use crate::ami::{
    self, AmiSink, Packet, PlaybackOptions, PlaybackSource, SessionChange, SessionHandle,
    SessionOptions,
};
use crate::calls::{CallEvent, Tracker, TrackerOptions};
use crate::config::{AmiAuth, Config, ConfigError};
use crate::control::Control;
use crate::http::{self, Health};
use crate::json;
use crate::limits::WS_SHUTDOWN_GRACE_MS;
use crate::ws::{self, Hub, Server, UserEntry, Users};
use async_executor::LocalExecutor;
use async_net::TcpListener;
use core::fmt;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant, SystemTime};

/// The two listening sockets, bound by the caller (so tests can use port 0
/// and the binary can report a busy port before anything starts).
pub struct Listeners {
    /// WebSocket clients and the panel page (`wsListen`).
    pub ws: TcpListener,
    /// /health and /metrics (`healthListen`).
    pub health: TcpListener,
}

/// Why the bridge could not start or stopped on its own.
#[derive(Debug)]
pub enum RunError {
    /// The config's values do not fit the tracker (names the key).
    Tracker(crate::calls::OptionsError),
    /// The users table was refused by the WebSocket side.
    Users(ws::UsersError),
    /// The TLS certificate or key could not be used.
    #[cfg(feature = "tls")]
    Tls(ws::TlsError),
    /// The config asks for TLS but this build has no TLS.
    #[cfg(not(feature = "tls"))]
    NoTls,
    /// The recording in `filePath` could not be read.
    Playback(ami::PlaybackError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Tracker(e) => write!(f, "{e}"),
            RunError::Users(e) => write!(f, "users: {e}"),
            #[cfg(feature = "tls")]
            RunError::Tls(e) => write!(f, "tlsCert/tlsKey: {e}"),
            #[cfg(not(feature = "tls"))]
            RunError::NoTls => f.write_str(
                "tlsCert/tlsKey are set but this build has no TLS: rebuild with the default features",
            ),
            RunError::Playback(e) => write!(f, "filePath: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// The session options a config asks for.
pub fn session_options(config: &Config) -> SessionOptions {
    let a = &config.ami;
    SessionOptions {
        host: a.host.as_str().into(),
        port: a.port,
        user: a.user_name.as_str().into(),
        secret: ami::Secret::new(a.secret.expose()),
        auth: match a.auth {
            AmiAuth::Md5 => ami::Auth::Md5,
            AmiAuth::Plain => ami::Auth::Plain,
        },
        connect_timeout: a.connect_timeout,
        ping_interval: a.ping_interval,
        action_timeout: a.action_timeout,
        limits: a.limits,
        resync_queues: config.calls.trace_queues_state
            || config.calls.auto_pause_on_commutation_start,
        ..SessionOptions::default()
    }
}

/// The tracker options a config asks for.
///
/// # Errors
/// When a value does not fit the tracker; the error names the config key.
pub fn tracker_options(config: &Config) -> Result<TrackerOptions, crate::calls::OptionsError> {
    let c = &config.calls;
    let keys: Vec<&str> = c.packet_info.iter().map(|k| k.as_str()).collect();
    TrackerOptions::new(
        c.protocol.prefix(),
        c.queue_extension_format.as_str(),
        c.ring_started_on_ringing_state,
        &keys,
        c.max_channels,
    )
}

fn ws_users(config: &Config) -> Result<Users, ws::UsersError> {
    Users::new(config.users.iter().map(|u| UserEntry {
        user: ws::User {
            name: u.name.as_str().into(),
            line: u.line.as_str().into(),
            debug: u.debug,
        },
        token: u.token.expose().into(),
    }))
}

/// Receives every AMI packet and session change, turns them into call-model
/// events and publishes them. Never waits.
pub struct Core {
    tracker: Rc<RefCell<Tracker>>,
    hub: Rc<Hub>,
    control: Rc<Control>,
    protocol: &'static str,
    events: Vec<CallEvent>,
    frame: String,
}

impl Core {
    fn publish(&mut self) {
        for ev in self.events.drain(..) {
            self.frame.clear();
            // Writing into a String cannot fail.
            let _ = ev.write_json(&mut self.frame);
            self.hub.publish(ev.line(), &self.frame);
            self.control.on_event(&ev);
        }
    }

    /// Sends the packet as a `Raw` event to debug clients of the lines whose
    /// channels it names.
    fn publish_raw(&mut self, p: &Packet<'_>) {
        if !self.hub.any_raw() {
            return;
        }
        for key in ["Channel", "DestChannel"] {
            let Some(channel) = p.get(key) else { continue };
            let Some(line) = line_of(self.protocol, channel) else {
                continue;
            };
            if !self.hub.wants_raw(line) {
                continue;
            }
            let call = p.get(if key == "Channel" {
                "Uniqueid"
            } else {
                "DestUniqueid"
            });
            self.frame.clear();
            self.frame.push_str("{\"event\":\"Raw\",\"line\":");
            let _ = json::write_str(&mut self.frame, line);
            self.frame.push_str(",\"call\":");
            let _ = json::write_str(&mut self.frame, call.unwrap_or(""));
            self.frame.push_str(",\"packet\":");
            let _ = json::write_str(&mut self.frame, &String::from_utf8_lossy(p.raw()));
            self.frame.push('}');
            self.hub.publish_raw(line, &self.frame);
        }
    }
}

/// The line of a device channel name (`PJSIP/1000-0000002a` → `1000`).
fn line_of<'a>(protocol: &str, channel: &'a str) -> Option<&'a str> {
    let rest = channel.strip_prefix(protocol)?;
    let line = rest.rsplit_once('-').map_or(rest, |(l, _)| l);
    (!line.is_empty()).then_some(line)
}

impl AmiSink for Core {
    fn packet(&mut self, p: &Packet<'_>) {
        self.tracker.borrow_mut().handle(p, &mut self.events);
        self.publish();
        self.publish_raw(p);
    }

    fn session(&mut self, change: SessionChange<'_>) {
        match change {
            SessionChange::Connected { version } => {
                log::info!("AMI: logged in (Asterisk Call Manager {version})");
            }
            SessionChange::ResyncStarted => self.tracker.borrow_mut().begin_resync(),
            SessionChange::ResyncFinished {
                channels,
                error: None,
            } => {
                log::info!("AMI: resynchronised, {channels} channels live on the PBX");
                self.tracker.borrow_mut().end_resync(&mut self.events);
                self.publish();
            }
            SessionChange::ResyncFinished { error: Some(e), .. } => {
                log::warn!("AMI: channel list incomplete ({e}); calls are kept as they were");
                self.tracker.borrow_mut().abort_resync();
            }
            SessionChange::Disconnected { reason } => log::info!("AMI: disconnected: {reason}"),
        }
    }
}

/// Why a reload was refused; the running users stay as they were.
#[derive(Debug)]
pub enum ReloadError {
    /// No bridge is running with this handle (not started yet, or stopped).
    NotRunning,
    /// The new file is not a valid config.
    Config(ConfigError),
    /// The new users table was refused by the WebSocket side.
    Users(ws::UsersError),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::NotRunning => f.write_str("the bridge is not running"),
            ReloadError::Config(e) => write!(f, "{e}"),
            ReloadError::Users(e) => write!(f, "users: {e}"),
        }
    }
}

impl std::error::Error for ReloadError {}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Users in the new config, all of whom may now sign in.
    pub users: usize,
    /// Clients closed (1008 "signed out") because their user was removed or
    /// their token now names another user or line.
    pub signed_out: usize,
    /// Other keys whose new value was not applied (see [`restart_keys`]).
    pub restart_needed: Vec<&'static str>,
}

/// The bridge's side of a [`Reload`] handle while [`run_with_reload`] runs.
struct Reloadable {
    /// The config the bridge started with: every key but the users'.
    running: Rc<Config>,
    server: Server,
    control: Rc<Control>,
}

/// Reloads the users of a running bridge (what SIGHUP does): tokens, names,
/// lines, `debug`, and each user's `dialPatterns` and `context`. The AMI
/// session and the clients whose users are unchanged carry on.
///
/// Create it, hand it to [`run_with_reload`], and call [`Reload::from_file`]
/// (or [`Reload::apply`]) while the bridge runs. Cheap to clone.
#[derive(Clone, Default)]
pub struct Reload {
    target: Rc<RefCell<Weak<Reloadable>>>,
}

impl Reload {
    /// A handle not yet connected to a bridge.
    pub fn new() -> Reload {
        Reload::default()
    }

    /// Reads the config file at `path` and applies its users (see
    /// [`Reload::apply`]). Logs the outcome: the changes on success, one
    /// error line naming the file and the fault otherwise, in which case the
    /// users in use stay as they were.
    ///
    /// # Errors
    /// [`ReloadError`] when the file is not a valid config or the bridge is
    /// not running.
    pub fn from_file(&self, path: &Path) -> Result<Reloaded, ReloadError> {
        let result = crate::config::load(path)
            .map_err(ReloadError::Config)
            .and_then(|c| self.apply(c));
        match &result {
            Ok(r) => {
                log::info!(
                    "config reloaded from {}: {} users, {} client{} signed out",
                    path.display(),
                    r.users,
                    r.signed_out,
                    if r.signed_out == 1 { "" } else { "s" }
                );
                if !r.restart_needed.is_empty() {
                    log::warn!(
                        "config reload: {} changed: restart ctibridge to apply (only users are reloaded)",
                        r.restart_needed.join(", ")
                    );
                }
            }
            Err(e) => log::error!(
                "config reload refused, keeping the users in use: {}: {e}",
                path.display()
            ),
        }
        result
    }

    /// Puts `new`'s users to work: who may sign in, and the dial patterns
    /// and context of each. Clients whose token no longer names the same
    /// user and line are closed with 1008 "signed out"; other clients and the
    /// AMI session carry on. Every other key keeps its running value and is
    /// listed in [`Reloaded::restart_needed`] when it differs.
    ///
    /// # Errors
    /// [`ReloadError::Users`] when the WebSocket side refuses the users
    /// table, [`ReloadError::NotRunning`] without a running bridge.
    pub fn apply(&self, new: Config) -> Result<Reloaded, ReloadError> {
        let bridge = self
            .target
            .borrow()
            .upgrade()
            .ok_or(ReloadError::NotRunning)?;
        let users = ws_users(&new).map_err(ReloadError::Users)?;
        let restart_needed = restart_keys(&bridge.running, &new);
        let count = users.len();
        let signed_out = bridge.server.set_users(users);
        bridge.control.set_users(new.users);
        Ok(Reloaded {
            users: count,
            signed_out,
            restart_needed,
        })
    }
}

/// The keys other than `users` whose values differ between the running
/// config and a reloaded one: they take effect only at a restart.
pub fn restart_keys(running: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (running, new);
    let checks: [(&'static str, bool); 26] = [
        ("url", a.ami.host != b.ami.host),
        ("port", a.ami.port != b.ami.port),
        ("userName", a.ami.user_name != b.ami.user_name),
        ("secret", a.ami.secret != b.ami.secret),
        ("amiAuth", a.ami.auth != b.ami.auth),
        (
            "amiBufferSize/amiMaxLine/amiMaxFields",
            a.ami.limits != b.ami.limits,
        ),
        ("pingIntervalS", a.ami.ping_interval != b.ami.ping_interval),
        (
            "actionTimeoutS",
            a.ami.action_timeout != b.ami.action_timeout,
        ),
        (
            "connectTimeoutS",
            a.ami.connect_timeout != b.ami.connect_timeout,
        ),
        ("protocol", a.calls.protocol != b.calls.protocol),
        (
            "queueExtensionFormat",
            a.calls.queue_extension_format != b.calls.queue_extension_format,
        ),
        (
            "sendRingStartedOnRingingState",
            a.calls.ring_started_on_ringing_state != b.calls.ring_started_on_ringing_state,
        ),
        (
            "traceQueuesState",
            a.calls.trace_queues_state != b.calls.trace_queues_state,
        ),
        (
            "autoPauseOnCommutationStart",
            a.calls.auto_pause_on_commutation_start != b.calls.auto_pause_on_commutation_start,
        ),
        (
            "packetInfoConfig",
            a.calls.packet_info != b.calls.packet_info,
        ),
        ("maxChannels", a.calls.max_channels != b.calls.max_channels),
        (
            "originateContext",
            a.actions.originate_context != b.actions.originate_context,
        ),
        (
            "parkingLotContext",
            a.actions.parking_lot_context != b.actions.parking_lot_context,
        ),
        (
            "asyncOriginate",
            a.actions.async_originate != b.actions.async_originate,
        ),
        (
            "originateRatePerMinute",
            a.actions.originate_rate_per_minute != b.actions.originate_rate_per_minute,
        ),
        ("wsListen", a.ws.listen != b.ws.listen),
        ("maxClients", a.ws.max_clients != b.ws.max_clients),
        ("clientQueue", a.ws.client_queue != b.ws.client_queue),
        ("tlsCert/tlsKey", a.ws.tls != b.ws.tls),
        ("screenPopUrl", a.ws.screen_pop_url != b.ws.screen_pop_url),
        ("healthListen", a.health_listen != b.health_listen),
    ];
    let mut keys: Vec<&'static str> = checks
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(k, _)| *k)
        .collect();
    if a.replay != b.replay {
        keys.push("filePath/replayGapMs/replayLoop");
    }
    if a.log_level != b.log_level {
        keys.push("logLevel");
    }
    keys
}

/// Runs the bridge until `shutdown` completes: the AMI session (or the
/// replay of `filePath`), the WebSocket server and the health endpoint, all
/// as tasks on `ex`. Users cannot be reloaded; see [`run_with_reload`].
///
/// # Errors
/// [`RunError`] when the config cannot be put to work (TLS files, tracker
/// values, an unreadable recording).
pub async fn run(
    ex: Rc<LocalExecutor<'static>>,
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    run_with_reload(ex, listeners, config, shutdown, &Reload::new()).await
}

/// [`run`], with `reload` connected to the bridge while it runs.
///
/// When `shutdown` completes, the AMI session logs off while every
/// WebSocket client is closed with 1001 "going away"; the function returns
/// once both are done, waiting at most [`WS_SHUTDOWN_GRACE_MS`] for the
/// clients' close answers.
///
/// # Errors
/// As [`run`].
pub async fn run_with_reload(
    ex: Rc<LocalExecutor<'static>>,
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()>,
    reload: &Reload,
) -> Result<(), RunError> {
    let started = Instant::now();
    let config = Rc::new(config);
    let tracker = Rc::new(RefCell::new(Tracker::new(
        tracker_options(&config).map_err(RunError::Tracker)?,
    )));
    let hub = Hub::new(config.ws.client_queue);
    let session = SessionHandle::new();
    let control = Rc::new(Control::new(
        config.clone(),
        tracker.clone(),
        session.clone(),
        ex.clone(),
    ));

    let settings = ws::Settings {
        max_clients: config.ws.max_clients,
        panel_json: http::panel::panel_json(config.ws.screen_pop_url.as_deref().unwrap_or("")),
        ..ws::Settings::default()
    };
    let backend: Rc<dyn ws::Backend> = control.clone();
    #[allow(unused_mut)]
    let mut server = Server::new(
        settings,
        ws_users(&config).map_err(RunError::Users)?,
        hub.clone(),
        backend,
    );
    if let Some(tls) = &config.ws.tls {
        #[cfg(feature = "tls")]
        {
            server = server
                .with_tls(ws::Tls::from_pem_files(&tls.cert, &tls.key).map_err(RunError::Tls)?);
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = tls;
            return Err(RunError::NoTls);
        }
    }

    let http_refused = Rc::new(Cell::new(0u64));
    let health_fn: http::server::HealthFn = {
        let (session, tracker, server, hub, control, refused) = (
            session.clone(),
            tracker.clone(),
            server.clone(),
            hub.clone(),
            control.clone(),
            http_refused.clone(),
        );
        Rc::new(move || {
            let mut h = health(
                started,
                &session,
                &tracker.borrow(),
                &server,
                &hub,
                refused.get(),
            );
            h.dropped.commands_rate_limited = control.stats().rate_limited;
            h
        })
    };
    ex.spawn(http::server::serve(
        listeners.health,
        ex.clone(),
        health_fn,
        http_refused,
    ))
    .detach();
    let ws_task = {
        let (server, ex2) = (server.clone(), ex.clone());
        ex.spawn(async move { server.serve(listeners.ws, ex2).await })
    };

    let reloadable = Rc::new(Reloadable {
        running: config.clone(),
        server: server.clone(),
        control: control.clone(),
    });
    *reload.target.borrow_mut() = Rc::downgrade(&reloadable);

    let core = Rc::new(RefCell::new(Core {
        tracker,
        hub,
        control,
        protocol: config.calls.protocol.prefix(),
        events: Vec::new(),
        frame: String::new(),
    }));
    // Shared by the AMI source and, after a replay that does not loop, the
    // wait for the end: the bridge keeps serving until asked to stop.
    let stopped = Cell::new(false);
    // The clients are told to go while the session logs off.
    let mut shutdown = core::pin::pin!(async {
        shutdown.await;
        stopped.set(true);
        server.shutdown();
    });
    let result = match &config.replay {
        Some(r) => {
            let opts = PlaybackOptions {
                gap: r.gap,
                looping: r.looping,
                limits: config.ami.limits,
            };
            let source = PlaybackSource::File(r.file.clone());
            let played = ami::run_playback(source, opts, core, session, shutdown.as_mut()).await;
            if played.is_ok() && !stopped.get() {
                log::info!(
                    "replay: end of {}; still serving until stopped",
                    r.file.display()
                );
                shutdown.as_mut().await;
            }
            played.map_err(RunError::Playback)
        }
        None => {
            ami::run_session(session_options(&config), core, session, shutdown.as_mut()).await;
            Ok(())
        }
    };
    drop(ws_task);
    drop(reloadable);
    server.shutdown();
    let grace = Duration::from_millis(WS_SHUTDOWN_GRACE_MS);
    let closed = futures_lite::future::or(
        async {
            server.closed().await;
            true
        },
        async {
            async_io::Timer::after(grace).await;
            false
        },
    )
    .await;
    if !closed {
        log::info!(
            "WebSocket: {} clients did not answer the close within {} ms; dropped",
            server.stats().connected,
            WS_SHUTDOWN_GRACE_MS
        );
    }
    result
}

fn health(
    started: Instant,
    session: &SessionHandle,
    tracker: &Tracker,
    server: &Server,
    hub: &Hub,
    http_refused: u64,
) -> Health {
    let s = session.status();
    let t = tracker.stats();
    let w = server.stats();
    let h = hub.stats();
    Health {
        uptime_s: started.elapsed().as_secs(),
        source: match s.source {
            ami::Source::Playback => http::Source::Replay,
            _ => http::Source::Live,
        },
        ami: http::health::Ami {
            connected: s.connected,
            version: s.version.as_str().into(),
            reconnects: u64::from(s.reconnects),
            last_error: s.last_error.to_string(),
            connected_for_s: s
                .connected_since
                .filter(|_| s.connected)
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .map(|d| d.as_secs()),
            login_failures: u64::from(s.login_failures),
        },
        channels_used: t.channels_used,
        channels_capacity: t.channels_capacity,
        channels_refused: t.channels_refused,
        clients_connected: w.connected,
        clients_capacity: w.capacity,
        clients_closed_slow: w.closed_slow,
        clients_refused: w.refused,
        auth_failures: w.auth_failures,
        clients_handshake_timeouts: w.handshake_timeouts,
        clients_bad_frames: w.bad_frames,
        codec_packets: s.codec.packets,
        codec_skipped: s.codec.skipped,
        codec_malformed: s.codec.malformed_lines,
        events_published: h.published,
        http_refused,
        dropped: http::health::Dropped {
            bridges: t.bridges_refused,
            originate_hints: t.hints_dropped,
            events_too_large: h.dropped,
            ami_late_answers: s.late_answers,
            ami_list_items: s.list_items_dropped,
            commands_rate_limited: 0,
            queue_states: t.queue_states_dropped,
            ami_truncated_packets: s.truncated_packets,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_device_channels_only() {
        assert_eq!(line_of("PJSIP/", "PJSIP/1000-0000002a"), Some("1000"));
        assert_eq!(
            line_of("SIP/", "SIP/okon-ferry-00000012"),
            Some("okon-ferry")
        );
        assert_eq!(line_of("PJSIP/", "Local/1000@from-queue-00000001;1"), None);
        assert_eq!(line_of("SIP/", "PJSIP/1000-1"), None);
    }

    #[test]
    fn restart_keys_name_what_a_reload_leaves_alone() {
        let parse = |text: &str| {
            crate::config::parse(text.as_bytes(), Path::new("."))
                .unwrap()
                .0
        };
        let users = r#""users": [{ "line": "1000", "token": "a-token-of-16-chars-or-more" }]"#;
        let running = parse(&format!(
            r#"{{ "url": "pbx", "userName": "u", "secret": "x", {users} }}"#
        ));
        // Users differ, nothing else: nothing to restart for.
        let new = parse(r#"{ "url": "pbx", "userName": "u", "secret": "x", "users": [] }"#);
        assert!(restart_keys(&running, &new).is_empty());
        let new = parse(&format!(
            r#"{{ "url": "pbx2", "userName": "u", "secret": "y", "maxClients": 9, "protocol": "PJSIP/",
                 "logLevel": "debug", {users} }}"#
        ));
        assert_eq!(
            restart_keys(&running, &new),
            ["url", "secret", "protocol", "maxClients", "logLevel"]
        );
    }

    #[test]
    fn demo_config_maps_onto_session_and_tracker() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.json");
        let config = crate::config::load(&path).unwrap();
        let t = tracker_options(&config).unwrap();
        assert_eq!(t.protocol.as_str(), config.calls.protocol.prefix());
        assert_eq!(t.channel_capacity, config.calls.max_channels);
        assert!(ws_users(&config).unwrap().len() >= 3);
    }
}
