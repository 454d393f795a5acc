//! HTTP/1.1 conformance against the real server, raw bytes in and exact statuses and headers
//! out, one test per section of RFC 9112 (message syntax) and RFC 9110 (semantics) it checks.
//! tests/protocol.rs holds the framing, limit and timeout cases this file does not repeat.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{parse_responses, read_to_close, Resp, TestServer};

/// The head of a log-in: its answer to a body that is not credentials (422, problem+json,
/// no database work) shows that the body was read, and where it ended.
const LOGIN: &str =
    "POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n";
/// Pipelined after a body: answered only if the body before it was framed exactly.
const NEXT: &[u8] =
    b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: next\r\nConnection: close\r\n\r\n";
/// What the log-in answers to `{}`, `""` or any other non-credential body.
const NOT_CREDENTIALS: u16 = 422;

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 300 {
        format!("{}...({} bytes)", &s[..300], s.len())
    } else {
        s.into_owned()
    }
}

/// Every response to `req`, sent on a fresh connection read until the server closes it.
fn exchange(server: &TestServer, req: &[u8]) -> Vec<Resp> {
    parse_responses(&server.raw(req), &[])
}

fn statuses(r: &[Resp]) -> Vec<u16> {
    r.iter().map(|r| r.status).collect()
}

/// `req` (which must end its connection) gets exactly one response, with `status`.
fn answered(server: &TestServer, req: &[u8], status: u16) -> Resp {
    let bytes = server.raw(req);
    let mut r = parse_responses(&bytes, &[]);
    assert_eq!(
        statuses(&r),
        vec![status],
        "for {:?}: {}",
        show(req),
        show(&bytes)
    );
    r.remove(0)
}

/// `req` is refused: one problem+json response with `status` and `Connection: close`, and
/// nothing after it is served (`req` gets a valid request appended that must go unanswered).
fn refused(server: &TestServer, req: &[u8], status: u16) -> Resp {
    let mut with_next = req.to_vec();
    with_next.extend_from_slice(NEXT);
    let r = answered(server, &with_next, status);
    assert_eq!(r.header("Connection"), Some("close"), "for {:?}", show(req));
    assert_eq!(
        r.header("Content-Type"),
        Some("application/problem+json"),
        "for {:?}",
        show(req)
    );
    assert_eq!(r.json()["status"], status);
    r
}

/// A log-in with extra head `fields` and then `body`, and [`NEXT`] pipelined behind it: both
/// are answered, in order, so the body was framed exactly.
fn assert_framed(server: &TestServer, fields: &str, body: &[u8]) {
    let mut req = format!("{LOGIN}{fields}\r\n").into_bytes();
    req.extend_from_slice(body);
    req.extend_from_slice(NEXT);
    let bytes = server.raw(&req);
    let r = parse_responses(&bytes, &[]);
    assert_eq!(
        statuses(&r),
        vec![NOT_CREDENTIALS, 200],
        "for {:?}: {}",
        show(&req),
        show(&bytes)
    );
    assert_eq!(
        r[0].header("Content-Type"),
        Some("application/problem+json")
    );
    assert_eq!(r[0].header("Connection"), None, "kept open");
    assert_eq!(r[1].header("X-Request-Id"), Some("next"));
}

/// Reads one response (a 1xx included) from a connection that stays open; bytes after it
/// stay in `pending`.
fn read_one(s: &mut TcpStream, pending: &mut Vec<u8>) -> Resp {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&pending[..end]).unwrap();
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            let len = if status < 200 {
                0
            } else {
                head.split("\r\n")
                    .filter_map(|l| l.split_once(": "))
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse::<usize>().unwrap())
            };
            let total = end + 4 + len;
            if pending.len() >= total {
                let r = parse_responses(&pending[..total], &[]).remove(0);
                pending.drain(..total);
                return r;
            }
        }
        let mut buf = [0u8; 16384];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before a whole response: {}", show(pending));
        pending.extend_from_slice(&buf[..n]);
    }
}

/// The connection is still usable: a last request with `Connection: close` is answered and
/// then the server closes.
fn assert_still_open(s: &mut TcpStream, pending: &mut Vec<u8>) {
    s.write_all(NEXT).unwrap();
    pending.extend_from_slice(&read_to_close(s));
    let r = parse_responses(pending, &[]);
    assert_eq!(statuses(&r), vec![200], "{}", show(pending));
    assert_eq!(r[0].header("X-Request-Id"), Some("next"));
}

/// RFC 9112 §2.2: empty lines before a request line are ignored (also between pipelined
/// requests); whitespace between the start line and the first field, and a bare CR, make
/// the message invalid (400).
#[test]
fn conformance_9112_2_2_message_parsing() {
    let server = TestServer::spawn(&[]);
    answered(
        &server,
        b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        200,
    );
    let r = exchange(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(statuses(&r), vec![200, 200]);
    for bad in [
        &b"GET /healthz HTTP/1.1\r\n Host: t\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\n\tX-A: b\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.1\rHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\r\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
}

/// RFC 9112 §2.3, RFC 9110 §6.2 and §15.6.6: HTTP/1.0 and HTTP/1.1 are served and answered
/// as HTTP/1.1; a higher HTTP/1 minor version is served as HTTP/1.1 (persistent by default);
/// another major version is 505; a version that is not `HTTP/DIGIT.DIGIT` (the name is
/// case-sensitive) is a malformed request line, 400.
#[test]
fn conformance_9112_2_3_http_version() {
    let server = TestServer::spawn(&[]);
    let bytes = server.raw(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert!(
        bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        show(&bytes)
    );

    // HTTP/1.2: served as HTTP/1.1, so the connection persists without any Connection field.
    let r = exchange(
        &server,
        b"GET /healthz HTTP/1.2\r\nHost: t\r\nX-Request-Id: one-two\r\n\r\nGET /healthz HTTP/1.9\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(statuses(&r), vec![200, 200]);
    assert_eq!(r[0].header("X-Request-Id"), Some("one-two"));
    assert_eq!(r[0].header("Connection"), None);
    // ... including its Host rule.
    refused(&server, b"GET /healthz HTTP/1.2\r\n\r\n", 400);

    for req in [
        &b"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n"[..],
        b"GET /healthz HTTP/3.0\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/0.9\r\nHost: t\r\n\r\n",
        // An HTTP/2 prior-knowledge preface.
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        let r = refused(&server, req, 505);
        assert_eq!(r.json()["type"], "/problems/version-not-supported");
    }
    for req in [
        &b"GET /healthz http/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET /healthz HTTP/1.10\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/01.1\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.x\r\nHost: t\r\n\r\n",
        // HTTP/0.9: no version at all.
        b"GET /healthz\r\n\r\n",
    ] {
        refused(&server, req, 400);
    }
}

/// RFC 9112 §3 and RFC 9110 §9.1: the request line is method SP target SP version with single
/// spaces; any other whitespace is 400. Methods are case-sensitive: `get` is an unknown
/// method, 501.
#[test]
fn conformance_9112_3_request_line() {
    let server = TestServer::spawn(&[]);
    for bad in [
        &b"GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET /healthz  HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET\t/healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /healthz\tHTTP/1.1\r\nHost: t\r\n\r\n",
        b" GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.1 \r\nHost: t\r\n\r\n",
        b"GET /heal thz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /healthz?a=b c HTTP/1.1\r\nHost: t\r\n\r\n",
        b"G(T /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let r = refused(&server, bad, 400);
        assert_eq!(r.json()["type"], "/problems/malformed-request");
    }
    let r = refused(&server, b"get /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 501);
    assert_eq!(r.json()["type"], "/problems/not-implemented");
}

/// RFC 9112 §3.2.1: origin-form is an absolute path and an optional query; a target that starts
/// with neither `/`, a scheme nor `*` is 400. (A `#` is not looked for: see
/// `split_path_query` in src/http/parse.rs.)
#[test]
fn conformance_9112_3_2_1_origin_form() {
    let server = TestServer::spawn(&[]);
    answered(
        &server,
        b"GET /healthz?x=1&y=%20 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        200,
    );
    answered(
        &server,
        b"GET /healthz? HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        200,
    );
    for bad in [
        &b"GET healthz HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET ?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
}

/// RFC 9112 §3.2.2: an origin server MUST accept absolute-form; it routes by the target's path
/// (an empty path is `/`, RFC 9110 §4.2.3) and ignores Host, which HTTP/1.1 still requires
/// (§3.2). Schemes other than http/https, an empty host (RFC 9110 §4.2.1) and userinfo
/// (RFC 9110 §4.2.4) are 400.
#[test]
fn conformance_9112_3_2_2_absolute_form() {
    let server = TestServer::spawn(&[]);
    answered(
        &server,
        b"GET http://campus.example/healthz HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
        200,
    );
    answered(
        &server,
        b"GET HTTPS://campus.example:8443/healthz?x=1 HTTP/1.1\r\nHost: campus.example:8443\r\nConnection: close\r\n\r\n",
        200,
    );
    answered(
        &server,
        b"GET http://[::1]:8080/healthz HTTP/1.0\r\n\r\n",
        200,
    );
    // Routed as "/": no such route, an ordinary 404, not a malformed request.
    let r = answered(
        &server,
        b"GET http://campus.example HTTP/1.1\r\nHost: campus.example\r\nConnection: close\r\n\r\n",
        404,
    );
    assert_eq!(r.json()["type"], "/problems/not-found");
    answered(
        &server,
        b"GET http://campus.example?x=1 HTTP/1.1\r\nHost: campus.example\r\nConnection: close\r\n\r\n",
        404,
    );
    // Bodies are framed the same way.
    let mut req =
        b"POST http://campus.example/api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_vec();
    req.extend_from_slice(NEXT);
    assert_eq!(
        statuses(&exchange(&server, &req)),
        vec![NOT_CREDENTIALS, 200]
    );

    let r = refused(
        &server,
        b"GET http://campus.example/healthz HTTP/1.1\r\n\r\n",
        400,
    );
    assert!(r.json()["detail"].as_str().unwrap().contains("Host"));
    for bad in [
        &b"GET ftp://campus.example/healthz HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET http:///healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://user@campus.example/healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://user:pw@campus.example/healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http:/healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://campus.example:80x/healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
}

/// RFC 9112 §3.2.3 and RFC 9110 §9.3.6: authority-form is only for CONNECT, which this origin
/// server does not implement (501); with any other method it is a malformed target, 400.
#[test]
fn conformance_9112_3_2_3_authority_form_only_for_connect() {
    let server = TestServer::spawn(&[]);
    refused(
        &server,
        b"CONNECT campus.example:443 HTTP/1.1\r\nHost: campus.example:443\r\n\r\n",
        501,
    );
    for bad in [
        &b"GET campus.example:443 HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"OPTIONS campus.example:443 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST campus.example:443 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
}

/// RFC 9112 §3.2.4: asterisk-form is only for OPTIONS (answered about the server as a whole);
/// with any other method it is 400.
#[test]
fn conformance_9112_3_2_4_asterisk_form_only_for_options() {
    let server = TestServer::spawn(&[]);
    answered(
        &server,
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        204,
    );
    for bad in [
        &b"GET * HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"HEAD * HTTP/1.1\r\nHost: t\r\n\r\n",
        b"DELETE * HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST * HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        b"OPTIONS *?x HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
}

/// RFC 9112 §3.2 (and RFC 9110 §7.2): 400 for an HTTP/1.1 request without Host, for any request
/// (HTTP/1.0 included) with more than one Host line, and for a Host value with a byte no
/// `host[:port]` can hold (whitespace, '/', '@', ...; the order of ':', '[' and ']' is not
/// checked on this hot path). HTTP/1.0 may omit Host; an empty value is allowed.
#[test]
fn conformance_9112_3_2_host() {
    let server = TestServer::spawn(&[]);
    for ok in [
        &b"GET /healthz HTTP/1.0\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: campus.example:8080\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nhOST: t\r\nConnection: close\r\n\r\n",
    ] {
        answered(&server, ok, 200);
    }
    for bad in [
        &b"GET /healthz HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nHost: evil.example\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nhost: evil.example\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\nHost: t\r\nHost: evil.example\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: campus example\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t, evil.example\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: user@campus.example\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: campus.example/healthz\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: campus.example?x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: campus.example#x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: campus.\xc3\xa9xample\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: \"campus.example\"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: campus\\example\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nX-Host: t\r\n\r\n",
    ] {
        let r = refused(&server, bad, 400);
        assert!(
            r.json()["detail"].as_str().unwrap().contains("Host"),
            "for {:?}",
            show(bad)
        );
    }
}

/// RFC 9112 §5.1: no whitespace is allowed between a field name and the colon; a server MUST
/// reject such a request with 400 (whatever the field: Host and the framing fields included).
#[test]
fn conformance_9112_5_1_whitespace_before_colon() {
    let server = TestServer::spawn(&[]);
    for bad in [
        &b"GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A\t: b\r\n\r\n",
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Length : 2\r\n\r\n{}",
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
}

/// RFC 9112 §5.2: obs-fold (a field line continued on the next line after SP or HTAB) is
/// rejected with 400 in requests.
#[test]
fn conformance_9112_5_2_obs_fold() {
    let server = TestServer::spawn(&[]);
    for bad in [
        &b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\r\n\tc\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost:\r\n t\r\n\r\n",
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
}

/// RFC 9110 §5.1 and §5.6.2: a field name is a token; separators, spaces, non-ASCII, an empty
/// name or a line without a colon make the request 400.
#[test]
fn conformance_9110_5_1_field_names() {
    let server = TestServer::spawn(&[]);
    for bad in [
        &b"GET /healthz HTTP/1.1\r\nHost: t\r\nX(A): b\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX\"A: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX/A: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-\xc3\xa9: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
    // Every tchar is allowed in a name.
    answered(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX!#$%&'*+-.^_`|~1: b\r\nConnection: close\r\n\r\n",
        200,
    );
}

/// RFC 9110 §5.5: NUL, CR and LF are never valid in a field value (400, not replaced), nor are
/// other controls such as DEL; HTAB, obs-text and an empty value are valid, and leading and
/// trailing whitespace is not part of the value.
#[test]
fn conformance_9110_5_5_field_values() {
    let server = TestServer::spawn(&[]);
    for bad in [
        &b"GET /healthz HTTP/1.1\r\nHost: t\0\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer a\rb\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\x01c\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\x7fc\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\x1bc\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
    answered(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b\tc\xff\x80\r\nX-Empty:\r\nX-Ows:  \t v \t \r\nConnection: close\r\n\r\n",
        200,
    );
    // Whitespace around a value is not part of it: the request id is echoed without it.
    let r = answered(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: \t trimmed-id \t\r\nConnection: close\r\n\r\n",
        200,
    );
    assert_eq!(r.header("X-Request-Id"), Some("trimmed-id"));
}

/// RFC 9112 §6.1: chunked is the only transfer coding this server understands (any case, once,
/// last); it frames the body exactly. Other codings are 501; chunked twice or not last is 400;
/// Transfer-Encoding in HTTP/1.0 is faulty framing, 400, even with Content-Length; empty list
/// elements are ignored (RFC 9110 §5.6.1.2).
#[test]
fn conformance_9112_6_1_transfer_encoding() {
    let server = TestServer::spawn(&[]);
    for te in [
        "Transfer-Encoding: chunked\r\n",
        "Transfer-Encoding: Chunked\r\n",
        "transfer-encoding: CHUNKED\r\n",
        "Transfer-Encoding: , chunked\r\n",
        "Transfer-Encoding: \t chunked \t\r\n",
    ] {
        assert_framed(&server, te, b"2\r\n{}\r\n0\r\n\r\n");
    }
    let login = |te: &str| {
        format!("POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\n{te}\r\n2\r\n{{}}\r\n0\r\n\r\n")
    };
    for te in [
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        "Transfer-Encoding:\r\n",
        "Transfer-Encoding: ,\r\n",
    ] {
        let r = refused(&server, login(te).as_bytes(), 400);
        assert!(r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("Transfer-Encoding"));
    }
    for te in [
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: x-campus\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked;q=1\r\n",
    ] {
        refused(&server, login(te).as_bytes(), 501);
    }
    for bad in [
        &b"POST /api/v1/auth/login HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n2\r\n{}\r\n0\r\n\r\n"[..],
        b"POST /api/v1/auth/login HTTP/1.0\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    ] {
        refused(&server, bad, 400);
    }
}

/// RFC 9112 §6.1 and §6.3 (3): a request with both Transfer-Encoding and Content-Length is
/// refused (400) and the connection closed, so whatever a proxy thought came next is never
/// served, whichever field comes first and whatever the length.
#[test]
fn conformance_9112_6_1_content_length_with_transfer_encoding() {
    let server = TestServer::spawn(&[]);
    // The body holds a whole request: answered only if the server used Content-Length (or
    // closed too late).
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: smuggled\r\n\r\n";
    for (first, second, body) in [
        (
            "Content-Length: 0",
            "Transfer-Encoding: chunked",
            format!("{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len()),
        ),
        (
            "Transfer-Encoding: chunked",
            "Content-Length: 5",
            format!("0\r\n\r\n{smuggled}"),
        ),
        (
            "content-length: 5",
            "TRANSFER-ENCODING: chunked",
            format!("0\r\n\r\n{smuggled}"),
        ),
        (
            "Content-Length: 2, 2",
            "Transfer-Encoding: chunked",
            format!("0\r\n\r\n{smuggled}"),
        ),
    ] {
        let req = format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{first}\r\n{second}\r\n\r\n{body}"
        );
        let r = refused(&server, req.as_bytes(), 400);
        assert_ne!(r.header("X-Request-Id"), Some("smuggled"));
    }
}

/// RFC 9112 §6.3 and RFC 9110 §8.6: Content-Length is one decimal number; repeated identical
/// values (lines or list) are that number; differing values, signs, hex, decimals, spaces
/// inside, empty elements and values that overflow are 400; without Content-Length or
/// Transfer-Encoding a request has no body (§6.3 (7)).
#[test]
fn conformance_9112_6_3_content_length() {
    let server = TestServer::spawn(&[]);
    for cl in [
        "Content-Length: 2\r\n",
        "Content-Length: 2\r\nContent-Length: 2\r\n",
        "Content-Length: 2, 2\r\n",
        "Content-Length: 2,2\r\ncontent-length: 2\r\n",
        "Content-Length: 0002\r\n",
        "Content-Length: 02\r\nContent-Length: 2\r\n",
        "Content-Length: \t 2 \t\r\n",
    ] {
        assert_framed(&server, cl, b"{}");
    }
    // No length at all: the body is empty and the next bytes are the next request.
    assert_framed(&server, "", b"");
    assert_framed(&server, "Content-Length: 0\r\n", b"");

    for cl in [
        "Content-Length: 2\r\nContent-Length: 3\r\n",
        "Content-Length: 2, 3\r\n",
        "Content-Length: 3\r\nContent-Length: 2\r\n",
        "Content-Length: +2\r\n",
        "Content-Length: -0\r\n",
        "Content-Length: 0x2\r\n",
        "Content-Length: 2.0\r\n",
        "Content-Length: 2e0\r\n",
        "Content-Length: 1 1\r\n",
        "Content-Length: \r\n",
        "Content-Length: ,2\r\n",
        "Content-Length: 2,\r\n",
        "Content-Length: ２\r\n",
        "Content-Length: 18446744073709551616\r\n",
    ] {
        let req = format!("{LOGIN}{cl}\r\n{{}}");
        let r = refused(&server, req.as_bytes(), 400);
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .contains("Content-Length"),
            "for {cl:?}"
        );
    }
    // A huge number that parses is simply over the route's limit.
    refused(
        &server,
        format!("{LOGIN}Content-Length: 9999999999999999999\r\n\r\n").as_bytes(),
        413,
    );
}

/// RFC 9112 §7.1: chunk sizes are 1*HEXDIG in any case (leading zeros allowed), followed by
/// CRLF; anything else on the size line (signs, spaces, junk, a bare LF), missing CRLF after
/// the data, and sizes beyond 64 bits are 400; a size that parses but exceeds the limit is 413.
#[test]
fn conformance_9112_7_1_chunk_sizes() {
    let server = TestServer::spawn(&[]);
    let chunked = "Transfer-Encoding: chunked\r\n";
    for body in [
        &b"2\r\n{}\r\n0\r\n\r\n"[..],
        b"1\r\n{\r\n1\r\n}\r\n0\r\n\r\n",
        b"02\r\n{}\r\n000\r\n\r\n",
        b"0000000000000002\r\n{}\r\n0\r\n\r\n",
        b"0\r\n\r\n",
    ] {
        assert_framed(&server, chunked, body);
    }
    // Upper- and lower-case hex digits frame the same 10-byte body.
    let ten = b"[1,2,3,45]";
    for size in ["A", "a", "0A"] {
        let mut body = format!("{size}\r\n").into_bytes();
        body.extend_from_slice(ten);
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_framed(&server, chunked, &body);
    }
    for body in [
        &b"2 \r\n{}\r\n0\r\n\r\n"[..],
        b" 2\r\n{}\r\n0\r\n\r\n",
        b"2\t\r\n{}\r\n0\r\n\r\n",
        b"\r\n{}\r\n0\r\n\r\n",
        b"g\r\n{}\r\n0\r\n\r\n",
        b"2\n{}\r\n0\r\n\r\n",
        b"2\r\r\n{}\r\n0\r\n\r\n",
        b"2\r\n{}XX0\r\n\r\n",
        b"2\r\n{}\n0\r\n\r\n",
        b"2\r\n{}\r\n0\n\r\n",
        b"1ffffffffffffffff\r\n{}\r\n0\r\n\r\n",
    ] {
        let mut req = format!("{LOGIN}{chunked}\r\n").into_bytes();
        req.extend_from_slice(body);
        refused(&server, &req, 400);
    }
    for size in ["ffffffffffffffff", "1001"] {
        let req = format!("{LOGIN}{chunked}\r\n{size}\r\n{}", "x".repeat(64));
        refused(&server, req.as_bytes(), 413);
    }
}

/// RFC 9112 §7.1.1: chunk extensions are `;name[=token|quoted-string]`, with optional
/// whitespace around the separators; they are ignored when well-formed and 400 otherwise
/// (an empty name or value, an unclosed quote, stray text, a bare CR).
#[test]
fn conformance_9112_7_1_1_chunk_extensions() {
    let server = TestServer::spawn(&[]);
    let chunked = "Transfer-Encoding: chunked\r\n";
    for body in [
        &b"2;a\r\n{}\r\n0\r\n\r\n"[..],
        b"2;a=b\r\n{}\r\n0\r\n\r\n",
        b"2 ; a = b\r\n{}\r\n0\r\n\r\n",
        b"2;a=\"q s;\\\"x\"\r\n{}\r\n0\r\n\r\n",
        b"2;a;b=c;d=\"\"\r\n{}\r\n0;last\r\n\r\n",
        b"2;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\n{}\r\n0\r\n\r\n",
    ] {
        assert_framed(&server, chunked, body);
    }
    for body in [
        &b"2;\r\n{}\r\n0\r\n\r\n"[..],
        b"2;=b\r\n{}\r\n0\r\n\r\n",
        b"2;a=\r\n{}\r\n0\r\n\r\n",
        b"2;a=\"b\r\n{}\r\n0\r\n\r\n",
        b"2;a b\r\n{}\r\n0\r\n\r\n",
        b"2;a=b c\r\n{}\r\n0\r\n\r\n",
        b"2;a=b \r\n{}\r\n0\r\n\r\n",
        b"2;a\rb\r\n{}\r\n0\r\n\r\n",
        b"2;a\0\r\n{}\r\n0\r\n\r\n",
        b"2x;a\r\n{}\r\n0\r\n\r\n",
        b"2;a=(b)\r\n{}\r\n0\r\n\r\n",
    ] {
        let mut req = format!("{LOGIN}{chunked}\r\n").into_bytes();
        req.extend_from_slice(body);
        refused(&server, &req, 400);
    }
}

/// RFC 9112 §7.1.2: trailer fields follow the last chunk with the head's field syntax (§5.1: no
/// whitespace before the colon; §5.2: no obs-fold; RFC 9110 §5.5: no CR, LF or NUL); they are
/// never merged into the head, so a Content-Length or Host trailer changes nothing. An
/// oversized trailer section is 431.
#[test]
fn conformance_9112_7_1_2_trailers() {
    let server = TestServer::spawn(&[]);
    let chunked = "Transfer-Encoding: chunked\r\n";
    for body in [
        &b"2\r\n{}\r\n0\r\nX-Checksum: abc\r\n\r\n"[..],
        b"2\r\n{}\r\n0\r\nX-A: 1\r\nX-B:\r\nX-C: \t\xff \r\n\r\n",
        b"2\r\n{}\r\n0\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\nHost: evil.example\r\n\r\n",
        b"2\r\n{}\r\n0\r\nAuthorization: Bearer nope\r\n\r\n",
    ] {
        assert_framed(&server, chunked, body);
    }
    for body in [
        &b"2\r\n{}\r\n0\r\nX-T : 1\r\n\r\n"[..],
        b"2\r\n{}\r\n0\r\nX-T: 1\r\n continued\r\n\r\n",
        b"2\r\n{}\r\n0\r\n X-T: 1\r\n\r\n",
        b"2\r\n{}\r\n0\r\nX-T 1\r\n\r\n",
        b"2\r\n{}\r\n0\r\nX(T): 1\r\n\r\n",
        b"2\r\n{}\r\n0\r\n: 1\r\n\r\n",
        b"2\r\n{}\r\n0\r\nX-T: a\rb\r\n\r\n",
        b"2\r\n{}\r\n0\r\nX-T: a\0b\r\n\r\n",
        b"2\r\n{}\r\n0\r\nX-T: 1\n\r\n",
    ] {
        let mut req = format!("{LOGIN}{chunked}\r\n").into_bytes();
        req.extend_from_slice(body);
        refused(&server, &req, 400);
    }
    let req = format!(
        "{LOGIN}{chunked}\r\n2\r\n{{}}\r\n0\r\nX-Big: {}\r\n\r\n",
        "t".repeat(9 * 1024)
    );
    refused(&server, req.as_bytes(), 431);
}

/// RFC 9110 §10.1.1 and §15.2.1: with `Expect: 100-continue` (any case) and content still to
/// come, the server sends `100 Continue` and then the final answer; it may answer at once
/// instead (a body over the limit: 413, no 100); with no content there is nothing to wait
/// for; and in an HTTP/1.0 request the expectation MUST be ignored.
#[test]
fn conformance_9110_10_1_1_expect_100_continue() {
    let server = TestServer::spawn(&[]);
    for (expect, framing, body) in [
        ("100-continue", "Content-Length: 2", &b"{}"[..]),
        ("100-Continue", "Content-Length: 2", b"{}"),
        (
            "100-continue",
            "Transfer-Encoding: chunked",
            b"2\r\n{}\r\n0\r\n\r\n",
        ),
    ] {
        let mut s = server.connect();
        s.write_all(format!("{LOGIN}Expect: {expect}\r\n{framing}\r\n\r\n").as_bytes())
            .unwrap();
        let mut pending = Vec::new();
        let interim = read_one(&mut s, &mut pending);
        assert_eq!(interim.status, 100, "{expect} with {framing}");
        assert!(interim.headers.is_empty() && interim.body.is_empty());
        s.write_all(body).unwrap();
        let r = read_one(&mut s, &mut pending);
        assert_eq!(r.status, NOT_CREDENTIALS);
        assert_eq!(r.header("Connection"), None);
        assert_still_open(&mut s, &mut pending);
    }

    // No content: the final answer straight away.
    let bytes = server.raw(
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    );
    assert!(
        bytes.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        show(&bytes)
    );

    // Over the route's limit (4 KiB for log-ins): 413 at once, no 100, and close.
    let mut s = server.connect();
    s.write_all(format!("{LOGIN}Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n").as_bytes())
        .unwrap();
    let bytes = read_to_close(&mut s);
    assert!(bytes.starts_with(b"HTTP/1.1 413 "), "{}", show(&bytes));
    let r = parse_responses(&bytes, &[]);
    assert_eq!(statuses(&r), vec![413]);
    assert_eq!(r[0].header("Connection"), Some("close"));

    // HTTP/1.0: no interim response even while the server waits for the body.
    let mut s = server.connect();
    s.write_all(b"POST /api/v1/auth/login HTTP/1.0\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"{}").unwrap();
    let bytes = read_to_close(&mut s);
    assert!(
        bytes.starts_with(b"HTTP/1.1 422 "),
        "no 100 for HTTP/1.0: {}",
        show(&bytes)
    );
    assert_eq!(statuses(&parse_responses(&bytes, &[])), vec![422]);
}

/// RFC 9110 §10.1.1: an expectation other than 100-continue may be answered 417 (this server
/// does, with or without content, and closes).
#[test]
fn conformance_9110_10_1_1_unknown_expectation_is_417() {
    let server = TestServer::spawn(&[]);
    for expect in ["200-ok", "100-continue-please", "100", "100-continue; x=1"] {
        let req = format!("{LOGIN}Expect: {expect}\r\nContent-Length: 2\r\n\r\n{{}}");
        let r = refused(&server, req.as_bytes(), 417);
        assert_eq!(r.json()["type"], "/problems/expectation-failed");
    }
    refused(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n",
        417,
    );
}

/// RFC 9112 §9.3: HTTP/1.1 connections persist by default (also with an explicit keep-alive);
/// HTTP/1.0 ones only with `Connection: keep-alive`, which the answer then confirms.
#[test]
fn conformance_9112_9_3_persistence() {
    let server = TestServer::spawn(&[]);
    for req in [
        &b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: closed, x-close\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\nConnection: x-other, keep-alive\r\n\r\n",
    ] {
        let mut s = server.connect();
        let mut pending = Vec::new();
        // Twice on the same connection.
        for _ in 0..2 {
            s.write_all(req).unwrap();
            let r = read_one(&mut s, &mut pending);
            assert_eq!(r.status, 200, "{}", show(req));
            let want = if req.starts_with(b"GET /healthz HTTP/1.0") {
                Some("keep-alive")
            } else {
                None
            };
            assert_eq!(r.header("Connection"), want, "{}", show(req));
        }
        assert_still_open(&mut s, &mut pending);
    }
}

/// RFC 9112 §9.6: a `close` connection option (any case, anywhere in the list, on any of
/// several Connection lines, HTTP/1.0 keep-alive included) closes the connection after the
/// response, which says `Connection: close`; nothing pipelined after it is served.
#[test]
fn conformance_9112_9_6_connection_close() {
    let server = TestServer::spawn(&[]);
    for conn in [
        "Connection: Close\r\n",
        "Connection: keep-alive, close\r\n",
        "Connection: x-a,close , x-b\r\n",
        "Connection: x-a\r\nConnection: CLOSE\r\n",
    ] {
        for version in ["HTTP/1.1", "HTTP/1.0"] {
            let req = format!("GET /healthz {version}\r\nHost: t\r\n{conn}\r\n");
            let mut with_next = req.clone().into_bytes();
            with_next.extend_from_slice(NEXT);
            let r = answered(&server, &with_next, 200);
            assert_eq!(r.header("Connection"), Some("close"), "{req:?}");
        }
    }
}

/// RFC 9110 §15.5.15 and RFC 6585 §5: a request target over the configured limit is 414 (at the
/// limit it is served), also while the request line is still arriving, without waiting for
/// the header timeout.
#[test]
fn conformance_9110_15_5_15_uri_too_long() {
    let server = TestServer::spawn(&[
        ("CAMPUSHUB_MAX_URI_BYTES", "1024"),
        ("CAMPUSHUB_MAX_HEADER_BYTES", "4096"),
    ]);
    let at_limit = format!("/healthz?{}", "a".repeat(1024 - 9));
    assert_eq!(at_limit.len(), 1024);
    answered(
        &server,
        format!("GET {at_limit} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        200,
    );
    let over = format!("{at_limit}a");
    refused(
        &server,
        format!("GET {over} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        414,
    );
    refused(
        &server,
        format!("GET http://campus.example{over} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
        414,
    );

    // A request line that never ends.
    let mut s = server.connect();
    let started = Instant::now();
    s.write_all(format!("GET /{}", "a".repeat(2048)).as_bytes())
        .unwrap();
    let r = parse_responses(&read_to_close(&mut s), &[]);
    assert_eq!(statuses(&r), vec![414]);
    assert_eq!(r[0].header("Connection"), Some("close"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// RFC 6585 §5: 431 for more header fields than the server accepts (64) or a head over the
/// configured size, complete or still arriving; up to the limits a request is served.
#[test]
fn conformance_6585_5_header_fields_too_large() {
    let server = TestServer::spawn(&[
        ("CAMPUSHUB_MAX_URI_BYTES", "1024"),
        ("CAMPUSHUB_MAX_HEADER_BYTES", "4096"),
    ]);
    let with_fields = |n: usize| {
        let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
        for i in 2..n {
            req.push_str(&format!("X-F{i}: v\r\n"));
        }
        req.push_str("\r\n");
        req.into_bytes()
    };
    answered(&server, &with_fields(64), 200);
    let r = refused(&server, &with_fields(65), 431);
    assert_eq!(r.json()["type"], "/problems/headers-too-large");

    let big = |n: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
            "b".repeat(n)
        )
    };
    let fixed = big(0).len();
    answered(&server, big(4096 - fixed).as_bytes(), 200);
    refused(&server, big(4096 - fixed + 1).as_bytes(), 431);

    // A head that never ends.
    let mut s = server.connect();
    let started = Instant::now();
    let mut head = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for i in 0..4 {
        head.push_str(&format!("X-Pad{i}: {}\r\n", "p".repeat(1500)));
    }
    s.write_all(head.as_bytes()).unwrap();
    let r = parse_responses(&read_to_close(&mut s), &[]);
    assert_eq!(statuses(&r), vec![431]);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// RFC 9110 §15.5.14: a body over the route's limit (4 KiB for a log-in) is 413, whether
/// Content-Length announces it or chunks add up to it; at the limit it is read.
#[test]
fn conformance_9110_15_5_14_content_too_large() {
    let server = TestServer::spawn(&[]);
    let at_limit = vec![b'a'; 4096];
    assert_framed(&server, "Content-Length: 4096\r\n", &at_limit);
    let mut chunks = b"800\r\n".to_vec();
    chunks.extend_from_slice(&at_limit[..2048]);
    chunks.extend_from_slice(b"\r\n800\r\n");
    chunks.extend_from_slice(&at_limit[..2048]);
    chunks.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_framed(&server, "Transfer-Encoding: chunked\r\n", &chunks);

    let r = refused(
        &server,
        format!("{LOGIN}Content-Length: 4097\r\n\r\n{}", "a".repeat(4097)).as_bytes(),
        413,
    );
    assert_eq!(r.json()["type"], "/problems/content-too-large");
    refused(
        &server,
        format!(
            "{LOGIN}Transfer-Encoding: chunked\r\n\r\n800\r\n{0}\r\n801\r\n{0}a\r\n0\r\n\r\n",
            "a".repeat(2048)
        )
        .as_bytes(),
        413,
    );
}

/// RFC 9112 §9.3.2: pipelined requests are answered in order whatever their framing (none,
/// Content-Length, chunked) and method (HEAD gets no body).
#[test]
fn conformance_9112_9_3_2_pipelining_keeps_order() {
    let server = TestServer::spawn(&[]);
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: r1\r\n\r\n\
         {LOGIN}X-Request-Id: r2\r\nContent-Length: 2\r\n\r\n{{}}\
         {LOGIN}X-Request-Id: r3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n1\r\n}}\r\n0\r\n\r\n\
         HEAD /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: r4\r\n\r\n\
         OPTIONS /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: r5\r\n\r\n\
         {LOGIN}X-Request-Id: r6\r\n\r\n\
         GET http://campus.example/nope HTTP/1.1\r\nHost: t\r\nX-Request-Id: r7\r\n\r\n\
         GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: r8\r\nConnection: close\r\n\r\n"
    );
    let bytes = server.raw(req.as_bytes());
    let r = parse_responses(&bytes, &[false, false, false, true]);
    let got: Vec<(u16, &str)> = r
        .iter()
        .map(|r| (r.status, r.header("X-Request-Id").unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (200, "r1"),
            (NOT_CREDENTIALS, "r2"),
            (NOT_CREDENTIALS, "r3"),
            (200, "r4"),
            (204, "r5"),
            (NOT_CREDENTIALS, "r6"),
            (404, "r7"),
            (200, "r8"),
        ],
        "{}",
        show(&bytes)
    );
    assert_eq!(r[3].header("Content-Length"), Some("15"));
    assert!(r[3].body.is_empty());
}

/// RFC 9112 §9.3.2 with §11.2 and RFC 9110 §15.5.1: a bad request in the middle of a pipeline is
/// answered after the requests before it, and then the connection closes: nothing after it
/// is served, since where it ends cannot be trusted.
#[test]
fn conformance_9112_9_3_2_bad_request_mid_pipeline() {
    let server = TestServer::spawn(&[]);
    let before = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: a\r\n\r\n\
                  GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: b\r\n\r\n";
    let after = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: c\r\n\r\n\
                 GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: d\r\nConnection: close\r\n\r\n";
    for (bad, status) in [
        ("GET /healthz HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n".to_string(), 400),
        ("GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer x\r\nAuthorization: Bearer y\r\n\r\n".to_string(), 400),
        (format!("{LOGIN}Transfer-Encoding: chunked\r\n\r\n2x\r\n{{}}\r\n0\r\n\r\n"), 400),
        (format!("{LOGIN}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}"), 400),
        ("GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n".to_string(), 505),
        (format!("{LOGIN}Content-Length: 5000\r\n\r\n"), 413),
    ] {
        let req = format!("{before}{bad}{after}");
        let bytes = server.raw(req.as_bytes());
        let r = parse_responses(&bytes, &[]);
        assert_eq!(
            statuses(&r),
            vec![200, 200, status],
            "for {bad:?}: {}",
            show(&bytes)
        );
        assert_eq!(r[0].header("X-Request-Id"), Some("a"));
        assert_eq!(r[1].header("X-Request-Id"), Some("b"));
        assert_eq!(r[0].header("Connection"), None);
        assert_eq!(r[2].header("Connection"), Some("close"));
    }
}

/// RFC 9110 §11.6.2 and §5.3: Authorization is a singleton field; two of them (equal or not,
/// in any case) cannot be combined and are refused with 400, never resolved by picking one.
/// The same holds for X-API-Key. One credential is accepted as usual.
#[test]
fn conformance_9110_11_6_2_two_authorization_fields_are_400() {
    let server = TestServer::spawn(&[]);
    let r = answered(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer a\r\nConnection: close\r\n\r\n",
        200,
    );
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    for path in ["/healthz", "/api/v1/me", "/api/v1/departments"] {
        for creds in [
            "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n",
            "Authorization: Bearer a\r\nAuthorization: Bearer a\r\n",
            "Authorization: Basic YTpi\r\nauthorization: Bearer a\r\n",
            "Authorization: Bearer a\r\nX-Other: 1\r\nAUTHORIZATION:\r\n",
            "X-API-Key: ck_a\r\nX-API-Key: ck_b\r\n",
            "x-api-key: ck_a\r\nX-Api-Key: ck_a\r\n",
        ] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{creds}\r\n");
            let r = refused(&server, req.as_bytes(), 400);
            assert_eq!(r.json()["type"], "/problems/malformed-request");
            assert!(
                r.json()["detail"]
                    .as_str()
                    .unwrap()
                    .contains("Authorization"),
                "{req:?}"
            );
        }
    }
    // Also on a log-in, before the body is looked at.
    refused(
        &server,
        format!("{LOGIN}Authorization: Bearer a\r\nAuthorization: Bearer b\r\nContent-Length: 2\r\n\r\n{{}}").as_bytes(),
        400,
    );
}
