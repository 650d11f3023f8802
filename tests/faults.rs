//! Faults on the PBX side, against the whole bridge as `ctibridge run` wires
//! it: the in-test Asterisk (tests/common/fake_ami.rs) drops connections in
//! the middle of a packet, sends garbage, goes silent, refuses connections,
//! restarts with new ids, and floods the channel table.
//!
//! For each fault the same four things are checked: the bridge keeps
//! serving (a client signed in before the fault receives a later call's
//! events, and /health answers), it counts what it dropped (the /health
//! counter named in the test moves by what was dropped), it recovers, and
//! everything each client received keeps the PROTOCOL.md invariants.
//!
//! The calls are the real capture `b_caller_cancel_no_answer.ami`,
//! renumbered (tests/common/capture.rs).

mod common;

use async_executor::{LocalExecutor, Task};
use async_io::Timer;
use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::Message;
use common::capture::{call_bytes, call_ids, ringing_half};
use common::fake_ami::{FakeAmi, FakeOptions, Fields};
use common::invariants::{self, Seen};
use ctibridge::app::{self, Listeners};
use ctibridge::config;
use ctibridge::limits::CHANNELS;
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

type Ws = async_tungstenite::WebSocketStream<TcpStream>;

const TOKEN_1000: &str = "alice-token-0123456789";
const TOKEN_1002: &str = "bob-token-0123456789ab";

// ---------------------------------------------------------------- fixtures

/// Everything this test binary's bridges logged, at trace level.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the binary's own logger at `trace`, writing into [`LOGS`]
/// (once per test binary).
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ctibridge::commands::install_logger(
            Some("trace"),
            env_logger::Target::Pipe(Box::new(Capture)),
        )
        .expect("the only logger of this test binary");
    });
}

/// No log line so far holds the AMI secret or a token, whatever the fault.
fn assert_no_secret_logged() {
    let bytes = LOGS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("signed in"), "the log is captured");
    for secret in ["s3cret", TOKEN_1000, TOKEN_1002] {
        for line in text.lines() {
            assert!(!line.contains(secret), "{secret:?} in the log line: {line}");
        }
    }
}

/// A config for the fake PBX, with `extra` top-level keys (each ending with
/// a comma); `pingIntervalS` 20 and `actionTimeoutS` 2 unless `extra` sets
/// them.
fn config_for(fake: SocketAddr, extra: &str) -> config::Config {
    let timing = if extra.contains("pingIntervalS") {
        ""
    } else {
        r#""pingIntervalS": 20, "actionTimeoutS": 2,"#
    };
    let text = format!(
        r#"{{
          "url": "127.0.0.1", "port": {port}, "userName": "bridge", "secret": "s3cret",
          "protocol": "PJSIP/", {timing}
          {extra}
          "users": [
            {{ "name": "Alice", "line": "1000", "token": "{TOKEN_1000}" }},
            {{ "name": "Bob", "line": "1002", "token": "{TOKEN_1002}" }}
          ]
        }}"#,
        port = fake.port(),
    );
    config::parse(text.as_bytes(), std::path::Path::new("."))
        .expect("test config")
        .0
}

/// A client that reads every frame as it comes, so it never falls behind.
struct Client {
    seen: Rc<RefCell<Vec<Value>>>,
    _reader: Task<()>,
}

impl Client {
    fn events(&self) -> Vec<Value> {
        self.seen.borrow().clone()
    }

    /// The events of call `call`, by name.
    fn of_call(&self, call: &str) -> Vec<String> {
        self.seen
            .borrow()
            .iter()
            .filter(|e| e["call"] == call)
            .map(|e| e["event"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// The `RingFinished` of `call`, once it came.
    fn finished(&self, call: &str) -> Option<Value> {
        self.seen
            .borrow()
            .iter()
            .find(|e| e["call"] == call && e["event"] == "RingFinished")
            .cloned()
    }

    /// Panics with the broken rule unless everything received keeps the
    /// PROTOCOL.md invariants.
    fn assert_invariants(&self, who: &str) {
        let seen: Vec<Seen> = self
            .seen
            .borrow()
            .iter()
            .filter_map(|v| Seen::from_json(&v.to_string()))
            .collect();
        if let Err(e) = invariants::check(&seen) {
            panic!("{who}: {e}\n{:#?}", self.seen.borrow());
        }
    }
}

struct Bridge {
    ex: Rc<LocalExecutor<'static>>,
    fake: FakeAmi,
    ws: SocketAddr,
    health: SocketAddr,
    _run: Task<Result<(), app::RunError>>,
}

/// Starts the fake PBX and the bridge, and waits for the first resync.
async fn start(ex: &Rc<LocalExecutor<'static>>, opts: FakeOptions, extra: &str) -> Bridge {
    capture_logs();
    let fake = FakeAmi::start(ex, opts);
    let config = config_for(fake.addr(), extra);
    let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ws_addr, health_addr) = (ws.local_addr().unwrap(), health.local_addr().unwrap());
    let run = ex.spawn(app::run(
        ex.clone(),
        Listeners { ws, health },
        config,
        futures_lite::future::pending(),
    ));
    let b = Bridge {
        ex: ex.clone(),
        fake,
        ws: ws_addr,
        health: health_addr,
        _run: run,
    };
    b.wait("login and resync", |h| {
        h["ami"]["connected"] == true
            && b.fake
                .actions()
                .iter()
                .any(|a| common::fake_ami::field(a, "Action") == Some("CoreShowChannels"))
    })
    .await;
    b
}

impl Bridge {
    /// A client of `token`, signed in and reading.
    async fn client(&self, token: &str) -> Client {
        let tcp = TcpStream::connect(self.ws).await.unwrap();
        let (mut ws, _) = async_tungstenite::client_async(format!("ws://{}/", self.ws), tcp)
            .await
            .unwrap();
        ws.send(Message::text(
            json!({"op": "auth", "id": "a", "token": token}).to_string(),
        ))
        .await
        .unwrap();
        let r = within("sign-in", next_text(&mut ws)).await;
        assert_eq!(r["ok"], json!(true), "{r}");
        let seen = Rc::new(RefCell::new(Vec::new()));
        let into = seen.clone();
        let reader = self.ex.spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    into.borrow_mut().push(serde_json::from_str(&t).unwrap());
                }
            }
        });
        Client {
            seen,
            _reader: reader,
        }
    }

    async fn health(&self) -> Value {
        health_json(self.health).await
    }

    /// Polls `cond` with /health's document every 10 ms; fails the test
    /// after 30 s (qemu included).
    async fn wait(&self, what: &str, mut cond: impl FnMut(&Value) -> bool) {
        within(what, async {
            while !cond(&self.health().await) {
                Timer::after(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    /// Plays call `n` whole and waits until both lines saw it finish: the
    /// bridge still serves.
    async fn later_call_arrives(&self, n: u32, alice: &Client, bob: &Client) {
        self.fake.send_raw(&call_bytes(n), false);
        let (a, b) = call_ids(n);
        self.wait("the later call's RingFinished on both lines", |_| {
            alice.finished(&a).is_some() && bob.finished(&b).is_some()
        })
        .await;
        assert_eq!(alice.of_call(&a)[0], "RingStarted", "{:?}", alice.events());
        assert_eq!(alice.finished(&a).unwrap()["reason"], "cancelled");
        assert_eq!(bob.of_call(&b), ["RingStarted", "RingFinished"]);
        assert_eq!(bob.finished(&b).unwrap()["reason"], "cancelled");
        let h = self.health().await;
        assert_eq!(h["status"], "ok", "{h}");
    }
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    futures_lite::future::or(f, async {
        Timer::after(Duration::from_secs(30)).await;
        panic!("timed out: {what}");
    })
    .await
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// GET `path`; the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (code, body)
}

async fn health_json(addr: SocketAddr) -> Value {
    serde_json::from_str(&http_get(addr, "/health").await.1).unwrap()
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A channel as `CoreShowChannels` lists it, with its state number.
fn listed(name: &str, uniqueid: &str, state: u8, desc: &str, caller: &str) -> Fields {
    vec![
        ("Channel".into(), name.into()),
        ("ChannelState".into(), state.to_string()),
        ("ChannelStateDesc".into(), desc.into()),
        ("CallerIDNum".into(), caller.into()),
        ("Uniqueid".into(), uniqueid.into()),
        ("Linkedid".into(), uniqueid.into()),
    ]
}

fn block_on(
    f: impl FnOnce(Rc<LocalExecutor<'static>>) -> std::pin::Pin<Box<dyn Future<Output = ()>>>,
) {
    let ex = Rc::new(LocalExecutor::new());
    futures_lite::future::block_on(ex.run(f(ex.clone())));
}

// ---------------------------------------------------------------- faults

/// Asterisk's connection ends in the middle of a packet while a call rings.
/// The half packet is dropped and counted, the bridge reconnects, the
/// resync finds the call gone and finishes it, and the next call arrives.
#[test]
fn connection_dropped_mid_packet() {
    block_on(|ex| {
        Box::pin(async move {
            let b = start(&ex, FakeOptions::default(), "").await;
            let alice = b.client(TOKEN_1000).await;
            let bob = b.client(TOKEN_1002).await;
            let (ringing, _) = ringing_half(1);
            let (a1, b1) = call_ids(1);
            b.fake.send_raw(&ringing, false);
            b.wait("call 1 rings", |_| {
                !alice.of_call(&a1).is_empty() && !bob.of_call(&b1).is_empty()
            })
            .await;
            // A Hangup cut after its channel name's first bytes.
            b.fake.send_raw(
                b"Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/10",
                true,
            );
            b.wait("reconnected", |h| num(&h["ami"]["reconnects"]) == 1)
                .await;
            let h = b.health().await;
            assert_eq!(num(&h["dropped"]["ami_truncated_packets"]), 1, "{h}");
            // The PBX lists no channel now: the call ended while we were away.
            b.wait("call 1 finished by the resync", |_| {
                alice.finished(&a1).is_some() && bob.finished(&b1).is_some()
            })
            .await;
            assert_eq!(alice.finished(&a1).unwrap()["reason"], "failed");
            assert_eq!(alice.finished(&a1).unwrap()["answered"], false);
            b.later_call_arrives(2, &alice, &bob).await;
            alice.assert_invariants("alice");
            bob.assert_invariants("bob");
            assert_no_secret_logged();
        })
    });
}

/// Garbage lines, NUL bytes, a 1 MB line and a packet of 10,000 fields on a
/// live session: each bad packet is skipped and counted, the session stays
/// up, the call ringing through it and the next call are whole.
#[test]
fn garbage_nul_bytes_a_huge_line_and_ten_thousand_fields() {
    block_on(|ex| {
        Box::pin(async move {
            let b = start(&ex, FakeOptions::default(), "").await;
            let alice = b.client(TOKEN_1000).await;
            let bob = b.client(TOKEN_1002).await;
            let before = b.health().await;
            let (ringing, rest) = ringing_half(1);
            b.fake.send_raw(&ringing, false);

            // Two lines without "Key: Value" in a packet of their own.
            let mut junk = b"garbage without a colon\r\n\x01\x02\xff\xfe\x7f\r\n\r\n".to_vec();
            // NUL bytes: a line of NULs inside an event, and NULs in a value.
            junk.extend_from_slice(
                b"Event: UserEvent\r\nUserEvent: nul\0\0test\r\n\0\0\0\0\r\n\r\n",
            );
            // A 1 MB line inside a Newchannel of line 1000.
            junk.extend_from_slice(b"Event: Newchannel\r\nChannel: PJSIP/1000-");
            junk.extend(std::iter::repeat_n(b'A', 1 << 20));
            junk.extend_from_slice(b"\r\nUniqueid: 1900099999.1\r\nChannelState: 4\r\n\r\n");
            // 10,000 fields in one event.
            junk.extend_from_slice(b"Event: VarSet\r\nChannel: PJSIP/1000-00000099\r\n");
            for i in 0..10_000 {
                junk.extend_from_slice(format!("Variable{i}: value{i}\r\n").as_bytes());
            }
            junk.extend_from_slice(b"\r\n");
            b.fake.send_raw(&junk, false);
            b.fake.send_raw(&rest, false);

            let (a1, b1) = call_ids(1);
            b.wait("call 1 finished through the garbage", |_| {
                alice.finished(&a1).is_some() && bob.finished(&b1).is_some()
            })
            .await;
            // The call went through whole: the capture's own ending.
            assert_eq!(alice.finished(&a1).unwrap()["reason"], "cancelled");
            assert_eq!(bob.of_call(&b1), ["RingStarted", "RingFinished"]);
            let h = b.health().await;
            let d = |k: &str, f: &str| num(&h[k][f]) - num(&before[k][f]);
            // The 1 MB line and the 10,000 fields: one skipped packet each.
            assert_eq!(d("codec", "skipped"), 2, "{h}");
            // The two junk lines and the line of NULs.
            assert_eq!(d("codec", "malformed"), 3, "{h}");
            // Nothing of the skipped Newchannel was tracked.
            assert!(alice.of_call("1900099999.1").is_empty());
            assert_eq!(
                num(&h["ami"]["reconnects"]),
                0,
                "the session stayed up: {h}"
            );
            b.later_call_arrives(2, &alice, &bob).await;
            alice.assert_invariants("alice");
            bob.assert_invariants("bob");
            assert_no_secret_logged();
        })
    });
}

/// Asterisk stops answering (hung) while a call rings: the keepalive Ping
/// goes unanswered, the session is declared dead (/health says degraded,
/// with a 503), reconnects when Asterisk answers again, and the resync
/// finishes the call that vanished meanwhile.
#[test]
fn a_silent_server_is_declared_dead_and_the_bridge_reconnects() {
    block_on(|ex| {
        Box::pin(async move {
            let b = start(
                &ex,
                FakeOptions::default(),
                r#""pingIntervalS": 1, "actionTimeoutS": 1,"#,
            )
            .await;
            let alice = b.client(TOKEN_1000).await;
            let bob = b.client(TOKEN_1002).await;
            let (ringing, _) = ringing_half(1);
            let (a1, _) = call_ids(1);
            b.fake.send_raw(&ringing, false);
            b.wait("call 1 rings", |_| !alice.of_call(&a1).is_empty())
                .await;
            b.fake.set_silent(true);
            b.wait("declared dead", |h| h["ami"]["connected"] == false)
                .await;
            // Still serving while the PBX is gone: degraded, with a 503.
            let (code, body) = http_get(b.health, "/health").await;
            assert_eq!(code, 503, "{body}");
            assert!(body.contains("\"status\":\"degraded\""), "{body}");
            // The first connection's Ping went unanswered; the bridge hung up.
            let first = &b.fake.conns()[0];
            assert!(first
                .actions
                .iter()
                .any(|a| common::fake_ami::field(a, "Action") == Some("Ping")));
            b.wait("the first connection closed", |_| b.fake.conns()[0].closed)
                .await;
            b.fake.set_silent(false);
            b.wait("reconnected", |h| {
                h["ami"]["connected"] == true && num(&h["ami"]["reconnects"]) >= 1
            })
            .await;
            b.wait("call 1 finished by the resync", |_| {
                alice.finished(&a1).is_some()
            })
            .await;
            b.later_call_arrives(2, &alice, &bob).await;
            alice.assert_invariants("alice");
            bob.assert_invariants("bob");
            assert_no_secret_logged();
        })
    });
}

/// The PBX is unreachable for a while (connections refused), as in a
/// network outage, while its calls live on: the bridge retries with its
/// backoff, /health says why, and once connected the resync finds the
/// ringing call still there, so it is neither finished nor started twice;
/// its real end arrives later as usual.
#[test]
fn refused_connections_for_a_while_then_recovery() {
    block_on(|ex| {
        Box::pin(async move {
            let b = start(&ex, FakeOptions::default(), "").await;
            let alice = b.client(TOKEN_1000).await;
            let bob = b.client(TOKEN_1002).await;
            let (ringing, rest) = ringing_half(1);
            let (a1, b1) = call_ids(1);
            b.fake.send_raw(&ringing, false);
            b.wait("call 1 rings", |_| {
                !alice.of_call(&a1).is_empty() && !bob.of_call(&b1).is_empty()
            })
            .await;
            b.fake.set_channels(vec![
                listed("PJSIP/1000-00000102", &a1, 4, "Ring", "1000"),
                listed("PJSIP/1002-00000103", &b1, 5, "Ringing", "1000"),
            ]);
            b.fake.stop_listening();
            b.wait("a refused connection reported", |h| {
                h["ami"]["connected"] == false
                    && h["ami"]["last_error"]
                        .as_str()
                        .unwrap()
                        .contains("cannot connect")
            })
            .await;
            // Keep refusing through at least one more backoff step.
            Timer::after(Duration::from_millis(1200)).await;
            let h = b.health().await;
            assert_eq!(h["ami"]["connected"], false, "{h}");
            assert_eq!(b.fake.conns().len(), 1, "nothing could connect");
            b.fake.listen_again();
            b.wait("reconnected", |h| {
                h["ami"]["connected"] == true && num(&h["ami"]["reconnects"]) == 1
            })
            .await;
            b.wait("resync done", |_| {
                b.fake.conns().get(1).is_some_and(|c| {
                    c.actions
                        .iter()
                        .any(|a| common::fake_ami::field(a, "Action") == Some("CoreShowChannels"))
                })
            })
            .await;
            // The resync's own events, if any, are published at its end;
            // the rest of the call comes after them in the same stream.
            b.fake.send_raw(&rest, false);
            b.wait("call 1 finished", |_| {
                alice.finished(&a1).is_some() && bob.finished(&b1).is_some()
            })
            .await;
            assert_eq!(alice.of_call(&a1).first().unwrap(), "RingStarted");
            assert_eq!(alice.finished(&a1).unwrap()["reason"], "cancelled");
            assert_eq!(bob.of_call(&b1), ["RingStarted", "RingFinished"]);
            b.later_call_arrives(2, &alice, &bob).await;
            alice.assert_invariants("alice");
            bob.assert_invariants("bob");
            assert_no_secret_logged();
        })
    });
}

/// Asterisk restarts: its calls are gone and a new call is up with new
/// Uniqueids. The resync finishes the vanished calls (RingFinished) and
/// starts the new one (RingStarted), and live events carry on.
#[test]
fn a_restart_with_new_ids_is_resynced() {
    block_on(|ex| {
        Box::pin(async move {
            let b = start(&ex, FakeOptions::default(), "").await;
            let alice = b.client(TOKEN_1000).await;
            let bob = b.client(TOKEN_1002).await;
            let (ringing, _) = ringing_half(1);
            let (a1, b1) = call_ids(1);
            b.fake.send_raw(&ringing, false);
            b.wait("call 1 rings", |_| {
                !alice.of_call(&a1).is_empty() && !bob.of_call(&b1).is_empty()
            })
            .await;
            b.fake.stop_listening();
            b.wait("disconnected", |h| h["ami"]["connected"] == false)
                .await;
            // After the restart, 1000 is in a new call that is up.
            let new_id = "1800000000.7";
            b.fake
                .set_channels(vec![listed("PJSIP/1000-00000007", new_id, 6, "Up", "1000")]);
            b.fake.listen_again();
            b.wait("resynced: old calls finished, the new one started", |_| {
                alice.finished(&a1).is_some()
                    && bob.finished(&b1).is_some()
                    && !alice.of_call(new_id).is_empty()
            })
            .await;
            let h = b.health().await;
            assert_eq!(num(&h["ami"]["reconnects"]), 1, "{h}");
            assert_eq!(alice.finished(&a1).unwrap()["reason"], "failed");
            assert_eq!(alice.of_call(new_id), ["RingStarted"]);
            assert_eq!(num(&h["channels"]["used"]), 1, "{h}");
            b.later_call_arrives(2, &alice, &bob).await;
            alice.assert_invariants("alice");
            bob.assert_invariants("bob");
            assert_no_secret_logged();
        })
    });
}

/// 5,000 channels appear at once against a table of 1,024. The channels
/// over the capacity are refused and counted; the call that rang before
/// the flood goes on and finishes; a call whose channels came while the
/// table was full is never started (so never finished); once the flood
/// hangs up, the table empties and the next call is tracked again.
#[test]
fn five_thousand_channels_against_a_table_of_1024() {
    const FLOOD: usize = 5000;
    block_on(|ex| {
        Box::pin(async move {
            let b = start(&ex, FakeOptions::default(), "").await;
            let alice = b.client(TOKEN_1000).await;
            let bob = b.client(TOKEN_1002).await;
            let h = b.health().await;
            assert_eq!(num(&h["channels"]["capacity"]), CHANNELS as u64, "{h}");
            let (ringing, rest) = ringing_half(1);
            let (a1, b1) = call_ids(1);
            b.fake.send_raw(&ringing, false);
            b.wait("call 1 rings", |_| {
                !alice.of_call(&a1).is_empty() && !bob.of_call(&b1).is_empty()
            })
            .await;

            let trunk = |i: usize| (format!("PJSIP/trunk-{i:08x}"), format!("1700000000.{i}"));
            let mut flood = Vec::new();
            for i in 0..FLOOD {
                let (name, id) = trunk(i);
                flood.extend_from_slice(
                    format!(
                        "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: {name}\r\n\
                         ChannelState: 0\r\nChannelStateDesc: Down\r\nCallerIDNum: 0612{i:06}\r\n\
                         Uniqueid: {id}\r\nLinkedid: {id}\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
            b.fake.send_raw(&flood, false);
            b.wait("the table is full", |h| {
                num(&h["channels"]["refused"]) >= (FLOOD - (CHANNELS - 2)) as u64
            })
            .await;
            let h = b.health().await;
            assert_eq!(num(&h["channels"]["used"]), CHANNELS as u64, "{h}");
            assert_eq!(
                num(&h["channels"]["refused"]),
                (FLOOD - (CHANNELS - 2)) as u64,
                "each channel over the capacity refused once: {h}"
            );
            // /health answers while full; the bridge is up.
            assert_eq!(h["status"], "ok");

            // Call 2 rings and ends while the table is full: never started.
            let published = num(&h["events"]["published"]);
            b.fake.send_raw(&call_bytes(2), false);
            // Call 1 goes on and ends normally.
            b.fake.send_raw(&rest, false);
            b.wait("call 1 finished", |_| {
                alice.finished(&a1).is_some() && bob.finished(&b1).is_some()
            })
            .await;
            assert_eq!(alice.finished(&a1).unwrap()["reason"], "cancelled");
            let (a2, b2) = call_ids(2);
            assert!(alice.of_call(&a2).is_empty(), "{:?}", alice.of_call(&a2));
            assert!(bob.of_call(&b2).is_empty(), "{:?}", bob.of_call(&b2));
            let h = b.health().await;
            // Only call 1's two RingFinished were published since.
            assert_eq!(num(&h["events"]["published"]), published + 2, "{h}");

            // The flood hangs up, tracked or not.
            let mut hangups = Vec::new();
            for i in 0..FLOOD {
                let (name, id) = trunk(i);
                hangups.extend_from_slice(
                    format!(
                        "Event: Hangup\r\nPrivilege: call,all\r\nChannel: {name}\r\n\
                         Uniqueid: {id}\r\nLinkedid: {id}\r\nCause: 16\r\n\
                         Cause-txt: Normal Clearing\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
            b.fake.send_raw(&hangups, false);
            b.wait("the table empties", |h| num(&h["channels"]["used"]) == 0)
                .await;
            b.later_call_arrives(3, &alice, &bob).await;
            alice.assert_invariants("alice");
            bob.assert_invariants("bob");
            assert_no_secret_logged();
        })
    });
}
