//! Channel names: which line a channel or queue interface belongs to, and
//! the halves of Local channel pairs.

/// `s` without `prefix`, compared ASCII-case-insensitively.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `s` without `suffix`, compared ASCII-case-insensitively.
fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

/// The line of a device channel: `PJSIP/1000-00000008` with protocol
/// `PJSIP/` is line `1000`; `SIP/9170-12-0000003c` with `SIP/` is
/// `9170-12` (the sequence is after the last `-`). Names without a sequence,
/// with a `/` or `@` in the peer part, or with masquerade marks (`<MASQ>`,
/// `<ZOMBIE>`) belong to no line.
pub fn line_of_channel<'a>(name: &'a str, protocol: &str) -> Option<&'a str> {
    if protocol.is_empty() {
        return None;
    }
    let rest = strip_prefix_ci(name, protocol)?;
    let dash = rest.rfind('-')?;
    let (line, seq) = (&rest[..dash], &rest[dash + 1..]);
    let bad = |c: char| matches!(c, '/' | '@' | '<' | '>' | ';');
    if line.is_empty() || seq.is_empty() || line.contains(bad) || seq.contains(bad) {
        return None;
    }
    Some(line)
}

/// A queue member interface split around its `{0}` (or `{line}`)
/// placeholder, from `queueExtensionFormat` (`Local/{0}@from-queue/n`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFormat {
    prefix: heapless::String<{ crate::config::QUEUE_FORMAT_MAX }>,
    suffix: heapless::String<{ crate::config::QUEUE_FORMAT_MAX }>,
    valid: bool,
}

impl QueueFormat {
    /// Parses a format; one without a placeholder matches nothing.
    pub fn parse(format: &str) -> QueueFormat {
        let (at, len) = match (format.find("{0}"), format.find("{line}")) {
            (Some(i), _) => (i, 3),
            (None, Some(i)) => (i, 6),
            (None, None) => return QueueFormat::default(),
        };
        QueueFormat {
            prefix: super::model::fixed(&format[..at]),
            suffix: super::model::fixed(&format[at + len..]),
            valid: true,
        }
    }

    /// The line in `interface`, if it has this format. A format ending in
    /// `/n` also matches the interface without it (`Local/1000@from-queue`).
    pub fn line_of<'a>(&self, interface: &'a str) -> Option<&'a str> {
        if !self.valid {
            return None;
        }
        let rest = strip_prefix_ci(interface, &self.prefix)?;
        let line = strip_suffix_ci(rest, &self.suffix).or_else(|| {
            let short = self.suffix.strip_suffix("/n")?;
            strip_suffix_ci(rest, short)
        })?;
        (!line.is_empty() && !line.contains(['/', '@', ';'])).then_some(line)
    }
}

/// The line of a queue member interface: `PJSIP/1002` (the protocol and a
/// bare endpoint) or one in `format` (`Local/1002@from-queue/n`).
pub fn line_of_interface<'a>(
    interface: &'a str,
    protocol: &str,
    format: &QueueFormat,
) -> Option<&'a str> {
    if let Some(rest) = strip_prefix_ci(interface, protocol) {
        if !rest.is_empty() && !rest.contains(['/', '@', ';', '-']) {
            return Some(rest);
        }
    }
    format.line_of(interface)
}

/// For a Local channel half (`Local/7006@from-queue-00120cc4;2`), which half
/// it is (1 or 2); 0 for any other channel.
pub fn local_half(name: &str) -> u8 {
    if strip_prefix_ci(name, "Local/").is_none() {
        return 0;
    }
    if name.ends_with(";1") {
        1
    } else if name.ends_with(";2") {
        2
    } else {
        0
    }
}

/// The extension a Local channel half was created for: `601` for
/// `Local/601@from-internal-00000000;1`; `None` for any other channel or an
/// empty extension.
pub fn local_exten(name: &str) -> Option<&str> {
    if local_half(name) == 0 {
        return None;
    }
    let rest = strip_prefix_ci(name, "Local/")?;
    let exten = rest.split('@').next()?;
    (!exten.is_empty() && exten.len() < rest.len()).then_some(exten)
}

/// The name of the other half of a Local channel, written into `out`.
/// Returns false when `name` is not a Local half.
pub fn other_half<const N: usize>(name: &str, out: &mut heapless::String<N>) -> bool {
    let other = match local_half(name) {
        1 => ";2",
        2 => ";1",
        _ => return false,
    };
    out.clear();
    out.push_str(&name[..name.len() - 2]).is_ok() && out.push_str(other).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_half_names_its_extension() {
        assert_eq!(
            local_exten("Local/601@from-internal-00000000;1"),
            Some("601")
        );
        assert_eq!(local_exten("Local/7006@from-queue-0001;2"), Some("7006"));
        assert_eq!(local_exten("PJSIP/601-00000001"), None);
        assert_eq!(local_exten("Local/@from-internal-0001;1"), None);
        assert_eq!(local_exten("Local/601;1"), None);
    }

    #[test]
    fn pjsip_device_channel_maps_to_its_line() {
        assert_eq!(
            line_of_channel("PJSIP/1000-00000008", "PJSIP/"),
            Some("1000")
        );
        assert_eq!(
            line_of_channel("pjsip/1000-0000000a", "PJSIP/"),
            Some("1000")
        );
    }

    #[test]
    fn sip_protocol_does_not_match_pjsip_channels() {
        assert_eq!(line_of_channel("PJSIP/1000-00000008", "SIP/"), None);
        assert_eq!(
            line_of_channel("SIP/9170-12-0000003c", "SIP/"),
            Some("9170-12")
        );
    }

    #[test]
    fn local_and_masquerade_names_belong_to_no_line() {
        assert_eq!(
            line_of_channel("Local/1000@from-queue-0001;1", "PJSIP/"),
            None
        );
        assert_eq!(line_of_channel("SIP/ddddd-00000000<MASQ>", "SIP/"), None);
        assert_eq!(line_of_channel("PJSIP/1000", "PJSIP/"), None);
        assert_eq!(line_of_channel("PJSIP/-0001", "PJSIP/"), None);
    }

    #[test]
    fn queue_interface_maps_through_the_format() {
        let f = QueueFormat::parse("Local/{0}@from-queue/n");
        assert_eq!(f.line_of("Local/1000@from-queue/n"), Some("1000"));
        assert_eq!(f.line_of("Local/9921-12@from-queue/n"), Some("9921-12"));
        assert_eq!(f.line_of("Local/1000@from-queue"), Some("1000"));
        assert_eq!(f.line_of("Local/1000@elsewhere/n"), None);
        let g = QueueFormat::parse("Local/{line}@agents");
        assert_eq!(g.line_of("Local/7@agents"), Some("7"));
        assert_eq!(QueueFormat::parse("no placeholder").line_of("x"), None);
    }

    #[test]
    fn static_member_interface_maps_through_the_protocol() {
        let f = QueueFormat::parse("Local/{0}@from-queue/n");
        assert_eq!(line_of_interface("PJSIP/1002", "PJSIP/", &f), Some("1002"));
        assert_eq!(line_of_interface("PJSIP/1002-0001", "PJSIP/", &f), None);
        assert_eq!(
            line_of_interface("Local/1006@from-queue/n", "PJSIP/", &f),
            Some("1006")
        );
    }

    #[test]
    fn local_halves_find_each_other() {
        let mut s: heapless::String<80> = heapless::String::new();
        assert!(other_half("Local/7006@from-queue-00120cc4;2", &mut s));
        assert_eq!(s.as_str(), "Local/7006@from-queue-00120cc4;1");
        assert_eq!(local_half("Local/x;1"), 1);
        assert_eq!(local_half("PJSIP/x;1"), 0);
        assert!(!other_half("PJSIP/1000-1", &mut s));
    }
}
