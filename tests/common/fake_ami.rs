//! An in-test AMI server on 127.0.0.1:0 that answers like Asterisk's
//! `manager.c`: banner, `Challenge`, MD5 or plain `Login` (a refused login
//! waits, then answers `Authentication failed` and closes, as Asterisk does
//! with its `sleep(1)`), `Ping`/`Pong`, `CoreShowChannels` and `QueueStatus`
//! lists, async `Originate` with a later `OriginateResponse` (its `Uniqueid`
//! is the preset `ChannelId` when one is given), `Hangup`, the call-control
//! actions (`Redirect`, `BlindTransfer`, `Atxfer`, `Park`, `QueuePause`,
//! `PJSIPNotify`, `SIPnotify`), `Logoff`/`Goodbye`; any action can be made
//! to fail with a message of Asterisk's. Every answer carries the action's
//! `ActionID`.
//!
//! The test controls it: go silent, drop every connection, stop listening and
//! listen again (a restart), push raw bytes, and read back what each client
//! sent and what the server wrote.
//!
//! Answers of one connection go through one ordered queue, so a delayed
//! answer never splits another; events "from other threads" (the
//! `OriginateResponse`) are queued whole when their delay has passed.

use async_executor::{LocalExecutor, Task};
use async_io::{Async, Timer};
use ctibridge::ami::{Decoder, Item, Kind, Limits};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use md5::{Digest, Md5};
use std::cell::RefCell;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// One channel as `CoreShowChannels` lists it: its fields after `ActionID`.
pub type Fields = Vec<(String, String)>;

/// How the fake behaves.
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// First line sent, without CRLF.
    pub banner: String,
    /// The manager.conf user.
    pub user: String,
    /// Its secret.
    pub secret: String,
    /// The challenge handed out (Asterisk: a random number).
    pub challenge: String,
    /// Wait before answering a refused login (Asterisk: 1 s).
    pub refuse_delay: Duration,
    /// Send `FullyBooted` after a login (Asterisk does when the user may
    /// read `system`).
    pub fully_booted: bool,
    /// Channels listed by `CoreShowChannels`.
    pub channels: Vec<Fields>,
    /// Answer `CoreShowChannels` with `Permission denied`.
    pub deny_core_show_channels: bool,
    /// Actions never answered.
    pub unanswered: Vec<String>,
    /// Delay before the `OriginateResponse` event.
    pub originate_delay: Duration,
    /// Bytes sent right after a successful login, cut into random chunks
    /// (sizes 1..=`chunk_max`) with short pauses, drawn from `seed`.
    pub after_login: Vec<u8>,
    /// Largest chunk of `after_login`.
    pub chunk_max: usize,
    /// Seed for the chunk sizes.
    pub seed: u64,
    /// Actions answered `Response: Error` with this message (name, message),
    /// e.g. `BlindTransfer` with Asterisk 11's `Invalid/unknown command`.
    pub refuse: Vec<(String, String)>,
    /// Channels `Hangup` knows besides those of `channels`.
    pub known_channels: Vec<String>,
    /// `Some(reason)`: the `OriginateResponse` says `Failure` with this
    /// `Reason` (3: no answer, 5: busy).
    pub originate_failure: Option<String>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            banner: "Asterisk Call Manager/11.0.0".into(),
            user: "bridge".into(),
            secret: "s3cret".into(),
            challenge: "123456789".into(),
            refuse_delay: Duration::from_millis(50),
            fully_booted: true,
            channels: Vec::new(),
            deny_core_show_channels: false,
            unanswered: Vec::new(),
            originate_delay: Duration::from_millis(20),
            after_login: Vec::new(),
            chunk_max: 64,
            seed: 1,
            refuse: Vec::new(),
            known_channels: Vec::new(),
            originate_failure: None,
        }
    }
}

/// A channel with the fields the tracker reads.
pub fn channel(name: &str, uniqueid: &str, state: &str) -> Fields {
    vec![
        ("Channel".into(), name.into()),
        ("ChannelState".into(), "6".into()),
        ("ChannelStateDesc".into(), state.into()),
        ("CallerIDNum".into(), "1000".into()),
        ("Uniqueid".into(), uniqueid.into()),
        ("Linkedid".into(), uniqueid.into()),
    ]
}

enum Out {
    Bytes(Vec<u8>),
    Pause(Duration),
    Close,
}

/// What one client connection did.
#[derive(Debug, Clone)]
pub struct Conn {
    /// When it was accepted.
    pub accepted: Instant,
    /// Each action received, as its fields.
    pub actions: Vec<Fields>,
    /// Every byte written to the client, in order.
    pub sent: Vec<u8>,
    /// True once the login was accepted.
    pub logged_in: bool,
    /// True once closed by either side.
    pub closed: bool,
}

struct ConnHandle {
    stream: Rc<Async<TcpStream>>,
    tx: async_channel::Sender<Out>,
}

struct State {
    opts: FakeOptions,
    silent: bool,
    conns: Vec<Conn>,
    live: Vec<Option<ConnHandle>>,
    acceptor: Option<Task<()>>,
}

/// The fake server. Clones share it.
#[derive(Clone)]
pub struct FakeAmi {
    ex: Rc<LocalExecutor<'static>>,
    addr: SocketAddr,
    state: Rc<RefCell<State>>,
}

/// The lowercase hex MD5 of `challenge` + `secret`, as `manager.c` computes it.
pub fn asterisk_md5(challenge: &str, secret: &str) -> String {
    let mut h = Md5::new();
    h.update(challenge.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn get<'a>(f: &'a Fields, key: &str) -> Option<&'a str> {
    f.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn packet(lines: &[(&str, &str)]) -> Vec<u8> {
    let mut s = String::new();
    for (k, v) in lines {
        s.push_str(k);
        s.push_str(": ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

impl FakeAmi {
    /// Starts listening on 127.0.0.1, on a free port.
    pub fn start(ex: &Rc<LocalExecutor<'static>>, opts: FakeOptions) -> FakeAmi {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).expect("bind");
        let addr = listener.get_ref().local_addr().unwrap();
        let fake = FakeAmi {
            ex: ex.clone(),
            addr,
            state: Rc::new(RefCell::new(State {
                opts,
                silent: false,
                conns: Vec::new(),
                live: Vec::new(),
                acceptor: None,
            })),
        };
        fake.spawn_acceptor(listener);
        fake
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn spawn_acceptor(&self, listener: Async<TcpListener>) {
        let me = self.clone();
        let task = self.ex.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                me.serve(stream);
            }
        });
        self.state.borrow_mut().acceptor = Some(task);
    }

    fn serve(&self, stream: Async<TcpStream>) {
        let stream = Rc::new(stream);
        let (tx, rx) = async_channel::unbounded::<Out>();
        let id = {
            let mut st = self.state.borrow_mut();
            st.conns.push(Conn {
                accepted: Instant::now(),
                actions: Vec::new(),
                sent: Vec::new(),
                logged_in: false,
                closed: false,
            });
            st.live.push(Some(ConnHandle {
                stream: stream.clone(),
                tx: tx.clone(),
            }));
            st.conns.len() - 1
        };
        // Writer: drains the queue in order.
        let me = self.clone();
        let ws = stream.clone();
        self.ex
            .spawn(async move {
                while let Ok(out) = rx.recv().await {
                    match out {
                        Out::Bytes(b) => {
                            me.state.borrow_mut().conns[id].sent.extend_from_slice(&b);
                            if (&*ws).write_all(&b).await.is_err() {
                                break;
                            }
                        }
                        Out::Pause(d) => {
                            Timer::after(d).await;
                        }
                        Out::Close => break,
                    }
                }
                let _ = ws.get_ref().shutdown(Shutdown::Both);
                me.mark_closed(id);
            })
            .detach();
        // Reader: banner first, then one answer per action.
        let banner = format!("{}\r\n", self.state.borrow().opts.banner);
        let _ = tx.try_send(Out::Bytes(banner.into_bytes()));
        let me = self.clone();
        self.ex
            .spawn(async move {
                let mut dec = Decoder::new(Limits::default());
                let mut buf = vec![0u8; 4096];
                let mut authed = false;
                loop {
                    let n = match (&*stream).read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut rest = &buf[..n];
                    while !rest.is_empty() {
                        let took = dec.feed(rest);
                        rest = &rest[took..];
                        while let Some(item) = dec.next_item() {
                            if let Item::Packet(p) = item {
                                if let Kind::Action(_) = p.kind() {
                                    let fields: Fields = p
                                        .fields()
                                        .map(|(k, v)| {
                                            (
                                                String::from_utf8_lossy(k).into_owned(),
                                                String::from_utf8_lossy(v).into_owned(),
                                            )
                                        })
                                        .collect();
                                    me.answer(id, &tx, &fields, &mut authed);
                                }
                            }
                        }
                    }
                }
                tx.close();
                me.mark_closed(id);
            })
            .detach();
    }

    fn mark_closed(&self, id: usize) {
        let mut st = self.state.borrow_mut();
        st.conns[id].closed = true;
        st.live[id] = None;
    }

    fn answer(&self, id: usize, tx: &async_channel::Sender<Out>, f: &Fields, authed: &mut bool) {
        let action = get(f, "Action").unwrap_or("").to_owned();
        let aid = get(f, "ActionID").unwrap_or("").to_owned();
        let (opts, silent) = {
            let mut st = self.state.borrow_mut();
            st.conns[id].actions.push(f.clone());
            (st.opts.clone(), st.silent)
        };
        if silent {
            return;
        }
        let send = |b: Vec<u8>| {
            let _ = tx.try_send(Out::Bytes(b));
        };
        let ok = |msg: &str| {
            packet(&[
                ("Response", "Success"),
                ("ActionID", &aid),
                ("Message", msg),
            ])
        };
        let err =
            |msg: &str| packet(&[("Response", "Error"), ("ActionID", &aid), ("Message", msg)]);
        let a = action.to_ascii_lowercase();
        if opts.unanswered.iter().any(|u| u.eq_ignore_ascii_case(&a)) {
            return;
        }
        if !*authed && !matches!(a.as_str(), "login" | "challenge" | "logoff") {
            send(err("Permission denied"));
            return;
        }
        if let Some((_, msg)) = opts.refuse.iter().find(|(n, _)| n.eq_ignore_ascii_case(&a)) {
            send(err(msg));
            return;
        }
        match a.as_str() {
            "challenge" => {
                if get(f, "AuthType").is_some_and(|t| t.eq_ignore_ascii_case("MD5")) {
                    send(packet(&[
                        ("Response", "Success"),
                        ("ActionID", &aid),
                        ("Challenge", &opts.challenge),
                    ]));
                } else {
                    send(err("Must specify AuthType"));
                }
            }
            "login" => {
                let user_ok = get(f, "Username").is_some_and(|u| u.eq_ignore_ascii_case(&opts.user));
                let md5 = get(f, "AuthType").is_some_and(|t| t.eq_ignore_ascii_case("MD5"));
                let pass_ok = if md5 {
                    get(f, "Key") == Some(asterisk_md5(&opts.challenge, &opts.secret).as_str())
                } else {
                    get(f, "Secret") == Some(opts.secret.as_str())
                };
                if user_ok && pass_ok {
                    *authed = true;
                    self.state.borrow_mut().conns[id].logged_in = true;
                    send(ok("Authentication accepted"));
                    if opts.fully_booted {
                        send(packet(&[
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Status", "Fully Booted"),
                        ]));
                    }
                    if !opts.after_login.is_empty() {
                        let mut rng = super::Rng(opts.seed.max(1));
                        let mut at = 0;
                        while at < opts.after_login.len() {
                            let n = (1 + rng.below(opts.chunk_max as u64) as usize)
                                .min(opts.after_login.len() - at);
                            send(opts.after_login[at..at + n].to_vec());
                            if rng.below(8) == 0 {
                                let _ = tx.try_send(Out::Pause(Duration::from_millis(1)));
                            }
                            at += n;
                        }
                    }
                } else {
                    let _ = tx.try_send(Out::Pause(opts.refuse_delay));
                    send(err("Authentication failed"));
                    let _ = tx.try_send(Out::Close);
                }
            }
            "ping" => send(packet(&[
                ("Response", "Success"),
                ("ActionID", &aid),
                ("Ping", "Pong"),
                ("Timestamp", "1763897600.000000"),
            ])),
            "logoff" => {
                send(packet(&[
                    ("Response", "Goodbye"),
                    ("ActionID", &aid),
                    ("Message", "Thanks for all the fish."),
                ]));
                let _ = tx.try_send(Out::Close);
            }
            "coreshowchannels" => {
                if opts.deny_core_show_channels {
                    send(err("Permission denied"));
                    return;
                }
                let mut b = packet(&[
                    ("Response", "Success"),
                    ("ActionID", &aid),
                    ("EventList", "start"),
                    ("Message", "Channels will follow"),
                ]);
                for ch in &opts.channels {
                    let mut lines: Vec<(&str, &str)> =
                        vec![("Event", "CoreShowChannel"), ("ActionID", &aid)];
                    lines.extend(ch.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                    b.extend(packet(&lines));
                }
                let count = opts.channels.len().to_string();
                b.extend(packet(&[
                    ("Event", "CoreShowChannelsComplete"),
                    ("ActionID", &aid),
                    ("EventList", "Complete"),
                    ("ListItems", &count),
                ]));
                send(b);
            }
            "queuestatus" => {
                let mut b = packet(&[
                    ("Response", "Success"),
                    ("ActionID", &aid),
                    ("EventList", "start"),
                    ("Message", "Queue status will follow"),
                ]);
                b.extend(packet(&[
                    ("Event", "QueueParams"),
                    ("Queue", "support"),
                    ("Strategy", "ringall"),
                    ("ActionID", &aid),
                ]));
                b.extend(packet(&[
                    ("Event", "QueueMember"),
                    ("Queue", "support"),
                    ("Name", "Agent 1002"),
                    ("StateInterface", "PJSIP/1002"),
                    ("Paused", "0"),
                    ("ActionID", &aid),
                ]));
                b.extend(packet(&[
                    ("Event", "QueueStatusComplete"),
                    ("ActionID", &aid),
                    ("EventList", "Complete"),
                    ("ListItems", "2"),
                ]));
                send(b);
            }
            "hangup" => {
                let ch = get(f, "Channel").unwrap_or("");
                if opts.channels.iter().any(|c| get(c, "Channel") == Some(ch))
                    || opts.known_channels.iter().any(|c| c == ch)
                {
                    send(ok("Channel Hungup"));
                } else {
                    send(err("No such channel"));
                }
            }
            "originate" => {
                send(ok("Originate successfully queued"));
                // Asterisk 12+ gives the first channel the preset ChannelId.
                let uid = get(f, "ChannelId").unwrap_or("1763897601.8");
                let (response, reason) = match &opts.originate_failure {
                    Some(r) => ("Failure", r.as_str()),
                    None => ("Success", "4"),
                };
                let ev = packet(&[
                    ("Event", "OriginateResponse"),
                    ("Privilege", "call,all"),
                    ("ActionID", &aid),
                    ("Response", response),
                    ("Channel", "PJSIP/1000-00000008"),
                    ("Context", get(f, "Context").unwrap_or("")),
                    ("Exten", get(f, "Exten").unwrap_or("")),
                    ("Reason", reason),
                    ("Uniqueid", uid),
                    ("CallerIDNum", "1000"),
                    ("CallerIDName", "Alice 1000"),
                ]);
                let tx = tx.clone();
                let delay = opts.originate_delay;
                self.ex
                    .spawn(async move {
                        Timer::after(delay).await;
                        let _ = tx.try_send(Out::Bytes(ev));
                    })
                    .detach();
            }
            "redirect" => send(ok("Redirect successful")),
            "blindtransfer" => send(ok("Transfer successful")),
            "atxfer" => send(ok("Atxfer successfully queued")),
            "park" => send(ok("Park successful\n")),
            "queuepause" => send(ok(if get(f, "Paused") == Some("true") {
                "Interface paused successfully"
            } else {
                "Interface unpaused successfully"
            })),
            "pjsipnotify" | "sipnotify" => send(ok("NOTIFY sent")),
            _ => send(err(&format!(
                "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
            ))),
        }
    }

    /// Stops answering anything (a hung Asterisk); `false` resumes.
    pub fn set_silent(&self, on: bool) {
        self.state.borrow_mut().silent = on;
    }

    /// Replaces the channel list (new Uniqueids after a restart).
    pub fn set_channels(&self, channels: Vec<Fields>) {
        self.state.borrow_mut().opts.channels = channels;
    }

    /// Changes the options for the next connections and actions.
    pub fn update(&self, f: impl FnOnce(&mut FakeOptions)) {
        f(&mut self.state.borrow_mut().opts);
    }

    /// Closes every client connection now (the client reads EOF).
    pub fn drop_all(&self) {
        let live: Vec<_> = self
            .state
            .borrow_mut()
            .live
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for c in live {
            c.tx.close();
            let _ = c.stream.get_ref().shutdown(Shutdown::Both);
        }
    }

    /// Queues raw bytes to every connection, then closes them if `close`.
    pub fn send_raw(&self, bytes: &[u8], close: bool) {
        let st = self.state.borrow();
        for c in st.live.iter().flatten() {
            let _ = c.tx.try_send(Out::Bytes(bytes.to_vec()));
            if close {
                let _ = c.tx.try_send(Out::Close);
            }
        }
    }

    /// Asterisk going down: stop listening (connects are refused) and drop
    /// every connection.
    pub fn stop_listening(&self) {
        let task = self.state.borrow_mut().acceptor.take();
        drop(task);
        self.drop_all();
    }

    /// Asterisk back up: listen again on the same address.
    pub fn listen_again(&self) {
        let listener = Async::<TcpListener>::bind(self.addr).expect("rebind the same port");
        self.spawn_acceptor(listener);
    }

    /// Every connection so far.
    pub fn conns(&self) -> Vec<Conn> {
        self.state.borrow().conns.clone()
    }

    /// Every action received, over all connections, in order.
    pub fn actions(&self) -> Vec<Fields> {
        self.state
            .borrow()
            .conns
            .iter()
            .flat_map(|c| c.actions.iter().cloned())
            .collect()
    }

    /// Connections whose login was accepted.
    pub fn logins(&self) -> usize {
        self.state
            .borrow()
            .conns
            .iter()
            .filter(|c| c.logged_in)
            .count()
    }
}

/// Value of `key` in an action's fields.
pub fn field<'a>(f: &'a Fields, key: &str) -> Option<&'a str> {
    get(f, key)
}
