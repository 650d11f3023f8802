//! The load harness: ctibridge end to end, as a PBX and its operators see it.
//!
//! It plays the AMI server on 127.0.0.1 (banner, MD5 or plain login, an
//! empty `CoreShowChannels`, `Ping`), starts the release binary
//! (`target/release/ctibridge run --config <generated>`) as a child
//! process, signs WebSocket clients in as the generated users, and then
//! sends real recorded call flows (tests/recordings) as N concurrent calls
//! with renumbered ids, channels and lines, at a chosen rate or flat out.
//!
//! Before sending, the library's own tracker runs over the identical bytes
//! (the oracle), so the harness knows for every line which frames its
//! clients must receive, in which order, and which AMI packet caused each.
//! The k-th frame a client receives is compared byte for byte with the k-th
//! expected one; its latency is the time it was read minus the time the
//! write carrying the last byte of its packet was started (one monotonic
//! clock, loopback). RSS and CPU are the child's, from /proc.
//!
//! `--peer CMD` runs other AMI libraries on the identical bytes afterwards
//! (bench/peers). Run: `cargo bench --bench load -- --help`.

mod stream;

use argh::FromArgs;
use ctibridge::ami::{Decoder, Item, Limits};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(FromArgs)]
/// ctibridge end to end under load (see the top of benches/load/main.rs).
struct Args {
    /// AMI events per second to send; 0: flat out (default 0)
    #[argh(option, default = "0")]
    rate: u64,
    /// seconds of load at --rate (packets = rate x seconds)
    #[argh(option)]
    seconds: Option<f64>,
    /// packets to send when no --seconds (default 200000)
    #[argh(option, default = "200_000")]
    packets: usize,
    /// calls in progress at once (default 100)
    #[argh(option, default = "100")]
    calls: usize,
    /// choose --calls so that about this many channels are live at once
    #[argh(option)]
    channels: Option<usize>,
    /// websocket clients that read (default 100)
    #[argh(option, default = "100")]
    clients: usize,
    /// extra clients that sign in and then never read
    #[argh(option, default = "0")]
    slow: usize,
    /// the bridge's maxChannels (default 4096)
    #[argh(option, default = "4096")]
    max_channels: usize,
    /// the bridge's clientQueue (default 256, the product default)
    #[argh(option, default = "256")]
    client_queue: usize,
    /// the soak: 10 minutes at 5,000 events/s, 200 clients, 4 slow (each
    /// can be overridden by giving its flag too)
    #[argh(switch)]
    soak: bool,
    /// the bridge binary (default: cargo build --release, copied to
    /// target/ctibridge-load)
    #[argh(option)]
    bin: Option<PathBuf>,
    /// a folder of *.ami captures (default tests/recordings; repeatable)
    #[argh(option)]
    recordings: Vec<PathBuf>,
    /// a peer command run on the same bytes; the AMI port is appended
    #[argh(option)]
    peer: Vec<String>,
    /// run only the peers, not the bridge
    #[argh(switch)]
    peers_only: bool,
    /// a name for the RESULT line
    #[argh(option, default = "String::from(\"load\")")]
    label: String,
    /// exit 1 when a frame was lost or unexpected
    #[argh(switch)]
    check: bool,
    /// run the bridge this many times on the same stream and keep the best
    /// run: the most events/s flat out, the lowest p99 at a --rate
    /// (default 1)
    #[argh(option, default = "1")]
    repeat: usize,
}

fn now_ns(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
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

// ---------------------------------------------------------------- AMI server

/// The AMI side of one connection: answers actions on its own thread and
/// shares the socket's write half (behind a lock) with the load writer.
struct AmiConn {
    write: Arc<Mutex<TcpStream>>,
    /// Set once the bridge's CoreShowChannels was answered (or, for a peer,
    /// its login).
    ready: Arc<AtomicBool>,
    /// Set when the other side closed.
    closed: Arc<AtomicBool>,
    closed_at: Arc<AtomicU64>,
}

fn serve_ami(listener: TcpListener, t0: Instant, ready_on_login: bool) -> AmiConn {
    let (stream, _) = listener.accept().expect("accept AMI");
    stream.set_nodelay(true).ok();
    let write = Arc::new(Mutex::new(stream.try_clone().unwrap()));
    let ready = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicBool::new(false));
    let closed_at = Arc::new(AtomicU64::new(0));
    write
        .lock()
        .unwrap()
        .write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .unwrap();
    let conn = AmiConn {
        write: write.clone(),
        ready: ready.clone(),
        closed: closed.clone(),
        closed_at: closed_at.clone(),
    };
    std::thread::spawn(move || {
        let mut read = stream;
        let mut dec = Decoder::new(Limits::default());
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let took = dec.feed(rest);
                rest = &rest[took..];
                while let Some(item) = dec.next_item() {
                    let Item::Packet(p) = item else { continue };
                    // By its Action key: asterisk-manager's login also
                    // carries `Event: on`.
                    if p.get("Action").is_none() {
                        continue;
                    }
                    let action = p.get("Action").unwrap_or("").to_ascii_lowercase();
                    let aid = p.get("ActionID").unwrap_or("").to_string();
                    let ok = |m: &str| {
                        packet(&[("Response", "Success"), ("ActionID", &aid), ("Message", m)])
                    };
                    let answer = match action.as_str() {
                        "challenge" => packet(&[
                            ("Response", "Success"),
                            ("ActionID", &aid),
                            ("Challenge", "840184339"),
                        ]),
                        "login" => {
                            if ready_on_login {
                                ready.store(true, Ordering::SeqCst);
                            }
                            ok("Authentication accepted")
                        }
                        "ping" => packet(&[
                            ("Response", "Success"),
                            ("ActionID", &aid),
                            ("Ping", "Pong"),
                            ("Timestamp", "1763897600.000000"),
                        ]),
                        "coreshowchannels" => {
                            let mut b = packet(&[
                                ("Response", "Success"),
                                ("ActionID", &aid),
                                ("EventList", "start"),
                                ("Message", "Channels will follow"),
                            ]);
                            b.extend(packet(&[
                                ("Event", "CoreShowChannelsComplete"),
                                ("ActionID", &aid),
                                ("EventList", "Complete"),
                                ("ListItems", "0"),
                            ]));
                            b
                        }
                        "logoff" => packet(&[
                            ("Response", "Goodbye"),
                            ("ActionID", &aid),
                            ("Message", "Thanks for all the fish."),
                        ]),
                        _ => ok("Success"),
                    };
                    let _ = write.lock().unwrap().write_all(&answer);
                    if action == "coreshowchannels" {
                        ready.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
        closed_at.store(now_ns(t0), Ordering::SeqCst);
        closed.store(true, Ordering::SeqCst);
    });
    conn
}

/// Sends the stream: at `rate` packets/s in batches (whatever is due every
/// ~0.2 ms), or flat out in 64 KiB writes. Records for every packet when
/// the write carrying its last byte started.
fn send_stream(
    conn: &AmiConn,
    s: &stream::Stream,
    rate: u64,
    t0: Instant,
    stamps: &[AtomicU64],
) -> (u64, u64) {
    let n = s.ends.len();
    let start_ns = now_ns(t0);
    let start = Instant::now();
    let mut sent = 0usize;
    let mut from = 0usize;
    while sent < n {
        let due = if rate == 0 {
            // Flat out: as many packets as fit in 64 KiB (at least one).
            let mut k = sent + 1;
            while k < n && s.ends[k] - from <= 64 * 1024 {
                k += 1;
            }
            k
        } else {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as usize + 1;
            due.min(n)
        };
        if due <= sent {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let t = now_ns(t0);
        for st in &stamps[sent..due] {
            st.store(t, Ordering::Release);
        }
        let to = s.ends[due - 1];
        if conn
            .write
            .lock()
            .unwrap()
            .write_all(&s.bytes[from..to])
            .is_err()
        {
            eprintln!("load: the AMI connection closed while sending");
            break;
        }
        from = to;
        sent = due;
    }
    (start_ns, now_ns(t0))
}

// ---------------------------------------------------------------- clients

/// One client's tally.
#[derive(Default, Clone)]
struct Tally {
    matched: u64,
    lost: u64,
    unexpected: u64,
    closed_by_bridge: bool,
    last_ns: u64,
    latencies: Vec<u64>,
}

struct Shared {
    expected: Arc<HashMap<String, stream::Expected>>,
    stamps: Vec<AtomicU64>,
    matched: AtomicU64,
    signed_in: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
}

fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let mask = [0x5a, 0x13, 0xc7, 0x21];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A minimal WebSocket client (server frames are never masked): connect,
/// upgrade, sign in with `token`, then (unless `slow`) read frames and match
/// each text frame against the line's expected frames.
async fn client(
    addr: SocketAddr,
    token: String,
    line: String,
    slow: bool,
    shared: Arc<Shared>,
    t0: Instant,
    tally: std::rc::Rc<std::cell::RefCell<Tally>>,
) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let mut s = match async_io::Async::<TcpStream>::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("load: client connect: {e}");
            shared.failed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    };
    s.get_ref().set_nodelay(true).ok();
    let req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if s.write_all(req.as_bytes()).await.is_err() {
        shared.failed.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut tmp = vec![0u8; 64 * 1024];
    // The 101 answer.
    loop {
        let n = s.read(&mut tmp).await.unwrap_or(0);
        if n == 0 {
            eprintln!("load: client: the bridge closed during the upgrade");
            shared.failed.fetch_add(1, Ordering::SeqCst);
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                eprintln!(
                    "load: client: upgrade refused: {}",
                    String::from_utf8_lossy(&buf[..i])
                );
                shared.failed.fetch_add(1, Ordering::SeqCst);
                return;
            }
            buf.drain(..i + 4);
            break;
        }
    }
    let auth = format!("{{\"op\":\"auth\",\"id\":\"a\",\"token\":\"{token}\"}}");
    let _ = s.write_all(&ws_frame(1, auth.as_bytes())).await;
    let expected = shared.expected.get(&line);
    let mut k = 0usize;
    let mut signed_in = false;
    loop {
        // Parse whole frames in buf.
        let now = now_ns(t0);
        loop {
            if buf.len() < 2 {
                break;
            }
            let op = buf[0] & 0x0f;
            let (len, hdr) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => (
                    u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                l => (l as usize, 2),
            };
            if buf.len() < hdr + len {
                break;
            }
            let payload = &buf[hdr..hdr + len];
            match op {
                1 => {
                    if !signed_in {
                        if payload.starts_with(b"{\"op\":\"result\",\"id\":\"a\",\"ok\":true") {
                            signed_in = true;
                            shared.signed_in.fetch_add(1, Ordering::SeqCst);
                        } else {
                            eprintln!(
                                "load: sign-in refused: {}",
                                String::from_utf8_lossy(payload)
                            );
                            shared.failed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    } else {
                        let mut t = tally.borrow_mut();
                        t.last_ns = now;
                        let exp = expected.map_or(&[][..], |e| &e.frames[..]);
                        // The next expected frame, or one a little further
                        // on (the ones skipped are lost).
                        let hit = exp[k.min(exp.len())..]
                            .iter()
                            .take(256)
                            .position(|(_, f)| f.as_bytes() == payload);
                        match hit {
                            Some(j) => {
                                t.lost += j as u64;
                                let (pi, _) = exp[k + j];
                                let w = shared.stamps[pi as usize].load(Ordering::Acquire);
                                t.latencies.push(now.saturating_sub(w));
                                t.matched += 1;
                                shared.matched.fetch_add(1, Ordering::Relaxed);
                                k += j + 1;
                            }
                            None => t.unexpected += 1,
                        }
                    }
                }
                8 => {
                    tally.borrow_mut().closed_by_bridge = true;
                    return;
                }
                9 => {
                    let pong = ws_frame(10, payload);
                    let _ = s.write_all(&pong).await;
                }
                _ => {}
            }
            buf.drain(..hdr + len);
        }
        if signed_in && slow {
            // Never read again; hold the socket open until the end.
            loop {
                async_io::Timer::after(Duration::from_millis(50)).await;
                if shared.stop.load(Ordering::Relaxed) {
                    return;
                }
            }
        }
        let n = match s.read(&mut tmp).await {
            Ok(0) | Err(_) => {
                tally.borrow_mut().closed_by_bridge = true;
                return;
            }
            Ok(n) => n,
        };
        buf.extend_from_slice(&tmp[..n]);
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Per-client line and what is left expected at the end.
struct ClientSpec {
    token: String,
    line: String,
    slow: bool,
}

/// Runs all clients on one thread (an async-executor, as the bridge
/// does); returns each client's tally when `stop` is set.
fn run_clients(
    addr: SocketAddr,
    specs: Vec<ClientSpec>,
    shared: Arc<Shared>,
    t0: Instant,
) -> std::thread::JoinHandle<Vec<(ClientSpec, Tally)>> {
    std::thread::spawn(move || {
        let ex = async_executor::LocalExecutor::new();
        let mut tallies = Vec::new();
        for spec in &specs {
            let t = std::rc::Rc::new(std::cell::RefCell::new(Tally::default()));
            tallies.push(t.clone());
            ex.spawn(client(
                addr,
                spec.token.clone(),
                spec.line.clone(),
                spec.slow,
                shared.clone(),
                t0,
                t,
            ))
            .detach();
        }
        futures_lite::future::block_on(ex.run(async {
            while !shared.stop.load(Ordering::Relaxed) {
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
        }));
        specs
            .into_iter()
            .zip(tallies)
            .map(|(s, t)| (s, t.borrow().clone()))
            .collect()
    })
}

// ---------------------------------------------------------------- the child

fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l[key.len()..].trim().trim_end_matches(" kB").parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of `pid`, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name in parentheses; utime and stime are
    // fields 14 and 15 (1-based), i.e. 12 and 13 after the ')'.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let p = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    p(11) + p(12)
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn json_u64(body: &str, key: &str) -> u64 {
    let pat = format!("\"{key}\":");
    body.find(&pat)
        .map(|i| {
            body[i + pat.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

struct Config {
    dir: PathBuf,
    path: PathBuf,
    users: Vec<(String, String)>, // (token, line)
    ws_port: u16,
    health_port: u16,
}

fn write_config(
    ami_port: u16,
    lines: &[String],
    max_channels: usize,
    clients: usize,
    client_queue: usize,
) -> Config {
    let dir = std::env::temp_dir().join(format!("ctibridge-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ws_port = free_port();
    let health_port = free_port();
    let users: Vec<(String, String)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("load-token-{i:06}-abcdefgh"), l.clone()))
        .collect();
    let mut s = String::new();
    s.push_str(&format!(
        "{{\"url\":\"127.0.0.1\",\"port\":{ami_port},\"userName\":\"bridge\",\
         \"secret\":\"load-secret\",\"amiAuth\":\"md5\",\"protocol\":\"{}\",\
         \"wsListen\":\"127.0.0.1:{ws_port}\",\"healthListen\":\"127.0.0.1:{health_port}\",\
         \"logLevel\":\"warn\",\"maxChannels\":{max_channels},\"maxClients\":{},\
         \"clientQueue\":{client_queue},\"users\":[",
        stream::PROTOCOL,
        clients.clamp(1, 4096)
    ));
    for (i, (t, l)) in users.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"name\":\"u{i}\",\"line\":\"{l}\",\"token\":\"{t}\"}}"
        ));
    }
    s.push_str("]}\n");
    let path = dir.join("config.json");
    std::fs::write(&path, s).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Config {
        dir,
        path,
        users,
        ws_port,
        health_port,
    }
}

// ---------------------------------------------------------------- figures

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn us(ns: u64) -> String {
    format!("{:.0}", ns as f64 / 1000.0)
}

fn main() {
    // cargo bench appends --bench to a harness=false binary's arguments.
    let raw: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut raw_refs: Vec<&str> = raw.iter().map(String::as_str).collect();
    if raw_refs.contains(&"--soak") {
        // The soak's values, for the flags not given explicitly.
        let preset = [
            ("--rate", "5000"),
            ("--seconds", "600"),
            ("--clients", "200"),
            ("--slow", "4"),
        ];
        let mut with: Vec<&str> = Vec::new();
        for (flag, value) in preset {
            if !raw_refs.contains(&flag) {
                with.extend([flag, value]);
            }
        }
        with.extend(raw_refs);
        raw_refs = with;
    }
    let args = match Args::from_args(&["load"], &raw_refs) {
        Ok(a) => a,
        Err(e) => {
            if e.status.is_ok() {
                println!("{}", e.output);
                return;
            }
            eprintln!("{}", e.output);
            std::process::exit(2);
        }
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = if args.recordings.is_empty() {
        vec![root.join("tests/recordings")]
    } else {
        args.recordings.clone()
    };
    let captures: Vec<stream::Capture> =
        dirs.iter().flat_map(|d| stream::load_captures(d)).collect();
    assert!(!captures.is_empty(), "no captures");
    let packets = match args.seconds {
        Some(s) if args.rate > 0 => (s * args.rate as f64) as usize,
        _ => args.packets,
    };

    // A config with one user per line of the first slots (at most the
    // product's 256 users), to compute the tracker options once.
    let per_slot = captures.iter().map(|c| c.lines.len()).max().unwrap_or(1);
    let t_gen = Instant::now();

    // --channels: the smallest number of calls whose peak reaches it.
    let probe_cfg = write_config(1, &[], args.max_channels, 1, args.client_queue);
    let probe_cfg_loaded = ctibridge::config::load(&probe_cfg.path).expect("generated config");
    let opts = ctibridge::app::tracker_options(&probe_cfg_loaded).expect("tracker options");
    let calls = match args.channels {
        None => args.calls,
        Some(target) => {
            let (mut lo, mut hi) = (1usize, target.max(2));
            while lo < hi {
                let mid = (lo + hi) / 2;
                let s = stream::generate(&captures, mid, mid * 80);
                let o = stream::oracle(&s, &opts, Some(&[]));
                if o.peak_channels as usize >= target {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            lo
        }
    };
    let s = stream::generate(&captures, calls, packets);
    let total_lines = calls * per_slot;
    let n_users = total_lines.min(ctibridge::limits::MAX_USERS);
    // Lines with users: spread over the slots (every k-th line).
    let lines: Vec<String> = (0..n_users)
        .map(|i| {
            let li = i * total_lines / n_users;
            stream::line_of_slot(li / per_slot, li % per_slot, per_slot)
        })
        .collect();
    let oracle = stream::oracle(&s, &opts, Some(&lines));
    let gen_s = t_gen.elapsed().as_secs_f64();
    let expected_lines: usize = oracle
        .by_line
        .values()
        .filter(|e| !e.frames.is_empty())
        .count();
    println!(
        "stream: {} captures, {} calls at once ({} calls in all), {} AMI packets, {:.1} MB; \
         oracle: {} call events ({} for lines with users, {expected_lines} lines), \
         peak {} channels, {} refused ({gen_s:.1} s to build)",
        captures.len(),
        calls,
        s.calls,
        s.ends.len(),
        s.bytes.len() as f64 / 1e6,
        oracle.events,
        oracle
            .by_line
            .values()
            .map(|e| e.frames.len())
            .sum::<usize>(),
        oracle.peak_channels,
        oracle.refused,
    );
    let _ = std::fs::remove_dir_all(&probe_cfg.dir);

    let mut result = format!("RESULT {}", args.label);
    if args.soak {
        result.push_str(" soak=1");
    }
    if !args.peers_only {
        let bin = args.bin.clone().unwrap_or_else(release_binary);
        println!("bridge binary: {}", bin.display());
        let expected = Arc::new(oracle.by_line);
        let mut best: Option<(f64, String)> = None;
        for i in 0..args.repeat.max(1) {
            if args.repeat > 1 {
                println!("-- run {} of {}", i + 1, args.repeat);
            }
            let (rate, out) = run_bridge(
                &args,
                &bin,
                &s,
                &expected,
                oracle.peak_channels,
                &lines,
                calls,
            );
            // Higher is better: events/s flat out, minus the p99 when paced.
            let score = if args.rate == 0 {
                rate
            } else {
                -(out
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("p99_us="))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(f64::MAX))
            };
            if best.as_ref().is_none_or(|(r, _)| score > *r) {
                best = Some((score, out));
            }
        }
        result.push_str(&best.unwrap().1);
    }
    for (i, cmd) in args.peer.iter().enumerate() {
        result.push_str(&run_peer(cmd, i, &s));
    }
    println!("{result}");
}

/// SIGTERM (the bridge closes its clients and logs off), SIGKILL after 5 s.
fn stop_child(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The binary that ships: `cargo build --release` (opt-level "z"), copied
/// aside, because `cargo bench` puts its own opt-level 3 build of the binary
/// at target/release/ctibridge.
fn release_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "ctibridge"])
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cargo build --release failed");
    let copy = root.join("target/ctibridge-load");
    std::fs::copy(root.join("target/release/ctibridge"), &copy).expect("copy the release binary");
    copy
}

fn run_bridge(
    args: &Args,
    bin: &Path,
    s: &stream::Stream,
    expected: &Arc<HashMap<String, stream::Expected>>,
    peak_channels: u64,
    lines: &[String],
    calls: usize,
) -> (f64, String) {
    let clients = args.clients;
    let t0 = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ami_port = listener.local_addr().unwrap().port();
    let cfg = write_config(
        ami_port,
        lines,
        args.max_channels,
        clients + args.slow + 8,
        args.client_queue,
    );
    let log = std::fs::File::create(cfg.dir.join("bridge.log")).unwrap();
    let mut child: Child = Command::new(bin)
        .arg("run")
        .arg("--config")
        .arg(&cfg.path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (build it: cargo build --release)", bin.display()));
    let pid = child.id();
    let ami = serve_ami(listener, t0, false);
    let wait_until = |what: &str, secs: u64, f: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            if Instant::now() > deadline {
                eprintln!("load: timed out waiting for {what}; bridge log:");
                eprintln!(
                    "{}",
                    std::fs::read_to_string(cfg.dir.join("bridge.log")).unwrap_or_default()
                );
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_until("the bridge's AMI login", 10, &|| {
        ami.ready.load(Ordering::SeqCst)
    });

    // Clients: round robin over the users; the slow ones last.
    let specs: Vec<ClientSpec> = (0..clients + args.slow)
        .map(|i| {
            let (token, line) = &cfg.users[i % cfg.users.len()];
            ClientSpec {
                token: token.clone(),
                line: line.clone(),
                slow: i >= clients,
            }
        })
        .collect();
    let shared = Arc::new(Shared {
        expected: expected.clone(),
        stamps: (0..s.ends.len()).map(|_| AtomicU64::new(0)).collect(),
        matched: AtomicU64::new(0),
        signed_in: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let mut client_lines: HashMap<&str, usize> = HashMap::new();
    for sp in specs.iter().filter(|s| !s.slow) {
        *client_lines.entry(sp.line.as_str()).or_default() += 1;
    }
    let frames_expected: u64 = client_lines
        .iter()
        .map(|(l, n)| shared.expected.get(*l).map_or(0, |e| e.frames.len() * n) as u64)
        .sum();
    let n_specs = specs.len() as u64;
    let addr: SocketAddr = ([127, 0, 0, 1], cfg.ws_port).into();
    let handle = run_clients(addr, specs, shared.clone(), t0);
    wait_until("the clients' sign-in", 30, &|| {
        shared.signed_in.load(Ordering::SeqCst) + shared.failed.load(Ordering::SeqCst) >= n_specs
    });
    let failed = shared.failed.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    let hwm_start = proc_status(pid, "VmHWM:");
    let rss_start = proc_status(pid, "VmRSS:");
    let cpu0 = proc_cpu_ticks(pid);

    let (first_ns, last_write_ns) = send_stream(&ami, s, args.rate, t0, &shared.stamps);
    // Wait for the last frames: all matched, or 2 s without progress.
    let mut last = shared.matched.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while shared.matched.load(Ordering::Relaxed) < frames_expected {
        std::thread::sleep(Duration::from_millis(10));
        let m = shared.matched.load(Ordering::Relaxed);
        if m != last {
            last = m;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let end_ns = now_ns(t0);
    let cpu1 = proc_cpu_ticks(pid);
    let hwm_end = proc_status(pid, "VmHWM:");
    let rss_end = proc_status(pid, "VmRSS:");
    let anon_end = proc_status(pid, "RssAnon:");
    let file_end = proc_status(pid, "RssFile:");
    let health = http_get(cfg.health_port, "/health");
    shared.stop.store(true, Ordering::SeqCst);
    let tallies = handle.join().unwrap();
    stop_child(&mut child);

    // Tally.
    let mut lat: Vec<u64> = Vec::new();
    let (mut matched, mut lost, mut unexpected, mut dropped) = (0u64, 0u64, 0u64, 0u64);
    let mut last_frame_ns = 0;
    for (spec, t) in &tallies {
        if spec.slow {
            continue;
        }
        matched += t.matched;
        unexpected += t.unexpected;
        dropped += t.closed_by_bridge as u64;
        last_frame_ns = last_frame_ns.max(t.last_ns);
        let want = shared
            .expected
            .get(&spec.line)
            .map_or(0, |e| e.frames.len()) as u64;
        // Lost: expected but never arrived (skipped ones are in t.lost).
        lost += want.saturating_sub(t.matched).max(t.lost);
        lat.extend_from_slice(&t.latencies);
    }
    lat.sort_unstable();
    let packets = s.ends.len() as u64;
    let load_ns = last_frame_ns
        .max(last_write_ns)
        .saturating_sub(first_ns)
        .max(1);
    let write_s = (last_write_ns - first_ns) as f64 / 1e9;
    let load_s = load_ns as f64 / 1e9;
    let cpu_s = (cpu1 - cpu0) as f64 / clock_ticks() as f64;
    let wall_s = (end_ns - first_ns) as f64 / 1e9;
    let rate_in = packets as f64 / load_s;
    println!(
        "bridge: {packets} AMI packets in {write_s:.2} s written, last frame after {load_s:.3} s: \
         {:.0} AMI events/s end to end{}",
        rate_in,
        if args.rate > 0 {
            format!(" (asked {} /s)", args.rate)
        } else {
            " (flat out)".into()
        }
    );
    println!(
        "clients: {} reading + {} slow, {failed} failed to sign in; frames expected {frames_expected}, \
         received {matched}, lost {lost}, unexpected {unexpected}, reading clients closed by the bridge {dropped}",
        clients, args.slow
    );
    println!(
        "bridge /health: clients closed as slow {}, channels refused {}, events published {}",
        json_u64(&health, "closed_slow"),
        json_u64(&health, "refused"),
        json_u64(&health, "published"),
    );
    println!(
        "latency (last AMI byte written -> frame read): p50 {} us, p99 {} us, p99.9 {} us, max {} us ({} frames)",
        us(pct(&lat, 0.5)),
        us(pct(&lat, 0.99)),
        us(pct(&lat, 0.999)),
        us(lat.last().copied().unwrap_or(0)),
        lat.len()
    );
    println!(
        "memory: VmHWM {hwm_start} kB at start, {hwm_end} kB at end; VmRSS {rss_start} -> {rss_end} kB \
         (at the end {anon_end} kB anonymous, {file_end} kB mapped files: the binary and libc); \
         {} channels at the peak (oracle), {calls} calls at once",
        peak_channels
    );
    println!(
        "cpu: {cpu_s:.2} s of CPU in {wall_s:.2} s: {:.1} % of one core",
        100.0 * cpu_s / wall_s
    );
    let _ = std::fs::remove_dir_all(&cfg.dir);
    let out = format!(
        " events_per_s={rate_in:.0} packets={packets} frames={matched} expected={frames_expected} \
         lost={lost} unexpected={unexpected} dropped={dropped} closed_slow={} \
         p50_us={} p99_us={} max_us={} hwm_start_kb={hwm_start} hwm_end_kb={hwm_end} \
         cpu_pct={:.1} peak_channels={} calls={calls} clients={clients} slow={}",
        json_u64(&health, "closed_slow"),
        us(pct(&lat, 0.5)),
        us(pct(&lat, 0.99)),
        us(lat.last().copied().unwrap_or(0)),
        100.0 * cpu_s / wall_s,
        peak_channels,
        args.slow,
    );
    if args.check && (lost > 0 || unexpected > 0 || failed > 0) {
        println!("RESULT{out}");
        eprintln!(
            "load: FAILED: {lost} lost, {unexpected} unexpected, {failed} clients not signed in"
        );
        std::process::exit(1);
    }
    (rate_in, out)
}

/// Serves the identical bytes to another AMI library and times it: from
/// the first byte written to the peer closing the connection after the
/// end marker (a `UserEvent: LoadEnd`).
fn run_peer(cmd: &str, i: usize, s: &stream::Stream) -> String {
    let t0 = Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} {port}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("peer");
    let ami = serve_ami(listener, t0, true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ami.ready.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "peer {cmd}: no login");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let stamps: Vec<AtomicU64> = (0..s.ends.len()).map(|_| AtomicU64::new(0)).collect();
    let (first, _) = send_stream(&ami, s, 0, t0, &stamps);
    let _ = ami
        .write
        .lock()
        .unwrap()
        .write_all(&packet(&[("Event", "UserEvent"), ("UserEvent", "LoadEnd")]));
    let mut out = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ami.closed.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = ami.write.lock().unwrap().shutdown(Shutdown::Both);
    let end = if ami.closed.load(Ordering::SeqCst) {
        ami.closed_at.load(Ordering::SeqCst)
    } else {
        now_ns(t0)
    };
    let secs = (end - first) as f64 / 1e9;
    let rate = s.ends.len() as f64 / secs;
    let counted = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("events="))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    println!(
        "peer {i} ({cmd}): {} packets in {secs:.2} s: {rate:.0} AMI events/s; it counted {counted} events{}",
        s.ends.len(),
        if counted == s.ends.len() as u64 {
            ""
        } else {
            " (NOT all)"
        }
    );
    format!(" peer{i}_events_per_s={rate:.0} peer{i}_counted={counted}")
}
