//! The shipped configs load, and broken configs are refused with one line
//! that names the key (or the line and column) and the fix.

use ctibridge::config::{self, ConfigError, Protocol, Warning};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

#[test]
fn the_demo_replays_the_bundled_recording_in_a_loop_for_three_users() {
    let (c, warnings) = config::load_with_warnings(&shipped("demo.json")).unwrap();
    let replay = c.replay.as_ref().expect("the demo replays a file");
    assert_eq!(replay.file, shipped("demo.ami"));
    assert!(replay.file.is_file());
    assert!(replay.looping);
    assert_eq!(replay.gap, Duration::from_millis(200));
    assert_eq!(c.calls.protocol, Protocol::Pjsip);
    let users: Vec<(&str, &str)> = c
        .users
        .iter()
        .map(|u| (u.line.as_str(), u.token.expose()))
        .collect();
    assert_eq!(
        users,
        [
            ("1000", "demo-1000"),
            ("1002", "demo-1002"),
            ("1006", "demo-1006")
        ]
    );
    assert_eq!(c.user_by_token("demo-1002").unwrap().line, "1002");
    // The short demo tokens are warned about, nothing else (the demo holds
    // no secret, so a world-readable file is fine).
    let shown: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        shown,
        [
            "3 tokens (users[0].token first) are shorter than 16 characters: \
          fine for a replay, refused against a live PBX"
        ]
    );
}

#[test]
fn the_example_is_a_valid_live_config_with_its_users_left_to_fill_in() {
    let (c, warnings) = config::load_with_warnings(&shipped("example.json")).unwrap();
    assert_eq!(c.replay, None);
    assert_eq!(c.ami.host, "192.0.2.10");
    assert_eq!(c.ami.port, 5038);
    assert_eq!(c.calls.protocol, Protocol::Pjsip);
    assert!(c.users.is_empty());
    assert!(warnings.contains(&Warning::NoUsers));
    // Its values are the documented defaults, except the PBX and protocol.
    let mut defaults = config::Config::default();
    defaults.ami.host = c.ami.host.clone();
    defaults.ami.user_name = c.ami.user_name.clone();
    defaults.ami.secret = c.ami.secret.clone();
    defaults.calls.protocol = Protocol::Pjsip;
    assert_eq!(c, defaults);
}

#[test]
fn the_examples_placeholder_token_is_refused_if_left_in() {
    let text = std::fs::read_to_string(shipped("example.json")).unwrap();
    let placeholder = text
        .split('"')
        .find(|s| s.starts_with("REPLACE"))
        .expect("the example shows a placeholder token");
    let config = format!(
        r#"{{"url": "p", "userName": "u", "secret": "s",
            "users": [{{"line": "1000", "token": "{placeholder}"}}]}}"#
    );
    let e = config::parse(config.as_bytes(), Path::new(".")).unwrap_err();
    assert!(e.to_string().contains("placeholder"), "{e}");
}

#[test]
fn the_docs_describe_every_key() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.md"))
            .unwrap();
    for key in config::known_keys().chain(config::known_user_keys()) {
        assert!(
            docs.contains(&format!("`{key}`")),
            "docs/config.md lacks `{key}`"
        );
    }
}

/// Texts that are not a config object, and a fragment of the one line each
/// gets: the line and column, and the fix.
const SYNTAX: &[(&str, &str)] = &[
    ("", "line 1, column 1: the file is empty"),
    (
        "{\n  \"url\": \"pbx\",\n}",
        "line 3, column 1: a comma before '}'",
    ),
    (
        "{\n  \"url\": \"pbx\"\n  \"port\": 1\n}",
        "line 3, column 3: expected ',' or '}'",
    ),
    (
        "{\"url\": 'pbx'}",
        "line 1, column 9: strings need double quotes",
    ),
    ("{\"url\": pbx}", "column 9: a word without quotes"),
    ("{\"asyncOriginate\": True}", "lower case"),
    ("{\"port\": 05038}", "cannot start with 0"),
    ("{\"url\": \"a\\qb\"}", "unknown escape"),
    (
        "{\"users\": [\n",
        "line 1, column 11: this '[' is never closed",
    ),
    ("[]", "one JSON object"),
    ("{} x", "after the end of the config object"),
    ("{/* c */}", "only // comments"),
];

/// Broken configs, completed with a live PBX's three keys so that only the
/// intended problem remains, and a fragment of the one line each gets.
const BROKEN: &[(&str, &str)] = &[
    // Keys.
    (
        r#"{"wsListn": "0.0.0.0:1"}"#,
        "unknown key wsListn: did you mean \"wsListen\"?",
    ),
    (r#"{"hostname": "pbx"}"#, "unknown key hostname: remove it"),
    (r#"{"port": 1, "PORT": 2}"#, "PORT is set twice"),
    (
        r#"{"asterisk": {"port": 1}, "port": 2}"#,
        "port is set twice",
    ),
    (
        r#"{"asterisk": {"maxClients": 1}}"#,
        "asterisk.maxClients (only the old service's settings go under \"asterisk\"",
    ),
    // Values of the old service's keys.
    (r#"{"port": "http"}"#, "port: expected a whole number"),
    (
        r#"{"port": 70000}"#,
        "port: out of range, use a whole number from 1 to 65535",
    ),
    (
        r#"{"asterisk": {"port": -1}}"#,
        "asterisk.port: out of range",
    ),
    (
        r#"{"asyncOriginate": "yes"}"#,
        "asyncOriginate: expected true or false",
    ),
    (
        r#"{"protocol": "H323/"}"#,
        "protocol: use \"SIP/\" (chan_sip) or \"PJSIP/\"",
    ),
    (
        r#"{"queueExtensionFormat": "Local/1000@q"}"#,
        "queueExtensionFormat: needs exactly one {0}",
    ),
    (
        r#"{"packetInfoConfig": {"a": 1}}"#,
        "packetInfoConfig: expected a list of strings",
    ),
    (
        r#"{"url": "tcp://pbx:5038"}"#,
        "url: give only the host name or address",
    ),
    (r#"{"url": "pbx"}"#, "userName is not set"),
    (r#"{"url": "pbx", "userName": "u"}"#, "secret is not set"),
    (r#"{"url": "", "protocol": "SIP/"}"#, "url is not set"),
    (
        r#"{"originateContext": "from internal"}"#,
        "originateContext: a dialplan context name has no spaces",
    ),
    // Our own keys.
    (
        r#"{"wsListen": "2013"}"#,
        "wsListen: write an IP address and a port",
    ),
    (
        r#"{"healthListen": "127.0.0.1:70000"}"#,
        "healthListen: write an IP address and a port",
    ),
    (
        r#"{"healthListen": "0.0.0.0:2013"}"#,
        "healthListen: the same address as wsListen",
    ),
    (r#"{"amiAuth": "none"}"#, "amiAuth: use \"md5\""),
    (
        r#"{"maxChannels": 100000}"#,
        "maxChannels: out of range, use a whole number from 16 to 8192",
    ),
    (
        r#"{"maxClients": 0}"#,
        "maxClients: out of range, use a whole number from 1 to 4096",
    ),
    (
        r#"{"clientQueue": 1}"#,
        "clientQueue: out of range, use a whole number from 16 to 4096",
    ),
    (
        r#"{"amiBufferSize": 512}"#,
        "amiBufferSize: out of range, use a whole number from 1024 to 4194304",
    ),
    (
        r#"{"amiMaxLine": 100000}"#,
        "amiMaxLine: out of range, use a whole number from 256 to 65536",
    ),
    (
        r#"{"amiMaxFields": 5}"#,
        "amiMaxFields: out of range, use a whole number from 16 to 4096",
    ),
    (
        r#"{"logLevel": "loud"}"#,
        "logLevel: use error, warn, info, debug or trace",
    ),
    (
        r#"{"replayGapMs": "soon"}"#,
        "replayGapMs: expected a whole number",
    ),
    (r#"{"pingIntervalS": 0}"#, "pingIntervalS: out of range"),
    (
        r#"{"actionTimeoutS": 1000}"#,
        "actionTimeoutS: out of range",
    ),
    (
        r#"{"connectTimeoutS": "0"}"#,
        "connectTimeoutS: out of range",
    ),
    (
        r#"{"originateRatePerMinute": 10000}"#,
        "originateRatePerMinute: out of range, use a whole number from 0 to 600",
    ),
    (
        r#"{"tlsCert": "cert.pem"}"#,
        "tlsKey is not set: tlsCert is set",
    ),
    (
        r#"{"tlsKey": "key.pem"}"#,
        "tlsCert is not set: tlsKey is set",
    ),
    (
        r#"{"screenPopUrl": "https://crm/"}"#,
        "screenPopUrl: has no {number}",
    ),
    // Users.
    (r#"{"users": "alice"}"#, "users: expected a list of users"),
    (
        r#"{"users": [{"line": "1000"}]}"#,
        "users[0].token is not set",
    ),
    (
        r#"{"users": [{"token": "0123456789abcdef"}]}"#,
        "users[0].line is not set",
    ),
    (
        r#"{"users": [{"line": "ext1000", "token": "0123456789abcdef"}]}"#,
        "users[0].line: digits only",
    ),
    (
        r#"{"users": [{"line": "1000", "token": ""}]}"#,
        "users[0].token: an empty token",
    ),
    (
        r#"{"users": [{"line": "1000", "token": "two words here!!"}]}"#,
        "users[0].token: use only letters, digits",
    ),
    (
        r#"{"users": [{"line": "1000", "token": "0123456789abcdef", "tokn": 1}]}"#,
        "unknown key users[0].tokn: did you mean \"token\"?",
    ),
    (
        r#"{"users": [{"line": "1000", "token": "0123456789abcdef", "dialPatterns": ["1XX?"]}]}"#,
        "users[0].dialPatterns[0]: a dial pattern may hold only",
    ),
    (
        r#"{"users": [{"line": "1000", "token": "0123456789abcdef", "debug": "on"}]}"#,
        "users[0].debug: expected true or false",
    ),
];

/// `text` (an object) with a live PBX's three keys added in front, unless it
/// sets `url` itself.
fn with_pbx(text: &str) -> String {
    if text.contains("\"url\"") {
        return text.to_string();
    }
    format!(
        r#"{{"url": "10.0.0.5", "userName": "crm", "secret": "s", {}"#,
        &text[1..]
    )
}

fn assert_refused_with(text: &str, fragment: &str) {
    match config::parse(text.as_bytes(), Path::new("/etc/ctibridge")) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => {
            let line = e.to_string();
            assert!(
                line.contains(fragment),
                "{text}\n  gave: {line}\n  wanted: {fragment}"
            );
            assert!(!line.contains('\n'), "more than one line: {line}");
        }
    }
}

#[test]
fn a_syntax_error_gets_its_line_and_column() {
    for (text, fragment) in SYNTAX {
        assert_refused_with(text, fragment);
    }
}

#[test]
fn each_broken_config_gets_one_line_naming_the_key_and_the_fix() {
    for (text, fragment) in BROKEN {
        assert_refused_with(&with_pbx(text), fragment);
    }
}

#[test]
fn a_broken_config_file_is_refused_by_load_too() {
    let path = std::env::temp_dir().join(format!("ctibridge-broken-{}.json", std::process::id()));
    std::fs::write(&path, "{\n  \"url\": \"pbx\",\n  \"port\": 99999\n}\n").unwrap();
    let e = config::load(&path).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert!(matches!(e, ConfigError::OutOfRange { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "port: out of range, use a whole number from 1 to 65535"
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Bytes that matter to the scanner and to serde.
    const INTERESTING: &[u8] = b"{}[]\",:\\/ \n\t01-.eEtrufalsn\x01\xff\xc3\xa9u";

    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let base = [
            std::fs::read(shipped("demo.json")).unwrap(),
            std::fs::read(shipped("example.json")).unwrap(),
        ];
        (
            0..2usize,
            prop::collection::vec(
                (any::<usize>(), 0..3u8, prop::sample::select(INTERESTING)),
                1..8,
            ),
        )
            .prop_map(move |(which, edits)| {
                let mut b = base[which].clone();
                for (at, op, byte) in edits {
                    let at = at % (b.len() + 1);
                    match op {
                        0 => b.insert(at, byte),
                        1 if at < b.len() => {
                            b.remove(at);
                        }
                        _ if at < b.len() => b[at] = byte,
                        _ => b.push(byte),
                    }
                }
                b
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the bytes, a config is accepted or refused with one line.
        #[test]
        fn any_edit_of_a_shipped_config_is_accepted_or_refused_in_one_line(text in mutated()) {
            if let Err(e) = config::parse(&text, Path::new("/etc/ctibridge")) {
                let line = e.to_string();
                prop_assert!(!line.is_empty() && !line.contains('\n'));
            }
        }

        /// Arbitrary bytes, too.
        #[test]
        fn arbitrary_bytes_never_panic(text in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = config::parse(&text, Path::new("."));
        }
    }
}
