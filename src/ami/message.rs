//! Borrowed views of decoded AMI packets: fields, lookups and the packet kind.

/// What a span of a packet holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A `Key: Value` line.
    Field,
    /// One line of `Response: Follows` command output (Asterisk 11-13); seen
    /// as a field named `Output`, like the `Output:` lines of Asterisk 14+.
    Output,
    /// The `Asterisk Call Manager/x.y.z` banner line; seen as `Banner`.
    Banner,
}

/// Where one field lies, as byte offsets into the buffer that was parsed.
/// Written by the codec into caller-owned storage; 20 bytes, no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    kind: SpanKind,
    key_start: u32,
    key_len: u32,
    value_start: u32,
    value_len: u32,
}

impl Span {
    /// A placeholder for storage that has not been written yet.
    pub const EMPTY: Span = Span {
        kind: SpanKind::Field,
        key_start: 0,
        key_len: 0,
        value_start: 0,
        value_len: 0,
    };

    /// A `Key: Value` field.
    pub fn field(key_start: usize, key_len: usize, value_start: usize, value_len: usize) -> Span {
        Span {
            kind: SpanKind::Field,
            key_start: key_start as u32,
            key_len: key_len as u32,
            value_start: value_start as u32,
            value_len: value_len as u32,
        }
    }

    /// A keyless line (`Output` or `Banner`) whose whole text is the value.
    pub fn special(kind: SpanKind, start: usize, len: usize) -> Span {
        Span {
            kind,
            key_start: start as u32,
            key_len: 0,
            value_start: start as u32,
            value_len: len as u32,
        }
    }

    /// What this span holds.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }
}

/// What a packet is, decided by `Event:` first (an `OriginateResponse` event
/// also carries `Response:`), then `Response:`, then `Action:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// An event, with its name.
    Event(&'a str),
    /// A response to an action, with its status (`Success`, `Error`, ...).
    Response(&'a str),
    /// An action sent by a client (found in recordings, never from a server).
    Action(&'a str),
    /// The banner line, whole (`Asterisk Call Manager/11.0.0`).
    Banner(&'a str),
    /// None of the above (for example a damaged line in a capture).
    Other,
}

/// One decoded AMI packet, borrowed from the decoder's buffer.
///
/// Lookups compare keys ASCII-case-insensitively (`Uniqueid` = `UniqueID`)
/// and return the first match; values that are not UTF-8 are cut at the
/// first bad byte, so a lookup never fails on hostile bytes.
#[derive(Clone, Copy)]
pub struct Packet<'a> {
    data: &'a [u8],
    spans: &'a [Span],
    origin: usize,
}

impl<'a> Packet<'a> {
    /// A view of `data` (the packet's bytes) whose spans are offsets into a
    /// buffer where `data` starts at `origin`.
    ///
    /// # Panics
    /// On access, if a span points outside `data` (the codec never makes one).
    pub fn new(data: &'a [u8], spans: &'a [Span], origin: usize) -> Packet<'a> {
        Packet {
            data,
            spans,
            origin,
        }
    }

    /// The packet's bytes as received, without the closing blank line.
    pub fn raw(&self) -> &'a [u8] {
        self.data
    }

    /// Number of fields (output and banner lines included).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the packet has no field.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn key_of(&self, s: &Span) -> &'a [u8] {
        match s.kind {
            SpanKind::Field => {
                let a = s.key_start as usize - self.origin;
                &self.data[a..a + s.key_len as usize]
            }
            SpanKind::Output => b"Output",
            SpanKind::Banner => b"Banner",
        }
    }

    fn value_of(&self, s: &Span) -> &'a [u8] {
        let a = s.value_start as usize - self.origin;
        &self.data[a..a + s.value_len as usize]
    }

    /// Every field in order as `(key, value)` bytes, repeated keys included.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        self.spans
            .iter()
            .map(move |s| (self.key_of(s), self.value_of(s)))
    }

    /// The first value of `key` as raw bytes.
    pub fn get_bytes(&self, key: &str) -> Option<&'a [u8]> {
        let key = key.as_bytes();
        self.spans
            .iter()
            .find(|s| self.key_of(s).eq_ignore_ascii_case(key))
            .map(|s| self.value_of(s))
    }

    /// The first value of `key` as text (cut at the first non-UTF-8 byte).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.get_bytes(key).map(text)
    }

    /// Every value of a repeated `key` (`ChanVariable`, `Output`), in order.
    pub fn get_all<'k>(&'k self, key: &'k str) -> impl Iterator<Item = &'a str> + 'k {
        self.spans
            .iter()
            .filter(move |s| self.key_of(s).eq_ignore_ascii_case(key.as_bytes()))
            .map(move |s| text(self.value_of(s)))
    }

    /// What the packet is: event, response, client action, banner or other.
    pub fn kind(&self) -> Kind<'a> {
        if let Some(first) = self.spans.first() {
            if first.kind == SpanKind::Banner {
                return Kind::Banner(text(self.value_of(first)));
            }
        }
        if let Some(v) = self.get("Event") {
            Kind::Event(v)
        } else if let Some(v) = self.get("Response") {
            Kind::Response(v)
        } else if let Some(v) = self.get("Action") {
            Kind::Action(v)
        } else {
            Kind::Other
        }
    }

    /// The event name, if this packet is an event.
    pub fn event(&self) -> Option<&'a str> {
        match self.kind() {
            Kind::Event(name) => Some(name),
            _ => None,
        }
    }
}

impl core::fmt::Debug for Packet<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut m = f.debug_list();
        for (k, v) in self.fields() {
            m.entry(&(text(k), text(v)));
        }
        m.finish()
    }
}

/// Bytes as text, cut at the first byte that is not valid UTF-8.
pub fn text(bytes: &[u8]) -> &str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cuts_at_first_bad_byte() {
        assert_eq!(text(b"ab\xffcd"), "ab");
        assert_eq!(text(b"\xc3\xa9t\xc3"), "\u{e9}t");
    }

    #[test]
    fn client_action_is_recognised_whatever_the_key_order() {
        let data = b"Actionid: 1\r\nReason: <nil>\r\nAction: QueuePause\r\n";
        let spans = [
            Span::field(0, 8, 10, 1),
            Span::field(13, 6, 21, 5),
            Span::field(28, 6, 36, 10),
        ];
        let p = Packet::new(data, &spans, 0);
        assert_eq!(p.kind(), Kind::Action("QueuePause"));
        assert_eq!(p.get("ACTIONID"), Some("1"));
    }
}
