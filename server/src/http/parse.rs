//! Request-head parsing: httparse for the grammar, then the framing rules that keep requests
//! from being smuggled (RFC 9112 sections 6 and 11).
//!
//! The parsed head refers to the connection's read buffer by byte ranges, so nothing is copied
//! and the buffer may grow (while a body arrives) without invalidating it.

use std::ops::Range;

use super::error::ProtoError;

/// Most header fields accepted in one request.
pub const MAX_HEADERS: usize = 64;

/// Request methods the server knows; anything else is answered 501. `TRACE` is registered
/// (RFC 9110 §9.3.8) but no route takes it: it gets 405 with `Allow`, like any registered
/// method a route does not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD (GET without the body)
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// TRACE (no route takes it: 405)
    Trace,
}

impl Method {
    fn from_bytes(b: &[u8]) -> Option<Method> {
        Some(match b {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"PATCH" => Method::Patch,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            _ => return None,
        })
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
        }
    }

    /// Dense index for metrics tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Every method, in index order.
    pub const ALL: [Method; 8] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
        Method::Trace,
    ];
}

/// HTTP version of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: keep-alive only when asked for.
    Http10,
    /// HTTP/1.1: keep-alive unless `Connection: close`.
    Http11,
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Limits applied while parsing a head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Request line plus headers.
    pub max_head_bytes: usize,
    /// Request target.
    pub max_uri_bytes: usize,
}

/// A parsed request head. Ranges index the buffer passed to [`parse_head`].
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Method.
    pub method: Method,
    /// Version.
    pub version: Version,
    /// Path without the query, starting with `/` (or `*` for `OPTIONS *`).
    pub path: Range<usize>,
    /// Query string without the `?`.
    pub query: Option<Range<usize>>,
    /// Bytes of the head, including the blank line.
    pub head_len: usize,
    /// Body framing.
    pub body: BodyFraming,
    /// Whether the connection may stay open after this request.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// `X-Request-Id` value.
    pub request_id: Option<Range<usize>>,
    /// W3C `traceparent` value.
    pub traceparent: Option<Range<usize>>,
    /// `Origin` value.
    pub origin: Option<Range<usize>>,
    /// `Access-Control-Request-Method` value (CORS preflight).
    pub acr_method: Option<Range<usize>>,
    /// `Access-Control-Request-Headers` value (CORS preflight).
    pub acr_headers: Option<Range<usize>>,
    /// `Authorization` value.
    pub authorization: Option<Range<usize>>,
    /// `X-API-Key` value.
    pub api_key: Option<Range<usize>>,
    /// `Content-Type` value.
    pub content_type: Option<Range<usize>>,
    /// `If-Match` value (conditional update).
    pub if_match: Option<Range<usize>>,
    /// `If-None-Match` value (conditional read).
    pub if_none_match: Option<Range<usize>>,
    /// The last `X-Forwarded-For` value (what the nearest proxy appended; believed only from
    /// a trusted proxy, `net::forwarded`).
    pub forwarded_for: Option<Range<usize>>,
}

fn range_of(buf: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    start..start + part.len()
}

/// Finds a bare LF (an LF not preceded by CR) in `head`.
fn has_bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| i == 0 || head[i - 1] != b'\r')
}

/// Whether `list` (a comma-separated header value) contains `token`, case-insensitively.
fn has_token(list: &[u8], token: &[u8]) -> bool {
    list.split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Parses a Content-Length value: one or more comma-separated copies of the same decimal
/// number. Signs, spaces inside digits, empty elements and overflow are refused.
fn parse_content_length(v: &[u8]) -> Result<u64, ProtoError> {
    let mut value: Option<u64> = None;
    for part in v.split(|b| *b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return Err(ProtoError::BadContentLength);
        }
        let mut n: u64 = 0;
        for d in part {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(ProtoError::BadContentLength)?;
        }
        match value {
            Some(prev) if prev != n => return Err(ProtoError::BadContentLength),
            _ => value = Some(n),
        }
    }
    value.ok_or(ProtoError::BadContentLength)
}

/// Parses a request head from the start of `buf`.
///
/// `Ok(None)`: incomplete, read more. `Err`: answer with the error's status and close.
pub fn parse_head(buf: &[u8], limits: &HeadLimits) -> Result<Option<RequestHead>, ProtoError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return match check_partial(buf, limits) {
                Some(e) => Err(e),
                None => Ok(None),
            }
        }
        Err(e) => return on_grammar_error(e, buf, limits),
    };
    check_head_bytes(&buf[..head_len], limits)?;
    let (method, version, target) = request_line(&req, limits)?;
    let (path, query) = split_target(buf, target, method)?;
    let mut head = RequestHead::new(method, version, path, query, head_len);
    let mut framing = FramingFields::default();
    for h in req.headers.iter() {
        take_field(&mut head, &mut framing, buf, h.name.as_bytes(), h.value)?;
    }
    framing.settle(&mut head, version)?;
    Ok(Some(head))
}

/// What a head httparse refused is answered with.
#[inline]
fn on_grammar_error(
    e: httparse::Error,
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<RequestHead>, ProtoError> {
    match e {
        httparse::Error::TooManyHeaders => Err(ProtoError::TooManyHeaders),
        httparse::Error::Version => on_version_error(buf, limits),
        httparse::Error::HeaderName => Err(ProtoError::BadHeader),
        httparse::Error::HeaderValue => Err(ProtoError::BadHeader),
        httparse::Error::NewLine => Err(ProtoError::BareLf),
        // A long garbage request line is still "URI too long" to the client.
        _ => Err(check_partial(buf, limits).unwrap_or(ProtoError::BadRequestLine)),
    }
}

/// The whole head (`head`, blank line included): within the size limit, and no bare LF.
#[inline(always)]
fn check_head_bytes(head: &[u8], limits: &HeadLimits) -> Result<(), ProtoError> {
    if head.len() > limits.max_head_bytes {
        return Err(ProtoError::HeadersTooLarge);
    }
    if has_bare_lf(head) {
        return Err(ProtoError::BareLf);
    }
    Ok(())
}

/// The request line: a known method, a target within the URI limit, and the version.
#[inline(always)]
fn request_line<'b>(
    req: &httparse::Request<'_, 'b>,
    limits: &HeadLimits,
) -> Result<(Method, Version, &'b str), ProtoError> {
    let (Some(method_s), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(ProtoError::BadRequestLine);
    };
    if target.len() > limits.max_uri_bytes {
        return Err(ProtoError::UriTooLong);
    }
    let method = Method::from_bytes(method_s.as_bytes()).ok_or(ProtoError::UnknownMethod)?;
    let version = if version == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    Ok((method, version, target))
}

/// The path and query ranges of `target` (which lies in `buf`), in any of the three forms an
/// origin server takes.
#[inline(always)]
fn split_target(
    buf: &[u8],
    target: &str,
    method: Method,
) -> Result<(Range<usize>, Option<Range<usize>>), ProtoError> {
    let target_range = range_of(buf, target.as_bytes());
    Ok(if target == "*" {
        // Asterisk-form is for OPTIONS only (RFC 9112 §3.2.4).
        if method != Method::Options {
            return Err(ProtoError::BadRequestLine);
        }
        (target_range, None)
    } else if target.starts_with('/') {
        split_path_query(target.as_bytes(), target_range.start)
    } else {
        // RFC 9112 §3.2.2: an origin server MUST accept absolute-form too; the path and query
        // come from the target and its authority stands in for Host, which is ignored (but
        // still required in HTTP/1.1 and still checked, §3.2). Authority-form (CONNECT) and
        // any other scheme are 400.
        let (scheme_len, path_off) = absolute_form(target.as_bytes())?;
        let (mut path, query) = split_path_query(
            &target.as_bytes()[path_off..],
            target_range.start + path_off,
        );
        if path.is_empty() {
            // An empty path is "/" (RFC 9110 §4.2.3). The head can only point into the buffer,
            // so the last '/' of the scheme's "//" stands in for it.
            let slash = target_range.start + scheme_len - 1;
            path = slash..slash + 1;
        }
        (path, query)
    })
}

impl RequestHead {
    /// A head with its request line read and no header field yet.
    #[inline(always)]
    fn new(
        method: Method,
        version: Version,
        path: Range<usize>,
        query: Option<Range<usize>>,
        head_len: usize,
    ) -> RequestHead {
        RequestHead {
            method,
            version,
            path,
            query,
            head_len,
            body: BodyFraming::None,
            keep_alive: version == Version::Http11,
            expect_continue: false,
            request_id: None,
            traceparent: None,
            origin: None,
            acr_method: None,
            acr_headers: None,
            authorization: None,
            api_key: None,
            content_type: None,
            if_match: None,
            if_none_match: None,
            forwarded_for: None,
        }
    }
}

/// The fields that frame the message and decide the connection (Host, Connection,
/// Content-Length, Transfer-Encoding), as they are read; [`FramingFields::settle`] checks them
/// together once all are in.
#[derive(Default)]
struct FramingFields {
    content_length: Option<u64>,
    chunked: bool,
    transfer_encoding: bool,
    hosts: u32,
    conn_close: bool,
    conn_keep_alive: bool,
}

/// Takes one header field: the framing fields into `framing`, the values the server uses into
/// `head` (as ranges of `buf`), anything else ignored. httparse accepts obs-text and HTAB in
/// values; NUL, CR and LF never get through.
#[inline(always)]
fn take_field(
    head: &mut RequestHead,
    framing: &mut FramingFields,
    buf: &[u8],
    name: &[u8],
    value: &[u8],
) -> Result<(), ProtoError> {
    match name.len() {
        4 if name.eq_ignore_ascii_case(b"host") => framing.host(value)?,
        6 if name.eq_ignore_ascii_case(b"expect") => {
            if value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                head.expect_continue = true;
            } else {
                return Err(ProtoError::ExpectationFailed);
            }
        }
        6 if name.eq_ignore_ascii_case(b"origin") => {
            head.origin = Some(range_of(buf, value));
        }
        8 if name.eq_ignore_ascii_case(b"if-match") => {
            head.if_match = Some(range_of(buf, value));
        }
        13 if name.eq_ignore_ascii_case(b"if-none-match") => {
            head.if_none_match = Some(range_of(buf, value));
        }
        9 if name.eq_ignore_ascii_case(b"x-api-key") => {
            // Like Authorization below: one credential, never a choice between two.
            if head.api_key.is_some() {
                return Err(ProtoError::RepeatedCredential);
            }
            head.api_key = Some(range_of(buf, value));
        }
        10 if name.eq_ignore_ascii_case(b"connection") => framing.connection(value),
        11 if name.eq_ignore_ascii_case(b"traceparent") => {
            head.traceparent = Some(range_of(buf, value));
        }
        12 if name.eq_ignore_ascii_case(b"x-request-id") => {
            head.request_id = Some(range_of(buf, value));
        }
        12 if name.eq_ignore_ascii_case(b"content-type") => {
            head.content_type = Some(range_of(buf, value));
        }
        13 if name.eq_ignore_ascii_case(b"authorization") => {
            // Authorization is a singleton, not a list (RFC 9110 §5.3, §11.6.2): two of them
            // cannot be combined, and taking either would let a front proxy and this server
            // act on different credentials. 400, never a pick.
            if head.authorization.is_some() {
                return Err(ProtoError::RepeatedCredential);
            }
            head.authorization = Some(range_of(buf, value));
        }
        15 if name.eq_ignore_ascii_case(b"x-forwarded-for") => {
            head.forwarded_for = Some(range_of(buf, value));
        }
        14 if name.eq_ignore_ascii_case(b"content-length") => framing.content_length(value)?,
        17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
            framing.transfer_encoding(value)?;
        }
        29 if name.eq_ignore_ascii_case(b"access-control-request-method") => {
            head.acr_method = Some(range_of(buf, value));
        }
        30 if name.eq_ignore_ascii_case(b"access-control-request-headers") => {
            head.acr_headers = Some(range_of(buf, value));
        }
        _ => {}
    }
    Ok(())
}

impl FramingFields {
    /// A Host field. RFC 9112 §3.2: an invalid Host value is 400, like a missing or repeated
    /// one. An empty value is what a client sends for a target without authority.
    #[inline(always)]
    fn host(&mut self, value: &[u8]) -> Result<(), ProtoError> {
        if !is_host_value(value) {
            return Err(ProtoError::BadHost);
        }
        self.hosts += 1;
        Ok(())
    }

    /// A Connection field: its `close` and `keep-alive` options.
    #[inline(always)]
    fn connection(&mut self, value: &[u8]) {
        self.conn_close |= has_token(value, b"close");
        self.conn_keep_alive |= has_token(value, b"keep-alive");
    }

    /// A Content-Length field: repeated ones must agree.
    #[inline(always)]
    fn content_length(&mut self, value: &[u8]) -> Result<(), ProtoError> {
        let n = parse_content_length(value)?;
        if self.content_length.is_some_and(|prev| prev != n) {
            return Err(ProtoError::BadContentLength);
        }
        self.content_length = Some(n);
        Ok(())
    }

    /// A Transfer-Encoding field: chunked is the only coding taken, and it must come last.
    #[inline(always)]
    fn transfer_encoding(&mut self, value: &[u8]) -> Result<(), ProtoError> {
        self.transfer_encoding = true;
        for coding in value.split(|b| *b == b',') {
            let coding = coding.trim_ascii();
            if coding.is_empty() {
                continue;
            }
            if self.chunked {
                // Anything after chunked (including a second chunked) is invalid.
                return Err(ProtoError::BadTransferEncoding);
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                self.chunked = true;
            } else {
                return Err(ProtoError::UnsupportedTransferEncoding);
            }
        }
        Ok(())
    }

    /// Once every field is read: Host, the body's framing, keep-alive and the expectation.
    #[inline(always)]
    fn settle(self, head: &mut RequestHead, version: Version) -> Result<(), ProtoError> {
        // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any request,
        // HTTP/1.0 included, with more than one.
        if self.hosts > 1 || (version == Version::Http11 && self.hosts == 0) {
            return Err(ProtoError::BadHost);
        }
        if self.transfer_encoding {
            if self.content_length.is_some() || version == Version::Http10 {
                return Err(ProtoError::BadTransferEncoding);
            }
            if !self.chunked {
                return Err(ProtoError::BadTransferEncoding);
            }
            head.body = BodyFraming::Chunked;
        } else if let Some(n) = self.content_length {
            head.body = if n == 0 {
                BodyFraming::None
            } else {
                BodyFraming::Length(n)
            };
        }
        head.keep_alive = match version {
            Version::Http11 => !self.conn_close,
            Version::Http10 => self.conn_keep_alive && !self.conn_close,
        };
        // No content, no interim response; and RFC 9110 §10.1.1: a 100-continue expectation in
        // an HTTP/1.0 request MUST be ignored (an HTTP/1.0 client cannot read a 1xx).
        if head.body == BodyFraming::None || version == Version::Http10 {
            head.expect_continue = false;
        }
        Ok(())
    }
}

/// Splits `target` (origin-form, or what follows an absolute-form's authority), found at `at`
/// in the buffer, into path and query ranges.
///
/// A fragment (`#`) is not refused although it is never part of a request target (RFC 9112
/// §3.2.1): a 400 there is only a SHOULD (§3), looking for it cost the wrk GET 4% more
/// instructions under callgrind, and here it can only make a path unknown (404) or a query
/// parameter invalid.
#[inline]
fn split_path_query(target: &[u8], at: usize) -> (Range<usize>, Option<Range<usize>>) {
    let end = at + target.len();
    match memchr::memchr(b'?', target) {
        Some(q) => (at..at + q, Some(at + q + 1..end)),
        None => (at..end, None),
    }
}

/// Checks an absolute-form target (RFC 9112 §3.2.2): `http://` or `https://` (any case), a
/// non-empty authority without userinfo (RFC 9110 §4.2.1, §4.2.4), then the path. Returns the
/// scheme's length with its "//" and the offset where the path (maybe empty) begins.
fn absolute_form(target: &[u8]) -> Result<(usize, usize), ProtoError> {
    let scheme_len = if starts_with_ignore_case(target, b"http://") {
        7
    } else if starts_with_ignore_case(target, b"https://") {
        8
    } else {
        return Err(ProtoError::BadRequestLine);
    };
    let rest = &target[scheme_len..];
    let authority_len = memchr::memchr2(b'/', b'?', rest).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    // `host_len` refuses '@' (userinfo) and an empty host.
    if host_len(authority) == 0 {
        return Err(ProtoError::BadRequestLine);
    }
    Ok((scheme_len, scheme_len + authority_len))
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Whether a Host value (httparse has trimmed it) is made only of what `uri-host [ ":" port ]`
/// can hold (RFC 9110 §7.2, RFC 3986 §3.2.2): no whitespace, '/', '?', '#', '@', quote,
/// backslash or non-ASCII byte. Every request pays for this, so it is one table lookup a byte
/// without a branch, and the order of ':', '[' and ']' goes unchecked. Measured with callgrind
/// on the wrk GET (`Host: 127.0.0.1:8080`): the strict `host_len` made `parse_head` 7% dearer,
/// this loop (with the other checks this file gained with it) 4%.
fn is_host_value(v: &[u8]) -> bool {
    let mut classes = HOST_CHAR;
    for b in v {
        classes &= HOST_BYTE[usize::from(*b)];
    }
    classes & HOST_CHAR != 0
}

/// `uri-host [ ":" port ]` strictly, for an absolute-form target's authority (rare, so not
/// tuned): an IP literal in brackets, or a non-empty reg-name / IPv4 address, then an optional
/// decimal port. Returns the host's length: 0 when `v` is not a valid authority.
fn host_len(v: &[u8]) -> usize {
    let host_end = match v.iter().rposition(|b| !b.is_ascii_digit()) {
        Some(colon) if v[colon] == b':' => colon,
        _ => v.len(),
    };
    let host = &v[..host_end];
    let all = |s: &[u8], class: u8| {
        s.iter()
            .all(|b| HOST_BYTE[usize::from(*b)] & class == class)
    };
    match host {
        // Hex digits, '.' and ':' (or an IPvFuture's reg-name bytes) within the brackets.
        [b'[', literal @ .., b']'] if !literal.is_empty() && all(literal, HOST_CHAR) => host_end,
        _ if !host.is_empty() && all(host, REG_NAME) => host_end,
        _ => 0,
    }
}

/// [`HOST_BYTE`]: any byte a Host value may hold: a reg-name's, or ':', '[' and ']', which
/// separate a port or bracket an IP literal.
const HOST_CHAR: u8 = 0b10;
/// [`HOST_BYTE`]: a byte of a reg-name (unreserved, sub-delims and '%' in RFC 3986).
const REG_NAME: u8 = 0b11;

/// What each byte can be in a Host value: [`REG_NAME`], [`HOST_CHAR`] only, or 0: never.
static HOST_BYTE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            ) {
            REG_NAME
        } else if matches!(c, b':' | b'[' | b']') {
            HOST_CHAR
        } else {
            0
        };
        b += 1;
    }
    table
};

/// httparse knows HTTP/1.0 and HTTP/1.1 only. For anything else where the version belongs:
/// a higher HTTP/1 minor version is served as HTTP/1.1 (RFC 9112 §2.3: "SHOULD process the
/// message as if it were in the highest minor version ... to which the recipient is
/// conformant"); another major version is 505 (RFC 9110 §15.6.6); anything that is not
/// `HTTP/DIGIT.DIGIT` at all (a lower-case name, a doubled space, a space inside the target)
/// is a malformed request line, 400 (RFC 9112 §3).
fn on_version_error(buf: &[u8], limits: &HeadLimits) -> Result<Option<RequestHead>, ProtoError> {
    // httparse stops as soon as a version cannot match; decide on the whole line.
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let Some(nl) = memchr::memchr(b'\n', &buf[start..]) else {
        return check_partial(buf, limits).map_or(Ok(None), Err);
    };
    let line = &buf[start..start + nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|b| *b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProtoError::BadRequestLine);
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if (b'2'..=b'9').contains(minor) => {
            // Rare enough to pay for a copy: the same bytes with the minor version set to 1,
            // so every range of the parsed head is valid in `buf` too.
            let mut as_http11 = buf.to_vec();
            as_http11[start + line.len() - 1] = b'1';
            parse_head(&as_http11, limits)
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(ProtoError::VersionNotSupported)
        }
        _ => Err(ProtoError::BadRequestLine),
    }
}

/// For an incomplete head: is it already over a limit?
fn check_partial(buf: &[u8], limits: &HeadLimits) -> Option<ProtoError> {
    // Skip the empty lines a client may send before the request line (RFC 9112 2.2).
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    // Request line = method SP target SP version; allow room for method and version.
    let line_limit = limits.max_uri_bytes + 32;
    match memchr::memchr(b'\n', line) {
        None if line.len() > line_limit => Some(ProtoError::UriTooLong),
        Some(n) if n > line_limit => Some(ProtoError::UriTooLong),
        _ if buf.len() > limits.max_head_bytes => Some(ProtoError::HeadersTooLarge),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_head_bytes: 16 * 1024,
        max_uri_bytes: 8 * 1024,
    };

    fn parse(s: &[u8]) -> Result<Option<RequestHead>, ProtoError> {
        parse_head(s, &LIMITS)
    }

    #[test]
    fn simple_get() {
        let buf = b"GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
        let h = parse(buf).unwrap().unwrap();
        assert_eq!(h.method, Method::Get);
        assert_eq!(&buf[h.path.clone()], b"/healthz");
        assert_eq!(&buf[h.query.clone().unwrap()], b"x=1");
        assert!(h.keep_alive);
        assert_eq!(h.head_len, buf.len());
    }

    #[test]
    fn partial_is_none() {
        assert!(parse(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
            .unwrap()
            .is_none());
    }

    #[test]
    fn http10_keep_alive_rules() {
        let h = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
    }

    #[test]
    fn smuggling_cases_are_refused() {
        let cases: &[(&[u8], ProtoError)] = &[
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                ProtoError::BadTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                ProtoError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
                ProtoError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
                ProtoError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                ProtoError::BadContentLength,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
                ProtoError::BadContentLength,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
                ProtoError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
                ProtoError::BadHeader,
            ),
            (b"GET / HTTP/1.1\nHost: a\n\n", ProtoError::BareLf),
            (b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", ProtoError::BareLf),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n",
                ProtoError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
                ProtoError::BadHeader,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                ProtoError::UnsupportedTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                ProtoError::BadTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                ProtoError::BadTransferEncoding,
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                ProtoError::BadTransferEncoding,
            ),
            (b"GET / HTTP/1.1\r\n\r\n", ProtoError::BadHost),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                ProtoError::BadHost,
            ),
            (b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", ProtoError::UnknownMethod),
            (
                b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
                ProtoError::BadHost,
            ),
            (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ProtoError::BadHost),
            (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ProtoError::BadHost),
            (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ProtoError::BadHost),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nauthorization: Bearer y\r\n\r\n",
                ProtoError::RepeatedCredential,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: x\r\nX-API-Key: x\r\n\r\n",
                ProtoError::RepeatedCredential,
            ),
            (b"GET h:443 HTTP/1.1\r\nHost: a\r\n\r\n", ProtoError::BadRequestLine),
            (b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", ProtoError::BadRequestLine),
            (b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", ProtoError::BadRequestLine),
            (b"GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n", ProtoError::BadRequestLine),
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", ProtoError::BadRequestLine),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", ProtoError::VersionNotSupported),
            (b"GET / http/1.1\r\nHost: a\r\n\r\n", ProtoError::BadRequestLine),
            (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", ProtoError::BadRequestLine),
            (b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", ProtoError::BadRequestLine),
        ];
        for (input, want) in cases {
            let got = parse(input).err();
            assert_eq!(
                got,
                Some(*want),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn absolute_form_targets_route_by_their_path() {
        // (request, path, query)
        type Case = (&'static [u8], &'static [u8], Option<&'static [u8]>);
        let cases: &[Case] = &[
            (
                b"GET http://a/healthz HTTP/1.1\r\nHost: b\r\n\r\n",
                b"/healthz",
                None,
            ),
            (
                b"GET HTTPS://a:8443/x?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
                b"/x",
                Some(b"q=1"),
            ),
            (
                b"GET http://[::1]:80 HTTP/1.1\r\nHost: a\r\n\r\n",
                b"/",
                None,
            ),
            (
                b"GET http://a?q HTTP/1.1\r\nHost: a\r\n\r\n",
                b"/",
                Some(b"q"),
            ),
        ];
        for (input, path, query) in cases {
            let h = parse(input).unwrap().unwrap();
            assert_eq!(&input[h.path.clone()], *path);
            assert_eq!(h.query.clone().map(|q| &input[q]), *query);
        }
        for bad in ["http://a:8x/", "http://[::1/", "http://[]/", "http://:80/"] {
            let req = format!("GET {bad} HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(
                parse(req.as_bytes()).err(),
                Some(ProtoError::BadRequestLine),
                "{bad}"
            );
        }
        // Host is still required in HTTP/1.1 (RFC 9112 §3.2).
        assert_eq!(
            parse(b"GET http://a/ HTTP/1.1\r\n\r\n").err(),
            Some(ProtoError::BadHost)
        );
    }

    #[test]
    fn higher_http1_minor_versions_are_http11() {
        let buf = b"GET /healthz HTTP/1.7\r\nHost: a\r\nConnection: close\r\n\r\n";
        let h = parse(buf).unwrap().unwrap();
        assert_eq!(h.version, Version::Http11);
        assert_eq!(&buf[h.path.clone()], b"/healthz");
        assert!(!h.keep_alive);
        assert!(parse(b"GET /healthz HTTP/1.7\r\nHost: a\r\n")
            .unwrap()
            .is_none());
    }

    #[test]
    fn valid_hosts_and_single_credentials_pass() {
        for host in [
            "a",
            "a.b-c_d~e",
            "127.0.0.1:8080",
            "[::1]:80",
            "[::1]",
            "a:",
            "",
            // Not a host[:port], but only the bytes are checked on this hot path.
            "a:8x",
        ] {
            let req = format!(
                "GET / HTTP/1.1\r\nHost: {host}\r\nAuthorization: x\r\nX-API-Key: y\r\n\r\n"
            );
            assert!(parse(req.as_bytes()).unwrap().is_some(), "{host}");
        }
    }

    #[test]
    fn identical_content_lengths_are_one() {
        let h =
            parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(h.body, BodyFraming::Length(5));
    }

    #[test]
    fn limits() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(
            parse(long_uri.as_bytes()).err(),
            Some(ProtoError::UriTooLong)
        );
        let partial_long = format!("GET /{}", "a".repeat(9000));
        assert_eq!(
            parse(partial_long.as_bytes()).err(),
            Some(ProtoError::UriTooLong)
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "b".repeat(17000)
        );
        assert_eq!(
            parse(big.as_bytes()).err(),
            Some(ProtoError::HeadersTooLarge)
        );
        let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..70 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(
            parse(many.as_bytes()).err(),
            Some(ProtoError::TooManyHeaders)
        );
    }

    #[test]
    fn expect_continue_only_with_body() {
        let h = parse(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expect_continue);
        // RFC 9110 §10.1.1: ignored in HTTP/1.0.
        let h = parse(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.expect_continue);
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\nContent-Length: 3\r\n\r\n").err(),
            Some(ProtoError::ExpectationFailed)
        );
    }
}
