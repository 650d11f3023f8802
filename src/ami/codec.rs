//! Incremental, bounded decoder that cuts the AMI byte stream into packets.
//!
//! Two layers, in the httparse shape:
//! - [`parse`] is a pure function over a byte slice: it finds one packet at
//!   the front, records where its fields are in caller-owned storage and
//!   answers [`Status::Partial`] when more bytes are needed.
//! - [`Decoder`] owns one fixed buffer, feeds it to [`parse`], compacts it and
//!   skips packets that break a limit so the stream stays in sync.
//!
//! Neither allocates per packet or per field. Packets come out as borrowed
//! [`Packet`] views.

use super::message::{Packet, Span, SpanKind};
use crate::limits;
use core::fmt;

/// What a parse found at the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole packet: its value.
    Complete(T),
    /// More bytes are needed; nothing was consumed. Not an error.
    Partial,
}

/// Why a packet was skipped. The stream stays in sync in every case: the
/// decoder drops bytes up to the packet's blank line and goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    /// A line is longer than `max_line` bytes.
    LineTooLong,
    /// A packet has more than `max_fields` fields.
    TooManyFields,
    /// A packet does not fit in the read buffer.
    PacketTooLarge,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodecError::LineTooLong => "an AMI line is longer than the line limit (amiMaxLine)",
            CodecError::TooManyFields => {
                "an AMI packet has more fields than the field limit (amiMaxFields)"
            }
            CodecError::PacketTooLarge => {
                "an AMI packet is larger than the read buffer (amiBufferSize)"
            }
        })
    }
}

impl std::error::Error for CodecError {}

/// The limits one decoder enforces. Built from config; see `limits.rs` for
/// defaults and ceilings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Read buffer size in bytes; one packet must fit.
    pub buffer: usize,
    /// Longest line in bytes, without its line ending.
    pub max_line: usize,
    /// Most fields in one packet.
    pub max_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            buffer: limits::AMI_BUFFER_SIZE,
            max_line: limits::AMI_MAX_LINE,
            max_fields: limits::AMI_MAX_FIELDS,
        }
    }
}

/// Where one parsed packet lies in the buffer handed to [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// Bytes consumed from the front of the buffer, blank lines included.
    pub consumed: usize,
    /// Offset of the packet's first byte (leading blank lines are skipped).
    pub start: usize,
    /// Offset just past the packet's last line ending.
    pub end: usize,
    /// Number of spans written to the field storage.
    pub fields: usize,
    /// Lines in the packet that were neither `Key: Value` nor command output.
    pub malformed_lines: u32,
}

const BANNER: &[u8] = b"Asterisk Call Manager";
const END_COMMAND: &[u8] = b"--END COMMAND--";

/// Finds one packet at the front of `buf` and writes its fields into
/// `fields`, as offsets relative to `buf`.
///
/// A packet is a run of lines ended by an empty line (CRLF or bare LF; a line
/// of only spaces counts as empty). Blank lines before a packet are skipped.
/// A line starting `Asterisk Call Manager` at a packet start is a banner and a
/// packet of its own. Asterisk 11-13 `Response: Follows` packets run until the
/// line ending in `--END COMMAND--`; their output lines become `Output` fields
/// (a blank line before any output ends such a packet, as in recordings that
/// dropped the output).
/// A line without `:` elsewhere is counted in `malformed_lines` and skipped.
///
/// With `eof` set, the end of `buf` closes the last line and the packet, so a
/// recording whose last blank line is missing still yields its last packet.
///
/// # Errors
/// [`CodecError::LineTooLong`] and [`CodecError::TooManyFields`]; the caller
/// skips to the end of the packet ([`Decoder`] does).
pub fn parse(
    buf: &[u8],
    fields: &mut [Span],
    max_line: usize,
    eof: bool,
) -> Result<Status<Parsed>, CodecError> {
    let mut pos = 0;
    let mut start = None::<usize>;
    let mut n = 0;
    let mut malformed = 0u32;
    // Command output mode: 0 = off, 1 = inside output, 2 = marker seen.
    let mut follows = 0u8;
    let mut output_lines = 0usize;
    loop {
        let (line_end, next) = match memchr::memchr(b'\n', &buf[pos..]) {
            Some(i) => (pos + i, pos + i + 1),
            None if eof => (buf.len(), buf.len()),
            None => {
                if buf.len() - pos > max_line + 1 {
                    return Err(CodecError::LineTooLong);
                }
                return Ok(Status::Partial);
            }
        };
        let mut line = &buf[pos..line_end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.len() > max_line {
            return Err(CodecError::LineTooLong);
        }
        let line_start = pos;
        let blank = is_blank(line);
        let at_eof = next == buf.len() && eof;
        match start {
            None if blank => {
                pos = next;
                if at_eof {
                    return Ok(Status::Partial);
                }
                continue;
            }
            None => {
                start = Some(line_start);
                if line.starts_with(BANNER) {
                    let span = Span::special(SpanKind::Banner, line_start, line.len());
                    store(fields, &mut n, span)?;
                    return Ok(Status::Complete(Parsed {
                        consumed: next,
                        start: line_start,
                        end: next,
                        fields: n,
                        malformed_lines: 0,
                    }));
                }
            }
            Some(s) if blank && (follows != 1 || output_lines == 0) => {
                return Ok(Status::Complete(Parsed {
                    consumed: next,
                    start: s,
                    end: line_start,
                    fields: n,
                    malformed_lines: malformed,
                }));
            }
            Some(_) => {}
        }
        if follows == 1 && (n >= 3 || !is_follows_header(line)) {
            let (text, done) = match line.strip_suffix(END_COMMAND) {
                Some(t) => (t, true),
                None => (line, false),
            };
            if done {
                follows = 2;
            }
            if !(done && text.is_empty()) {
                output_lines += 1;
                store(
                    fields,
                    &mut n,
                    Span::special(SpanKind::Output, line_start, text.len()),
                )?;
            }
        } else if let Some(colon) = memchr::memchr(b':', line) {
            let key = &line[..colon];
            let mut v = colon + 1;
            while v < line.len() && (line[v] == b' ' || line[v] == b'\t') {
                v += 1;
            }
            let span = Span::field(line_start, key.len(), line_start + v, line.len() - v);
            store(fields, &mut n, span)?;
            if n == 1
                && key.eq_ignore_ascii_case(b"Response")
                && line[v..].eq_ignore_ascii_case(b"Follows")
            {
                follows = 1;
            }
        } else {
            malformed += 1;
        }
        pos = next;
        if at_eof {
            let s = start.unwrap_or(0);
            return Ok(Status::Complete(Parsed {
                consumed: next,
                start: s,
                end: next,
                fields: n,
                malformed_lines: malformed,
            }));
        }
    }
}

/// Headers that Asterisk puts before the output of a `Response: Follows`.
fn is_follows_header(line: &[u8]) -> bool {
    let key = match memchr::memchr(b':', line) {
        Some(c) => &line[..c],
        None => return false,
    };
    key.eq_ignore_ascii_case(b"Privilege") || key.eq_ignore_ascii_case(b"ActionID")
}

fn store(fields: &mut [Span], n: &mut usize, span: Span) -> Result<(), CodecError> {
    let slot = fields.get_mut(*n).ok_or(CodecError::TooManyFields)?;
    *slot = span;
    *n += 1;
    Ok(())
}

/// Counters a decoder keeps for /health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes handed to the decoder.
    pub bytes: u64,
    /// Packets decoded (banners included).
    pub packets: u64,
    /// Packets skipped because they broke a limit.
    pub skipped: u64,
    /// Lines skipped inside otherwise good packets (no `:`).
    pub malformed_lines: u64,
}

/// One item out of the decoder.
#[derive(Debug)]
pub enum Item<'a> {
    /// A decoded packet, borrowed from the decoder's buffer.
    Packet(Packet<'a>),
    /// A packet was skipped. `first_in_burst` is true for the first skip after
    /// a good packet: log that one, count them all.
    Skipped {
        /// Why the packet was skipped.
        error: CodecError,
        /// True for the first skip since the last good packet.
        first_in_burst: bool,
    },
}

/// An incremental AMI decoder over one fixed buffer, allocated once.
///
/// Feed it with [`Decoder::space`] + [`Decoder::filled`] (or
/// [`Decoder::feed`]), take packets with [`Decoder::next_item`] until it
/// answers `None`, and call [`Decoder::finish`] at end of stream. Memory use
/// is fixed at construction: `buffer` bytes plus `max_fields` spans.
pub struct Decoder {
    buf: Box<[u8]>,
    spans: Box<[Span]>,
    limits: Limits,
    /// First byte not yet consumed.
    head: usize,
    /// End of the bytes received.
    tail: usize,
    /// Dropping bytes until the end of a broken packet.
    skipping: bool,
    /// While skipping: the line being dropped is blank so far.
    partial_blank: bool,
    /// While skipping: a non-blank line of the broken packet was dropped.
    seen_content: bool,
    in_burst: bool,
    eof: bool,
    stats: Stats,
}

impl Decoder {
    /// Makes a decoder with its buffer and field storage.
    ///
    /// # Panics
    /// If `limits.buffer` is smaller than 16 bytes or `limits.max_fields` is 0
    /// (config validation rejects both first).
    pub fn new(limits: Limits) -> Decoder {
        assert!(
            limits.buffer >= 16 && limits.max_fields > 0,
            "codec limits too small"
        );
        Decoder {
            buf: vec![0; limits.buffer].into_boxed_slice(),
            spans: vec![Span::EMPTY; limits.max_fields].into_boxed_slice(),
            limits,
            head: 0,
            tail: 0,
            skipping: false,
            partial_blank: true,
            seen_content: false,
            in_burst: false,
            eof: false,
            stats: Stats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Forgets any partial packet and the end-of-stream mark, for a new
    /// connection. Counters are kept.
    pub fn reset(&mut self) {
        self.head = 0;
        self.tail = 0;
        self.skipping = false;
        self.partial_blank = true;
        self.seen_content = false;
        self.in_burst = false;
        self.eof = false;
    }

    /// Free space to read into, after moving unconsumed bytes to the front.
    /// Never empty: a full buffer without a whole packet is dropped as
    /// [`CodecError::PacketTooLarge`] by the next [`Decoder::next_item`], which
    /// must be drained before calling this again.
    pub fn space(&mut self) -> &mut [u8] {
        if self.head > 0 {
            self.buf.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
        if self.tail == self.buf.len() {
            // Only reachable when next_item was not drained; make room anyway.
            self.drop_pending(CodecError::PacketTooLarge);
        }
        &mut self.buf[self.tail..]
    }

    /// Marks `n` bytes of [`Decoder::space`] as received.
    ///
    /// # Panics
    /// If `n` is larger than the space last handed out.
    pub fn filled(&mut self, n: usize) {
        assert!(self.tail + n <= self.buf.len(), "filled past the buffer");
        self.tail += n;
        self.stats.bytes += n as u64;
    }

    /// Copies as much of `bytes` as fits and returns how many were taken.
    /// Call [`Decoder::next_item`] until `None` between calls.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let space = self.space();
        let n = space.len().min(bytes.len());
        space[..n].copy_from_slice(&bytes[..n]);
        self.filled(n);
        n
    }

    /// Marks the end of the stream: the bytes left form the last packet even
    /// without their blank line.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Bytes received and not yet part of a returned packet.
    pub fn pending(&self) -> usize {
        self.tail - self.head
    }

    /// The next packet or skip notice, or `None` when more bytes are needed.
    #[allow(clippy::should_implement_trait)]
    pub fn next_item(&mut self) -> Option<Item<'_>> {
        loop {
            if self.skipping {
                if !self.skip_to_packet_end() {
                    return None;
                }
                continue;
            }
            let data = &self.buf[self.head..self.tail];
            if data.is_empty() {
                return None;
            }
            match parse(data, &mut self.spans, self.limits.max_line, self.eof) {
                Ok(Status::Complete(p)) => {
                    let base = self.head;
                    self.head += p.consumed;
                    self.in_burst = false;
                    self.stats.packets += 1;
                    self.stats.malformed_lines += u64::from(p.malformed_lines);
                    let packet = Packet::new(
                        &self.buf[base + p.start..base + p.end],
                        &self.spans[..p.fields],
                        p.start,
                    );
                    return Some(Item::Packet(packet));
                }
                Ok(Status::Partial) => {
                    if self.eof {
                        // Only blank lines were left.
                        self.head = self.tail;
                        return None;
                    }
                    if self.head == 0 && self.tail == self.buf.len() {
                        return Some(self.drop_pending(CodecError::PacketTooLarge));
                    }
                    return None;
                }
                Err(e) => return Some(self.drop_pending(e)),
            }
        }
    }

    /// Starts skipping the packet at `head`; returns the notice for it.
    fn drop_pending(&mut self, error: CodecError) -> Item<'static> {
        self.skipping = true;
        self.partial_blank = true;
        self.seen_content = false;
        self.stats.skipped += 1;
        let first_in_burst = !self.in_burst;
        self.in_burst = true;
        Item::Skipped {
            error,
            first_in_burst,
        }
    }

    /// Drops bytes up to and including the blank line that ends the broken
    /// packet. Returns true when found (skipping ends), false when all
    /// received bytes were dropped and more are needed.
    fn skip_to_packet_end(&mut self) -> bool {
        while self.head < self.tail {
            let data = &self.buf[self.head..self.tail];
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    let blank = self.partial_blank && is_blank(&data[..i]);
                    self.head += i + 1;
                    self.partial_blank = true;
                    if !blank {
                        self.seen_content = true;
                    } else if self.seen_content {
                        self.skipping = false;
                        return true;
                    }
                }
                None => {
                    self.partial_blank &= is_blank(data);
                    self.head = self.tail;
                }
            }
        }
        if self.eof {
            self.skipping = false;
        }
        false
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r')
}

/// Decodes a whole stream held in memory (a recording): feeds it through a
/// [`Decoder`] with `limits`, marks its end, and hands every item to `f` in
/// order. Returns the decoder's counters, or the first error of `f`.
///
/// # Errors
/// Only what `f` returns.
pub fn decode_all<E>(
    input: &[u8],
    limits: Limits,
    mut f: impl FnMut(Item<'_>) -> Result<(), E>,
) -> Result<Stats, E> {
    let mut dec = Decoder::new(limits);
    let mut rest = input;
    loop {
        let took = dec.feed(rest);
        rest = &rest[took..];
        if rest.is_empty() {
            dec.finish();
        }
        while let Some(item) = dec.next_item() {
            f(item)?;
        }
        if rest.is_empty() {
            return Ok(dec.stats());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::message::Kind;

    fn spans() -> Vec<Span> {
        vec![Span::EMPTY; 32]
    }

    fn parse_one(input: &[u8]) -> (Parsed, Vec<(String, String)>) {
        let mut f = spans();
        match parse(input, &mut f, 1024, false).unwrap() {
            Status::Complete(p) => {
                let pk = Packet::new(&input[p.start..p.end], &f[..p.fields], p.start);
                let v = pk
                    .fields()
                    .map(|(k, v)| {
                        (
                            String::from_utf8_lossy(k).into_owned(),
                            String::from_utf8_lossy(v).into_owned(),
                        )
                    })
                    .collect();
                (p, v)
            }
            Status::Partial => panic!("partial"),
        }
    }

    fn collect(dec: &mut Decoder, out: &mut Vec<String>) {
        while let Some(item) = dec.next_item() {
            match item {
                Item::Packet(p) => out.push(format!("{p:?}")),
                Item::Skipped { error, .. } => out.push(format!("skip {error:?}")),
            }
        }
    }

    fn decode_all(input: &[u8], limits: Limits, chunk: usize) -> Vec<String> {
        let mut dec = Decoder::new(limits);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            let mut rest = piece;
            while !rest.is_empty() {
                let n = dec.feed(rest);
                rest = &rest[n..];
                collect(&mut dec, &mut out);
            }
        }
        dec.finish();
        collect(&mut dec, &mut out);
        out
    }

    #[test]
    fn crlf_packet_with_repeated_and_spaceless_keys() {
        let input =
            b"Event: Newchannel\r\nChanVariable: a=1\r\nchanvariable:b=2\r\nUniqueID: 1.2\r\n\r\n";
        let (p, f) = parse_one(input);
        assert_eq!(p.consumed, input.len());
        assert_eq!(f.len(), 4);
        assert_eq!(f[2], ("chanvariable".into(), "b=2".into()));
        let mut s = spans();
        let Status::Complete(p) = parse(input, &mut s, 1024, false).unwrap() else {
            panic!()
        };
        let pk = Packet::new(&input[p.start..p.end], &s[..p.fields], p.start);
        assert_eq!(pk.get("uniqueid"), Some("1.2"));
        assert_eq!(
            pk.get_all("ChanVariable").collect::<Vec<_>>(),
            vec!["a=1", "b=2"]
        );
        assert_eq!(pk.kind(), Kind::Event("Newchannel"));
    }

    #[test]
    fn value_keeps_colon_space() {
        let (_, f) = parse_one(b"Event: X\nMessage: a: b: c\n\n");
        assert_eq!(f[1].1, "a: b: c");
    }

    #[test]
    fn incomplete_packet_is_partial_and_consumes_nothing() {
        let mut f = spans();
        assert_eq!(
            parse(b"Event: X\r\nA: b\r\n", &mut f, 1024, false),
            Ok(Status::Partial)
        );
        assert_eq!(
            parse(b"Event: X\r\nA: b\r\n\r", &mut f, 1024, false),
            Ok(Status::Partial)
        );
    }

    #[test]
    fn bare_lf_inside_a_value_ends_the_line() {
        let input = b"Response: Success\r\nActionID: park-1\r\nMessage: Park successful\n\r\n\r\nEvent: Next\r\n\r\n";
        let out = decode_all(input, Limits::default(), 7);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[1].contains("Next"));
    }

    #[test]
    fn banner_is_a_packet_of_its_own() {
        let mut dec = Decoder::new(Limits::default());
        dec.feed(b"Asterisk Call Manager Proxy/1.1\r\nResponse: Success\r\n\r\n");
        match dec.next_item() {
            Some(Item::Packet(p)) => {
                assert_eq!(p.kind(), Kind::Banner("Asterisk Call Manager Proxy/1.1"))
            }
            other => panic!("{other:?}"),
        }
        match dec.next_item() {
            Some(Item::Packet(p)) => assert_eq!(p.kind(), Kind::Response("Success")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn command_follows_output_until_end_marker() {
        let input = b"Response: Follows\nPrivilege: Command\nActionID: 7\nline one: with colon\n\nline three--END COMMAND--\n\nEvent: After\n\n";
        let mut dec = Decoder::new(Limits::default());
        dec.feed(input);
        let Some(Item::Packet(p)) = dec.next_item() else {
            panic!()
        };
        assert_eq!(p.get("ActionID"), Some("7"));
        let out: Vec<_> = p.get_all("Output").collect();
        assert_eq!(out, vec!["line one: with colon", "", "line three"]);
        let Some(Item::Packet(p)) = dec.next_item() else {
            panic!()
        };
        assert_eq!(p.kind(), Kind::Event("After"));
    }

    #[test]
    fn event_wins_over_response() {
        let (_, _) = parse_one(b"Event: OriginateResponse\r\nResponse: Success\r\n\r\n");
        let input = b"Response: Success\r\nEvent: OriginateResponse\r\n\r\n";
        let mut dec = Decoder::new(Limits::default());
        dec.feed(input);
        let Some(Item::Packet(p)) = dec.next_item() else {
            panic!()
        };
        assert_eq!(p.kind(), Kind::Event("OriginateResponse"));
    }

    #[test]
    fn eof_closes_the_last_packet() {
        let out = decode_all(b"Event: A\nX: 1\n\nEvent: B\nY: 2", Limits::default(), 3);
        assert_eq!(out.len(), 2);
        assert!(out[1].contains("\"Y\""), "{out:?}");
    }

    #[test]
    fn long_line_is_skipped_and_sync_kept() {
        let limits = Limits {
            buffer: 256,
            max_line: 40,
            max_fields: 8,
        };
        let mut input = b"Event: A\r\n\r\nEvent: Big\r\nData: ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 1000));
        input.extend_from_slice(b"\r\nMore: y\r\n\r\nEvent: C\r\n\r\n");
        for chunk in [1, 5, 64, 2000] {
            let out = decode_all(&input, limits, chunk);
            assert_eq!(out.len(), 3, "chunk {chunk}: {out:?}");
            assert!(out[0].contains("\"A\""));
            assert!(out[1].starts_with("skip"));
            assert!(out[2].contains("\"C\""));
        }
    }

    #[test]
    fn too_many_fields_is_skipped_and_sync_kept() {
        let limits = Limits {
            buffer: 4096,
            max_line: 100,
            max_fields: 4,
        };
        let input = b"Event: A\n\nEvent: B\na: 1\nb: 2\nc: 3\nd: 4\ne: 5\n\nEvent: C\n\n";
        for chunk in 1..=input.len() {
            let out = decode_all(input, limits, chunk);
            assert_eq!(out.len(), 3, "chunk {chunk}: {out:?}");
            assert_eq!(out[1], "skip TooManyFields");
        }
    }

    #[test]
    fn packet_larger_than_buffer_is_skipped() {
        let limits = Limits {
            buffer: 64,
            max_line: 60,
            max_fields: 64,
        };
        let mut input = b"Event: A\n\nEvent: Huge\n".to_vec();
        for i in 0..20 {
            input.extend_from_slice(format!("K{i}: v\n").as_bytes());
        }
        input.extend_from_slice(b"\nEvent: C\n\n");
        let out = decode_all(&input, limits, 9);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[1], "skip PacketTooLarge");
        assert!(out[2].contains("\"C\""));
    }

    #[test]
    fn garbage_and_non_utf8_never_panic() {
        let input = b"\xff\xfe\x00garbage\r\n\x80: \xc3\x28\r\n\r\nEvent: Ok\r\n\r\n";
        let out = decode_all(input, Limits::default(), 1);
        assert_eq!(out.len(), 2);
        let mut dec = Decoder::new(Limits::default());
        dec.feed(b"Event: \xc3\x28bad\r\nName: ok\xff\r\n\r\n");
        let Some(Item::Packet(p)) = dec.next_item() else {
            panic!()
        };
        assert_eq!(p.get("Name"), Some("ok"));
        assert_eq!(p.kind(), Kind::Event(""));
    }

    #[test]
    fn whitespace_only_line_counts_as_blank() {
        let out = decode_all(
            b" \nAction: Ping\n\nResponse: Success\n\n",
            Limits::default(),
            4,
        );
        assert_eq!(out.len(), 2);
    }
}
