//! Requests whose head does not parse never reach the app: a URL with raw non-ASCII bytes (an
//! unencoded `?q=身份证`), a header value with a control byte. actix-http answers them itself,
//! before any service or middleware, with a bare `400` and an empty body, and logs an ERROR
//! ("stream error: request parse error …") for what is the client's mistake.
//!
//! The one decision: actix-http has no hook for that answer, so the public listener's
//! connections are wrapped in [`Shaped`], which recognises actix-http's own bare answer on the
//! way out (`HTTP/1.1 400 Bad Request` with `content-length: 0`: every answer of the app has an
//! error body, the middleware sees to that) and writes the error shape in its place — a stable
//! code, a Chinese message and a request id — with a warning in the log. [`QuietParseErrors`]
//! drops actix-http's ERROR line for it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use miniprogram_api::{ErrorBody, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing_subscriber::layer::{Context as LayerContext, Layer};

use crate::request_id;

/// actix-http's answers to a head it could not parse, as it writes them, with what we say.
const BARE: &[(&[u8], &str)] = &[
    (
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        "请求格式不正确：网址中的中文等字符须经 URL 编码，请求头不能含控制字符",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n",
        "请求头过大",
    ),
];

/// A connection whose bare parse-error answers get the error shape.
pub struct Shaped<T> {
    io: T,
    /// Rewritten bytes still to be written, and how many of them are.
    out: Vec<u8>,
    sent: usize,
}

impl<T> Shaped<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            out: Vec::new(),
            sent: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> Shaped<T> {
    /// Writes what is left of a rewritten answer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Shaped<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Shaped<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.poll_drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        match reshape(buf) {
            Some(reshaped) => {
                this.out = reshaped;
                // What the socket does not take now goes out on the next flush or write.
                let _ = this.poll_drain(cx)?;
                Poll::Ready(Ok(buf.len()))
            }
            None => Pin::new(&mut this.io).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.poll_drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.poll_drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `buf` with actix-http's bare parse-error answer replaced by the error shape, if it is one.
///
/// Only a write that *starts* with the bare answer is one: actix-http writes that answer on its
/// own as the connection's last, while the same bytes inside a body (a citizen's uploaded file
/// served back, say) must pass untouched — and looking only at the first bytes keeps every other
/// write free of a scan.
fn reshape(buf: &[u8]) -> Option<Vec<u8>> {
    let (bare, message) = BARE
        .iter()
        .find(|(bare, _)| buf.starts_with(bare))
        .map(|(bare, message)| (*bare, *message))?;
    let end = find(buf, b"\r\n\r\n")?;
    let status_line = &buf[..find(bare, b"\r\n")?];
    // The rest of actix-http's headers (`connection: close`, `date`), each with its CRLF.
    let others = &buf[bare.len()..end + 2];
    let id = request_id::from_header(None);
    let body = serde_json::to_vec(&ErrorBody {
        code: ErrorCode::BadRequest,
        message: message.to_owned(),
        request_id: id.clone(),
        fields: Vec::new(),
        until: None,
    })
    .ok()?;
    tracing::warn!(
        request_id = %id,
        status = %String::from_utf8_lossy(status_line),
        "a request whose head does not parse (an unencoded URL, a control byte in a header, \
         headers too large) was refused"
    );
    metrics::counter!("http_malformed_requests_total").increment(1);
    let mut out = Vec::with_capacity(buf.len() + body.len() + 128);
    out.extend_from_slice(status_line);
    out.extend_from_slice(
        format!(
            "\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}: {id}\r\n",
            body.len(),
            request_id::HEADER
        )
        .as_bytes(),
    );
    out.extend_from_slice(others);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out.extend_from_slice(&buf[end + 4..]);
    Some(out)
}

/// Drops actix-http's ERROR line for a head that did not parse: the client's mistake, answered
/// and logged as a warning by [`Shaped`].
pub struct QuietParseErrors;

impl<S: tracing::Subscriber> Layer<S> for QuietParseErrors {
    fn event_enabled(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) -> bool {
        if !event.metadata().target().starts_with("actix_http::h1") {
            return true;
        }
        let mut message = Message(false);
        event.record(&mut message);
        !message.0
    }
}

/// Whether the event's message is actix-http's parse error.
struct Message(bool);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let text = format!("{value:?}");
            self.0 = text.contains("request parse error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bare_answer_gets_the_error_shape_and_other_bytes_pass() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\
                     date: Wed, 02 Dec 2026 14:02:36 GMT\r\n\r\n";
        let shaped = String::from_utf8(reshape(bare).unwrap()).unwrap();
        let (head, body) = shaped.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("connection: close") && head.contains("date: "));
        let body: ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(body.code, ErrorCode::BadRequest);
        assert!(head.contains(&format!("x-request-id: {}", body.request_id)));

        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 97\r\ncontent-type: application/json\r\n\r\n{}";
        assert!(reshape(ours).is_none());
    }

    #[test]
    fn the_same_bytes_inside_a_body_pass_untouched() {
        let mut body = b"%PDF-1.4\n".to_vec();
        body.extend_from_slice(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        assert!(reshape(&body).is_none());
    }
}
