//! Responses and their encoding into the connection's reused write buffer.

use std::borrow::Cow;

use super::date::DATE_LEN;

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// No body (and no Content-Length for 204/304).
    Empty,
    /// A constant body.
    Static(&'static [u8]),
    /// An owned body.
    Bytes(Vec<u8>),
    /// A body shared with a cache (a hot student profile), sent without copying it first.
    Shared(std::rc::Rc<[u8]>),
}

impl Body {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Empty => b"",
            Body::Static(b) => b,
            Body::Bytes(b) => b,
            Body::Shared(b) => b,
        }
    }
}

/// What a handler returns; the connection loop adds Date, length, request id and connection
/// management.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Body.
    pub body: Body,
    /// Extra headers (constant values borrow, so they cost no allocation).
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// Close the connection after this response.
    pub close: bool,
}

/// `application/json`.
pub const JSON: &str = "application/json";
/// RFC 9457 problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Prometheus text exposition format.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
/// A page for people (`/docs`, `/account/*`): the one kind of answer that carries its own
/// Content-Security-Policy (each page's handler names what the page may load).
pub const HTML: &str = "text/html; charset=utf-8";
/// The scripts pages load.
pub const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// The stylesheets pages load.
pub const CSS: &str = "text/css; charset=utf-8";
/// A report's file.
pub const PDF: &str = "application/pdf";

const HSTS: &[u8] = b"\r\nStrict-Transport-Security: max-age=31536000; includeSubDomains";

/// The security headers of an HTML page, but its policy: the page's handler adds that (a
/// `Content-Security-Policy` header naming what the page may load), or [`PAGE_FALLBACK_CSP`]
/// applies.
const PAGE_SECURITY: &[u8] =
    b"\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer";

/// The policy of a page whose handler named none: it may load nothing.
const PAGE_FALLBACK_CSP: &[u8] =
    b"\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'";

impl Response {
    /// A 200 of a file compiled into (or loaded once by) the server: a page, its script or
    /// stylesheet. Each caller adds its caching and, for a page, its policy.
    pub fn static_file(content_type: &'static str, body: &'static [u8]) -> Response {
        Response {
            status: 200,
            content_type,
            body: Body::Static(body),
            headers: Vec::new(),
            close: false,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: JSON,
            body: Body::Bytes(body),
            headers: Vec::new(),
            close: false,
        }
    }

    /// A JSON response with a constant body.
    pub fn static_json(status: u16, body: &'static [u8]) -> Response {
        Response {
            status,
            content_type: JSON,
            body: Body::Static(body),
            headers: Vec::new(),
            close: false,
        }
    }

    /// An empty response (e.g. 204).
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            content_type: "",
            body: Body::Empty,
            headers: Vec::new(),
            close: false,
        }
    }

    /// A JSON response whose body is shared with a cache.
    pub fn shared_json(status: u16, body: std::rc::Rc<[u8]>) -> Response {
        Response {
            status,
            content_type: JSON,
            body: Body::Shared(body),
            headers: Vec::new(),
            close: false,
        }
    }

    /// Adds a header.
    pub fn with_header(
        mut self,
        name: &'static str,
        value: impl Into<Cow<'static, str>>,
    ) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// Reason phrase for a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Per-request values the encoder needs besides the response.
#[derive(Debug)]
pub struct EncodeContext<'a> {
    /// Current `Date` value.
    pub date: &'a [u8; DATE_LEN],
    /// Request id to echo.
    pub request_id: &'a [u8],
    /// Keep the connection open after this response.
    pub keep_alive: bool,
    /// The request was HTTP/1.0 (keep-alive must then be announced).
    pub http10: bool,
    /// HEAD request: headers only.
    pub head_only: bool,
    /// Allowed CORS origin to echo, if any.
    pub cors_origin: Option<&'a [u8]>,
    /// Security headers sent on every response ([`security_headers`]).
    pub security: &'a [u8],
    /// The request carried credentials: unless the handler chose a `Cache-Control`, the
    /// response must not be stored by any cache.
    pub credentialed: bool,
}

/// The security headers every response carries, each preceded by CRLF: no MIME sniffing, no
/// framing, no referrer, a Content-Security-Policy that allows nothing (this is a JSON API),
/// and HSTS when the server is configured as sitting behind TLS.
pub fn security_headers(hsts: bool) -> Vec<u8> {
    let mut h = b"\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'".to_vec();
    if hsts {
        h.extend_from_slice(HSTS);
    }
    h
}

/// Appends the encoded response to `out`.
pub fn encode(resp: &Response, ctx: &EncodeContext<'_>, out: &mut Vec<u8>) {
    let body = resp.body.as_bytes();
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut status = itoa::Buffer::new();
    out.extend_from_slice(status.format(resp.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(ctx.date);
    if !resp.content_type.is_empty() {
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(resp.content_type.as_bytes());
    }
    if resp.status != 204 && resp.status != 304 && resp.status >= 200 {
        out.extend_from_slice(b"\r\nContent-Length: ");
        let mut len = itoa::Buffer::new();
        out.extend_from_slice(len.format(body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\nX-Request-Id: ");
    out.extend_from_slice(ctx.request_id);
    if resp.content_type == HTML {
        out.extend_from_slice(PAGE_SECURITY);
        if !resp
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-security-policy"))
        {
            out.extend_from_slice(PAGE_FALLBACK_CSP);
        }
        if ctx.security.ends_with(HSTS) {
            out.extend_from_slice(HSTS);
        }
    } else {
        out.extend_from_slice(ctx.security);
    }
    if ctx.credentialed
        && !resp
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
    {
        out.extend_from_slice(b"\r\nCache-Control: no-store");
    }
    if let Some(origin) = ctx.cors_origin {
        out.extend_from_slice(b"\r\nAccess-Control-Allow-Origin: ");
        out.extend_from_slice(origin);
        out.extend_from_slice(
            b"\r\nVary: Origin\r\nAccess-Control-Expose-Headers: X-Request-Id, Retry-After",
        );
    }
    for (name, value) in &resp.headers {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    if !ctx.keep_alive || resp.close {
        out.extend_from_slice(b"\r\nConnection: close");
    } else if ctx.http10 {
        out.extend_from_slice(b"\r\nConnection: keep-alive");
    }
    out.extend_from_slice(b"\r\n\r\n");
    if !ctx.head_only {
        out.extend_from_slice(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_exact_bytes() {
        let date = *b"Sun, 06 Nov 1994 08:49:37 GMT";
        let ctx = EncodeContext {
            date: &date,
            request_id: b"abc",
            keep_alive: true,
            http10: false,
            head_only: false,
            cors_origin: None,
            security: b"",
            credentialed: false,
        };
        let mut out = Vec::new();
        encode(&Response::static_json(200, b"{}"), &ctx, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Request-Id: abc\r\n\r\n{}"
        );
    }

    #[test]
    fn security_headers_and_no_store_for_credentials() {
        let date = [b'x'; DATE_LEN];
        let security = security_headers(true);
        let ctx = EncodeContext {
            date: &date,
            request_id: b"r",
            keep_alive: true,
            http10: false,
            head_only: false,
            cors_origin: None,
            security: &security,
            credentialed: true,
        };
        let mut out = Vec::new();
        encode(&Response::static_json(200, b"{}"), &ctx, &mut out);
        let s = String::from_utf8(out).unwrap();
        for h in [
            "\r\nX-Content-Type-Options: nosniff\r\n",
            "\r\nX-Frame-Options: DENY\r\n",
            "\r\nStrict-Transport-Security: ",
            "\r\nContent-Security-Policy: default-src 'none'",
            "\r\nCache-Control: no-store\r\n",
        ] {
            assert!(s.contains(h), "{h:?} missing from {s:?}");
        }
        // A handler's own Cache-Control wins, and is not doubled.
        let mut out = Vec::new();
        let resp =
            Response::static_json(200, b"{}").with_header("Cache-Control", "private, no-store");
        encode(&resp, &ctx, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.matches("Cache-Control").count(), 1);
        assert!(!security_headers(false).windows(6).any(|w| w == b"Strict"));
    }

    #[test]
    fn head_keeps_length_and_drops_body() {
        let date = [b'x'; DATE_LEN];
        let ctx = EncodeContext {
            date: &date,
            request_id: b"r",
            keep_alive: false,
            http10: false,
            head_only: true,
            cors_origin: None,
            security: b"",
            credentialed: false,
        };
        let mut out = Vec::new();
        encode(&Response::static_json(200, b"{\"a\":1}"), &ctx, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("Content-Length: 7\r\n"));
        assert!(s.ends_with("Connection: close\r\n\r\n"));
    }
}
