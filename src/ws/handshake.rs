//! The HTTP side of the WebSocket port: the upgrade to WebSocket, the panel
//! page and `panel.json`, decided from one request head.
//!
//! Pure: bytes in, a decision out. The upgrade answer is written here too
//! (RFC 6455 section 4.2.2), so the port needs one request parser for pages
//! and WebSocket alike.

use super::protocol::Token;
use crate::http::panel::PANEL_HTML;
use crate::limits::{WS_MAX_HEADERS, WS_MAX_TOKEN};
use async_tungstenite::tungstenite::handshake::derive_accept_key;

/// What to do with a request head.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// The head is not complete yet: read more.
    Partial,
    /// A valid WebSocket upgrade. `head_len` bytes were the head; any bytes
    /// after them already belong to the WebSocket stream.
    Upgrade {
        /// Length of the request head.
        head_len: usize,
        /// The `Sec-WebSocket-Accept` value to answer with.
        accept: String,
        /// The `token` query parameter, percent-decoded, when present.
        /// `Some(None)`: present but longer than any token.
        token: Option<Option<Token>>,
    },
    /// A plain HTTP answer (a page, or an error); the connection closes after it.
    Answer(Answer),
}

/// A complete HTTP response for a non-WebSocket request.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Content type of the body.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Send the headers only (a `HEAD` request).
    pub head_only: bool,
}

impl Answer {
    fn text(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            head_only: false,
        }
    }

    /// The response bytes: status line, headers, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n{}Connection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
            if self.status == 426 { "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n" } else { "" },
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The `101 Switching Protocols` answer to an upgrade.
pub fn upgrade_response(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// The answer to a head too large for the buffer.
pub fn too_large() -> Answer {
    Answer::text(431, "request head too large\n")
}

/// Decides what a request head asks for. `panel_json` is the body of
/// `/panel.json`. Any path may be upgraded to WebSocket; `GET /` gives the
/// panel page, `GET /panel.json` its settings.
pub fn route(head: &[u8], panel_json: &str) -> Route {
    let mut headers = [httparse::EMPTY_HEADER; WS_MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(head) {
        Ok(httparse::Status::Partial) => return Route::Partial,
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => return Route::Answer(too_large()),
        Err(_) => return Route::Answer(Answer::text(400, "bad request\n")),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    let method = req.method.unwrap_or("");
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if has_token("Upgrade", "websocket") {
        if method != "GET" || !has_token("Connection", "upgrade") {
            return Route::Answer(Answer::text(
                400,
                "a WebSocket upgrade is a GET with Connection: Upgrade\n",
            ));
        }
        if header("Sec-WebSocket-Version") != Some(b"13") {
            return Route::Answer(Answer::text(
                426,
                "only WebSocket version 13 is spoken here\n",
            ));
        }
        let Some(key) = header("Sec-WebSocket-Key").filter(|k| !k.is_empty()) else {
            return Route::Answer(Answer::text(400, "Sec-WebSocket-Key is missing\n"));
        };
        return Route::Upgrade {
            head_len,
            accept: derive_accept_key(key.trim_ascii()),
            token: query_param(query, "token")
                .map(|raw| percent_decode(raw).and_then(|t| Token::parse(&t))),
        };
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return Route::Answer(Answer::text(405, "only GET here\n"));
    }
    let mut answer = match path {
        "/" | "/index.html" => Answer {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PANEL_HTML.into(),
            head_only,
        },
        "/panel.json" => Answer {
            status: 200,
            content_type: "application/json",
            body: panel_json.into(),
            head_only,
        },
        _ => Answer::text(
            404,
            "not found: the panel is at /, WebSocket clients may use any path\n",
        ),
    };
    answer.head_only = head_only;
    Route::Answer(answer)
}

/// The raw value of `name` in a query string (`a=1&token=x`).
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Decodes `%XX` escapes (a `+` stays a `+`: tokens are not form text).
/// `None` when malformed, not UTF-8, or longer than any token.
fn percent_decode(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len().min(WS_MAX_TOKEN + 1));
    let mut i = 0;
    while i < b.len() {
        if out.len() > WS_MAX_TOKEN {
            return None;
        }
        if b[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &str = "GET /?token=tok%2Da+b HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn an_upgrade_is_accepted_with_the_rfc_key_and_its_query_token() {
        let Route::Upgrade {
            head_len,
            accept,
            token,
        } = route(
            [UPGRADE.as_bytes(), &[0x81, 0x85]].concat().as_slice(),
            "{}",
        )
        else {
            panic!("not an upgrade")
        };
        assert_eq!(head_len, UPGRADE.len());
        // The example of RFC 6455 section 1.3.
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(token, Some(Token::parse("tok-a+b")));
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert_eq!(route(&UPGRADE.as_bytes()[..40], "{}"), Route::Partial);
    }

    #[test]
    fn an_upgrade_without_token_or_with_a_broken_one() {
        let plain = UPGRADE.replace("?token=tok%2Da+b", "");
        assert!(matches!(
            route(plain.as_bytes(), ""),
            Route::Upgrade { token: None, .. }
        ));
        for bad in ["%zz", "%4", "%ff%fe"] {
            let h = UPGRADE.replace("tok%2Da+b", bad);
            assert!(
                matches!(
                    route(h.as_bytes(), ""),
                    Route::Upgrade {
                        token: Some(None),
                        ..
                    }
                ),
                "{bad}"
            );
        }
        let long = UPGRADE.replace("tok%2Da+b", &"t".repeat(WS_MAX_TOKEN + 1));
        assert!(matches!(
            route(long.as_bytes(), ""),
            Route::Upgrade {
                token: Some(None),
                ..
            }
        ));
    }

    #[test]
    fn bad_upgrades_are_answered_in_http() {
        let status = |h: String| match route(h.as_bytes(), "") {
            Route::Answer(a) => a.status,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(UPGRADE.replace("Version: 13", "Version: 8")), 426);
        assert_eq!(status(UPGRADE.replace("Sec-WebSocket-Key", "X-Key")), 400);
        assert_eq!(status(UPGRADE.replace("keep-alive, Upgrade", "close")), 400);
        assert_eq!(status(UPGRADE.replace("GET", "POST")), 400);
        assert_eq!(status("garbage\r\n\r\n".into()), 400);
        let many: String = (0..WS_MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect();
        assert_eq!(status(format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
    }

    #[test]
    fn pages_are_served_beside_the_websocket() {
        let get = |path: &str, method: &str| match route(
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
            "{\"screenPopUrl\":\"\"}",
        ) {
            Route::Answer(a) => a,
            other => panic!("{other:?}"),
        };
        let page = get("/", "GET");
        assert_eq!(
            (page.status, page.content_type),
            (200, "text/html; charset=utf-8")
        );
        assert!(page.body.contains("WebSocket"));
        assert_eq!(get("/panel.json", "GET").body, "{\"screenPopUrl\":\"\"}");
        assert_eq!(get("/nope", "GET").status, 404);
        assert_eq!(get("/", "DELETE").status, 405);
        let head = get("/", "HEAD");
        let bytes = head.to_bytes();
        assert!(bytes.ends_with(b"\r\n\r\n"));
        assert!(String::from_utf8(bytes)
            .unwrap()
            .contains(&format!("Content-Length: {}", PANEL_HTML.len())));
    }

    #[test]
    fn the_switching_answer_carries_the_accept_key() {
        let r = String::from_utf8(upgrade_response("abc=")).unwrap();
        assert!(r.starts_with("HTTP/1.1 101 "));
        assert!(r.contains("\r\nSec-WebSocket-Accept: abc=\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
    }
}
