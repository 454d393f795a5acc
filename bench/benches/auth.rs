//! Authentication per request: verifying an access token from the shard's cache against a full
//! signature check.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use campushub::auth::tokens::{issue, verify, KeySet, TokenCache};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn tokens(c: &mut Criterion) {
    let keys = KeySet::parse(
        "k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,k2=ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
        Some("k2"),
    )
    .unwrap();
    let (token, _) = issue(
        &keys,
        4242,
        "5b1f0001-7d2c-4a8e-9f10-000000001eef",
        Duration::from_secs(900),
    )
    .unwrap();
    c.bench_function("token/verify_uncached", |b| {
        b.iter(|| verify(&keys, black_box(&token)).unwrap())
    });
    let mut cache = TokenCache::new(100_000);
    // A realistically full cache: many other users' tokens alongside this one.
    for i in 0..10_000 {
        let (t, _) = issue(&keys, i, "x", Duration::from_secs(900)).unwrap();
        cache.verify(&keys, t.as_bytes()).unwrap();
    }
    cache.verify(&keys, token.as_bytes()).unwrap();
    c.bench_function("token/verify_cached", |b| {
        b.iter(|| cache.verify(&keys, black_box(token.as_bytes())).unwrap())
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
