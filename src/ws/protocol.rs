//! The client protocol's frames: commands parsed and validated, results written.
//!
//! Pure: text in, typed values or error results out; no socket, no clock.
//! Everything that reaches [`Command`] has been checked here: numbers match
//! `[0-9*#+]{1,32}`, call ids are Asterisk `Uniqueid`-shaped, free texts carry
//! no control characters (so nothing a client sends can add a line to an AMI
//! action). Whether a call belongs to the user's line is checked by the
//! connection, which knows the user; dial patterns by the backend.

use crate::json;
use crate::limits::{
    WS_MAX_CALL_ID, WS_MAX_COMMAND, WS_MAX_ID, WS_MAX_NUMBER, WS_MAX_TEXT, WS_MAX_TOKEN,
};
use core::fmt::{self, Write};
use serde::Deserialize;

/// The client-chosen `id` of a command, echoed in its result.
///
/// A string of at most [`WS_MAX_ID`] bytes or an integer; `null` when the
/// command had none (allowed: the result then carries `"id":null`) or when
/// the frame was too broken to find it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Id {
    /// No id, or none could be read.
    #[default]
    Null,
    /// An integer id.
    Int(i64),
    /// A string id (unescaped).
    Text(heapless::String<WS_MAX_ID>),
}

impl Id {
    /// Writes the id as a JSON value.
    pub fn write_json(&self, out: &mut impl Write) -> fmt::Result {
        match self {
            Id::Null => out.write_str("null"),
            Id::Int(n) => write!(out, "{n}"),
            Id::Text(s) => json::write_str(out, s),
        }
    }
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $cap:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(heapless::String<{ $cap }>);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl core::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// A number to dial: `[0-9*#+]{1,32}`.
    Number,
    WS_MAX_NUMBER
);
text_type!(
    /// A call id (the `Uniqueid` of the line's channel): `[A-Za-z0-9._-]{1,64}`.
    CallId,
    WS_MAX_CALL_ID
);
text_type!(
    /// A free text (queue pause reason, queue name): at most 64 bytes, no
    /// control characters.
    Text,
    WS_MAX_TEXT
);
text_type!(
    /// An access token as the client sent it (unescaped), at most 128 bytes.
    Token,
    WS_MAX_TOKEN
);

impl Number {
    /// Checks a number: 1 to 32 characters among `0-9 * # +`.
    pub fn parse(s: &str) -> Result<Number, CommandError> {
        let ok = !s.is_empty()
            && s.len() <= WS_MAX_NUMBER
            && s.bytes().all(|b| b.is_ascii_digit() || b"*#+".contains(&b));
        match heapless::String::try_from(s) {
            Ok(n) if ok => Ok(Number(n)),
            _ => Err(CommandError::new(
                ErrorCode::InvalidNumber,
                format!(
                    "'{}' is not a number to dial: use 1 to {WS_MAX_NUMBER} characters among 0-9 * # +",
                    clip(s)
                ),
            )),
        }
    }
}

impl CallId {
    /// Checks a call id: 1 to 64 characters among `A-Z a-z 0-9 . _ -`.
    pub fn parse(s: &str) -> Result<CallId, CommandError> {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        match heapless::String::try_from(s) {
            Ok(c) if ok => Ok(CallId(c)),
            _ => Err(CommandError::new(
                ErrorCode::InvalidValue,
                format!(
                    "'{}' is not a call id: use the call id of an event (1 to {WS_MAX_CALL_ID} characters among A-Z a-z 0-9 . _ -)",
                    clip(s)
                ),
            )),
        }
    }
}

impl Text {
    /// Checks a free text: at most 64 bytes, no control characters.
    pub fn parse(field: &str, s: &str) -> Result<Text, CommandError> {
        let bad = |why: &str| {
            CommandError::new(
                ErrorCode::InvalidValue,
                format!("'{field}' {why}: use at most {WS_MAX_TEXT} bytes of text without control characters"),
            )
        };
        if s.chars().any(char::is_control) {
            return Err(bad("contains a control character (a line break?)"));
        }
        heapless::String::try_from(s)
            .map(Text)
            .map_err(|_| bad("is too long"))
    }
}

impl Token {
    /// Wraps a token (any text up to 128 bytes).
    pub fn parse(s: &str) -> Option<Token> {
        heapless::String::try_from(s).ok().map(Token)
    }
}

/// A validated command that acts on the PBX, handed to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `call`: originate from the user's line to `number`.
    Call {
        /// The number to dial.
        number: Number,
    },
    /// `hangup`: hang up the line's channel of `call`.
    Hangup {
        /// The call.
        call: CallId,
    },
    /// `hold`: park the other party of `call`.
    Hold {
        /// The call.
        call: CallId,
    },
    /// `unhold`: bring the parked party of `call` back to the line.
    Unhold {
        /// The call.
        call: CallId,
    },
    /// `transfer`: blind transfer of the other party of `call` to `number`.
    Transfer {
        /// The call.
        call: CallId,
        /// Where to.
        number: Number,
    },
    /// `attended_transfer`: consult `number`, then transfer `call` to it.
    AttendedTransfer {
        /// The call.
        call: CallId,
        /// Where to.
        number: Number,
    },
    /// `answer`: make the phone answer the ringing `call`.
    Answer {
        /// The call.
        call: CallId,
    },
    /// `queue_pause`: pause or unpause the line in its queues.
    QueuePause {
        /// Pause (true) or unpause (false).
        paused: bool,
        /// Why (may be empty).
        reason: Text,
        /// Only this queue, or all of the line's queues when `None`.
        queue: Option<Text>,
    },
}

impl Command {
    /// The op name the client used.
    pub fn op(&self) -> &'static str {
        match self {
            Command::Call { .. } => "call",
            Command::Hangup { .. } => "hangup",
            Command::Hold { .. } => "hold",
            Command::Unhold { .. } => "unhold",
            Command::Transfer { .. } => "transfer",
            Command::AttendedTransfer { .. } => "attended_transfer",
            Command::Answer { .. } => "answer",
            Command::QueuePause { .. } => "queue_pause",
        }
    }

    /// The call the command acts on, if it names one.
    pub fn call(&self) -> Option<&CallId> {
        match self {
            Command::Hangup { call }
            | Command::Hold { call }
            | Command::Unhold { call }
            | Command::Transfer { call, .. }
            | Command::AttendedTransfer { call, .. }
            | Command::Answer { call } => Some(call),
            Command::Call { .. } | Command::QueuePause { .. } => None,
        }
    }
}

/// Everything a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `auth` (`token`): sign in.
    Auth {
        /// The token, or `None` when it is longer than any token can be.
        token: Option<Token>,
    },
    /// `debug` (`on`): receive `Raw` events or stop.
    Debug {
        /// On or off.
        on: bool,
    },
    /// `ping`: answered with an ok result.
    Ping,
    /// A command for the PBX.
    Command(Command),
}

/// The `code` of an error result. Clients branch on it; the `error` sentence
/// is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The frame is not a JSON object, a field has the wrong type, or the id
    /// is neither a short string nor an integer.
    BadJson,
    /// `op` names no command.
    UnknownOp,
    /// A required field is absent.
    MissingField,
    /// A number to dial is malformed or not allowed by the dial patterns.
    InvalidNumber,
    /// Another field's value is malformed (call id, reason, queue, a binary frame).
    InvalidValue,
    /// The frame is longer than a command can be.
    TooLarge,
    /// A command came before a successful `auth`.
    NotAuthenticated,
    /// The token matches no user (the connection closes).
    BadToken,
    /// The call is not a call of the user's line.
    Forbidden,
    /// Something the command needs does not exist (no peer to park, nothing parked).
    NotFound,
    /// The command cannot be done here (phone without remote answer, second `auth`).
    Unsupported,
    /// Too many commands (originate rate, commands in progress) or failed sign-ins.
    RateLimited,
    /// Asterisk refused the action; the sentence carries its message.
    AmiError,
    /// Asterisk did not answer in time.
    Timeout,
    /// The bridge is not logged in to Asterisk right now.
    NotConnected,
    /// The action ran but did not succeed (an originated call not answered).
    Failed,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidNumber => "invalid_number",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NotAuthenticated => "not_authenticated",
            ErrorCode::BadToken => "bad_token",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::AmiError => "ami_error",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NotConnected => "not_connected",
            ErrorCode::Failed => "failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a command was not carried out: a code for programs, a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// The wire code.
    pub code: ErrorCode,
    /// One sentence saying what went wrong and, where it helps, what to do.
    pub message: String,
}

impl CommandError {
    /// An error with its code and sentence.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CommandError {
        CommandError {
            code,
            message: message.into(),
        }
    }

    fn missing(field: &str, op: &str) -> CommandError {
        CommandError::new(
            ErrorCode::MissingField,
            format!("'{op}' needs the field '{field}'"),
        )
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// A frame read: its id (as far as it could be read) and the request or why
/// it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The id to answer with.
    pub id: Id,
    /// The request, or the error to answer with.
    pub request: Result<Request, CommandError>,
}

/// The fields any command may carry, borrowed raw (still JSON-escaped).
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    op: Option<&'a str>,
    #[serde(borrow)]
    token: Option<&'a str>,
    #[serde(borrow)]
    number: Option<&'a str>,
    #[serde(borrow)]
    call: Option<&'a str>,
    #[serde(borrow)]
    reason: Option<&'a str>,
    #[serde(borrow)]
    queue: Option<&'a str>,
    paused: Option<bool>,
    on: Option<bool>,
}

#[derive(Deserialize)]
struct IdText<'a> {
    #[serde(borrow)]
    id: Option<&'a str>,
}

#[derive(Deserialize)]
struct IdInt {
    id: Option<i64>,
}

/// The ops a client may use, for error sentences.
pub const OPS: &str = "auth, call, hangup, hold, unhold, transfer, attended_transfer, answer, queue_pause, debug, ping";

/// Reads the id of a frame: `Some(id)` when it is absent, null, a string of
/// at most 64 bytes or an integer; `None` when it is something else or the
/// frame cannot be read at all.
fn read_id(frame: &[u8]) -> Option<Id> {
    if let Ok((IdText { id }, _)) = serde_json_core::from_slice::<IdText>(frame) {
        return match id {
            None => Some(Id::Null),
            Some(raw) => unescape::<WS_MAX_ID>(raw).ok().map(Id::Text),
        };
    }
    if let Ok((IdInt { id }, _)) = serde_json_core::from_slice::<IdInt>(frame) {
        return Some(id.map_or(Id::Null, Id::Int));
    }
    None
}

/// Parses and validates one text frame from a client.
///
/// Never panics, whatever the input. Frames longer than [`WS_MAX_COMMAND`]
/// get `too_large` without being parsed.
pub fn parse(frame: &str) -> Parsed {
    if frame.len() > WS_MAX_COMMAND {
        return Parsed {
            id: Id::Null,
            request: Err(CommandError::new(
                ErrorCode::TooLarge,
                format!(
                    "the frame has {} bytes; a command has at most {WS_MAX_COMMAND}",
                    frame.len()
                ),
            )),
        };
    }
    let bytes = frame.as_bytes();
    let fields = serde_json_core::from_slice::<Fields>(bytes);
    let id = read_id(bytes);
    let request = match (fields, &id) {
        (Err(e), _) => Err(json_error(e)),
        (Ok(_), None) => Err(CommandError::new(
            ErrorCode::BadJson,
            format!("'id' must be a string of at most {WS_MAX_ID} bytes or an integer"),
        )),
        (Ok((f, _)), Some(_)) => request(&f),
    };
    Parsed {
        id: id.unwrap_or_default(),
        request,
    }
}

fn json_error(e: serde_json_core::de::Error) -> CommandError {
    use serde_json_core::de::Error as E;
    let message = match e {
        E::InvalidType => "a field has the wrong type: op, token, number, call, reason and queue are strings; paused and on are true or false".to_string(),
        E::InvalidEscapeSequence => "a string holds an invalid escape sequence".to_string(),
        _ => format!("the frame is not a JSON object ({e})"),
    };
    CommandError::new(ErrorCode::BadJson, message)
}

fn request(f: &Fields<'_>) -> Result<Request, CommandError> {
    let op = f.op.ok_or_else(|| {
        CommandError::new(
            ErrorCode::MissingField,
            format!("a command needs the field 'op' (one of {OPS})"),
        )
    })?;
    let text = |name: &str, raw: Option<&str>| -> Result<String, CommandError> {
        let raw = raw.ok_or_else(|| CommandError::missing(name, op))?;
        // Long enough for any valid field; longer ones fail validation anyway.
        unescape::<{ WS_MAX_COMMAND }>(raw)
            .map(|s| s.as_str().to_owned())
            .map_err(|e| e.error(name))
    };
    let number = || Number::parse(&text("number", f.number)?);
    let call = || CallId::parse(&text("call", f.call)?);
    let command = match op {
        "auth" => {
            let raw = f.token.ok_or_else(|| CommandError::missing("token", op))?;
            let token = match unescape::<WS_MAX_TOKEN>(raw) {
                Ok(t) => Some(Token(t)),
                Err(Unescape::TooLong) => None,
                Err(e) => return Err(e.error("token")),
            };
            return Ok(Request::Auth { token });
        }
        "debug" => {
            let on = f.on.ok_or_else(|| CommandError::missing("on", op))?;
            return Ok(Request::Debug { on });
        }
        "ping" => return Ok(Request::Ping),
        "call" => Command::Call { number: number()? },
        "hangup" => Command::Hangup { call: call()? },
        "hold" => Command::Hold { call: call()? },
        "unhold" => Command::Unhold { call: call()? },
        "answer" => Command::Answer { call: call()? },
        "transfer" => Command::Transfer {
            call: call()?,
            number: number()?,
        },
        "attended_transfer" => Command::AttendedTransfer {
            call: call()?,
            number: number()?,
        },
        "queue_pause" => {
            let paused = f
                .paused
                .ok_or_else(|| CommandError::missing("paused", op))?;
            let reason = Text::parse("reason", &text("reason", f.reason)?)?;
            let queue = match f.queue {
                None => None,
                Some(_) => {
                    Some(Text::parse("queue", &text("queue", f.queue)?)?).filter(|q| !q.is_empty())
                }
            };
            Command::QueuePause {
                paused,
                reason,
                queue,
            }
        }
        other => {
            return Err(CommandError::new(
                ErrorCode::UnknownOp,
                format!("unknown op '{}'; the ops are {OPS}", clip(other)),
            ))
        }
    };
    Ok(Request::Command(command))
}

/// Why a JSON string could not be unescaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unescape {
    /// Longer than the room for it.
    TooLong,
    /// A malformed `\` sequence or a lone surrogate.
    BadEscape,
}

impl Unescape {
    fn error(self, field: &str) -> CommandError {
        match self {
            Unescape::TooLong => {
                CommandError::new(ErrorCode::InvalidValue, format!("'{field}' is too long"))
            }
            Unescape::BadEscape => CommandError::new(
                ErrorCode::BadJson,
                format!("'{field}' holds an invalid escape sequence"),
            ),
        }
    }
}

/// Unescapes the raw content of a JSON string (between its quotes), surrogate
/// pairs included, into at most `N` bytes.
fn unescape<const N: usize>(raw: &str) -> Result<heapless::String<N>, Unescape> {
    fn hex4(s: &str) -> Option<u32> {
        let h = s.get(..4)?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    }
    let mut out = heapless::String::<N>::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let plain = rest.find('\\').unwrap_or(rest.len());
        out.push_str(&rest[..plain])
            .map_err(|_| Unescape::TooLong)?;
        rest = &rest[plain..];
        let Some(esc) = rest.strip_prefix('\\') else {
            break;
        };
        let mut chars = esc.chars();
        let c = match chars.next().ok_or(Unescape::BadEscape)? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = hex4(&esc[1..]).ok_or(Unescape::BadEscape)?;
                let mut used = 5;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    let lo = esc[5..]
                        .strip_prefix("\\u")
                        .and_then(hex4)
                        .filter(|lo| (0xDC00..0xE000).contains(lo))
                        .ok_or(Unescape::BadEscape)?;
                    used = 11;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let c = char::from_u32(code).ok_or(Unescape::BadEscape)?;
                out.push(c).map_err(|_| Unescape::TooLong)?;
                rest = &esc[used..];
                continue;
            }
            _ => return Err(Unescape::BadEscape),
        };
        out.push(c).map_err(|_| Unescape::TooLong)?;
        rest = chars.as_str();
    }
    Ok(out)
}

/// At most 32 characters of `s`, for quoting client input in a sentence.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The ok result of a command: `{"op":"result","id":ID,"ok":true}`, with
/// `extra` string fields appended (`line` after `auth`, `call` after `call`).
pub fn ok_frame(id: &Id, extra: &[(&str, &str)]) -> String {
    let mut s = String::with_capacity(48);
    // Writing into a String cannot fail.
    let _ = write_ok(&mut s, id, extra);
    s
}

fn write_ok(s: &mut String, id: &Id, extra: &[(&str, &str)]) -> fmt::Result {
    s.push_str("{\"op\":\"result\",\"id\":");
    id.write_json(s)?;
    s.push_str(",\"ok\":true");
    for (k, v) in extra {
        s.push(',');
        json::write_str(s, k)?;
        s.push(':');
        json::write_str(s, v)?;
    }
    s.push('}');
    Ok(())
}

/// The error result of a command:
/// `{"op":"result","id":ID,"ok":false,"code":CODE,"error":SENTENCE}`.
pub fn error_frame(id: &Id, err: &CommandError) -> String {
    let mut s = String::with_capacity(96 + err.message.len());
    // Writing into a String cannot fail.
    let _ = write_error(&mut s, id, err);
    s
}

fn write_error(s: &mut String, id: &Id, err: &CommandError) -> fmt::Result {
    s.push_str("{\"op\":\"result\",\"id\":");
    id.write_json(s)?;
    s.push_str(",\"ok\":false,\"code\":\"");
    s.push_str(err.code.as_str());
    s.push_str("\",\"error\":");
    json::write_str(s, &err.message)?;
    s.push('}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(frame: &str) -> Request {
        let p = parse(frame);
        p.request.unwrap_or_else(|e| panic!("{frame} refused: {e}"))
    }

    fn code(frame: &str) -> ErrorCode {
        match parse(frame).request {
            Ok(r) => panic!("{frame} accepted as {r:?}"),
            Err(e) => e.code,
        }
    }

    fn text<T: core::ops::Deref<Target = str>>(t: &T) -> &str {
        t
    }

    #[test]
    fn every_op_parses_into_its_command() {
        assert_eq!(
            req(r#"{"op":"call","id":"1","number":"+33*12#"}"#),
            Request::Command(Command::Call {
                number: Number::parse("+33*12#").unwrap()
            })
        );
        let call = CallId::parse("1712345678.42").unwrap();
        for (op, want) in [
            ("hangup", Command::Hangup { call: call.clone() }),
            ("hold", Command::Hold { call: call.clone() }),
            ("unhold", Command::Unhold { call: call.clone() }),
            ("answer", Command::Answer { call: call.clone() }),
        ] {
            let f = format!(r#"{{"op":"{op}","id":7,"call":"1712345678.42"}}"#);
            assert_eq!(req(&f), Request::Command(want));
        }
        let f = r#"{"op":"transfer","id":"t","call":"1712345678.42","number":"1002"}"#;
        assert_eq!(
            req(f),
            Request::Command(Command::Transfer {
                call: call.clone(),
                number: Number::parse("1002").unwrap()
            })
        );
        let f = r#"{"number":"1002","call":"1712345678.42","op":"attended_transfer"}"#;
        assert_eq!(
            req(f),
            Request::Command(Command::AttendedTransfer {
                call,
                number: Number::parse("1002").unwrap()
            })
        );
        assert_eq!(req(r#"{"op":"ping","id":1}"#), Request::Ping);
        assert_eq!(
            req(r#"{"op":"debug","id":1,"on":true}"#),
            Request::Debug { on: true }
        );
        assert_eq!(
            req(r#"{"op":"auth","token":"s3cret"}"#),
            Request::Auth {
                token: Token::parse("s3cret")
            }
        );
    }

    #[test]
    fn queue_pause_takes_reason_and_optional_queue() {
        let Request::Command(Command::QueuePause {
            paused,
            reason,
            queue,
        }) = req(
            r#"{"op":"queue_pause","id":1,"paused":true,"reason":"Déjeuner \u00e0 midi \ud83c\udf55"}"#,
        )
        else {
            panic!("not a queue_pause")
        };
        assert!(paused);
        assert_eq!(text(&reason), "Déjeuner à midi 🍕");
        assert_eq!(queue, None);
        let Request::Command(Command::QueuePause { queue, .. }) =
            req(r#"{"op":"queue_pause","paused":false,"reason":"","queue":"support"}"#)
        else {
            panic!("not a queue_pause")
        };
        assert_eq!(queue.as_deref(), Some("support"));
        assert_eq!(
            code(r#"{"op":"queue_pause","reason":"x"}"#),
            ErrorCode::MissingField
        );
        assert_eq!(
            code(r#"{"op":"queue_pause","paused":true}"#),
            ErrorCode::MissingField
        );
    }

    #[test]
    fn ids_are_echoed_as_given() {
        assert_eq!(
            parse(r#"{"op":"ping","id":"a\"b"}"#).id,
            Id::Text("a\"b".try_into().unwrap())
        );
        assert_eq!(parse(r#"{"op":"ping","id":-12}"#).id, Id::Int(-12));
        assert_eq!(parse(r#"{"op":"ping"}"#).id, Id::Null);
        assert_eq!(parse(r#"{"op":"ping","id":null}"#).id, Id::Null);
        // The id is found even when another field is broken.
        let p = parse(r#"{"op":"call","id":"9","number":1000}"#);
        assert_eq!(p.id, Id::Text("9".try_into().unwrap()));
        assert_eq!(p.request.unwrap_err().code, ErrorCode::BadJson);
    }

    #[test]
    fn an_id_of_another_kind_is_refused() {
        for f in [
            r#"{"op":"ping","id":1.5}"#,
            r#"{"op":"ping","id":true}"#,
            r#"{"op":"ping","id":{"a":1}}"#,
            r#"{"op":"ping","id":[1]}"#,
            r#"{"op":"ping","id":99999999999999999999}"#,
        ] {
            let p = parse(f);
            assert_eq!(p.id, Id::Null, "{f}");
            assert_eq!(p.request.unwrap_err().code, ErrorCode::BadJson, "{f}");
        }
        let long = format!(r#"{{"op":"ping","id":"{}"}}"#, "x".repeat(WS_MAX_ID + 1));
        assert_eq!(code(&long), ErrorCode::BadJson);
    }

    #[test]
    fn broken_frames_get_bad_json() {
        for f in [
            "",
            "{",
            "not json",
            "[1,2]",
            "\"ping\"",
            r#"{"op":"ping",}"#,
            r#"{"op":"ping"} trailing"#,
            r#"{"op":ping}"#,
            r#"{"op":"call","number":"1\x"}"#,
            r#"{"op":"debug","on":"yes"}"#,
        ] {
            assert_eq!(code(f), ErrorCode::BadJson, "{f}");
        }
    }

    #[test]
    fn unknown_and_missing_ops_are_named() {
        let p = parse(r#"{"op":"dance","id":"3"}"#);
        let e = p.request.unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownOp);
        assert!(e.message.contains("'dance'"), "{}", e.message);
        assert_eq!(p.id, Id::Text("3".try_into().unwrap()));
        assert_eq!(code(r#"{"id":"3"}"#), ErrorCode::MissingField);
    }

    #[test]
    fn missing_fields_name_the_field() {
        for (f, field) in [
            (r#"{"op":"call"}"#, "number"),
            (r#"{"op":"hangup"}"#, "call"),
            (r#"{"op":"transfer","call":"1.2"}"#, "number"),
            (r#"{"op":"attended_transfer","number":"12"}"#, "call"),
            (r#"{"op":"auth"}"#, "token"),
            (r#"{"op":"debug"}"#, "on"),
        ] {
            let e = parse(f).request.unwrap_err();
            assert_eq!(e.code, ErrorCode::MissingField, "{f}");
            assert!(
                e.message.contains(&format!("'{field}'")),
                "{f}: {}",
                e.message
            );
        }
    }

    #[test]
    fn numbers_outside_the_dial_alphabet_are_refused() {
        for n in [
            "",
            "12a",
            "1000\\r\\nAction: Hangup",
            "1 2",
            "١٢٣",
            &"1".repeat(WS_MAX_NUMBER + 1),
        ] {
            let f = format!(r#"{{"op":"call","id":1,"number":"{n}"}}"#);
            assert_eq!(code(&f), ErrorCode::InvalidNumber, "{n}");
        }
        assert!(Number::parse(&"9".repeat(WS_MAX_NUMBER)).is_ok());
    }

    #[test]
    fn injection_through_any_text_field_is_refused() {
        for f in [
            r#"{"op":"hangup","call":"1.2\r\nAction: Originate"}"#,
            r#"{"op":"hangup","call":"1.2 x"}"#,
            r#"{"op":"queue_pause","paused":true,"reason":"lunch\r\nAction: Logoff"}"#,
            r#"{"op":"queue_pause","paused":true,"reason":"x","queue":"q\nActionID: 1"}"#,
            r#"{"op":"queue_pause","paused":true,"reason":"nul\u0000"}"#,
        ] {
            assert_eq!(code(f), ErrorCode::InvalidValue, "{f}");
        }
    }

    #[test]
    fn oversized_frames_get_too_large_without_parsing() {
        let f = format!(
            r#"{{"op":"ping","id":1,"pad":"{}"}}"#,
            "x".repeat(WS_MAX_COMMAND)
        );
        assert_eq!(code(&f), ErrorCode::TooLarge);
    }

    #[test]
    fn an_overlong_token_is_a_bad_token_not_bad_json() {
        let f = format!(
            r#"{{"op":"auth","token":"{}"}}"#,
            "t".repeat(WS_MAX_TOKEN + 1)
        );
        assert_eq!(req(&f), Request::Auth { token: None });
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert_eq!(
            req(r#"{"op":"ping","id":1,"extra":{"deep":[1,{"x":null}]},"n":-3.5e2}"#),
            Request::Ping
        );
    }

    #[test]
    fn results_are_json_with_the_id_echoed() {
        let id = Id::Text("q\"1".try_into().unwrap());
        assert_eq!(
            ok_frame(&id, &[]),
            r#"{"op":"result","id":"q\"1","ok":true}"#
        );
        assert_eq!(
            ok_frame(&Id::Int(4), &[("line", "1000")]),
            r#"{"op":"result","id":4,"ok":true,"line":"1000"}"#
        );
        let e = CommandError::new(ErrorCode::Forbidden, "call \"x\" is not yours");
        assert_eq!(
            error_frame(&Id::Null, &e),
            r#"{"op":"result","id":null,"ok":false,"code":"forbidden","error":"call \"x\" is not yours"}"#
        );
    }

    #[test]
    fn unescape_handles_every_escape() {
        assert_eq!(
            unescape::<64>(r#"a\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00z"#)
                .unwrap()
                .as_str(),
            "a\"\\/\u{8}\u{c}\n\r\tAé😀z"
        );
        for bad in [
            r"\",
            r"\x",
            r"\u12",
            r"\ud83d",
            r"\ud83d\u0041",
            r"\udc00",
            r"\u+123",
        ] {
            assert_eq!(unescape::<64>(bad), Err(Unescape::BadEscape), "{bad}");
        }
        assert_eq!(unescape::<2>("abc"), Err(Unescape::TooLong));
    }

    #[test]
    fn parse_never_panics_on_any_prefix() {
        let f = r#"{"op":"queue_pause","id":"\ud83d\ude00","paused":true,"reason":"\u00e9","queue":"q"}"#;
        for end in 0..=f.len() {
            if let Some(prefix) = f.get(..end) {
                let _ = parse(prefix);
            }
        }
    }
}
