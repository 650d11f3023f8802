//! Arbitrary bytes as an HTTP request head, to both parsers that read one:
//! the health endpoint's (`http::server::answer`) and the WebSocket port's
//! (`ws::handshake::route`: upgrade, panel page, errors). Never a panic;
//! the decision does not change when more bytes arrive after it (the
//! servers decide on the first complete prefix); answers are well-formed.
#![no_main]

use ctibridge::http::health::Health;
use ctibridge::http::server::answer;
use ctibridge::limits::WS_MAX_TOKEN;
use ctibridge::ws::handshake::{route, Route};
use libfuzzer_sys::fuzz_target;

const PANEL_JSON: &str = "{\"ws\":\"ws://127.0.0.1:2013/\"}";

fn up() -> Health {
    let mut h = Health::default();
    h.ami.connected = true;
    h
}

fn health(data: &[u8]) {
    let Some(a) = answer(data, &up) else {
        return;
    };
    assert!(
        [200, 400, 404, 405, 431, 503].contains(&a.status),
        "status {}",
        a.status
    );
    if a.status == 200 && a.content_type == "application/json" {
        assert!(
            a.body.starts_with('{') && a.body.ends_with("}\n"),
            "{}",
            a.body
        );
    }
    // The server decides on the first prefix that gives an answer.
    for cut in (1..data.len()).rev().step_by(7) {
        if let Some(early) = answer(&data[..cut], &up) {
            assert_eq!(early, a, "decided at {cut} bytes differently");
        }
    }
}

fn handshake(data: &[u8]) {
    let r = route(data, PANEL_JSON);
    match &r {
        Route::Partial => return,
        Route::Upgrade {
            head_len,
            accept,
            token,
        } => {
            assert!(*head_len <= data.len() && *head_len > 0);
            // The head ends with its blank line (httparse also takes bare
            // LF line ends), and is all the decision needs.
            assert!(data[..*head_len].ends_with(b"\n"));
            assert_eq!(route(&data[..*head_len], PANEL_JSON), r);
            assert_eq!(accept.len(), 28, "{accept}");
            if let Some(Some(t)) = token {
                assert!(t.len() <= WS_MAX_TOKEN);
            }
        }
        Route::Answer(a) => {
            let bytes = a.to_bytes();
            let text = String::from_utf8(bytes).expect("an answer is UTF-8");
            let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
            assert!(
                head.starts_with(&format!("HTTP/1.1 {} ", a.status)),
                "{head}"
            );
            assert!(
                head.contains(&format!("\r\nContent-Length: {}\r\n", a.body.len())),
                "{head}"
            );
            assert_eq!(body.is_empty(), a.head_only || a.body.is_empty());
            assert!(!head.contains('\0'));
        }
    }
    for cut in (1..data.len()).rev().step_by(7) {
        let early = route(&data[..cut], PANEL_JSON);
        if early != Route::Partial {
            assert_eq!(early, r, "decided at {cut} bytes differently");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    health(data);
    handshake(data);
});
