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
    bind(
        &server,
        &admin,
        creator,
        &keymaker,
        ("institution", &institution()),
    );
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
    assert_eq!(
        call(&server, "GET", &record, Some(&token), None).status,
        403
    );
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
    bind(
        &server,
        &admin,
        creator,
        &keymaker,
        ("institution", &institution()),
    );
    let token = access_token(&server, creator);
    let r = new_key(
        &server,
        &token,
        "all-students",
        Some(1),
        serde_json::json!([
            {"role": reader, "scope": {"type": "institution", "sourced_id": institution()}}]),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("students.read"));
    // Nor can the self-only role itself be given to a key.
    let r = new_key(
        &server,
        &token,
        "me",
        Some(1),
        serde_json::json!([
            {"role": "student", "scope": {"type": "institution", "sourced_id": institution()}}]),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    unbind_extras(creator);
}

#[test]
fn a_revoked_keys_bindings_do_not_keep_its_role_in_use() {
    let server = TestServer::spawn(&[]);
    let admin = admin(&server);
    let name = role(&server, &admin, "syncer", &["students.read"]);
    let r = new_key(
        &server,
        &admin,
        "sync",
        Some(1),
        serde_json::json!([
            {"role": name, "scope": {"type": "institution", "sourced_id": institution()}}]),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["sourced_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/roles/{name}");
    assert_eq!(
        call(&server, "DELETE", &path, Some(&admin), None).status,
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
    assert_eq!(
        call(&server, "DELETE", &path, Some(&admin), None).status,
        204
    );
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
    let r = call(
        server,
        "POST",
        "/api/v1/auth/mfa/enroll",
        Some(&token),
        Some(&body),
    );
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
    for _ in 0..3 {
        let r = call(
            &limited,
            "POST",
            "/api/v1/auth/mfa/disable",
            Some(&token),
            Some(&wrong_code.to_string()),
        );
        assert_ne!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
        std::thread::sleep(Duration::from_millis(2100));
    }
    let r = call(
        &limited,
        "POST",
        "/api/v1/auth/mfa/disable",
        Some(&token),
        Some(&wrong_code.to_string()),
    );
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
    assert_eq!(
        call(&server, "GET", &path, Some(&student), None).status,
        403
    );
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
        new_key(
            &server,
            &admin,
            "k\u{0}",
            Some(1),
            serde_json::json!([
                {"role": "registrar", "scope": {"type": "institution", "sourced_id": institution()}}]),
        ),
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
    let r = new_key(
        &server,
        &admin,
        "creds",
        Some(1),
        serde_json::json!([
            {"role": "registrar", "scope": {"type": "institution", "sourced_id": institution()}}]),
    );
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
        let r = call(&server, "POST", path, Some(&key), Some(body));
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
    assert_eq!(
        call(&server, "GET", "/api/v1/me", Some(&key), None).status,
        200
    );
}
