//! Arbitrary bytes as a config file (`config::parse`): never a panic; an
//! error must print; and a config that is accepted must keep the promises
//! its checks make (ranges, what a live PBX needs, unique tokens), must be
//! taken by the parts the bridge builds from it (tracker options, the
//! WebSocket user table), and must never show a secret or token in its
//! `Debug` form or its summary.
#![no_main]

use ctibridge::config::{self, Config, Secret, TOKEN_MIN_LIVE};
use ctibridge::limits::*;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    match config::parse(data, Path::new("/etc/ctibridge")) {
        Err(e) => {
            let _ = e.to_string();
        }
        Ok((c, warnings)) => {
            for w in &warnings {
                let _ = w.to_string();
            }
            promises(&c);
        }
    }
});

fn promises(c: &Config) {
    let live = c.replay.is_none();
    if live {
        assert!(!c.ami.host.is_empty(), "live without url");
        assert!(!c.ami.user_name.is_empty(), "live without userName");
        assert!(!c.ami.secret.is_empty(), "live without secret");
    }
    let l = c.ami.limits;
    assert!(
        (AMI_BUFFER_SIZE_MIN..=AMI_BUFFER_SIZE_MAX).contains(&l.buffer),
        "{l:?}"
    );
    assert!(
        l.max_line >= AMI_MAX_LINE_MIN && l.max_line <= l.buffer,
        "{l:?}"
    );
    assert!(
        (AMI_MAX_FIELDS_MIN..=AMI_MAX_FIELDS_MAX).contains(&l.max_fields),
        "{l:?}"
    );
    let secs = |d: Duration, lo, hi| (lo..=hi).contains(&d.as_secs()) && d.subsec_nanos() == 0;
    assert!(secs(c.ami.ping_interval, 1, 3600));
    assert!(secs(c.ami.action_timeout, 1, 300));
    assert!(secs(c.ami.connect_timeout, 1, 300));
    assert!((CHANNELS_MIN..=CHANNELS_MAX).contains(&c.calls.max_channels));
    assert!(c.calls.packet_info.len() <= MAX_PACKET_INFO_KEYS);
    assert!(c.actions.originate_rate_per_minute <= ORIGINATE_RATE_PER_MINUTE_MAX);
    assert!((1..=WS_CLIENTS_MAX).contains(&c.ws.max_clients));
    assert!((WS_CLIENT_QUEUE_MIN..=WS_CLIENT_QUEUE_MAX).contains(&c.ws.client_queue));
    assert_ne!(
        c.ws.listen, c.health_listen,
        "one address for two listeners"
    );
    if let Some(url) = &c.ws.screen_pop_url {
        let lower = url.to_ascii_lowercase();
        assert!(lower.starts_with("http://") || lower.starts_with("https://"));
        assert!(url.contains("{number}"));
        // The number is percent-encoded wherever the template puts it; the
        // template itself is the admin's (checked: no spaces or controls).
        let pop = c.ws.screen_pop_for("+33 1 <x>&\"").expect("a template");
        assert_eq!(pop, url.replace("{number}", "%2B33%201%20%3Cx%3E%26%22"));
        assert!(
            !pop.chars().any(|ch| ch.is_whitespace() || ch.is_control()),
            "{pop}"
        );
    }
    for (i, u) in c.users.iter().enumerate() {
        assert!(!u.line.is_empty() && u.line.bytes().all(|b| b.is_ascii_digit()));
        assert!(!u.name.is_empty());
        let token = u.token.expose();
        assert!(!token.is_empty());
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)));
        if live {
            assert!(token.len() >= TOKEN_MIN_LIVE, "a short token on a live PBX");
        }
        let found = c.user_by_token(token).expect("a user's own token signs in");
        assert!(std::ptr::eq(found, &c.users[i]), "two users share a token");
        assert!(!u.allows(""), "an empty number is never allowed");
        let _ = u.originate_context(&c.actions);
    }

    // What the bridge builds from the config must accept it.
    if let Err(e) = ctibridge::app::tracker_options(c) {
        panic!("config accepted, tracker refuses it: {e}");
    }
    let entries = c.users.iter().map(|u| ctibridge::ws::UserEntry {
        user: ctibridge::ws::User {
            name: u.name.as_str().into(),
            line: u.line.as_str().into(),
            debug: u.debug,
        },
        token: u.token.expose().into(),
    });
    if let Err(e) = ctibridge::ws::Users::new(entries) {
        panic!("config accepted, WebSocket user table refuses it: {e}");
    }

    // Secrets never show: Debug and the summary are the same whatever the
    // secret and tokens are.
    let mut other = c.clone();
    other.ami.secret = Secret::new("S").unwrap();
    for (i, u) in other.users.iter_mut().enumerate() {
        u.token = Secret::new(&format!("T{i}")).unwrap();
    }
    assert_eq!(
        format!("{c:?}"),
        format!("{other:?}"),
        "Debug shows a secret"
    );
    assert_eq!(
        c.summary().to_string(),
        other.summary().to_string(),
        "the summary shows a secret"
    );
}
