//! Client commands end to end in one process: real WebSocket clients, the
//! WebSocket server, `Control`, a call tracker fed by a live AMI session,
//! and the in-test AMI server of `common::fake_ami`, which records every
//! action it receives. Each test checks the exact fields of the actions that
//! reached "Asterisk" (in order, `ActionID` aside), or that none did.

mod common;

use async_executor::LocalExecutor;
use async_io::Timer;
use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use common::fake_ami::{FakeAmi, FakeOptions, Fields};
use ctibridge::ami::{
    run_session, AmiSink, Auth, Packet, Secret, SessionChange, SessionHandle, SessionOptions,
};
use ctibridge::calls::{CallEvent, Tracker, TrackerOptions};
use ctibridge::config::{self, Config};
use ctibridge::control::Control;
use ctibridge::ws::{Backend, Hub, Server, Settings, User, UserEntry, Users};
use futures_lite::future::or;
use futures_lite::StreamExt;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- fixtures

/// Log lines, for the `traceQueuesState` test.
static LOG_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct CaptureLog;

impl log::Log for CaptureLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOG_LINES
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

/// What the app does with the session's output, reduced to the essentials:
/// packets into the tracker, events to the hub and to `Control::on_event`
/// once the tracker is no longer borrowed.
struct AppSink {
    tracker: Rc<RefCell<Tracker>>,
    hub: Rc<Hub>,
    control: Rc<Control>,
}

impl AppSink {
    fn publish(&self, events: Vec<CallEvent>) {
        for ev in events {
            self.hub.publish(ev.line(), &ev.to_string());
            self.control.on_event(&ev);
        }
    }
}

impl AmiSink for AppSink {
    fn packet(&mut self, p: &Packet<'_>) {
        let mut out = Vec::new();
        self.tracker.borrow_mut().handle(p, &mut out);
        self.publish(out);
    }
    fn session(&mut self, change: SessionChange<'_>) {
        let mut out = Vec::new();
        match change {
            SessionChange::ResyncStarted => self.tracker.borrow_mut().begin_resync(),
            SessionChange::ResyncFinished { error: None, .. } => {
                self.tracker.borrow_mut().end_resync(&mut out)
            }
            SessionChange::ResyncFinished { .. } => self.tracker.borrow_mut().abort_resync(),
            _ => {}
        }
        self.publish(out);
    }
}

/// The config of every test, with `extra` keys added.
fn config(extra: &str) -> Config {
    let text = format!(
        r#"{{
            "url": "127.0.0.1", "userName": "bridge", "secret": "s3cret",
            "protocol": "PJSIP/", "originateContext": "from-internal",
            "parkingLotContext": "parkedcalls",
            "users": [
                {{"name": "alice", "line": "1000", "token": "token-alice-0123456789"}},
                {{"name": "bob", "line": "1002", "token": "token-bob-0123456789ab"}},
                {{"name": "carol", "line": "1006", "token": "token-carol-0123456789",
                  "context": "agents", "dialPatterns": ["1XXX", "0[1-9]XXXXXXXX"]}}
            ]
            {extra}
        }}"#
    );
    config::parse(text.as_bytes(), Path::new("."))
        .unwrap_or_else(|e| panic!("test config refused: {e}"))
        .0
}

const ALICE: &str = "token-alice-0123456789";
const BOB: &str = "token-bob-0123456789ab";
const CAROL: &str = "token-carol-0123456789";

/// The bridge under test, wired as the app wires it.
struct Bridge {
    ex: Rc<LocalExecutor<'static>>,
    fake: FakeAmi,
    session: SessionHandle,
    tracker: Rc<RefCell<Tracker>>,
    control: Rc<Control>,
    addr: SocketAddr,
}

fn start(extra: &str, fake_opts: FakeOptions, action_timeout: Duration) -> Bridge {
    static LOGGER: Once = Once::new();
    LOGGER.call_once(|| {
        let _ = log::set_logger(&CaptureLog);
        log::set_max_level(log::LevelFilter::Info);
    });
    let ex = Rc::new(LocalExecutor::new());
    let fake = FakeAmi::start(&ex, fake_opts);
    let config = Rc::new(config(extra));
    let c = &config.calls;
    let opts = TrackerOptions::new(
        c.protocol.prefix(),
        c.queue_extension_format.as_str(),
        c.ring_started_on_ringing_state,
        &[],
        c.max_channels,
    )
    .unwrap();
    let tracker = Rc::new(RefCell::new(Tracker::new(opts)));
    let session = SessionHandle::new();
    let control = Rc::new(Control::new(
        config.clone(),
        tracker.clone(),
        session.clone(),
        ex.clone(),
    ));
    let hub = Hub::new(256);
    let sink = AppSink {
        tracker: tracker.clone(),
        hub: hub.clone(),
        control: control.clone(),
    };
    let session_opts = SessionOptions {
        host: "127.0.0.1".into(),
        port: fake.addr().port(),
        user: "bridge".into(),
        secret: Secret::new("s3cret"),
        auth: Auth::Md5,
        connect_timeout: Duration::from_secs(2),
        ping_interval: Duration::from_secs(600),
        action_timeout,
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..SessionOptions::default()
    };
    ex.spawn(run_session(
        session_opts,
        sink,
        session.clone(),
        futures_lite::future::pending::<()>(),
    ))
    .detach();
    let users = Users::new(config.users.iter().map(|u| UserEntry {
        user: User {
            name: u.name.to_string(),
            line: u.line.to_string(),
            debug: false,
        },
        token: u.token.expose().to_string(),
    }))
    .unwrap();
    let listener = async_io::block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let backend: Rc<dyn Backend> = control.clone();
    let server = Server::new(Settings::default(), users, hub, backend);
    let ex2 = ex.clone();
    ex.spawn(async move { server.serve(listener, ex2).await })
        .detach();
    Bridge {
        ex,
        fake,
        session,
        tracker,
        control,
        addr,
    }
}

fn bridge(extra: &str) -> Bridge {
    start(extra, FakeOptions::default(), Duration::from_secs(5))
}

impl Bridge {
    /// Runs `f` once the session is logged in and resynced.
    fn run<T>(&self, f: impl Future<Output = T>) -> T {
        async_io::block_on(self.ex.run(async {
            wait_for("the AMI login and resync", || {
                self.session.is_connected() && !self.tracker.borrow().resyncing()
            })
            .await;
            f.await
        }))
    }

    /// Sends AMI events (written with `\n`, sent with CRLF) to the bridge.
    fn ami(&self, text: &str) {
        self.fake
            .send_raw(text.replace('\n', "\r\n").as_bytes(), false);
    }

    /// Actions received so far (every connection).
    fn actions(&self) -> Vec<Fields> {
        self.fake.actions()
    }

    /// Actions received after the first `mark`, ActionID left out.
    fn actions_since(&self, mark: usize) -> Vec<Vec<(String, String)>> {
        self.actions()[mark..]
            .iter()
            .map(|a| {
                a.iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("ActionID"))
                    .cloned()
                    .collect()
            })
            .collect()
    }
}

/// `[("Action","Hangup"), ...]` as owned pairs.
fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits (polling every 5 ms) until `cond` holds; fails after 10 s.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        Timer::after(Duration::from_millis(5)).await;
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

async fn signed_in(addr: SocketAddr, token: &str) -> Ws {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = async_tungstenite::client_async(format!("ws://{addr}/"), tcp)
        .await
        .unwrap();
    send(&mut ws, json!({"op":"auth","id":"auth","token":token})).await;
    let r = recv(&mut ws).await;
    assert_eq!(r["ok"], true, "{r}");
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next text frame, as JSON.
async fn recv(ws: &mut Ws) -> Value {
    loop {
        match within("a frame", ws.next()).await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Frames until the result with `id`, which is returned with the events
/// that came before it.
async fn result(ws: &mut Ws, id: &str) -> (Value, Vec<Value>) {
    let mut events = Vec::new();
    loop {
        let f = recv(ws).await;
        if f["op"] == "result" && f["id"] == id {
            return (f, events);
        }
        events.push(f);
    }
}

/// Sends a command and returns its result (events in between are dropped).
async fn command(ws: &mut Ws, v: Value) -> Value {
    let id = v["id"]
        .as_str()
        .expect("commands in these tests have string ids")
        .to_owned();
    send(ws, v).await;
    result(ws, &id).await.0
}

/// The next event named `name`, skipping others.
async fn event(ws: &mut Ws, name: &str) -> Value {
    loop {
        let f = recv(ws).await;
        if f["event"] == name {
            return f;
        }
    }
}

// AMI events as Asterisk 22 writes them (the fields the tracker reads).

fn newchannel(chan: &str, uid: &str, state: u8, num: &str, exten: &str) -> String {
    format!(
        "Event: Newchannel\nChannel: {chan}\nChannelState: {state}\nCallerIDNum: {num}\n\
         CallerIDName: <unknown>\nConnectedLineNum: <unknown>\nExten: {exten}\n\
         Context: from-internal\nUniqueid: {uid}\nLinkedid: {uid}\n\n"
    )
}

fn dial_begin(chan: &str, uid: &str, num: &str, dest: &str, duid: &str) -> String {
    format!(
        "Event: DialBegin\nChannel: {chan}\nCallerIDNum: {num}\nUniqueid: {uid}\n\
         DestChannel: {dest}\nDestUniqueid: {duid}\nDialString: x\n\n"
    )
}

fn up(uid: &str) -> String {
    format!("Event: Newstate\nUniqueid: {uid}\nChannelState: 6\nChannelStateDesc: Up\n\n")
}

fn enter(bridge: &str, chan: &str, uid: &str) -> String {
    format!(
        "Event: BridgeEnter\nBridgeUniqueid: {bridge}\nBridgeType: basic\nChannel: {chan}\n\
         Uniqueid: {uid}\n\n"
    )
}

fn hangup(chan: &str, uid: &str) -> String {
    format!("Event: Hangup\nChannel: {chan}\nUniqueid: {uid}\nCause: 16\n\n")
}

const A_CHAN: &str = "PJSIP/1000-00000001";
const A_UID: &str = "1795422529.1";
const B_CHAN: &str = "PJSIP/1002-00000002";
const B_UID: &str = "1795422529.2";

/// Alice (1000) calls Bob (1002); Bob answers; both talk in bridge `b1`.
fn talking() -> String {
    newchannel(A_CHAN, A_UID, 4, "1000", "1002")
        + &newchannel(B_CHAN, B_UID, 0, "1002", "s")
        + &dial_begin(A_CHAN, A_UID, "1000", B_CHAN, B_UID)
        + &up(B_UID)
        + &format!(
            "Event: DialEnd\nUniqueid: {A_UID}\nDestUniqueid: {B_UID}\nDialStatus: ANSWER\n\n"
        )
        + &enter("b1", B_CHAN, B_UID)
        + &enter("b1", A_CHAN, A_UID)
}

/// Signs Alice in and sets up the talking call; returns once her client
/// saw `CommutationStarted`.
async fn alice_talking(b: &Bridge) -> Ws {
    let mut ws = signed_in(b.addr, ALICE).await;
    b.ami(&talking());
    let ev = event(&mut ws, "CommutationStarted").await;
    assert_eq!(ev["call"], A_UID);
    ws
}

// ---------------------------------------------------------------- state

#[test]
fn a_new_client_gets_its_lines_calls_from_the_tracker() {
    let b = bridge("");
    b.run(async {
        let mut bob = signed_in(b.addr, BOB).await;
        b.ami(&talking());
        event(&mut bob, "CommutationStarted").await;
        let mut alice = signed_in(b.addr, ALICE).await;
        assert_eq!(
            recv(&mut alice).await,
            json!({"event":"RingStarted","line":"1000","call":A_UID,"direction":"outgoing","number":"1002","name":""})
        );
        assert_eq!(
            recv(&mut alice).await,
            json!({"event":"CommutationStarted","line":"1000","call":A_UID,"number":"1002","name":""})
        );
    });
}

// ---------------------------------------------------------------- call

#[test]
fn call_originates_from_the_line_with_a_preset_channel_id() {
    let b = bridge(r#", "asyncOriginate": false"#);
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        let mark = b.actions().len();
        let r = command(&mut ws, json!({"op":"call","id":"c","number":"+33*12#"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let call = r["call"].as_str().expect("the call id").to_owned();
        assert!(call.starts_with("ctib-"), "{call}");
        assert_eq!(
            b.actions_since(mark),
            [fields(&[
                ("Action", "Originate"),
                ("Channel", "PJSIP/1000"),
                ("Context", "from-internal"),
                ("Exten", "+33*12#"),
                ("Priority", "1"),
                ("Timeout", "30000"),
                ("CallerID", "\"alice\" <1000>"),
                ("ChannelId", &call),
                ("Async", "true"),
            ])]
        );
        // Asterisk creates the phone's channel with that Uniqueid: the
        // tracker was told before the action left, so the call is outgoing
        // to the dialled number from its first event.
        b.ami(&newchannel("PJSIP/1000-00000008", &call, 0, "1000", "s"));
        assert_eq!(
            event(&mut ws, "RingStarted").await,
            json!({"event":"RingStarted","line":"1000","call":call,"direction":"outgoing","number":"+33*12#","name":""})
        );
    });
}

#[test]
fn a_users_context_replaces_originate_context() {
    let b = bridge("");
    b.run(async {
        let mut ws = signed_in(b.addr, CAROL).await;
        let mark = b.actions().len();
        // Async: the result comes at RingStarted or at the OriginateResponse.
        let r = command(&mut ws, json!({"op":"call","id":"c","number":"1002"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let sent = b.actions_since(mark);
        assert_eq!(sent[0][2], ("Context".to_string(), "agents".to_string()));
        assert_eq!(
            sent[0][1],
            ("Channel".to_string(), "PJSIP/1006".to_string())
        );
    });
}

#[test]
fn async_call_is_done_when_the_phone_rings_before_the_originate_response() {
    let opts = FakeOptions {
        originate_delay: Duration::from_secs(30),
        ..FakeOptions::default()
    };
    let b = start(r#", "asyncOriginate": true"#, opts, Duration::from_secs(5));
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        let mark = b.actions().len();
        send(&mut ws, json!({"op":"call","id":"c","number":"1002"})).await;
        wait_for("the Originate", || b.actions().len() > mark).await;
        let id = b.actions_since(mark)[0]
            .iter()
            .find(|(k, _)| k == "ChannelId")
            .map(|(_, v)| v.clone())
            .expect("a ChannelId");
        // The OriginateResponse is 30 s away; the phone rings now.
        b.ami(&newchannel("PJSIP/1000-00000009", &id, 5, "1000", "s"));
        let (r, events) = result(&mut ws, "c").await;
        assert_eq!(r, json!({"op":"result","id":"c","ok":true,"call":id}));
        assert_eq!(events[0]["event"], "RingStarted");
    });
}

#[test]
fn sync_call_waits_for_the_phone_to_answer() {
    let opts = FakeOptions {
        originate_delay: Duration::from_millis(1500),
        ..FakeOptions::default()
    };
    let b = start(r#", "asyncOriginate": false"#, opts, Duration::from_secs(5));
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        let mark = b.actions().len();
        send(&mut ws, json!({"op":"call","id":"c","number":"1002"})).await;
        wait_for("the Originate", || b.actions().len() > mark).await;
        let id = b.actions_since(mark)[0]
            .iter()
            .find(|(k, _)| k == "ChannelId")
            .map(|(_, v)| v.clone())
            .unwrap();
        b.ami(&newchannel("PJSIP/1000-00000009", &id, 5, "1000", "s"));
        // The RingStarted goes out first; the result waits for the
        // OriginateResponse saying the phone answered.
        assert_eq!(recv(&mut ws).await["event"], "RingStarted");
        assert_eq!(
            recv(&mut ws).await,
            json!({"op":"result","id":"c","ok":true,"call":id})
        );
    });
}

#[test]
fn an_unanswered_originate_is_a_failed_result() {
    let opts = FakeOptions {
        originate_failure: Some("3".into()),
        ..FakeOptions::default()
    };
    let b = start(r#", "asyncOriginate": false"#, opts, Duration::from_secs(5));
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        let r = command(&mut ws, json!({"op":"call","id":"c","number":"1002"})).await;
        assert_eq!(r["ok"], false);
        assert_eq!(r["code"], "failed");
        assert!(
            r["error"].as_str().unwrap().contains("did not answer"),
            "{r}"
        );
    });
}

#[test]
fn dial_patterns_refuse_numbers_before_asterisk() {
    let b = bridge(r#", "asyncOriginate": false"#);
    b.run(async {
        let mut carol = signed_in(b.addr, CAROL).await;
        let mark = b.actions().len();
        for (op, number) in [
            ("call", "0033612345678"),
            ("call", "12345"),
            ("call", "*72"),
        ] {
            let r = command(&mut carol, json!({"op":op,"id":"x","number":number})).await;
            assert_eq!(r["code"], "invalid_number", "{number}: {r}");
            assert!(r["error"].as_str().unwrap().contains("dialPatterns"), "{r}");
        }
        assert!(b.actions_since(mark).is_empty());
        for number in ["1002", "0612345678"] {
            let r = command(&mut carol, json!({"op":"call","id":"ok","number":number})).await;
            assert_eq!(r["ok"], true, "{number}: {r}");
        }
        assert_eq!(b.actions_since(mark).len(), 2);
    });
}

#[test]
fn originate_rate_is_limited_per_user() {
    let b = bridge(r#", "asyncOriginate": false, "originateRatePerMinute": 2"#);
    b.run(async {
        let mut alice = signed_in(b.addr, ALICE).await;
        let mut bob = signed_in(b.addr, BOB).await;
        let mark = b.actions().len();
        for i in 0..2 {
            let r = command(&mut alice, json!({"op":"call","id":"c","number":"1002"})).await;
            assert_eq!(r["ok"], true, "call {i}: {r}");
        }
        let r = command(&mut alice, json!({"op":"call","id":"c","number":"1002"})).await;
        assert_eq!(r["code"], "rate_limited", "{r}");
        assert!(
            r["error"].as_str().unwrap().contains("2 calls per minute"),
            "{r}"
        );
        assert_eq!(
            b.actions_since(mark).len(),
            2,
            "the third never reached Asterisk"
        );
        // Bob has his own allowance; Alice's other commands still work.
        let r = command(&mut bob, json!({"op":"call","id":"c","number":"1000"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let r = command(
            &mut alice,
            json!({"op":"queue_pause","id":"q","paused":true,"reason":""}),
        )
        .await;
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(b.control.stats().rate_limited, 1);
    });
}

#[test]
fn originate_rate_zero_turns_calls_off() {
    let b = bridge(r#", "originateRatePerMinute": 0"#);
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        let mark = b.actions().len();
        let r = command(&mut ws, json!({"op":"call","id":"c","number":"1002"})).await;
        assert_eq!(r["code"], "unsupported", "{r}");
        assert!(b.actions_since(mark).is_empty());
    });
}

// ---------------------------------------------------------------- call control

#[test]
fn hangup_hangs_up_the_line_channel() {
    let opts = FakeOptions {
        known_channels: vec![A_CHAN.into()],
        ..FakeOptions::default()
    };
    let b = start("", opts, Duration::from_secs(5));
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        let r = command(&mut ws, json!({"op":"hangup","id":"h","call":A_UID})).await;
        assert_eq!(r, json!({"op":"result","id":"h","ok":true}));
        assert_eq!(
            b.actions_since(mark),
            [fields(&[("Action", "Hangup"), ("Channel", A_CHAN)])]
        );
    });
}

#[test]
fn a_call_of_another_line_is_forbidden() {
    let b = bridge("");
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        for op in ["hangup", "hold", "unhold", "answer"] {
            let r = command(&mut ws, json!({"op":op,"id":"x","call":B_UID})).await;
            assert_eq!(r["code"], "forbidden", "{op}: {r}");
        }
        let r = command(
            &mut ws,
            json!({"op":"transfer","id":"x","call":B_UID,"number":"1006"}),
        )
        .await;
        assert_eq!(r["code"], "forbidden", "{r}");
        let r = command(
            &mut ws,
            json!({"op":"hangup","id":"x","call":"1795422529.99"}),
        )
        .await;
        assert_eq!(r["code"], "forbidden", "an unknown call: {r}");
        assert!(b.actions_since(mark).is_empty());
    });
}

#[test]
fn hold_parks_the_peer_and_unhold_originates_into_its_space() {
    let b = bridge(r#", "asyncOriginate": false"#);
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        let r = command(&mut ws, json!({"op":"hold","id":"h","call":A_UID})).await;
        assert_eq!(r, json!({"op":"result","id":"h","ok":true}));
        assert_eq!(
            b.actions_since(mark),
            [fields(&[
                ("Action", "Park"),
                ("Channel", B_CHAN),
                ("Timeout", "300000"),
                ("Channel2", A_CHAN),
            ])]
        );
        // Asterisk has not reported the park yet: nothing to bring back.
        let r = command(&mut ws, json!({"op":"unhold","id":"u0","call":A_UID})).await;
        assert_eq!(r["code"], "not_found", "{r}");
        // Bob is parked on 701 and Alice's channel, left alone, hangs up.
        b.ami(&format!(
            "Event: ParkedCall\nParkeeChannel: {B_CHAN}\nParkeeUniqueid: {B_UID}\n\
             ParkingSpace: 701\nParkingLot: default\n\n"
        ));
        b.ami(&hangup(A_CHAN, A_UID));
        assert_eq!(event(&mut ws, "RingFinished").await["call"], A_UID);
        // The held call's id still names the parked party.
        let mark = b.actions().len();
        let r = command(&mut ws, json!({"op":"unhold","id":"u","call":A_UID})).await;
        assert_eq!(r["ok"], true, "{r}");
        let call = r["call"].as_str().unwrap().to_owned();
        assert_ne!(call, A_UID);
        assert_eq!(
            b.actions_since(mark),
            [fields(&[
                ("Action", "Originate"),
                ("Channel", "PJSIP/1000"),
                ("Context", "parkedcalls"),
                ("Exten", "701"),
                ("Priority", "1"),
                ("Timeout", "30000"),
                ("CallerID", "\"alice\" <1000>"),
                ("ChannelId", &call),
                ("Async", "true"),
            ])]
        );
        // Brought back once: the old id means nothing any more.
        let r = command(&mut ws, json!({"op":"unhold","id":"u2","call":A_UID})).await;
        assert_eq!(r["code"], "forbidden", "{r}");
    });
}

#[test]
fn hold_of_a_call_not_talking_is_not_found() {
    let b = bridge("");
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        b.ami(&newchannel(A_CHAN, A_UID, 4, "1000", "1002"));
        event(&mut ws, "RingStarted").await;
        let mark = b.actions().len();
        let r = command(&mut ws, json!({"op":"hold","id":"h","call":A_UID})).await;
        assert_eq!(r["code"], "not_found", "{r}");
        assert!(b.actions_since(mark).is_empty());
    });
}

#[test]
fn transfer_is_a_blind_transfer_of_the_line_channel() {
    let b = bridge("");
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        let r = command(
            &mut ws,
            json!({"op":"transfer","id":"t","call":A_UID,"number":"1006"}),
        )
        .await;
        assert_eq!(r, json!({"op":"result","id":"t","ok":true}));
        assert_eq!(
            b.actions_since(mark),
            [fields(&[
                ("Action", "BlindTransfer"),
                ("Channel", A_CHAN),
                ("Context", "from-internal"),
                ("Exten", "1006"),
            ])]
        );
    });
}

#[test]
fn transfer_falls_back_to_redirect_of_the_peer_where_blind_transfer_is_unknown() {
    let opts = FakeOptions {
        refuse: vec![(
            "BlindTransfer".into(),
            "Invalid/unknown command: BlindTransfer. Use Action: ListCommands to show available commands.".into(),
        )],
        ..FakeOptions::default()
    };
    let b = start("", opts, Duration::from_secs(5));
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        let r = command(
            &mut ws,
            json!({"op":"transfer","id":"t","call":A_UID,"number":"1006"}),
        )
        .await;
        assert_eq!(r["ok"], true, "{r}");
        let sent = b.actions_since(mark);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert_eq!(sent[0][0].1, "BlindTransfer");
        assert_eq!(
            sent[1],
            fields(&[
                ("Action", "Redirect"),
                ("Channel", B_CHAN),
                ("Context", "from-internal"),
                ("Exten", "1006"),
                ("Priority", "1"),
            ])
        );
    });
}

#[test]
fn asterisk_11_transfers_with_redirect_at_once() {
    let opts = FakeOptions {
        banner: "Asterisk Call Manager/1.3".into(),
        ..FakeOptions::default()
    };
    let b = start("", opts, Duration::from_secs(5));
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        let r = command(
            &mut ws,
            json!({"op":"transfer","id":"t","call":A_UID,"number":"1006"}),
        )
        .await;
        assert_eq!(r["ok"], true, "{r}");
        let sent = b.actions_since(mark);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0][0].1, "Redirect");
        assert_eq!(sent[0][1].1, B_CHAN);
    });
}

#[test]
fn attended_transfer_is_atxfer_of_the_line_channel() {
    let b = bridge("");
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        let r = command(
            &mut ws,
            json!({"op":"attended_transfer","id":"t","call":A_UID,"number":"1006"}),
        )
        .await;
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(
            b.actions_since(mark),
            [fields(&[
                ("Action", "Atxfer"),
                ("Channel", A_CHAN),
                ("Context", "from-internal"),
                ("Exten", "1006"),
            ])]
        );
    });
}

#[test]
fn transfers_obey_dial_patterns() {
    let b = bridge("");
    b.run(async {
        let mut carol = signed_in(b.addr, CAROL).await;
        b.ami(&newchannel(
            "PJSIP/1006-00000003",
            "1795422529.3",
            4,
            "1006",
            "1000",
        ));
        event(&mut carol, "RingStarted").await;
        let mark = b.actions().len();
        for op in ["transfer", "attended_transfer"] {
            let r = command(
                &mut carol,
                json!({"op":op,"id":"t","call":"1795422529.3","number":"0033999"}),
            )
            .await;
            assert_eq!(r["code"], "invalid_number", "{op}: {r}");
        }
        assert!(b.actions_since(mark).is_empty());
    });
}

#[test]
fn answer_sends_a_talk_notify_to_the_endpoint() {
    let b = bridge("");
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        b.ami(&newchannel(A_CHAN, A_UID, 5, "0612345678", "1000"));
        event(&mut ws, "RingStarted").await;
        let mark = b.actions().len();
        let r = command(&mut ws, json!({"op":"answer","id":"a","call":A_UID})).await;
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(
            b.actions_since(mark),
            [fields(&[
                ("Action", "PJSIPNotify"),
                ("Endpoint", "1000"),
                ("Variable", "Event=talk"),
            ])]
        );
    });
}

#[test]
fn answer_refused_by_asterisk_is_unsupported_in_words() {
    let opts = FakeOptions {
        refuse: vec![("PJSIPNotify".into(), "Unable to send notify".into())],
        ..FakeOptions::default()
    };
    let b = start("", opts, Duration::from_secs(5));
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        b.ami(&newchannel(A_CHAN, A_UID, 5, "0612345678", "1000"));
        event(&mut ws, "RingStarted").await;
        let r = command(&mut ws, json!({"op":"answer","id":"a","call":A_UID})).await;
        assert_eq!(r["code"], "unsupported", "{r}");
        let e = r["error"].as_str().unwrap();
        assert!(e.contains("does not support remote answer"), "{e}");
        assert!(e.contains("Unable to send notify"), "{e}");
    });
}

#[test]
fn queue_pause_pauses_the_lines_queue_interface() {
    let b = bridge(r#", "queueExtensionFormat": "Local/{0}@from-queue/n""#);
    b.run(async {
        let mut ws = signed_in(b.addr, ALICE).await;
        let mark = b.actions().len();
        let r = command(
            &mut ws,
            json!({"op":"queue_pause","id":"p","paused":true,"reason":"Déjeuner","queue":"support"}),
        )
        .await;
        assert_eq!(r["ok"], true, "{r}");
        let r = command(
            &mut ws,
            json!({"op":"queue_pause","id":"u","paused":false,"reason":""}),
        )
        .await;
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(
            b.actions_since(mark),
            [
                fields(&[
                    ("Action", "QueuePause"),
                    ("Interface", "Local/1000@from-queue/n"),
                    ("Paused", "true"),
                    ("Queue", "support"),
                    ("Reason", "Déjeuner"),
                ]),
                fields(&[
                    ("Action", "QueuePause"),
                    ("Interface", "Local/1000@from-queue/n"),
                    ("Paused", "false"),
                ]),
            ]
        );
    });
}

// ---------------------------------------------------------------- refusals

#[test]
fn injection_attempts_never_reach_asterisk() {
    let b = bridge("");
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        let attempts = [
            (json!({"op":"call","number":"1002\r\nAction: Originate"}), "invalid_number"),
            (json!({"op":"call","number":"1002\nChannel: PJSIP/666"}), "invalid_number"),
            (json!({"op":"call","number":"12a"}), "invalid_number"),
            (json!({"op":"call","number":"1 2"}), "invalid_number"),
            (json!({"op":"call","number":"1".repeat(33)}), "invalid_number"),
            (json!({"op":"call","number":""}), "invalid_number"),
            (json!({"op":"transfer","call":A_UID,"number":"1006\r\n\r\nAction: Hangup"}), "invalid_number"),
            (json!({"op":"hangup","call":format!("{A_UID}\r\nChannel: PJSIP/1002-00000002")}), "invalid_value"),
            (json!({"op":"queue_pause","paused":true,"reason":"lunch\r\nAction: Logoff"}), "invalid_value"),
            (json!({"op":"queue_pause","paused":true,"reason":"x","queue":"q\nInterface: SIP/9"}), "invalid_value"),
            (json!({"op":"queue_pause","paused":true,"reason":"nul\u{0}"}), "invalid_value"),
        ];
        for (i, (mut cmd, code)) in attempts.into_iter().enumerate() {
            let id = format!("i{i}");
            cmd["id"] = json!(id);
            let r = command(&mut ws, cmd.clone()).await;
            assert_eq!(r["code"], code, "{cmd}: {r}");
        }
        assert!(
            b.actions_since(mark).is_empty(),
            "{:?}",
            b.actions_since(mark)
        );
        // The connection carries on.
        let r = command(&mut ws, json!({"op":"ping","id":"p"})).await;
        assert_eq!(r["ok"], true);
    });
}

// ---------------------------------------------------------------- AMI errors

#[test]
fn asterisks_refusal_is_an_ami_error_with_its_message() {
    // The fake knows no channel: Hangup gets "No such channel".
    let b = bridge("");
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let r = command(&mut ws, json!({"op":"hangup","id":"h","call":A_UID})).await;
        assert_eq!(
            r,
            json!({"op":"result","id":"h","ok":false,"code":"ami_error",
                   "error":"Asterisk refused the Hangup: No such channel"})
        );
    });
}

#[test]
fn no_answer_in_time_is_a_timeout() {
    let b = start("", FakeOptions::default(), Duration::from_millis(300));
    b.run(async {
        let mut ws = alice_talking(&b).await;
        b.fake.set_silent(true);
        let r = command(&mut ws, json!({"op":"hangup","id":"h","call":A_UID})).await;
        assert_eq!(r["code"], "timeout", "{r}");
    });
}

#[test]
fn a_lost_pbx_is_not_connected() {
    let b = bridge("");
    b.run(async {
        let mut ws = alice_talking(&b).await;
        b.fake.stop_listening();
        wait_for("the session to notice", || !b.session.is_connected()).await;
        let r = command(
            &mut ws,
            json!({"op":"queue_pause","id":"q","paused":true,"reason":""}),
        )
        .await;
        assert_eq!(r["code"], "not_connected", "{r}");
        // The call is still known (its channels were not seen ending), so
        // the command reached the session, which said so.
        let r = command(&mut ws, json!({"op":"hangup","id":"h","call":A_UID})).await;
        assert_eq!(r["code"], "not_connected", "{r}");
    });
}

// ---------------------------------------------------------------- queues

const C_CHAN: &str = "PJSIP/1006-0000000c";
const C_UID: &str = "1795422588.12";
const Q_CHAN: &str = "IAX2/provider-0000000b";
const Q_UID: &str = "1795422587.11";

/// A caller into queue `support` reaches static member 1006, which answers.
fn queue_call_answered() -> String {
    newchannel(Q_CHAN, Q_UID, 4, "0612345678", "7000")
        + &up(Q_UID)
        + &newchannel(C_CHAN, C_UID, 0, "1006", "7000")
        + &format!(
            "Event: AgentCalled\nChannel: {Q_CHAN}\nUniqueid: {Q_UID}\nDestChannel: {C_CHAN}\n\
             DestUniqueid: {C_UID}\nQueue: support\nInterface: PJSIP/1006\nMemberName: Carol\n\n"
        )
        + &dial_begin(Q_CHAN, Q_UID, "0612345678", C_CHAN, C_UID)
        + &up(C_UID)
        + &format!(
            "Event: AgentConnect\nChannel: {Q_CHAN}\nUniqueid: {Q_UID}\nDestChannel: {C_CHAN}\n\
             DestUniqueid: {C_UID}\nQueue: support\nInterface: PJSIP/1006\n\n"
        )
        + &enter("bq", C_CHAN, C_UID)
        + &enter("bq", Q_CHAN, Q_UID)
}

fn queue_pauses(b: &Bridge, mark: usize) -> Vec<Vec<(String, String)>> {
    b.actions_since(mark)
        .into_iter()
        .filter(|a| a[0].1 == "QueuePause")
        .collect()
}

const AUTO: &str =
    r#", "autoPauseOnCommutationStart": true, "queueExtensionFormat": "Local/{0}@from-queue/n""#;

#[test]
fn auto_pause_pauses_a_queue_call_while_it_talks() {
    let b = bridge(AUTO);
    b.run(async {
        let mut carol = signed_in(b.addr, CAROL).await;
        let mark = b.actions().len();
        b.ami(&queue_call_answered());
        event(&mut carol, "CommutationStarted").await;
        wait_for("the pause", || queue_pauses(&b, mark).len() == 1).await;
        assert_eq!(
            queue_pauses(&b, mark),
            [fields(&[
                ("Action", "QueuePause"),
                ("Interface", "Local/1006@from-queue/n"),
                ("Paused", "true"),
            ])]
        );
        b.ami(&hangup(Q_CHAN, Q_UID));
        b.ami(&hangup(C_CHAN, C_UID));
        event(&mut carol, "RingFinished").await;
        wait_for("the unpause", || queue_pauses(&b, mark).len() == 2).await;
        assert_eq!(
            queue_pauses(&b, mark)[1],
            fields(&[
                ("Action", "QueuePause"),
                ("Interface", "Local/1006@from-queue/n"),
                ("Paused", "false"),
            ])
        );
        assert_eq!(b.control.stats().auto_paused, 1);
        wait_for("the unpause result", || {
            b.control.stats().auto_unpaused == 1
        })
        .await;
    });
}

#[test]
fn auto_pause_leaves_ordinary_calls_alone() {
    let b = bridge(AUTO);
    b.run(async {
        let mut ws = alice_talking(&b).await;
        let mark = b.actions().len();
        b.ami(&hangup(A_CHAN, A_UID));
        event(&mut ws, "RingFinished").await;
        // A ping answered after the events: everything before it was handled.
        let r = command(&mut ws, json!({"op":"ping","id":"p"})).await;
        assert_eq!(r["ok"], true);
        Timer::after(Duration::from_millis(50)).await;
        assert!(queue_pauses(&b, mark).is_empty());
    });
}

#[test]
fn auto_pause_leaves_a_line_paused_before_the_call_paused() {
    let b = bridge(AUTO);
    b.run(async {
        let mut carol = signed_in(b.addr, CAROL).await;
        b.ami(
            "Event: QueueMemberPause\nQueue: support\nInterface: Local/1006@from-queue/n\n\
             MemberName: Carol\nPaused: 1\nPausedReason: Lunch\n\n",
        );
        assert_eq!(event(&mut carol, "QueueState").await["paused"], true);
        let mark = b.actions().len();
        b.ami(&queue_call_answered());
        event(&mut carol, "CommutationStarted").await;
        b.ami(&hangup(C_CHAN, C_UID));
        event(&mut carol, "RingFinished").await;
        Timer::after(Duration::from_millis(50)).await;
        assert!(
            queue_pauses(&b, mark).is_empty(),
            "{:?}",
            queue_pauses(&b, mark)
        );
    });
}

#[test]
fn queue_state_is_logged_with_trace_queues_state() {
    let b = bridge(r#", "traceQueuesState": true"#);
    b.run(async {
        let mut carol = signed_in(b.addr, CAROL).await;
        b.ami(
            "Event: QueueMemberPause\nQueue: sales\nInterface: Local/1006@from-queue/n\n\
             Paused: 1\nPausedReason: Break 7\n\n",
        );
        event(&mut carol, "QueueState").await;
        let lines = LOG_LINES.lock().unwrap().clone();
        assert!(
            lines
                .iter()
                .any(|l| l == "INFO queue member of line 1006: paused in sales (Break 7)"),
            "{lines:?}"
        );
    });
}

#[test]
fn control_is_the_backend_the_server_asks_about_calls() {
    let b = bridge("");
    b.run(async {
        let _ws = alice_talking(&b).await;
        assert!(b.control.owns_call("1000", A_UID));
        assert!(!b.control.owns_call("1002", A_UID));
        assert!(b.control.owns_call("1002", B_UID));
        assert_eq!(b.control.snapshot("1006"), Vec::<String>::new());
        assert_eq!(b.control.snapshot("1000").len(), 2);
    });
}
