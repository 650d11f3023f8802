//! Raw values to [`Config`]: each value checked, defaults filled in, rules
//! across keys applied (TLS pair, tokens, what a live PBX needs).

use super::error::{ConfigError, KeyPath, Warning};
use super::raw::{Field, Raw, RawUser, Scalar};
use super::*;
use crate::limits::*;
use std::net::IpAddr;

/// The config of `{}`: every default.
pub(super) fn defaults() -> Config {
    Config {
        ami: AmiConfig {
            host: heapless::String::new(),
            port: 5038,
            user_name: heapless::String::new(),
            secret: Secret::default(),
            auth: AmiAuth::Md5,
            limits: Limits::default(),
            ping_interval: Duration::from_secs(20),
            action_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        },
        calls: CallsConfig {
            protocol: Protocol::Sip,
            queue_extension_format: QueueFormat::default(),
            ring_started_on_ringing_state: true,
            trace_queues_state: false,
            auto_pause_on_commutation_start: false,
            packet_info: heapless::Vec::new(),
            max_channels: CHANNELS,
        },
        actions: ActionsConfig {
            originate_context: fixed(DEFAULT_ORIGINATE_CONTEXT),
            parking_lot_context: fixed(DEFAULT_PARKING_LOT_CONTEXT),
            async_originate: true,
            originate_rate_per_minute: ORIGINATE_RATE_PER_MINUTE,
        },
        ws: WsConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 2013)),
            max_clients: WS_CLIENTS,
            client_queue: WS_CLIENT_QUEUE,
            tls: None,
            screen_pop_url: None,
        },
        health_listen: SocketAddr::from(([127, 0, 0, 1], 2080)),
        replay: None,
        users: Box::default(),
        log_level: log::LevelFilter::Info,
    }
}

/// Default replay pause between packets, in milliseconds.
const REPLAY_GAP_MS: u64 = 200;
/// Longest replay pause accepted, in milliseconds.
const REPLAY_GAP_MS_MAX: u64 = 60_000;

fn fixed<const N: usize>(s: &str) -> heapless::String<N> {
    heapless::String::try_from(s).expect("a default fits its capacity")
}

/// Checks everything and builds the config.
pub(super) fn build(raw: Raw, base: &Path) -> Result<(Config, Warnings), ConfigError> {
    let mut c = defaults();
    let mut warnings: Warnings = raw.warnings.clone();
    let get = |f: Field| raw.get(f);

    // Replay first: it decides what a live PBX would need. Its pacing keys
    // are checked even when nothing is replayed.
    let gap = match get(Field::ReplayGapMs) {
        Some(s) => number(s, 0, REPLAY_GAP_MS_MAX)?,
        None => REPLAY_GAP_MS,
    };
    let looping = flag(get(Field::ReplayLoop), false)?;
    if let Some(p) = path_value(get(Field::FilePath))? {
        c.replay = Some(ReplayConfig {
            file: resolve(base, p),
            gap: Duration::from_millis(gap),
            looping,
        });
    }
    let live = c.replay.is_none();

    // The AMI connection.
    if let Some(s) = get(Field::Url) {
        c.ami.host = host(s)?;
    }
    if live && c.ami.host.is_empty() {
        return Err(missing(
            "url",
            "give the PBX host name or address (or set filePath to replay a recording)",
        ));
    }
    if let Some(s) = get(Field::Port) {
        c.ami.port = port(s)?;
    }
    if let Some(s) = get(Field::UserName) {
        c.ami.user_name = text(s)?;
    }
    if live && c.ami.user_name.is_empty() {
        return Err(missing("userName", "give the AMI user from manager.conf"));
    }
    if let Some(s) = get(Field::Secret) {
        let v = string(s)?;
        no_controls(s, v)?;
        c.ami.secret = Secret::new(v).map_err(|()| too_long(s, SECRET_MAX))?;
    }
    if live && c.ami.secret.is_empty() {
        return Err(missing(
            "secret",
            "give the AMI user's secret from manager.conf",
        ));
    }
    if let Some(s) = get(Field::AmiAuth) {
        c.ami.auth = match string(s)?.trim().to_ascii_lowercase().as_str() {
            "md5" => AmiAuth::Md5,
            "plain" => AmiAuth::Plain,
            _ => {
                return Err(invalid(
                    s,
                    "use \"md5\" (challenge, the default) or \"plain\"",
                ))
            }
        };
    }
    if let Some(s) = get(Field::AmiBufferSize) {
        c.ami.limits.buffer = size(s, AMI_BUFFER_SIZE_MIN, AMI_BUFFER_SIZE_MAX)?;
    }
    if let Some(s) = get(Field::AmiMaxLine) {
        c.ami.limits.max_line = size(s, AMI_MAX_LINE_MIN, c.ami.limits.buffer)?;
    } else if c.ami.limits.max_line > c.ami.limits.buffer {
        c.ami.limits.max_line = c.ami.limits.buffer;
    }
    if let Some(s) = get(Field::AmiMaxFields) {
        c.ami.limits.max_fields = size(s, AMI_MAX_FIELDS_MIN, AMI_MAX_FIELDS_MAX)?;
    }
    if let Some(s) = get(Field::PingIntervalS) {
        c.ami.ping_interval = Duration::from_secs(number(s, 1, 3600)?);
    }
    if let Some(s) = get(Field::ActionTimeoutS) {
        c.ami.action_timeout = Duration::from_secs(number(s, 1, 300)?);
    }
    if let Some(s) = get(Field::ConnectTimeoutS) {
        c.ami.connect_timeout = Duration::from_secs(number(s, 1, 300)?);
    }

    // The call tracker.
    if let Some(s) = get(Field::Protocol) {
        c.calls.protocol = match string(s)?
            .trim()
            .trim_end_matches('/')
            .to_ascii_uppercase()
            .as_str()
        {
            "SIP" => Protocol::Sip,
            "PJSIP" => Protocol::Pjsip,
            _ => {
                return Err(invalid(
                    s,
                    "use \"SIP/\" (chan_sip) or \"PJSIP/\" (chan_pjsip)",
                ))
            }
        };
    }
    if let Some(s) = get(Field::QueueExtensionFormat) {
        let v = string(s)?;
        no_controls(s, v)?;
        c.calls.queue_extension_format = QueueFormat::parse(v).map_err(|fix| invalid(s, fix))?;
    }
    c.calls.ring_started_on_ringing_state = flag(get(Field::SendRingStartedOnRingingState), true)?;
    c.calls.trace_queues_state = flag(get(Field::TraceQueuesState), false)?;
    c.calls.auto_pause_on_commutation_start = flag(get(Field::AutoPauseOnCommutationStart), false)?;
    if let Some((key, list)) = &raw.packet_info {
        for (i, k) in list.iter().enumerate() {
            if k.chars()
                .any(|ch| ch == ':' || ch.is_whitespace() || ch.is_control())
            {
                let mut key = key.clone();
                key.push_index(i);
                return Err(ConfigError::Invalid {
                    key,
                    fix: "an AMI key has no ':' or spaces: write it as in the packet, e.g. \"CallerIDNum\"",
                });
            }
            if !c
                .calls
                .packet_info
                .iter()
                .any(|have| have.eq_ignore_ascii_case(k))
            {
                let _ = c.calls.packet_info.push(k.clone());
            }
        }
    }
    if let Some(s) = get(Field::MaxChannels) {
        c.calls.max_channels = size(s, CHANNELS_MIN, CHANNELS_MAX)?;
    }

    // Actions.
    if let Some(s) = get(Field::OriginateContext) {
        c.actions.originate_context = context(s)?;
    }
    if let Some(s) = get(Field::ParkingLotContext) {
        c.actions.parking_lot_context = context(s)?;
    }
    c.actions.async_originate = flag(get(Field::AsyncOriginate), true)?;
    if let Some(s) = get(Field::OriginateRatePerMinute) {
        c.actions.originate_rate_per_minute =
            number(s, 0, u64::from(ORIGINATE_RATE_PER_MINUTE_MAX))? as u32;
    }

    // Listeners.
    if let Some(s) = get(Field::WsListen) {
        c.ws.listen = listen(s)?;
    }
    if let Some(s) = get(Field::HealthListen) {
        c.health_listen = listen(s)?;
        if c.health_listen == c.ws.listen {
            return Err(invalid(s, "the same address as wsListen: use another port"));
        }
    } else if c.health_listen == c.ws.listen {
        return Err(ConfigError::Invalid {
            key: KeyPath::key("wsListen"),
            fix: "the same address as healthListen (127.0.0.1:2080): use another port",
        });
    }
    if let Some(s) = get(Field::MaxClients) {
        c.ws.max_clients = size(s, 1, WS_CLIENTS_MAX)?;
    }
    if let Some(s) = get(Field::ClientQueue) {
        c.ws.client_queue = size(s, WS_CLIENT_QUEUE_MIN, WS_CLIENT_QUEUE_MAX)?;
    }
    let cert = path_value(get(Field::TlsCert))?;
    let key = path_value(get(Field::TlsKey))?;
    c.ws.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsConfig {
            cert: resolve(base, cert),
            key: resolve(base, key),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(missing(
                "tlsKey",
                "tlsCert is set, so give the private key file too (or remove tlsCert)",
            ))
        }
        (None, Some(_)) => {
            return Err(missing(
                "tlsCert",
                "tlsKey is set, so give the certificate file too (or remove tlsKey)",
            ))
        }
    };
    if let Some(s) = get(Field::ScreenPopUrl) {
        let v = string(s)?;
        if !v.is_empty() {
            let lower = v.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(invalid(s, "must start with http:// or https://"));
            }
            if !v.contains("{number}") {
                return Err(invalid(
                    s,
                    "has no {number}: put {number} where the caller's number goes",
                ));
            }
            if v.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                return Err(invalid(s, "a URL has no spaces: write them as %20"));
            }
            c.ws.screen_pop_url = Some(text(s)?);
        }
    }

    if let Some(s) = get(Field::LogLevel) {
        c.log_level = match string(s)?.trim().to_ascii_lowercase().as_str() {
            "error" => log::LevelFilter::Error,
            "warn" => log::LevelFilter::Warn,
            "info" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            _ => return Err(invalid(s, "use error, warn, info, debug or trace")),
        };
    }

    // Users: each was checked when read; now the rules across them.
    if let Some(users) = raw.users {
        c.users = users;
    }
    let mut short: Option<(KeyPath, usize)> = None;
    for (i, u) in c.users.iter().enumerate() {
        if let Some(first) = c.users[..i]
            .iter()
            .position(|v| v.token.matches(u.token.expose()))
        {
            return Err(ConfigError::DuplicateToken {
                key: user_key(i, "token"),
                first,
            });
        }
        if u.token.expose().len() < TOKEN_MIN_LIVE {
            if live {
                return Err(ConfigError::WeakToken {
                    key: user_key(i, "token"),
                    min: TOKEN_MIN_LIVE,
                });
            }
            match &mut short {
                Some((_, count)) => *count += 1,
                None => short = Some((user_key(i, "token"), 1)),
            }
        }
    }
    if let Some((first, count)) = short {
        let _ = warnings.push(Warning::ShortTokens { first, count });
    }
    if c.users.is_empty() {
        let _ = warnings.push(Warning::NoUsers);
    }
    if live && c.ami.auth == AmiAuth::Plain && !is_local(&c.ami.host) {
        let _ = warnings.push(Warning::PlainAuthOverNetwork);
    }
    Ok((c, warnings))
}

/// Checks one user object (`path` is `users[i]`).
pub(super) fn user(raw: RawUser, path: &KeyPath) -> Result<User, ConfigError> {
    let sub = |k: &str| {
        let mut p = path.clone();
        p.push_key(k);
        p
    };
    let Some(line_s) = &raw.line else {
        return Err(ConfigError::Missing {
            key: sub("line"),
            fix: "give the user's extension number, e.g. \"1000\"",
        });
    };
    let line = string(line_s)?.trim();
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            line_s,
            "digits only, the extension number, e.g. \"1000\"",
        ));
    }
    let Some(token_s) = &raw.token else {
        return Err(ConfigError::Missing {
            key: sub("token"),
            fix: "give the user a long random token (e.g. `openssl rand -hex 16`)",
        });
    };
    let token = string(token_s)?;
    if token.is_empty() {
        return Err(invalid(
            token_s,
            "an empty token: give a long random one (e.g. `openssl rand -hex 16`)",
        ));
    }
    if token
        .as_bytes()
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"replace"))
    {
        return Err(invalid(
            token_s,
            "still the example's placeholder: put a long random token here \
             (e.g. `openssl rand -hex 16`)",
        ));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
    {
        return Err(invalid(
            token_s,
            "use only letters, digits and - _ . ~ (a token may travel in a URL)",
        ));
    }
    let name = match &raw.name {
        Some(s) => text(s)?,
        None => heapless::String::new(),
    };
    let mut u = User {
        name: if name.is_empty() { fixed(line) } else { name },
        line: fixed(line),
        token: Secret::new(token).map_err(|()| too_long(token_s, TOKEN_MAX))?,
        context: match &raw.context {
            Some(s) => Some(context(s)?),
            None => None,
        },
        debug: flag(raw.debug.as_ref(), false)?,
        dial_patterns: heapless::Vec::new(),
    };
    if let Some((key, list)) = &raw.dial_patterns {
        if list.is_empty() {
            return Err(ConfigError::Invalid {
                key: key.clone(),
                fix: "an empty list: remove dialPatterns to allow any number, \
                      or list the patterns allowed",
            });
        }
        for (i, p) in list.iter().enumerate() {
            let pattern = DialPattern::parse(p).map_err(|fix| {
                let mut key = key.clone();
                key.push_index(i);
                ConfigError::Invalid { key, fix }
            })?;
            let _ = u.dial_patterns.push(pattern);
        }
    }
    Ok(u)
}

fn user_key(i: usize, k: &str) -> KeyPath {
    let mut p = KeyPath::key("users");
    p.push_index(i);
    p.push_key(k);
    p
}

fn missing(key: &str, fix: &'static str) -> ConfigError {
    ConfigError::Missing {
        key: KeyPath::key(key),
        fix,
    }
}

fn invalid(s: &Scalar, fix: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key: s.key.clone(),
        fix,
    }
}

fn too_long(s: &Scalar, max: usize) -> ConfigError {
    ConfigError::TooLong {
        key: s.key.clone(),
        max,
    }
}

/// The text of a string value. Bare numbers are taken as text (`"line":
/// 1000`, `"secret": 1234`, as the .NET binder did); bare `true`/`false`
/// are refused.
fn string(s: &Scalar) -> Result<&str, ConfigError> {
    if s.bare && (s.text == "true" || s.text == "false") {
        return Err(ConfigError::WrongType {
            key: s.key.clone(),
            expected: "a string in double quotes",
        });
    }
    Ok(&s.text)
}

/// Rejects control characters (a line break in a value sent to AMI would
/// start a new header).
fn no_controls(s: &Scalar, v: &str) -> Result<(), ConfigError> {
    if v.chars().any(char::is_control) {
        return Err(invalid(
            s,
            "contains a line break or another control character: remove it",
        ));
    }
    Ok(())
}

/// A string without control characters, in a fixed-capacity string.
fn text<const N: usize>(s: &Scalar) -> Result<heapless::String<N>, ConfigError> {
    let v = string(s)?;
    no_controls(s, v)?;
    heapless::String::try_from(v).map_err(|_| too_long(s, N))
}

fn flag(s: Option<&Scalar>, default: bool) -> Result<bool, ConfigError> {
    let Some(s) = s else {
        return Ok(default);
    };
    let t = s.text.trim();
    if t.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ConfigError::WrongType {
            key: s.key.clone(),
            expected: "true or false (the strings \"true\" and \"false\" work too)",
        })
    }
}

/// A whole number in `min..=max`, bare or in a string.
fn number(s: &Scalar, min: u64, max: u64) -> Result<u64, ConfigError> {
    let t = s.text.trim();
    let range = || ConfigError::OutOfRange {
        key: s.key.clone(),
        min,
        max,
    };
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConfigError::WrongType {
            key: s.key.clone(),
            expected: "a whole number (a number in double quotes works too)",
        });
    }
    if t.starts_with('-') {
        return Err(range());
    }
    let n: u64 = t.parse().map_err(|_| range())?;
    if n < min || n > max {
        return Err(range());
    }
    Ok(n)
}

fn size(s: &Scalar, min: usize, max: usize) -> Result<usize, ConfigError> {
    number(s, min as u64, max as u64).map(|n| n as usize)
}

fn port(s: &Scalar) -> Result<u16, ConfigError> {
    number(s, 1, 65535).map(|n| n as u16)
}

/// `url`: a host name or address, without scheme, port or path.
fn host(s: &Scalar) -> Result<heapless::String<HOST_MAX>, ConfigError> {
    let v = string(s)?.trim();
    let v = v
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(v);
    if v.contains("://") || v.contains('/') {
        return Err(invalid(
            s,
            "give only the host name or address, e.g. \"192.168.1.10\" (no scheme or path; \
             the port goes in \"port\")",
        ));
    }
    if v.parse::<IpAddr>().is_err()
        && (v.contains(':')
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'))
    {
        return Err(invalid(
            s,
            "not a host name or address: give e.g. \"pbx.example.com\" or \"192.168.1.10\" \
             (the port goes in \"port\")",
        ));
    }
    heapless::String::try_from(v).map_err(|_| too_long(s, HOST_MAX))
}

/// A listening address, `host:port` with an IP address.
fn listen(s: &Scalar) -> Result<SocketAddr, ConfigError> {
    let v = string(s)?.trim();
    let addr: SocketAddr = v.parse().map_err(|_| {
        invalid(
            s,
            "write an IP address and a port, e.g. \"0.0.0.0:2013\" or \"[::]:2013\"",
        )
    })?;
    if addr.port() == 0 {
        return Err(ConfigError::OutOfRange {
            key: s.key.clone(),
            min: 1,
            max: 65535,
        });
    }
    Ok(addr)
}

/// A dialplan context name.
fn context(s: &Scalar) -> Result<heapless::String<CONTEXT_MAX>, ConfigError> {
    let v = string(s)?.trim();
    if v.is_empty() {
        return Err(invalid(
            s,
            "an empty context: give a dialplan context name, e.g. \"from-internal\"",
        ));
    }
    if v.chars()
        .any(|ch| ch.is_whitespace() || ch.is_control() || matches!(ch, ',' | '@' | '/' | '|'))
    {
        return Err(invalid(
            s,
            "a dialplan context name has no spaces, commas, '@', '/' or '|'",
        ));
    }
    heapless::String::try_from(v).map_err(|_| too_long(s, CONTEXT_MAX))
}

/// A path value; `None` when absent or empty.
fn path_value(s: Option<&Scalar>) -> Result<Option<&str>, ConfigError> {
    match s {
        None => Ok(None),
        Some(s) => {
            let v = string(s)?;
            no_controls(s, v)?;
            Ok((!v.is_empty()).then_some(v))
        }
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
