//! Regression tests for the findings of the security review, one per finding, each named after
//! the hole it closes: API keys that outlived their creator's rights or carried self-only
//! rights, MFA verification past a lock-out, unlimited guessing of current credentials,
//! lock-outs anyone could trigger (and that told who exists), the anonymous department summary,
//! rate-limit keys one could collide with, NUL bytes that gave 500, and operational detail
//! open to anyone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use campushub::auth::totp;
use common::{
    access_token, call, call_from, forget_failures, login_patiently, now_s, sql_one, Resp,
    TestServer,
};

fn admin(server: &TestServer) -> String {
    access_token(server, "admin")
}

fn user_id(username: &str) -> String {
    sql_one(&format!(
        "SELECT sourced_id FROM users WHERE username = '{username}'"
    ))
}

fn institution() -> String {
    sql_one("SELECT sourced_id FROM orgs WHERE type = 'institution'")
}

fn department(identifier: &str) -> String {
    sql_one(&format!(
        "SELECT sourced_id FROM orgs WHERE type = 'department' AND identifier = '{identifier}'"
    ))
}

/// A student of the department `identifier` other than `not`.
fn student_in(identifier: &str) -> String {
    sql_one(&format!(
        "SELECT u.sourced_id FROM users u JOIN student_profiles sp ON sp.user_id = u.id \
         JOIN orgs d ON d.id = sp.department_id WHERE d.identifier = '{identifier}' \
         ORDER BY u.id DESC LIMIT 1"
    ))
}

fn post(server: &TestServer, path: &str, token: Option<&str>, body: serde_json::Value) -> Resp {
    call(server, "POST", path, token, Some(&body.to_string()))
}

/// Makes a custom role (unique per test process) with `permissions`; returns its name.
fn role(server: &TestServer, admin: &str, tag: &str, permissions: &[&str]) -> String {
    let name = format!("{tag}_{}", std::process::id());
    let r = post(
        server,
        "/api/v1/roles",
        Some(admin),
        serde_json::json!({"name": name, "description": tag, "permissions": permissions}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    name
}

/// Removes every binding of `user` but the seeded ones (a run that failed half-way leaves
/// some behind; the suite runs twice against one database).
fn unbind_extras(user: &str) {
    sql_one(&format!(
        "WITH d AS (DELETE FROM role_bindings WHERE user_id = (SELECT id FROM users WHERE username = '{user}') \
         AND role_id NOT IN (SELECT id FROM roles WHERE name IN ('student', 'guardian')) RETURNING 1) \
         SELECT count(*) FROM d"
    ));
}

/// Binds `role` to `user` at a scope; returns the binding's id.
fn bind(server: &TestServer, admin: &str, user: &str, role: &str, scope: (&str, &str)) -> String {
    let r = post(
        server,
        "/api/v1/role-bindings",
        Some(admin),
        serde_json::json!({"user": user_id(user), "role": role,
                           "scope": {"type": scope.0, "sourced_id": scope.1}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["sourced_id"].as_str().unwrap().to_string()
}

/// Binds `role` to `user` for the whole institution; returns the binding's id.
fn bind_institution(server: &TestServer, admin: &str, user: &str, role: &str) -> String {
    bind(server, admin, user, role, ("institution", &institution()))
}

/// A key named `name` holding `role` for the whole institution, for a day, made as `token`.
fn day_key(server: &TestServer, token: &str, name: &str, role: &str) -> Resp {
    let scope = serde_json::json!({"type": "institution", "sourced_id": institution()});
    new_key(
        server,
        token,
        name,
        Some(1),
        serde_json::json!([{"role": role, "scope": scope}]),
    )
}

/// `POST /api/v1/api-keys` as `token`: a key named `name` with `bindings` (`expires_in_days`
/// merged in when given).
fn new_key(
    server: &TestServer,
    token: &str,
    name: &str,
    expires_in_days: Option<i32>,
    bindings: serde_json::Value,
) -> Resp {
    let mut body = serde_json::json!({"name": name, "bindings": bindings});
    if let Some(days) = expires_in_days {
        body["expires_in_days"] = days.into();
    }
    post(server, "/api/v1/api-keys", Some(token), body)
}

fn key_get(server: &TestServer, path: &str, key: &str) -> u16 {
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n");
    common::parse_responses(&server.raw(req.as_bytes()), &[])
        .remove(0)
        .status
}

#[test]
fn an_api_key_loses_what_its_creator_loses_and_always_expires() {
    // Without Redis, so that a change made behind the server's back (an account disabled in
    // SQL) reaches it within the fallback expiry.
    let server = TestServer::spawn(&[("CAMPUSHUB_REDIS_URL", "")]);
    let admin = admin(&server);
    let creator = "student21";
    unbind_extras(creator);
    let keymaker = role(&server, &admin, "keymaker", &["api_keys.manage"]);
    bind_institution(&server, &admin, creator, &keymaker);
    let hod = bind(
        &server,
        &admin,
        creator,
        "head_of_department",
        ("department", &department("ACC")),
    );
    let token = access_token(&server, creator);
    let r = new_key(
        &server,
        &token,
        "reports",
        None,
        serde_json::json!([
            {"role": "head_of_department", "scope": {"type": "department", "sourced_id": department("ACC")}}]),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // Made without an end, it still expires: after the server's maximum lifetime.
    assert_eq!(r.json()["expires_in_days"], 365);
    let key = r.json()["key"].as_str().unwrap().to_string();
    let prefix = r.json()["prefix"].as_str().unwrap().to_string();
    let days = sql_one(&format!(
        "SELECT round(extract(epoch FROM expires_at - now()) / 86400) FROM api_keys WHERE prefix = '{prefix}'"
    ));
    assert_eq!(days, "365");
    let over = new_key(
        &server,
        &token,
        "forever",
        Some(3650),
        serde_json::json!([
            {"role": "head_of_department", "scope": {"type": "department", "sourced_id": department("ACC")}}]),
    );
    assert_eq!(over.status, 422, "longer than the maximum lifetime");

    let record = format!("/api/v1/students/{}", student_in("ACC"));
    assert_eq!(key_get(&server, &record, &key), 200);
    // The creator loses the binding: their token and their key both lose the record.
    let r = call(
        &server,
        "DELETE",
        &format!("/api/v1/role-bindings/{hod}"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(status_as(&server, "GET", &record, &token), 403);
    assert_eq!(
        key_get(&server, &record, &key),
        403,
        "a key acts with no more than its creator holds now"
    );
    // Given back, the key works again (nothing was revoked, only narrowed).
    bind(
        &server,
        &admin,
        creator,
        "head_of_department",
        ("department", &department("ACC")),
    );
    assert_eq!(key_get(&server, &record, &key), 200);
    // The creator's account is disabled: the key stops within the fallback expiry.
    sql_one(&format!(
        "UPDATE users SET enabled_user = false WHERE username = '{creator}' RETURNING 1"
    ));
    let stopped = common::eventually(Duration::from_secs(8), || {
        key_get(&server, &record, &key) == 401
    });
    sql_one(&format!(
        "UPDATE users SET enabled_user = true WHERE username = '{creator}' RETURNING 1"
    ));
    assert!(stopped, "a disabled creator's key kept working");
    unbind_extras(creator);
}

#[test]
fn self_only_rights_never_transfer_to_an_api_key() {
    let server = TestServer::spawn(&[]);
    let admin = admin(&server);
    // A student who may make keys: their own `students.read` (student role, bound at the
    // institution but self-only) must not count as the right to read every student.
    let creator = "student22";
    unbind_extras(creator);
    let keymaker = role(&server, &admin, "keymaker_self", &["api_keys.manage"]);
    let reader = role(&server, &admin, "reader_self", &["students.read"]);
    bind_institution(&server, &admin, creator, &keymaker);
    let token = access_token(&server, creator);
    let r = day_key(&server, &token, "all-students", &reader);
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("students.read"));
    // Nor can the self-only role itself be given to a key.
    let r = day_key(&server, &token, "me", "student");
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    unbind_extras(creator);
}

#[test]
fn a_revoked_keys_bindings_do_not_keep_its_role_in_use() {
    let server = TestServer::spawn(&[]);
    let admin = admin(&server);
    let name = role(&server, &admin, "syncer", &["students.read"]);
    let r = day_key(&server, &admin, "sync", &name);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["sourced_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/roles/{name}");
    assert_eq!(
        status_as(&server, "DELETE", &path, &admin),
        409,
        "a live key holds it"
    );
    let r = call(
        &server,
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 204);
    assert_eq!(status_as(&server, "DELETE", &path, &admin), 204);
}

fn code(secret: &[u8], offset: i64) -> String {
    common::totp_code(secret, offset)
}

/// Turns MFA off for `user` and forgets their failed attempts.
fn mfa_off(user: &str) {
    forget_failures(user);
    sql_one(&format!(
        "UPDATE users SET mfa_enabled = false, mfa_secret = NULL, mfa_last_step = NULL \
         WHERE username = '{user}' RETURNING 1"
    ));
}

/// Logs `user` in from `from` with the password and the current code (clear of a step
/// boundary, so the code is still current when it arrives).
fn mfa_log_in(server: &TestServer, from: Ipv4Addr, user: &str, secret: &[u8]) -> Resp {
    if now_s() % totp::STEP_S > totp::STEP_S - 4 {
        std::thread::sleep(Duration::from_secs(5));
    }
    let challenge = challenge_from(server, from, user);
    verify_from(server, from, &challenge, &code(secret, 0))
}

/// Turns MFA on for `user` (off first, if a previous run left it on); returns the secret and
/// an access token.
fn enrol(server: &TestServer, user: &str) -> (Vec<u8>, String) {
    mfa_off(user);
    let token = access_token(server, user);
    let r = call(
        server,
        "POST",
        "/api/v1/auth/mfa/enroll",
        Some(&token),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let secret = totp::base32_decode(r.json()["secret"].as_str().unwrap()).unwrap();
    let body = serde_json::json!({"code": code(&secret, -1)}).to_string();
    let r = send_text(server, "POST", "/api/v1/auth/mfa/enroll", &token, &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    (secret, token)
}

fn challenge_from(server: &TestServer, from: Ipv4Addr, user: &str) -> String {
    let r = login_patiently(server, from, user, "campushub-demo");
    assert_eq!(r.json()["type"], "/problems/mfa-required", "{:?}", r.json());
    r.json()["challenge"].as_str().unwrap().to_string()
}

fn verify_from(server: &TestServer, from: Ipv4Addr, challenge: &str, code: &str) -> Resp {
    let body = serde_json::json!({"challenge": challenge, "code": code}).to_string();
    common::patiently(|| {
        call_from(
            server,
            from,
            "POST",
            "/api/v1/auth/mfa/verify",
            None,
            Some(&body),
        )
    })
}

#[test]
fn mfa_verify_gives_nothing_to_a_locked_out_address_even_for_the_right_code() {
    let server = TestServer::spawn(&[]);
    let user = "student23";
    let (secret, _) = enrol(&server, user);
    let here = Ipv4Addr::new(127, 0, 0, 23);
    if now_s() % totp::STEP_S > totp::STEP_S - 12 {
        std::thread::sleep(Duration::from_secs(13));
    }
    let challenge = challenge_from(&server, here, user);
    let wrong = format!(
        "{:06}",
        (totp::code_at(&secret, now_s() / totp::STEP_S) + 1) % 1_000_000
    );
    let statuses: Vec<u16> = (0..5)
        .map(|_| verify_from(&server, here, &challenge, &wrong).status)
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 423]);
    let r = verify_from(&server, here, &challenge, &code(&secret, 0));
    assert_eq!(
        r.status,
        423,
        "the right code after the lock: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.json().get("access_token").is_none());
    forget_failures(user);
}

#[test]
fn current_password_and_mfa_code_guesses_are_limited_locked_and_audited() {
    let server = TestServer::spawn(&[]);
    let user = "student24";
    let (secret, token) = enrol(&server, user);
    let here = Ipv4Addr::LOCALHOST;
    let audited = |action: &str| -> u32 {
        sql_one(&format!(
            "SELECT count(*) FROM audit_events e JOIN users u ON u.id::text = e.target_id \
             WHERE e.target_type = 'user' AND u.username = '{user}' AND e.action = '{action}' \
             AND e.occurred_at > now() - interval '5 minutes'"
        ))
        .parse()
        .unwrap()
    };
    let attempt = |path: &str, body: &serde_json::Value| -> Resp {
        let body = body.to_string();
        common::patiently(|| call_from(&server, here, "POST", path, Some(&token), Some(&body)))
    };
    let before = audited("auth.password_change_failed");
    let wrong_password = serde_json::json!({"current_password": "not-it-at-all", "new_password": "a-new-password-123"});
    let wrong_code = serde_json::json!({"code": format!("{:06}", (totp::code_at(&secret, now_s() / totp::STEP_S) + 7) % 1_000_000)});
    let statuses: Vec<u16> = vec![
        attempt("/api/v1/auth/password", &wrong_password).status,
        attempt("/api/v1/auth/mfa/disable", &wrong_code).status,
        attempt("/api/v1/auth/password", &wrong_password).status,
        attempt("/api/v1/auth/mfa/disable", &wrong_code).status,
        attempt("/api/v1/auth/password", &wrong_password).status,
    ];
    assert_eq!(statuses, [422, 422, 422, 422, 423]);
    assert_eq!(audited("auth.password_change_failed"), before + 3);
    assert!(audited("auth.mfa_disable_failed") >= 2);
    // Locked: the right current password changes nothing.
    let right = serde_json::json!({"current_password": "campushub-demo", "new_password": "a-new-password-123"});
    assert_eq!(attempt("/api/v1/auth/password", &right).status, 423);
    forget_failures(user);

    // Per principal as well: a fourth guess within the window is refused before any check.
    let limited = TestServer::spawn(&[("CAMPUSHUB_RATE_LIMITS", "credentials=3/15m")]);
    let id = sql_one(&format!("SELECT id FROM users WHERE username = '{user}'"));
    common::redis(&["DEL", &format!("campushub:rl:credentials:{id}")]);
    let wrong_code = wrong_code.to_string();
    let guess = || {
        send_text(
            &limited,
            "POST",
            "/api/v1/auth/mfa/disable",
            &token,
            &wrong_code,
        )
    };
    for _ in 0..3 {
        let r = guess();
        assert_ne!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
        std::thread::sleep(Duration::from_millis(2100));
    }
    let r = guess();
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["type"], "/problems/rate-limited");
    assert!(r
        .header("RateLimit-Policy")
        .unwrap()
        .starts_with("\"credentials\";"));
    mfa_off(user);
}

#[test]
fn strangers_cannot_lock_an_account_and_unknown_names_answer_alike() {
    let server = TestServer::spawn(&[
        ("CAMPUSHUB_LOGIN_MAX_FAILURES", "3"),
        ("CAMPUSHUB_LOGIN_ACCOUNT_MAX_FAILURES", "6"),
    ]);
    let victim = "student25";
    let mfa_victim = "student26";
    forget_failures(victim);
    let unknown = format!("nobody_{}", std::process::id());
    let attacker = Ipv4Addr::new(127, 0, 0, 25);
    let elsewhere = Ipv4Addr::new(127, 0, 0, 26);
    let owner = Ipv4Addr::new(127, 0, 0, 27);

    // From one address, a real and an unknown name get the same answers.
    let seen = |name: &str| -> Vec<(u16, String)> {
        (0..4)
            .map(|i| {
                let r = login_patiently(&server, attacker, name, &format!("guess-{i}"));
                (r.status, r.json()["type"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let real = seen(victim);
    assert_eq!(real, seen(&unknown));
    assert_eq!(
        real.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [401, 401, 423, 423]
    );
    // The attacker's lock is the attacker's: the owner logs in from their own address.
    let r = login_patiently(&server, owner, victim, "campushub-demo");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // Guessing from many addresses locks the account for everyone (non-MFA accounts: the
    // right password alone does not pass), and the unknown name alike.
    forget_failures(victim);
    for from in [attacker, elsewhere] {
        for (name, _) in [(victim, 0), (unknown.as_str(), 0)] {
            for i in 0..3 {
                login_patiently(&server, from, name, &format!("spray-{i}"));
            }
        }
    }
    let r = login_patiently(&server, owner, victim, "campushub-demo");
    assert_eq!(r.status, 423, "{}", String::from_utf8_lossy(&r.body));
    let u = login_patiently(&server, owner, &unknown, "campushub-demo");
    assert_eq!(u.status, 423, "unknown names lock alike");
    forget_failures(victim);

    // An MFA account: the right password and code from an address that is not itself locked
    // get through a lock caused elsewhere.
    let (secret, _) = enrol(&server, mfa_victim);
    for from in [attacker, elsewhere] {
        for i in 0..3 {
            login_patiently(&server, from, mfa_victim, &format!("spray-{i}"));
        }
    }
    assert_eq!(
        login_patiently(&server, attacker, mfa_victim, "campushub-demo").status,
        423
    );
    let r = mfa_log_in(&server, owner, mfa_victim, &secret);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    mfa_off(mfa_victim);
}

#[test]
fn a_log_in_name_cannot_spend_an_accounts_mfa_budget() {
    let server = TestServer::spawn(&[("CAMPUSHUB_RATE_LIMITS", "login=3/5m")]);
    let user = "student27";
    let (secret, _) = enrol(&server, user);
    let id = sql_one(&format!("SELECT id FROM users WHERE username = '{user}'"));
    let here = Ipv4Addr::new(127, 0, 0, 28);
    for key in [
        format!("campushub:rl:login:u:{id}|{here}"),
        format!("campushub:rl:login:n:uid:{id}|{here}"),
        format!("campushub:rl:login:n:u:{id}|{here}"),
    ] {
        common::redis(&["DEL", &key]);
    }
    // Names shaped like the old and the new account keys spend their own budgets only.
    for name in [format!("uid:{id}"), format!("u:{id}")] {
        let statuses: Vec<u16> = (0..4)
            .map(|_| {
                let body = serde_json::json!({"username": name, "password": "x"}).to_string();
                call_from(
                    &server,
                    here,
                    "POST",
                    "/api/v1/auth/login",
                    None,
                    Some(&body),
                )
                .status
            })
            .collect();
        assert_eq!(statuses[3], 429, "{name}: {statuses:?}");
    }
    let r = mfa_log_in(&server, here, user, &secret);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    mfa_off(user);
}

#[test]
fn the_department_summary_needs_attendance_read_and_is_computed_once_a_minute() {
    let server = TestServer::spawn(&[]);
    let path = format!("/api/v1/departments/{}/summary", department("ACC"));
    let r = call(&server, "GET", &path, None, None);
    assert_eq!(r.status, 401, "anonymous");
    let student = access_token(&server, "student1");
    assert_eq!(status_as(&server, "GET", &path, &student), 403);
    let admin = admin(&server);
    let first = call(&server, "GET", &path, Some(&admin), None);
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.header("Cache-Control"), Some("private, max-age=60"));
    // The second read is served from the shard's copy: a course added in between does not
    // show until the copy expires.
    let probe = format!("PROBE{}", std::process::id());
    sql_one(&format!(
        "INSERT INTO courses (title, course_code, org_id) SELECT 'Cache probe', '{probe}', id \
         FROM orgs WHERE type = 'department' AND identifier = 'ACC' RETURNING 1"
    ));
    let second = call(&server, "GET", &path, Some(&admin), None);
    sql_one(&format!(
        "WITH d AS (DELETE FROM courses WHERE course_code = '{probe}' RETURNING 1) SELECT count(*) FROM d"
    ));
    assert_eq!(second.status, 200);
    assert_eq!(first.body, second.body);
    assert!(first.json()["courses"].as_i64().is_some());
}

#[test]
fn nul_bytes_are_refused_with_4xx_not_500() {
    let server = TestServer::spawn(&[]);
    let admin = admin(&server);
    let cases: Vec<Resp> = vec![
        call(
            &server,
            "GET",
            "/api/v1/departments?after=a%00b",
            None,
            None,
        ),
        post(
            &server,
            "/api/v1/auth/login",
            None,
            serde_json::json!({"username": "adm\u{0}in", "password": "x"}),
        ),
        call(
            &server,
            "GET",
            "/api/v1/audit-events?action=auth.login%00",
            Some(&admin),
            None,
        ),
        post(
            &server,
            "/api/v1/roles",
            Some(&admin),
            serde_json::json!({"name": format!("nul_{}", std::process::id()), "description": "a\u{0}b", "permissions": []}),
        ),
        day_key(&server, &admin, "k\u{0}", "registrar"),
    ];
    for (i, r) in cases.iter().enumerate() {
        assert!(
            (400..500).contains(&r.status),
            "case {i}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
    }
}

#[test]
fn metrics_and_readiness_details_answer_only_the_ops_token() {
    let token = "ops-token-for-the-tests-0123456789";
    let server = TestServer::spawn(&[("CAMPUSHUB_OPS_TOKEN", token)]);
    let r = call(&server, "GET", "/metrics", None, None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
    assert_eq!(
        call(
            &server,
            "GET",
            "/metrics",
            Some("ops-token-for-the-tests-012345678X"),
            None
        )
        .status,
        401
    );
    let r = call(&server, "GET", "/metrics", Some(token), None);
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("# TYPE campushub_"));
    // Readiness: the verdict for anyone, the figures for operators.
    let r = call(&server, "GET", "/readyz", None, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"status": "ready"}));
    let r = call(&server, "GET", "/readyz", Some(token), None);
    assert_eq!(r.status, 200);
    assert!(r.json()["checks"]["database"]["pool"].is_object());
    assert!(r.json()["memory"]["rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(call(&server, "GET", "/healthz", None, None).status, 200);
}

#[test]
fn an_api_key_cannot_touch_its_creators_credentials() {
    let server = TestServer::spawn(&[]);
    let admin = admin(&server);
    let r = day_key(&server, &admin, "creds", "registrar");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let key = r.json()["key"].as_str().unwrap().to_string();
    // Whoever holds a key must not enrol their own authenticator on its creator, nor change
    // the creator's password or MFA.
    for (path, body) in [
        ("/api/v1/auth/mfa/enroll", "{}"),
        ("/api/v1/auth/mfa/disable", r#"{"code":"123456"}"#),
        (
            "/api/v1/auth/password",
            r#"{"current_password":"campushub-demo","new_password":"taken-over-123"}"#,
        ),
    ] {
        let r = send_text(&server, "POST", path, &key, body);
        assert_eq!(
            r.status,
            403,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(
        sql_one("SELECT mfa_secret IS NULL FROM users WHERE username = 'admin'"),
        "t"
    );
    // The key still reads what it may.
    assert_eq!(status_as(&server, "GET", "/api/v1/me", &key), 200);
}

// ---- The attacker's review of the campus API (da3d698): five medium and eleven low findings.

use common::campus::{
    build_campus, call_with, get, give_password, id_of, new_quiz, ok, open_session, send,
    send_text, spawn_campus, status_as, tag,
};
use serde_json::json;

/// A new staff member of department `dept` with the demo password; returns their public id.
fn staff_member(server: &TestServer, admin: &str, name: &str, dept: &str) -> String {
    let s = ok(
        &send(
            server,
            "POST",
            "/api/v1/staff",
            admin,
            json!({"username": name, "given_name": "Sam", "family_name": "Staff", "role": "administrator",
                   "employee_number": format!("E{name}"), "designation": "Office", "department": dept}),
        ),
        201,
    );
    give_password(name);
    id_of(&s)
}

/// Medium 1: with `admin` bound to one department, a caller deactivated (and could re-email)
/// an institution-wide administrator whose profile sat in that department; students alike.
#[test]
fn a_department_admin_cannot_change_or_deactivate_someone_with_wider_grants() {
    let (server, admin, _, c) = spawn_campus(1);
    let t = &c.t;
    let dept_admin_name = format!("da{t}");
    let dept_admin = staff_member(&server, &admin, &dept_admin_name, &c.dept);
    bind(
        &server,
        &admin,
        &dept_admin_name,
        "admin",
        ("department", &c.dept),
    );
    let big_name = format!("ia{t}");
    let big = staff_member(&server, &admin, &big_name, &c.dept);
    bind_institution(&server, &admin, &big_name, "admin");
    let big_token = access_token(&server, &big_name);
    let da = access_token(&server, &dept_admin_name);

    let email = json!({"email": format!("taken{t}@example.edu")}).to_string();
    let staff = format!("/api/v1/staff/{big}");
    assert_eq!(send_text(&server, "PATCH", &staff, &da, &email).status, 403);
    assert_eq!(status_as(&server, "DELETE", &staff, &da), 403);
    assert_eq!(status_as(&server, "GET", "/api/v1/me", &big_token), 200);
    // A student of the department who also holds an institution-wide role: the same.
    bind_institution(&server, &admin, &c.student_names[0], "registrar");
    let student = format!("/api/v1/students/{}", c.students[0]);
    assert_eq!(status_as(&server, "DELETE", &student, &da), 403);
    assert_eq!(
        send_text(&server, "PATCH", &student, &da, &email).status,
        403
    );
    // Within the department the department's admin still works: the class's teacher.
    let teacher = format!("/api/v1/staff/{}", c.teacher);
    assert_eq!(status_as(&server, "DELETE", &teacher, &da), 204);
    // Nobody deactivates themself (409), the institution's administrator included.
    let dept_admins = format!("/api/v1/staff/{dept_admin}");
    let own = call(&server, "DELETE", &dept_admins, Some(&da), None);
    assert_eq!(own.status, 409, "{}", String::from_utf8_lossy(&own.body));
    assert_eq!(status_as(&server, "DELETE", &staff, &big_token), 409);
    // The institution's administrator may deactivate the department's.
    let r = call(&server, "DELETE", &dept_admins, Some(&admin), None);
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
}

/// Low: the institution's last administrator could be deactivated (or unbound), after which
/// nobody could administer the campus. On a database of its own, with one administrator;
/// then two, each removing the other at the same moment, round after round: never both.
#[test]
fn the_last_institution_administrator_cannot_be_removed_even_by_two_at_once() {
    let db = common::ScratchDb::new("lastadmin");
    let (rc, _, err) = common::cli(&db.url, &["migrate"]);
    assert_eq!(rc, 0, "{err}");
    let (rc, _, err) = common::admin_create(
        &db.url,
        &[
            "--username",
            "root",
            "--given-name",
            "Ro",
            "--family-name",
            "Ot",
            "--institution",
            "Scratch U",
        ],
        "campushub-demo-root\n",
    );
    assert_eq!(rc, 0, "{err}");
    let server = TestServer::spawn(&[("CAMPUSHUB_DATABASE_URL", db.url.as_str())]);
    // The first line of the answer (psql adds the command's tag after RETURNING rows).
    let sql = |q: &str| {
        common::psql(&db.url, q)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let login = |user: &str| {
        let body = json!({"username": user, "password": "campushub-demo-root"}).to_string();
        let r = call(&server, "POST", "/api/v1/auth/login", None, Some(&body));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["access_token"].as_str().unwrap().to_string()
    };
    let admin_binding = |user: &str| {
        sql(&format!(
            "SELECT b.sourced_id FROM role_bindings b JOIN roles r ON r.id = b.role_id \
             JOIN users u ON u.id = b.user_id WHERE u.username = '{user}' AND r.name = 'admin' \
             AND b.scope_type = 'institution'"
        ))
    };
    let admins = || {
        sql("SELECT count(*) FROM role_bindings b JOIN roles r ON r.id = b.role_id \
             JOIN users u ON u.id = b.user_id WHERE r.name = 'admin' AND b.scope_type = 'institution' \
             AND u.status = 'active' AND u.enabled_user")
    };
    let root = login("root");
    let inst = sql("SELECT sourced_id FROM orgs WHERE type = 'institution'");
    // The only administrator cannot unbind themself, and SQL behind the server's back cannot
    // deactivate them either.
    let unbind = |token: &str, binding: &str| {
        status_as(
            &server,
            "DELETE",
            &format!("/api/v1/role-bindings/{binding}"),
            token,
        )
    };
    let r = call(
        &server,
        "DELETE",
        &format!("/api/v1/role-bindings/{}", admin_binding("root")),
        Some(&root),
        None,
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["type"], "/problems/conflict");
    let (_, _, err) = common::psql_result(
        &db.url,
        "UPDATE users SET status = 'tobedeleted' WHERE username = 'root'",
    );
    assert!(err.contains("no active administrator"), "{err}");
    assert_eq!(admins(), "1");

    let second = sql(
        "INSERT INTO users (username, given_name, family_name, role, password_hash) \
         SELECT 'second', 'Se', 'Cond', 'administrator', password_hash FROM users WHERE username = 'root' \
         RETURNING sourced_id",
    );
    let root_id = sql("SELECT sourced_id FROM users WHERE username = 'root'");
    let bind_admin = |token: &str, user: &str| {
        let r = send(
            &server,
            "POST",
            "/api/v1/role-bindings",
            token,
            json!({"user": user, "role": "admin", "scope": {"type": "institution", "sourced_id": inst}}),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    };
    bind_admin(&root, &second);
    for round in 0..8 {
        let (root_token, second_token) = (login("root"), login("second"));
        let (a, b) = (admin_binding("root"), admin_binding("second"));
        let answers = std::thread::scope(|s| {
            let h1 = s.spawn(|| unbind(&root_token, &b));
            let h2 = s.spawn(|| unbind(&second_token, &a));
            (h1.join().unwrap(), h2.join().unwrap())
        });
        // One wins; the other is refused: 409 by the database's rule, or 403 when its own
        // grant was already gone by the time it was checked.
        assert!(
            matches!(answers, (204, 409 | 403) | (409 | 403, 204)),
            "round {round}: {answers:?}"
        );
        assert_eq!(admins(), "1", "round {round}");
        // The survivor makes the other an administrator again.
        if answers.0 == 204 {
            bind_admin(&root_token, &second);
        } else {
            bind_admin(&second_token, &root_id);
        }
    }
}

/// Medium 2: any teacher could open sessions dated 1900 to 9999, whatever the class's term;
/// daily maintenance then made a partition for every month it found.
#[test]
fn attendance_sessions_lie_in_their_classes_term_and_the_partition_window() {
    let (server, _, _, c) = spawn_campus(1);
    let teacher = access_token(&server, &c.teacher_name);
    let path = format!("/api/v1/classes/{}/attendance-sessions", c.class);
    // The term runs 2026-09-01 to 2027-01-31.
    let outside = ["1900-01-01", "9999-12-31", "2026-08-31", "2027-02-01"].map(|d| (d, 422));
    for (date, status) in outside
        .into_iter()
        .chain([("2026-11-30", 201), ("2026-09-01", 201)])
    {
        let r = send(
            &server,
            "POST",
            &path,
            &teacher,
            json!({"date": date, "period": 1}),
        );
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, status, "{date}: {body}");
        if status == 422 {
            assert_eq!(r.json()["errors"][0]["field"], "date", "{date}");
        }
    }
}

/// Medium 3: a department's registrar enrolled a student of another department into one of
/// its classes, then read the student's whole profile through the roster.
#[test]
fn enrolling_needs_the_right_on_the_student_and_rosters_show_strangers_briefly() {
    let (server, admin, _, c) = spawn_campus(1);
    let name = format!("dr{}", c.t);
    staff_member(&server, &admin, &name, &c.dept);
    bind(&server, &admin, &name, "registrar", ("department", &c.dept));
    let dept_registrar = access_token(&server, &name);
    let stranger = student_in("ACC");
    let enroll = format!("/api/v1/classes/{}/enrollments", c.class);
    for body in [
        json!({"user": stranger}),
        json!({"users": [c.students[0], stranger]}),
    ] {
        let r = send(&server, "POST", &enroll, &dept_registrar, body);
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/students/{stranger}"),
            &dept_registrar
        ),
        403
    );
    // Enrolled by someone who may: the roster shows the stranger only as a register needs.
    ok(
        &send(&server, "POST", &enroll, &admin, json!({"user": stranger})),
        201,
    );
    let roster = ok(
        &call(
            &server,
            "GET",
            &format!("/api/v1/classes/{}/students", c.class),
            Some(&dept_registrar),
            None,
        ),
        200,
    );
    let entries = roster["students"].as_array().unwrap();
    let find = |id: &str| {
        entries
            .iter()
            .find(|e| e["sourced_id"] == id)
            .unwrap()
            .clone()
    };
    let brief = find(&stranger);
    let mut keys: Vec<&str> = brief
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "family_name",
            "given_name",
            "roll_number",
            "sourced_id",
            "status",
            "username"
        ],
        "{brief}"
    );
    let own = find(&c.students[0]);
    assert!(
        own["email"].is_string() && own["program"].is_string(),
        "{own}"
    );
}

/// Medium 4: a faculty member of the student's home department saw draft results of other
/// departments' classes through the student's results, though the line item's own results
/// were 403 to them.
#[test]
fn draft_results_show_only_to_those_who_may_grade_or_publish_them() {
    let (server, admin, registrar, home) = spawn_campus(1);
    let other = build_campus(&server, &admin, &registrar, 0);
    let student = &home.students[0];
    ok(
        &send(
            &server,
            "POST",
            &format!("/api/v1/classes/{}/enrollments", other.class),
            &admin,
            json!({"user": student}),
        ),
        201,
    );
    let other_teacher = access_token(&server, &other.teacher_name);
    let item = new_quiz(&server, &other_teacher, &other.class, "Draft quiz");
    ok(
        &send(
            &server,
            "PUT",
            &format!("/api/v1/line-items/{item}/results"),
            &other_teacher,
            json!({"results": [{"student": student, "score": 4}]}),
        ),
        200,
    );
    let drafts = |token: &str| -> usize {
        let v = ok(
            &call(
                &server,
                "GET",
                &format!("/api/v1/students/{student}/results"),
                Some(token),
                None,
            ),
            200,
        );
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["line_item"]["sourced_id"] == item.as_str())
            .count()
    };
    // The home department's teacher reads the student's results, but not another
    // department's draft; nor the draft's own results.
    let home_teacher = access_token(&server, &home.teacher_name);
    assert_eq!(drafts(&home_teacher), 0);
    // A colleague of the other department who does not teach the class: 403 on the draft.
    let colleague = format!("oc{}", other.t);
    staff_member(&server, &admin, &colleague, &other.dept);
    bind(
        &server,
        &admin,
        &colleague,
        "faculty",
        ("department", &other.dept),
    );
    let colleague = access_token(&server, &colleague);
    let sheet = format!("/api/v1/line-items/{item}/results");
    assert_eq!(status_as(&server, "GET", &sheet, &colleague), 403);
    // Those who may grade or publish it see it.
    assert_eq!(status_as(&server, "GET", &sheet, &other_teacher), 200);
    assert_eq!(drafts(&admin), 1);
    // Published, everyone who may read the student's results sees it.
    ok(
        &send(
            &server,
            "PATCH",
            &format!("/api/v1/line-items/{item}"),
            &admin,
            json!({"status": "published"}),
        ),
        200,
    );
    assert_eq!(drafts(&home_teacher), 1);
}

/// The machine's address that is not loopback (the route to a documentation address), to
/// connect from: a client the server does not take for itself.
fn outside_address() -> Ipv4Addr {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    s.connect("203.0.113.1:9")
        .expect("a route off this machine (needed to act as a remote client)");
    match s.local_addr().unwrap().ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() => ip,
        other => panic!("no IPv4 address besides loopback: {other}"),
    }
}

/// Medium 5: with a trusted proxy network that also holds clients, a client sending
/// `X-Forwarded-For: 127.0.0.1` was taken for loopback: an operator when no ops token is set.
#[test]
fn a_forwarded_loopback_address_grants_nothing() {
    let from = outside_address();
    let trusted = format!("{from}/24");
    let server = TestServer::spawn(&[("CAMPUSHUB_TRUSTED_PROXIES", trusted.as_str())]);
    let req = |xff: &str| {
        format!("GET /metrics HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {xff}\r\nConnection: close\r\n\r\n")
    };
    let r = common::parse_responses(
        &common::raw_from(&server, from, req("127.0.0.1").as_bytes()),
        &[],
    )
    .remove(0);
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    let ready =
        "GET /readyz HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: ::1\r\nConnection: close\r\n\r\n";
    let r =
        common::parse_responses(&common::raw_from(&server, from, ready.as_bytes()), &[]).remove(0);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"status": "ready"}),
        "details are for operators only"
    );
    // A real loopback connection still is one.
    assert_eq!(call(&server, "GET", "/metrics", None, None).status, 200);
}

/// Low: a student got 404 for a random id and 403 for a real one (students, sessions, line
/// items, classes): an oracle for which ids exist.
#[test]
fn a_caller_without_rights_on_a_kind_cannot_tell_real_ids_from_random_ones() {
    let (server, _, registrar, c) = spawn_campus(2);
    let teacher = access_token(&server, &c.teacher_name);
    let session = open_session(&server, &teacher, &c.class, "2026-12-02", 2);
    let item = new_quiz(&server, &teacher, &c.class, "Quiz");
    give_password(&c.student_names[0]);
    let student = access_token(&server, &c.student_names[0]);
    let random = "0b5e1d8e-6f44-4c3b-9d7e-2f1a3c4b5d6e";
    for (real, template) in [
        (c.students[1].as_str(), "/api/v1/students/{}"),
        (session.as_str(), "/api/v1/attendance-sessions/{}"),
        (item.as_str(), "/api/v1/line-items/{}/results"),
        (c.class.as_str(), "/api/v1/classes/{}/students"),
    ] {
        let as_student = |id: &str| get(&server, &template.replace("{}", id), &student);
        let (real, made_up) = (as_student(real), as_student(random));
        assert_eq!((real.status, made_up.status), (403, 403), "{template}");
        assert_eq!(
            real.json()["detail"],
            made_up.json()["detail"],
            "{template}"
        );
    }
    // Their own record still answers, and staff still learn that an id does not exist.
    let own = format!("/api/v1/students/{}", c.students[0]);
    assert_eq!(status_as(&server, "GET", &own, &student), 200);
    let missing = format!("/api/v1/students/{random}");
    assert_eq!(status_as(&server, "GET", &missing, &registrar), 404);
}

/// Low: anonymous `/readyz` was never limited and pinged PostgreSQL, the replica and Redis on
/// every call (2,588 requests/s from one address, all 200).
#[test]
fn anonymous_readiness_is_limited_and_answered_from_a_verdict_at_most_a_second_old() {
    let ops = "ops-token-for-readiness-0123456789";
    let server = TestServer::spawn(&[
        ("CAMPUSHUB_OPS_TOKEN", ops),
        (
            "CAMPUSHUB_RATE_LIMITS",
            "anonymous=20/1m,authenticated=off,auth=off,login=off,credentials=off",
        ),
    ]);
    let checks_made = |s: &TestServer| {
        let r = call(s, "GET", "/metrics", Some(ops), None);
        assert_eq!(r.status, 200);
        common::metric_sum(
            &String::from_utf8_lossy(&r.body),
            "campushub_readiness_checks_total",
        )
    };
    let before = checks_made(&server);
    // From an address of its own: the spawn helper's own readiness polls spent 127.0.0.1's.
    let from = Ipv4Addr::new(127, 0, 0, 77);
    let statuses: Vec<u16> = (0..40)
        .map(|_| call_from(&server, from, "GET", "/readyz", None, None).status)
        .collect();
    assert!(statuses.iter().take(20).all(|s| *s == 200), "{statuses:?}");
    assert!(statuses.iter().skip(20).all(|s| *s == 429), "{statuses:?}");
    // 20 answered within a second or two: a few verdicts taken (each one pings PostgreSQL
    // and Redis), not one per call. (The scrape itself is not a readiness check.)
    let checks = checks_made(&server) - before;
    assert!(
        checks <= 4.0,
        "{checks} dependency checks for 20 anonymous readiness calls"
    );
    // The operator is never limited and always checks.
    for _ in 0..30 {
        assert_eq!(status_as(&server, "GET", "/readyz", ops), 200);
    }
}

/// Low: `TRACE` answered 501 on every path; it is a registered method no route takes: 405.
#[test]
fn trace_is_a_method_not_allowed_with_allow() {
    let server = TestServer::spawn(&[]);
    let r = call(&server, "TRACE", "/api/v1/departments", None, None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, POST, OPTIONS"));
    assert_eq!(call(&server, "TRACE", "/nowhere", None, None).status, 404);
}

/// Low: lenient input: `2026-+1-+1` stored as 2026-01-01, duplicate JSON keys accepted (the
/// last won), names with right-to-left overrides or zero-width characters accepted, a
/// username equal to another account's email, term parents in a circle.
#[test]
fn lenient_input_is_refused() {
    let (server, _, registrar, c) = spawn_campus(0);
    let t = tag();
    let term = |start: &str| json!({"title": format!("T{t}"), "type": "term", "start_date": start, "end_date": "2027-06-30", "school_year": 2027});
    let r = send(
        &server,
        "POST",
        "/api/v1/terms",
        &registrar,
        term("2026-+1-+1"),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let dup = format!(
        r#"{{"username":"dup{t}","given_name":"A","given_name":"B","family_name":"C","roll_number":"D{t}","program":"P","year_of_study":1,"department":"{}"}}"#,
        c.dept
    );
    let r = send_text(&server, "POST", "/api/v1/students", &registrar, &dup);
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("appears twice"));
    let student = |username: &str, given: &str| {
        json!({"username": username, "given_name": given, "family_name": "C", "roll_number": format!("R{username}"),
               "program": "P", "year_of_study": 1, "department": c.dept})
    };
    for given in [
        "Ad\u{202E}nimda",
        "Ada\u{200B}",
        "\u{FEFF}Ada",
        "Ad\u{2066}a",
    ] {
        let r = send(
            &server,
            "POST",
            "/api/v1/students",
            &registrar,
            student(&format!("n{t}"), given),
        );
        assert_eq!(
            r.status,
            422,
            "{given:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // admin@campushub.example is the seeded administrator's email.
    let r = send(
        &server,
        "POST",
        "/api/v1/students",
        &registrar,
        student("admin@campushub.example", "Ada"),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["errors"][0]["field"], "username");
    // Two terms, each the other's parent: the second link is refused.
    let a = id_of(&ok(
        &send(
            &server,
            "POST",
            "/api/v1/terms",
            &registrar,
            term("2027-01-01"),
        ),
        201,
    ));
    let mut child = term("2027-01-02");
    child["parent"] = json!(a);
    let b = id_of(&ok(
        &send(&server, "POST", "/api/v1/terms", &registrar, child),
        201,
    ));
    for parent in [&b, &a] {
        let r = send(
            &server,
            "PATCH",
            &format!("/api/v1/terms/{a}"),
            &registrar,
            json!({"parent": parent}),
        );
        assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["errors"][0]["field"], "parent");
    }
}

/// Low: the 422 list of bad fields was unbounded: a 167 KB request produced a 1.31 MB answer.
#[test]
fn the_list_of_bad_fields_is_capped() {
    let server = TestServer::spawn(&[]);
    let registrar = access_token(&server, "registrar");
    let mut body = serde_json::Map::new();
    // Under the route's body limit (16 KiB): 150 members nobody asked for.
    for i in 0..150 {
        body.insert(
            format!("unknown_member_{i:05}_{}", "x".repeat(80)),
            json!(i),
        );
    }
    let body = serde_json::Value::Object(body).to_string();
    assert!(body.len() > 14_000 && body.len() < 16 * 1024);
    let r = send_text(&server, "POST", "/api/v1/students", &registrar, &body);
    assert_eq!(r.status, 422);
    let errors = r.json()["errors"].as_array().unwrap().len();
    assert!(errors <= 51, "{errors} errors listed");
    assert!(
        r.body.len() < body.len() / 2,
        "{} bytes answered",
        r.body.len()
    );
}

/// Low: any holder of `api_keys.manage` could revoke anyone's key, an administrator's
/// included.
#[test]
fn key_managers_revoke_only_keys_of_people_within_their_own_grants() {
    let (server, admin, _, c) = spawn_campus(2);
    let (manager, reader) = (c.student_names[0].as_str(), c.student_names[1].as_str());
    give_password(manager);
    give_password(reader);
    // `user` gets a new role (`name`: `permissions`) for the whole institution: the role, and
    // their token.
    let holding = |user: &str, name: &str, permissions: &[&str]| {
        let role = role(&server, &admin, name, permissions);
        bind_institution(&server, &admin, user, &role);
        (role, access_token(&server, user))
    };
    let manager_token = holding(manager, "keymaster", &["api_keys.manage", "students.read"]).1;
    // The manager revokes key `key` (the answer that made it): `status`. Its id.
    let revoke = |key: Resp, status: u16| {
        assert_eq!(key.status, 201, "{}", String::from_utf8_lossy(&key.body));
        let id = id_of(&key.json());
        let path = format!("/api/v1/api-keys/{id}");
        let r = call(&server, "DELETE", &path, Some(&manager_token), None);
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        id
    };
    let admins_key = revoke(day_key(&server, &admin, "admins", "registrar"), 404);
    // A key of someone whose grants the manager covers: revoked.
    let (reading, reader_token) = holding(reader, "reading", &["students.read", "api_keys.manage"]);
    revoke(day_key(&server, &reader_token, "reader", &reading), 204);
    // The administrator's key still works.
    assert_eq!(
        status_as(
            &server,
            "DELETE",
            &format!("/api/v1/api-keys/{admins_key}"),
            &admin
        ),
        204
    );
}

/// Low: `If-Match` was ignored on the bulk PUTs (`.../records`, `.../results`).
#[test]
fn if_match_holds_on_registers_and_result_sheets() {
    let (server, _, _, c) = spawn_campus(2);
    let teacher = access_token(&server, &c.teacher_name);
    let etag_of = |path: &str| {
        let r = call(&server, "GET", path, Some(&teacher), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.header("ETag").unwrap().to_string()
    };
    // The copy read at `versioned` goes stale when someone else writes `first` to `put`: a
    // write of `second` from it is refused (412, nothing lost); from a fresh copy it is taken.
    let stale_then_fresh =
        |versioned: &str, put: &str, first: serde_json::Value, second: serde_json::Value| {
            let seen = etag_of(versioned);
            ok(&send(&server, "PUT", put, &teacher, first), 200);
            // `second`, written from the copy with `etag`: `status`.
            let write = |etag: &str, status: u16| {
                let if_match = [("If-Match", etag)];
                let r = call_with(&server, "PUT", put, &teacher, &if_match, Some(&second));
                assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
            };
            write(&seen, 412);
            let now = etag_of(versioned);
            write(&now, 200);
            now
        };

    let session = open_session(&server, &teacher, &c.class, "2026-12-02", 1);
    let session_path = format!("/api/v1/attendance-sessions/{session}");
    let marks = |code: &str| json!({"records": [{"student": c.students[0], "code": code}]});
    let before = stale_then_fresh(
        &session_path,
        &format!("{session_path}/records"),
        marks("P"),
        marks("A"),
    );
    assert_ne!(
        etag_of(&session_path),
        before,
        "a mark moves the register's version"
    );

    let item = new_quiz(&server, &teacher, &c.class, "Quiz");
    let sheet = format!("/api/v1/line-items/{item}/results");
    let scores = |n: u32| json!({"results": [{"student": c.students[1], "score": n}]});
    stale_then_fresh(&sheet, &sheet, scores(5), scores(9));
    let v = ok(&call(&server, "GET", &sheet, Some(&teacher), None), 200);
    assert_eq!(v["results"][0]["score"], 9.0);
}

/// Low: the route table said `attendance.mark` and `exams.grade` for routes that also take
/// `attendance.override` and `exams.publish`; the OpenAPI `x-permission` misled the same way.
#[test]
fn the_openapi_document_names_every_permission_a_route_accepts() {
    let server = TestServer::spawn(&[]);
    let doc = ok(&call(&server, "GET", "/openapi.json", None, None), 200);
    let paths = &doc["paths"];
    assert_eq!(
        paths["/api/v1/attendance-sessions/{id}/records"]["put"]["x-permission"],
        json!(["attendance.mark", "attendance.override"])
    );
    assert_eq!(
        paths["/api/v1/line-items/{id}"]["patch"]["x-permission"],
        json!(["exams.grade", "exams.publish"])
    );
    assert_eq!(
        paths["/api/v1/students/{id}"]["get"]["x-permission"],
        "students.read"
    );
}
