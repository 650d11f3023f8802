//! The figures /health and /metrics report, and their two renderings.
//!
//! The app fills a [`Health`] snapshot from its parts; this module only turns
//! it into JSON (for people and probes) or Prometheus text (for scrapers).

use crate::json;
use core::fmt::{self, Write};

/// Where call events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// A live AMI session.
    #[default]
    Live,
    /// A recorded scenario (`filePath`).
    Replay,
}

/// The AMI side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ami {
    /// Logged in now (or, for a replay, the replay is running).
    pub connected: bool,
    /// Banner version (`Asterisk Call Manager/x.y.z` → `x.y.z`), if seen.
    pub version: String,
    /// Successful logins after the first.
    pub reconnects: u64,
    /// The last connection or login error, in words.
    pub last_error: String,
    /// Seconds since the current session logged in, if connected.
    pub connected_for_s: Option<u64>,
    /// Refused logins since start.
    pub login_failures: u64,
}

/// A point-in-time view of everything /health reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Seconds since start.
    pub uptime_s: u64,
    /// Live PBX or recorded scenario.
    pub source: Source,
    /// The AMI session.
    pub ami: Ami,
    /// Channels tracked now.
    pub channels_used: u64,
    /// Channel table capacity.
    pub channels_capacity: u64,
    /// New channels not tracked because the table was full.
    pub channels_refused: u64,
    /// WebSocket clients connected now.
    pub clients_connected: u64,
    /// Client capacity.
    pub clients_capacity: u64,
    /// Clients closed because their queue was full.
    pub clients_closed_slow: u64,
    /// Connections refused because the client capacity was reached.
    pub clients_refused: u64,
    /// Failed authentications.
    pub auth_failures: u64,
    /// Connections dropped for not finishing their handshake in time.
    pub clients_handshake_timeouts: u64,
    /// Connections closed for a framing error (oversized, not UTF-8,
    /// unmasked or otherwise broken frames).
    pub clients_bad_frames: u64,
    /// AMI packets decoded.
    pub codec_packets: u64,
    /// AMI packets skipped for breaking a limit.
    pub codec_skipped: u64,
    /// AMI lines skipped inside packets (no `Key: Value`).
    pub codec_malformed: u64,
    /// Call-model events published.
    pub events_published: u64,
    /// HTTP requests to this endpoint refused (too many, too large, too slow).
    pub http_refused: u64,
    /// Everything else dropped at a limit.
    pub dropped: Dropped,
}

/// Drops at limits that the groups above do not show: each counts one
/// thing given up so the bridge could keep running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// New bridges not tracked: the bridge table was full.
    pub bridges: u64,
    /// Originate hints forgotten: too many calls were pending.
    pub originate_hints: u64,
    /// Events sent to nobody: larger than the largest frame.
    pub events_too_large: u64,
    /// AMI answers that came after their caller stopped waiting.
    pub ami_late_answers: u64,
    /// AMI list items over the list limit.
    pub ami_list_items: u64,
    /// Client commands refused by the originate rate limit.
    pub commands_rate_limited: u64,
    /// Queue memberships whose pause state was not remembered for
    /// snapshots: too many were known.
    pub queue_states: u64,
    /// AMI packets lost half-read: the connection ended in the middle of
    /// one (the session reconnects and resyncs).
    pub ami_truncated_packets: u64,
}

impl Health {
    /// True when the bridge does its job: the AMI session is up, or the
    /// replay runs. /health answers 200 then, 503 otherwise.
    pub fn ok(&self) -> bool {
        self.ami.connected
    }

    /// Writes the JSON document of /health.
    pub fn write_json(&self, out: &mut impl Write) -> fmt::Result {
        let status = if self.ok() { "ok" } else { "degraded" };
        let source = match self.source {
            Source::Live => "live",
            Source::Replay => "replay",
        };
        write!(
            out,
            "{{\"status\":\"{status}\",\"version\":\"{}\",",
            env!("CARGO_PKG_VERSION")
        )?;
        write!(
            out,
            "\"uptime_s\":{},\"source\":\"{source}\",",
            self.uptime_s
        )?;
        let a = &self.ami;
        write!(out, "\"ami\":{{\"connected\":{},\"version\":", a.connected)?;
        json::write_str(out, &a.version)?;
        write!(out, ",\"reconnects\":{},\"last_error\":", a.reconnects)?;
        json::write_str(out, &a.last_error)?;
        match a.connected_for_s {
            Some(s) => write!(out, ",\"connected_for_s\":{s}")?,
            None => out.write_str(",\"connected_for_s\":null")?,
        }
        write!(out, ",\"login_failures\":{}}},", a.login_failures)?;
        write!(
            out,
            "\"channels\":{{\"used\":{},\"capacity\":{},\"refused\":{}}},",
            self.channels_used, self.channels_capacity, self.channels_refused
        )?;
        write!(
            out,
            "\"clients\":{{\"connected\":{},\"capacity\":{},\"closed_slow\":{},\"refused\":{},\"auth_failures\":{},\"handshake_timeouts\":{},\"bad_frames\":{}}},",
            self.clients_connected,
            self.clients_capacity,
            self.clients_closed_slow,
            self.clients_refused,
            self.auth_failures,
            self.clients_handshake_timeouts,
            self.clients_bad_frames
        )?;
        write!(
            out,
            "\"codec\":{{\"packets\":{},\"skipped\":{},\"malformed\":{}}},",
            self.codec_packets, self.codec_skipped, self.codec_malformed
        )?;
        write!(
            out,
            "\"events\":{{\"published\":{}}},\"http\":{{\"refused\":{}}},",
            self.events_published, self.http_refused
        )?;
        let d = &self.dropped;
        write!(
            out,
            "\"dropped\":{{\"bridges\":{},\"originate_hints\":{},\"events_too_large\":{},\"ami_late_answers\":{},\"ami_list_items\":{},\"commands_rate_limited\":{},\"queue_states\":{},\"ami_truncated_packets\":{}}}}}",
            d.bridges,
            d.originate_hints,
            d.events_too_large,
            d.ami_late_answers,
            d.ami_list_items,
            d.commands_rate_limited,
            d.queue_states,
            d.ami_truncated_packets
        )
    }

    /// Writes the same figures in the Prometheus text exposition format.
    pub fn write_prometheus(&self, out: &mut impl Write) -> fmt::Result {
        let b = |v: bool| u64::from(v);
        let d = &self.dropped;
        let metrics: [(&str, &str, &str, u64); 28] = [
            (
                "ctibridge_up",
                "gauge",
                "1 when the AMI session (or replay) is up",
                b(self.ok()),
            ),
            (
                "ctibridge_uptime_seconds",
                "counter",
                "Seconds since start",
                self.uptime_s,
            ),
            (
                "ctibridge_ami_connected",
                "gauge",
                "1 when logged in to the PBX",
                b(self.ami.connected),
            ),
            (
                "ctibridge_ami_reconnects_total",
                "counter",
                "AMI reconnections",
                self.ami.reconnects,
            ),
            (
                "ctibridge_ami_login_failures_total",
                "counter",
                "Refused AMI logins",
                self.ami.login_failures,
            ),
            (
                "ctibridge_channels",
                "gauge",
                "Channels tracked now",
                self.channels_used,
            ),
            (
                "ctibridge_channels_capacity",
                "gauge",
                "Channel table capacity",
                self.channels_capacity,
            ),
            (
                "ctibridge_channels_refused_total",
                "counter",
                "Channels not tracked: table full",
                self.channels_refused,
            ),
            (
                "ctibridge_clients",
                "gauge",
                "WebSocket clients connected",
                self.clients_connected,
            ),
            (
                "ctibridge_clients_capacity",
                "gauge",
                "WebSocket client capacity",
                self.clients_capacity,
            ),
            (
                "ctibridge_clients_closed_slow_total",
                "counter",
                "Clients closed for falling behind",
                self.clients_closed_slow,
            ),
            (
                "ctibridge_clients_refused_total",
                "counter",
                "Clients refused: capacity reached",
                self.clients_refused,
            ),
            (
                "ctibridge_auth_failures_total",
                "counter",
                "Failed client authentications",
                self.auth_failures,
            ),
            (
                "ctibridge_clients_handshake_timeouts_total",
                "counter",
                "Connections dropped: handshake not finished in time",
                self.clients_handshake_timeouts,
            ),
            (
                "ctibridge_clients_bad_frames_total",
                "counter",
                "Clients closed for a framing error",
                self.clients_bad_frames,
            ),
            (
                "ctibridge_codec_packets_total",
                "counter",
                "AMI packets decoded",
                self.codec_packets,
            ),
            (
                "ctibridge_codec_skipped_total",
                "counter",
                "AMI packets skipped at a limit",
                self.codec_skipped,
            ),
            (
                "ctibridge_codec_malformed_lines_total",
                "counter",
                "AMI lines without Key: Value",
                self.codec_malformed,
            ),
            (
                "ctibridge_events_published_total",
                "counter",
                "Call-model events published",
                self.events_published,
            ),
            (
                "ctibridge_http_refused_total",
                "counter",
                "Health requests refused",
                self.http_refused,
            ),
            (
                "ctibridge_bridges_refused_total",
                "counter",
                "Bridges not tracked: table full",
                d.bridges,
            ),
            (
                "ctibridge_originate_hints_dropped_total",
                "counter",
                "Originate hints forgotten",
                d.originate_hints,
            ),
            (
                "ctibridge_queue_states_dropped_total",
                "counter",
                "Queue pause states not remembered: table full",
                d.queue_states,
            ),
            (
                "ctibridge_events_too_large_total",
                "counter",
                "Events larger than a frame, sent to nobody",
                d.events_too_large,
            ),
            (
                "ctibridge_ami_late_answers_total",
                "counter",
                "AMI answers after their caller gave up",
                d.ami_late_answers,
            ),
            (
                "ctibridge_ami_list_items_dropped_total",
                "counter",
                "AMI list items over the list limit",
                d.ami_list_items,
            ),
            (
                "ctibridge_commands_rate_limited_total",
                "counter",
                "Calls refused by the originate rate limit",
                d.commands_rate_limited,
            ),
            (
                "ctibridge_ami_truncated_packets_total",
                "counter",
                "AMI packets cut off by a lost connection",
                d.ami_truncated_packets,
            ),
        ];
        for (name, kind, help, value) in metrics {
            writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Health {
        Health {
            uptime_s: 42,
            ami: Ami {
                connected: true,
                version: "11.0.0".into(),
                reconnects: 2,
                last_error: "connection reset by \"peer\"".into(),
                connected_for_s: Some(7),
                login_failures: 1,
            },
            channels_used: 3,
            channels_capacity: 1024,
            clients_handshake_timeouts: 3,
            clients_bad_frames: 4,
            dropped: Dropped {
                ami_truncated_packets: 5,
                ..Dropped::default()
            },
            ..Health::default()
        }
    }

    #[test]
    fn json_has_the_documented_shape() {
        let mut s = String::new();
        sample().write_json(&mut s).unwrap();
        assert!(s.starts_with("{\"status\":\"ok\",\"version\":\""), "{s}");
        assert!(s.contains("\"ami\":{\"connected\":true,\"version\":\"11.0.0\",\"reconnects\":2,\"last_error\":\"connection reset by \\\"peer\\\"\",\"connected_for_s\":7,\"login_failures\":1}"), "{s}");
        assert!(
            s.contains("\"channels\":{\"used\":3,\"capacity\":1024,\"refused\":0}"),
            "{s}"
        );
        assert!(s.contains("\"dropped\":{\"bridges\":0,"), "{s}");
        assert!(s.contains(",\"ami_truncated_packets\":5}}"), "{s}");
        assert!(
            s.contains(",\"auth_failures\":0,\"handshake_timeouts\":3,\"bad_frames\":4},"),
            "{s}"
        );
        assert!(s.ends_with("}}"));
    }

    #[test]
    fn disconnected_is_degraded() {
        let mut h = sample();
        h.ami.connected = false;
        h.ami.connected_for_s = None;
        assert!(!h.ok());
        let mut s = String::new();
        h.write_json(&mut s).unwrap();
        assert!(s.starts_with("{\"status\":\"degraded\""));
        assert!(s.contains("\"connected_for_s\":null"));
    }

    #[test]
    fn prometheus_lines_are_well_formed() {
        let mut s = String::new();
        sample().write_prometheus(&mut s).unwrap();
        assert!(s.contains("# TYPE ctibridge_up gauge\nctibridge_up 1\n"));
        assert!(s.contains("ctibridge_channels_capacity 1024\n"));
        assert!(s.contains("\nctibridge_ami_truncated_packets_total 5\n"));
        assert!(s.contains("\nctibridge_clients_handshake_timeouts_total 3\n"));
        assert!(s.contains("\nctibridge_clients_bad_frames_total 4\n"));
        for line in s.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.split_once(' ').unwrap();
            assert!(name.starts_with("ctibridge_"));
            value.parse::<u64>().unwrap();
        }
    }
}
