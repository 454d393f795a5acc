//! Raw-bytes HTTP/1.1 protocol tests against the real server: every framing, limit and
//! timeout rule, asserted on the exact bytes that come back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{parse_responses, read_to_close, TestServer};

fn one(server: &TestServer, req: &[u8]) -> common::Resp {
    let bytes = server.raw(req);
    let mut r = parse_responses(&bytes, &[]);
    assert_eq!(
        r.len(),
        1,
        "expected one response, got {:?}",
        String::from_utf8_lossy(&bytes)
    );
    r.remove(0)
}

#[test]
fn pipelined_requests_are_answered_in_order_in_one_batch() {
    let server = TestServer::spawn(&[]);
    let id = common::some_department_id(&server);
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: first\r\n\r\n\
         GET /api/v1/departments/{id} HTTP/1.1\r\nHost: t\r\nX-Request-Id: second\r\n\r\n\
         GET /nope HTTP/1.1\r\nHost: t\r\nX-Request-Id: third\r\n\r\n\
         HEAD /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: fourth\r\nConnection: close\r\n\r\n"
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
            (200, "first"),
            (200, "second"),
            (404, "third"),
            (200, "fourth")
        ]
    );
    assert_eq!(r[1].json()["sourced_id"], id.as_str());
    assert_eq!(
        r[2].header("Content-Type"),
        Some("application/problem+json")
    );
    assert_eq!(r[3].header("Connection"), Some("close"));
}

#[test]
fn long_pipelines_are_served_completely_across_yields() {
    let server = TestServer::spawn(&[]);
    let mut req = Vec::new();
    for i in 0..100 {
        req.extend_from_slice(
            format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: r{i}\r\n\r\n").as_bytes(),
        );
    }
    req.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = parse_responses(&server.raw(&req), &[]);
    assert_eq!(r.len(), 101);
    for (i, resp) in r.iter().take(100).enumerate() {
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("X-Request-Id"), Some(format!("r{i}").as_str()));
    }
}

#[test]
fn smuggling_attempts_get_400_and_close() {
    let server = TestServer::spawn(&[]);
    let cases: &[&[u8]] = &[
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5a\r\n\r\nhello",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 184467440737095516160\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n0123456789abcdef\r\n0\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n0\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Space : a\r\n\r\n",
        b"GET /healthz HTTP/1.1\nHost: t\n\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Nul: a\0b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Cr: a\rb\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n",
        b"POST /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for case in cases {
        let bytes = server.raw(case);
        let text = String::from_utf8_lossy(&bytes);
        let r = parse_responses(&bytes, &[]);
        assert_eq!(
            r.len(),
            1,
            "one answer then close for {:?}: {text}",
            String::from_utf8_lossy(case)
        );
        assert_eq!(
            r[0].status,
            400,
            "for {:?}: {text}",
            String::from_utf8_lossy(case)
        );
        assert_eq!(r[0].header("Connection"), Some("close"));
        let p = r[0].json();
        assert_eq!(p["status"], 400);
        assert!(p["type"].is_string() && p["title"].is_string() && p["detail"].is_string());
        assert!(p["request_id"].is_string());
    }
}

#[test]
fn limits_answer_with_the_right_status_and_close() {
    let server = TestServer::spawn(&[("CAMPUSHUB_MAX_BODY_BYTES", "1024")]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "b".repeat(17 * 1024)
    );
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for i in 0..100 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (long_uri.into_bytes(), 414),
        (big_header.into_bytes(), 431),
        (many.into_bytes(), 431),
        (b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n\r\n".to_vec(), 413),
        (
            format!("POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n0\r\n\r\n", "x".repeat(2048)).into_bytes(),
            413,
        ),
        (b"BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 501),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), 501),
        (b"GET /healthz HTTP/1.1\r\nHost: t\r\nExpect: coffee\r\nContent-Length: 1\r\n\r\nx".to_vec(), 417),
    ];
    for (req, status) in cases {
        let bytes = server.raw(&req);
        let r = parse_responses(&bytes, &[]);
        assert_eq!(r.len(), 1, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(r[0].status, status, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(r[0].header("Connection"), Some("close"));
        assert_eq!(
            r[0].header("Content-Type"),
            Some("application/problem+json")
        );
    }
}

#[test]
fn slow_headers_get_408_and_idle_connections_are_closed() {
    let server = TestServer::spawn(&[
        ("CAMPUSHUB_HEADER_TIMEOUT_S", "0.5"),
        ("CAMPUSHUB_IDLE_TIMEOUT_S", "0.5"),
    ]);
    // Slowloris: a head that never completes.
    let mut s = server.connect();
    let started = Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(b"X-Slow: 1\r\n").unwrap();
    let bytes = read_to_close(&mut s);
    let r = parse_responses(&bytes, &[]);
    assert_eq!(r[0].status, 408);
    assert_eq!(r[0].header("Connection"), Some("close"));
    assert!(started.elapsed() < Duration::from_secs(5));

    // Idle keep-alive: closed without a response.
    let mut s = server.connect();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let rest = read_to_close(&mut s);
    assert!(
        rest.is_empty(),
        "idle close sends nothing: {:?}",
        String::from_utf8_lossy(&rest)
    );

    // A connection that never sends anything is closed too.
    let mut s = server.connect();
    assert!(read_to_close(&mut s).is_empty());
}

/// Reads from `s` until `n` whole responses (with Content-Length bodies) have arrived.
fn read_responses(s: &mut std::net::TcpStream, n: usize) -> Vec<common::Resp> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let complete = |bytes: &[u8]| -> usize {
        let mut count = 0;
        let mut rest = bytes;
        while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if rest.len() < end + 4 + len {
                break;
            }
            rest = &rest[end + 4 + len..];
            count += 1;
        }
        count
    };
    while complete(&bytes) < n {
        let got = s.read(&mut buf).unwrap();
        assert!(
            got > 0,
            "closed early: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buf[..got]);
    }
    parse_responses(&bytes, &vec![false; n])
}

#[test]
fn idle_keep_alive_connections_park_and_serve_what_comes_next() {
    let server = TestServer::spawn(&[]);
    let parked = || {
        let m = common::call(&server, "GET", "/metrics", None, None);
        common::metric_sum(
            &String::from_utf8_lossy(&m.body),
            "campushub_connections_parked_total",
        )
    };
    let before = parked();
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: one\r\n\r\n")
        .unwrap();
    assert_eq!(read_responses(&mut s, 1)[0].status, 200);
    // Idle past PARK_AFTER (200 ms) plus a sweep: the connection gives up its buffers.
    std::thread::sleep(Duration::from_millis(600));
    assert!(parked() > before, "no connection parked");
    // Two pipelined requests in one write wake it: both are answered, in order.
    s.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: two\r\n\r\n\
          GET /nope HTTP/1.1\r\nHost: t\r\nX-Request-Id: three\r\n\r\n",
    )
    .unwrap();
    let r = read_responses(&mut s, 2);
    assert_eq!(
        r.iter()
            .map(|r| (r.status, r.header("X-Request-Id").unwrap()))
            .collect::<Vec<_>>(),
        vec![(200, "two"), (404, "three")]
    );
    // Parked again, then a head that arrives in pieces (the first wakes it, the rest follows).
    std::thread::sleep(Duration::from_millis(600));
    s.write_all(b"GET /heal").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"thz HTTP/1.1\r\nHost: t\r\nX-Request-Id: four\r\n\r\n")
        .unwrap();
    let r = read_responses(&mut s, 1);
    assert_eq!(
        (r[0].status, r[0].header("X-Request-Id")),
        (200, Some("four"))
    );
    // Requests back to back never wait for a park: answered at once, on the same connection.
    for i in 0..50 {
        let req = format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: r{i}\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let r = read_responses(&mut s, 1);
        assert_eq!(r[0].header("X-Request-Id"), Some(format!("r{i}").as_str()));
    }
}

#[test]
fn head_has_length_but_no_body() {
    let server = TestServer::spawn(&[]);
    let bytes = server.raw(b"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(text.contains("\r\nContent-Length: 15\r\n"));
    assert!(
        text.ends_with("\r\n\r\n"),
        "no body after the head: {text:?}"
    );
}

#[test]
fn expect_100_continue_then_body() {
    let server = TestServer::spawn(&[]);
    let mut s = server.connect();
    s.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = parse_responses(&read_to_close(&mut s), &[]);
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 200]
    );

    // Over the limit: 413 straight away instead of 100.
    let server = TestServer::spawn(&[("CAMPUSHUB_MAX_BODY_BYTES", "16")]);
    let r = parse_responses(
        &server.raw(b"POST /healthz HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n"),
        &[],
    );
    assert_eq!(r[0].status, 413);
}

#[test]
fn chunked_bodies_are_consumed_exactly() {
    let server = TestServer::spawn(&[]);
    // Body split across writes, with an extension and a trailer; a pipelined request follows.
    let mut s = server.connect();
    s.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"lo\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let r = parse_responses(&read_to_close(&mut s), &[]);
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 404]
    );

    // POST with a body to a read-only route: the body is read, then 405 with Allow.
    let r = parse_responses(
        &server.raw(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        &[],
    );
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![405, 200]
    );
    assert_eq!(r[0].header("Allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn http10_with_and_without_keep_alive() {
    let server = TestServer::spawn(&[]);
    let bytes = server.raw(b"GET /healthz HTTP/1.0\r\n\r\n");
    let r = parse_responses(&bytes, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].header("Connection"), Some("close"));

    let mut s = server.connect();
    s.write_all(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let r = parse_responses(&buf[..n], &[]);
    assert_eq!(r[0].header("Connection"), Some("keep-alive"));
    s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
    let r = parse_responses(&read_to_close(&mut s), &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
}

#[test]
fn connection_close_closes_after_the_response() {
    let server = TestServer::spawn(&[]);
    let mut s = server.connect();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = parse_responses(&read_to_close(&mut s), &[]);
    assert_eq!(r.len(), 1, "nothing is served after Connection: close");
    assert_eq!(r[0].header("Connection"), Some("close"));
}

#[test]
fn options_and_cors_follow_the_allowlist() {
    let server = TestServer::spawn(&[("CAMPUSHUB_CORS_ORIGINS", "https://app.example.edu")]);
    let r = one(&server, b"OPTIONS /api/v1/departments HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example.edu\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example.edu")
    );
    assert_eq!(
        r.header("Access-Control-Allow-Methods"),
        Some("GET, HEAD, POST, OPTIONS")
    );
    assert_eq!(r.header("Vary"), Some("Origin"));

    let r = one(&server, b"OPTIONS /api/v1/departments HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);

    let r = one(&server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example.edu\r\nConnection: close\r\n\r\n");
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example.edu")
    );
    let r = one(&server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);

    let r = one(
        &server,
        b"OPTIONS /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
    let r = one(
        &server,
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 204);
}

#[test]
fn unknown_paths_and_methods_are_problems() {
    let server = TestServer::spawn(&[]);
    let r = one(
        &server,
        b"GET /api/v1/nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["status"], 404);
    let r = one(
        &server,
        b"DELETE /api/v1/departments HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, POST, OPTIONS"));
    assert_eq!(r.json()["request_id"].as_str(), r.header("X-Request-Id"));
}

#[test]
fn request_ids_are_echoed_when_well_formed_and_generated_otherwise() {
    let server = TestServer::spawn(&[]);
    let r = one(&server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("X-Request-Id"), Some("abc-123"));
    let r = one(&server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: has space\"quote\r\nConnection: close\r\n\r\n");
    let id = r.header("X-Request-Id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    // The access log carries the id, the route template and the traceparent.
    assert!(common::eventually(Duration::from_secs(3), || {
        server.logs().iter().any(|l| {
            l.contains("\"request_id\":\"abc-123\"")
                && l.contains("\"route\":\"/healthz\"")
                && l.contains(
                    "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"",
                )
                && l.contains("\"duration_s\":")
                && l.contains("\"shard\":0")
        })
    }));
}

#[test]
fn connection_cap_applies_backpressure() {
    let server = TestServer::spawn(&[("CAMPUSHUB_MAX_CONNECTIONS_PER_SHARD", "2")]);
    let c1 = server.connect();
    let mut c2 = server.connect();
    c2.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(c2.read(&mut buf).unwrap() > 0);
    // The third connection is queued by the kernel, not served, while two are open.
    let mut c3 = server.connect();
    c3.set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    c3.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(c3.read(&mut buf).is_err(), "served beyond the cap");
    drop(c1);
    c3.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let r = parse_responses(&read_to_close(&mut c3), &[]);
    assert_eq!(r[0].status, 200);
    drop(c2);
}
