//! What every HTTP response goes through on its way out, whoever produced it.
//!
//! - [`api_errors`]: an error under `/api` that is not already the API's JSON shape (axum's own
//!   rejections of a path, query or multipart body, a body-limit 413, anything a layer answers)
//!   becomes `{"error":{"code","message","details":{}}}` with a stable code derived from its
//!   status (and, for a 400, from which part of the request was refused).
//! - [`global_headers`]: `X-Content-Type-Options: nosniff` on every response, and
//!   `Strict-Transport-Security` when the public URL is https.
//! - [`GuardedListener`]: hyper answers a request line or header section it cannot parse (a URI
//!   over 64 KiB: 414, headers over its buffer: 431, garbage: 400) by itself, with an empty body,
//!   before any service sees the request. The listener's connections rewrite exactly those
//!   automatic answers into the JSON shape.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::state::AppState;

/// The stable code for an error status (400s are refined by [`code_for_bad_request`]).
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "request_timeout",
        409 => "conflict",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "invalid_body",
        429 => "too_many_requests",
        431 => "headers_too_large",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

/// axum's rejections say in their text which part of the request they refused.
fn code_for_bad_request(text: &str) -> &'static str {
    if text.starts_with("Failed to deserialize query string") {
        "invalid_query"
    } else if text.starts_with("Invalid URL") || text.contains("path") && text.contains("parameter") {
        "invalid_path"
    } else if text.contains("multipart") || text.contains("boundary") {
        "invalid_multipart"
    } else if text.contains("JSON") || text.contains("json") {
        "invalid_json"
    } else {
        "bad_request"
    }
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")))
}

/// The API's error body for `status` with `message`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "details": {} } });
    (status, axum::Json(body)).into_response()
}

/// Rewrites non-JSON error responses under `/api` into the JSON error shape.
pub async fn api_errors(req: Request, next: Next) -> Response {
    let api = req.uri().path() == "/api" || req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let status = res.status();
    if !api || !(status.is_client_error() || status.is_server_error()) || is_json(&res) {
        return res;
    }
    let (parts, body) = res.into_parts();
    // Rejection texts are short; anything longer is not worth showing.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let code = if status == StatusCode::BAD_REQUEST { code_for_bad_request(&text) } else { code_for_status(status) };
    let message = if status.is_server_error() || text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let mut out = error_response(status, code, &message);
    // Keep what the original answer said about retrying and allowed methods.
    for h in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(v) = parts.headers.get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
}

/// `nosniff` everywhere; HSTS when the platform is served over https.
pub async fn global_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if state.public_url().starts_with("https://") {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    res
}

/// A TCP listener whose connections turn hyper's automatic (empty-bodied) parse-error answers
/// into the JSON error shape.
pub struct GuardedListener(pub TcpListener);

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (GuardedIo { inner: io, pending: None, fresh: true }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection. `fresh`: the next write starts a response (hyper writes a response head at the
/// start of a write; the bodies we send follow it in the same or later writes, and hyper's
/// automatic answer is always the last thing on a connection).
pub struct GuardedIo {
    inner: TcpStream,
    /// A replacement answer still to be written, and how much of it was.
    pending: Option<(Vec<u8>, usize)>,
    fresh: bool,
}

/// The JSON answer for one of hyper's automatic ones (`head` is what hyper wrote), if it is one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let (status, code, message) = if head.starts_with(b"HTTP/1.1 414 ") {
        (414, "uri_too_long", "the request URI is too long")
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        (431, "headers_too_large", "the request headers are too large")
    } else if head.starts_with(b"HTTP/1.1 400 Bad Request\r\n") {
        (400, "bad_request", "the request could not be parsed")
    } else {
        return None;
    };
    // hyper's own answers are a bare head: no body, no content type, and none of the headers every
    // answer of the application gets from its layers (`x-request-id`, `x-content-type-options`).
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = String::from_utf8_lossy(&head[..end + 2]).to_ascii_lowercase();
    let empty = !head_text.contains("\r\ncontent-length:") || head_text.contains("\r\ncontent-length: 0\r\n");
    let from_app =
        ["\r\ncontent-type:", "\r\nx-request-id:", "\r\nx-content-type-options:"].iter().any(|h| head_text.contains(h));
    if from_app || !empty || head.len() > end + 4 {
        return None;
    }
    let body = json!({ "error": { "code": code, "message": message, "details": {} } }).to_string();
    let reason = StatusCode::from_u16(status).ok()?.canonical_reason().unwrap_or("");
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             x-content-type-options: nosniff\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl GuardedIo {
    /// Writes what is left of a replacement; `Ready(Ok)` once all of it is out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((buf, done)) = &mut self.pending {
            if *done >= buf.len() {
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &buf[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        // Something was read: a new request, so the next write is a new response head.
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.fresh = true;
        }
        r
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.pending.is_some() {
            // The connection is closing after the replacement; swallow anything else.
            return match self.drain(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.len())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        if std::mem::replace(&mut self.fresh, false)
            && let Some(rep) = replacement(buf)
        {
            self.pending = Some((rep, 0));
            return match self.drain(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                // Written or queued (the rest goes out at the next poll): hyper's bytes are "sent".
                _ => Poll::Ready(Ok(buf.len())),
            };
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.pending.is_some() || self.fresh {
            // A response head is judged on its own; the rest follows in later writes.
            let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &**b).unwrap_or(&[]);
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_parse_error_answers_are_replaced() {
        let auto = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let rep = String::from_utf8(replacement(auto).unwrap()).unwrap();
        assert!(rep.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(rep.contains("content-type: application/json"));
        assert!(
            rep.ends_with(r#"{"error":{"code":"uri_too_long","details":{},"message":"the request URI is too long"}}"#)
        );
        assert!(replacement(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n").is_some());
        // An application answer with a body is left alone.
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        // A bare 400 of the application (it went through the layers) is left alone too.
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\nx-request-id: 1\r\ncontent-length: 0\r\n\r\n").is_none());
    }

    #[test]
    fn bad_request_codes_name_the_refused_part() {
        assert_eq!(code_for_bad_request("Failed to deserialize query string: limit: invalid digit"), "invalid_query");
        assert_eq!(code_for_bad_request("Invalid URL: UUID parsing failed"), "invalid_path");
        assert_eq!(code_for_bad_request("Invalid `boundary` for `multipart/form-data` request"), "invalid_multipart");
    }
}
