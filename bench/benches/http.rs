//! The HTTP stage functions: head parse, route, response encode.
#![allow(clippy::unwrap_used)]

use campushub::http::parse::parse_head;
use campushub::http::response::encode;
use campushub::router::route;
use campushub_bench::fixtures::{
    EncodeFixture, BROWSER_GET, DEPARTMENT_PATH, HEAD_LIMITS as LIMITS, WRK_GET,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

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
        b.iter(|| route(black_box(DEPARTMENT_PATH)))
    });
}

fn encode_response(c: &mut Criterion) {
    let fixture = EncodeFixture::healthz();
    let ctx = fixture.context();
    let resp = &fixture.response;
    let mut out = Vec::with_capacity(8192);
    c.bench_function("encode/healthz", |b| {
        b.iter(|| {
            out.clear();
            encode(black_box(resp), &ctx, &mut out);
        })
    });
}

criterion_group!(benches, parse, router, encode_response);
criterion_main!(benches);
