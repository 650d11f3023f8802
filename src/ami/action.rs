//! AMI actions we send: a checked writer, the owned reply, and the errors a
//! caller of the session can get.
//!
//! An [`Action`] is built from typed fields and checked as it is built: a key
//! or value with CR, LF or NUL, or a line longer than Asterisk accepts, is
//! refused with an [`InvalidAction`] before anything reaches the socket, so no
//! value coming from a panel or a CRM can inject a second action. The session
//! adds `Action:` and a unique `ActionID:` when it writes the action.

use super::codec;
use super::message::{Packet, Span};
use crate::limits;
use core::fmt;
use core::time::Duration;

/// Why an action was refused before it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidAction {
    /// A key or value contains CR, LF or NUL (it would start a new line).
    ControlCharacter,
    /// A `Key: Value` line is longer than Asterisk's 1022-byte limit.
    LineTooLong,
    /// A key or action name is empty, too long, or has a `:`, a space or a
    /// non-printable byte.
    BadKey,
    /// `Action` and `ActionID` are written by the session, not by callers.
    ReservedKey,
    /// More fields than [`limits::AMI_ACTION_MAX_FIELDS`].
    TooManyFields,
}

impl fmt::Display for InvalidAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidAction::ControlCharacter => {
                "an AMI action value contains a line break or NUL byte and was not sent"
            }
            InvalidAction::LineTooLong => {
                "an AMI action line is longer than the 1022 bytes Asterisk accepts and was not sent"
            }
            InvalidAction::BadKey => "an AMI action has an empty or malformed field name",
            InvalidAction::ReservedKey => {
                "Action and ActionID are set by the session, not by the caller"
            }
            InvalidAction::TooManyFields => "an AMI action has too many fields",
        })
    }
}

impl std::error::Error for InvalidAction {}

/// A message from Asterisk or the system, cut to a bounded length.
pub type ErrorText = Box<str>;

/// Copies `s`, cut at a character boundary to at most `max` bytes.
pub(crate) fn error_text(s: &str, max: usize) -> ErrorText {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].into()
}

/// Why [`SessionHandle::send`](super::SessionHandle::send) gave no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The session is not logged in to Asterisk (connecting, reconnecting,
    /// replaying a recording, or shut down); nothing was sent.
    NotConnected,
    /// The connection was lost after the action was sent; Asterisk may or
    /// may not have carried it out.
    ConnectionLost,
    /// No answer within the action's timeout; Asterisk may still carry it out.
    Timeout,
    /// Asterisk answered `Response: Error`, with its message.
    Refused {
        /// Asterisk's `Message:` (cut to [`limits::AMI_ERROR_MESSAGE_MAX`]
        /// bytes).
        message: ErrorText,
    },
    /// The action was refused before sending (CR/LF/NUL, line too long, ...).
    Invalid(InvalidAction),
    /// Too many actions are waiting for an answer, or the write queue is
    /// full; nothing was sent.
    TooManyPending,
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::NotConnected => f.write_str("not connected to the Asterisk manager"),
            ActionError::ConnectionLost => f.write_str(
                "the connection to the Asterisk manager was lost before the answer came",
            ),
            ActionError::Timeout => f.write_str("Asterisk did not answer in time"),
            ActionError::Refused { message } => write!(f, "Asterisk refused: {message}"),
            ActionError::Invalid(e) => e.fmt(f),
            ActionError::TooManyPending => {
                f.write_str("too many actions are waiting for Asterisk; try again")
            }
        }
    }
}

impl std::error::Error for ActionError {}

impl From<InvalidAction> for ActionError {
    fn from(e: InvalidAction) -> Self {
        ActionError::Invalid(e)
    }
}

/// What answer an action waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// One `Response:` packet (a response that opens a list is collected as
    /// a list).
    Response,
    /// A `Response:` that opens a list, then the list's events until the one
    /// that ends it.
    List,
    /// A `Response: Success`, then the named event carrying the same
    /// `ActionID` (`OriginateResponse` for an `Async: true` Originate).
    ResponseThenEvent(&'static str),
}

/// Keys whose values are never printed (Debug) or logged.
const SECRET_KEYS: [&str; 2] = ["Secret", "Key"];

/// One AMI action, checked field by field as it is built.
///
/// ```
/// use ctibridge::ami::Action;
/// let a = Action::new("Hangup")?.field("Channel", "PJSIP/1002-0000001b")?;
/// assert!(Action::new("Hangup")?.field("Channel", "x\r\nAction: Originate").is_err());
/// # Ok::<(), ctibridge::ami::InvalidAction>(())
/// ```
#[derive(Clone)]
pub struct Action {
    name: heapless::String<64>,
    /// The `Key: Value\r\n` lines after `Action:` and `ActionID:`.
    body: Vec<u8>,
    fields: usize,
    expect: Expect,
    extra_wait: Duration,
}

impl Action {
    /// An action with no fields yet.
    ///
    /// # Errors
    /// [`InvalidAction::BadKey`] for an empty or malformed name.
    pub fn new(name: &str) -> Result<Action, InvalidAction> {
        check_key(name)?;
        let mut n = heapless::String::new();
        n.push_str(name).map_err(|_| InvalidAction::BadKey)?;
        Ok(Action {
            name: n,
            body: Vec::new(),
            fields: 0,
            expect: Expect::Response,
            extra_wait: Duration::ZERO,
        })
    }

    /// Adds `key: value` (builder form).
    ///
    /// # Errors
    /// Any [`InvalidAction`]; the action is dropped.
    pub fn field(mut self, key: &str, value: &str) -> Result<Action, InvalidAction> {
        self.push(key, value)?;
        Ok(self)
    }

    /// Adds `key: value`. A key may repeat (`Variable`).
    ///
    /// # Errors
    /// [`InvalidAction`] when the key or value is not acceptable; the action
    /// is left as it was.
    pub fn push(&mut self, key: &str, value: &str) -> Result<(), InvalidAction> {
        check_key(key)?;
        if key.eq_ignore_ascii_case("Action") || key.eq_ignore_ascii_case("ActionID") {
            return Err(InvalidAction::ReservedKey);
        }
        check_value(value)?;
        if key.len() + 2 + value.len() > limits::AMI_ACTION_MAX_LINE {
            return Err(InvalidAction::LineTooLong);
        }
        if self.fields >= limits::AMI_ACTION_MAX_FIELDS {
            return Err(InvalidAction::TooManyFields);
        }
        self.body.extend_from_slice(key.as_bytes());
        self.body.extend_from_slice(b": ");
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self.fields += 1;
        Ok(())
    }

    /// The action's name (`Originate`, `Ping`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What answer the session waits for.
    pub fn expect(&self) -> Expect {
        self.expect
    }

    /// Waits for a list (`EventList: start` ... `Complete`) whatever the
    /// response says.
    pub fn expecting_list(mut self) -> Action {
        self.expect = Expect::List;
        self
    }

    /// Time added to the session's action timeout for this action (an
    /// Originate waits for the phone to answer).
    pub fn extra_wait(&self) -> Duration {
        self.extra_wait
    }

    /// Adds `extra` to the session's action timeout for this action.
    pub fn with_extra_wait(mut self, extra: Duration) -> Action {
        self.extra_wait = extra;
        self
    }

    /// Bytes this action takes on the wire with an ActionID of `id_len` bytes.
    pub fn wire_len(&self, id_len: usize) -> usize {
        "Action: \r\nActionID: \r\n\r\n".len() + self.name.len() + id_len + self.body.len()
    }

    /// Appends the action as sent: `Action:`, `ActionID:`, the fields and
    /// the blank line.
    ///
    /// # Errors
    /// [`InvalidAction`] if `action_id` has a control character or is too
    /// long (the session's own ids never do).
    pub fn encode(&self, action_id: &str, out: &mut Vec<u8>) -> Result<(), InvalidAction> {
        check_value(action_id)?;
        if action_id.len() + "ActionID: ".len() > limits::AMI_ACTION_MAX_LINE {
            return Err(InvalidAction::LineTooLong);
        }
        out.reserve(self.wire_len(action_id.len()));
        out.extend_from_slice(b"Action: ");
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(b"\r\nActionID: ");
        out.extend_from_slice(action_id.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    fn fixed(name: &str) -> Action {
        Action::new(name).expect("built-in action names are valid")
    }

    /// `Ping`: Asterisk answers `Response: Success` with `Ping: Pong`.
    pub fn ping() -> Action {
        Action::fixed("Ping")
    }

    /// `Logoff`: Asterisk answers `Response: Goodbye` and closes.
    pub fn logoff() -> Action {
        Action::fixed("Logoff")
    }

    /// `CoreShowChannels`: a list of `CoreShowChannel` events, one per channel,
    /// ended by `CoreShowChannelsComplete`.
    pub fn core_show_channels() -> Action {
        Action::fixed("CoreShowChannels").expecting_list()
    }

    /// `QueueStatus` for one queue or all: `QueueParams`, `QueueMember` and
    /// `QueueEntry` events, ended by `QueueStatusComplete`.
    ///
    /// # Errors
    /// [`InvalidAction`] for a bad queue name.
    pub fn queue_status(queue: Option<&str>) -> Result<Action, InvalidAction> {
        let mut a = Action::fixed("QueueStatus").expecting_list();
        if let Some(q) = queue {
            a.push("Queue", q)?;
        }
        Ok(a)
    }

    /// `Challenge` with `AuthType: MD5`.
    pub(crate) fn challenge_md5() -> Action {
        let mut a = Action::fixed("Challenge");
        a.push("AuthType", "MD5").expect("constant field");
        a
    }

    /// `Login` with the MD5 key computed from the challenge, and events on.
    pub(crate) fn login_md5(user: &str, key: &str) -> Result<Action, InvalidAction> {
        Action::new("Login")?
            .field("AuthType", "MD5")?
            .field("Username", user)?
            .field("Key", key)?
            .field("Events", "on")
    }

    /// `Login` with the secret in clear, and events on.
    pub(crate) fn login_plain(user: &str, secret: &str) -> Result<Action, InvalidAction> {
        Action::new("Login")?
            .field("Username", user)?
            .field("Secret", secret)?
            .field("Events", "on")
    }

    /// `Hangup` of one channel, with an optional Q.850 cause.
    ///
    /// # Errors
    /// [`InvalidAction`] for a bad channel name.
    pub fn hangup(channel: &str, cause: Option<u8>) -> Result<Action, InvalidAction> {
        let mut a = Action::new("Hangup")?.field("Channel", channel)?;
        if let Some(c) = cause {
            a.push("Cause", &c.to_string())?;
        }
        Ok(a)
    }

    /// `Originate`, always with `Async: true`, waiting for the
    /// `OriginateResponse` event that tells whether the first leg answered.
    ///
    /// (With `Async: false` Asterisk holds the whole manager session until
    /// the phone answers or the timeout passes: no events and no keepalive
    /// answers on this connection meanwhile. So the session never does that.)
    ///
    /// # Errors
    /// [`InvalidAction`] for a bad field.
    pub fn originate(o: &Originate<'_>) -> Result<Action, InvalidAction> {
        let mut a = Action::new("Originate")?
            .field("Channel", o.channel)?
            .field("Context", o.context)?
            .field("Exten", o.exten)?
            .field("Priority", &o.priority.to_string())?
            .field("Timeout", &o.timeout.as_millis().to_string())?;
        if let Some(cid) = o.caller_id {
            a.push("CallerID", cid)?;
        }
        if let Some(id) = o.channel_id {
            a.push("ChannelId", id)?;
        }
        if let Some(acc) = o.account {
            a.push("Account", acc)?;
        }
        for (k, v) in o.variables {
            if k.contains('=') {
                return Err(InvalidAction::BadKey);
            }
            let mut s = String::with_capacity(k.len() + 1 + v.len());
            s.push_str(k);
            s.push('=');
            s.push_str(v);
            a.push("Variable", &s)?;
        }
        a.push("Async", "true")?;
        a.expect = Expect::ResponseThenEvent("OriginateResponse");
        a.extra_wait = o.timeout;
        Ok(a)
    }

    /// `Redirect` of a channel to `context,exten,priority`.
    ///
    /// # Errors
    /// [`InvalidAction`] for a bad field.
    pub fn redirect(
        channel: &str,
        context: &str,
        exten: &str,
        priority: u32,
    ) -> Result<Action, InvalidAction> {
        Action::new("Redirect")?
            .field("Channel", channel)?
            .field("Context", context)?
            .field("Exten", exten)?
            .field("Priority", &priority.to_string())
    }

    /// `BlindTransfer` of a channel's peer to `exten` (in `context`, or the
    /// channel's own context).
    ///
    /// # Errors
    /// [`InvalidAction`] for a bad field.
    pub fn blind_transfer(
        channel: &str,
        context: Option<&str>,
        exten: &str,
    ) -> Result<Action, InvalidAction> {
        let mut a = Action::new("BlindTransfer")?.field("Channel", channel)?;
        if let Some(c) = context {
            a.push("Context", c)?;
        }
        a.field("Exten", exten)
    }

    /// `Atxfer`: starts an attended transfer from `channel` to `exten`.
    ///
    /// # Errors
    /// [`InvalidAction`] for a bad field.
    pub fn atxfer(
        channel: &str,
        context: Option<&str>,
        exten: &str,
    ) -> Result<Action, InvalidAction> {
        let mut a = Action::new("Atxfer")?.field("Channel", channel)?;
        if let Some(c) = context {
            a.push("Context", c)?;
        }
        a.field("Exten", exten)
    }

    /// `Park` of a channel, in `parkinglot` or the default one.
    ///
    /// # Errors
    /// [`InvalidAction`] for a bad field.
    pub fn park(
        channel: &str,
        parkinglot: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Action, InvalidAction> {
        let mut a = Action::new("Park")?.field("Channel", channel)?;
        if let Some(t) = timeout {
            a.push("Timeout", &t.as_millis().to_string())?;
        }
        if let Some(p) = parkinglot {
            a.push("Parkinglot", p)?;
        }
        Ok(a)
    }

    /// `QueuePause` of a member interface, in one queue or all.
    ///
    /// # Errors
    /// [`InvalidAction`] for a bad field.
    pub fn queue_pause(
        interface: &str,
        paused: bool,
        queue: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Action, InvalidAction> {
        let mut a = Action::new("QueuePause")?
            .field("Interface", interface)?
            .field("Paused", if paused { "true" } else { "false" })?;
        if let Some(q) = queue {
            a.push("Queue", q)?;
        }
        if let Some(r) = reason {
            a.push("Reason", r)?;
        }
        Ok(a)
    }
}

impl fmt::Debug for Action {
    /// Prints the action with the values of `Secret` and `Key` masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        l.entry(&("Action", self.name.as_str()));
        for line in self.body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let text = super::message::text(line);
            let (k, v) = text.split_once(": ").unwrap_or((text, ""));
            if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                l.entry(&(k, "***"));
            } else {
                l.entry(&(k, v));
            }
        }
        l.finish()
    }
}

/// The fields of an Originate (see [`Action::originate`]).
#[derive(Debug, Clone, Copy)]
pub struct Originate<'a> {
    /// The channel to call first, e.g. `PJSIP/1000`.
    pub channel: &'a str,
    /// Dialplan context for the second leg.
    pub context: &'a str,
    /// Extension to dial once the first leg answers.
    pub exten: &'a str,
    /// Dialplan priority, usually 1.
    pub priority: u32,
    /// How long the first leg may ring.
    pub timeout: Duration,
    /// Caller ID shown on the first leg, e.g. `"Alice" <1000>`.
    pub caller_id: Option<&'a str>,
    /// Uniqueid to give the first channel (Asterisk 13+), so the call id is
    /// known before the first event.
    pub channel_id: Option<&'a str>,
    /// CDR account code.
    pub account: Option<&'a str>,
    /// Channel variables, as `(name, value)`.
    pub variables: &'a [(&'a str, &'a str)],
}

fn check_key(key: &str) -> Result<(), InvalidAction> {
    if key.is_empty() || key.len() > 64 {
        return Err(InvalidAction::BadKey);
    }
    if key.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(InvalidAction::ControlCharacter);
    }
    if key
        .bytes()
        .any(|b| !(0x21..=0x7e).contains(&b) || b == b':')
    {
        return Err(InvalidAction::BadKey);
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), InvalidAction> {
    if memchr::memchr3(b'\r', b'\n', 0, value.as_bytes()).is_some() {
        return Err(InvalidAction::ControlCharacter);
    }
    Ok(())
}

/// Copies `s` into a bounded string, cut at a character boundary.
pub(crate) fn bounded<const N: usize>(s: &str) -> heapless::String<N> {
    let mut end = s.len().min(N);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = heapless::String::new();
    // Cannot fail: `end <= N`.
    let _ = out.push_str(&s[..end]);
    out
}

/// A decoded packet copied out of the decoder's buffer, to keep after the
/// reader has moved on. Its size is bounded by the codec's limits.
#[derive(Clone)]
pub struct OwnedPacket {
    data: Box<[u8]>,
    spans: Box<[Span]>,
}

impl OwnedPacket {
    /// Copies `p`.
    pub fn new(p: &Packet<'_>) -> OwnedPacket {
        let data: Box<[u8]> = p.raw().into();
        let mut spans = vec![Span::EMPTY; p.len().max(1)];
        let n = match codec::parse(&data, &mut spans, data.len(), true) {
            Ok(codec::Status::Complete(parsed)) if parsed.start == 0 => parsed.fields,
            _ => 0,
        };
        spans.truncate(n);
        OwnedPacket {
            data,
            spans: spans.into_boxed_slice(),
        }
    }

    /// The packet, to read with `get`, `fields`, `kind`.
    pub fn packet(&self) -> Packet<'_> {
        Packet::new(&self.data, &self.spans, 0)
    }

    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.packet().get(key)
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.data.len() + self.spans.len() * core::mem::size_of::<Span>()
    }
}

impl fmt::Debug for OwnedPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.packet().fmt(f)
    }
}

/// Asterisk's answer to one action, owned and bounded.
#[derive(Debug, Clone)]
pub struct Reply {
    pub(crate) response: OwnedPacket,
    pub(crate) event: Option<OwnedPacket>,
    pub(crate) items: Vec<OwnedPacket>,
    pub(crate) items_dropped: u32,
}

impl Reply {
    /// The `Response:` packet.
    pub fn response(&self) -> Packet<'_> {
        self.response.packet()
    }

    /// The response status: `Success`, `Goodbye`, `Follows`.
    pub fn status(&self) -> &str {
        self.response.get("Response").unwrap_or("")
    }

    /// The response's `Message:`, if any.
    pub fn message(&self) -> Option<&str> {
        self.response.get("Message")
    }

    /// A field of the response (`Ping`, `Challenge`, ...).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.response.get(key)
    }

    /// The event that completed the action, for an Originate its
    /// `OriginateResponse` (`Response: Success|Failure`, `Reason`, `Uniqueid`,
    /// `Channel`).
    pub fn event(&self) -> Option<Packet<'_>> {
        self.event.as_ref().map(OwnedPacket::packet)
    }

    /// The items of a list action, in order, without the closing event.
    pub fn items(&self) -> impl Iterator<Item = Packet<'_>> + '_ {
        self.items.iter().map(OwnedPacket::packet)
    }

    /// Number of list items kept.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// List items dropped at [`limits::AMI_MAX_LIST_ITEMS`] or
    /// [`limits::AMI_MAX_LIST_BYTES`].
    pub fn items_dropped(&self) -> u32 {
        self.items_dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(a: &Action, id: &str) -> String {
        let mut v = Vec::new();
        a.encode(id, &mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn encodes_action_id_second_and_a_closing_blank_line() {
        let a = Action::hangup("PJSIP/1002-0000001b", Some(16)).unwrap();
        assert_eq!(
            wire(&a, "ctib-1"),
            "Action: Hangup\r\nActionID: ctib-1\r\nChannel: PJSIP/1002-0000001b\r\nCause: 16\r\n\r\n"
        );
    }

    #[test]
    fn cr_lf_nul_in_a_value_are_refused() {
        for bad in ["a\rb", "a\nb", "a\0b", "x\r\nAction: Originate", "\n"] {
            let e = Action::new("Hangup").unwrap().field("Channel", bad);
            assert_eq!(e.err(), Some(InvalidAction::ControlCharacter), "{bad:?}");
        }
    }

    #[test]
    fn control_characters_in_a_key_are_refused() {
        assert_eq!(
            Action::new("Hangup").unwrap().field("Chan\nnel", "x").err(),
            Some(InvalidAction::ControlCharacter)
        );
        assert_eq!(
            Action::new("Ping\r").err(),
            Some(InvalidAction::ControlCharacter)
        );
        assert_eq!(Action::new("").err(), Some(InvalidAction::BadKey));
        assert_eq!(
            Action::new("Hangup").unwrap().field("Chan nel", "x").err(),
            Some(InvalidAction::BadKey)
        );
        assert_eq!(
            Action::new("Hangup").unwrap().field("a:b", "x").err(),
            Some(InvalidAction::BadKey)
        );
    }

    #[test]
    fn the_session_keeps_action_and_action_id_for_itself() {
        let a = Action::new("Ping").unwrap();
        assert_eq!(
            a.clone().field("actionid", "x").err(),
            Some(InvalidAction::ReservedKey)
        );
        assert_eq!(
            a.field("ACTION", "Logoff").err(),
            Some(InvalidAction::ReservedKey)
        );
    }

    #[test]
    fn a_line_of_1022_bytes_passes_and_1023_is_refused() {
        let ok = "v".repeat(1022 - "Channel: ".len());
        assert!(Action::new("Hangup").unwrap().field("Channel", &ok).is_ok());
        let long = "v".repeat(1023 - "Channel: ".len());
        assert_eq!(
            Action::new("Hangup").unwrap().field("Channel", &long).err(),
            Some(InvalidAction::LineTooLong)
        );
    }

    #[test]
    fn field_count_is_bounded() {
        let mut a = Action::new("UserEvent").unwrap();
        for i in 0..limits::AMI_ACTION_MAX_FIELDS {
            a.push("Variable", &format!("v{i}=1")).unwrap();
        }
        assert_eq!(a.push("Variable", "x=1"), Err(InvalidAction::TooManyFields));
    }

    #[test]
    fn refused_field_leaves_the_action_unchanged() {
        let mut a = Action::new("Hangup").unwrap();
        a.push("Channel", "ok").unwrap();
        assert!(a.push("Cause", "1\n").is_err());
        assert_eq!(
            wire(&a, "1"),
            "Action: Hangup\r\nActionID: 1\r\nChannel: ok\r\n\r\n"
        );
    }

    #[test]
    fn debug_masks_secret_and_key() {
        let a = Action::login_plain("bridge", "topsecret").unwrap();
        let d = format!("{a:?}");
        assert!(!d.contains("topsecret"), "{d}");
        assert!(d.contains("bridge"));
        let a = Action::login_md5("bridge", "0123abcd").unwrap();
        assert!(!format!("{a:?}").contains("0123abcd"));
    }

    #[test]
    fn originate_is_async_and_waits_for_originate_response() {
        let o = Originate {
            channel: "PJSIP/1000",
            context: "from-internal",
            exten: "1002",
            priority: 1,
            timeout: Duration::from_secs(30),
            caller_id: Some("\"Alice 1000\" <1000>"),
            channel_id: None,
            account: None,
            variables: &[("CTI", "1")],
        };
        let a = Action::originate(&o).unwrap();
        assert_eq!(a.expect(), Expect::ResponseThenEvent("OriginateResponse"));
        assert_eq!(a.extra_wait(), Duration::from_secs(30));
        let w = wire(&a, "x");
        assert!(w.contains("Async: true\r\n"));
        assert!(w.contains("Timeout: 30000\r\n"));
        assert!(w.contains("Variable: CTI=1\r\n"));
        let bad = Originate {
            variables: &[("A=B", "1")],
            ..o
        };
        assert_eq!(Action::originate(&bad).err(), Some(InvalidAction::BadKey));
    }

    #[test]
    fn owned_packet_reads_like_the_original() {
        let mut dec = codec::Decoder::new(codec::Limits::default());
        dec.feed(b"Response: Success\r\nActionID: a-1\r\nPing: Pong\r\nTimestamp: 1.5\r\n\r\n");
        let Some(codec::Item::Packet(p)) = dec.next_item() else {
            panic!()
        };
        let o = OwnedPacket::new(&p);
        assert_eq!(o.get("ping"), Some("Pong"));
        assert_eq!(o.get("ActionID"), Some("a-1"));
        assert_eq!(o.packet().len(), 4);
    }

    #[test]
    fn bounded_cuts_on_a_char_boundary() {
        let s: heapless::String<4> = bounded("ab\u{e9}cd");
        assert_eq!(s.as_str(), "ab\u{e9}");
        let s: heapless::String<3> = bounded("ab\u{e9}cd");
        assert_eq!(s.as_str(), "ab");
    }
}
