//! The operator panel: one static page embedded in the binary, served on the
//! WebSocket port at `/`, plus `panel.json` with the public panel settings.

use crate::json;

/// The panel page: plain HTML, CSS and JavaScript, no build step.
pub const PANEL_HTML: &str = include_str!("panel.html");

/// The body of `/panel.json`: settings the page needs and that are not
/// secret (today only `screenPopUrl`, a template where `{number}` is replaced
/// by the caller's number).
pub fn panel_json(screen_pop_url: &str) -> String {
    let mut s = String::from("{\"screenPopUrl\":");
    // Writing into a String cannot fail.
    let _ = json::write_str(&mut s, screen_pop_url);
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_json_escapes_the_template() {
        assert_eq!(
            panel_json("https://crm/x?q={number}&a=\"b\""),
            r#"{"screenPopUrl":"https://crm/x?q={number}&a=\"b\""}"#
        );
    }

    #[test]
    fn page_uses_the_protocol_ops_and_events() {
        for needle in [
            "\"auth\"",
            "RingStarted",
            "CommutationStarted",
            "PutHoldAction",
            "EndHoldAction",
            "RingFinished",
            "queue_pause",
            "attended_transfer",
            "\"hold\"",
            "\"unhold\"",
            "\"hangup\"",
        ] {
            assert!(PANEL_HTML.contains(needle), "{needle}");
        }
    }
}
