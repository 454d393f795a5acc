//! Minimal HTTP/1.1 for the load generator: request encoding, and response framing by
//! Content-Length, chunked transfer coding, or the end of the connection.

use std::ops::Range;

/// Why a response could not be read (the connection is closed after any of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// The head is not HTTP/1.x.
    BadHead,
    /// A Content-Length that is not a number, or two that differ.
    BadLength,
    /// A malformed chunk.
    BadChunk,
    /// More than 64 header lines.
    TooManyHeaders,
}

/// A complete response found at the start of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Bytes of the buffer it used (head and body).
    pub consumed: usize,
    /// The body: a range of the buffer for Content-Length and read-to-end responses.
    pub body: Body,
    /// The server will close (or closed) the connection after it.
    pub close: bool,
}

/// Where a response's body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// In the buffer, as sent.
    Range(Range<usize>),
    /// Decoded from chunks.
    Chunked(Vec<u8>),
}

impl Response {
    /// The body's bytes, given the buffer the response was parsed from.
    pub fn body<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        match &self.body {
            Body::Range(r) => buf.get(r.clone()).unwrap_or_default(),
            Body::Chunked(v) => v,
        }
    }
}

/// Appends an HTTP/1.1 request: keep-alive, a Bearer token when given, a JSON body when given.
pub fn encode_request(
    out: &mut Vec<u8>,
    method: &str,
    path: &[u8],
    host: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nUser-Agent: campushub-load\r\nAccept: application/json\r\n");
    if let Some(t) = token {
        out.extend_from_slice(b"Authorization: Bearer ");
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(b) = body {
        out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
        out.extend_from_slice(b.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(b);
    } else {
        out.extend_from_slice(b"\r\n");
    }
}

/// Looks for a complete response at the start of `buf`. `eof`: the peer has closed, so a
/// response without framing ends here. `Ok(None)`: read more.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<Response>, ResponseError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::TooManyHeaders),
        Err(_) => return Err(ResponseError::BadHead),
    };
    let status = resp.code.ok_or(ResponseError::BadHead)?;
    let mut close = resp.version == Some(0);
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or(ResponseError::BadLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(ResponseError::BadLength);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .split(|&b| b == b',')
                .next_back()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
    }
    // No body: 1xx, 204 and 304 (RFC 9112 section 6.3).
    if status < 200 || status == 204 || status == 304 {
        return Ok(Some(Response {
            status,
            consumed: head_len,
            body: Body::Range(head_len..head_len),
            close,
        }));
    }
    if chunked {
        return Ok(
            decode_chunked(&buf[head_len..])?.map(|(body, used)| Response {
                status,
                consumed: head_len + used,
                body: Body::Chunked(body),
                close,
            }),
        );
    }
    if let Some(n) = length {
        let end = head_len.checked_add(n).ok_or(ResponseError::BadLength)?;
        if buf.len() < end {
            return Ok(None);
        }
        return Ok(Some(Response {
            status,
            consumed: end,
            body: Body::Range(head_len..end),
            close,
        }));
    }
    // Neither: the body runs to the end of the connection.
    if !eof {
        return Ok(None);
    }
    Ok(Some(Response {
        status,
        consumed: buf.len(),
        body: Body::Range(head_len..buf.len()),
        close: true,
    }))
}

/// Decodes a chunked body at the start of `buf`: the body and the bytes used, or `None` when
/// incomplete. Chunk extensions are skipped; trailers are read and dropped.
fn decode_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, ResponseError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            return if buf.len() - pos > 1024 {
                Err(ResponseError::BadChunk)
            } else {
                Ok(None)
            };
        };
        let line = &buf[pos..pos + line_end];
        let size_part = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let size = std::str::from_utf8(size_part)
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 15)
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or(ResponseError::BadChunk)?;
        pos += line_end + 2;
        if size == 0 {
            // Trailer lines, then an empty line.
            loop {
                let Some(end) = find_crlf(&buf[pos..]) else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(ResponseError::BadChunk);
        }
        pos += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_get_and_post() {
        let mut out = Vec::new();
        encode_request(&mut out, "GET", b"/a?b=1", "h:1", Some("tok"), None);
        assert_eq!(
            out,
            b"GET /a?b=1 HTTP/1.1\r\nHost: h:1\r\nUser-Agent: campushub-load\r\nAccept: application/json\r\nAuthorization: Bearer tok\r\n\r\n"
        );
        out.clear();
        encode_request(&mut out, "POST", b"/l", "h", None, Some(b"{}"));
        assert!(out.ends_with(b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(!out.windows(13).any(|w| w == b"Authorization"));
    }

    #[test]
    fn content_length_responses_and_pipelined_leftovers() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        let r = parse_response(two, false).unwrap().unwrap();
        assert_eq!((r.status, r.close), (200, false));
        assert_eq!(r.body(two), b"hello");
        let r2 = parse_response(&two[r.consumed..], false).unwrap().unwrap();
        assert_eq!(r2.status, 404);
        assert_eq!(r.consumed + r2.consumed, two.len());
    }

    #[test]
    fn incomplete_heads_and_bodies_ask_for_more() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full[..cut], false),
                Ok(None),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn chunked_bodies_decode_at_any_cut() {
        let full = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full[..cut], false),
                Ok(None),
                "cut at {cut}"
            );
        }
        let r = parse_response(full, false).unwrap().unwrap();
        assert_eq!(r.body(full), b"hello world");
        assert_eq!(r.consumed, full.len());
    }

    #[test]
    fn connection_close_and_read_to_end() {
        let b = b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nbye";
        assert_eq!(parse_response(b, false), Ok(None));
        let r = parse_response(b, true).unwrap().unwrap();
        assert_eq!((r.status, r.close), (503, true));
        assert_eq!(r.body(b), b"bye");
        let r = parse_response(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(r.close, "HTTP/1.0 closes by default");
        let r = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(r.consumed, 27);
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert_eq!(
            parse_response(b"HTTX/1.1 200 OK\r\n\r\n", false),
            Err(ResponseError::BadHead)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false),
            Err(ResponseError::BadLength)
        );
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            ),
            Err(ResponseError::BadLength)
        );
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                false
            ),
            Err(ResponseError::BadChunk)
        );
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
                false
            ),
            Err(ResponseError::BadChunk)
        );
    }
}
