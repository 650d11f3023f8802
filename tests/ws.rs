//! The WebSocket server end to end in one process: real WebSocket clients
//! (async-tungstenite over async-net) against the server on 127.0.0.1:0,
//! with a fake backend standing for the call tracker and the AMI session.

use async_executor::LocalExecutor;
use async_io::Timer;
use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use async_tungstenite::tungstenite::protocol::frame::Frame;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use ctibridge::limits::{WS_MAX_COMMAND, WS_MAX_MESSAGE, WS_MAX_PENDING_COMMANDS};
use ctibridge::ws::{
    Backend, CallId, Command, CommandError, Done, ErrorCode, Hub, LocalFuture, Server, Settings,
    User, UserEntry, Users,
};
use futures_lite::future::{or, poll_fn};
use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

// ---------------------------------------------------------------- fixtures

/// A gate commands can be made to wait on.
#[derive(Default)]
struct Gate {
    open: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Gate {
    async fn wait(&self) {
        poll_fn(|cx| {
            if self.open.get() {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    fn open(&self) {
        self.open.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// The tracker and AMI session as the server sees them: fixed calls per
/// line, fixed snapshots, and a log of what was executed.
struct FakeBackend {
    calls: RefCell<HashMap<String, Vec<String>>>,
    snapshots: RefCell<HashMap<String, Vec<String>>>,
    executed: RefCell<Vec<(String, Command)>>,
    gate: Option<Rc<Gate>>,
}

impl FakeBackend {
    fn new() -> FakeBackend {
        let mut calls = HashMap::new();
        calls.insert("1000".to_string(), vec!["1700000000.10".to_string()]);
        calls.insert("1002".to_string(), vec!["1700000000.20".to_string()]);
        FakeBackend {
            calls: RefCell::new(calls),
            snapshots: RefCell::new(HashMap::new()),
            executed: RefCell::new(Vec::new()),
            gate: None,
        }
    }
}

impl Backend for FakeBackend {
    fn snapshot(&self, line: &str) -> Vec<String> {
        self.snapshots
            .borrow()
            .get(line)
            .cloned()
            .unwrap_or_default()
    }

    fn owns_call(&self, line: &str, call: &str) -> bool {
        self.calls
            .borrow()
            .get(line)
            .is_some_and(|c| c.iter().any(|c| c == call))
    }

    fn execute<'a>(
        &'a self,
        user: &'a User,
        cmd: Command,
    ) -> LocalFuture<'a, Result<Done, CommandError>> {
        Box::pin(async move {
            if let Some(g) = &self.gate {
                g.wait().await;
            }
            self.executed
                .borrow_mut()
                .push((user.name.clone(), cmd.clone()));
            match cmd {
                Command::Call { number } if number.as_str() == "666" => Err(CommandError::new(
                    ErrorCode::AmiError,
                    "Asterisk refused: Extension does not exist",
                )),
                Command::Call { .. } => Ok(Done {
                    call: Some(CallId::parse("ctib-1.1").unwrap()),
                }),
                _ => Ok(Done::default()),
            }
        })
    }
}

fn entry(name: &str, line: &str, token: &str, debug: bool) -> UserEntry {
    UserEntry {
        user: User {
            name: name.into(),
            line: line.into(),
            debug,
        },
        token: token.into(),
    }
}

fn users() -> Users {
    Users::new([
        entry("alice", "1000", "tok-1000", false),
        entry("bob", "1002", "tok-1002", false),
        entry("dave", "1006", "tok-1006", true),
    ])
    .unwrap()
}

/// A running server and what the test needs to drive it.
struct Bridge {
    ex: Rc<LocalExecutor<'static>>,
    addr: SocketAddr,
    server: Server,
    hub: Rc<Hub>,
    backend: Rc<FakeBackend>,
}

fn start_with(settings: Settings, queue: usize, backend: FakeBackend, users: Users) -> Bridge {
    let ex = Rc::new(LocalExecutor::new());
    let listener = async_io::block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Hub::new(queue);
    let backend = Rc::new(backend);
    let server = Server::new(settings, users, hub.clone(), backend.clone());
    let s = server.clone();
    let ex2 = ex.clone();
    ex.spawn(async move { s.serve(listener, ex2).await })
        .detach();
    Bridge {
        ex,
        addr,
        server,
        hub,
        backend,
    }
}

fn start() -> Bridge {
    start_with(Settings::default(), 256, FakeBackend::new(), users())
}

impl Bridge {
    fn run<T>(&self, f: impl Future<Output = T>) -> T {
        async_io::block_on(self.ex.run(f))
    }
}

/// Fails the test instead of hanging when something never comes.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    or(f, async {
        Timer::after(Duration::from_secs(20)).await;
        panic!("timed out waiting for {what}")
    })
    .await
}

type Ws = WebSocketStream<TcpStream>;

async fn connect(addr: SocketAddr, path: &str) -> Ws {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (ws, _) = async_tungstenite::client_async(format!("ws://{addr}{path}"), tcp)
        .await
        .unwrap();
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next text frame, as JSON; pings and pongs are skipped.
async fn recv(ws: &mut Ws) -> Value {
    loop {
        match within("a frame", ws.next()).await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads until the close frame; returns its code, and the text frames before it.
async fn recv_close(ws: &mut Ws) -> (Option<u16>, Vec<Value>) {
    let mut texts = Vec::new();
    loop {
        match within("the close", ws.next()).await {
            Some(Ok(Message::Text(t))) => texts.push(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(f))) => return (f.map(|f| u16::from(f.code)), texts),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return (None, texts),
        }
    }
}

async fn signed_in(addr: SocketAddr, token: &str) -> Ws {
    let mut ws = connect(addr, "/").await;
    send(&mut ws, json!({"op":"auth","id":"a","token":token})).await;
    let r = recv(&mut ws).await;
    assert_eq!(r["ok"], true, "{r}");
    ws
}

async fn request(ws: &mut Ws, v: Value) -> Value {
    send(ws, v).await;
    let r = recv(ws).await;
    assert_eq!(r["op"], "result", "{r}");
    r
}

fn event(line: &str, call: &str, name: &str) -> String {
    json!({"event": name, "line": line, "call": call}).to_string()
}

// ---------------------------------------------------------------- sign-in

#[test]
fn auth_frame_answers_with_user_and_line() {
    let b = start();
    b.run(async {
        let mut ws = connect(b.addr, "/").await;
        send(&mut ws, json!({"op":"auth","id":"1","token":"tok-1002"})).await;
        assert_eq!(
            recv(&mut ws).await,
            json!({"op":"result","id":"1","ok":true,"user":"bob","line":"1002"})
        );
        assert_eq!(b.server.stats().signed_in, 1);
    });
}

#[test]
fn query_token_signs_in_without_a_frame() {
    let b = start();
    b.run(async {
        let mut ws = connect(b.addr, "/?token=tok%2D1000").await;
        // No result is due: the first frame is the answer to our ping.
        let r = request(&mut ws, json!({"op":"ping","id":5})).await;
        assert_eq!(r, json!({"op":"result","id":5,"ok":true}));
        b.hub.publish("1000", &event("1000", "c1", "RingStarted"));
        assert_eq!(recv(&mut ws).await["call"], "c1");
    });
}

#[test]
fn a_bad_token_gets_an_error_then_close_1008() {
    let b = start();
    b.run(async {
        let mut ws = connect(b.addr, "/").await;
        send(&mut ws, json!({"op":"auth","id":"x","token":"tok-9999"})).await;
        let (code, texts) = recv_close(&mut ws).await;
        assert_eq!(code, Some(1008));
        assert_eq!(texts.len(), 1);
        assert_eq!(texts[0]["id"], "x");
        assert_eq!(texts[0]["ok"], false);
        assert_eq!(texts[0]["code"], "bad_token");

        let mut ws = connect(b.addr, "/?token=nope").await;
        let (code, texts) = recv_close(&mut ws).await;
        assert_eq!(code, Some(1008));
        assert_eq!(texts[0]["id"], Value::Null);
        assert_eq!(texts[0]["code"], "bad_token");
        assert_eq!(b.server.stats().auth_failures, 2);
        assert_eq!(b.server.stats().signed_in, 0);
    });
}

#[test]
fn a_prefix_of_a_token_is_a_bad_token() {
    let b = start();
    b.run(async {
        for t in ["tok-100", "tok-10000", "TOK-1000"] {
            let mut ws = connect(b.addr, "/").await;
            send(&mut ws, json!({"op":"auth","id":1,"token":t})).await;
            let (code, texts) = recv_close(&mut ws).await;
            assert_eq!(
                (code, texts[0]["code"].clone()),
                (Some(1008), json!("bad_token")),
                "{t}"
            );
        }
    });
}

#[test]
fn commands_before_sign_in_are_refused_and_auth_still_works() {
    let b = start();
    b.run(async {
        let mut ws = connect(b.addr, "/").await;
        let r = request(
            &mut ws,
            json!({"op":"hangup","id":1,"call":"1700000000.10"}),
        )
        .await;
        assert_eq!(r["code"], "not_authenticated");
        let r = request(&mut ws, json!({"op":"ping","id":2})).await;
        assert_eq!(r["code"], "not_authenticated");
        let r = request(&mut ws, json!({"op":"auth","id":3,"token":"tok-1000"})).await;
        assert_eq!(r["ok"], true);
        assert!(b.backend.executed.borrow().is_empty());
    });
}

#[test]
fn no_sign_in_within_the_auth_timeout_closes() {
    let settings = Settings {
        auth_timeout: Duration::from_millis(200),
        ..Settings::default()
    };
    let b = start_with(settings, 256, FakeBackend::new(), users());
    b.run(async {
        let mut ws = connect(b.addr, "/").await;
        let (code, _) = recv_close(&mut ws).await;
        assert_eq!(code, Some(1008));
    });
}

#[test]
fn repeated_failures_from_one_address_are_refused_unchecked() {
    // A first wait far longer than the test, so timing cannot matter.
    let settings = Settings {
        auth_slowdown: Duration::from_secs(600),
        ..Settings::default()
    };
    let b = start_with(settings, 256, FakeBackend::new(), users());
    b.run(async {
        for i in 0..ctibridge::limits::WS_AUTH_FREE_FAILURES {
            let mut ws = connect(b.addr, "/").await;
            send(&mut ws, json!({"op":"auth","id":i,"token":"guess"})).await;
            let (_, texts) = recv_close(&mut ws).await;
            assert_eq!(texts[0]["code"], "bad_token");
        }
        // Even the right token is not looked at now.
        let mut ws = connect(b.addr, "/").await;
        send(&mut ws, json!({"op":"auth","id":"r","token":"tok-1000"})).await;
        let (code, texts) = recv_close(&mut ws).await;
        assert_eq!(code, Some(1008));
        assert_eq!(texts[0]["code"], "rate_limited");
        assert!(texts[0]["error"].as_str().unwrap().contains("127.0.0.1"));
        let mut ws = connect(b.addr, "/?token=tok-1000").await;
        let (_, texts) = recv_close(&mut ws).await;
        assert_eq!(texts[0]["code"], "rate_limited");
        let s = b.server.stats();
        assert_eq!((s.auth_failures, s.auth_rate_limited), (3, 2));
    });
}

// ---------------------------------------------------------------- fan-out

#[test]
fn state_replays_on_connect_before_live_events() {
    let backend = FakeBackend::new();
    backend.snapshots.borrow_mut().insert(
        "1000".into(),
        vec![
            event("1000", "1700000000.10", "RingStarted"),
            event("1000", "1700000000.10", "CommutationStarted"),
            event("1000", "1700000000.10", "PutHoldAction"),
        ],
    );
    let b = start_with(Settings::default(), 256, backend, users());
    b.run(async {
        let mut ws = signed_in(b.addr, "tok-1000").await;
        b.hub
            .publish("1000", &event("1000", "1700000000.10", "EndHoldAction"));
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(recv(&mut ws).await["event"].clone());
        }
        assert_eq!(
            got,
            [
                "RingStarted",
                "CommutationStarted",
                "PutHoldAction",
                "EndHoldAction"
            ]
        );
        // Another line's client gets its own (empty) state only.
        let mut other = signed_in(b.addr, "tok-1002").await;
        let r = request(&mut other, json!({"op":"ping","id":1})).await;
        assert_eq!(r["ok"], true);
    });
}

#[test]
fn a_client_of_1002_never_sees_events_of_1000() {
    let b = start();
    b.run(async {
        let mut a = signed_in(b.addr, "tok-1000").await;
        let mut a2 = signed_in(b.addr, "tok-1000").await;
        let mut c = signed_in(b.addr, "tok-1002").await;
        for i in 0..50 {
            let line = if i % 3 == 0 { "1002" } else { "1000" };
            b.hub
                .publish(line, &event(line, &format!("c{i}"), "RingStarted"));
        }
        b.hub.publish("10002", &event("10002", "x", "RingStarted"));
        b.hub.publish("100", &event("100", "x", "RingStarted"));
        b.hub.publish("1000", &event("1000", "end", "RingFinished"));
        b.hub.publish("1002", &event("1002", "end", "RingFinished"));
        for (ws, line) in [(&mut a, "1000"), (&mut a2, "1000"), (&mut c, "1002")] {
            let mut calls = Vec::new();
            loop {
                let e = recv(ws).await;
                assert_eq!(e["line"], line, "{e}");
                if e["call"] == "end" {
                    break;
                }
                calls.push(e["call"].as_str().unwrap().to_string());
            }
            let want: Vec<String> = (0..50)
                .filter(|i| (i % 3 == 0) == (line == "1002"))
                .map(|i| format!("c{i}"))
                .collect();
            assert_eq!(calls, want);
        }
    });
}

#[test]
fn debug_mode_adds_raw_events_of_the_line() {
    let b = start();
    b.run(async {
        let mut a = signed_in(b.addr, "tok-1000").await;
        let mut d = signed_in(b.addr, "tok-1006").await;
        b.hub
            .publish_raw("1000", r#"{"event":"Raw","line":"1000","n":1}"#);
        b.hub
            .publish_raw("1006", r#"{"event":"Raw","line":"1006","n":1}"#);
        // dave has debug on from his user entry.
        assert_eq!(recv(&mut d).await["n"], 1);
        let r = request(&mut a, json!({"op":"debug","id":"d","on":true})).await;
        assert_eq!(r["ok"], true);
        b.hub
            .publish_raw("1000", r#"{"event":"Raw","line":"1000","n":2}"#);
        assert_eq!(
            recv(&mut a).await["n"],
            2,
            "the raw event before debug was not queued"
        );
        let r = request(&mut a, json!({"op":"debug","id":"d","on":false})).await;
        assert_eq!(r["ok"], true);
        b.hub
            .publish_raw("1000", r#"{"event":"Raw","line":"1000","n":3}"#);
        b.hub.publish("1000", &event("1000", "c", "RingStarted"));
        assert_eq!(recv(&mut a).await["event"], "RingStarted");
    });
}

#[test]
fn a_stalled_client_is_closed_1008_while_others_keep_receiving() {
    let settings = Settings {
        close_timeout: Duration::from_secs(60),
        ..Settings::default()
    };
    let b = start_with(settings, 16, FakeBackend::new(), users());
    b.run(async {
        let mut stalled = signed_in(b.addr, "tok-1000").await;
        let fast = signed_in(b.addr, "tok-1000").await;
        let received = Rc::new(RefCell::new(Vec::<u64>::new()));
        let r2 = received.clone();
        let reader = b.ex.spawn(async move {
            let mut fast = fast;
            loop {
                let e = recv(&mut fast).await;
                let n = e["n"].as_u64().unwrap();
                r2.borrow_mut().push(n);
                if e["event"] == "RingFinished" {
                    return fast;
                }
            }
        });
        let pad = "x".repeat(1000);
        let mut n = 0u64;
        // Publish until the stalled client's queue overflows; the kernel's
        // socket buffers absorb some megabytes first.
        while b.server.stats().closed_slow == 0 {
            assert!(n < 200_000, "the stalled client was never closed");
            let e = json!({"event":"CallerChanged","line":"1000","call":"c","n":n,"pad":pad});
            b.hub.publish("1000", &e.to_string());
            n += 1;
            if n.is_multiple_of(8) {
                // Let the writers run, as the AMI reader would between reads.
                Timer::after(Duration::from_micros(100)).await;
            }
        }
        assert_eq!(b.hub.stats().lagged, 1);
        // Life goes on for the others.
        for _ in 0..5 {
            let e = json!({"event":"CallerChanged","line":"1000","call":"c","n":n});
            b.hub.publish("1000", &e.to_string());
            n += 1;
            Timer::after(Duration::from_millis(1)).await;
        }
        let e = json!({"event":"RingFinished","line":"1000","call":"c","n":n});
        b.hub.publish("1000", &e.to_string());
        let _fast = within("the fast client", reader).await;
        let got = received.borrow().clone();
        assert_eq!(
            got,
            (0..=n).collect::<Vec<_>>(),
            "the fast client lost nothing"
        );
        // The stalled client finally reads: a gap-free prefix, then 1008.
        let mut expect = 0;
        let code = loop {
            match within("the stalled client's close", stalled.next()).await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert_eq!(v["n"], expect);
                    expect += 1;
                }
                Some(Ok(Message::Close(f))) => break f.map(|f| f.code),
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(code, Some(CloseCode::Policy));
        assert!(expect < n, "the stalled client did not get everything");
        assert_eq!(b.server.stats().closed_slow, 1);
        assert_eq!(b.server.stats().signed_in, 1);
    });
}

#[test]
fn two_hundred_clients_at_once() {
    let lines = ["1000", "1002", "1004", "1006"];
    let users = Users::new(
        lines
            .iter()
            .map(|l| entry(&format!("u{l}"), l, &format!("tok-{l}"), false)),
    )
    .unwrap();
    let b = start_with(Settings::default(), 256, FakeBackend::new(), users);
    b.run(async {
        let mut clients = Vec::new();
        for i in 0..200 {
            let line = lines[i % 4];
            clients.push((line, signed_in(b.addr, &format!("tok-{line}")).await));
        }
        assert_eq!(b.server.stats().signed_in, 200);
        for round in 0..3 {
            for l in lines {
                b.hub
                    .publish(l, &event(l, &format!("{l}-{round}"), "RingStarted"));
            }
        }
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|(line, mut ws)| {
                b.ex.spawn(async move {
                    for round in 0..3 {
                        let e = recv(&mut ws).await;
                        assert_eq!(e["call"], format!("{line}-{round}"));
                    }
                    ws
                })
            })
            .collect();
        let mut kept = Vec::new();
        for t in tasks {
            kept.push(within("200 clients", t).await);
        }
        assert_eq!(b.server.stats().connected, 200);
    });
}

#[test]
fn past_max_clients_a_connection_is_closed_1013() {
    let settings = Settings {
        max_clients: 2,
        ..Settings::default()
    };
    let b = start_with(settings, 256, FakeBackend::new(), users());
    b.run(async {
        let a = signed_in(b.addr, "tok-1000").await;
        let _c = connect(b.addr, "/").await;
        let mut refused = connect(b.addr, "/").await;
        let (code, _) = recv_close(&mut refused).await;
        assert_eq!(code, Some(1013));
        assert_eq!(b.server.stats().refused, 1);
        drop(a);
        // The slot frees once the server notices the client is gone.
        let mut ws = loop {
            Timer::after(Duration::from_millis(20)).await;
            if b.server.stats().connected < 2 {
                break connect(b.addr, "/").await;
            }
        };
        let r = request(&mut ws, json!({"op":"auth","id":1,"token":"tok-1002"})).await;
        assert_eq!(r["ok"], true);
    });
}

// ---------------------------------------------------------------- bad frames

#[test]
fn bad_frames_get_their_error_and_everyone_carries_on() {
    let b = start();
    b.run(async {
        let mut ws = signed_in(b.addr, "tok-1000").await;
        let mut other = signed_in(b.addr, "tok-1000").await;
        for (frame, code) in [
            ("{\"op\":\"ping\",\"id\":1".to_string(), "bad_json"),
            ("hello".to_string(), "bad_json"),
            (r#"{"op":"dance","id":2}"#.to_string(), "unknown_op"),
            (r#"{"id":3,"number":"1"}"#.to_string(), "missing_field"),
            (r#"{"op":"call","id":4}"#.to_string(), "missing_field"),
            (
                r#"{"op":"call","id":5,"number":"12ab"}"#.to_string(),
                "invalid_number",
            ),
            (
                r#"{"op":"call","id":6,"number":"100\r\nAction: Logoff"}"#.to_string(),
                "invalid_number",
            ),
            (
                r#"{"op":"hangup","id":7,"call":"1700000000.10\nAction: Logoff"}"#.to_string(),
                "invalid_value",
            ),
            (
                format!(
                    r#"{{"op":"ping","id":8,"pad":"{}"}}"#,
                    "x".repeat(WS_MAX_COMMAND)
                ),
                "too_large",
            ),
        ] {
            ws.send(Message::text(frame.clone())).await.unwrap();
            let r = recv(&mut ws).await;
            assert_eq!(r["ok"], false, "{frame}");
            assert_eq!(r["code"], code, "{frame}: {r}");
            assert!(!r["error"].as_str().unwrap().is_empty());
        }
        ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
        assert_eq!(recv(&mut ws).await["code"], "invalid_value");
        assert!(b.backend.executed.borrow().is_empty());
        assert_eq!(
            request(&mut ws, json!({"op":"ping","id":9})).await["ok"],
            true
        );
        b.hub.publish("1000", &event("1000", "c", "RingStarted"));
        assert_eq!(recv(&mut ws).await["call"], "c");
        assert_eq!(recv(&mut other).await["call"], "c");
    });
}

#[test]
fn invalid_utf8_closes_that_client_with_1007_only() {
    let b = start();
    b.run(async {
        let mut ws = signed_in(b.addr, "tok-1000").await;
        let mut other = signed_in(b.addr, "tok-1000").await;
        let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
        ws.send(Message::Frame(frame)).await.unwrap();
        let (code, texts) = recv_close(&mut ws).await;
        assert_eq!(code, Some(1007));
        assert_eq!(texts.len(), 1);
        assert_eq!(texts[0]["ok"], false);
        b.hub.publish("1000", &event("1000", "c", "RingStarted"));
        assert_eq!(recv(&mut other).await["call"], "c");
        assert_eq!(
            request(&mut other, json!({"op":"ping","id":1})).await["ok"],
            true
        );
    });
}

#[test]
fn a_message_over_the_frame_limit_closes_with_1009_only() {
    let b = start();
    b.run(async {
        let mut ws = signed_in(b.addr, "tok-1000").await;
        let mut other = signed_in(b.addr, "tok-1000").await;
        let big = format!(r#"{{"op":"ping","pad":"{}"}}"#, "x".repeat(WS_MAX_MESSAGE));
        ws.send(Message::text(big)).await.unwrap();
        let (code, texts) = recv_close(&mut ws).await;
        assert_eq!(code, Some(1009));
        assert_eq!(texts[0]["code"], "too_large");
        assert_eq!(
            request(&mut other, json!({"op":"ping","id":1})).await["ok"],
            true
        );
    });
}

// ---------------------------------------------------------------- commands

#[test]
fn commands_reach_the_backend_only_for_the_users_own_calls() {
    let b = start();
    b.run(async {
        let mut ws = signed_in(b.addr, "tok-1000").await;
        let r = request(
            &mut ws,
            json!({"op":"hangup","id":"h","call":"1700000000.10"}),
        )
        .await;
        assert_eq!(r, json!({"op":"result","id":"h","ok":true}));
        let r = request(
            &mut ws,
            json!({"op":"hold","id":"f","call":"1700000000.20"}),
        )
        .await;
        assert_eq!(r["code"], "forbidden", "1002's call");
        let r = request(
            &mut ws,
            json!({"op":"transfer","id":"g","call":"1.2","number":"1"}),
        )
        .await;
        assert_eq!(r["code"], "forbidden", "no such call");
        let r = request(&mut ws, json!({"op":"call","id":"c","number":"+3312"})).await;
        assert_eq!(
            r,
            json!({"op":"result","id":"c","ok":true,"call":"ctib-1.1"})
        );
        let r = request(&mut ws, json!({"op":"call","id":"e","number":"666"})).await;
        assert_eq!(r["code"], "ami_error");
        assert_eq!(r["error"], "Asterisk refused: Extension does not exist");
        let r = request(
            &mut ws,
            json!({"op":"queue_pause","id":"q","paused":true,"reason":"lunch"}),
        )
        .await;
        assert_eq!(r["ok"], true);
        let r = request(
            &mut ws,
            json!({"op":"auth","id":"again","token":"tok-1002"}),
        )
        .await;
        assert_eq!(r["code"], "unsupported");
        let executed = b.backend.executed.borrow();
        let ops: Vec<(&str, &str)> = executed.iter().map(|(u, c)| (u.as_str(), c.op())).collect();
        assert_eq!(
            ops,
            [
                ("alice", "hangup"),
                ("alice", "call"),
                ("alice", "call"),
                ("alice", "queue_pause")
            ]
        );
    });
}

#[test]
fn commands_in_progress_are_bounded_per_connection() {
    let gate = Rc::new(Gate::default());
    let backend = FakeBackend {
        gate: Some(gate.clone()),
        ..FakeBackend::new()
    };
    let b = start_with(Settings::default(), 256, backend, users());
    b.run(async {
        let mut ws = signed_in(b.addr, "tok-1000").await;
        for i in 0..WS_MAX_PENDING_COMMANDS {
            send(&mut ws, json!({"op":"call","id":i,"number":"1002"})).await;
        }
        // Events still flow while the commands wait.
        b.hub.publish("1000", &event("1000", "c", "RingStarted"));
        assert_eq!(recv(&mut ws).await["event"], "RingStarted");
        let r = request(&mut ws, json!({"op":"call","id":"over","number":"1002"})).await;
        assert_eq!(r["code"], "rate_limited");
        assert_eq!(
            request(&mut ws, json!({"op":"ping","id":"p"})).await["ok"],
            true
        );
        gate.open();
        let mut ids = Vec::new();
        for _ in 0..WS_MAX_PENDING_COMMANDS {
            let r = recv(&mut ws).await;
            assert_eq!(r["ok"], true);
            ids.push(r["id"].as_u64().unwrap());
        }
        ids.sort();
        assert_eq!(ids, (0..WS_MAX_PENDING_COMMANDS as u64).collect::<Vec<_>>());
    });
}

#[test]
fn a_command_completes_even_if_its_client_leaves() {
    let gate = Rc::new(Gate::default());
    let backend = FakeBackend {
        gate: Some(gate.clone()),
        ..FakeBackend::new()
    };
    let b = start_with(Settings::default(), 256, backend, users());
    b.run(async {
        let mut ws = signed_in(b.addr, "tok-1000").await;
        send(
            &mut ws,
            json!({"op":"hangup","id":1,"call":"1700000000.10"}),
        )
        .await;
        // A ping answered proves the hangup was read before we leave.
        assert_eq!(request(&mut ws, json!({"op":"ping","id":2})).await["id"], 2);
        ws.close(None).await.unwrap();
        drop(ws);
        gate.open();
        while b.backend.executed.borrow().is_empty() {
            Timer::after(Duration::from_millis(5)).await;
        }
        assert_eq!(b.backend.executed.borrow()[0].1.op(), "hangup");
    });
}

// ---------------------------------------------------------------- liveness

#[test]
fn a_client_that_never_answers_pings_is_closed_1001() {
    let settings = Settings {
        ping_interval: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    let b = start_with(settings, 256, FakeBackend::new(), users());
    b.run(async {
        let mut deaf = signed_in(b.addr, "tok-1000").await;
        let alive = signed_in(b.addr, "tok-1002").await;
        // The live client only reads; its WebSocket library answers pings.
        let listener = b.ex.spawn(async move {
            let mut alive = alive;
            let mut pings = 0;
            while pings < 10 {
                if let Some(Ok(Message::Ping(_))) = within("pings", alive.next()).await {
                    pings += 1;
                }
            }
            alive
        });
        // The deaf client reads nothing (so answers no ping) for a while.
        Timer::after(Duration::from_millis(800)).await;
        let mut pings = 0;
        let code = loop {
            match within("the close", deaf.next()).await {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
                other => panic!("{other:?}"),
            }
        };
        assert!(pings >= 1);
        assert_eq!(code, Some(1001));
        // The other one answered its pings while reading: still here.
        let mut alive = within("ten pings", listener).await;
        let r = request(&mut alive, json!({"op":"ping","id":1})).await;
        assert_eq!(r["ok"], true);
    });
}

// ---------------------------------------------------------------- HTTP

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    within("the page", tcp.read_to_string(&mut out))
        .await
        .unwrap();
    out
}

#[test]
fn the_panel_is_served_on_the_websocket_port() {
    let settings = Settings {
        panel_json: ctibridge::http::panel::panel_json("https://crm/?n={number}"),
        ..Settings::default()
    };
    let b = start_with(settings, 256, FakeBackend::new(), users());
    b.run(async {
        let page = http_get(b.addr, "/").await;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("text/html"));
        assert!(page.contains("new WebSocket"));
        let cfg = http_get(b.addr, "/panel.json").await;
        assert!(
            cfg.ends_with(r#"{"screenPopUrl":"https://crm/?n={number}"}"#),
            "{cfg}"
        );
        assert!(http_get(b.addr, "/x").await.starts_with("HTTP/1.1 404"));
        // Pages take no client slot for long.
        assert_eq!(b.server.stats().connected, 0);
    });
}

// ---------------------------------------------------------------- TLS

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use ctibridge::ws::Tls;
    use futures_rustls::pki_types::ServerName;
    use futures_rustls::rustls::{self, ClientConfig, RootCertStore};
    use futures_rustls::TlsConnector;
    use std::sync::Arc;

    #[test]
    fn wss_with_a_self_signed_certificate() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let dir = std::env::temp_dir().join(format!("ctibridge-ws-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cp, kp) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cp, cert.cert.pem()).unwrap();
        std::fs::write(&kp, cert.signing_key.serialize_pem()).unwrap();
        let tls = Tls::from_pem_files(&cp, &kp).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        let ex = Rc::new(LocalExecutor::new());
        let listener = async_io::block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let hub = Hub::new(256);
        let server = Server::new(
            Settings::default(),
            users(),
            hub.clone(),
            Rc::new(FakeBackend::new()),
        )
        .with_tls(tls);
        let (s, ex2) = (server.clone(), ex.clone());
        ex.spawn(async move { s.serve(listener, ex2).await })
            .detach();

        let mut roots = RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = TlsConnector::from(Arc::new(config));

        async_io::block_on(ex.run(async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let tls = connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            let (mut ws, _) =
                async_tungstenite::client_async(format!("wss://localhost:{}/", addr.port()), tls)
                    .await
                    .unwrap();
            ws.send(Message::text(
                json!({"op":"auth","id":1,"token":"tok-1000"}).to_string(),
            ))
            .await
            .unwrap();
            let r = within("auth over TLS", ws.next()).await.unwrap().unwrap();
            let r: Value = serde_json::from_str(r.to_text().unwrap()).unwrap();
            assert_eq!(r["line"], "1000");
            hub.publish("1000", &event("1000", "secure", "RingStarted"));
            let e = within("an event over TLS", ws.next())
                .await
                .unwrap()
                .unwrap();
            assert!(e.to_text().unwrap().contains("secure"));

            // Plain ws:// to the TLS port gets no WebSocket.
            let tcp = TcpStream::connect(addr).await.unwrap();
            let plain = within(
                "a plain client refused",
                async_tungstenite::client_async(format!("ws://{addr}/"), tcp),
            )
            .await;
            assert!(plain.is_err());
            assert_eq!(server.stats().signed_in, 1);
        }));
    }
}
