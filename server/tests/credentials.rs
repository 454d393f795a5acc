//! The caller's own credentials against the real server: MFA enrolment, the two-step log-in,
//! replayed and wrong codes, removal; password change ending every session. Each change is
//! in the audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use campushub::auth::totp;
use common::campus::{send_text, status_as};
use common::{access_token, call, now_s, sql_one, TestServer};

/// The code for `offset` steps from now, as an authenticator a little fast or slow shows it.
fn code(secret: &[u8], offset: i64) -> String {
    common::totp_code(secret, offset)
}

fn login(server: &TestServer, user: &str, password: &str) -> common::Resp {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    call(server, "POST", "/api/v1/auth/login", None, Some(&body))
}

fn audited(user: &str, action: &str) -> u32 {
    sql_one(&format!(
        "SELECT count(*) FROM audit_events e JOIN users u ON u.id = e.target_id::bigint \
         WHERE e.target_type = 'user' AND u.username = '{user}' AND e.action = '{action}'"
    ))
    .parse()
    .unwrap()
}

#[test]
fn mfa_enrol_log_in_with_a_code_and_disable() {
    let server = TestServer::spawn(&[]);
    let user = "student10";
    let token = access_token(&server, user);

    // Enrolment: a secret shown once, proven with a code before MFA turns on.
    let r = call(
        &server,
        "POST",
        "/api/v1/auth/mfa/enroll",
        Some(&token),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let secret = totp::base32_decode(r.json()["secret"].as_str().unwrap()).unwrap();
    assert!(r.json()["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/campushub:student10?secret="));
    let wrong = format!(
        "{{\"code\":\"{:06}\"}}",
        (totp::code_at(&secret, now_s() / totp::STEP_S) + 1) % 1_000_000
    );
    let r = send_text(&server, "POST", "/api/v1/auth/mfa/enroll", &token, &wrong);
    assert_eq!(r.status, 422);

    // Stay clear of a step boundary: the three codes below are a step apart.
    if now_s() % totp::STEP_S > totp::STEP_S - 4 {
        std::thread::sleep(Duration::from_secs(5));
    }
    let enable = format!("{{\"code\":\"{}\"}}", code(&secret, -1));
    let r = send_text(&server, "POST", "/api/v1/auth/mfa/enroll", &token, &enable);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["mfa_enabled"], true);
    let again = call(
        &server,
        "POST",
        "/api/v1/auth/mfa/enroll",
        Some(&token),
        None,
    );
    assert_eq!(again.status, 409, "re-enrolling needs MFA off first");

    // The password alone no longer logs in: it answers with a challenge.
    let r = login(&server, user, "campushub-demo");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["type"], "/problems/mfa-required");
    let challenge = r.json()["challenge"].as_str().unwrap().to_string();
    assert!(r.json()["challenge_expires_in"].as_u64().unwrap() <= 300);
    // A challenge is not an access token.
    assert_eq!(status_as(&server, "GET", "/api/v1/me", &challenge), 401);
    let verify = |c: &str| {
        let body = serde_json::json!({"challenge": challenge, "code": c}).to_string();
        call(
            &server,
            "POST",
            "/api/v1/auth/mfa/verify",
            None,
            Some(&body),
        )
    };
    assert_eq!(verify("000000x").status, 401);
    // The code that enabled MFA was spent; it does not log in.
    assert_eq!(verify(&code(&secret, -1)).status, 401);
    let good = code(&secret, 0);
    let r = verify(&good);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mfa_token = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&server, "GET", "/api/v1/me", Some(&mfa_token), None).json()["username"],
        user
    );
    assert_eq!(verify(&good).status, 401, "a code works once");
    let forged = serde_json::json!({"challenge": token, "code": code(&secret, 1)}).to_string();
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/auth/mfa/verify",
            None,
            Some(&forged)
        )
        .status,
        401,
        "an access token is not a challenge"
    );

    // Removal needs a current code.
    let r = send_text(
        &server,
        "POST",
        "/api/v1/auth/mfa/disable",
        &mfa_token,
        "{\"code\":\"123\"}",
    );
    assert_eq!(r.status, 422);
    let off = format!("{{\"code\":\"{}\"}}", code(&secret, 1));
    let r = send_text(
        &server,
        "POST",
        "/api/v1/auth/mfa/disable",
        &mfa_token,
        &off,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(login(&server, user, "campushub-demo").status, 200);
    assert!(audited(user, "auth.mfa_enabled") >= 1);
    assert!(audited(user, "auth.mfa_disabled") >= 1);
    assert!(audited(user, "auth.mfa_failed") >= 1);
}

#[test]
fn password_change_ends_every_session() {
    let server = TestServer::spawn(&[]);
    let user = "student11";
    let r = login(&server, user, "campushub-demo");
    assert_eq!(r.status, 200);
    let access = r.json()["access_token"].as_str().unwrap().to_string();
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    let change = |token: &str, current: &str, new: &str| {
        let body =
            serde_json::json!({"current_password": current, "new_password": new}).to_string();
        send_text(&server, "POST", "/api/v1/auth/password", token, &body)
    };
    assert_eq!(
        change(&access, "wrong-password", "a-new-long-password").status,
        422
    );
    assert_eq!(change(&access, "campushub-demo", "short").status, 422);
    assert_eq!(
        change(&access, "campushub-demo", "campushub-demo").status,
        422
    );
    let r = call(
        &server,
        "POST",
        "/api/v1/auth/password",
        Some(&access),
        Some(
            r#"{"current_password":"campushub-demo","new_password":"a-new-long-password","role":"admin"}"#,
        ),
    );
    assert_eq!(r.status, 422, "fields a caller may not set are refused");
    assert_eq!(
        change(&access, "campushub-demo", "a-new-long-password").status,
        204
    );

    // Every session ended: this access token, the refresh token, the old password.
    assert_eq!(status_as(&server, "GET", "/api/v1/me", &access), 401);
    let body = serde_json::json!({"refresh_token": refresh}).to_string();
    assert_eq!(
        call(&server, "POST", "/api/v1/auth/refresh", None, Some(&body)).status,
        401
    );
    assert_eq!(login(&server, user, "campushub-demo").status, 401);
    let r = login(&server, user, "a-new-long-password");
    assert_eq!(r.status, 200);
    assert!(audited(user, "auth.password_changed") >= 1);

    // Put it back for the other tests (and reruns on the same stack).
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        change(&token, "a-new-long-password", "campushub-demo").status,
        204
    );
    assert_eq!(login(&server, user, "campushub-demo").status, 200);
}
