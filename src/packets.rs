//! `ctibridge replay --packets`: a recording's AMI packets as JSON lines, for
//! support cases and for checking the codec on a customer's capture.

use crate::ami::codec::decode_all;
use crate::ami::{Item, Kind, Limits, Packet};
use crate::json;
use std::io::{self, Write};

/// Writes one JSON object per packet of `input` to `out`:
/// `{"kind":"event","fields":[["Event","Newchannel"],...]}`, fields in order,
/// repeated keys kept, bytes that are not UTF-8 replaced by U+FFFD. Client
/// `Action:` packets are included with kind `action`. Skipped packets are
/// reported on `warn`. Returns the number of packets written.
///
/// # Errors
/// Only the errors of `out` and `warn`.
pub fn write_packets(
    input: &[u8],
    limits: Limits,
    out: &mut impl Write,
    warn: &mut impl Write,
) -> io::Result<u64> {
    let mut line = String::new();
    let mut count = 0;
    decode_all(input, limits, |item| {
        match item {
            Item::Packet(p) => {
                line.clear();
                render(&p, &mut line);
                out.write_all(line.as_bytes())?;
                count += 1;
            }
            Item::Skipped { error, .. } => writeln!(warn, "warning: packet skipped: {error}")?,
        }
        Ok::<(), io::Error>(())
    })?;
    Ok(count)
}

fn render(p: &Packet<'_>, line: &mut String) {
    let kind = match p.kind() {
        Kind::Event(_) => "event",
        Kind::Response(_) => "response",
        Kind::Action(_) => "action",
        Kind::Banner(_) => "banner",
        Kind::Other => "other",
    };
    line.push_str("{\"kind\":\"");
    line.push_str(kind);
    line.push_str("\",\"fields\":[");
    for (i, (k, v)) in p.fields().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push('[');
        // Writing into a String cannot fail.
        let _ = json::write_str(line, &String::from_utf8_lossy(k));
        line.push(',');
        let _ = json::write_str(line, &String::from_utf8_lossy(v));
        line.push(']');
    }
    line.push_str("]}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_become_json_lines_in_order() {
        let input = b"Asterisk Call Manager/11.0.0\r\nAction: Ping\r\n\r\nEvent: X\r\nK: \"q\"\xff\r\nK: 2\r\n\r\nResponse: Success";
        let mut out = Vec::new();
        let mut warn = Vec::new();
        let n = write_packets(input, Limits::default(), &mut out, &mut warn).unwrap();
        assert_eq!(n, 4);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"kind":"banner","fields":[["Banner","Asterisk Call Manager/11.0.0"]]}"#
        );
        assert_eq!(
            lines[1],
            r#"{"kind":"action","fields":[["Action","Ping"]]}"#
        );
        assert_eq!(
            lines[2],
            r#"{"kind":"event","fields":[["Event","X"],["K","\"q\"�"],["K","2"]]}"#
        );
        assert_eq!(
            lines[3],
            r#"{"kind":"response","fields":[["Response","Success"]]}"#
        );
        assert!(warn.is_empty());
    }

    #[test]
    fn skipped_packets_are_warned_about() {
        let limits = Limits {
            buffer: 1024,
            max_line: 100,
            max_fields: 2,
        };
        let mut out = Vec::new();
        let mut warn = Vec::new();
        let n = write_packets(
            b"Event: A\nB: 1\nC: 2\n\nEvent: D\n\n",
            limits,
            &mut out,
            &mut warn,
        )
        .unwrap();
        assert_eq!(n, 1);
        assert!(String::from_utf8(warn)
            .unwrap()
            .contains("more fields than the field limit"));
    }
}
