//! Rules of the config, one situation per test.

use super::*;

/// The three keys a live PBX needs.
const LIVE: &str = r#""url": "10.0.0.5", "userName": "crm", "secret": "s3cret-AMI""#;
/// A token long enough for a live PBX.
const TOKEN: &str = "0123456789abcdef";

/// A live config with `extra` members added.
fn live(extra: &str) -> String {
    if extra.is_empty() {
        format!("{{{LIVE}}}")
    } else {
        format!("{{{LIVE}, {extra}}}")
    }
}

fn ok(text: &str) -> (Config, Warnings) {
    match parse(text.as_bytes(), Path::new("/etc/ctibridge")) {
        Ok(r) => r,
        Err(e) => panic!("refused: {e}\n{text}"),
    }
}

fn cfg(text: &str) -> Config {
    ok(text).0
}

fn refused(text: &str) -> ConfigError {
    match parse(text.as_bytes(), Path::new("/etc/ctibridge")) {
        Ok((c, _)) => panic!("accepted: {c:?}\n{text}"),
        Err(e) => e,
    }
}

/// The one-line message of a refused config.
fn message(text: &str) -> String {
    refused(text).to_string()
}

fn assert_message(text: &str, fragments: &[&str]) {
    let m = message(text);
    for f in fragments {
        assert!(m.contains(f), "{m:?} lacks {f:?}\n{text}");
    }
}

fn user(line: &str, token: &str) -> String {
    format!(r#"{{"line": "{line}", "token": "{token}"}}"#)
}

mod defaults {
    use super::*;

    #[test]
    fn a_minimal_live_config_gets_the_documented_defaults() {
        let (c, w) = ok(&live(""));
        assert_eq!(c.ami.host, "10.0.0.5");
        assert_eq!(c.ami.port, 5038);
        assert_eq!(c.ami.user_name, "crm");
        assert_eq!(c.ami.secret.expose(), "s3cret-AMI");
        assert_eq!(c.ami.auth, AmiAuth::Md5);
        assert_eq!(c.ami.limits, crate::ami::Limits::default());
        assert_eq!(c.ami.ping_interval, Duration::from_secs(20));
        assert_eq!(c.ami.action_timeout, Duration::from_secs(5));
        assert_eq!(c.ami.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.calls.protocol, Protocol::Sip);
        assert_eq!(
            c.calls.queue_extension_format.as_str(),
            "Local/{0}@from-queue/n"
        );
        assert!(c.calls.ring_started_on_ringing_state);
        assert!(!c.calls.trace_queues_state);
        assert!(!c.calls.auto_pause_on_commutation_start);
        assert!(c.calls.packet_info.is_empty());
        assert_eq!(c.calls.max_channels, 1024);
        assert_eq!(c.actions.originate_context, "from-internal");
        assert_eq!(c.actions.parking_lot_context, "parkedcalls");
        assert!(c.actions.async_originate);
        assert_eq!(c.actions.originate_rate_per_minute, 10);
        assert_eq!(c.ws.listen, "0.0.0.0:2013".parse().unwrap());
        assert_eq!(c.ws.max_clients, 256);
        assert_eq!(c.ws.client_queue, 256);
        assert_eq!(c.ws.tls, None);
        assert_eq!(c.ws.screen_pop_url, None);
        assert_eq!(c.health_listen, "127.0.0.1:2080".parse().unwrap());
        assert_eq!(c.replay, None);
        assert!(c.users.is_empty());
        assert_eq!(c.log_level, log::LevelFilter::Info);
        assert_eq!(w.as_slice(), &[Warning::NoUsers]);
    }

    #[test]
    fn default_is_the_minimal_config_without_a_pbx() {
        let mut c = cfg(&live(""));
        c.ami.host.clear();
        c.ami.user_name.clear();
        c.ami.secret = Secret::default();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn an_empty_object_needs_a_pbx_or_a_file_to_replay() {
        assert_message("{}", &["url is not set", "filePath"]);
        assert_message(r#"{"url": "pbx"}"#, &["userName is not set"]);
        assert_message(r#"{"url": "pbx", "userName": "u"}"#, &["secret is not set"]);
        assert_message(
            r#"{"url": "pbx", "userName": "u", "secret": ""}"#,
            &["secret is not set"],
        );
    }

    #[test]
    fn null_means_the_default() {
        let c = cfg(&live(
            r#""port": null, "users": null, "packetInfoConfig": null, "asterisk": null"#,
        ));
        assert_eq!(c.ami.port, 5038);
    }
}

mod old_service {
    use super::*;

    #[test]
    fn booleans_may_be_strings_in_any_case() {
        let c = cfg(&live(
            r#""asyncOriginate": "False", "traceQueuesState": "TRUE",
               "autoPauseOnCommutationStart": " true ", "sendRingStartedOnRingingState": false"#,
        ));
        assert!(!c.actions.async_originate);
        assert!(c.calls.trace_queues_state);
        assert!(c.calls.auto_pause_on_commutation_start);
        assert!(!c.calls.ring_started_on_ringing_state);
    }

    #[test]
    fn a_boolean_that_is_not_true_or_false_names_its_key() {
        assert_message(
            &live(r#""asyncOriginate": "yes""#),
            &["asyncOriginate", "true or false"],
        );
        assert_message(
            &live(r#""traceQueuesState": 1"#),
            &["traceQueuesState", "true or false"],
        );
        assert_message(
            &live(r#""replayLoop": [true]"#),
            &["replayLoop", "true or false"],
        );
    }

    #[test]
    fn port_may_be_a_number_or_a_string() {
        assert_eq!(cfg(&live(r#""port": 5039"#)).ami.port, 5039);
        assert_eq!(cfg(&live(r#""port": "5040""#)).ami.port, 5040);
        assert_eq!(cfg(&live(r#""port": " 65535 ""#)).ami.port, 65535);
    }

    #[test]
    fn a_port_out_of_range_or_not_a_number_names_the_key_and_the_range() {
        for bad in ["0", "65536", "-1", "\"70000\"", "99999999999999999999999"] {
            assert_message(
                &live(&format!(r#""port": {bad}"#)),
                &["port", "from 1 to 65535"],
            );
        }
        for bad in ["5038.5", "\"abc\"", "\"\"", "{}"] {
            assert_message(
                &live(&format!(r#""port": {bad}"#)),
                &["port", "whole number"],
            );
        }
    }

    #[test]
    fn a_block_pasted_under_asterisk_works_unchanged() {
        let c = cfg(r#"{
            "asterisk": {
                "url": "pbx.example.com", "port": "5039", "userName": "terrasoft",
                "secret": "x", "originateContext": "from-crm", "parkingLotContext": "park",
                "autoPauseOnCommutationStart": "true", "queueExtensionFormat": "Local/{0}@q/n",
                "asyncOriginate": "false", "sendRingStartedOnRingingState": "true",
                "traceQueuesState": "false", "protocol": "PJSIP/",
                "packetInfoConfig": "CallerIDName,Queue", "filePath": ""
            },
            "wsListen": "0.0.0.0:2014"
        }"#);
        assert_eq!(c.ami.host, "pbx.example.com");
        assert_eq!(c.ami.port, 5039);
        assert_eq!(c.ami.user_name, "terrasoft");
        assert_eq!(c.actions.originate_context, "from-crm");
        assert_eq!(c.actions.parking_lot_context, "park");
        assert!(c.calls.auto_pause_on_commutation_start);
        assert_eq!(c.calls.queue_extension_format.as_str(), "Local/{0}@q/n");
        assert!(!c.actions.async_originate);
        assert_eq!(c.calls.protocol, Protocol::Pjsip);
        assert_eq!(c.calls.packet_info.len(), 2);
        assert_eq!(c.replay, None);
        assert_eq!(c.ws.listen.port(), 2014);
    }

    #[test]
    fn keys_match_without_regard_to_case_as_the_dotnet_binder_did() {
        let c = cfg(r#"{"Asterisk": {"URL": "pbx", "UserName": "u", "Secret": "s", "Port": 1}}"#);
        assert_eq!((c.ami.host.as_str(), c.ami.port), ("pbx", 1));
    }

    #[test]
    fn errors_under_asterisk_name_the_nested_key() {
        assert_message(
            r#"{"asterisk": {"url": "p", "port": "x"}}"#,
            &["asterisk.port"],
        );
    }

    #[test]
    fn the_same_key_at_the_top_and_under_asterisk_is_refused() {
        assert_message(
            &live(r#""asterisk": {"port": 1}, "Port": 2"#),
            &["Port is set twice", "keep one"],
        );
        assert_message(
            &live(r#""asterisk": {"URL": "x"}"#),
            &["asterisk.URL is set twice"],
        );
        assert_message(&live(r#""port": 1, "port": 1"#), &["port is set twice"]);
        assert_message(
            &live(r#""asterisk": {}, "asterisk": {}"#),
            &["asterisk is set twice"],
        );
    }

    #[test]
    fn our_own_keys_do_not_belong_under_asterisk() {
        assert_message(
            &live(r#""asterisk": {"wsListen": "0.0.0.0:1"}"#),
            &["asterisk.wsListen", "move it to the top level"],
        );
        assert_message(
            &live(r#""asterisk": {"asterisk": {}}"#),
            &["asterisk.asterisk"],
        );
        assert_message(
            &live(r#""asterisk": {"bogus": 1}"#),
            &["unknown key asterisk.bogus"],
        );
        assert_message(
            &live(r#""asterisk": []"#),
            &["asterisk: expected an object"],
        );
    }

    #[test]
    fn protocol_accepts_sip_and_pjsip_with_or_without_slash() {
        for (text, p) in [
            ("SIP/", Protocol::Sip),
            ("sip", Protocol::Sip),
            ("PJSIP/", Protocol::Pjsip),
            ("pjsip", Protocol::Pjsip),
            (" PJSIP/ ", Protocol::Pjsip),
        ] {
            assert_eq!(
                cfg(&live(&format!(r#""protocol": "{text}""#)))
                    .calls
                    .protocol,
                p
            );
        }
        assert_message(
            &live(r#""protocol": "IAX2/""#),
            &["protocol", "\"SIP/\"", "\"PJSIP/\""],
        );
    }

    #[test]
    fn queue_extension_format_takes_0_or_line_once() {
        let c = cfg(&live(
            r#""queueExtensionFormat": "Local/{line}@from-queue/n""#,
        ));
        let f = &c.calls.queue_extension_format;
        assert_eq!(f.interface("1000").as_str(), "Local/1000@from-queue/n");
        assert_eq!(f.line_of("Local/1000@from-queue/n"), Some("1000"));
        assert_eq!(f.line_of("local/1000@FROM-QUEUE/n"), Some("1000"));
        assert_eq!(f.line_of("Local/@from-queue/n"), None);
        assert_eq!(f.line_of("PJSIP/1000"), None);
        let d = QueueFormat::default();
        assert_eq!(d.line_of("Local/1002@from-queue/n"), Some("1002"));
        assert_eq!(d.interface("7").as_str(), "Local/7@from-queue/n");
        for bad in [
            "Local/x@q",
            "Local/{0}@{0}",
            "Local/{1}@q",
            "Local/{0}}@q",
            "{{0}",
        ] {
            assert_message(
                &live(&format!(r#""queueExtensionFormat": "{bad}""#)),
                &["queueExtensionFormat", "exactly one {0}"],
            );
        }
    }

    #[test]
    fn packet_info_config_is_a_list_or_one_separated_string() {
        let a = cfg(&live(r#""packetInfoConfig": ["CallerIDName", "Queue"]"#));
        let b = cfg(&live(r#""packetInfoConfig": "CallerIDName, Queue""#));
        let c = cfg(&live(
            r#""packetInfoConfig": "CallerIDName;Queue;callerIDname""#,
        ));
        for x in [&a, &b, &c] {
            let keys: Vec<&str> = x.calls.packet_info.iter().map(|k| k.as_str()).collect();
            assert_eq!(keys, ["CallerIDName", "Queue"]);
        }
        assert!(cfg(&live(r#""packetInfoConfig": """#))
            .calls
            .packet_info
            .is_empty());
        assert!(cfg(&live(r#""packetInfoConfig": []"#))
            .calls
            .packet_info
            .is_empty());
    }

    #[test]
    fn packet_info_config_errors_name_the_item() {
        let many = (0..=crate::limits::MAX_PACKET_INFO_KEYS)
            .map(|i| format!("\"K{i}\""))
            .collect::<Vec<_>>()
            .join(",");
        assert_message(
            &live(&format!(r#""packetInfoConfig": [{many}]"#)),
            &[&format!(
                "packetInfoConfig: too many items, at most {}",
                crate::limits::MAX_PACKET_INFO_KEYS
            )],
        );
        assert_message(
            &live(r#""packetInfoConfig": ["A", "B:"]"#),
            &["packetInfoConfig[1]", "no ':'"],
        );
        assert_message(
            &live(r#""packetInfoConfig": ["A", ""]"#),
            &["packetInfoConfig[1]", "empty item"],
        );
        assert_message(
            &live(r#""packetInfoConfig": ["A", null]"#),
            &["packetInfoConfig[1]", "null item"],
        );
        assert_message(
            &live(r#""packetInfoConfig": [["A"]]"#),
            &["packetInfoConfig[0]", "string"],
        );
        assert_message(
            &live(r#""packetInfoConfig": {"A": 1}"#),
            &["packetInfoConfig: expected a list"],
        );
        assert_message(
            &live(r#""packetInfoConfig": true"#),
            &["packetInfoConfig: expected a list"],
        );
        let long = "K".repeat(crate::limits::INFO_KEY_MAX + 1);
        assert_message(
            &live(&format!(r#""packetInfoConfig": ["{long}"]"#)),
            &[&format!(
                "packetInfoConfig[0]: too long, at most {}",
                crate::limits::INFO_KEY_MAX
            )],
        );
    }

    #[test]
    fn file_path_replays_a_file_from_the_config_folder() {
        let c = cfg(r#"{"filePath": "demo.ami", "replayLoop": "true", "replayGapMs": 50}"#);
        let r = c.replay.unwrap();
        assert_eq!(r.file, Path::new("/etc/ctibridge/demo.ami"));
        assert!(r.looping);
        assert_eq!(r.gap, Duration::from_millis(50));
        let c = cfg(r#"{"filePath": "/var/lib/x.ami"}"#);
        let r = c.replay.unwrap();
        assert_eq!(r.file, Path::new("/var/lib/x.ami"));
        assert!(!r.looping);
        assert_eq!(r.gap, Duration::from_millis(200));
        assert_message(
            r#"{"filePath": "x", "replayGapMs": 60001}"#,
            &["replayGapMs", "0 to 60000"],
        );
    }

    #[test]
    fn url_is_a_host_without_scheme_port_or_path() {
        for good in ["pbx.example.com", "10.0.0.5", "::1", "[::1]", "pbx_1"] {
            cfg(&format!(
                r#"{{"url": "{good}", "userName": "u", "secret": "s"}}"#
            ));
        }
        for bad in [
            "tcp://10.0.0.5",
            "10.0.0.5:5038",
            "pbx/ami",
            "pbx example",
            "pbx\\u00e9",
        ] {
            assert_message(
                &format!(r#"{{"url": "{bad}", "userName": "u", "secret": "s"}}"#),
                &["url:", "port"],
            );
        }
    }

    #[test]
    fn strings_unescape_quotes_backslashes_and_unicode() {
        let c = cfg(r#"{"url": "p", "userName": "Zo\u00eb", "secret": "a\"b\\c\u00e9\/d"}"#);
        assert_eq!(c.ami.secret.expose(), "a\"b\\cé/d");
        assert_eq!(c.ami.user_name, "Zoë");
    }

    #[test]
    fn a_line_break_in_a_value_sent_to_ami_is_refused() {
        assert_message(
            r#"{"url": "p", "userName": "u\r\nAction: Originate", "secret": "s"}"#,
            &["userName", "line break"],
        );
        assert_message(
            r#"{"url": "p", "userName": "u", "secret": "s\n"}"#,
            &["secret", "line break"],
        );
        assert_message(
            &live(r#""originateContext": "from internal""#),
            &["originateContext", "no spaces"],
        );
        assert_message(
            &live(r#""parkingLotContext": """#),
            &["parkingLotContext", "empty context"],
        );
    }

    #[test]
    fn numbers_may_stand_for_strings_but_booleans_may_not() {
        let c = cfg(r#"{"url": "p", "userName": 1234, "secret": 987654}"#);
        assert_eq!(
            (c.ami.user_name.as_str(), c.ami.secret.expose()),
            ("1234", "987654")
        );
        assert_message(
            r#"{"url": "p", "userName": "u", "secret": true}"#,
            &["secret: expected a string"],
        );
    }

    #[test]
    fn over_long_strings_name_the_key_and_the_limit() {
        let long = "s".repeat(SECRET_MAX + 1);
        assert_message(
            &format!(r#"{{"url": "p", "userName": "u", "secret": "{long}"}}"#),
            &["secret: too long, at most 128"],
        );
        let very_long = "h".repeat(2000);
        assert_message(
            &format!(r#"{{"url": "{very_long}"}}"#),
            &["url: too long, at most 253"],
        );
    }
}

mod own_keys {
    use super::*;

    #[test]
    fn listen_addresses_parse_as_ip_and_port() {
        let c = cfg(&live(
            r#""wsListen": "[::]:8443", "healthListen": "127.0.0.1:9000""#,
        ));
        assert_eq!(c.ws.listen, "[::]:8443".parse().unwrap());
        assert_eq!(c.health_listen.port(), 9000);
        for bad in ["2013", "localhost:2013", "0.0.0.0", "0.0.0.0:99999", ""] {
            assert_message(
                &live(&format!(r#""wsListen": "{bad}""#)),
                &["wsListen", "e.g. \"0.0.0.0:2013\""],
            );
        }
        assert_message(
            &live(r#""healthListen": "0.0.0.0:0""#),
            &["healthListen", "from 1 to 65535"],
        );
    }

    #[test]
    fn the_two_listeners_need_different_addresses() {
        assert_message(
            &live(r#""healthListen": "0.0.0.0:2013""#),
            &["healthListen", "same address as wsListen"],
        );
        assert_message(
            &live(r#""wsListen": "127.0.0.1:2080""#),
            &["wsListen", "same address as healthListen"],
        );
    }

    #[test]
    fn ami_auth_is_md5_or_plain() {
        assert_eq!(cfg(&live(r#""amiAuth": "PLAIN""#)).ami.auth, AmiAuth::Plain);
        assert_eq!(cfg(&live(r#""amiAuth": "md5""#)).ami.auth, AmiAuth::Md5);
        assert_message(
            &live(r#""amiAuth": "sha1""#),
            &["amiAuth", "\"md5\"", "\"plain\""],
        );
    }

    #[test]
    fn plain_auth_to_a_remote_pbx_is_a_warning_but_not_to_localhost() {
        let (_, w) = ok(&live(r#""amiAuth": "plain""#));
        assert!(w.contains(&Warning::PlainAuthOverNetwork));
        let (_, w) =
            ok(r#"{"url": "127.0.0.1", "userName": "u", "secret": "s", "amiAuth": "plain"}"#);
        assert!(!w.contains(&Warning::PlainAuthOverNetwork));
    }

    #[test]
    fn capacities_stay_between_their_floor_and_ceiling() {
        let c = cfg(&live(
            r#""maxChannels": 8192, "maxClients": "1", "clientQueue": 4096,
               "amiBufferSize": 1024, "amiMaxLine": 1024, "amiMaxFields": 4096"#,
        ));
        assert_eq!(c.calls.max_channels, 8192);
        assert_eq!(c.ws.max_clients, 1);
        assert_eq!(c.ws.client_queue, 4096);
        assert_eq!(c.ami.limits.buffer, 1024);
        assert_eq!(c.ami.limits.max_line, 1024);
        assert_eq!(c.ami.limits.max_fields, 4096);
        for (key, value, range) in [
            ("maxChannels", "8193", "from 16 to 8192"),
            ("maxChannels", "15", "from 16 to 8192"),
            ("maxClients", "0", "from 1 to 4096"),
            ("maxClients", "4097", "from 1 to 4096"),
            ("clientQueue", "4097", "from 16 to 4096"),
            ("amiBufferSize", "4194305", "from 1024 to 4194304"),
            ("amiBufferSize", "1023", "from 1024 to 4194304"),
            ("amiMaxLine", "255", "from 256 to 65536"),
            ("amiMaxFields", "4097", "from 16 to 4096"),
            ("pingIntervalS", "0", "from 1 to 3600"),
            ("actionTimeoutS", "301", "from 1 to 300"),
            ("connectTimeoutS", "0", "from 1 to 300"),
            ("originateRatePerMinute", "601", "from 0 to 600"),
        ] {
            assert_message(&live(&format!(r#""{key}": {value}"#)), &[key, range]);
        }
    }

    #[test]
    fn ami_max_line_cannot_exceed_the_buffer() {
        assert_message(
            &live(r#""amiBufferSize": 2048, "amiMaxLine": 4096"#),
            &["amiMaxLine", "from 256 to 2048"],
        );
        // Without amiMaxLine, a small buffer brings the default line down.
        let c = cfg(&live(r#""amiBufferSize": 2048"#));
        assert_eq!(c.ami.limits.max_line, 2048);
    }

    #[test]
    fn timeouts_and_rates_are_read() {
        let c = cfg(&live(
            r#""pingIntervalS": 30, "actionTimeoutS": "7", "connectTimeoutS": 3,
               "originateRatePerMinute": 0"#,
        ));
        assert_eq!(c.ami.ping_interval, Duration::from_secs(30));
        assert_eq!(c.ami.action_timeout, Duration::from_secs(7));
        assert_eq!(c.ami.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.actions.originate_rate_per_minute, 0);
    }

    #[test]
    fn log_level_is_one_of_five_names() {
        assert_eq!(
            cfg(&live(r#""logLevel": "DEBUG""#)).log_level,
            log::LevelFilter::Debug
        );
        assert_eq!(
            cfg(&live(r#""logLevel": "trace""#)).log_level,
            log::LevelFilter::Trace
        );
        assert_message(
            &live(r#""logLevel": "verbose""#),
            &["logLevel", "error, warn, info, debug or trace"],
        );
    }

    #[test]
    fn tls_needs_both_files_resolved_from_the_config_folder() {
        let c = cfg(&live(
            r#""tlsCert": "tls/cert.pem", "tlsKey": "/secure/key.pem""#,
        ));
        let t = c.ws.tls.unwrap();
        assert_eq!(t.cert, Path::new("/etc/ctibridge/tls/cert.pem"));
        assert_eq!(t.key, Path::new("/secure/key.pem"));
        assert_message(
            &live(r#""tlsCert": "c.pem""#),
            &["tlsKey is not set", "tlsCert is set"],
        );
        assert_message(
            &live(r#""tlsKey": "k.pem", "tlsCert": """#),
            &["tlsCert is not set"],
        );
        assert_eq!(cfg(&live(r#""tlsKey": "", "tlsCert": """#)).ws.tls, None);
    }

    #[test]
    fn screen_pop_url_is_an_http_template_with_number() {
        let c = cfg(&live(
            r#""screenPopUrl": "https://crm.example.com/find?phone={number}""#,
        ));
        assert_eq!(
            c.ws.screen_pop_for("+33 1#2").unwrap(),
            "https://crm.example.com/find?phone=%2B33%201%232"
        );
        assert_eq!(cfg(&live("")).ws.screen_pop_for("1"), None);
        assert_message(
            &live(r#""screenPopUrl": "https://crm/find""#),
            &["screenPopUrl", "{number}"],
        );
        assert_message(
            &live(r#""screenPopUrl": "crm/{number}""#),
            &["screenPopUrl", "http://"],
        );
        assert_message(
            &live(r#""screenPopUrl": "http://crm/a b/{number}""#),
            &["screenPopUrl", "%20"],
        );
    }
}

mod keys {
    use super::*;

    #[test]
    fn an_unknown_key_is_named_with_the_nearest_known_one() {
        assert_message(
            &live(r#""wsListn": "0.0.0.0:1""#),
            &["unknown key wsListn", "did you mean \"wsListen\""],
        );
        assert_message(
            &live(r#""frobnicate": 1"#),
            &["unknown key frobnicate", "remove it"],
        );
        assert_message(
            &live(&format!(
                r#""users": [{{"line": "1", "token": "{TOKEN}", "tokn": "x"}}]"#
            )),
            &["unknown key users[0].tokn", "did you mean \"token\""],
        );
    }

    #[test]
    fn a_very_long_unknown_key_is_shown_cut_short() {
        let key = "k".repeat(500);
        let m = message(&live(&format!(r#""{key}": 1"#)));
        assert!(m.contains('…') && m.len() < 200, "{m}");
    }

    #[test]
    fn appsettings_sections_of_the_old_service_are_ignored_with_a_warning() {
        let (c, w) = ok(&live(
            r#""Logging": {"LogLevel": {"Default": "Information"}}, "AllowedHosts": "*""#,
        ));
        assert_eq!(c.ami.host, "10.0.0.5");
        assert!(w.contains(&Warning::Ignored {
            key: KeyPath::key("Logging")
        }));
        assert!(w.contains(&Warning::Ignored {
            key: KeyPath::key("AllowedHosts")
        }));
    }

    #[test]
    fn comments_may_annotate_the_file() {
        let c = cfg(
            "// ctibridge\n{\n  // the PBX\n  \"url\": \"pbx\", // host\n  \"userName\": \"u\",\n  \"secret\": \"s//not a comment\"\n}\n",
        );
        assert_eq!(c.ami.secret.expose(), "s//not a comment");
    }

    #[test]
    fn a_syntax_error_gives_line_and_column() {
        assert_eq!(
            message("{\n  \"url\": \"pbx\"\n  \"port\": 1\n}"),
            "line 3, column 3: expected ',' or '}' after the value: is a comma missing?"
        );
    }

    #[test]
    fn a_text_over_the_size_limit_is_refused_before_parsing() {
        let text = format!(
            "{{\"url\": \"{}\"}}",
            " ".repeat(crate::limits::CONFIG_MAX_BYTES)
        );
        assert!(matches!(refused(&text), ConfigError::TooLarge { .. }));
    }

    #[test]
    fn every_known_key_is_unique_ignoring_case() {
        let keys: Vec<String> = known_keys().map(|k| k.to_ascii_lowercase()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys.len(), sorted.len());
    }
}

mod users {
    use super::*;

    fn with_users(users: &[String]) -> String {
        live(&format!(r#""users": [{}]"#, users.join(",")))
    }

    #[test]
    fn a_user_has_line_token_and_optional_name_context_debug_patterns() {
        let c = cfg(&live(&format!(
            r#""users": [
                {{"name": "Alice", "line": "1000", "token": "{TOKEN}", "context": "from-sales",
                  "debug": "true", "dialPatterns": ["1XXX", "0[1-9]X."]}},
                {{"line": 1002, "token": "fedcba9876543210"}}
            ]"#
        )));
        let (a, b) = (&c.users[0], &c.users[1]);
        assert_eq!((a.name.as_str(), a.line.as_str()), ("Alice", "1000"));
        assert_eq!(a.token.expose(), TOKEN);
        assert_eq!(a.originate_context(&c.actions), "from-sales");
        assert!(a.debug);
        assert_eq!(a.dial_patterns.len(), 2);
        assert_eq!((b.name.as_str(), b.line.as_str()), ("1002", "1002"));
        assert_eq!(b.originate_context(&c.actions), "from-internal");
        assert!(!b.debug);
        assert!(b.dial_patterns.is_empty());
    }

    #[test]
    fn allows_checks_the_users_patterns_and_refuses_an_empty_number() {
        let c = cfg(&with_users(&[
            format!(r#"{{"line": "1", "token": "{TOKEN}", "dialPatterns": "1XXX, 0[1-9]X."}}"#),
            user("2", "fedcba9876543210"),
        ]));
        let (limited, free) = (&c.users[0], &c.users[1]);
        assert!(limited.allows("1000"));
        assert!(limited.allows("0612345678"));
        assert!(!limited.allows("00442071234567"));
        assert!(!limited.allows("2000"));
        assert!(!limited.allows(""));
        assert!(free.allows("00442071234567"));
        assert!(!free.allows(""));
    }

    #[test]
    fn dial_pattern_errors_name_the_pattern() {
        assert_message(
            &with_users(&[format!(
                r#"{{"line": "1", "token": "{TOKEN}", "dialPatterns": ["1XXX", "1[2"]}}"#
            )]),
            &["users[0].dialPatterns[1]", "without its ']'"],
        );
        assert_message(
            &with_users(&[format!(
                r#"{{"line": "1", "token": "{TOKEN}", "dialPatterns": []}}"#
            )]),
            &["users[0].dialPatterns", "empty list", "remove dialPatterns"],
        );
        let nine = (0..9)
            .map(|i| format!("\"{i}X\""))
            .collect::<Vec<_>>()
            .join(",");
        assert_message(
            &with_users(&[format!(
                r#"{{"line": "1", "token": "{TOKEN}", "dialPatterns": [{nine}]}}"#
            )]),
            &["users[0].dialPatterns: too many items, at most 8"],
        );
    }

    #[test]
    fn line_must_be_digits() {
        for bad in ["\"10a0\"", "\"\"", "\"+1000\"", "\"PJSIP/1000\"", "-5"] {
            assert_message(
                &with_users(&[format!(r#"{{"line": {bad}, "token": "{TOKEN}"}}"#)]),
                &["users[0].line", "digits only"],
            );
        }
        assert_message(
            &with_users(&[format!(r#"{{"token": "{TOKEN}"}}"#)]),
            &["users[0].line is not set"],
        );
    }

    #[test]
    fn tokens_must_exist_be_non_empty_and_url_safe() {
        assert_message(
            &with_users(&[r#"{"line": "1"}"#.into()]),
            &["users[0].token is not set"],
        );
        assert_message(
            &with_users(&[user("1", "")]),
            &["users[0].token", "empty token"],
        );
        assert_message(
            &with_users(&[user("1", "0123456789abcdef?x")]),
            &["users[0].token", "letters, digits"],
        );
        assert_message(
            &with_users(&[user("1", "REPLACE-with-openssl-rand-hex-16")]),
            &["users[0].token", "placeholder"],
        );
    }

    /// Found by the `config` fuzz target: a token with a multi-byte
    /// character across its 7th byte panicked in the placeholder check.
    #[test]
    fn a_token_with_a_non_ascii_character_is_refused_not_a_panic() {
        assert_message(
            &with_users(&[user("1", "012345\u{feff}6789abcdef-tok")]),
            &["users[0].token", "letters, digits"],
        );
        assert_message(
            &with_users(&[user("1", "replac\u{e9}-0123456789abcdef")]),
            &["users[0].token", "letters, digits"],
        );
    }

    #[test]
    fn a_short_token_is_refused_live_and_a_warning_in_replay() {
        let m = message(&with_users(&[user("1", "short")]));
        assert!(m.contains("users[0].token is shorter than 16"), "{m}");
        let (c, w) = ok(&format!(
            r#"{{"filePath": "demo.ami", "users": [{}]}}"#,
            user("1", "demo-1")
        ));
        assert_eq!(c.users.len(), 1);
        assert_eq!(
            w.as_slice(),
            &[Warning::ShortTokens {
                first: KeyPath::key("users[0].token"),
                count: 1
            }]
        );
        let (_, w) = ok(&format!(
            r#"{{"filePath": "demo.ami", "users": [{}, {}, {}]}}"#,
            user("1", TOKEN),
            user("2", "demo-2"),
            user("3", "demo-3")
        ));
        assert_eq!(
            w[0].to_string(),
            "2 tokens (users[1].token first) are shorter than 16 characters: \
             fine for a replay, refused against a live PBX"
        );
    }

    #[test]
    fn two_users_with_one_token_are_refused_naming_both() {
        assert_message(
            &with_users(&[
                user("1", TOKEN),
                user("2", "another-token-123"),
                user("3", TOKEN),
            ]),
            &["users[2].token is the same as users[0].token"],
        );
    }

    #[test]
    fn two_users_may_share_a_line_with_their_own_tokens() {
        let c = cfg(&with_users(&[
            user("1000", TOKEN),
            user("1000", "fedcba9876543210"),
        ]));
        assert_eq!(c.users.len(), 2);
    }

    #[test]
    fn user_by_token_finds_the_one_user() {
        let c = cfg(&with_users(&[
            user("1", TOKEN),
            user("2", "fedcba9876543210"),
        ]));
        assert_eq!(c.user_by_token("fedcba9876543210").unwrap().line, "2");
        assert_eq!(c.user_by_token(TOKEN).unwrap().line, "1");
        assert!(c.user_by_token("fedcba987654321").is_none());
        assert!(c.user_by_token("").is_none());
    }

    #[test]
    fn user_shapes_are_checked() {
        assert_message(
            &live(r#""users": {"line": "1"}"#),
            &["users: expected a list of users"],
        );
        assert_message(
            &live(r#""users": ["1000"]"#),
            &["users[0]: expected a user object"],
        );
        assert_message(
            &with_users(&[format!(
                r#"{{"line": "1", "token": "{TOKEN}", "debug": "maybe"}}"#
            )]),
            &["users[0].debug", "true or false"],
        );
        assert_message(
            &with_users(&[format!(
                r#"{{"line": "1", "line": "2", "token": "{TOKEN}"}}"#
            )]),
            &["users[0].line is set twice"],
        );
        assert_message(
            &with_users(&[format!(
                r#"{{"line": "1", "token": "{TOKEN}", "context": "a b"}}"#
            )]),
            &["users[0].context", "no spaces"],
        );
    }

    #[test]
    fn more_users_than_the_limit_are_refused() {
        let n = crate::limits::MAX_USERS;
        let many: Vec<String> = (0..n)
            .map(|i| user(&i.to_string(), &format!("token-{i:011}")))
            .collect();
        assert_eq!(cfg(&with_users(&many)).users.len(), n);
        let too_many: Vec<String> = (0..=n)
            .map(|i| user(&i.to_string(), &format!("token-{i:011}")))
            .collect();
        assert_message(
            &with_users(&too_many),
            &["users: too many items, at most 256"],
        );
    }

    #[test]
    fn no_users_is_a_warning() {
        let (_, w) = ok(&live(r#""users": []"#));
        assert!(w.contains(&Warning::NoUsers));
    }
}

mod secrets {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret_or_tokens() {
        let c = cfg(&live(&format!(r#""users": [{}]"#, user("1000", TOKEN))));
        let shown = format!("{c:?} {c:#?}");
        assert!(!shown.contains("s3cret-AMI"), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("***"));
        assert!(shown.contains("1000"));
    }

    #[test]
    fn the_summary_never_shows_the_secret_or_tokens() {
        let c = cfg(&live(&format!(
            r#""users": [{}, {}], "protocol": "PJSIP/""#,
            user("1000", TOKEN),
            user("1001", "fedcba9876543210")
        )));
        let s = c.summary().to_string();
        assert_eq!(
            s,
            "PBX 10.0.0.5:5038 as crm (md5), PJSIP/, 2 users, ws 0.0.0.0:2013, health 127.0.0.1:2080"
        );
        let c = cfg(r#"{"filePath": "demo.ami", "replayLoop": true, "url": "::1"}"#);
        assert_eq!(
            c.summary().to_string(),
            "replay /etc/ctibridge/demo.ami (200 ms between packets, looping), SIP/, 0 users, \
             ws 0.0.0.0:2013, health 127.0.0.1:2080"
        );
    }

    #[test]
    fn error_messages_never_echo_the_secret_or_a_token() {
        for text in [
            r#"{"url": "p", "userName": "u", "secret": "hunter2\u0007"}"#.to_string(),
            r#"{"url": "p", "userName": "u", "secret": hunter2}"#.to_string(),
            with_token("hunter2-hunter2-hunter2?"),
            with_token("hunter2"),
        ] {
            let m = message(&text);
            assert!(!m.contains("hunter2"), "{m}");
        }
    }

    fn with_token(t: &str) -> String {
        live(&format!(r#""users": [{}]"#, user("1", t)))
    }

    #[test]
    fn secret_comparison_needs_the_exact_value() {
        let s: Secret<16> = Secret::new("abc").unwrap();
        assert!(s.matches("abc"));
        assert!(!s.matches("abd") && !s.matches("ab") && !s.matches("abcd"));
        assert!(Secret::<2>::new("abc").is_err());
    }
}

mod channels {
    use super::*;

    #[test]
    fn protocol_finds_the_line_of_its_own_device_channels() {
        assert_eq!(Protocol::Pjsip.line_of("PJSIP/1000-0000002a"), Some("1000"));
        assert_eq!(
            Protocol::Pjsip.line_of("pjsip/trunk-a-00000001"),
            Some("trunk-a")
        );
        assert_eq!(Protocol::Sip.line_of("SIP/1002-00000001"), Some("1002"));
        assert_eq!(Protocol::Sip.line_of("PJSIP/1002-00000001"), None);
        assert_eq!(
            Protocol::Pjsip.line_of("Local/1000@from-queue-00000001;1"),
            None
        );
        assert_eq!(Protocol::Pjsip.line_of("PJSIP/1000"), None);
        assert_eq!(Protocol::Pjsip.line_of("PJSIP/-1"), None);
        assert_eq!(Protocol::Pjsip.line_of("PJ"), None);
    }
}

mod files {
    use super::*;
    use std::fs;

    /// A file in the temp folder, removed on drop.
    struct Temp(PathBuf);

    impl Temp {
        fn new(name: &str, body: &[u8]) -> Temp {
            let p = std::env::temp_dir()
                .join(format!("ctibridge-config-{}-{name}", std::process::id()));
            fs::write(&p, body).unwrap();
            Temp(p)
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    #[cfg(unix)]
    fn chmod(p: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_file_readable_by_others_is_detected_and_warned_about_first() {
        let t = Temp::new("mode.json", live("").as_bytes());
        chmod(&t.0, 0o644);
        assert!(readable_by_others(&fs::metadata(&t.0).unwrap()));
        let (_, w) = load_with_warnings(&t.0).unwrap();
        assert_eq!(w[0], Warning::ReadableByOthers { path: t.0.clone() });
        assert!(w[0].to_string().contains("chmod 640"));

        chmod(&t.0, 0o640);
        assert!(!readable_by_others(&fs::metadata(&t.0).unwrap()));
        let (_, w) = load_with_warnings(&t.0).unwrap();
        assert!(!w
            .iter()
            .any(|w| matches!(w, Warning::ReadableByOthers { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_config_without_a_secret_is_not_warned_about() {
        let rec = Temp::new("public.ami", b"");
        let name = rec.0.file_name().unwrap().to_str().unwrap();
        let t = Temp::new(
            "public.json",
            format!(r#"{{"filePath": "{name}"}}"#).as_bytes(),
        );
        chmod(&t.0, 0o644);
        let (_, w) = load_with_warnings(&t.0).unwrap();
        assert!(!w
            .iter()
            .any(|w| matches!(w, Warning::ReadableByOthers { .. })));
    }

    #[test]
    fn a_missing_file_or_a_folder_is_a_read_error_naming_the_path() {
        let p = std::env::temp_dir().join("ctibridge-config-does-not-exist.json");
        let m = load(&p).unwrap_err().to_string();
        assert!(
            m.contains("cannot read the config file") && m.contains("does-not-exist"),
            "{m}"
        );
        let m = load(&std::env::temp_dir()).unwrap_err().to_string();
        assert!(m.contains("cannot read the config file"), "{m}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_without_reading_it_all() {
        let big = vec![b' '; crate::limits::CONFIG_MAX_BYTES + 1];
        let t = Temp::new("big.json", &big);
        match load(&t.0) {
            Err(ConfigError::TooLarge { size }) => assert_eq!(size, big.len() as u64),
            other => panic!("{other:?}"),
        }
        let t = Temp::new("limit.json", &big[1..]);
        assert!(matches!(load(&t.0), Err(ConfigError::Syntax { .. })));
    }

    #[test]
    fn files_named_by_the_config_must_exist_beside_it() {
        let t = Temp::new("replay.json", br#"{"filePath": "no-such-recording.ami"}"#);
        let m = load(&t.0).unwrap_err().to_string();
        assert!(m.starts_with("filePath: no such file"), "{m}");
        assert!(
            m.contains(
                &std::env::temp_dir()
                    .join("no-such-recording.ami")
                    .display()
                    .to_string()
            ),
            "{m}"
        );

        let rec = Temp::new("rec.ami", b"");
        let name = rec.0.file_name().unwrap().to_str().unwrap();
        let t = Temp::new(
            "replay2.json",
            format!(r#"{{"filePath": "{name}"}}"#).as_bytes(),
        );
        assert_eq!(load(&t.0).unwrap().replay.unwrap().file, rec.0);

        let t = Temp::new(
            "tls.json",
            live(r#""tlsCert": "nope.pem", "tlsKey": "nope.key""#).as_bytes(),
        );
        assert!(load(&t.0)
            .unwrap_err()
            .to_string()
            .starts_with("tlsCert: no such file"));
    }
}
