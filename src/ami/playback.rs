//! The replay source: a recorded AMI stream fed to the same sink as a live
//! session, at a steady pace, optionally looping, so panels can be shown and
//! problems reproduced without a PBX.
//!
//! Each pass over the recording looks like one live connection to the sink:
//! `Connected { version }` (the recording's banner version, or `recording`),
//! `ResyncStarted`, `ResyncFinished { channels: 0, error: None }` (nothing
//! exists before the recording starts, so calls left over from the previous
//! pass end), then every event with a fixed gap between events, then
//! `Disconnected { reason: "end of recording" }`. Client `Action:` packets
//! and `Response:` packets are skipped, as a live session never passes
//! responses on; a last packet without its blank line is accepted.

use super::action::bounded;
use super::codec::{Decoder, Item, Limits};
use super::message::Kind;
use super::session::{AmiSink, SessionChange, SessionHandle, Source, Stop};
use async_io::Timer;
use core::fmt;
use core::future::Future;
use std::io::{self, Read};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// Where the recording comes from.
#[derive(Debug, Clone)]
pub enum PlaybackSource {
    /// A file (`filePath`), read as it plays; reopened for each pass.
    File(PathBuf),
    /// Bytes in memory (tests, an embedded demo).
    Bytes(Rc<[u8]>),
}

/// How to play.
#[derive(Debug, Clone, Copy)]
pub struct PlaybackOptions {
    /// Time between two events (default 200 ms).
    pub gap: Duration,
    /// Start again at the end.
    pub looping: bool,
    /// Codec limits.
    pub limits: Limits,
}

impl Default for PlaybackOptions {
    fn default() -> Self {
        PlaybackOptions {
            gap: Duration::from_millis(200),
            looping: false,
            limits: Limits::default(),
        }
    }
}

/// Why a playback stopped early.
#[derive(Debug)]
pub enum PlaybackError {
    /// The file could not be opened.
    Open {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        error: io::Error,
    },
    /// Reading the file failed.
    Read(io::Error),
}

impl fmt::Display for PlaybackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaybackError::Open { path, error } => {
                write!(f, "cannot open the recording {}: {error}", path.display())
            }
            PlaybackError::Read(e) => write!(f, "cannot read the recording: {e}"),
        }
    }
}

impl std::error::Error for PlaybackError {}

/// Paces deliveries: at most one every `gap`. Pure.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    gap: Duration,
    next: Option<Instant>,
}

impl Pacer {
    /// A pacer with `gap` between deliveries; the first is due at once.
    pub fn new(gap: Duration) -> Pacer {
        Pacer { gap, next: None }
    }

    /// When the next delivery may happen (`None`: now).
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// Records a delivery at `now`.
    pub fn delivered(&mut self, now: Instant) {
        self.next = Some(now + self.gap);
    }
}

fn open(source: &PlaybackSource) -> Result<Box<dyn Read>, PlaybackError> {
    match source {
        PlaybackSource::File(p) => std::fs::File::open(p)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|error| PlaybackError::Open {
                path: p.clone(),
                error,
            }),
        PlaybackSource::Bytes(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
    }
}

fn announce<S: AmiSink>(sink: &mut S, handle: &SessionHandle, version: &str) {
    {
        let mut st = handle.status_mut();
        st.connected = true;
        st.version = bounded(version);
        st.connected_since = Some(SystemTime::now());
    }
    sink.session(SessionChange::Connected { version });
    sink.session(SessionChange::ResyncStarted);
    sink.session(SessionChange::ResyncFinished {
        channels: 0,
        error: None,
    });
}

/// Plays `source` into `sink` until its end (or forever with `looping`), or
/// until `shutdown` completes. `handle` reports `source: Playback` and the
/// codec counters on /health, and answers `NotConnected` to actions.
///
/// # Errors
/// [`PlaybackError`] when the file cannot be opened or read.
pub async fn run_playback<S: AmiSink>(
    source: PlaybackSource,
    opts: PlaybackOptions,
    mut sink: S,
    handle: SessionHandle,
    shutdown: impl Future<Output = ()>,
) -> Result<(), PlaybackError> {
    handle.status_mut().source = Source::Playback;
    let mut shutdown = core::pin::pin!(shutdown);
    let mut stop = Stop::new(shutdown.as_mut());
    let mut dec = Decoder::new(opts.limits);
    let mut pacer = Pacer::new(opts.gap);
    loop {
        let mut reader = open(&source)?;
        dec.reset();
        let mut started = false;
        let mut delivered = 0u64;
        let mut eof = false;
        loop {
            let item = dec.next_item();
            match item {
                Some(Item::Packet(p)) => match p.kind() {
                    Kind::Banner(line) => {
                        if !started {
                            started = true;
                            announce(&mut sink, &handle, super::conn::banner_version(line));
                        }
                    }
                    Kind::Event(_) => {
                        if !started {
                            started = true;
                            announce(&mut sink, &handle, "recording");
                        }
                        if let Some(t) = pacer.due() {
                            if stop.or(Timer::at(t)).await.is_none() {
                                return Ok(());
                            }
                        }
                        sink.packet(&p);
                        pacer.delivered(Instant::now());
                        delivered += 1;
                    }
                    Kind::Action(_) | Kind::Other => {
                        handle.status_mut().skipped_client_packets += 1;
                    }
                    Kind::Response(_) => {}
                },
                Some(Item::Skipped {
                    error,
                    first_in_burst,
                }) => {
                    if first_in_burst {
                        log::warn!("recording: skipped a packet: {error}");
                    }
                }
                None if eof => break,
                None => {
                    let n = reader.read(dec.space()).map_err(PlaybackError::Read)?;
                    if n == 0 {
                        dec.finish();
                        eof = true;
                    } else {
                        dec.filled(n);
                    }
                }
            }
            // Paced: one borrow per packet is nothing, and /health stays current.
            handle.status_mut().codec = dec.stats();
        }
        handle.status_mut().codec = dec.stats();
        if started {
            {
                let mut st = handle.status_mut();
                st.connected = false;
                st.connected_since = None;
            }
            sink.session(SessionChange::Disconnected {
                reason: "end of recording",
            });
        }
        if !opts.looping || stop.is_stopped() {
            return Ok(());
        }
        if delivered == 0 {
            // Nothing to play: do not spin.
            if stop
                .or(Timer::after(opts.gap.max(Duration::from_millis(10))))
                .await
                .is_none()
            {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_spaces_deliveries_by_the_gap() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_millis(200));
        assert_eq!(p.due(), None);
        p.delivered(t0);
        assert_eq!(p.due(), Some(t0 + Duration::from_millis(200)));
        let late = t0 + Duration::from_secs(1);
        p.delivered(late);
        assert_eq!(p.due(), Some(late + Duration::from_millis(200)));
    }
}
