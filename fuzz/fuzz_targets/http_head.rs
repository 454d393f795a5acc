//! Request heads: `parse_head` on arbitrary bytes, as the connection loop calls it, then what
//! the loop does with the head (UTF-8 target, route, request id and traceparent checks).
//!
//! Checks: every range lies inside the head, the head inside the input; the path is `*` or
//! starts with `/` and the query follows a `?`; the framing rules (chunked only in
//! HTTP/1.1, no zero Content-Length, no 100-continue without a body); the head parses the same
//! from its own bytes and every shorter prefix is "incomplete", never an error (the loop
//! parses again after every read, so an error on a prefix would depend on how TCP split the
//! request); tighter limits never accept what looser ones refuse.
#![no_main]

use campushub::http::{parse_head, BodyFraming, HeadLimits, Method, RequestHead, Version};
use campushub::{request_id, router};
use libfuzzer_sys::fuzz_target;

/// The server's defaults (config.rs).
const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 16 * 1024,
    max_uri_bytes: 8 * 1024,
};
/// Small enough for the fuzzer's inputs to cross.
const TIGHT: HeadLimits = HeadLimits {
    max_head_bytes: 256,
    max_uri_bytes: 64,
};

fuzz_target!(|buf: &[u8]| {
    let loose = parse_head(buf, &LIMITS);
    let tight = parse_head(buf, &TIGHT);
    match (&loose, &tight) {
        (Ok(Some(a)), Ok(Some(b))) => assert_same(a, b),
        // Complete is complete whatever the limits: refused or parsed, never "read more".
        (Ok(Some(_)), t) => assert!(!matches!(t, Ok(None)), "tight limits: incomplete"),
        // Tighter limits only ever refuse more.
        (Err(_), t) => assert!(t.is_err(), "tight limits accepted a refused head: {t:?}"),
        (Ok(None), t) => assert!(!matches!(t, Ok(Some(_))), "tight complete, loose not"),
    }
    let Ok(Some(head)) = loose else { return };
    check_head(buf, &head, &LIMITS);

    // The head delimits itself: the same from its own bytes, and incomplete before them.
    let own = parse_head(&buf[..head.head_len], &LIMITS)
        .expect("the head alone is refused")
        .expect("the head alone is incomplete");
    assert_same(&head, &own);
    let step = (head.head_len / 24).max(1);
    for cut in (0..head.head_len).step_by(step).chain([head.head_len - 1]) {
        match parse_head(&buf[..cut], &LIMITS) {
            Ok(None) => {}
            other => panic!("prefix of {cut} bytes of a good head: {other:?}"),
        }
    }

    // What the connection loop does next (net/conn.rs).
    let target_end = head.query.as_ref().map_or(head.path.end, |q| q.end);
    let target = std::str::from_utf8(&buf[head.path.start..target_end]).unwrap_or("");
    let path = target.get(..head.path.len()).unwrap_or("");
    let matched = router::route(path);
    let _ = matched.route.max_body(1 << 20);
    if let Some(r) = &head.request_id {
        let id = &buf[r.clone()];
        if request_id::is_well_formed(id) {
            assert!(id.len() <= request_id::MAX_LEN);
            assert!(!id
                .iter()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()));
        }
    }
    if let Some(r) = &head.traceparent {
        if request_id::is_traceparent(&buf[r.clone()]) {
            assert_eq!(r.len(), 55);
        }
    }
});

fn check_head(buf: &[u8], head: &RequestHead, limits: &HeadLimits) {
    assert!(head.head_len <= buf.len(), "head longer than the input");
    assert!(head.head_len <= limits.max_head_bytes);
    assert!(buf[..head.head_len].ends_with(b"\r\n\r\n"));
    let within = |r: &std::ops::Range<usize>| r.start <= r.end && r.end <= head.head_len;
    let ranges = [
        &head.request_id,
        &head.traceparent,
        &head.origin,
        &head.acr_method,
        &head.acr_headers,
        &head.authorization,
        &head.api_key,
        &head.content_type,
    ];
    for r in ranges.into_iter().flatten() {
        assert!(within(r), "header range {r:?} outside the head");
        assert!(!buf[r.clone()]
            .iter()
            .any(|b| matches!(b, b'\r' | b'\n' | 0)));
    }
    assert!(within(&head.path) && !head.path.is_empty());
    let path = &buf[head.path.clone()];
    assert!(
        path == b"*" && head.method == Method::Options || path.starts_with(b"/"),
        "path {path:?}"
    );
    let target_end = match &head.query {
        Some(q) => {
            // Right after the path's `?`; an absolute-form target with an empty path has
            // its "/" borrowed from the scheme's "//", so only the `?` is checked there.
            assert!(within(q) && q.start > head.path.start);
            assert_eq!(buf[q.start - 1], b'?');
            q.end
        }
        None => head.path.end,
    };
    assert!(target_end - head.path.start <= limits.max_uri_bytes);
    match head.body {
        BodyFraming::Length(n) => assert!(n > 0),
        BodyFraming::Chunked => assert_eq!(head.version, Version::Http11),
        BodyFraming::None => assert!(!head.expect_continue),
    }
    if head.version == Version::Http10 {
        assert!(!head.expect_continue);
    }
}

fn assert_same(a: &RequestHead, b: &RequestHead) {
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
