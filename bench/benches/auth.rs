//! Authentication per request: verifying an access token from the shard's cache against a full
//! signature check, then what a protected route adds: the caller's principal from the shard's
//! cache, the revocation check and an institution-scoped permission check; and a rate-limit
//! decision.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use std::rc::Rc;
use std::time::Instant;

use campushub::auth::access::Principal;
use campushub::auth::tokens::{issue, verify, KeySet, TokenCache};
use campushub_bench::fixtures::{registrar, ONE_KEY, TWO_KEYS};
use campushub_cache::ratelimit::{LocalLimiter, Policy};
use campushub_cache::LocalCache;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn tokens(c: &mut Criterion) {
    let keys = KeySet::parse(TWO_KEYS, Some("k2")).unwrap();
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

/// What `handlers::auth::authenticate` and the access check do for a hot token: token cache,
/// principal cache, revocation time, permission.
fn authenticate_and_authorise(c: &mut Criterion) {
    let keys = KeySet::parse(ONE_KEY, None).unwrap();
    let (token, _) = issue(
        &keys,
        2,
        "5b1f0001-7d2c-4a8e-9f10-000000000002",
        Duration::from_secs(900),
    )
    .unwrap();
    let mut tokens = TokenCache::new(100_000);
    let mut principals: LocalCache<i64, Rc<Principal>> = LocalCache::new(100_000);
    let far = Instant::now() + Duration::from_secs(3600);
    for i in 0..10_000 {
        let (t, _) = issue(&keys, i, "x", Duration::from_secs(900)).unwrap();
        tokens.verify(&keys, t.as_bytes()).unwrap();
        principals.insert(i, Rc::new(registrar(i)), far);
    }
    let mut check = |tokens: &mut TokenCache, token: &[u8]| {
        let claims = tokens.verify(&keys, token).unwrap();
        let now = Instant::now();
        let p = Rc::clone(principals.get(&claims.uid, now).unwrap());
        assert!(p.usable && claims.issued_ms() >= p.revoked_before_ms);
        p.institution_grant(black_box(campushub::auth::rule::Permission::StudentsRead))
            .is_some()
    };
    tokens.verify(&keys, token.as_bytes()).unwrap();
    c.bench_function("auth/cached_token_and_permission", |b| {
        b.iter(|| assert!(check(&mut tokens, black_box(token.as_bytes()))))
    });
    c.bench_function("auth/uncached_token_and_permission", |b| {
        b.iter(|| {
            // A fresh cache each time: the full signature check, then the same steps.
            let mut cold = TokenCache::new(16);
            assert!(check(&mut cold, black_box(token.as_bytes())))
        })
    });
}

fn rate_limit(c: &mut Criterion) {
    let policy = Policy::new("authenticated", 6000, Duration::from_secs(60)).unwrap();
    let mut limiter: LocalLimiter<i64> = LocalLimiter::new(100_000);
    let now = Instant::now();
    for i in 0..10_000 {
        limiter.check(&i, &policy, now);
    }
    let mut n = 0i64;
    c.bench_function("ratelimit/local_decision", |b| {
        b.iter(|| {
            n = (n + 1) % 10_000;
            limiter.check(black_box(&n), &policy, Instant::now())
        })
    });
}

criterion_group!(benches, tokens, authenticate_and_authorise, rate_limit);
criterion_main!(benches);
