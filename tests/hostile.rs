//! Hostile WebSocket clients against the real `ctibridge` binary, run as a
//! child process with a config pointing at the in-test Asterisk.
//!
//! Each test signs in a well-behaved client before the abuse and checks it
//! still receives a call's events afterwards, in order and keeping the
//! PROTOCOL.md invariants; and it compares the process's resident memory
//! (VmRSS in /proc/<pid>/status, less transparent huge pages: see
//! [`Proc::rss_kb`]) after the abuse with its level before, once every
//! hostile connection is gone. A warm-up round of the same abuse comes
//! before the first figure, so the allocator's arenas (and, under qemu-user,
//! the emulator's code cache: /proc then shows qemu's process) are already
//! at their working size; what must not grow is what a round leaves behind.
//!
//! Hostile frames are written by hand on raw TCP sockets ([`frame`]).
//! Timeouts (the header timeout of a slow handshake) are tested in-process
//! against `ws::Server` with short settings, at the end of this file.

mod common;

use async_executor::{LocalExecutor, Task};
use async_io::Timer;
use async_net::TcpStream;
use async_tungstenite::tungstenite::Message;
use common::capture::{call_bytes, call_ids};
use common::fake_ami::{FakeAmi, FakeOptions};
use common::invariants::{self, Seen};
use ctibridge::limits::WS_MAX_MESSAGE;
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

const TOKEN_1000: &str = "alice-token-0123456789";
const TOKEN_1002: &str = "bob-token-0123456789ab";
const TOKEN_1006: &str = "carol-token-0123456789";
/// A token an intruder tries.
const GUESS: &str = "guess-token-0123456789";

/// How much higher VmRSS may be after the abuse than before it, in kB. A
/// round of abuse opens hundreds or thousands of connections; a leak of
/// even a few hundred bytes each would pass this.
const RSS_TOLERANCE_KB: u64 = 512;

// ---------------------------------------------------------------- the binary

/// The running binary; killed when dropped.
struct Proc {
    child: Child,
    ws: SocketAddr,
    health: SocketAddr,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS of the process now, in kB, less its transparent huge pages
    /// (`AnonHugePages` in /proc/<pid>/smaps_rollup). Under qemu-user the
    /// emulator's translation buffer is `madvise(MADV_HUGEPAGE)`d, so new
    /// guest code shows as 2 MB steps that are the emulator's, not the
    /// bridge's; natively the figure is 0 (the allocator asks for no huge
    /// pages) and this is VmRSS.
    fn rss_kb(&self) -> u64 {
        let kb = |text: &str, key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        };
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let rss = kb(&status, "VmRSS:").expect("VmRSS in /proc/<pid>/status");
        let huge = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid()))
            .ok()
            .and_then(|t| kb(&t, "AnonHugePages:"))
            .unwrap_or(0);
        if huge > 0 {
            eprintln!("(VmRSS {rss} kB, of which {huge} kB in transparent huge pages)");
        }
        rss - huge
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A free port on 127.0.0.1 (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start the binary: itself, or through qemu-user. A test binary
/// running under qemu-user cannot always exec a foreign binary directly
/// (without binfmt_misc the exec fails, or glibc hands the file to
/// /bin/sh), so the first way that prints the version is kept.
fn launcher() -> &'static [&'static str] {
    static WAY: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    WAY.get_or_init(|| {
        let bin = env!("CARGO_BIN_EXE_ctibridge");
        let ways: [&[&str]; 3] = [
            &[bin],
            &["qemu-aarch64", bin],
            &["qemu-arm", "-L", "/usr/arm-linux-gnueabihf", bin],
        ];
        for way in ways {
            let out = Command::new(way[0])
                .args(&way[1..])
                .arg("--version")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output();
            if out.is_ok_and(|o| o.stdout.starts_with(b"ctibridge ")) {
                return way.to_vec();
            }
        }
        panic!("cannot run {bin}, directly or under qemu-aarch64 or qemu-arm");
    })
}

/// Starts `ctibridge run` for the fake PBX at `fake`, with `extra`
/// top-level config keys (each ending with a comma).
fn spawn_bridge(test: &str, fake: SocketAddr, extra: &str) -> Proc {
    let dir = std::env::temp_dir().join(format!("ctibridge-hostile-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ws_port, health_port) = (free_port(), free_port());
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{
              "url": "127.0.0.1", "port": {port}, "userName": "bridge", "secret": "s3cret",
              "protocol": "PJSIP/", "pingIntervalS": 20, "actionTimeoutS": 2,
              "wsListen": "127.0.0.1:{ws_port}", "healthListen": "127.0.0.1:{health_port}",
              {extra}
              "users": [
                {{ "name": "Alice", "line": "1000", "token": "{TOKEN_1000}" }},
                {{ "name": "Bob", "line": "1002", "token": "{TOKEN_1002}" }},
                {{ "name": "Carol", "line": "1006", "token": "{TOKEN_1006}", "debug": true }}
              ]
            }}"#,
            port = fake.port()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let log = dir.join("stderr.log");
    let bin = env!("CARGO_BIN_EXE_ctibridge");
    let spawn = |cmd: &mut Command| {
        cmd.args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
    };
    let mut cmd = Command::new(launcher()[0]);
    cmd.args(&launcher()[1..]);
    let child = spawn(&mut cmd).unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    Proc {
        child,
        ws: SocketAddr::from(([127, 0, 0, 1], ws_port)),
        health: SocketAddr::from(([127, 0, 0, 1], health_port)),
        log,
    }
}

// ---------------------------------------------------------------- clients

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    futures_lite::future::or(f, async {
        Timer::after(Duration::from_secs(60)).await;
        panic!("timed out: {what}");
    })
    .await
}

/// GET /health; `None` while nothing answers yet.
async fn health(p: &Proc) -> Option<Value> {
    let mut s = TcpStream::connect(p.health).await.ok()?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    serde_json::from_str(out.split("\r\n\r\n").nth(1)?).ok()
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Polls /health every 10 ms until `cond` holds.
async fn wait_health(p: &Proc, what: &str, mut cond: impl FnMut(&Value) -> bool) -> Value {
    within(what, async {
        loop {
            if let Some(h) = health(p).await {
                if cond(&h) {
                    return h;
                }
            }
            Timer::after(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// A well-behaved client that reads every frame as it comes.
struct Client {
    seen: Rc<RefCell<Vec<Value>>>,
    _reader: Task<()>,
}

impl Client {
    async fn signed_in(ex: &Rc<LocalExecutor<'static>>, addr: SocketAddr, token: &str) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut ws, _) = async_tungstenite::client_async(format!("ws://{addr}/"), tcp)
            .await
            .unwrap();
        ws.send(Message::text(
            json!({"op": "auth", "id": "a", "token": token}).to_string(),
        ))
        .await
        .unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let into = seen.clone();
        let reader = ex.spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    into.borrow_mut().push(serde_json::from_str(&t).unwrap());
                }
            }
        });
        let c = Client {
            seen,
            _reader: reader,
        };
        within("sign-in", async {
            while c.seen.borrow().is_empty() {
                Timer::after(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(c.seen.borrow()[0]["ok"], json!(true));
        c
    }

    fn of_call(&self, call: &str) -> Vec<String> {
        self.seen
            .borrow()
            .iter()
            .filter(|e| e["call"] == call)
            .map(|e| e["event"].as_str().unwrap_or("").to_string())
            .collect()
    }

    fn assert_invariants(&self, who: &str) {
        let seen: Vec<Seen> = self
            .seen
            .borrow()
            .iter()
            .filter_map(|v| Seen::from_json(&v.to_string()))
            .collect();
        if let Err(e) = invariants::check(&seen) {
            panic!("{who}: {e}");
        }
    }
}

/// Plays call `n` and waits until Bob's client (line 1002) has its whole
/// life: RingStarted then RingFinished.
async fn bob_receives_call(fake: &FakeAmi, bob: &Client, n: u32) {
    fake.send_raw(&call_bytes(n), false);
    let (_, b) = call_ids(n);
    within("the good client's call", async {
        while bob.of_call(&b).len() < 2 {
            Timer::after(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(bob.of_call(&b), ["RingStarted", "RingFinished"]);
}

/// A WebSocket frame as a client writes it: masked with `mask` (or, for a
/// hostile client, not masked at all).
fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = header(fin, opcode, payload.len() as u64, mask);
    match mask {
        Some(m) => f.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4])),
        None => f.extend_from_slice(payload),
    }
    f
}

/// Only the header of a frame announcing `len` payload bytes.
fn header(fin: bool, opcode: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        f.push(m | len as u8);
    } else if len <= 0xffff {
        f.push(m | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(m | 127);
        f.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(k) = mask {
        f.extend_from_slice(&k);
    }
    f
}

const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);
const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// A client on a raw socket: it writes whatever bytes it likes.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Upgraded to WebSocket (a correct handshake), not signed in.
    async fn upgraded(addr: SocketAddr, path: &str) -> Raw {
        Raw::upgrade(TcpStream::connect(addr).await.unwrap(), path).await
    }

    /// Upgraded on a socket whose receive buffer is `bytes` small, so a
    /// client that does not read fills it quickly.
    async fn upgraded_small(addr: SocketAddr, path: &str, bytes: usize) -> Raw {
        use socket2::{Domain, Socket, Type};
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(bytes).unwrap();
        sock.connect(&addr.into()).unwrap();
        let std: std::net::TcpStream = sock.into();
        let tcp = TcpStream::try_from(std).unwrap();
        Raw::upgrade(tcp, path).await
    }

    async fn upgrade(mut tcp: TcpStream, path: &str) -> Raw {
        tcp.write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut raw = Raw {
            tcp,
            buf: Vec::new(),
        };
        let end = within("the upgrade answer", async {
            loop {
                if let Some(i) = common::capture::find(&raw.buf, b"\r\n\r\n") {
                    break i + 4;
                }
                assert!(raw.fill().await, "closed during the handshake");
            }
        })
        .await;
        assert!(
            raw.buf.starts_with(b"HTTP/1.1 101"),
            "{:?}",
            String::from_utf8_lossy(&raw.buf)
        );
        raw.buf.drain(..end);
        raw
    }

    /// Upgraded and signed in with `token` (an `auth` frame).
    async fn signed_in(addr: SocketAddr, token: &str) -> Raw {
        let mut raw = Raw::upgraded(addr, "/").await;
        let auth = json!({"op": "auth", "id": "a", "token": token}).to_string();
        raw.send(&frame(true, TEXT, auth.as_bytes(), MASK)).await;
        let r = raw.text().await.expect("the auth result");
        assert_eq!(r["ok"], json!(true), "{r}");
        raw
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The server may close first; the test reads why.
        let _ = self.tcp.write_all(bytes).await;
    }

    /// Reads more; false at the end of the stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next frame from the server: (opcode, payload); `None` at the end.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let op = self.buf[0] & 0x0f;
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are not masked");
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return Some((op, payload));
                }
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next text frame as JSON, control frames skipped; `None` at a
    /// close or the end.
    async fn text(&mut self) -> Option<Value> {
        loop {
            match within("a frame", self.frame()).await? {
                (TEXT, p) => return Some(serde_json::from_slice(&p).unwrap()),
                (CLOSE, _) => return None,
                _ => continue,
            }
        }
    }

    /// Reads up to the server's close frame: its code, and the text frames
    /// before it that are not call events. `None` as the code when the socket ended without one.
    async fn close_code(&mut self) -> (Option<u16>, Vec<Value>) {
        let mut texts = Vec::new();
        loop {
            match within("the close", self.frame()).await {
                None => return (None, texts),
                Some((CLOSE, p)) => {
                    return (p.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])), texts)
                }
                Some((TEXT, p)) => {
                    let v: Value = serde_json::from_slice(&p).unwrap();
                    // Call events of the line are not what the test reads.
                    if v.get("event").is_none() {
                        texts.push(v);
                    }
                }
                Some(_) => continue,
            }
        }
    }
}

// ---------------------------------------------------------------- the harness

/// What every binary test shares: the fake PBX, the binary, Bob's
/// well-behaved client (line 1002), and the calls played so far.
struct Scene {
    ex: Rc<LocalExecutor<'static>>,
    fake: FakeAmi,
    p: Proc,
    bob: Client,
    calls: RefCell<u32>,
}

impl Scene {
    async fn new(ex: &Rc<LocalExecutor<'static>>, test: &str, extra: &str) -> Scene {
        let fake = FakeAmi::start(ex, FakeOptions::default());
        let p = spawn_bridge(test, fake.addr(), extra);
        let log = p.log.clone();
        within("the binary logged in", async {
            loop {
                if let Some(h) = health(&p).await {
                    if h["ami"]["connected"] == true {
                        break;
                    }
                }
                Timer::after(Duration::from_millis(20)).await;
            }
        })
        .await;
        let _ = log;
        let bob = Client::signed_in(ex, p.ws, TOKEN_1002).await;
        let s = Scene {
            ex: ex.clone(),
            fake,
            p,
            bob,
            calls: RefCell::new(0),
        };
        // Warms up the call path too: under qemu-user, code run for the
        // first time grows the emulator's translation cache, which would
        // show as growth between the two memory figures.
        s.good_client_still_served().await;
        s
    }

    /// Plays the next call; the good client receives it whole.
    async fn good_client_still_served(&self) {
        let n = {
            let mut c = self.calls.borrow_mut();
            *c += 1;
            *c
        };
        bob_receives_call(&self.fake, &self.bob, n).await;
    }

    /// Waits until only the good client's connection is open.
    async fn hostile_ones_gone(&self) -> Value {
        wait_health(&self.p, "every hostile connection closed", |h| {
            num(&h["clients"]["connected"]) == 1
        })
        .await
    }

    /// The abuse's last checks: the good client got everything in order,
    /// and memory came back to `before` (kB), within the tolerance.
    async fn memory_back(&self, test: &str, before: u64) -> u64 {
        self.hostile_ones_gone().await;
        // Freed memory may reach the figures a moment late.
        Timer::after(Duration::from_millis(200)).await;
        let after = self.p.rss_kb();
        eprintln!("{test}: VmRSS before {before} kB, after {after} kB (huge pages left out)");
        assert!(
            after <= before + RSS_TOLERANCE_KB,
            "{test}: VmRSS grew from {before} kB to {after} kB (tolerance {RSS_TOLERANCE_KB} kB)"
        );
        self.bob.assert_invariants("bob");
        self.no_secret_logged();
        after
    }

    /// The binary logged (at debug level) but never the AMI secret or a
    /// token, whatever the clients sent.
    fn no_secret_logged(&self) {
        let log = self.p.log_text();
        assert!(log.contains("signed in"), "the log is captured: {log}");
        for secret in ["s3cret", TOKEN_1000, TOKEN_1002, TOKEN_1006, GUESS] {
            for line in log.lines() {
                assert!(!line.contains(secret), "{secret:?} in the log line: {line}");
            }
        }
    }
}

fn run(f: impl FnOnce(Rc<LocalExecutor<'static>>) -> std::pin::Pin<Box<dyn Future<Output = ()>>>) {
    let ex = Rc::new(LocalExecutor::new());
    futures_lite::future::block_on(ex.run(f(ex.clone())));
}

// ---------------------------------------------------------------- the abuses

/// 1,000 connections that come and go: signed in then dropped without a
/// close frame, signed in then closed properly, upgraded and dropped
/// before signing in, and plain TCP connect-and-close. Eight at a time.
#[test]
fn a_thousand_connect_and_disconnect_cycles() {
    const CYCLES: usize = 1000;
    async fn cycle(addr: SocketAddr, i: usize) {
        match i % 4 {
            0 => drop(Raw::signed_in(addr, TOKEN_1000).await),
            1 => {
                let mut r = Raw::signed_in(addr, TOKEN_1000).await;
                r.send(&frame(true, CLOSE, &1000u16.to_be_bytes(), MASK))
                    .await;
                let (code, _) = r.close_code().await;
                assert_eq!(code, Some(1000));
            }
            2 => drop(Raw::upgraded(addr, "/").await),
            _ => drop(TcpStream::connect(addr).await.unwrap()),
        }
    }
    async fn round(s: &Scene, n: usize) {
        for start in (0..n).step_by(8) {
            let tasks: Vec<_> = (start..(start + 8).min(n))
                .map(|i| s.ex.spawn(cycle(s.p.ws, i)))
                .collect();
            for t in tasks {
                t.await;
            }
        }
    }
    run(|ex| {
        Box::pin(async move {
            let s = Scene::new(&ex, "cycles", "").await;
            round(&s, 200).await;
            s.hostile_ones_gone().await;
            let before = s.p.rss_kb();
            round(&s, CYCLES / 2).await;
            s.good_client_still_served().await;
            round(&s, CYCLES / 2).await;
            s.good_client_still_served().await;
            let h = s.hostile_ones_gone().await;
            // Nothing was refused and no sign-in failed.
            assert_eq!(num(&h["clients"]["refused"]), 0, "{h}");
            assert_eq!(num(&h["clients"]["auth_failures"]), 0, "{h}");
            s.memory_back("1,000 cycles", before).await;
        })
    });
}

/// Half-open connections hold slots: 100 that send nothing and 100 that
/// send half a handshake. While they hang, the good client is served and
/// /health counts them; once they are gone, their slots and memory are
/// back. (The server's own timeout for them is tested in-process below.)
#[test]
fn half_open_connections() {
    async fn open_round(s: &Scene, n: usize) -> Vec<TcpStream> {
        let mut held = Vec::new();
        for i in 0..n {
            let mut tcp = TcpStream::connect(s.p.ws).await.unwrap();
            if i % 2 == 1 {
                tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: webs")
                    .await
                    .unwrap();
            }
            held.push(tcp);
        }
        held
    }
    run(|ex| {
        Box::pin(async move {
            let s = Scene::new(&ex, "half-open", "").await;
            // The warm-up is the measured round: as many connections at
            // once, a call meanwhile.
            let held = open_round(&s, 200).await;
            wait_health(&s.p, "the warm-up connections counted", |h| {
                num(&h["clients"]["connected"]) == 201
            })
            .await;
            s.good_client_still_served().await;
            drop(held);
            s.hostile_ones_gone().await;
            let before = s.p.rss_kb();
            let held = open_round(&s, 200).await;
            let h = wait_health(&s.p, "the half-open connections counted", |h| {
                num(&h["clients"]["connected"]) == 201
            })
            .await;
            assert_eq!(num(&h["clients"]["refused"]), 0, "{h}");
            s.good_client_still_served().await;
            drop(held);
            s.memory_back("200 half-open connections", before).await;
            // Closed by the clients, well within the binary's 10 s.
            let h = health(&s.p).await.unwrap();
            assert_eq!(num(&h["clients"]["handshake_timeouts"]), 0, "{h}");
        })
    });
}

/// Frames over the message limit: one announcing 1 MB, one announcing
/// 2^62 bytes, a text message fragmented into continuations that together
/// pass the limit, and a flood of one-byte continuations. Each connection
/// is closed with 1009 (with a `too_large` result when a message was
/// measured); a continuation with no message to continue is a protocol
/// error (1002).
#[test]
fn oversized_and_fragmented_frames() {
    async fn abuse(addr: SocketAddr) {
        // One frame announcing 1 MB, with its first bytes.
        let mut r = Raw::signed_in(addr, TOKEN_1000).await;
        let mut f = header(true, TEXT, 1 << 20, MASK);
        f.extend(std::iter::repeat_n(b'x', 4096));
        r.send(&f).await;
        let (code, _) = r.close_code().await;
        assert_eq!(code, Some(1009), "1 MB frame");

        // A frame announcing 2^62 bytes.
        let mut r = Raw::signed_in(addr, TOKEN_1000).await;
        r.send(&header(true, TEXT, 1 << 62, MASK)).await;
        let (code, _) = r.close_code().await;
        assert_eq!(code, Some(1009), "2^62-byte frame");

        // Fragments of 8 kB: the third passes the message limit.
        let mut r = Raw::signed_in(addr, TOKEN_1000).await;
        let chunk = vec![b' '; 8 * 1024];
        r.send(&frame(false, TEXT, b"{", MASK)).await;
        for _ in 0..(WS_MAX_MESSAGE / chunk.len() + 1) {
            r.send(&frame(false, CONTINUATION, &chunk, MASK)).await;
        }
        let (code, texts) = r.close_code().await;
        assert_eq!(code, Some(1009), "fragmented past the limit");
        assert_eq!(texts.last().unwrap()["code"], "too_large", "{texts:?}");

        // One-byte continuations, many more than the limit allows.
        let mut r = Raw::signed_in(addr, TOKEN_1000).await;
        let mut flood = frame(false, TEXT, b"{", MASK);
        for _ in 0..WS_MAX_MESSAGE + 16 {
            flood.extend_from_slice(&frame(false, CONTINUATION, b" ", MASK));
        }
        r.send(&flood).await;
        let (code, _) = r.close_code().await;
        assert_eq!(code, Some(1009), "one-byte continuations");

        // A continuation of nothing.
        let mut r = Raw::signed_in(addr, TOKEN_1000).await;
        r.send(&frame(true, CONTINUATION, b"}", MASK)).await;
        let (code, _) = r.close_code().await;
        assert_eq!(code, Some(1002), "continuation without a start");
    }
    run(|ex| {
        Box::pin(async move {
            let s = Scene::new(&ex, "oversized", "").await;
            abuse(s.p.ws).await;
            s.hostile_ones_gone().await;
            let before = s.p.rss_kb();
            let addr = s.p.ws;
            let abuser = s.ex.spawn(async move {
                for _ in 0..20 {
                    abuse(addr).await;
                }
            });
            // Calls while the abuse goes on, and after.
            s.good_client_still_served().await;
            s.good_client_still_served().await;
            abuser.await;
            s.good_client_still_served().await;
            s.memory_back("oversized and fragmented frames", before)
                .await;
            // Five bad connections per round, 21 rounds.
            let h = health(&s.p).await.unwrap();
            assert_eq!(num(&h["clients"]["bad_frames"]), 5 * 21, "{h}");
        })
    });
}

/// A text frame that is not UTF-8 closes its connection with 1007 and a
/// result saying why; an unmasked client frame is a protocol error, 1002.
/// Both before and after signing in.
#[test]
fn invalid_utf8_and_unmasked_frames() {
    async fn abuse(addr: SocketAddr) {
        for signed in [false, true] {
            let mut r = if signed {
                Raw::signed_in(addr, TOKEN_1000).await
            } else {
                Raw::upgraded(addr, "/").await
            };
            r.send(&frame(
                true,
                TEXT,
                b"{\"op\":\"ping\",\"id\":\"\xff\xfe\xc0\"}",
                MASK,
            ))
            .await;
            let (code, texts) = r.close_code().await;
            assert_eq!(code, Some(1007), "invalid UTF-8, signed in: {signed}");
            assert_eq!(texts.last().unwrap()["ok"], false);

            let mut r = if signed {
                Raw::signed_in(addr, TOKEN_1000).await
            } else {
                Raw::upgraded(addr, "/").await
            };
            let ping = json!({"op": "ping", "id": 1}).to_string();
            r.send(&frame(true, TEXT, ping.as_bytes(), None)).await;
            let (code, texts) = r.close_code().await;
            assert_eq!(code, Some(1002), "unmasked, signed in: {signed}");
            assert!(
                texts.is_empty(),
                "the unmasked ping was not answered: {texts:?}"
            );
        }
    }
    run(|ex| {
        Box::pin(async move {
            let s = Scene::new(&ex, "utf8", "").await;
            abuse(s.p.ws).await;
            s.hostile_ones_gone().await;
            let before = s.p.rss_kb();
            let addr = s.p.ws;
            let abuser = s.ex.spawn(async move {
                for _ in 0..50 {
                    abuse(addr).await;
                }
            });
            // Calls while the abuse goes on, and after.
            s.good_client_still_served().await;
            s.good_client_still_served().await;
            abuser.await;
            s.good_client_still_served().await;
            s.memory_back("invalid UTF-8 and unmasked frames", before)
                .await;
            // Four bad connections per round, 51 rounds.
            let h = health(&s.p).await.unwrap();
            assert_eq!(num(&h["clients"]["bad_frames"]), 4 * 51, "{h}");
        })
    });
}

/// 10,000 pings of 125 bytes in one burst from a signed-in client. Pings
/// are legal: the connection stays, answers come (the last ping's payload
/// among them), a command after the flood is answered, and the good client
/// is served meanwhile.
#[test]
fn a_ping_flood() {
    const PINGS: usize = 10_000;
    async fn flood(addr: SocketAddr, n: usize) {
        let mut r = Raw::signed_in(addr, TOKEN_1000).await;
        let mut burst = Vec::new();
        for i in 0..n {
            let mut payload = [b'p'; 125];
            payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
            burst.extend_from_slice(&frame(true, PING, &payload, MASK));
        }
        let ping = json!({"op": "ping", "id": "after"}).to_string();
        burst.extend_from_slice(&frame(true, TEXT, ping.as_bytes(), MASK));
        // Write while reading, as a real client would; the server may
        // answer fewer pongs than pings (one pending pong at a time).
        let mut wr = r.tcp.clone();
        let writer = async move {
            wr.write_all(&burst).await.unwrap();
        };
        let reader = async {
            let mut pongs = 0usize;
            loop {
                match r.frame().await {
                    Some((0xA, _)) => pongs += 1,
                    Some((TEXT, p)) => {
                        let v: Value = serde_json::from_slice(&p).unwrap();
                        if v.get("event").is_some() {
                            // Line 1000's part of the calls played meanwhile.
                            continue;
                        }
                        assert_eq!(v["id"], "after", "{v}");
                        assert_eq!(v["ok"], true, "{v}");
                        return pongs;
                    }
                    Some((op, _)) => panic!("unexpected opcode {op}"),
                    None => panic!("the flooding client was closed"),
                }
            }
        };
        let ((), pongs) = within(
            "the flood answered",
            futures_lite::future::zip(writer, reader),
        )
        .await;
        assert!(pongs >= 1, "no pong at all");
        eprintln!("a ping flood: {n} pings answered with {pongs} pongs");
        r.send(&frame(true, CLOSE, &1000u16.to_be_bytes(), MASK))
            .await;
        let (code, _) = r.close_code().await;
        assert_eq!(code, Some(1000));
    }
    run(|ex| {
        Box::pin(async move {
            let s = Scene::new(&ex, "pings", "").await;
            flood(s.p.ws, PINGS / 10).await;
            s.hostile_ones_gone().await;
            let before = s.p.rss_kb();
            let flooding = s.ex.spawn(flood(s.p.ws, PINGS));
            s.good_client_still_served().await;
            flooding.await;
            s.good_client_still_served().await;
            s.memory_back("a ping flood", before).await;
        })
    });
}

/// A signed-in client that never reads: Carol (line 1006, `debug` on, so
/// every AMI packet naming her line's channel reaches her as a `Raw`
/// event), signed in with the query token so not even the auth result is
/// due. Packets of 7 kB for her line keep coming; once her socket and her
/// queue are full she is closed with 1008 and counted as `closed_slow`,
/// while Bob receives the call played with each batch.
#[test]
fn a_client_that_never_reads() {
    /// A 7 kB packet naming Carol's channel.
    fn fat(i: usize) -> Vec<u8> {
        format!(
            "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/1006-00000001\r\n\
             Uniqueid: 1800000000.1\r\nVariable: FILLER{i}\r\nValue: {}\r\n\r\n",
            "v".repeat(7000)
        )
        .into_bytes()
    }
    run(|ex| {
        Box::pin(async move {
            let s = Scene::new(&ex, "never-reads", "").await;
            let carol_connects = |s: &Scene| {
                let addr = s.p.ws;
                async move { Raw::upgraded_small(addr, &format!("/?token={TOKEN_1006}"), 4096).await }
            };
            let mut stalled = Some(carol_connects(&s).await);
            let mut played = Vec::new();
            let mut packets = 0;
            let mut before = None;
            for pass in 0..2u64 {
                if pass == 1 {
                    // The first pass was the warm-up.
                    s.hostile_ones_gone().await;
                    before = Some(s.p.rss_kb());
                    stalled = Some(carol_connects(&s).await);
                }
                wait_health(&s.p, "Carol signed in", |h| {
                    num(&h["clients"]["connected"]) == 2
                })
                .await;
                loop {
                    let mut batch = Vec::new();
                    for _ in 0..50 {
                        batch.extend_from_slice(&fat(packets));
                        packets += 1;
                    }
                    let n = {
                        let mut c = s.calls.borrow_mut();
                        *c += 1;
                        *c
                    };
                    batch.extend_from_slice(&call_bytes(n));
                    played.push(n);
                    s.fake.send_raw(&batch, false);
                    let (_, b) = call_ids(n);
                    within("Bob's call of the batch", async {
                        while s.bob.of_call(&b).len() < 2 {
                            Timer::after(Duration::from_millis(5)).await;
                        }
                    })
                    .await;
                    let h = health(&s.p).await.unwrap();
                    if num(&h["clients"]["closed_slow"]) > pass {
                        assert_eq!(num(&h["clients"]["closed_slow"]), pass + 1, "{h}");
                        break;
                    }
                    assert!(packets < 20_000, "the stalled client was never closed: {h}");
                }
                // Now it reads: what it finds at the end is the 1008.
                let mut r = stalled.take().unwrap();
                let (code, _) = r.close_code().await;
                assert_eq!(code, Some(1008), "pass {pass}");
            }
            eprintln!(
                "a client that never reads: closed twice after {packets} packets of 7 kB in all"
            );
            // Bob got every call, whole.
            for n in &played {
                let (_, b) = call_ids(*n);
                assert_eq!(
                    s.bob.of_call(&b),
                    ["RingStarted", "RingFinished"],
                    "call {n}"
                );
            }
            s.good_client_still_served().await;
            s.memory_back("a client that never reads", before.unwrap())
                .await;
            assert!(s.p.log_text().contains("too slow"), "{}", s.p.log_text());
        })
    });
}

/// Toll-fraud guards with the binary's defaults: a panel that dials fast
/// gets 10 calls a minute, and the 11th is refused with a sentence saying
/// so (never reaching Asterisk, counted on /health); an intruder guessing
/// tokens gets 3 tries, then even the right token is refused unchecked
/// from that address for a while. Nothing secret is logged.
#[test]
fn toll_fraud_guards_with_the_defaults() {
    run(|ex| {
        Box::pin(async move {
            let s = Scene::new(&ex, "toll-fraud", "").await;
            let mut alice = Raw::signed_in(s.p.ws, TOKEN_1000).await;
            let originates = || {
                s.fake
                    .actions()
                    .iter()
                    .filter(|a| common::fake_ami::field(a, "Action") == Some("Originate"))
                    .count()
            };
            for i in 0..=10 {
                let call = json!({"op": "call", "id": i, "number": "0612345678"}).to_string();
                alice.send(&frame(true, TEXT, call.as_bytes(), MASK)).await;
                let r = loop {
                    let v = alice.text().await.expect("a result");
                    if v["op"] == "result" {
                        break v;
                    }
                };
                assert_eq!(r["id"], i, "{r}");
                if i < 10 {
                    assert_eq!(r["ok"], true, "call {i}: {r}");
                } else {
                    assert_eq!(r["code"], "rate_limited", "{r}");
                    let text = r["error"].as_str().unwrap();
                    assert!(
                        text.contains("user 'Alice' may start 10 calls per minute; try again in"),
                        "{text}"
                    );
                }
            }
            assert_eq!(originates(), 10, "the 11th never reached Asterisk");
            let h = health(&s.p).await.unwrap();
            assert_eq!(num(&h["dropped"]["commands_rate_limited"]), 1, "{h}");

            // An intruder from the same address guesses tokens.
            for _ in 0..3 {
                let mut r = Raw::upgraded(s.p.ws, "/").await;
                let auth = json!({"op": "auth", "id": "g", "token": GUESS}).to_string();
                r.send(&frame(true, TEXT, auth.as_bytes(), MASK)).await;
                let (code, texts) = r.close_code().await;
                assert_eq!(
                    (code, texts[0]["code"].clone()),
                    (Some(1008), json!("bad_token"))
                );
            }
            let mut r = Raw::upgraded(s.p.ws, "/").await;
            let auth = json!({"op": "auth", "id": "g", "token": TOKEN_1000}).to_string();
            r.send(&frame(true, TEXT, auth.as_bytes(), MASK)).await;
            let (code, texts) = r.close_code().await;
            assert_eq!(code, Some(1008));
            assert_eq!(texts[0]["code"], "rate_limited", "{texts:?}");
            assert!(
                texts[0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("too many failed sign-ins from 127.0.0.1"),
                "{texts:?}"
            );
            let h = health(&s.p).await.unwrap();
            assert_eq!(num(&h["clients"]["auth_failures"]), 3, "{h}");
            // Alice, signed in before, is unaffected.
            let ping = json!({"op": "ping", "id": "p"}).to_string();
            alice.send(&frame(true, TEXT, ping.as_bytes(), MASK)).await;
            let r = loop {
                let v = alice.text().await.expect("the ping result");
                if v["id"] == "p" {
                    break v;
                }
            };
            assert_eq!(r["ok"], true, "{r}");
            s.good_client_still_served().await;
            s.no_secret_logged();
        })
    });
}

// ---------------------------------------------------------------- timeouts, in-process

/// The WebSocket server alone, with short timeouts (the binary's are 10 s).
mod timeouts {
    use super::*;
    use ctibridge::ws::{
        Backend, Command, CommandError, Done, Hub, LocalFuture, Server, Settings, User, UserEntry,
        Users,
    };

    struct NoCalls;

    impl Backend for NoCalls {
        fn snapshot(&self, _: &str) -> Vec<String> {
            Vec::new()
        }
        fn owns_call(&self, _: &str, _: &str) -> bool {
            false
        }
        fn execute<'a>(
            &'a self,
            _: &'a User,
            _: Command,
        ) -> LocalFuture<'a, Result<Done, CommandError>> {
            Box::pin(async { Ok(Done::default()) })
        }
    }

    const HANDSHAKE: Duration = Duration::from_millis(400);

    fn server(
        ex: &Rc<LocalExecutor<'static>>,
        max_clients: usize,
    ) -> (Server, Rc<Hub>, SocketAddr) {
        let listener =
            futures_lite::future::block_on(async_net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let hub = Hub::new(256);
        let users = Users::new([UserEntry {
            user: User {
                name: "Bob".into(),
                line: "1002".into(),
                debug: false,
            },
            token: TOKEN_1002.into(),
        }])
        .unwrap();
        let settings = Settings {
            max_clients,
            handshake_timeout: HANDSHAKE,
            ..Settings::default()
        };
        let server = Server::new(settings, users, hub.clone(), Rc::new(NoCalls));
        let (s, ex2) = (server.clone(), ex.clone());
        ex.spawn(async move { s.serve(listener, ex2).await })
            .detach();
        (server, hub, addr)
    }

    /// Reads until the server ends the connection; what it sent.
    async fn until_closed(tcp: &mut TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = within(
            "the server to drop the connection",
            tcp.read_to_end(&mut out),
        )
        .await;
        out
    }

    /// A slow handshake (slowloris): one byte of the request head every
    /// 50 ms. The server drops it at the header timeout although bytes keep
    /// coming, without an upgrade, and its slot is free again.
    #[test]
    fn a_slow_handshake_is_cut_at_the_header_timeout() {
        let ex = Rc::new(LocalExecutor::new());
        let (server, hub, addr) = server(&ex, 16);
        futures_lite::future::block_on(ex.run(async {
            let mut bob = Raw::signed_in(addr, TOKEN_1002).await;
            let mut slow = TcpStream::connect(addr).await.unwrap();
            let head = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
            let started = std::time::Instant::now();
            let mut sent = 0;
            for b in head.iter() {
                if slow.write_all(&[*b]).await.is_err() {
                    break;
                }
                sent += 1;
                Timer::after(Duration::from_millis(50)).await;
                if started.elapsed() > HANDSHAKE * 4 {
                    break;
                }
            }
            let answer = until_closed(&mut slow).await;
            assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
            assert!(sent < head.len(), "the whole head went through ({sent} bytes)");
            within("the slot freed", async {
                while server.stats().connected != 1 {
                    Timer::after(Duration::from_millis(10)).await;
                }
            })
            .await;
            assert_eq!(server.stats().handshake_timeouts, 1);
            // Bob was served throughout.
            hub.publish("1002", &json!({"event":"RingStarted","line":"1002","call":"c1"}).to_string());
            assert_eq!(bob.text().await.unwrap()["call"], "c1");
        }));
    }

    /// Half-open connections fill every slot: a new client is refused
    /// (1013, counted) while they hang; at the handshake timeout they are
    /// dropped, and the next client signs in.
    #[test]
    fn half_open_connections_lose_their_slots_at_the_timeout() {
        let ex = Rc::new(LocalExecutor::new());
        let (server, _hub, addr) = server(&ex, 8);
        futures_lite::future::block_on(ex.run(async {
            let mut held = Vec::new();
            for i in 0..8 {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                if i % 2 == 1 {
                    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpg")
                        .await
                        .unwrap();
                }
                held.push(tcp);
            }
            within("the slots taken", async {
                while server.stats().connected != 8 {
                    Timer::after(Duration::from_millis(5)).await;
                }
            })
            .await;
            let mut refused = Raw::upgraded(addr, "/").await;
            let (code, _) = refused.close_code().await;
            assert_eq!(code, Some(1013));
            assert_eq!(server.stats().refused, 1);
            for tcp in &mut held {
                assert!(until_closed(tcp).await.is_empty());
            }
            within("the slots freed", async {
                while server.stats().connected != 0 {
                    Timer::after(Duration::from_millis(5)).await;
                }
            })
            .await;
            let _bob = Raw::signed_in(addr, TOKEN_1002).await;
            assert_eq!(server.stats().signed_in, 1);
            assert_eq!(server.stats().handshake_timeouts, 8);
        }));
    }
}
