//! `ctibridge record`: log in to a live Asterisk and write the raw bytes it
//! sends to a file, for support cases and new test recordings.
//!
//! The file holds exactly what Asterisk sent, from the banner to the
//! `Goodbye` of our `Logoff` (like the captures in `tests/recordings`): no
//! resync is asked for, keepalive `Ping`s are (their answers are responses,
//! which playback skips). The secret never appears in the file or the log:
//! with MD5 login it never crosses the network, and should the server ever
//! send it back, every occurrence is replaced by `*` and a warning is logged.

use super::action::bounded;
use super::codec::Decoder;
use super::message::Packet;
use super::session::{self, AmiSink, SessionChange, SessionHandle, SessionOptions, Stop};
use async_io::Timer;
use core::fmt;
use core::future::Future;
use futures_lite::future::{self, FutureExt};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    /// Bytes written.
    pub bytes: u64,
    /// Packets decoded from them.
    pub packets: u64,
    /// Why the recording ended (`shut down` when the duration elapsed).
    pub ended: String,
    /// Occurrences of the secret replaced by `*`.
    pub secret_redactions: u32,
}

/// Why a recording failed.
#[derive(Debug)]
pub enum RecordError {
    /// The output file could not be created.
    Create {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        error: io::Error,
    },
    /// No connection, or no login: nothing useful was recorded.
    NotLoggedIn(String),
    /// Writing the output failed.
    Write(io::Error),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Create { path, error } => {
                write!(f, "cannot create {}: {error}", path.display())
            }
            RecordError::NotLoggedIn(why) => write!(f, "nothing recorded: {why}"),
            RecordError::Write(e) => write!(f, "cannot write the recording: {e}"),
        }
    }
}

impl std::error::Error for RecordError {}

/// Replaces every occurrence of the secret in a byte stream cut anywhere,
/// holding back only as many bytes as could start an occurrence.
pub struct Redactor {
    secret: Vec<u8>,
    carry: Vec<u8>,
    count: u32,
}

impl Redactor {
    /// A redactor for `secret` (an empty secret redacts nothing).
    pub fn new(secret: &str) -> Redactor {
        Redactor {
            secret: secret.as_bytes().to_vec(),
            carry: Vec::new(),
            count: 0,
        }
    }

    /// Occurrences replaced so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Takes `data`, writes what is certainly not the start of an
    /// occurrence.
    ///
    /// # Errors
    /// The writer's error.
    pub fn push(&mut self, data: &[u8], out: &mut impl Write) -> io::Result<()> {
        if self.secret.is_empty() {
            return out.write_all(data);
        }
        self.carry.extend_from_slice(data);
        let mut from = 0;
        while let Some(i) = memchr::memmem::find(&self.carry[from..], &self.secret) {
            let at = from + i;
            self.carry[at..at + self.secret.len()].fill(b'*');
            self.count += 1;
            from = at + self.secret.len();
        }
        let keep = (self.secret.len() - 1).min(self.carry.len());
        let ready = self.carry.len() - keep;
        out.write_all(&self.carry[..ready])?;
        self.carry.drain(..ready);
        Ok(())
    }

    /// Writes what is held back.
    ///
    /// # Errors
    /// The writer's error.
    pub fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(&self.carry)?;
        self.carry.clear();
        Ok(())
    }
}

struct LoginWatch {
    logged_in: bool,
}

impl AmiSink for LoginWatch {
    fn packet(&mut self, _: &Packet<'_>) {}
    fn session(&mut self, change: SessionChange<'_>) {
        if let SessionChange::Connected { .. } = change {
            self.logged_in = true;
        }
    }
}

/// Records into `out` until `duration` elapses (then `Logoff`, and the
/// `Goodbye` is recorded too), `shutdown` completes, or Asterisk closes.
/// One connection, no reconnect.
///
/// # Errors
/// [`RecordError::NotLoggedIn`] if the connection or login failed,
/// [`RecordError::Write`] if `out` failed.
pub async fn record_to<W: Write>(
    opts: &SessionOptions,
    out: &mut W,
    duration: Option<Duration>,
    shutdown: impl Future<Output = ()>,
) -> Result<RecordSummary, RecordError> {
    let handle = SessionHandle::new();
    handle.configure(opts, false);
    let stop_fut = shutdown.or(async {
        match duration {
            Some(d) => {
                Timer::after(d).await;
            }
            None => future::pending::<()>().await,
        }
    });
    let mut stop_fut = core::pin::pin!(stop_fut);
    let mut stop = Stop::new(stop_fut.as_mut());
    let stream = match stop.or(session::connect(opts)).await {
        None => return Err(RecordError::NotLoggedIn("stopped before connecting".into())),
        Some(Err(e)) => return Err(RecordError::NotLoggedIn(e.to_string())),
        Some(Ok(s)) => s,
    };
    log::info!(
        "recording the Asterisk manager at {}:{} as '{}'",
        opts.host,
        opts.port,
        opts.user
    );
    let mut dec = Decoder::new(opts.limits);
    handle.connection_started(Instant::now());
    let mut redactor = Redactor::new(opts.secret.expose());
    let mut bytes = 0u64;
    let mut write_error: Option<io::Error> = None;
    let mut tap = |data: &[u8]| -> io::Result<()> {
        bytes += data.len() as u64;
        redactor.push(data, out).inspect_err(|e| {
            write_error = Some(io::Error::new(e.kind(), e.to_string()));
        })
    };
    let mut watch = LoginWatch { logged_in: false };
    let end = session::drive(
        &stream,
        &handle,
        &mut dec,
        &mut watch,
        Some(&mut tap),
        &mut stop,
    )
    .await;
    session::finish_connection(&handle, &end, &mut watch);
    if let Some(e) = write_error {
        return Err(RecordError::Write(e));
    }
    redactor.finish(out).map_err(RecordError::Write)?;
    out.flush().map_err(RecordError::Write)?;
    if redactor.count() > 0 {
        log::warn!(
            "the AMI secret occurred {} time(s) in what the server sent; replaced by '*' in the \
             recording (a short secret can occur by chance: choose a longer one)",
            redactor.count()
        );
    }
    if !watch.logged_in {
        return Err(RecordError::NotLoggedIn(end.to_string()));
    }
    let packets = dec.stats().packets;
    log::info!("recorded {bytes} bytes, {packets} packets ({end})");
    Ok(RecordSummary {
        bytes,
        packets,
        ended: bounded::<200>(&end.to_string()).to_string(),
        secret_redactions: redactor.count(),
    })
}

/// `ctibridge record`: records into the file `path` (created or truncated).
///
/// # Errors
/// As [`record_to`], plus [`RecordError::Create`].
pub async fn run_record(
    opts: &SessionOptions,
    path: &Path,
    duration: Option<Duration>,
    shutdown: impl Future<Output = ()>,
) -> Result<RecordSummary, RecordError> {
    let file = std::fs::File::create(path).map_err(|error| RecordError::Create {
        path: path.to_owned(),
        error,
    })?;
    let mut out = io::BufWriter::new(file);
    record_to(opts, &mut out, duration, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_in_chunks(secret: &str, input: &[u8], chunk: usize) -> (Vec<u8>, u32) {
        let mut r = Redactor::new(secret);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            r.push(c, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        (out, r.count())
    }

    #[test]
    fn stream_without_the_secret_is_unchanged_whatever_the_chunking() {
        let input = b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n";
        for chunk in 1..input.len() {
            assert_eq!(
                redact_in_chunks("topsecret", input, chunk),
                (input.to_vec(), 0)
            );
        }
    }

    #[test]
    fn secret_split_across_chunks_is_replaced() {
        let input = b"Event: X\r\nEcho: topsecret and topsecret\r\n\r\n";
        let want = b"Event: X\r\nEcho: ********* and *********\r\n\r\n";
        for chunk in 1..input.len() {
            assert_eq!(
                redact_in_chunks("topsecret", input, chunk),
                (want.to_vec(), 2),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn empty_secret_redacts_nothing() {
        assert_eq!(redact_in_chunks("", b"abc", 1), (b"abc".to_vec(), 0));
    }
}
