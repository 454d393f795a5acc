//! Rate limits and the OWASP API Security Top 10 (2023) items they serve: brute force against
//! log-in meets the lock-out and then the per-identifier limit (API2), anonymous and
//! authenticated callers are limited per address and per principal (API4), shared limits hold
//! across instances through Redis, probes are never limited, and oversized bodies, pages and
//! ranges are refused (API4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::campus::{send_text, status_as};
use common::{access_token, call, redis, sql_one, TestServer};

fn login_as(server: &TestServer, user: &str, password: &str) -> common::Resp {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    call(server, "POST", "/api/v1/auth/login", None, Some(&body))
}

fn assert_limited(r: &common::Resp, policy: &str) {
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["type"], "/problems/rate-limited");
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert!(r
        .header("RateLimit-Policy")
        .unwrap()
        .starts_with(&format!("\"{policy}\";q=")));
    assert!(r
        .header("RateLimit")
        .unwrap()
        .starts_with(&format!("\"{policy}\";r=0;t=")));
}

#[test]
fn brute_force_meets_the_delays_the_lock_out_then_the_login_limit() {
    let server = TestServer::spawn(&[("CAMPUSHUB_RATE_LIMITS", "login=9/5m")]);
    let user = "student7";
    // A rerun on the same stack starts with a fresh budget and no failures.
    let id = sql_one(&format!("SELECT id FROM users WHERE username = '{user}'"));
    redis(&["DEL", &format!("campushub:rl:login:u:{id}|127.0.0.1")]);
    common::forget_failures(user);
    // Four wrong guesses (the growing delays waited out), the fifth locks, the lock holds,
    // then the limit refuses to even look: 9 attempts in all, counting the throttled ones.
    let attempts = std::cell::Cell::new(0);
    let statuses: Vec<u16> = (0..6)
        .map(|i| {
            let body = serde_json::json!({"username": user, "password": format!("guess-{i}")});
            common::patiently(|| {
                attempts.set(attempts.get() + 1);
                call(
                    &server,
                    "POST",
                    "/api/v1/auth/login",
                    None,
                    Some(&body.to_string()),
                )
            })
            .status
        })
        .collect();
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 423, 423],
        "after {} attempts",
        attempts.get()
    );
    let mut last = login_as(&server, user, "campushub-demo");
    while last.status == 423 {
        last = login_as(&server, user, "campushub-demo");
    }
    assert_limited(&last, "login");
    // The account, not the string: another spelling and the email form share the budget.
    assert_limited(&login_as(&server, "STUDENT7", "x"), "login");
    let email = sql_one(&format!(
        "SELECT email FROM users WHERE username = '{user}'"
    ));
    assert_limited(&login_as(&server, &email, "x"), "login");
    common::forget_failures(user);
}

#[test]
fn the_login_limit_holds_across_instances() {
    let env = [("CAMPUSHUB_RATE_LIMITS", "login=3/1m")];
    let a = TestServer::spawn(&env);
    let b = TestServer::spawn(&env);
    let name = format!("nobody-{}@example.edu", std::process::id());
    assert_eq!(login_as(&a, &name, "x").status, 401);
    assert_eq!(login_as(&b, &name, "x").status, 401);
    assert_eq!(login_as(&a, &name, "x").status, 401);
    assert_limited(&login_as(&b, &name, "x"), "login");
    assert_limited(&login_as(&a, &name, "x"), "login");
}

#[test]
fn anonymous_callers_are_limited_per_address_and_probes_never() {
    let server = TestServer::spawn(&[("CAMPUSHUB_RATE_LIMITS", "anonymous=5/1m")]);
    for i in 0..5 {
        let r = call(&server, "GET", "/api/v1/departments?limit=1", None, None);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("RateLimit-Policy"),
            Some("\"anonymous\";q=5;w=60"),
            "request {i}"
        );
        assert!(r
            .header("RateLimit")
            .unwrap()
            .starts_with(&format!("\"anonymous\";r={};t=", 4 - i)));
    }
    assert_limited(
        &call(&server, "GET", "/api/v1/departments?limit=1", None, None),
        "anonymous",
    );
    for _ in 0..20 {
        assert_eq!(call(&server, "GET", "/healthz", None, None).status, 200);
    }
    assert_eq!(call(&server, "GET", "/readyz", None, None).status, 200);
}

/// A GET with `X-Forwarded-For: xff` on its own connection; its status.
fn forwarded_status(server: &TestServer, xff: &str) -> u16 {
    let req = format!(
        "GET /api/v1/departments?limit=1 HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {xff}\r\nConnection: close\r\n\r\n"
    );
    common::parse_responses(&server.raw(req.as_bytes()), &[false])
        .remove(0)
        .status
}

/// Behind a trusted balancer, limits key on the client it names; from anyone else the header
/// is ignored, so a client cannot dodge its limit by writing another address there.
#[test]
fn limits_key_on_the_forwarded_client_only_behind_a_trusted_proxy() {
    let behind = TestServer::spawn(&[
        ("CAMPUSHUB_RATE_LIMITS", "anonymous=3/1m"),
        ("CAMPUSHUB_TRUSTED_PROXIES", "127.0.0.1/32"),
    ]);
    let statuses: Vec<u16> = (0..4)
        .map(|_| forwarded_status(&behind, "203.0.113.7"))
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Another client behind the same balancer has its own budget; so has the balancer.
    assert_eq!(forwarded_status(&behind, "203.0.113.8"), 200);
    assert_eq!(
        forwarded_status(&behind, "198.51.100.1, 203.0.113.9"),
        200,
        "the rightmost address counts, not a forged one on its left"
    );
    assert_eq!(
        call(&behind, "GET", "/api/v1/departments?limit=1", None, None).status,
        200
    );
    // A trusted proxy that sends something other than addresses gets 400.
    assert_eq!(forwarded_status(&behind, "unknown"), 400);

    let direct = TestServer::spawn(&[("CAMPUSHUB_RATE_LIMITS", "anonymous=3/1m")]);
    let statuses: Vec<u16> = (0..4)
        .map(|i| forwarded_status(&direct, &format!("203.0.113.{i}")))
        .collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "a spoofed header changed nothing"
    );
    assert_eq!(
        forwarded_status(&direct, "unknown"),
        429,
        "and is not even read"
    );
}

#[test]
fn authenticated_callers_are_limited_per_principal() {
    let server = TestServer::spawn(&[("CAMPUSHUB_RATE_LIMITS", "authenticated=4/1m")]);
    let a = access_token(&server, "student8");
    let b = access_token(&server, "student9");
    for _ in 0..4 {
        assert_eq!(status_as(&server, "GET", "/api/v1/me", &a), 200);
    }
    assert_limited(
        &call(&server, "GET", "/api/v1/me", Some(&a), None),
        "authenticated",
    );
    // Another principal on the same address has its own budget.
    assert_eq!(status_as(&server, "GET", "/api/v1/me", &b), 200);
}

#[test]
fn oversized_bodies_pages_and_ranges_are_refused() {
    let server = TestServer::spawn(&[]);
    let admin = access_token(&server, "admin");
    let big = format!(
        "{{\"name\":\"big\",\"description\":\"{}\",\"permissions\":[]}}",
        "x".repeat(20_000)
    );
    let r = send_text(&server, "POST", "/api/v1/roles", &admin, &big);
    assert_eq!(r.status, 413);
    let r = call(
        &server,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&format!("{{\"username\":\"{}\"}}", "a".repeat(5000))),
    );
    assert_eq!(r.status, 413);
    let r = call(
        &server,
        "GET",
        "/api/v1/departments?limit=100000",
        None,
        None,
    );
    assert_eq!(r.status, 400);
    let s1 = sql_one("SELECT sourced_id FROM users WHERE username = 'student1'");
    let r = call(
        &server,
        "GET",
        &format!("/api/v1/students/{s1}/attendance?from=2020-01-01&to=2026-01-01"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
}
