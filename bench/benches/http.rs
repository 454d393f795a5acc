//! The HTTP stage functions: head parse, route, response encode.
#![allow(clippy::unwrap_used)]

use campushub::http::parse::{parse_head, HeadLimits};
use campushub::http::response::{encode, EncodeContext};
use campushub::http::Response;
use campushub::router::route;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 16 * 1024,
    max_uri_bytes: 8 * 1024,
};

const WRK_GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const BROWSER_GET: &[u8] = b"GET /api/v1/departments/2e0f627f-4e0e-459b-8177-88bba15443fc HTTP/1.1\r\n\
Host: campus.example.edu\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\r\n\
Accept: application/json\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\r\n\
X-Request-Id: 5f1c9a7e-2b1d-4f5e-8c3a-9d8e7f6a5b4c\r\nConnection: keep-alive\r\n\r\n";

fn parse(c: &mut Criterion) {
    c.bench_function("parse_head/wrk_get", |b| {
        b.iter(|| parse_head(black_box(WRK_GET), &LIMITS).unwrap())
    });
    c.bench_function("parse_head/browser_get", |b| {
        b.iter(|| parse_head(black_box(BROWSER_GET), &LIMITS).unwrap())
    });
}

fn router(c: &mut Criterion) {
    c.bench_function("route/healthz", |b| b.iter(|| route(black_box("/healthz"))));
    c.bench_function("route/department", |b| {
        b.iter(|| {
            route(black_box(
                "/api/v1/departments/2e0f627f-4e0e-459b-8177-88bba15443fc",
            ))
        })
    });
}

fn encode_response(c: &mut Criterion) {
    let date = *b"Sun, 22 Nov 2026 13:46:49 GMT";
    let security = campushub::http::response::security_headers(false);
    let ctx = EncodeContext {
        date: &date,
        request_id: b"9a479c25b58f40730000000000000001",
        keep_alive: true,
        http10: false,
        head_only: false,
        cors_origin: None,
        security: &security,
        credentialed: false,
    };
    let resp = Response::static_json(200, b"{\"status\":\"ok\"}");
    let mut out = Vec::with_capacity(8192);
    c.bench_function("encode/healthz", |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(&resp), &ctx, &mut out);
        })
    });
}

criterion_group!(benches, parse, router, encode_response);
criterion_main!(benches);
