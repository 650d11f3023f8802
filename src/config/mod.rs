//! The config file: one JSON object read into fixed-capacity structs, checked
//! key by key, with messages that name the key and the fix.
//!
//! It accepts the settings of the old .NET messaging service unchanged
//! (`url`, `port`, `userName`, `secret`, ... at the top level or under an
//! `"asterisk"` object; booleans and numbers also as strings; keys in any
//! case) plus ctibridge's own keys (`wsListen`, `users`, ...). Every key,
//! its type, default and limit is in `docs/config.md`.
//!
//! Reading goes in three steps, each a plain function:
//! 1. `text`: the bytes are checked as JSON with `//` comments (a syntax
//!    error gives line and column) and prepared for serde-json-core;
//! 2. `raw`: serde-json-core reads them into bounded raw values, refusing
//!    unknown and duplicate keys, wrong shapes and over-long strings;
//! 3. `build`: each value is checked and turned into [`Config`].
//!
//! [`load`] adds the file system: the size limit, files named by the config,
//! and a warning when the file is readable by others.

mod build;
mod dial;
mod error;
mod raw;
mod text;

pub use dial::{DialPattern, DIAL_PATTERN_MAX};
pub use error::{ConfigError, KeyPath, Warning};

use crate::ami::Limits;
use crate::limits;
use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Longest `url` (a DNS name is at most 253 characters).
pub const HOST_MAX: usize = 253;
/// Longest `userName`.
pub const USER_NAME_MAX: usize = 64;
/// Longest `secret`.
pub const SECRET_MAX: usize = 128;
/// Longest dialplan context name (`originateContext`, `parkingLotContext`,
/// a user's `context`); Asterisk keeps 79 characters.
pub const CONTEXT_MAX: usize = 79;
/// Longest `queueExtensionFormat`.
pub const QUEUE_FORMAT_MAX: usize = 96;
/// Longest AMI key in `packetInfoConfig`.
pub const PACKET_INFO_KEY_MAX: usize = crate::limits::INFO_KEY_MAX;
/// Longest `screenPopUrl`.
pub const SCREEN_POP_URL_MAX: usize = 256;
/// Longest path (`filePath`, `tlsCert`, `tlsKey`) as written in the config.
pub const PATH_MAX: usize = 255;
/// Longest user `name`.
pub const NAME_MAX: usize = 48;
/// Longest `line` (an extension number).
pub const LINE_MAX: usize = 24;
/// Longest `token`.
pub const TOKEN_MAX: usize = 128;
/// Shortest `token` accepted when the config talks to a live PBX; shorter
/// ones are accepted, with a warning, only when replaying a file.
pub const TOKEN_MIN_LIVE: usize = 16;
/// Most warnings kept by one load; more are dropped (the first ones are the
/// ones to fix first).
pub const MAX_WARNINGS: usize = 16;

/// The warnings of one load, in file order.
pub type Warnings = heapless::Vec<Warning, MAX_WARNINGS>;

/// The users of one config, at most [`limits::MAX_USERS`].
pub type Users = heapless::Vec<User, { limits::MAX_USERS }>;

/// A value that must never be printed: the AMI secret, user tokens.
/// `Debug` shows `***`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<const N: usize>(heapless::String<N>);

impl<const N: usize> Secret<N> {
    /// Wraps a value (as `Err(())` when longer than `N` bytes).
    #[allow(clippy::result_unit_err)]
    pub fn new(value: &str) -> Result<Self, ()> {
        heapless::String::try_from(value).map(Secret)
    }

    /// The value itself, for the AMI login or a comparison.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares with `candidate` in time that depends only on the lengths.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl<const N: usize> fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the bridge logs in to AMI (`amiAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmiAuth {
    /// `Challenge` then `Login` with `Key: md5(challenge + secret)`: the
    /// secret never crosses the network.
    #[default]
    Md5,
    /// `Login` with `Secret:` in clear text.
    Plain,
}

/// The SIP channel driver whose channels are the users' phones (`protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// chan_sip: channels `SIP/1000-00000001`.
    #[default]
    Sip,
    /// chan_pjsip: channels `PJSIP/1000-00000001`.
    Pjsip,
}

impl Protocol {
    /// The channel name prefix with its slash, as the old service wrote it:
    /// `"SIP/"` or `"PJSIP/"`.
    pub fn prefix(self) -> &'static str {
        match self {
            Protocol::Sip => "SIP/",
            Protocol::Pjsip => "PJSIP/",
        }
    }

    /// The line of a device channel of this protocol: `PJSIP/1000-0000002a`
    /// gives `1000`. The prefix is matched without regard to case. `None` for
    /// other channels (Local, the other driver, no `-<seq>` suffix).
    pub fn line_of(self, channel: &str) -> Option<&str> {
        let p = self.prefix();
        let head = channel.get(..p.len())?;
        if !head.eq_ignore_ascii_case(p) {
            return None;
        }
        let rest = &channel[p.len()..];
        let dash = rest.rfind('-')?;
        let line = &rest[..dash];
        (!line.is_empty()).then_some(line)
    }
}

/// `queueExtensionFormat`: how a line appears as a queue member interface,
/// e.g. `Local/{0}@from-queue/n` (`{line}` is accepted for `{0}`).
#[derive(Clone, PartialEq, Eq)]
pub struct QueueFormat {
    text: heapless::String<QUEUE_FORMAT_MAX>,
    /// Byte offset and length of the placeholder in `text`.
    at: usize,
    len: usize,
}

impl QueueFormat {
    /// Checks a format: exactly one `{0}` or `{line}`, no other braces.
    pub fn parse(text: &str) -> Result<QueueFormat, &'static str> {
        const FIX: &str = "needs exactly one {0} (or {line}) where the line number goes, \
                           e.g. \"Local/{0}@from-queue/n\"";
        let stored = heapless::String::try_from(text).map_err(|_| FIX)?;
        let mut found = None;
        let mut rest = 0;
        while let Some(open) = text[rest..].find('{').map(|p| p + rest) {
            let len = if text[open..].starts_with("{0}") {
                3
            } else if text[open..].starts_with("{line}") {
                6
            } else {
                return Err(FIX);
            };
            if found.is_some() {
                return Err(FIX);
            }
            found = Some((open, len));
            rest = open + len;
        }
        let Some((at, len)) = found else {
            return Err(FIX);
        };
        if text[..at].contains('}') || text[at + len..].contains('}') {
            return Err(FIX);
        }
        Ok(QueueFormat {
            text: stored,
            at,
            len,
        })
    }

    /// The format as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The queue member interface of `line`: `Local/1000@from-queue/n`.
    pub fn interface(&self, line: &str) -> heapless::String<{ QUEUE_FORMAT_MAX + LINE_MAX }> {
        let mut s = heapless::String::new();
        let _ = s.push_str(&self.text[..self.at]);
        let _ = s.push_str(&line[..line.len().min(LINE_MAX)]);
        let _ = s.push_str(&self.text[self.at + self.len..]);
        s
    }

    /// The line of a queue member interface, or `None` when `interface` does
    /// not follow the format. Fixed parts are compared without regard to case.
    pub fn line_of<'a>(&self, interface: &'a str) -> Option<&'a str> {
        let (pre, post) = (&self.text[..self.at], &self.text[self.at + self.len..]);
        if interface.len() <= pre.len() + post.len() {
            return None;
        }
        let head = interface.get(..pre.len())?;
        let tail = interface.get(interface.len() - post.len()..)?;
        if !head.eq_ignore_ascii_case(pre) || !tail.eq_ignore_ascii_case(post) {
            return None;
        }
        interface.get(pre.len()..interface.len() - post.len())
    }
}

impl fmt::Debug for QueueFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text.as_str())
    }
}

impl Default for QueueFormat {
    fn default() -> Self {
        QueueFormat::parse(DEFAULT_QUEUE_FORMAT).expect("the default queue format is valid")
    }
}

/// Default `queueExtensionFormat`, FreePBX's queue member interface.
pub const DEFAULT_QUEUE_FORMAT: &str = "Local/{0}@from-queue/n";
/// Default `originateContext` (FreePBX's internal context).
pub const DEFAULT_ORIGINATE_CONTEXT: &str = "from-internal";
/// Default `parkingLotContext` (Asterisk's default parking lot context).
pub const DEFAULT_PARKING_LOT_CONTEXT: &str = "parkedcalls";

/// The AMI connection: where, who, how, and the codec limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiConfig {
    /// PBX host name or address (`url`). Empty when the config replays a
    /// file.
    pub host: heapless::String<HOST_MAX>,
    /// AMI TCP port (`port`).
    pub port: u16,
    /// AMI user (`userName`).
    pub user_name: heapless::String<USER_NAME_MAX>,
    /// AMI password (`secret`).
    pub secret: Secret<SECRET_MAX>,
    /// Login method (`amiAuth`).
    pub auth: AmiAuth,
    /// Codec limits (`amiBufferSize`, `amiMaxLine`, `amiMaxFields`).
    pub limits: Limits,
    /// Keep-alive `Ping` interval (`pingIntervalS`).
    pub ping_interval: Duration,
    /// How long an action may wait for its response (`actionTimeoutS`).
    pub action_timeout: Duration,
    /// How long a TCP connect and login may take (`connectTimeoutS`).
    pub connect_timeout: Duration,
}

/// What the call tracker needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallsConfig {
    /// Channel driver of the users' phones (`protocol`).
    pub protocol: Protocol,
    /// Queue member interface of a line (`queueExtensionFormat`).
    pub queue_extension_format: QueueFormat,
    /// Send `RingStarted` at `Newstate` Ringing too, not only at `DialBegin`
    /// (`sendRingStartedOnRingingState`).
    pub ring_started_on_ringing_state: bool,
    /// Follow queue member state and send `QueueState` (`traceQueuesState`).
    pub trace_queues_state: bool,
    /// Pause the line in its queues while it talks
    /// (`autoPauseOnCommutationStart`).
    pub auto_pause_on_commutation_start: bool,
    /// AMI keys copied into every event of a call as `info`
    /// (`packetInfoConfig`), in config order, without duplicates.
    pub packet_info:
        heapless::Vec<heapless::String<PACKET_INFO_KEY_MAX>, { limits::MAX_PACKET_INFO_KEYS }>,
    /// Capacity of the channel table (`maxChannels`).
    pub max_channels: usize,
}

/// What the AMI actions behind client commands need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsConfig {
    /// Dialplan context of `call` (`originateContext`); a user's `context`
    /// overrides it, see [`User::originate_context`].
    pub originate_context: heapless::String<CONTEXT_MAX>,
    /// Context of the parking lot used by `hold` (`parkingLotContext`).
    pub parking_lot_context: heapless::String<CONTEXT_MAX>,
    /// Originate with `Async: true` (`asyncOriginate`).
    pub async_originate: bool,
    /// Calls one user may start per minute; 0 turns `call` off
    /// (`originateRatePerMinute`).
    pub originate_rate_per_minute: u32,
}

/// The WebSocket server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// Listening address (`wsListen`).
    pub listen: SocketAddr,
    /// Most clients at once (`maxClients`).
    pub max_clients: usize,
    /// Events queued per client (`clientQueue`).
    pub client_queue: usize,
    /// TLS (`tlsCert` and `tlsKey`): `wss://` when set.
    pub tls: Option<TlsConfig>,
    /// Screen-pop URL template with `{number}` (`screenPopUrl`).
    pub screen_pop_url: Option<heapless::String<SCREEN_POP_URL_MAX>>,
}

impl WsConfig {
    /// The screen-pop URL for `number`, with the number percent-encoded
    /// (only letters, digits and `-._~` are left as they are).
    pub fn screen_pop_for(&self, number: &str) -> Option<String> {
        let template = self.screen_pop_url.as_deref()?;
        let mut encoded = String::with_capacity(number.len() * 3);
        for b in number.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                encoded.push(b as char);
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        Some(template.replace("{number}", &encoded))
    }
}

/// Certificate and key files for `wss://`, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain (`tlsCert`), resolved against the config's folder.
    pub cert: PathBuf,
    /// Private key (`tlsKey`), resolved against the config's folder.
    pub key: PathBuf,
}

/// Replaying a recording instead of connecting to a PBX (`filePath` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayConfig {
    /// The recording (`filePath`), resolved against the config's folder.
    pub file: PathBuf,
    /// Pause between two packets (`replayGapMs`).
    pub gap: Duration,
    /// Start again at the end (`replayLoop`).
    pub looping: bool,
}

/// One person (or CRM connector) who may sign in: a token for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Display name (`name`); the line when not given.
    pub name: heapless::String<NAME_MAX>,
    /// The user's phone line, digits only (`line`).
    pub line: heapless::String<LINE_MAX>,
    /// What the client sends to sign in (`token`).
    pub token: Secret<TOKEN_MAX>,
    /// Dialplan context for this user's `call`, instead of
    /// `originateContext` (`context`).
    pub context: Option<heapless::String<CONTEXT_MAX>>,
    /// Send `Raw` AMI packets to this user's clients when they ask
    /// (`debug`).
    pub debug: bool,
    /// Numbers this user may call (`dialPatterns`); empty: any number.
    pub dial_patterns: heapless::Vec<DialPattern, { limits::MAX_DIAL_PATTERNS }>,
}

impl User {
    /// Whether this user may call `number`: any non-empty number when the
    /// user has no `dialPatterns`, otherwise one that matches a pattern.
    pub fn allows(&self, number: &str) -> bool {
        !number.is_empty()
            && (self.dial_patterns.is_empty()
                || self.dial_patterns.iter().any(|p| p.matches(number)))
    }

    /// The context this user's calls start in: the user's own `context`, or
    /// the global `originateContext`.
    pub fn originate_context<'a>(&'a self, actions: &'a ActionsConfig) -> &'a str {
        self.context
            .as_deref()
            .unwrap_or(&actions.originate_context)
    }
}

/// Everything the bridge reads from its config file. Build it with [`load`]
/// (or [`parse`] for text in memory); `Default` is the config of an empty
/// object `{}`, which is valid only for replay.
///
/// `Debug` never shows the secret or the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The AMI connection.
    pub ami: AmiConfig,
    /// The call tracker.
    pub calls: CallsConfig,
    /// Client commands turned into AMI actions.
    pub actions: ActionsConfig,
    /// The WebSocket server.
    pub ws: WsConfig,
    /// The health and metrics endpoint (`healthListen`).
    pub health_listen: SocketAddr,
    /// `Some` when the config replays a file instead of logging in to a PBX.
    pub replay: Option<ReplayConfig>,
    /// Who may sign in. Boxed: the table has a fixed capacity of
    /// [`limits::MAX_USERS`].
    pub users: Box<Users>,
    /// Log level (`logLevel`).
    pub log_level: log::LevelFilter,
}

impl Default for Config {
    fn default() -> Self {
        build::defaults()
    }
}

impl Config {
    /// The user signing in with `token`, comparing every token in time that
    /// does not depend on where they differ.
    pub fn user_by_token(&self, token: &str) -> Option<&User> {
        let mut found = None;
        for u in self.users.iter() {
            if u.token.matches(token) && found.is_none() {
                found = Some(u);
            }
        }
        found
    }

    /// A one-line description for `check-config` and the start-up log, e.g.
    /// `PBX 10.0.0.5:5038 as crm (md5, PJSIP/), 3 users, ws 0.0.0.0:2013,
    /// health 127.0.0.1:2080`. Never shows the secret or tokens.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

/// See [`Config::summary`].
pub struct Summary<'a>(&'a Config);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        match &c.replay {
            Some(r) => write!(
                f,
                "replay {} ({} ms between packets{})",
                r.file.display(),
                r.gap.as_millis(),
                if r.looping { ", looping" } else { "" }
            )?,
            None => {
                let host = c.ami.host.as_str();
                if host.contains(':') {
                    write!(f, "PBX [{host}]:{}", c.ami.port)?;
                } else {
                    write!(f, "PBX {host}:{}", c.ami.port)?;
                }
                write!(
                    f,
                    " as {} ({})",
                    c.ami.user_name,
                    match c.ami.auth {
                        AmiAuth::Md5 => "md5",
                        AmiAuth::Plain => "plain",
                    }
                )?;
            }
        }
        write!(
            f,
            ", {}, {} user{}, {} {}, health {}",
            c.calls.protocol.prefix(),
            c.users.len(),
            if c.users.len() == 1 { "" } else { "s" },
            if c.ws.tls.is_some() { "wss" } else { "ws" },
            c.ws.listen,
            c.health_listen
        )
    }
}

/// Reads and checks the config file at `path`, logs each warning with
/// `log::warn!`, and returns the config. See [`load_with_warnings`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let (config, warnings) = load_with_warnings(path)?;
    for w in &warnings {
        log::warn!("config: {w}");
    }
    Ok(config)
}

/// Reads and checks the config file at `path` and returns the config with
/// its warnings (for `check-config`, which prints them itself).
///
/// Refuses a file larger than [`limits::CONFIG_MAX_BYTES`] before reading
/// it. Relative paths in the config (`filePath`, `tlsCert`, `tlsKey`) are
/// taken from the config file's folder, and the files they name must exist.
/// Warns when the file is readable by every local user and holds the AMI
/// secret.
pub fn load_with_warnings(path: &Path) -> Result<(Config, Warnings), ConfigError> {
    let read_err = |error| ConfigError::Read {
        path: path.display().to_string(),
        error,
    };
    let bytes = read_bounded(path).map_err(read_err)?;
    let bytes = match bytes {
        Ok(b) => b,
        Err(size) => return Err(ConfigError::TooLarge { size }),
    };
    let base = path.parent().unwrap_or(Path::new(""));
    let (config, mut warnings) = parse(&bytes, base)?;
    check_files(&config)?;
    if let Ok(meta) = std::fs::metadata(path) {
        if readable_by_others(&meta) && !config.ami.secret.is_empty() {
            // Put it first: it is about the file, before any key.
            let w = Warning::ReadableByOthers {
                path: path.to_path_buf(),
            };
            if warnings.is_full() {
                warnings.pop();
            }
            let _ = warnings.insert(0, w);
        }
    }
    Ok((config, warnings))
}

/// Reads at most [`limits::CONFIG_MAX_BYTES`]; `Ok(Err(size))` when the file
/// is larger.
fn read_bounded(path: &Path) -> std::io::Result<Result<Vec<u8>, u64>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let max = limits::CONFIG_MAX_BYTES as u64;
    if let Ok(meta) = file.metadata() {
        if meta.is_dir() {
            return Err(std::io::Error::other("it is a directory"));
        }
        if meta.len() > max {
            return Ok(Err(meta.len()));
        }
    }
    let mut bytes = Vec::new();
    let n = file.take(max + 1).read_to_end(&mut bytes)? as u64;
    if n > max {
        return Ok(Err(n));
    }
    Ok(Ok(bytes))
}

fn check_files(c: &Config) -> Result<(), ConfigError> {
    let mut files: heapless::Vec<(&str, &Path), 3> = heapless::Vec::new();
    if let Some(r) = &c.replay {
        let _ = files.push(("filePath", &r.file));
    }
    if let Some(t) = &c.ws.tls {
        let _ = files.push(("tlsCert", &t.cert));
        let _ = files.push(("tlsKey", &t.key));
    }
    for (key, path) in files {
        if !path.is_file() {
            return Err(ConfigError::MissingFile {
                key: KeyPath::key(key),
                path: path.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Whether every local user may read the file (`mode & 0o004`). Always false
/// where there are no Unix permissions.
pub fn readable_by_others(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o004 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// Every top-level key, spelt as in the docs (matching ignores case). The
/// old service's keys come first; they may also sit under `"asterisk"`.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    raw::KEYS.iter().map(|&(k, _)| k)
}

/// Every key of a user object in `users`.
pub fn known_user_keys() -> impl Iterator<Item = &'static str> {
    raw::USER_KEYS.iter().map(|&(k, _)| k)
}

/// Checks config text already in memory. `base` is the folder relative
/// paths are taken from; no file is opened.
pub fn parse(text: &[u8], base: &Path) -> Result<(Config, Warnings), ConfigError> {
    if text.len() > limits::CONFIG_MAX_BYTES {
        return Err(ConfigError::TooLarge {
            size: text.len() as u64,
        });
    }
    let prepared = text::prepare(text)?;
    let raw = raw::read(&prepared)?;
    build::build(raw, base)
}

#[cfg(test)]
mod tests;
