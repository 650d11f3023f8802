//! Each command as the AMI action it becomes, and Asterisk's answer as the
//! command's result.
//!
//! Pure: strings in, [`Action`]s and [`CommandError`]s out. Every value has
//! already been checked by `ws::protocol` (numbers, call ids, texts) or comes
//! from the config or the tracker; [`Action`] refuses CR, LF and NUL once
//! more, so nothing here can add a line to an action.

use crate::ami::{Action, ActionError, InvalidAction, Originate, Reply};
use crate::config::Protocol;
use crate::limits::{HOLD_PARK_TIMEOUT_S, ORIGINATE_RING_TIMEOUT_S};
use crate::ws::{CommandError, ErrorCode};
use core::time::Duration;

/// The `CallerID` of a user's own line: `"Alice" <1000>`. Quotes, angle
/// brackets and backslashes are left out of the name (they would break
/// Asterisk's parsing of the value).
pub fn caller_id(name: &str, line: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !matches!(c, '"' | '<' | '>' | '\\') && !c.is_control())
        .collect();
    format!("\"{}\" <{line}>", clean.trim())
}

/// The device a line is called on: `PJSIP/1000`.
pub fn device(protocol: Protocol, line: &str) -> String {
    format!("{}{line}", protocol.prefix())
}

/// What an Originate from a user's line needs.
#[derive(Debug, Clone, Copy)]
pub struct FromLine<'a> {
    /// The phones' channel driver.
    pub protocol: Protocol,
    /// The user's line.
    pub line: &'a str,
    /// The user's name, for the caller id.
    pub name: &'a str,
    /// The preset Uniqueid of the line's channel.
    pub channel_id: &'a str,
}

/// `call`: Originate from the line's phone to `number` in `context`.
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn call(from: &FromLine<'_>, context: &str, number: &str) -> Result<Action, InvalidAction> {
    let channel = device(from.protocol, from.line);
    let cid = caller_id(from.name, from.line);
    Action::originate(&Originate {
        channel: &channel,
        context,
        exten: number,
        priority: 1,
        timeout: Duration::from_secs(ORIGINATE_RING_TIMEOUT_S),
        caller_id: Some(&cid),
        channel_id: Some(from.channel_id),
        account: None,
        variables: &[],
    })
}

/// `unhold`: Originate from the line's phone into the parking `space` of
/// `parking_context`, which retrieves the parked party.
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn unhold(
    from: &FromLine<'_>,
    parking_context: &str,
    space: &str,
) -> Result<Action, InvalidAction> {
    call(from, parking_context, space)
}

/// `hangup`: Hangup of the line's channel (Asterisk's default cause, 16).
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn hangup(channel: &str) -> Result<Action, InvalidAction> {
    Action::hangup(channel, None)
}

/// `hold`: Park of the line's peer, for [`HOLD_PARK_TIMEOUT_S`], with the
/// line's channel as `Channel2`: Asterisk 12+ reads it as the
/// `TimeoutChannel` (the parker, whom the parked party comes back to at the
/// timeout, and whose bridge it is taken from); Asterisk 11 requires it as
/// the channel the parking space is announced to. The default parking lot
/// is used: its context is `parkingLotContext`.
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn hold(peer: &str, line_channel: &str) -> Result<Action, InvalidAction> {
    Action::park(peer, None, Some(Duration::from_secs(HOLD_PARK_TIMEOUT_S)))?
        .field("Channel2", line_channel)
}

/// `transfer`: BlindTransfer of the line's channel's party to `number`.
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn blind_transfer(
    line_channel: &str,
    context: &str,
    number: &str,
) -> Result<Action, InvalidAction> {
    Action::blind_transfer(line_channel, Some(context), number)
}

/// `transfer` where BlindTransfer is missing (Asterisk 11): Redirect of the
/// peer to `number`; the line's channel is left alone and hangs up.
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn redirect(peer: &str, context: &str, number: &str) -> Result<Action, InvalidAction> {
    Action::redirect(peer, context, number, 1)
}

/// `attended_transfer`: Atxfer from the line's channel to `number`.
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn attended_transfer(
    line_channel: &str,
    context: &str,
    number: &str,
) -> Result<Action, InvalidAction> {
    Action::atxfer(line_channel, Some(context), number)
}

/// `answer`: a SIP NOTIFY with `Event: talk` to the line's phone
/// (`PJSIPNotify` to the endpoint, or `SIPnotify` to the peer).
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn answer(protocol: Protocol, line: &str) -> Result<Action, InvalidAction> {
    match protocol {
        Protocol::Pjsip => Action::new("PJSIPNotify")?
            .field("Endpoint", line)?
            .field("Variable", "Event=talk"),
        Protocol::Sip => Action::new("SIPnotify")?
            .field("Channel", &device(protocol, line))?
            .field("Variable", "Event=talk"),
    }
}

/// `queue_pause`, and the pauses of `autoPauseOnCommutationStart`:
/// QueuePause of the line's queue member `interface`, in `queue` or all, with
/// `reason` when not empty.
///
/// # Errors
/// [`InvalidAction`] if a value cannot go into an action.
pub fn queue_pause(
    interface: &str,
    paused: bool,
    reason: &str,
    queue: Option<&str>,
) -> Result<Action, InvalidAction> {
    let reason = Some(reason).filter(|r| !r.is_empty());
    Action::queue_pause(interface, paused, queue, reason)
}

/// True for an AMI version (from the banner) of Asterisk 11 or older
/// (`1.x`), which has no `BlindTransfer` action. Asterisk 12 speaks AMI 2.
pub fn lacks_blind_transfer(ami_version: &str) -> bool {
    ami_version
        .split('.')
        .next()
        .and_then(|major| major.trim().parse::<u32>().ok())
        .is_some_and(|major| major < 2)
}

/// True when Asterisk refused an action for not knowing it.
pub fn is_unknown_action(e: &ActionError) -> bool {
    matches!(e, ActionError::Refused { message } if message.contains("Invalid/unknown command"))
}

/// A failed action as the command's error result. `action` names the AMI
/// action in the sentence.
pub fn ami_error(action: &str, e: &ActionError) -> CommandError {
    match e {
        ActionError::NotConnected => CommandError::new(
            ErrorCode::NotConnected,
            "the bridge is not connected to Asterisk right now; try again in a moment",
        ),
        ActionError::ConnectionLost => CommandError::new(
            ErrorCode::NotConnected,
            format!(
                "the connection to Asterisk was lost before it answered the {action}; \
                 it may or may not have been carried out"
            ),
        ),
        ActionError::Timeout => CommandError::new(
            ErrorCode::Timeout,
            format!("Asterisk did not answer the {action} in time; it may still carry it out"),
        ),
        ActionError::Refused { message } => CommandError::new(
            ErrorCode::AmiError,
            format!("Asterisk refused the {action}: {}", message.trim()),
        ),
        ActionError::TooManyPending => CommandError::new(
            ErrorCode::RateLimited,
            "too many actions are waiting for Asterisk; try again in a moment",
        ),
        ActionError::Invalid(i) => invalid(i),
    }
}

/// An action that could not be built (a config value or a value from the
/// PBX that cannot go into an action).
pub fn invalid(e: &InvalidAction) -> CommandError {
    CommandError::new(ErrorCode::InvalidValue, format!("not sent: {e}"))
}

/// How an Originate went, from its reply: `Ok(Some(uniqueid))` when the
/// first leg answered (the Uniqueid Asterisk reports, which differs from the
/// preset one only where `ChannelId` is not supported), `Ok(None)` when
/// there is no `OriginateResponse` to read, or the `failed` error.
pub fn originate_outcome(reply: &Reply) -> Result<Option<String>, CommandError> {
    let Some(ev) = reply.event() else {
        return Ok(None);
    };
    if ev
        .get("Response")
        .is_some_and(|r| r.trim().eq_ignore_ascii_case("Success"))
    {
        return Ok(ev
            .get("Uniqueid")
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned));
    }
    let why = match ev.get("Reason").map(str::trim) {
        Some("0") => "the call could not be placed (unknown line or phone not registered)",
        Some("1") => "the phone refused the call",
        Some("3") => "the phone did not answer",
        Some("5") => "the phone is busy",
        Some("8") => "the network is congested",
        _ => "the phone did not take the call",
    };
    Err(CommandError::new(
        ErrorCode::Failed,
        format!(
            "{why} (OriginateResponse reason {})",
            ev.get("Reason").unwrap_or("?").trim()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The action as written on the wire, with ActionID `X`.
    fn wire(a: Result<Action, InvalidAction>) -> String {
        let mut out = Vec::new();
        a.expect("a valid action").encode("X", &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn from<'a>(protocol: Protocol) -> FromLine<'a> {
        FromLine {
            protocol,
            line: "1000",
            name: "Alice \"A\" <boss>",
            channel_id: "ctib-1-2-3",
        }
    }

    #[test]
    fn call_is_an_async_originate_with_preset_channel_id() {
        assert_eq!(
            wire(call(&from(Protocol::Pjsip), "from-internal", "+33*12#")),
            "Action: Originate\r\nActionID: X\r\nChannel: PJSIP/1000\r\n\
             Context: from-internal\r\nExten: +33*12#\r\nPriority: 1\r\n\
             Timeout: 30000\r\nCallerID: \"Alice A boss\" <1000>\r\n\
             ChannelId: ctib-1-2-3\r\nAsync: true\r\n\r\n"
        );
        assert!(wire(call(&from(Protocol::Sip), "ctx", "1")).contains("Channel: SIP/1000\r\n"));
    }

    #[test]
    fn unhold_originates_into_the_parking_space() {
        assert_eq!(
            wire(unhold(&from(Protocol::Pjsip), "parkedcalls", "701")),
            "Action: Originate\r\nActionID: X\r\nChannel: PJSIP/1000\r\n\
             Context: parkedcalls\r\nExten: 701\r\nPriority: 1\r\n\
             Timeout: 30000\r\nCallerID: \"Alice A boss\" <1000>\r\n\
             ChannelId: ctib-1-2-3\r\nAsync: true\r\n\r\n"
        );
    }

    #[test]
    fn hold_parks_the_peer_with_the_line_as_timeout_channel() {
        assert_eq!(
            wire(hold("PJSIP/1002-00000002", "PJSIP/1000-00000001")),
            "Action: Park\r\nActionID: X\r\nChannel: PJSIP/1002-00000002\r\n\
             Timeout: 300000\r\nChannel2: PJSIP/1000-00000001\r\n\r\n"
        );
    }

    #[test]
    fn transfers_name_the_line_channel_or_redirect_the_peer() {
        assert_eq!(
            wire(blind_transfer("PJSIP/1000-1", "from-internal", "1006")),
            "Action: BlindTransfer\r\nActionID: X\r\nChannel: PJSIP/1000-1\r\n\
             Context: from-internal\r\nExten: 1006\r\n\r\n"
        );
        assert_eq!(
            wire(attended_transfer("PJSIP/1000-1", "from-internal", "1006")),
            "Action: Atxfer\r\nActionID: X\r\nChannel: PJSIP/1000-1\r\n\
             Context: from-internal\r\nExten: 1006\r\n\r\n"
        );
        assert_eq!(
            wire(redirect("SIP/1002-2", "from-internal", "1006")),
            "Action: Redirect\r\nActionID: X\r\nChannel: SIP/1002-2\r\n\
             Context: from-internal\r\nExten: 1006\r\nPriority: 1\r\n\r\n"
        );
    }

    #[test]
    fn answer_is_a_notify_with_event_talk() {
        assert_eq!(
            wire(answer(Protocol::Pjsip, "1000")),
            "Action: PJSIPNotify\r\nActionID: X\r\nEndpoint: 1000\r\n\
             Variable: Event=talk\r\n\r\n"
        );
        assert_eq!(
            wire(answer(Protocol::Sip, "1000")),
            "Action: SIPnotify\r\nActionID: X\r\nChannel: SIP/1000\r\n\
             Variable: Event=talk\r\n\r\n"
        );
    }

    #[test]
    fn queue_pause_leaves_out_an_empty_reason_and_no_queue() {
        assert_eq!(
            wire(queue_pause("Local/1000@from-queue/n", true, "", None)),
            "Action: QueuePause\r\nActionID: X\r\nInterface: Local/1000@from-queue/n\r\n\
             Paused: true\r\n\r\n"
        );
        assert_eq!(
            wire(queue_pause("PJSIP/1000", false, "Lunch", Some("support"))),
            "Action: QueuePause\r\nActionID: X\r\nInterface: PJSIP/1000\r\n\
             Paused: false\r\nQueue: support\r\nReason: Lunch\r\n\r\n"
        );
    }

    #[test]
    fn a_line_break_from_anywhere_is_still_refused() {
        assert!(hangup("PJSIP/1000-1\r\nAction: Originate").is_err());
        assert!(queue_pause("x", true, "a\nb", None).is_err());
        assert!(blind_transfer("c", "ctx\r", "1").is_err());
    }

    #[test]
    fn asterisk_11_is_told_by_its_ami_version() {
        assert!(lacks_blind_transfer("1.3"));
        assert!(lacks_blind_transfer("1.1"));
        assert!(!lacks_blind_transfer("2.10.4"));
        assert!(!lacks_blind_transfer("11.0.0"));
        assert!(!lacks_blind_transfer(""));
        assert!(!lacks_blind_transfer("Proxy/1.1"));
    }

    #[test]
    fn errors_map_to_codes_with_asterisks_message() {
        let refused = ActionError::Refused {
            message: "No such channel".into(),
        };
        let e = ami_error("Hangup", &refused);
        assert_eq!(e.code, ErrorCode::AmiError);
        assert_eq!(e.message, "Asterisk refused the Hangup: No such channel");
        assert_eq!(
            ami_error("Hangup", &ActionError::Timeout).code,
            ErrorCode::Timeout
        );
        assert_eq!(
            ami_error("Hangup", &ActionError::NotConnected).code,
            ErrorCode::NotConnected
        );
        assert_eq!(
            ami_error("Hangup", &ActionError::ConnectionLost).code,
            ErrorCode::NotConnected
        );
        assert_eq!(
            ami_error("Hangup", &ActionError::TooManyPending).code,
            ErrorCode::RateLimited
        );
        assert!(is_unknown_action(&ActionError::Refused {
            message: "Invalid/unknown command: BlindTransfer. Use Action: ListCommands to show available commands."
                .into()
        }));
        assert!(!is_unknown_action(&refused));
    }

    #[test]
    fn caller_id_keeps_a_plain_name_as_it_is() {
        assert_eq!(caller_id("Alice 1000", "1000"), "\"Alice 1000\" <1000>");
        assert_eq!(caller_id("Zoé", "1000"), "\"Zoé\" <1000>");
    }

    /// A reply to an Originate whose OriginateResponse has `fields`.
    fn reply(fields: &str) -> Reply {
        use crate::ami::{Decoder, Item, Limits, OwnedPacket};
        let text = format!(
            "Response: Success\r\nMessage: Originate successfully queued\r\n\r\n\
             Event: OriginateResponse\r\n{fields}\r\n"
        );
        let mut dec = Decoder::new(Limits::default());
        dec.feed(text.as_bytes());
        let mut packets = Vec::new();
        while let Some(Item::Packet(p)) = dec.next_item() {
            packets.push(OwnedPacket::new(&p));
        }
        let event = packets.pop();
        Reply {
            response: packets.pop().expect("the response"),
            event,
            items: Vec::new(),
            items_dropped: 0,
        }
    }

    #[test]
    fn an_answered_originate_reports_its_uniqueid() {
        let r = reply("Response: Success\r\nReason: 4\r\nUniqueid: ctib-1-2-3\r\n");
        assert_eq!(originate_outcome(&r), Ok(Some("ctib-1-2-3".into())));
    }

    #[test]
    fn a_failed_originate_says_why_in_words() {
        for (reason, words) in [
            ("0", "could not be placed"),
            ("1", "refused"),
            ("3", "did not answer"),
            ("5", "busy"),
            ("8", "congested"),
            ("42", "did not take"),
        ] {
            let r = reply(&format!("Response: Failure\r\nReason: {reason}\r\n"));
            let e = originate_outcome(&r).unwrap_err();
            assert_eq!(e.code, ErrorCode::Failed, "{reason}");
            assert!(e.message.contains(words), "{reason}: {}", e.message);
            assert!(e.message.contains(&format!("reason {reason}")));
        }
    }
}
