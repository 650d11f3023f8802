//! What each subcommand does, between the parsed command line and the library.

use crate::ami::Limits;
use crate::app::{self, Listeners};
use crate::cli::{CheckConfig, Command, Record, Replay, Run};
use crate::config::{self, Config};
use async_executor::LocalExecutor;
use async_signal::{Signal, Signals};
use futures_lite::StreamExt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

/// Runs one subcommand and returns the process exit status: 0 on success,
/// 1 on a runtime failure, 2 on bad input (a broken config, a missing file).
pub fn execute(command: Command) -> ExitCode {
    init_logging();
    match command {
        Command::Replay(r) => replay(&r),
        Command::Run(r) => run(&r),
        Command::CheckConfig(c) => check_config(&c),
        Command::Record(r) => record(&r),
    }
}

/// Logs to stderr: `RUST_LOG` when set, else `info` until the config's
/// `logLevel` is known.
fn init_logging() {
    let spec = std::env::var("RUST_LOG").ok();
    let _ = install_logger(spec.as_deref(), env_logger::Target::Stderr);
}

/// Installs the process's logger: `spec` as `RUST_LOG` reads it (`None`:
/// `info`), lines with a millisecond timestamp written to `target`.
///
/// Whatever `spec` says, the WebSocket library's `trace` lines are dropped:
/// they print whole frames, and a client's `auth` frame holds its token. No
/// line of ctibridge's own holds the AMI secret or a token at any level
/// (tests/bridge.rs checks a whole session at `trace`).
///
/// # Errors
/// When a logger is already installed.
pub fn install_logger(
    spec: Option<&str>,
    target: env_logger::Target,
) -> Result<(), log::SetLoggerError> {
    let mut b = env_logger::Builder::new();
    match spec {
        Some(spec) => b.parse_filters(spec),
        None => b.filter_level(log::LevelFilter::Info),
    };
    let inner = b.format_timestamp_millis().target(target).build();
    let max = inner.filter();
    log::set_boxed_logger(Box::new(NoFrames(inner)))?;
    log::set_max_level(max);
    Ok(())
}

/// Drops the `trace` lines of the WebSocket library (see [`install_logger`]).
struct NoFrames(env_logger::Logger);

impl NoFrames {
    fn passes(m: &log::Metadata<'_>) -> bool {
        let t = m.target();
        m.level() < log::Level::Trace
            || !(t.starts_with("tungstenite") || t.starts_with("async_tungstenite"))
    }
}

impl log::Log for NoFrames {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        NoFrames::passes(m) && self.0.enabled(m)
    }

    fn log(&self, r: &log::Record<'_>) {
        if NoFrames::passes(r.metadata()) {
            self.0.log(r);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

fn load(path: &str) -> Result<Config, ExitCode> {
    match config::load(Path::new(path)) {
        Ok(c) => {
            if std::env::var_os("RUST_LOG").is_none() {
                log::set_max_level(c.log_level);
            }
            Ok(c)
        }
        Err(e) => {
            eprintln!("ctibridge: {path}: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn check_config(c: &CheckConfig) -> ExitCode {
    match config::load_with_warnings(Path::new(&c.file)) {
        Ok((config, warnings)) => {
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            if let Err(e) = app::tracker_options(&config) {
                eprintln!("ctibridge: {}: {e}", c.file);
                return ExitCode::from(2);
            }
            println!("{}: ok: {}", c.file, config.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ctibridge: {}: {e}", c.file);
            ExitCode::from(2)
        }
    }
}

/// Completes at the first SIGTERM or SIGINT. SIGHUP is logged and ignored
/// (`record` has nothing to reload), so a stray HUP never kills it.
async fn stop_signal() {
    signals(None).await
}

/// Completes at the first SIGTERM or SIGINT. At SIGHUP, `reload` (when
/// given) reads its config file again and logs the outcome; the bridge runs
/// on either way.
async fn signals(reload: Option<(app::Reload, &Path)>) {
    let mut signals = match Signals::new([Signal::Term, Signal::Int, Signal::Hup]) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("cannot watch for SIGTERM/SIGINT/SIGHUP ({e}); stop with SIGKILL");
            return futures_lite::future::pending().await;
        }
    };
    while let Some(sig) = signals.next().await {
        match sig {
            Ok(Signal::Hup) => match &reload {
                Some((reload, path)) => {
                    log::info!("SIGHUP: reloading the users from {}", path.display());
                    // The outcome is logged by the reload itself.
                    let _ = reload.from_file(path);
                }
                None => log::info!("SIGHUP: nothing to reload; ignored"),
            },
            Ok(s) => {
                log::info!("{s:?}: stopping");
                return;
            }
            Err(e) => log::warn!("signal: {e}"),
        }
    }
}

fn bind(addr: SocketAddr, key: &str) -> Result<async_net::TcpListener, ExitCode> {
    let std = std::net::TcpListener::bind(addr).map_err(|e| {
        eprintln!("ctibridge: cannot listen on {addr} ({key}): {e}");
        ExitCode::from(1)
    })?;
    async_net::TcpListener::try_from(std).map_err(|e| {
        eprintln!("ctibridge: cannot use the socket on {addr} ({key}): {e}");
        ExitCode::from(1)
    })
}

/// The address a browser on this machine uses for a listen address.
fn local_url(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{host}:{}", addr.port())
}

fn run(r: &Run) -> ExitCode {
    let config = match load(&r.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let listeners = match (
        bind(config.ws.listen, "wsListen"),
        bind(config.health_listen, "healthListen"),
    ) {
        (Ok(ws), Ok(health)) => Listeners { ws, health },
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let scheme = if config.ws.tls.is_some() {
        "https"
    } else {
        "http"
    };
    log::info!(
        "ctibridge {}: {}",
        env!("CARGO_PKG_VERSION"),
        config.summary()
    );
    println!("panel:  {scheme}://{}/", local_url(config.ws.listen));
    println!("health: http://{}/health", local_url(config.health_listen));
    if let Some(replay) = &config.replay {
        println!("replaying {} (no PBX)", replay.file.display());
        // A replay config is a demo: its tokens open nothing on a PBX.
        for u in config.users.iter() {
            println!(
                "  sign in as line {} with token {}",
                u.line,
                u.token.expose()
            );
        }
    }
    let ex = Rc::new(LocalExecutor::new());
    let reload = app::Reload::new();
    let path = Path::new(&r.config);
    let result = futures_lite::future::block_on(ex.run(app::run_with_reload(
        ex.clone(),
        listeners,
        config,
        signals(Some((reload.clone(), path))),
        &reload,
    )));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ctibridge: {e}");
            ExitCode::from(1)
        }
    }
}

fn record(r: &Record) -> ExitCode {
    let config = match load(&r.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.replay.is_some() {
        eprintln!(
            "ctibridge: {}: filePath is set; record needs a live PBX (remove filePath)",
            r.config
        );
        return ExitCode::from(2);
    }
    let opts = app::session_options(&config);
    let duration = r.duration.map(Duration::from_secs);
    let fut = crate::ami::record::run_record(&opts, Path::new(&r.out), duration, stop_signal());
    match futures_lite::future::block_on(fut) {
        Ok(s) => {
            // The session calls any stop a shutdown; say which one it was.
            let why = match (s.ended.as_str(), r.duration) {
                ("shut down", Some(d)) => format!("stopped after {d} s or by a signal"),
                ("shut down", None) => "stopped by a signal".to_string(),
                (other, _) => other.to_string(),
            };
            eprintln!(
                "recorded {} bytes ({} packets) to {}: {why}",
                s.bytes, s.packets, r.out
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ctibridge: record: {e}");
            ExitCode::from(1)
        }
    }
}

fn replay(r: &Replay) -> ExitCode {
    let bytes = match std::fs::read(&r.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ctibridge: cannot read {}: {e}", r.file);
            return ExitCode::from(2);
        }
    };
    let config = match &r.config {
        Some(path) => match load(path) {
            Ok(c) => c,
            Err(code) => return code,
        },
        None => Config::default(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut warn = std::io::stderr();
    let result = if r.packets {
        let limits = if r.config.is_some() {
            config.ami.limits
        } else {
            Limits::default()
        };
        crate::packets::write_packets(&bytes, limits, &mut out, &mut warn).map(|_| ())
    } else {
        let opts = if r.config.is_some() {
            match app::tracker_options(&config) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("ctibridge: {e}");
                    return ExitCode::from(2);
                }
            }
        } else {
            let mut o = crate::calls::TrackerOptions::default();
            crate::calls::model::set_str(&mut o.protocol, guess_protocol(&bytes));
            o
        };
        // With users configured only their lines are printed; with none,
        // every line is (PROTOCOL.md).
        let lines: Vec<&str> = config.users.iter().map(|u| u.line.as_str()).collect();
        let filter = (!lines.is_empty()).then_some(lines.as_slice());
        crate::replay::run(&bytes, &opts, filter, &mut out, &mut warn).map(|_| ())
    }
    .and_then(|_| out.flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not the file's fault.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ctibridge: cannot write the output: {e}");
            ExitCode::from(1)
        }
    }
}

/// Without a config, the phones' channel driver is the one the recording's
/// channels use most: `PJSIP/` unless `SIP/` channels outnumber it.
fn guess_protocol(bytes: &[u8]) -> &'static str {
    let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| w == &needle).count();
    if count(b"Channel: SIP/") > count(b"Channel: PJSIP/") {
        "SIP/"
    } else {
        "PJSIP/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_is_guessed_from_the_channels() {
        assert_eq!(
            guess_protocol(b"Channel: PJSIP/1000-1\r\nDestChannel: SIP/x-1"),
            "PJSIP/"
        );
        assert_eq!(
            guess_protocol(b"Channel: SIP/9170-12-1\r\nChannel: SIP/9170-12-1"),
            "SIP/"
        );
        assert_eq!(guess_protocol(b""), "PJSIP/");
    }

    #[test]
    fn local_url_names_a_reachable_host() {
        assert_eq!(local_url("0.0.0.0:2013".parse().unwrap()), "127.0.0.1:2013");
        assert_eq!(local_url("[::1]:2080".parse().unwrap()), "[::1]:2080");
        assert_eq!(local_url("10.1.2.3:80".parse().unwrap()), "10.1.2.3:80");
    }
}
