//! The operator panel in a real browser: Debian's chromium, driven by
//! playwright-core (tests/browser/panel.mjs), opens the page the bridge
//! serves, signs in with a token and follows real calls on line 1002 while
//! the fake Asterisk plays captures in parts:
//! - a_answered_caller_hangup: ringing, talking, and "Hang up" must reach
//!   Asterisk as a `Hangup` of 1002's channel, then gone. A screenshot of the
//!   talking call is written to target/panel-screenshot.png.
//! - h_park_and_retrieve: talking, "Hold" parks the other party and the
//!   line's call ends, but the card stays with "Resume", which rings the
//!   phone to the parking space (target/panel-screenshot-parked.png).
//!
//! Runs on x86_64 only (the ARM runs under qemu skip it). Without chromium,
//! node or tests/browser/node_modules it prints a NOTE and passes, unless
//! `CI` is set: CI installs them (`.ci/run`, install_browser).

mod common;

use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use async_net::TcpListener;
use common::fake_ami::{field, FakeAmi, FakeOptions};
use common::recordings_dir;
use ctibridge::app::{self, Listeners};
use ctibridge::config;
use futures_lite::io::{BufReader, Lines};
use futures_lite::{AsyncBufReadExt, StreamExt};
use serde_json::{json, Value};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

const TOKEN_1002: &str = "bob-token-0123456789ab";
/// 1002's channel in a_answered_caller_hangup.ami (tests/recordings/README.md).
const CHANNEL_1002: &str = "PJSIP/1002-00000001";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Where panel.mjs and its node_modules are, or `None` (with a NOTE) when
/// something is missing outside CI.
fn browser_tools() -> Option<PathBuf> {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("NOTE: the browser test runs on x86_64 only");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(CHROMIUM.to_string());
    }
    if !node {
        missing.push("node".into());
    }
    if !dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push(format!("{}/node_modules (npm ci)", dir.display()));
    }
    if missing.is_empty() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install the browser test's tools (.ci/run install_browser): missing {}",
        missing.join(", ")
    );
    eprintln!(
        "NOTE: the browser test did not run: missing {}",
        missing.join(", ")
    );
    None
}

fn config_for(fake: &FakeAmi) -> config::Config {
    let text = format!(
        r#"{{
          "url": "127.0.0.1", "port": {port}, "userName": "bridge", "secret": "s3cret",
          "protocol": "PJSIP/", "pingIntervalS": 20, "actionTimeoutS": 5,
          "screenPopUrl": "http://crm.invalid/contact?number={{number}}",
          "users": [ {{ "name": "Bob", "line": "1002", "token": "{TOKEN_1002}" }} ]
        }}"#,
        port = fake.addr().port()
    );
    config::parse(text.as_bytes(), Path::new("."))
        .expect("test config")
        .0
}

async fn within<T>(what: &str, secs: u64, f: impl Future<Output = T>) -> T {
    futures_lite::future::or(f, async {
        Timer::after(Duration::from_secs(secs)).await;
        panic!("timed out: {what}");
    })
    .await
}

/// A capture without its banner, cut before each of `cuts` (each found
/// after the previous one): `cuts.len() + 1` parts.
fn capture_cut(name: &str, cuts: &[&str]) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(recordings_dir().join(name)).unwrap();
    let mut at = bytes.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut parts = Vec::new();
    for cut in cuts {
        let n = cut.as_bytes();
        let end = at
            + bytes[at..]
                .windows(n.len())
                .position(|w| w == n)
                .unwrap_or_else(|| panic!("{cut:?} not in {name} after byte {at}"));
        parts.push(bytes[at..end].to_vec());
        at = end;
    }
    parts.push(bytes[at..].to_vec());
    parts
}

/// The node process; dropping it closes its stdin (it then closes chromium
/// and exits) and kills it if it lingers.
struct Driver {
    child: Child,
    lines: Lines<BufReader<Async<ChildStdout>>>,
}

impl Driver {
    fn spawn(dir: &Path, url: &str, screenshot: &Path, scenario: &str) -> Driver {
        let mut child = Command::new("node")
            .arg(dir.join("panel.mjs"))
            .arg(url)
            .arg(TOKEN_1002)
            .arg(screenshot)
            .arg(scenario)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start node");
        let out = Async::new(child.stdout.take().unwrap()).expect("non-blocking pipe");
        Driver {
            child,
            lines: BufReader::new(out).lines(),
        }
    }

    /// The next step the page reports: `TAG` and what follows it.
    async fn next(&mut self, want: &str) -> String {
        let line = within(want, 60, self.lines.next())
            .await
            .unwrap_or_else(|| panic!("node ended before {want}"))
            .expect("read node's output");
        eprintln!("browser: {line}");
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        assert_eq!(tag, want, "the page did not get to {want}: {line}");
        rest.to_string()
    }

    async fn next_json(&mut self, want: &str) -> Value {
        serde_json::from_str(&self.next(want).await).expect("JSON after the tag")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn texts(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect()
}

/// The bridge, running against the fake Asterisk, with Bob on line 1002.
struct Bridge {
    fake: FakeAmi,
    url: String,
    stop: async_channel::Sender<()>,
    done: async_executor::Task<Result<(), app::RunError>>,
}

async fn start(ex: &Rc<LocalExecutor<'static>>, opts: FakeOptions) -> Bridge {
    let fake = FakeAmi::start(ex, opts);
    let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", ws.local_addr().unwrap());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let done = ex.spawn(app::run(
        ex.clone(),
        Listeners { ws, health },
        config_for(&fake),
        async move {
            let _ = stopped.recv().await;
        },
    ));
    within("AMI login", 10, async {
        while fake.logins() == 0 {
            Timer::after(Duration::from_millis(5)).await;
        }
    })
    .await;
    Bridge {
        fake,
        url,
        stop,
        done,
    }
}

impl Bridge {
    /// The actions named `name` the fake received.
    fn actions(&self, name: &str) -> Vec<common::fake_ami::Fields> {
        self.fake
            .actions()
            .into_iter()
            .filter(|a| field(a, "Action") == Some(name))
            .collect()
    }

    async fn shutdown(self) {
        self.stop.send(()).await.unwrap();
        within("shutdown", 10, self.done).await.unwrap();
    }
}

fn screenshot_path(name: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory");
    let path = target.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn assert_png(path: &Path) {
    let png = std::fs::read(path).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5000);
}

async fn signed_in(page: &mut Driver) {
    let signed = page.next_json("SIGNED_IN").await;
    // Config: user "Bob" on line 1002.
    assert_eq!(signed["who"], "Bob · line 1002", "{signed}");
    assert_eq!(signed["status"], "connected", "{signed}");
    assert_eq!(signed["loginHidden"], true, "{signed}");
}

#[test]
fn the_panel_follows_a_call_ringing_talking_gone_and_hangs_it_up() {
    let Some(dir) = browser_tools() else { return };
    let screenshot = screenshot_path("panel-screenshot.png");
    // Cut before DialEnd (1002 rings) and before HangupRequest (bridged).
    let parts = capture_cut(
        "a_answered_caller_hangup.ami",
        &["Event: DialEnd\r\n", "Event: HangupRequest\r\n"],
    );
    let ex = Rc::new(LocalExecutor::new());
    futures_lite::future::block_on(ex.run(async {
        let b = start(
            &ex,
            FakeOptions {
                known_channels: vec![CHANNEL_1002.into()],
                ..FakeOptions::default()
            },
        )
        .await;
        let mut page = Driver::spawn(&dir, &b.url, &screenshot, "hangup");
        signed_in(&mut page).await;

        // 1000 dials 1002: an incoming call from Alice rings on Bob's line.
        b.fake.send_raw(&parts[0], false);
        let card = page.next_json("RINGING").await;
        assert_eq!(card["count"], 1, "{card}");
        assert_eq!(card["badge"], "ringing", "{card}");
        assert_eq!(card["number"], "1000", "{card}");
        assert_eq!(card["name"], "Alice 1000", "{card}");
        assert!(
            card["meta"].as_str().unwrap().contains("incoming"),
            "{card}"
        );
        assert_eq!(texts(&card["buttons"]), ["Answer", "Hang up"], "{card}");
        assert_eq!(
            card["crm"], "http://crm.invalid/contact?number=1000",
            "{card}"
        );
        // screenPopUrl with the caller's number.
        assert_eq!(
            page.next("SCREEN_POP").await,
            "http://crm.invalid/contact?number=1000"
        );

        // 1002 answers and both legs are bridged.
        b.fake.send_raw(&parts[1], false);
        let card = page.next_json("TALKING").await;
        assert_eq!(card["count"], 1, "{card}");
        assert_eq!(card["badge"], "talking", "{card}");
        assert_eq!(card["number"], "1000", "{card}");
        assert_eq!(card["name"], "Alice 1000", "{card}");
        let buttons = texts(&card["buttons"]);
        for b in ["Hold", "Transfer", "Hang up"] {
            assert!(buttons.contains(&b), "{b} missing: {card}");
        }
        assert!(!buttons.contains(&"Answer"), "{card}");
        assert_png(&screenshot);

        // "Hang up" reaches Asterisk as a Hangup of 1002's channel.
        let hung = page.next_json("HANGUP_RESULT").await;
        assert_eq!(hung["sent"]["call"], "1795422529.1", "{hung}");
        assert_eq!(hung["result"]["ok"], json!(true), "{hung}");
        let hangups = b.actions("Hangup");
        assert_eq!(hangups.len(), 1, "{hangups:?}");
        assert_eq!(field(&hangups[0], "Channel"), Some(CHANNEL_1002));

        // Asterisk hangs both legs up: the card goes.
        b.fake.send_raw(&parts[2], false);
        let gone = page.next_json("GONE").await;
        assert_eq!(gone["count"], 0, "{gone}");
        assert_eq!(gone["empty"], "\"No call on this line.\"", "{gone}");
        b.shutdown().await;
    }));
}

#[test]
fn hold_parks_the_caller_and_resume_rings_the_phone_to_the_space() {
    let Some(dir) = browser_tools() else { return };
    let screenshot = screenshot_path("panel-screenshot-parked.png");
    // h_park_and_retrieve (tests/recordings/README.md): 1000 -> 1002
    // answered; Asterisk answers a Park of 1000's channel, reports
    // ParkedCall (space 701) and hangs 1002 up; later 1006 dials 701. Cut
    // at the capture's own Park response (the bridge's Park is answered by
    // the fake) and before 1006 appears.
    let parts = capture_cut(
        "h_park_and_retrieve.ami",
        &[
            "Response: Success\r\nActionID: park-1\r\n",
            "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/1006",
        ],
    );
    let ex = Rc::new(LocalExecutor::new());
    futures_lite::future::block_on(ex.run(async {
        let b = start(&ex, FakeOptions::default()).await;
        let mut page = Driver::spawn(&dir, &b.url, &screenshot, "hold");
        signed_in(&mut page).await;

        b.fake.send_raw(&parts[0], false);
        let card = page.next_json("TALKING").await;
        assert_eq!(card["badge"], "talking", "{card}");
        assert_eq!(card["number"], "1000", "{card}");

        // "Hold" parks the other party (1000's channel); 1002's is the parker.
        let held = page.next_json("HOLD_RESULT").await;
        assert_eq!(held["result"]["ok"], json!(true), "{held}");
        let parks = b.actions("Park");
        assert_eq!(parks.len(), 1, "{parks:?}");
        assert_eq!(field(&parks[0], "Channel"), Some("PJSIP/1000-00000017"));
        assert_eq!(field(&parks[0], "Channel2"), Some("PJSIP/1002-00000018"));

        // Asterisk parks 1000 on 701 and hangs 1002 up: the line's call has
        // ended, and the card stays, on hold, with Resume only.
        b.fake.send_raw(&parts[1], false);
        let card = page.next_json("PARKED").await;
        assert_eq!(card["count"], 1, "{card}");
        assert_eq!(card["badge"], "on hold", "{card}");
        assert_eq!(card["number"], "1000", "{card}");
        assert_eq!(texts(&card["buttons"]), ["Resume"], "{card}");
        assert_png(&screenshot);

        // "Resume" rings 1002 to the parking space 701.
        let resumed = page.next_json("UNHOLD_RESULT").await;
        assert_eq!(resumed["result"]["ok"], json!(true), "{resumed}");
        let originates = b.actions("Originate");
        assert_eq!(originates.len(), 1, "{originates:?}");
        let o = &originates[0];
        assert_eq!(field(o, "Channel"), Some("PJSIP/1002"), "{o:?}");
        assert_eq!(field(o, "Context"), Some("parkedcalls"), "{o:?}");
        assert_eq!(field(o, "Exten"), Some("701"), "{o:?}");
        let gone = page.next_json("GONE").await;
        assert_eq!(gone["count"], 0, "{gone}");
        b.shutdown().await;
    }));
}
