//! The AMI session against an in-test Asterisk (tests/common/fake_ami.rs):
//! login, actions, keepalive, reconnect, resync hand-off, playback, record.
//!
//! Timings are shortened through `SessionOptions`; assertions only ever say
//! that a delay was at least something, never that anything was fast.

mod common;

use async_executor::{LocalExecutor, Task};
use async_io::Timer;
use common::fake_ami::{channel, field, FakeAmi, FakeOptions};
use common::{decode_whole, read, recordings_dir, Owned};
use ctibridge::ami::record::{record_to, RecordError};
use ctibridge::ami::{
    run_playback, run_session, Action, ActionError, AmiSink, Auth, InvalidAction, Originate,
    Packet, PlaybackOptions, PlaybackSource, Secret, SessionChange, SessionHandle, SessionOptions,
};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- harness

static LOG_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct CaptureLog;

impl log::Log for CaptureLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}", record.level(), record.args());
        LOG_LINES.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

fn log_lines() -> Vec<String> {
    LOG_LINES.lock().unwrap().clone()
}

/// Runs `f` on a fresh single-threaded executor, as the program does.
fn run<F, Fut>(f: F)
where
    F: FnOnce(Rc<LocalExecutor<'static>>) -> Fut,
    Fut: Future<Output = ()>,
{
    static LOGGER: Once = Once::new();
    LOGGER.call_once(|| {
        log::set_logger(&CaptureLog).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
    let ex = Rc::new(LocalExecutor::new());
    let fut = f(ex.clone());
    async_io::block_on(ex.run(fut));
}

/// What the sink saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rec {
    Event(Vec<(String, String)>),
    Connected(String),
    ResyncStarted,
    ResyncFinished(u32, Option<String>),
    Disconnected(String),
}

impl Rec {
    fn event_name(&self) -> Option<&str> {
        match self {
            Rec::Event(f) => f
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Event"))
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
    fn get(&self, key: &str) -> Option<&str> {
        match self {
            Rec::Event(f) => f
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Recorder {
    recs: Vec<(Instant, Rec)>,
}

impl AmiSink for Recorder {
    fn packet(&mut self, p: &Packet<'_>) {
        let f = p
            .fields()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        self.recs.push((Instant::now(), Rec::Event(f)));
    }
    fn session(&mut self, c: SessionChange<'_>) {
        let r = match c {
            SessionChange::Connected { version } => Rec::Connected(version.into()),
            SessionChange::ResyncStarted => Rec::ResyncStarted,
            SessionChange::ResyncFinished { channels, error } => {
                Rec::ResyncFinished(channels, error.map(str::to_owned))
            }
            SessionChange::Disconnected { reason } => Rec::Disconnected(reason.into()),
        };
        self.recs.push((Instant::now(), r));
    }
}

type Sink = Rc<RefCell<Recorder>>;

fn recs(s: &Sink) -> Vec<Rec> {
    s.borrow().recs.iter().map(|(_, r)| r.clone()).collect()
}

fn count(s: &Sink, pred: impl Fn(&Rec) -> bool) -> usize {
    s.borrow().recs.iter().filter(|(_, r)| pred(r)).count()
}

/// Waits (polling every 5 ms) until `cond` holds; fails after 10 s so a
/// broken session cannot hang the suite.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        Timer::after(Duration::from_millis(5)).await;
    }
}

fn opts(fake: &FakeAmi) -> SessionOptions {
    SessionOptions {
        host: "127.0.0.1".into(),
        port: fake.addr().port(),
        user: "bridge".into(),
        secret: Secret::new("s3cret"),
        auth: Auth::Md5,
        connect_timeout: Duration::from_secs(2),
        ping_interval: Duration::from_millis(200),
        action_timeout: Duration::from_millis(300),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..SessionOptions::default()
    }
}

struct Running {
    handle: SessionHandle,
    sink: Sink,
    stop: async_channel::Sender<()>,
    task: Task<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.close();
        self.task.await;
    }
}

fn start(ex: &Rc<LocalExecutor<'static>>, o: SessionOptions) -> Running {
    let handle = SessionHandle::new();
    let sink: Sink = Rc::default();
    let (tx, rx) = async_channel::bounded::<()>(1);
    let task = ex.spawn(run_session(o, sink.clone(), handle.clone(), async move {
        let _ = rx.recv().await;
    }));
    Running {
        handle,
        sink,
        stop: tx,
        task,
    }
}

async fn resynced(r: &Running, n: usize) {
    wait_for("resync finished", || {
        count(&r.sink, |x| matches!(x, Rec::ResyncFinished(..))) >= n
    })
    .await;
}

fn action_names(fake: &FakeAmi) -> Vec<String> {
    fake.actions()
        .iter()
        .map(|a| field(a, "Action").unwrap_or("").to_owned())
        .collect()
}

// ------------------------------------------------------------------ login

#[test]
fn md5_login_sends_the_key_asterisk_expects_and_resyncs() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                channels: vec![
                    channel("PJSIP/1000-00000000", "1763897600.0", "Up"),
                    channel("PJSIP/1002-00000001", "1763897600.1", "Up"),
                ],
                ..FakeOptions::default()
            },
        );
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        let a = fake.actions();
        assert_eq!(field(&a[0], "Action"), Some("Challenge"));
        assert_eq!(field(&a[0], "AuthType"), Some("MD5"));
        assert_eq!(field(&a[1], "Action"), Some("Login"));
        assert_eq!(field(&a[1], "Username"), Some("bridge"));
        // md5("123456789" + "s3cret"), computed with
        // python3 -c 'import hashlib;print(hashlib.md5(b"123456789"+b"s3cret").hexdigest())'
        assert_eq!(
            field(&a[1], "Key"),
            Some("d32b5714dd0e3ae70d4a845d5e524f3f")
        );
        assert_eq!(field(&a[1], "Events"), Some("on"));
        assert_eq!(
            field(&a[1], "Secret"),
            None,
            "the secret never crosses the network"
        );
        assert_eq!(field(&a[2], "Action"), Some("CoreShowChannels"));
        assert!(r.handle.is_connected());
        let st = r.handle.status();
        assert!(st.connected);
        assert_eq!(st.version.as_str(), "11.0.0");
        assert_eq!(st.banner.as_str(), "Asterisk Call Manager/11.0.0");
        assert!(st.connected_since.is_some());
        assert_eq!(st.reconnects, 0);
        // The hand-off, in order: FullyBooted is an ordinary event.
        let seen = recs(&r.sink);
        assert_eq!(seen[0], Rec::Connected("11.0.0".into()));
        assert_eq!(seen[1], Rec::ResyncStarted);
        assert_eq!(seen[2].event_name(), Some("FullyBooted"));
        assert_eq!(seen[3].event_name(), Some("CoreShowChannel"));
        assert_eq!(seen[3].get("Uniqueid"), Some("1763897600.0"));
        assert_eq!(seen[4].get("Uniqueid"), Some("1763897600.1"));
        assert_eq!(seen[5], Rec::ResyncFinished(2, None));
        assert_eq!(
            seen.len(),
            6,
            "CoreShowChannelsComplete is not passed on: {seen:?}"
        );
        r.stop().await;
    });
}

#[test]
fn plain_login_sends_the_secret_and_no_challenge() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(
            &ex,
            SessionOptions {
                auth: Auth::Plain,
                ..opts(&fake)
            },
        );
        resynced(&r, 1).await;
        let a = fake.actions();
        assert_eq!(field(&a[0], "Action"), Some("Login"));
        assert_eq!(field(&a[0], "Secret"), Some("s3cret"));
        assert!(!action_names(&fake).iter().any(|n| n == "Challenge"));
        assert_eq!(recs(&r.sink)[0], Rec::Connected("11.0.0".into()));
        r.stop().await;
    });
}

#[test]
fn proxy_banner_version_is_kept() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                banner: "Asterisk Call Manager Proxy/1.1".into(),
                ..FakeOptions::default()
            },
        );
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        assert_eq!(r.handle.status().version.as_str(), "Proxy/1.1");
        assert_eq!(recs(&r.sink)[0], Rec::Connected("Proxy/1.1".into()));
        r.stop().await;
    });
}

#[test]
fn refused_login_is_logged_once_and_retried_with_growing_backoff() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                secret: "other".into(),
                refuse_delay: Duration::from_millis(30),
                ..FakeOptions::default()
            },
        );
        let o = opts(&fake);
        let r = start(&ex, o.clone());
        wait_for("four refused logins", || {
            fake.conns().iter().filter(|c| c.closed).count() >= 4
        })
        .await;
        let conns = fake.conns();
        assert_eq!(fake.logins(), 0);
        // Each retry waits the refusal delay plus a backoff delay, which is
        // at least backoff_min and then at least 0.8 x 2^n x backoff_min.
        let gaps: Vec<Duration> = conns
            .windows(2)
            .map(|w| w[1].accepted - w[0].accepted)
            .collect();
        assert!(gaps[0] >= Duration::from_millis(30 + 50), "{gaps:?}");
        assert!(gaps[1] >= Duration::from_millis(30 + 80), "{gaps:?}");
        assert!(gaps[2] >= Duration::from_millis(30 + 160), "{gaps:?}");
        let st = r.handle.status();
        assert!(!st.connected);
        assert!(st.login_failures >= 3, "{st:?}");
        assert!(
            st.last_error.contains("Authentication failed"),
            "{}",
            st.last_error
        );
        assert!(st.last_error.contains("permit/deny"), "{}", st.last_error);
        assert!(
            recs(&r.sink).is_empty(),
            "a refused login is not a connection"
        );
        let port = format!(":{},", o.port);
        let warnings: Vec<_> = log_lines()
            .into_iter()
            .filter(|l| l.starts_with("WARN") && l.contains(&port) && l.contains("login refused"))
            .collect();
        assert_eq!(warnings.len(), 1, "logged once: {warnings:?}");
        assert!(warnings[0].contains("user 'bridge'"));
        // Once the secret is right, the next attempt logs in.
        fake.update(|o| o.secret = "s3cret".into());
        resynced(&r, 1).await;
        assert!(r.handle.status().login_failures >= 3);
        r.stop().await;
    });
}

#[test]
fn secret_never_appears_in_the_log() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        // A refused plain login (the secret is sent but must not be logged).
        let bad = start(
            &ex,
            SessionOptions {
                auth: Auth::Plain,
                secret: Secret::new("wr0ngpass"),
                ..opts(&fake)
            },
        );
        wait_for("a refusal", || bad.handle.status().login_failures >= 1).await;
        bad.stop().await;
        let good = start(&ex, opts(&fake));
        resynced(&good, 1).await;
        good.stop().await;
        for l in log_lines() {
            assert!(!l.contains("s3cret") && !l.contains("wr0ngpass"), "{l}");
        }
        assert!(format!("{:?}", opts(&fake)).contains("Secret(***)"));
    });
}

// ---------------------------------------------------------------- actions

#[test]
fn replies_reach_their_callers_by_action_id() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                channels: vec![channel("PJSIP/1002-0000001b", "1.2", "Up")],
                ..FakeOptions::default()
            },
        );
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        let (h1, h2, h3) = (r.handle.clone(), r.handle.clone(), r.handle.clone());
        let ping = ex.spawn(async move { h1.send(Action::ping()).await });
        let hang = ex.spawn(async move {
            h2.send(Action::hangup("PJSIP/1002-0000001b", Some(16)).unwrap())
                .await
        });
        let miss = ex.spawn(async move {
            h3.send(Action::hangup("PJSIP/9999-00000000", None).unwrap())
                .await
        });
        let pong = ping.await.unwrap();
        assert_eq!(pong.get("Ping"), Some("Pong"));
        assert_eq!(hang.await.unwrap().message(), Some("Channel Hungup"));
        match miss.await {
            Err(ActionError::Refused { message }) => assert_eq!(&*message, "No such channel"),
            other => panic!("{other:?}"),
        }
        // Every action the session wrote had its own ActionID.
        let ids: Vec<String> = fake
            .actions()
            .iter()
            .map(|a| {
                field(a, "ActionID")
                    .expect("every action has an ActionID")
                    .to_owned()
            })
            .collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        assert!(ids.iter().all(|i| i.starts_with("ctib-")), "{ids:?}");
        r.stop().await;
    });
}

#[test]
fn action_without_answer_times_out_and_the_session_stays_up() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                unanswered: vec!["UserEvent".into()],
                ..FakeOptions::default()
            },
        );
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        let t0 = Instant::now();
        let res = r
            .handle
            .send(
                Action::new("UserEvent")
                    .unwrap()
                    .field("UserEvent", "x")
                    .unwrap(),
            )
            .await;
        assert_eq!(res.err(), Some(ActionError::Timeout));
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert!(r.handle.is_connected());
        assert!(r.handle.send(Action::ping()).await.is_ok());
        assert_eq!(count(&r.sink, |x| matches!(x, Rec::Disconnected(_))), 0);
        r.stop().await;
    });
}

#[test]
fn list_items_go_to_the_one_requester() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        let before = r.sink.borrow().recs.len();
        let reply = r
            .handle
            .send_list(Action::queue_status(Some("support")).unwrap())
            .await
            .unwrap();
        let names: Vec<_> = reply
            .items()
            .map(|p| p.event().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["QueueParams", "QueueMember"]);
        assert_eq!(
            reply.items().nth(1).unwrap().get("Name"),
            Some("Agent 1002")
        );
        assert_eq!(reply.message(), Some("Queue status will follow"));
        assert_eq!(
            r.sink.borrow().recs.len(),
            before,
            "no item leaked to the sink"
        );
        r.stop().await;
    });
}

#[test]
fn originate_answers_with_its_originate_response() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        let o = Originate {
            channel: "PJSIP/1000",
            context: "from-internal",
            exten: "1002",
            priority: 1,
            timeout: Duration::from_secs(1),
            caller_id: Some("\"Alice 1000\" <1000>"),
            channel_id: None,
            account: None,
            variables: &[],
        };
        let reply = r.handle.send(Action::originate(&o).unwrap()).await.unwrap();
        assert_eq!(reply.message(), Some("Originate successfully queued"));
        let ev = reply.event().expect("OriginateResponse");
        assert_eq!(ev.get("Response"), Some("Success"));
        assert_eq!(ev.get("Reason"), Some("4"));
        assert_eq!(ev.get("Uniqueid"), Some("1763897601.8"));
        let sent = fake.actions();
        let orig = sent
            .iter()
            .find(|a| field(a, "Action") == Some("Originate"))
            .unwrap();
        assert_eq!(field(orig, "Async"), Some("true"));
        r.stop().await;
    });
}

#[test]
fn cr_lf_injection_never_reaches_asterisk() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        let from_a_panel = "PJSIP/1000\r\n\r\nAction: Originate\r\nChannel: PJSIP/666";
        assert_eq!(
            Action::hangup(from_a_panel, None).err(),
            Some(InvalidAction::ControlCharacter)
        );
        assert_eq!(
            Action::redirect("PJSIP/1000-1", "from-internal", "1\n", 1).err(),
            Some(InvalidAction::ControlCharacter)
        );
        let long = "9".repeat(2000);
        assert_eq!(
            Action::blind_transfer("PJSIP/1000-1", None, &long).err(),
            Some(InvalidAction::LineTooLong)
        );
        r.handle.send(Action::ping()).await.unwrap();
        let names = action_names(&fake);
        assert!(
            !names.iter().any(|n| n == "Originate" || n == "Hangup"),
            "{names:?}"
        );
        r.stop().await;
    });
}

#[test]
fn actions_before_login_are_not_connected() {
    run(|_ex| async move {
        let h = SessionHandle::new();
        assert_eq!(
            h.send(Action::ping()).await.err(),
            Some(ActionError::NotConnected)
        );
    });
}

// ------------------------------------------------------ losses, reconnects

#[test]
fn silent_server_fails_the_keepalive_and_the_session_reconnects() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        wait_for("a ping answered", || {
            action_names(&fake).iter().any(|n| n == "Ping")
        })
        .await;
        fake.set_silent(true);
        let t0 = Instant::now();
        wait_for("disconnected", || {
            count(&r.sink, |x| matches!(x, Rec::Disconnected(_))) == 1
        })
        .await;
        // At most one ping interval to send the ping, then the action timeout.
        assert!(t0.elapsed() >= Duration::from_millis(300));
        let reason = recs(&r.sink)
            .into_iter()
            .find_map(|x| match x {
                Rec::Disconnected(s) => Some(s),
                _ => None,
            })
            .unwrap();
        assert!(reason.contains("Ping"), "{reason}");
        fake.set_silent(false);
        resynced(&r, 2).await;
        assert_eq!(r.handle.status().reconnects, 1);
        assert!(r.handle.is_connected());
        r.stop().await;
    });
}

#[test]
fn dropped_connection_reconnects_after_a_backoff() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        // A caller waiting for an answer learns the connection was lost.
        fake.update(|o| o.unanswered = vec!["UserEvent".into()]);
        let h = r.handle.clone();
        let waiting = ex.spawn(async move { h.send(Action::new("UserEvent").unwrap()).await });
        wait_for("the UserEvent at the server", || {
            action_names(&fake).iter().any(|n| n == "UserEvent")
        })
        .await;
        let dropped_at = Instant::now();
        fake.drop_all();
        assert_eq!(waiting.await.err(), Some(ActionError::ConnectionLost));
        resynced(&r, 2).await;
        let conns = fake.conns();
        assert_eq!(conns.len(), 2);
        assert!(
            conns[1].accepted - dropped_at >= Duration::from_millis(50),
            "backoff_min respected"
        );
        let seq = recs(&r.sink);
        let dis = seq
            .iter()
            .position(|x| matches!(x, Rec::Disconnected(_)))
            .unwrap();
        assert_eq!(
            seq[dis],
            Rec::Disconnected("Asterisk closed the connection".into())
        );
        assert_eq!(seq[dis + 1], Rec::Connected("11.0.0".into()));
        assert!(r.handle.status().last_error.contains("closed"));
        r.stop().await;
    });
}

#[test]
fn connection_dropped_mid_packet_delivers_no_half_event() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        fake.send_raw(
            b"Event: Newstate\r\nChannel: PJSIP/1000-00000000\r\nUniqueid: 1.0\r\n\r\nEvent: Hangup\r\nChannel: PJSIP/10",
            true,
        );
        wait_for("disconnected", || {
            count(&r.sink, |x| matches!(x, Rec::Disconnected(_))) == 1
        })
        .await;
        assert_eq!(count(&r.sink, |x| x.event_name() == Some("Newstate")), 1);
        assert_eq!(count(&r.sink, |x| x.event_name() == Some("Hangup")), 0);
        assert_eq!(r.handle.status().truncated_packets, 1);
        // The next connection starts with a clean decoder.
        resynced(&r, 2).await;
        fake.send_raw(
            b"Event: Hangup\r\nChannel: PJSIP/1000-00000000\r\nUniqueid: 1.0\r\n\r\n",
            false,
        );
        wait_for("the whole hangup", || {
            count(&r.sink, |x| x.event_name() == Some("Hangup")) == 1
        })
        .await;
        let h = recs(&r.sink)
            .into_iter()
            .find(|x| x.event_name() == Some("Hangup"))
            .unwrap();
        assert_eq!(h.get("Channel"), Some("PJSIP/1000-00000000"));
        r.stop().await;
    });
}

#[test]
fn restart_with_new_uniqueids_is_resynced_in_order() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                channels: vec![
                    channel("PJSIP/1000-00000000", "1763897600.0", "Up"),
                    channel("PJSIP/1002-00000001", "1763897600.1", "Up"),
                ],
                fully_booted: false,
                ..FakeOptions::default()
            },
        );
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        // Asterisk restarts: connections refused for a while, then a new
        // channel picture with new Uniqueids.
        fake.stop_listening();
        wait_for("disconnected", || {
            count(&r.sink, |x| matches!(x, Rec::Disconnected(_))) == 1
        })
        .await;
        Timer::after(Duration::from_millis(150)).await;
        assert!(!r.handle.is_connected());
        assert!(
            r.handle.status().last_error.contains("cannot connect"),
            "{}",
            r.handle.status().last_error
        );
        fake.set_channels(vec![channel(
            "PJSIP/1006-00000000",
            "1763899999.0",
            "Ringing",
        )]);
        fake.listen_again();
        resynced(&r, 2).await;
        let seq = recs(&r.sink);
        let short: Vec<String> = seq
            .iter()
            .map(|x| match x {
                Rec::Event(_) => format!(
                    "{}:{}",
                    x.event_name().unwrap(),
                    x.get("Uniqueid").unwrap_or("")
                ),
                Rec::Connected(v) => format!("Connected:{v}"),
                Rec::ResyncStarted => "ResyncStarted".into(),
                Rec::ResyncFinished(n, e) => format!("ResyncFinished:{n}:{}", e.is_some()),
                Rec::Disconnected(_) => "Disconnected".into(),
            })
            .collect();
        assert_eq!(
            short,
            [
                "Connected:11.0.0",
                "ResyncStarted",
                "CoreShowChannel:1763897600.0",
                "CoreShowChannel:1763897600.1",
                "ResyncFinished:2:false",
                "Disconnected",
                "Connected:11.0.0",
                "ResyncStarted",
                "CoreShowChannel:1763899999.0",
                "ResyncFinished:1:false",
            ]
        );
        // However many refused attempts the restart took, it healed once.
        assert_eq!(r.handle.status().reconnects, 1);
        assert_eq!(r.handle.status().logins, 2);
        r.stop().await;
    });
}

#[test]
fn refused_resync_finishes_with_the_reason_and_events_keep_flowing() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                deny_core_show_channels: true,
                ..FakeOptions::default()
            },
        );
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        let fin = recs(&r.sink)
            .into_iter()
            .find(|x| matches!(x, Rec::ResyncFinished(..)))
            .unwrap();
        match fin {
            Rec::ResyncFinished(0, Some(e)) => assert!(e.contains("Permission denied"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(log_lines()
            .iter()
            .any(|l| l.contains("write= line") && l.contains("reporting")));
        fake.send_raw(
            b"Event: Newchannel\r\nChannel: PJSIP/1000-00000003\r\n\r\n",
            false,
        );
        wait_for("an event", || {
            count(&r.sink, |x| x.event_name() == Some("Newchannel")) == 1
        })
        .await;
        assert!(r.handle.is_connected());
        r.stop().await;
    });
}

#[test]
fn queue_resync_items_follow_resync_finished() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(
            &ex,
            SessionOptions {
                resync_queues: true,
                ..opts(&fake)
            },
        );
        wait_for("queue member", || {
            count(&r.sink, |x| x.event_name() == Some("QueueMember")) == 1
        })
        .await;
        let seq = recs(&r.sink);
        let fin = seq
            .iter()
            .position(|x| matches!(x, Rec::ResyncFinished(..)))
            .unwrap();
        let qp = seq
            .iter()
            .position(|x| x.event_name() == Some("QueueParams"))
            .unwrap();
        assert!(qp > fin);
        assert_eq!(
            count(&r.sink, |x| x.event_name() == Some("QueueStatusComplete")),
            0
        );
        r.stop().await;
    });
}

#[test]
fn shutdown_logs_off_with_goodbye() {
    run(|ex| async move {
        let fake = FakeAmi::start(&ex, FakeOptions::default());
        let r = start(&ex, opts(&fake));
        resynced(&r, 1).await;
        let sink = r.sink.clone();
        r.stop().await;
        assert_eq!(
            action_names(&fake).last().map(String::as_str),
            Some("Logoff")
        );
        wait_for("closed", || fake.conns()[0].closed).await;
        assert!(String::from_utf8_lossy(&fake.conns()[0].sent).contains("Response: Goodbye"));
        assert!(matches!(recs(&sink).last(), Some(Rec::Disconnected(_))));
    });
}

// ------------------------------------------------- capture in random chunks

fn events_of(bytes: &[u8]) -> Vec<Vec<(String, String)>> {
    decode_whole(bytes)
        .into_iter()
        .filter_map(|p| match p {
            Owned::Packet(f) if f.iter().any(|(k, _)| k.eq_ignore_ascii_case("Event")) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn capture_cut_into_random_chunks_reaches_the_sink_whole_and_in_order() {
    for (file, seed, chunk_max) in [
        ("a_answered_caller_hangup.ami", 7u64, 3usize),
        ("f_queue_answered.ami", 11, 97),
        ("h_park_and_retrieve.ami", 5, 1500),
        ("e_ami_originate.ami", 3, 40),
    ] {
        let capture = read(&recordings_dir().join(file));
        let banner_end = capture.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let body = capture[banner_end..].to_vec();
        let expected = events_of(&body);
        assert!(expected.len() > 20, "{file}");
        run(|ex| async move {
            let fake = FakeAmi::start(
                &ex,
                FakeOptions {
                    after_login: body,
                    seed,
                    chunk_max,
                    fully_booted: false,
                    ..FakeOptions::default()
                },
            );
            let r = start(&ex, opts(&fake));
            resynced(&r, 1).await;
            wait_for("every event", || {
                count(&r.sink, |x| matches!(x, Rec::Event(_))) >= expected.len()
            })
            .await;
            let got: Vec<_> = recs(&r.sink)
                .into_iter()
                .filter_map(|x| match x {
                    Rec::Event(f) => Some(f),
                    _ => None,
                })
                .collect();
            assert_eq!(got, expected, "{file}");
            assert_eq!(r.handle.status().codec.skipped, 0);
            r.stop().await;
        });
    }
}

// --------------------------------------------------------------- playback

const SMALL_RECORDING: &[u8] = b"Asterisk Call Manager/11.0.0\r\n\
Action: Login\r\nUsername: x\r\n\r\n\
Response: Success\r\nMessage: Authentication accepted\r\n\r\n\
Event: Newchannel\r\nUniqueid: 1.0\r\n\r\n\
Event: Newstate\r\nUniqueid: 1.0\r\n\r\n\
Event: Hangup\r\nUniqueid: 1.0";

#[test]
fn playback_paces_events_and_loops() {
    run(|ex| async move {
        let sink: Sink = Rc::default();
        let handle = SessionHandle::new();
        let (tx, rx) = async_channel::bounded::<()>(1);
        let task = ex.spawn(run_playback(
            PlaybackSource::Bytes(SMALL_RECORDING.into()),
            PlaybackOptions {
                gap: Duration::from_millis(40),
                looping: true,
                ..PlaybackOptions::default()
            },
            sink.clone(),
            handle.clone(),
            async move {
                let _ = rx.recv().await;
            },
        ));
        wait_for("two passes", || {
            count(&sink, |x| x.event_name() == Some("Hangup")) == 2
        })
        .await;
        tx.close();
        task.await.unwrap();
        let seq: Vec<String> = recs(&sink)
            .iter()
            .map(|x| match x {
                Rec::Event(_) => x.event_name().unwrap().to_owned(),
                other => format!("{other:?}"),
            })
            .collect();
        let pass = [
            "Connected(\"11.0.0\")",
            "ResyncStarted",
            "ResyncFinished(0, None)",
            "Newchannel",
            "Newstate",
            "Hangup",
            "Disconnected(\"end of recording\")",
        ];
        assert_eq!(&seq[..7], pass);
        assert_eq!(&seq[7..13], &pass[..6]);
        // The gap separates consecutive events, across passes too.
        let times: Vec<Instant> = sink
            .borrow()
            .recs
            .iter()
            .filter(|(_, r)| matches!(r, Rec::Event(_)))
            .map(|(t, _)| *t)
            .collect();
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(40),
                "{:?}",
                w[1] - w[0]
            );
        }
        let st = handle.status();
        assert_eq!(st.source, ctibridge::ami::Source::Playback);
        assert!(
            st.skipped_client_packets >= 2,
            "the Login action, once per pass"
        );
        assert!(handle.send(Action::ping()).await.is_err());
    });
}

#[test]
fn playback_of_a_file_delivers_every_event_once_and_ends() {
    run(|ex| async move {
        let path = recordings_dir().join("b_caller_cancel_no_answer.ami");
        let expected = events_of(&read(&path));
        let sink: Sink = Rc::default();
        let res = ex
            .spawn(run_playback(
                PlaybackSource::File(path),
                PlaybackOptions {
                    gap: Duration::from_millis(1),
                    ..PlaybackOptions::default()
                },
                sink.clone(),
                SessionHandle::new(),
                std::future::pending(),
            ))
            .await;
        assert!(res.is_ok());
        let got: Vec<_> = recs(&sink)
            .into_iter()
            .filter_map(|x| match x {
                Rec::Event(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(got, expected);
        assert!(matches!(recs(&sink).last(), Some(Rec::Disconnected(_))));
    });
}

#[test]
fn playback_of_a_missing_file_says_which() {
    run(|_ex| async move {
        let err = run_playback(
            PlaybackSource::File("/nonexistent/x.ami".into()),
            PlaybackOptions::default(),
            ctibridge::ami::NullSink,
            SessionHandle::new(),
            std::future::pending(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.ami"), "{err}");
    });
}

// ----------------------------------------------------------------- record

#[test]
fn record_writes_exactly_what_the_server_sent() {
    run(|ex| async move {
        let capture = read(&recordings_dir().join("i_ami_hangup.ami"));
        let banner_end = capture.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                after_login: capture[banner_end..].to_vec(),
                chunk_max: 33,
                ..FakeOptions::default()
            },
        );
        let mut out = Vec::new();
        let summary = record_to(
            &opts(&fake),
            &mut out,
            Some(Duration::from_millis(500)),
            std::future::pending(),
        )
        .await
        .unwrap();
        wait_for("server side closed", || fake.conns()[0].closed).await;
        let sent = fake.conns()[0].sent.clone();
        assert_eq!(out, sent, "the file is byte for byte what the server wrote");
        assert_eq!(summary.bytes, sent.len() as u64);
        let goodbye = format!(
            "Response: Goodbye\r\nActionID: {}\r\nMessage: Thanks for all the fish.\r\n\r\n",
            field(fake.actions().last().unwrap(), "ActionID").unwrap()
        );
        assert!(String::from_utf8_lossy(&out).ends_with(&goodbye));
        let names = action_names(&fake);
        assert!(
            !names.iter().any(|n| n == "CoreShowChannels"),
            "no resync while recording"
        );
        assert!(!String::from_utf8_lossy(&out).contains("s3cret"));
        assert_eq!(summary.secret_redactions, 0);
    });
}

#[test]
fn record_redacts_a_secret_the_server_sends_back() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                after_login: b"Event: UserEvent\r\nEcho: s3cret\r\n\r\n".to_vec(),
                chunk_max: 2,
                ..FakeOptions::default()
            },
        );
        let mut out = Vec::new();
        let summary = record_to(
            &opts(&fake),
            &mut out,
            Some(Duration::from_millis(200)),
            std::future::pending(),
        )
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("s3cret"));
        assert!(text.contains("Echo: ******\r\n"));
        assert_eq!(summary.secret_redactions, 1);
    });
}

#[test]
fn record_with_a_refused_login_fails_clearly() {
    run(|ex| async move {
        let fake = FakeAmi::start(
            &ex,
            FakeOptions {
                secret: "other".into(),
                ..FakeOptions::default()
            },
        );
        let mut out = Vec::new();
        match record_to(&opts(&fake), &mut out, None, std::future::pending()).await {
            Err(RecordError::NotLoggedIn(why)) => {
                assert!(why.contains("Authentication failed"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    });
}
