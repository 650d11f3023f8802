//! Arbitrary bytes as a WebSocket text frame from a client (commands and the
//! `auth` frame, `ws::protocol::parse`): never a panic; what is accepted
//! keeps the promises of the validated types and reads the same when written
//! again; every answer frame is one flat JSON object that carries the id
//! back; a token is never quoted in an error; `auth` finds exactly the user
//! whose token is equal.
#![no_main]

use ctibridge::calls::invariants::flat_json;
use ctibridge::limits::{WS_MAX_CALL_ID, WS_MAX_NUMBER, WS_MAX_TEXT, WS_MAX_TOKEN};
use ctibridge::ws::protocol::{self, Command, Id, Request};
use ctibridge::ws::{User, UserEntry, Users};
use libfuzzer_sys::fuzz_target;

const TOKENS: [&str; 3] = ["tok-1000-abcdefgh", "tok-1001-abcdefgh", "x"];

fn users() -> Users {
    Users::new(TOKENS.iter().enumerate().map(|(i, t)| UserEntry {
        user: User {
            name: format!("u{i}"),
            line: format!("100{i}"),
            debug: false,
        },
        token: (*t).to_string(),
    }))
    .expect("a valid user table")
}

fn json_str(s: &str) -> String {
    let mut out = String::new();
    ctibridge::json::write_str(&mut out, s).expect("into a String");
    out
}

fn id_json(id: &Id) -> String {
    let mut out = String::new();
    id.write_json(&mut out).expect("into a String");
    out
}

/// The request written back as a frame, the way a client would send it.
fn frame_of(id: &Id, r: &Request) -> String {
    let mut f = format!("{{\"id\":{}", id_json(id));
    let mut field = |k: &str, v: String| f.push_str(&format!(",\"{k}\":{v}"));
    match r {
        Request::Auth { token } => {
            field("op", json_str("auth"));
            match token {
                Some(t) => field("token", json_str(t)),
                // Longer than any token.
                None => field("token", json_str(&"t".repeat(WS_MAX_TOKEN + 1))),
            }
        }
        Request::Debug { on } => {
            field("op", json_str("debug"));
            field("on", on.to_string());
        }
        Request::Ping => field("op", json_str("ping")),
        Request::Command(c) => {
            field("op", json_str(c.op()));
            if let Some(call) = c.call() {
                field("call", json_str(call));
            }
            match c {
                Command::Call { number }
                | Command::Transfer { number, .. }
                | Command::AttendedTransfer { number, .. } => field("number", json_str(number)),
                Command::QueuePause {
                    paused,
                    reason,
                    queue,
                } => {
                    field("paused", paused.to_string());
                    field("reason", json_str(reason));
                    if let Some(q) = queue {
                        field("queue", json_str(q));
                    }
                }
                _ => {}
            }
        }
    }
    f.push('}');
    f
}

/// The answer frame is one flat JSON object with `op` result, `ok`, and the
/// id as the request had it.
fn check_answer(answer: &str, id: &Id, ok: bool) {
    let fields = flat_json(answer).unwrap_or_else(|| panic!("answer is not JSON: {answer}"));
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("op"), Some("result"), "{answer}");
    assert_eq!(
        get("ok"),
        Some(if ok { "true" } else { "false" }),
        "{answer}"
    );
    let want = match id {
        Id::Null => "null".to_string(),
        Id::Int(n) => n.to_string(),
        Id::Text(s) => s.to_string(),
    };
    assert_eq!(get("id"), Some(want.as_str()), "{answer}");
    if !ok {
        assert!(get("code").is_some_and(|c| !c.is_empty()), "{answer}");
        assert!(get("error").is_some_and(|e| !e.is_empty()), "{answer}");
    }
}

fn promises(r: &Request) {
    let number_ok = |n: &str| {
        (1..=WS_MAX_NUMBER).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_digit() || b"*#+".contains(&b))
    };
    let text_ok = |t: &str| t.len() <= WS_MAX_TEXT && !t.chars().any(char::is_control);
    match r {
        Request::Auth { token: Some(t) } => assert!(t.len() <= WS_MAX_TOKEN),
        Request::Command(c) => {
            if let Some(call) = c.call() {
                assert!((1..=WS_MAX_CALL_ID).contains(&call.len()), "{call}");
                assert!(call
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
            }
            match c {
                Command::Call { number }
                | Command::Transfer { number, .. }
                | Command::AttendedTransfer { number, .. } => assert!(number_ok(number)),
                Command::QueuePause { reason, queue, .. } => {
                    assert!(text_ok(reason));
                    assert!(queue.as_ref().is_none_or(|q| !q.is_empty() && text_ok(q)));
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn one(frame: &str) {
    let parsed = protocol::parse(frame);
    match &parsed.request {
        Ok(r) => {
            promises(r);
            check_answer(
                &protocol::ok_frame(&parsed.id, &[("line", "1000")]),
                &parsed.id,
                true,
            );
            // Written again, it reads the same.
            let again = frame_of(&parsed.id, r);
            let back = protocol::parse(&again);
            assert_eq!(back.id, parsed.id, "{again}");
            assert_eq!(back.request.as_ref(), Ok(r), "{again}");
            if let Request::Auth { token: Some(t) } = r {
                let users = users();
                let found = users.find(t);
                let want = TOKENS.iter().position(|k| *k == t.as_str());
                assert_eq!(
                    found.map(|u| u.name.clone()),
                    want.map(|i| format!("u{i}")),
                    "token {t:?}"
                );
            }
        }
        Err(e) => {
            let answer = protocol::error_frame(&parsed.id, e);
            check_answer(&answer, &parsed.id, false);
            let _ = e.to_string();
            // An error sentence never quotes the token of an auth frame.
            if let Some(fields) = flat_json(frame) {
                let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
                if get("op").is_some_and(|op| op == "auth") {
                    if let Some(token) = get("token").filter(|t| t.len() >= 8) {
                        assert!(!e.message.contains(token.as_str()), "{}", e.message);
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(frame) => one(frame),
        // The WebSocket layer refuses text frames that are not UTF-8; the
        // parser still gets their lossy form, to reach more of it.
        Err(_) => one(&String::from_utf8_lossy(data)),
    }
});
