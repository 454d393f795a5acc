//! Log-in, access tokens and `/me` against the real server and the seeded campus: the happy
//! path, the same answer for unknown users and wrong passwords, lock-out, the Django hash
//! upgrade, and every kind of bad token refused with 401.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{parse_responses, psql, stack_env, Resp, TestServer};

const KEY_B64: &str = "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk=";
const KEYS: &str = "t1=dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk=";

fn server() -> TestServer {
    TestServer::spawn(&[("CAMPUSHUB_JWT_KEYS", KEYS)])
}

fn post_json(server: &TestServer, path: &str, body: &str) -> Resp {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    parse_responses(&server.raw(req.as_bytes()), &[]).remove(0)
}

fn login(server: &TestServer, user: &str, password: &str) -> Resp {
    post_json(
        server,
        "/api/v1/auth/login",
        &serde_json::json!({"username": user, "password": password}).to_string(),
    )
}

fn get_with(server: &TestServer, path: &str, auth: &str) -> Resp {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    );
    parse_responses(&server.raw(req.as_bytes()), &[]).remove(0)
}

#[test]
fn login_returns_tokens_and_me_names_the_caller() {
    let server = server();
    let r = login(&server, "student1", "campushub-demo");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 900);
    assert_eq!(v["refresh_token"].as_str().unwrap().len(), 43);
    let token = v["access_token"].as_str().unwrap();

    let me = get_with(&server, "/api/v1/me", &format!("Bearer {token}"));
    assert_eq!(me.status, 200, "{}", String::from_utf8_lossy(&me.body));
    assert_eq!(me.json()["username"], "student1");
    assert_eq!(me.json()["role"], "student");
    // Cached on the shard now; still correct.
    let again = get_with(&server, "/api/v1/me", &format!("bearer {token}"));
    assert_eq!(again.json()["username"], "student1");

    // Email works as the log-in name, case-insensitively.
    let r = login(&server, "Student1@CampusHub.example", "campushub-demo");
    assert_eq!(r.status, 200);
    let refresh_rows = psql(
        &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
        "SELECT count(*) FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'student1' AND length(t.token_hash) = 32",
    );
    assert!(
        refresh_rows.trim().parse::<i64>().unwrap() >= 2,
        "refresh tokens are stored hashed"
    );
}

#[test]
fn unknown_users_and_wrong_passwords_get_the_same_answer() {
    let server = server();
    let wrong = login(&server, "student2", "not-the-password");
    let unknown = login(&server, "nobody-at-all", "not-the-password");
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let (w, u) = (wrong.json(), unknown.json());
    for k in ["type", "title", "status", "detail"] {
        assert_eq!(w[k], u[k], "{k}");
    }
    assert_eq!(w["type"], "/problems/invalid-credentials");

    // Both are in the audit trail, the known account by id, with the client's address.
    let direct = stack_env("CAMPUSHUB_DIRECT_DATABASE_URL");
    let known = psql(
        &direct,
        "SELECT count(*) FROM audit_events a JOIN users u ON a.target_id = u.id::text \
         WHERE u.username = 'student2' AND a.action = 'auth.login_failed' AND host(a.ip) = '127.0.0.1'",
    );
    assert!(known.trim().parse::<i64>().unwrap() >= 1);
    let unknown = psql(
        &direct,
        "SELECT count(*) FROM audit_events WHERE action = 'auth.login_failed' AND details->>'login' = 'nobody-at-all'",
    );
    assert!(unknown.trim().parse::<i64>().unwrap() >= 1);
}

#[test]
fn five_failures_lock_the_account_from_that_address_and_say_until_when() {
    let server = server();
    let here = std::net::Ipv4Addr::LOCALHOST;
    // The suite runs twice against one database (PgBouncer, then direct): start unlocked.
    common::forget_failures("student5");
    // Two typos cost nothing; then each failure makes the next attempt wait (1 s, 2 s), and
    // the fifth locks this address out of the account.
    let body = serde_json::json!({"username": "student5", "password": "wrong-password"});
    for i in 1..=3 {
        let r = login(&server, "student5", "wrong-password");
        assert_eq!(r.status, 401, "failure {i}");
    }
    let r = post_json(&server, "/api/v1/auth/login", &body.to_string());
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["type"], "/problems/login-throttled");
    assert_eq!(r.header("Retry-After"), Some("1"));
    assert_eq!(
        common::login_patiently(&server, here, "student5", "wrong-password").status,
        401
    );
    let r = common::login_patiently(&server, here, "student5", "wrong-password");
    assert_eq!(r.status, 423, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("locked until"));
    let retry: u64 = r.header("Retry-After").unwrap().parse().unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    // Even the right password is refused while locked.
    let r = login(&server, "student5", "campushub-demo");
    assert_eq!(r.status, 423);
    let locked = psql(
        &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
        "SELECT count(*) FROM audit_events a JOIN users u ON a.target_id = u.id::text \
         WHERE u.username = 'student5' AND a.action = 'auth.account_locked'",
    );
    assert!(locked.trim().parse::<i64>().unwrap() >= 1);
    common::forget_failures("student5");
}

#[test]
fn django_hashes_log_in_and_are_upgraded_to_argon2id() {
    let server = server();
    let direct = stack_env("CAMPUSHUB_DIRECT_DATABASE_URL");
    // hashlib.pbkdf2_hmac("sha256", b"campus-2019", b"Xq2lVQkGd1rW", 260000, 32), Django's format.
    psql(
        &direct,
        "UPDATE users SET password_hash = 'pbkdf2_sha256$260000$Xq2lVQkGd1rW$ioK0aNZtBunv0aFpD5fClyRwvnmbtljxtvAdO5tPAaI=' WHERE username = 'student6'",
    );
    let r = login(&server, "student6", "campus-2019");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let stored = psql(
        &direct,
        "SELECT password_hash FROM users WHERE username = 'student6'",
    );
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(login(&server, "student6", "campus-2019").status, 200);
    assert_eq!(login(&server, "student6", "campushub-demo").status, 401);
}

/// Signs like an attacker who knows (or guesses) a key would: raw HS256 over any header.
fn sign(header: &serde_json::Value, claims: &serde_json::Value, key: &[u8]) -> String {
    let e = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let input = format!("{}.{}", e(header), e(claims));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(key),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    format!("{input}.{sig}")
}

#[test]
fn bad_tokens_are_refused_with_401() {
    let server = server();
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY_B64)
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let uid: i64 = psql(
        &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
        "SELECT id FROM users WHERE username = 'student1'",
    )
    .trim()
    .parse()
    .unwrap();
    let claims = |aud: &str, exp: u64| serde_json::json!({"iss": "campushub", "aud": aud, "sub": "x", "uid": uid, "iat": now - 10, "nbf": now - 10, "exp": exp, "jti": "j"});
    let header = |kid: &str, typ: &str| serde_json::json!({"alg": "HS256", "typ": typ, "kid": kid});
    let bearer = |kid: &str, typ: &str, aud: &str, exp: u64, key: &[u8]| {
        format!("Bearer {}", sign(&header(kid, typ), &claims(aud, exp), key))
    };
    let exp = now + 600;
    let good = bearer("t1", "at+jwt", "campushub-api", exp, &key);
    assert_eq!(
        get_with(&server, "/api/v1/me", &good).status,
        200,
        "the forging helper makes valid tokens"
    );

    let parts: Vec<&str> = good["Bearer ".len()..].split('.').collect();
    let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"alg":"none","typ":"at+jwt","kid":"t1"}"#);
    let other_key = b"another-secret-another-secret-0123";
    let tampered_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(claims("campushub-api", now + 99_999).to_string());
    let cases = [
        ("no header", String::new()),
        ("basic auth", "Basic dXNlcjpwYXNz".to_string()),
        ("garbage", "Bearer not-a-token".to_string()),
        ("alg none", format!("Bearer {none_header}.{}.", parts[1])),
        (
            "tampered payload",
            format!("Bearer {}.{tampered_claims}.{}", parts[0], parts[2]),
        ),
        (
            "unknown kid",
            bearer("other", "at+jwt", "campushub-api", exp, &key),
        ),
        ("wrong typ", bearer("t1", "JWT", "campushub-api", exp, &key)),
        (
            "wrong audience",
            bearer("t1", "at+jwt", "someone-else", exp, &key),
        ),
        (
            "expired",
            bearer("t1", "at+jwt", "campushub-api", now - 120, &key),
        ),
        (
            "wrong key",
            bearer("t1", "at+jwt", "campushub-api", exp, other_key),
        ),
    ];
    for (name, auth) in cases {
        let r = if auth.is_empty() {
            parse_responses(
                &server.raw(b"GET /api/v1/me HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
                &[],
            )
            .remove(0)
        } else {
            get_with(&server, "/api/v1/me", &auth)
        };
        assert_eq!(
            r.status,
            401,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            r.header("WWW-Authenticate").unwrap().starts_with("Bearer"),
            "{name}"
        );
        assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
    }
}

#[test]
fn malformed_log_ins_are_415_or_422() {
    let server = server();
    let req = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
    assert_eq!(parse_responses(&server.raw(req), &[]).remove(0).status, 415);
    assert_eq!(
        post_json(&server, "/api/v1/auth/login", "{not json").status,
        422
    );
    assert_eq!(
        post_json(&server, "/api/v1/auth/login", r#"{"username":"student1"}"#).status,
        422
    );
    assert_eq!(
        post_json(
            &server,
            "/api/v1/auth/login",
            r#"{"username":"","password":"x"}"#
        )
        .status,
        422
    );
    let r = parse_responses(
        &server.raw(b"GET /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        &[],
    )
    .remove(0);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST, OPTIONS"));
}

fn refresh(server: &TestServer, path: &str, token: &str) -> Resp {
    post_json(
        server,
        path,
        &serde_json::json!({"refresh_token": token}).to_string(),
    )
}

#[test]
fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let server = server();
    let first = login(&server, "student7", "campushub-demo").json();
    let r1 = first["refresh_token"].as_str().unwrap().to_string();

    let second = refresh(&server, "/api/v1/auth/refresh", &r1);
    assert_eq!(
        second.status,
        200,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    let second = second.json();
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(
        get_with(&server, "/api/v1/me", &format!("Bearer {a2}")).json()["username"],
        "student7"
    );

    // r1 again: someone kept a copy. Refused, and the whole family with it.
    let reuse = refresh(&server, "/api/v1/auth/refresh", &r1);
    assert_eq!(reuse.status, 401);
    assert!(reuse.json()["detail"]
        .as_str()
        .unwrap()
        .contains("already used"));
    assert_eq!(
        refresh(&server, "/api/v1/auth/refresh", &r2).status,
        401,
        "the successor is revoked too"
    );
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("refresh token reused")));

    // Unknown tokens are plainly invalid.
    assert_eq!(
        refresh(&server, "/api/v1/auth/refresh", "made-up").status,
        401
    );
    assert_eq!(post_json(&server, "/api/v1/auth/refresh", "{}").status, 422);
}

#[test]
fn logout_ends_the_session_and_its_access_tokens() {
    let server = server();
    let pair = login(&server, "student8", "campushub-demo").json();
    let access = pair["access_token"].as_str().unwrap();
    let refresh_token = pair["refresh_token"].as_str().unwrap();
    assert_eq!(
        get_with(&server, "/api/v1/me", &format!("Bearer {access}")).status,
        200
    );

    let out = refresh(&server, "/api/v1/auth/logout", refresh_token);
    assert_eq!(out.status, 204);
    let me = get_with(&server, "/api/v1/me", &format!("Bearer {access}"));
    assert_eq!(me.status, 401, "the access token stops working at once");
    assert!(me.json()["detail"].as_str().unwrap().contains("revoked"));
    assert_eq!(
        refresh(&server, "/api/v1/auth/refresh", refresh_token).status,
        401
    );

    // A new log-in right after works.
    let again = login(&server, "student8", "campushub-demo").json();
    let fresh = again["access_token"].as_str().unwrap();
    assert_eq!(
        get_with(&server, "/api/v1/me", &format!("Bearer {fresh}")).status,
        200
    );
    // Logging out with an unknown token says nothing either way.
    assert_eq!(
        refresh(&server, "/api/v1/auth/logout", "made-up").status,
        204
    );
}
