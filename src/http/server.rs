//! A minimal HTTP/1.1 server for `GET /health` and `GET /metrics`.
//!
//! One request per connection (`Connection: close`), a bounded request head
//! read under a timeout and parsed with httparse. It answers 200 or 503 on
//! /health (so systemd, monit or a load balancer can probe it), 404 on other
//! paths and 405 on other methods.

use super::health::Health;
use crate::limits::{
    HTTP_HEADER_TIMEOUT_S, HTTP_MAX_CONNECTIONS, HTTP_MAX_HEADERS, HTTP_MAX_REQUEST,
};
use async_executor::LocalExecutor;
use async_net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// What the server asks the app for on every request: a fresh snapshot.
pub type HealthFn = Rc<dyn Fn() -> Health>;

/// The answer to one request: status line, content type and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Content type of the body.
    pub content_type: &'static str,
    /// The body. Its length is always announced; it is not sent when
    /// `head_only`.
    pub body: String,
    /// The request was `HEAD`: status and headers only (RFC 9110 9.3.2).
    pub head_only: bool,
}

/// Decides the answer to a request head (pure: no socket, no clock).
/// `None` means the head is not complete yet.
pub fn answer(head: &[u8], health: &dyn Fn() -> Health) -> Option<Answer> {
    let mut headers = [httparse::EMPTY_HEADER; HTTP_MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let text = |status, body: &str| Answer {
        status,
        content_type: "text/plain",
        body: body.into(),
        head_only: false,
    };
    match req.parse(head) {
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => Some(text(431, "too many headers\n")),
        Err(_) => Some(text(400, "bad request\n")),
        Ok(httparse::Status::Complete(_)) => {
            let path = req.path.unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            if req.method != Some("GET") && req.method != Some("HEAD") {
                return Some(text(405, "only GET\n"));
            }
            let head_only = req.method == Some("HEAD");
            let h = health();
            let mut body = String::new();
            match path {
                "/health" => {
                    // Writing into a String cannot fail.
                    let _ = h.write_json(&mut body);
                    body.push('\n');
                    let status = if h.ok() { 200 } else { 503 };
                    Some(Answer {
                        status,
                        content_type: "application/json",
                        body,
                        head_only,
                    })
                }
                "/metrics" => {
                    let _ = h.write_prometheus(&mut body);
                    Some(Answer {
                        status: 200,
                        content_type: "text/plain; version=0.0.4",
                        body,
                        head_only,
                    })
                }
                _ => Some(Answer {
                    head_only,
                    ..text(404, "not found: try /health or /metrics\n")
                }),
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Serves health requests on `listener` until the future is dropped.
/// `refused` counts connections refused at a limit (for /health itself).
pub async fn serve(
    listener: TcpListener,
    ex: Rc<LocalExecutor<'static>>,
    health: HealthFn,
    refused: Rc<Cell<u64>>,
) {
    let open = Rc::new(Cell::new(0usize));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                log::warn!("health endpoint: accept failed: {e}");
                async_io::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.get() >= HTTP_MAX_CONNECTIONS {
            refused.set(refused.get() + 1);
            drop(stream);
            continue;
        }
        open.set(open.get() + 1);
        let (open, health, refused) = (open.clone(), health.clone(), refused.clone());
        ex.spawn(async move {
            if !handle(stream, &*health).await {
                refused.set(refused.get() + 1);
            }
            open.set(open.get() - 1);
        })
        .detach();
    }
}

/// Serves one connection; false when it was refused (too slow, too large).
async fn handle(mut stream: TcpStream, health: &dyn Fn() -> Health) -> bool {
    let mut buf = [0u8; HTTP_MAX_REQUEST];
    let mut len = 0;
    let read_head = async {
        loop {
            if len == buf.len() {
                return Some(Answer {
                    status: 431,
                    content_type: "text/plain",
                    body: "request too large\n".into(),
                    head_only: false,
                });
            }
            match stream.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => len += n,
            }
            if let Some(a) = answer(&buf[..len], health) {
                return Some(a);
            }
        }
    };
    let timeout = async {
        async_io::Timer::after(Duration::from_secs(HTTP_HEADER_TIMEOUT_S)).await;
        None
    };
    let Some(a) = read_head.or(timeout).await else {
        return false;
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        a.status,
        reason(a.status),
        a.content_type,
        a.body.len()
    );
    let ok = a.status != 431;
    let _ = stream.write_all(head.as_bytes()).await;
    if !a.head_only {
        let _ = stream.write_all(a.body.as_bytes()).await;
    }
    let _ = stream.close().await;
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> Health {
        let mut h = Health::default();
        h.ami.connected = true;
        h
    }

    #[test]
    fn health_is_200_when_up_and_503_when_down() {
        let a = answer(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", &up).unwrap();
        assert_eq!((a.status, a.content_type), (200, "application/json"));
        assert!(a.body.starts_with("{\"status\":\"ok\""));
        let a = answer(b"GET /health?x=1 HTTP/1.0\r\n\r\n", &Health::default).unwrap();
        assert_eq!(a.status, 503);
    }

    #[test]
    fn head_gets_the_headers_of_get_without_the_body() {
        let get = answer(b"GET /health HTTP/1.1\r\n\r\n", &up).unwrap();
        let head = answer(b"HEAD /health HTTP/1.1\r\n\r\n", &up).unwrap();
        assert!(head.head_only && !get.head_only);
        assert_eq!((head.status, head.body.len()), (get.status, get.body.len()));
        assert!(
            answer(b"HEAD /nope HTTP/1.1\r\n\r\n", &up)
                .unwrap()
                .head_only
        );
    }

    #[test]
    fn metrics_other_paths_and_methods() {
        assert_eq!(
            answer(b"GET /metrics HTTP/1.1\r\n\r\n", &up)
                .unwrap()
                .status,
            200
        );
        assert_eq!(
            answer(b"GET /secret HTTP/1.1\r\n\r\n", &up).unwrap().status,
            404
        );
        assert_eq!(
            answer(b"POST /health HTTP/1.1\r\n\r\n", &up)
                .unwrap()
                .status,
            405
        );
    }

    #[test]
    fn partial_garbage_and_too_many_headers() {
        assert_eq!(answer(b"GET /health HTTP/1.1\r\nHost:", &up), None);
        assert_eq!(answer(b"\x00\x01garbage\r\n\r\n", &up).unwrap().status, 400);
        let mut many = b"GET /health HTTP/1.1\r\n".to_vec();
        for i in 0..HTTP_MAX_HEADERS + 1 {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(answer(&many, &up).unwrap().status, 431);
    }

    #[test]
    fn serves_over_a_real_socket_and_refuses_slow_clients_politely() {
        let ex = Rc::new(LocalExecutor::new());
        let refused = Rc::new(Cell::new(0));
        futures_lite::future::block_on(ex.run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            ex.spawn(serve(listener, ex.clone(), Rc::new(up), refused.clone()))
                .detach();
            let mut s = TcpStream::connect(addr).await.unwrap();
            // Sent in two pieces: the server waits for the whole head.
            s.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
            async_io::Timer::after(Duration::from_millis(20)).await;
            s.write_all(b"Host: x\r\n\r\n").await.unwrap();
            let mut resp = String::new();
            s.read_to_string(&mut resp).await.unwrap();
            assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
            assert!(resp.contains("\"status\":\"ok\""));
            // A head larger than the limit is refused and counted.
            let mut s = TcpStream::connect(addr).await.unwrap();
            let big = vec![b'a'; HTTP_MAX_REQUEST + 10];
            let _ = s.write_all(&big).await;
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp).await;
            assert!(
                resp.starts_with("HTTP/1.1 400") || resp.starts_with("HTTP/1.1 431"),
                "{resp}"
            );
        }));
    }
}
