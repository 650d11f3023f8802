//! One client's life: TLS, the HTTP upgrade, sign-in, its line's state, then
//! events out and commands in until it leaves or is closed.

use super::auth::{Origin, User};
use super::fanout::{Next, Subscription};
use super::handshake::{self, Route};
use super::protocol::{self, CommandError, ErrorCode, Id, Request, Token};
use super::server::{Counters, Shared, Ticket};
use super::stream::Stream;
use super::Command;
use crate::limits::{
    WS_MAX_COMMAND, WS_MAX_MESSAGE, WS_MAX_PENDING_COMMANDS, WS_MAX_REQUEST_HEAD,
    WS_MAX_WRITE_BUFFER, WS_READ_BUFFER,
};
use async_executor::LocalExecutor;
use async_io::Timer;
use async_net::TcpStream;
use async_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures_lite::future::{or, pending, race};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// The first read of a request head (the buffer grows up to
/// [`WS_MAX_REQUEST_HEAD`]).
const WS_FIRST_HEAD_READ: usize = 1024;

/// The tungstenite limits of every connection.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .max_message_size(Some(WS_MAX_MESSAGE))
        .max_frame_size(Some(WS_MAX_MESSAGE))
}

/// `fut`, or `None` after `d`.
///
/// A plain function returning the race (not an `async fn`): an `async fn`
/// would keep its own copy of `fut` beside the one moved into the race,
/// and the handshake future it wraps is the largest of a connection.
fn timeout<T>(d: Duration, fut: impl Future<Output = T>) -> impl Future<Output = Option<T>> {
    or(async move { Some(fut.await) }, async move {
        Timer::after(d).await;
        None
    })
}

/// How a connection ends.
#[derive(Debug)]
enum End {
    /// The socket is gone or broken: nothing more to say.
    Gone,
    /// The client sent a close frame: let tungstenite answer it.
    PeerClosed,
    /// We close, with this code and reason, after this last result frame.
    Close {
        code: u16,
        reason: &'static str,
        last: Option<String>,
    },
}

impl End {
    fn close(code: u16, reason: &'static str) -> End {
        End::Close {
            code,
            reason,
            last: None,
        }
    }
}

/// The close of a client too slow to read its events.
const SLOW: u16 = 1008;

/// Results of commands carried out by their own tasks, waiting to be sent.
#[derive(Default)]
struct Outbox {
    frames: VecDeque<String>,
    waker: Option<Waker>,
    pending: usize,
}

type SharedOutbox = Rc<RefCell<Outbox>>;

async fn next_result(outbox: &SharedOutbox) -> String {
    poll_fn(|cx| {
        let mut ob = outbox.borrow_mut();
        match ob.frames.pop_front() {
            Some(f) => Poll::Ready(f),
            None => {
                ob.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// What a frame from the client turned out to be.
enum Incoming {
    Text(String),
    Binary,
    Control,
}

struct Conn<'s> {
    sh: &'s Shared,
    /// `None` for a connection being refused (it is closing anyway).
    ticket: Option<Ticket<'s>>,
    ws: WebSocketStream<Stream>,
    peer: SocketAddr,
    last_rx: Instant,
    /// The WebSocket reader failed: only a close can still be written.
    broken: bool,
}

/// Completes the handshake of a connection over the limit and closes it
/// with 1013 (a page request gets 503).
pub(super) async fn refuse(sh: &Shared, tcp: TcpStream) {
    let peer = tcp.peer_addr().ok();
    let opened = timeout(sh.settings.handshake_timeout, open(sh, tcp, true)).await;
    let Some(Some((stream, rest, _))) = opened else {
        return;
    };
    let ws =
        WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(ws_config())).await;
    let Some(peer) = peer else { return };
    let mut conn = Conn {
        sh,
        ticket: None,
        ws,
        peer,
        last_rx: Instant::now(),
        broken: false,
    };
    conn.finish(End::close(1013, "server full: try again later"))
        .await;
}

/// Serves one connection to its end.
pub(super) async fn run(
    sh: &Shared,
    ex: Rc<LocalExecutor<'static>>,
    tcp: TcpStream,
    peer: SocketAddr,
) {
    let ticket = sh.registry.enter();
    // The handshake, the sign-in and the close are boxed: each is far larger
    // than the serving loop (TLS accept, timers), and inline they would make
    // every connection's task as large as the largest of them for its whole
    // life (7.3 KB instead of 1.5 KB per client).
    // A shutdown during the handshake just drops the connection.
    let opened = Box::pin(or(
        async {
            let opened = timeout(sh.settings.handshake_timeout, open(sh, tcp, false)).await;
            if opened.is_none() {
                Counters::bump(&sh.counters.handshake_timeouts);
                log::debug!("WebSocket {peer}: handshake not finished in time; dropped");
            }
            opened.flatten()
        },
        async {
            ticket.kicked().await;
            None
        },
    ))
    .await;
    let Some((stream, rest, token)) = opened else {
        return;
    };
    let ws =
        WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(ws_config())).await;
    let mut conn = Conn {
        sh,
        ticket: Some(ticket),
        ws,
        peer,
        last_rx: Instant::now(),
        broken: false,
    };
    let end = match Box::pin(conn.sign_in(token)).await {
        Ok(user) => conn.serve(user, &ex).await,
        Err(end) => end,
    };
    Box::pin(conn.finish(end)).await;
}

/// TLS, then the request head: a page is answered here (`None`), an
/// upgrade returns the stream, the bytes read past the head and the query
/// token.
async fn open(
    sh: &Shared,
    tcp: TcpStream,
    full: bool,
) -> Option<(Stream, Vec<u8>, Option<Option<Token>>)> {
    #[cfg(feature = "tls")]
    let mut stream = match &sh.tls {
        // Boxed: a TLS handshake's state is large and plain connections
        // should not reserve room for it.
        Some(tls) => match Box::pin(tls.acceptor.accept(tcp)).await {
            Ok(s) => Stream::Tls(Box::new(s)),
            Err(e) => {
                log::debug!("WebSocket: TLS handshake failed: {e}");
                return None;
            }
        },
        None => Stream::Plain(tcp),
    };
    #[cfg(not(feature = "tls"))]
    let mut stream = Stream::Plain(tcp);
    // Most request heads fit in 1 KiB; the buffer doubles up to the limit
    // only for those that do not, so hundreds of panels reconnecting at
    // once (after a restart) do not each hold the largest head's room.
    let mut buf = vec![0u8; WS_FIRST_HEAD_READ.min(WS_MAX_REQUEST_HEAD)];
    let mut len = 0;
    let answer = loop {
        if len == buf.len() {
            if len >= WS_MAX_REQUEST_HEAD {
                break handshake::too_large();
            }
            buf.resize((len * 2).min(WS_MAX_REQUEST_HEAD), 0);
        }
        match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => len += n,
        }
        match handshake::route(&buf[..len], &sh.settings.panel_json) {
            Route::Partial => continue,
            Route::Answer(a) => break a,
            Route::Upgrade {
                head_len,
                accept,
                token,
            } => {
                stream
                    .write_all(&handshake::upgrade_response(&accept))
                    .await
                    .ok()?;
                stream.flush().await.ok()?;
                return Some((stream, buf[head_len..len].to_vec(), token));
            }
        }
    };
    let answer = if full && answer.status == 200 {
        handshake::Answer {
            status: 503,
            content_type: "text/plain; charset=utf-8",
            body: "server full: try again later\n".into(),
            head_only: answer.head_only,
        }
    } else {
        answer
    };
    let _ = stream.write_all(&answer.to_bytes()).await;
    let _ = stream.flush().await;
    let _ = stream.close().await;
    None
}

impl Conn<'_> {
    /// Writes one frame, unless the client falls behind (`sub` lags) or the
    /// write takes longer than the write timeout.
    async fn write(&mut self, msg: Message, sub: Option<&Subscription>) -> Result<(), End> {
        let limit = self.sh.settings.write_timeout;
        let ws = &mut self.ws;
        let send = async { ws.send(msg).await.map_err(|_| End::Gone) };
        let lag = async {
            match sub {
                Some(s) => s.lagged().await,
                None => pending().await,
            }
            Err(End::close(SLOW, "too slow: event queue full"))
        };
        let late = async {
            Timer::after(limit).await;
            Err(End::close(SLOW, "too slow: a write timed out"))
        };
        let r = or(send, or(lag, late)).await;
        if let Err(End::Close { code: SLOW, .. }) = r {
            Counters::bump(&self.sh.counters.closed_slow);
        }
        r
    }

    async fn write_text(&mut self, text: String, sub: Option<&Subscription>) -> Result<(), End> {
        self.write(Message::text(text), sub).await
    }

    /// Sorts out one item from the reader; ends the connection on close and
    /// on framing errors.
    fn incoming(&mut self, item: Option<Result<Message, WsError>>) -> Result<Incoming, End> {
        let msg = match item {
            None => return Err(End::Gone),
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                self.broken = true;
                if matches!(
                    e,
                    WsError::Capacity(_) | WsError::Utf8(_) | WsError::Protocol(_)
                ) {
                    Counters::bump(&self.sh.counters.bad_frames);
                }
                return Err(match e {
                    WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => End::Close {
                        code: 1009,
                        reason: "message too big",
                        last: Some(protocol::error_frame(
                            &Id::Null,
                            &CommandError::new(
                                ErrorCode::TooLarge,
                                format!("a message of {size} bytes is over the {WS_MAX_MESSAGE}-byte limit; a command has at most {WS_MAX_COMMAND}"),
                            ),
                        )),
                    },
                    WsError::Capacity(_) => End::close(1009, "message too big"),
                    WsError::Utf8(_) => End::Close {
                        code: 1007,
                        reason: "text frame is not UTF-8",
                        last: Some(protocol::error_frame(
                            &Id::Null,
                            &CommandError::new(ErrorCode::BadJson, "a text frame held invalid UTF-8"),
                        )),
                    },
                    WsError::Protocol(p) => {
                        log::debug!("WebSocket {}: protocol error: {p}", self.peer);
                        End::close(1002, "WebSocket protocol error")
                    }
                    _ => End::Gone,
                });
            }
        };
        self.last_rx = Instant::now();
        Ok(match msg {
            Message::Text(t) => Incoming::Text(t.as_str().to_owned()),
            Message::Binary(_) => Incoming::Binary,
            Message::Close(_) => return Err(End::PeerClosed),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Incoming::Control,
        })
    }

    /// Waits for a valid token (query parameter or first `auth` frame).
    async fn sign_in(&mut self, query: Option<Option<Token>>) -> Result<Rc<User>, End> {
        if let Some(token) = query {
            return self.check_token(&Id::Null, token, false).await;
        }
        let deadline = Instant::now() + self.sh.settings.auth_timeout;
        loop {
            let ws = &mut self.ws;
            let ticket = &self.ticket;
            let item = or(
                async { Ok(ws.next().await) },
                or(
                    async {
                        Timer::at(deadline).await;
                        Err(End::close(
                            1008,
                            "sign in first: send {\"op\":\"auth\",\"token\":...}",
                        ))
                    },
                    async { Err(kicked(ticket).await) },
                ),
            )
            .await;
            let item = item?;
            let reply = match self.incoming(item)? {
                Incoming::Control => continue,
                Incoming::Binary => protocol::error_frame(&Id::Null, &binary_error()),
                Incoming::Text(t) => {
                    let p = protocol::parse(&t);
                    match p.request {
                        Ok(Request::Auth { token }) => {
                            return self.check_token(&p.id, token, true).await
                        }
                        Ok(_) => protocol::error_frame(
                            &p.id,
                            &CommandError::new(
                                ErrorCode::NotAuthenticated,
                                "sign in first: send {\"op\":\"auth\",\"token\":\"...\"}",
                            ),
                        ),
                        Err(e) => protocol::error_frame(&p.id, &e),
                    }
                }
            };
            self.write_text(reply, None).await?;
        }
    }

    /// Checks a token against the users, slowing down failing addresses.
    async fn check_token(
        &mut self,
        id: &Id,
        token: Option<Token>,
        answer: bool,
    ) -> Result<Rc<User>, End> {
        let origin = Origin::of(self.peer.ip());
        let now = Instant::now();
        let c = &self.sh.counters;
        if let Err(wait) = self.sh.failures.borrow().check(origin, now) {
            Counters::bump(&c.auth_rate_limited);
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(End::Close {
                code: 1008,
                reason: "too many failed sign-ins: wait",
                last: Some(protocol::error_frame(
                    id,
                    &CommandError::new(
                        ErrorCode::RateLimited,
                        format!("too many failed sign-ins from {origin}: try again in {secs} s"),
                    ),
                )),
            });
        }
        let user = token.as_ref().and_then(|t| self.sh.users.borrow().find(t));
        let Some(user) = user else {
            self.sh.failures.borrow_mut().record_failure(origin, now);
            Counters::bump(&c.auth_failures);
            log::warn!("WebSocket: sign-in with a bad token from {}", self.peer);
            return Err(End::Close {
                code: 1008,
                reason: "bad token",
                last: Some(protocol::error_frame(
                    id,
                    &CommandError::new(ErrorCode::BadToken, "this token matches no user"),
                )),
            });
        };
        // Before any await: a reload from now on sees who this is.
        if let Some(t) = &self.ticket {
            t.signed_in(user.clone());
        }
        log::info!(
            "WebSocket: {} (line {}) signed in from {}",
            user.name,
            user.line,
            self.peer
        );
        if answer {
            let ok = protocol::ok_frame(id, &[("user", &user.name), ("line", &user.line)]);
            self.write_text(ok, None).await?;
        }
        Ok(user)
    }

    /// The signed-in life: the line's state, then events out and commands
    /// in, until something ends it.
    async fn serve(&mut self, user: Rc<User>, ex: &Rc<LocalExecutor<'static>>) -> End {
        // Subscribe and take the snapshot with no await between them: every
        // event after the snapshot is in the queue, none before it.
        let sub = self.sh.hub.subscribe(&user.line, user.debug);
        let snapshot = self.sh.backend.snapshot(&user.line);
        for frame in snapshot {
            if let Err(end) = self.write_text(frame, Some(&sub)).await {
                return end;
            }
        }
        let outbox = SharedOutbox::default();
        let ping_every = self.sh.settings.ping_interval;
        let mut next_tick = Instant::now() + ping_every;
        loop {
            enum Ev {
                Out(Next),
                Result(String),
                In(Option<Result<Message, WsError>>),
                Tick,
                Kicked(End),
            }
            let ws = &mut self.ws;
            let ticket = &self.ticket;
            let out = or(
                async { Ev::Kicked(kicked(ticket).await) },
                or(async { Ev::Result(next_result(&outbox).await) }, async {
                    Ev::Out(sub.next().await)
                }),
            );
            let inc = or(async { Ev::In(ws.next().await) }, async {
                Timer::at(next_tick).await;
                Ev::Tick
            });
            let step = match race(out, inc).await {
                Ev::Out(Next::Event(frame)) => self.write_text(frame.to_string(), Some(&sub)).await,
                Ev::Out(Next::Lagged) => {
                    Counters::bump(&self.sh.counters.closed_slow);
                    Err(End::close(SLOW, "too slow: event queue full"))
                }
                Ev::Result(frame) => self.write_text(frame, Some(&sub)).await,
                Ev::Kicked(end) => Err(end),
                Ev::Tick => {
                    next_tick = Instant::now() + ping_every;
                    let quiet = self.last_rx.elapsed();
                    if quiet >= self.sh.settings.idle_timeout {
                        Err(End::close(1001, "no answer to pings"))
                    } else if quiet >= ping_every {
                        self.write(Message::Ping(Default::default()), Some(&sub))
                            .await
                    } else {
                        Ok(())
                    }
                }
                Ev::In(item) => match self.incoming(item) {
                    Err(end) => Err(end),
                    Ok(Incoming::Control) => Ok(()),
                    Ok(Incoming::Binary) => {
                        let f = protocol::error_frame(&Id::Null, &binary_error());
                        self.write_text(f, Some(&sub)).await
                    }
                    Ok(Incoming::Text(t)) => match self.command(&t, &user, &sub, &outbox, ex) {
                        Some(reply) => self.write_text(reply, Some(&sub)).await,
                        None => Ok(()),
                    },
                },
            };
            if let Err(end) = step {
                if matches!(end, End::Close { code: SLOW, .. }) {
                    log::info!(
                        "WebSocket: {} (line {}) closed: too slow to read its events",
                        user.name,
                        user.line
                    );
                }
                return end;
            }
        }
    }

    /// Handles one text frame of a signed-in client: the immediate reply,
    /// or `None` when a task carries the command out and answers later.
    fn command(
        &mut self,
        text: &str,
        user: &Rc<User>,
        sub: &Subscription,
        outbox: &SharedOutbox,
        ex: &Rc<LocalExecutor<'static>>,
    ) -> Option<String> {
        let p = protocol::parse(text);
        let id = p.id;
        let cmd = match p.request {
            Err(e) => return Some(protocol::error_frame(&id, &e)),
            Ok(Request::Ping) => return Some(protocol::ok_frame(&id, &[])),
            Ok(Request::Debug { on }) => {
                sub.set_debug(on);
                return Some(protocol::ok_frame(&id, &[]));
            }
            Ok(Request::Auth { .. }) => {
                return Some(protocol::error_frame(
                    &id,
                    &CommandError::new(
                        ErrorCode::Unsupported,
                        format!(
                        "already signed in as {}; open a new connection to sign in as someone else",
                        user.name
                    ),
                    ),
                ))
            }
            Ok(Request::Command(cmd)) => cmd,
        };
        if let Some(call) = cmd.call() {
            if !self.sh.backend.owns_call(&user.line, call) {
                return Some(protocol::error_frame(
                    &id,
                    &CommandError::new(
                        ErrorCode::Forbidden,
                        format!("call {call} is not a live call of line {}", user.line),
                    ),
                ));
            }
        }
        if outbox.borrow().pending >= WS_MAX_PENDING_COMMANDS {
            return Some(protocol::error_frame(
                &id,
                &CommandError::new(
                    ErrorCode::RateLimited,
                    format!("{WS_MAX_PENDING_COMMANDS} commands are still in progress on this connection: wait for their results"),
                ),
            ));
        }
        log::info!(
            "WebSocket: {} (line {}): {}",
            user.name,
            user.line,
            describe(&cmd)
        );
        outbox.borrow_mut().pending += 1;
        let (backend, user, outbox) = (self.sh.backend.clone(), user.clone(), outbox.clone());
        ex.spawn(async move {
            let result = backend.execute(&user, cmd).await;
            let frame = match result {
                Ok(done) => match &done.call {
                    Some(call) => protocol::ok_frame(&id, &[("call", call)]),
                    None => protocol::ok_frame(&id, &[]),
                },
                Err(e) => {
                    log::info!(
                        "WebSocket: {} (line {}): refused: {}",
                        user.name,
                        user.line,
                        e
                    );
                    protocol::error_frame(&id, &e)
                }
            };
            let mut ob = outbox.borrow_mut();
            ob.pending -= 1;
            ob.frames.push_back(frame);
            if let Some(w) = ob.waker.take() {
                w.wake();
            }
        })
        .detach();
        None
    }

    /// Ends the connection: the last result, the close frame, and a short
    /// wait for the client's answer, all within the close timeout.
    async fn finish(&mut self, end: End) {
        let limit = self.sh.settings.close_timeout;
        let (code, reason, last) = match end {
            End::Gone => return,
            End::PeerClosed => {
                // tungstenite queued the answer to the client's close; reading
                // on sends it and ends when the exchange is complete.
                let ws = &mut self.ws;
                let _ = timeout(limit, async { while ws.next().await.is_some() {} }).await;
                return;
            }
            End::Close { code, reason, last } => (code, reason, last),
        };
        let broken = self.broken;
        let ws = &mut self.ws;
        let _ = timeout(limit, async {
            if let Some(frame) = last {
                if ws.send(Message::text(frame)).await.is_err() {
                    return;
                }
            }
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            if ws.close(Some(frame)).await.is_err() {
                return;
            }
            if broken {
                // The reader gave up mid-frame: end our side, then drop what
                // the client still sends, so the close frame is not lost to a
                // TCP reset.
                let raw = ws.get_mut();
                let _ = raw.close().await;
                let mut sink = [0u8; 1024];
                while matches!(raw.read(&mut sink).await, Ok(n) if n > 0) {}
            } else {
                while ws.next().await.is_some() {}
            }
        })
        .await;
    }
}

/// The close the server asks for (never, without a ticket).
async fn kicked(ticket: &Option<Ticket<'_>>) -> End {
    match ticket {
        Some(t) => {
            let (code, reason) = t.kicked().await;
            End::close(code, reason)
        }
        None => pending().await,
    }
}

fn binary_error() -> CommandError {
    CommandError::new(
        ErrorCode::InvalidValue,
        "commands are JSON text frames; binary frames are not read",
    )
}

/// A command for the log, without its free texts.
fn describe(cmd: &Command) -> String {
    match cmd {
        Command::Call { number } => format!("call {number}"),
        Command::Transfer { call, number } | Command::AttendedTransfer { call, number } => {
            format!("{} {call} to {number}", cmd.op())
        }
        Command::QueuePause { paused, queue, .. } => format!(
            "queue_pause paused={paused} queue={}",
            queue.as_deref().unwrap_or("(all)")
        ),
        other => format!("{} {}", other.op(), other.call().map_or("", |c| c.as_str())),
    }
}
