//! Identity and access across instances and the management API: security headers on every
//! response, roles and bindings managed by admins only (function level) with fields a caller
//! may not set refused (property level), `authz/explain`, and changes made through one
//! instance enforced by another: at once over the Redis invalidation bus, and within the
//! fallback expiry without Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::campus::{create, send_text, status_as};
use common::{access_token, call, eventually, sql_one, TestServer};

/// Keys shared by the instances of a test, so a token from one is valid on the other.
const KEYS: &str = "t1=dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk=";

fn instance(redis: bool) -> TestServer {
    let mut env = vec![("CAMPUSHUB_JWT_KEYS", KEYS)];
    if !redis {
        env.push(("CAMPUSHUB_REDIS_URL", ""));
    }
    TestServer::spawn(&env)
}

/// Waits until the instance's invalidation subscription is up.
fn wait_subscribed(server: &TestServer) {
    let ok = eventually(Duration::from_secs(10), || {
        let m = call(server, "GET", "/metrics", None, None);
        String::from_utf8_lossy(&m.body)
            .contains("campushub_invalidation_subscribed{shard=\"0\"} 1")
    });
    assert!(ok, "the invalidation subscription never came up");
}

fn user_id(username: &str) -> String {
    sql_one(&format!(
        "SELECT sourced_id FROM users WHERE username = '{username}'"
    ))
}

fn institution() -> String {
    sql_one("SELECT sourced_id FROM orgs WHERE type = 'institution'")
}

/// A faculty member bound only in their own department, and a student of another department.
fn faculty_and_outside_student(faculty: &str) -> (String, String) {
    let outside = sql_one(&format!(
        "SELECT u.sourced_id FROM users u JOIN student_profiles sp ON sp.user_id = u.id \
         WHERE sp.department_id NOT IN (SELECT b.scope_id FROM role_bindings b \
           JOIN users f ON f.id = b.user_id WHERE f.username = '{faculty}') \
         ORDER BY u.id LIMIT 1"
    ));
    (user_id(faculty), outside)
}

#[test]
fn every_response_carries_security_headers() {
    let server = TestServer::spawn(&[("CAMPUSHUB_HSTS", "true")]);
    for path in ["/healthz", "/no/such/route"] {
        let r = call(&server, "GET", path, None, None);
        assert_eq!(
            r.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("X-Frame-Options"), Some("DENY"), "{path}");
        assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"), "{path}");
        assert!(r
            .header("Content-Security-Policy")
            .is_some_and(|v| v.contains("default-src 'none'")));
        assert!(r
            .header("Strict-Transport-Security")
            .is_some_and(|v| v.starts_with("max-age=")));
        assert_eq!(
            r.header("Cache-Control"),
            None,
            "{path}: no credentials, no rule"
        );
    }
    // Anything answering a request that carried credentials is never stored, errors included.
    let r = call(
        &server,
        "GET",
        "/api/v1/departments?limit=1",
        Some("not-a-token"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let r = call(&server, "GET", "/api/v1/me", Some("not-a-token"), None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("Cache-Control"), Some("no-store"));

    // HSTS only when configured as behind TLS.
    let plain = TestServer::spawn(&[]);
    let r = call(&plain, "GET", "/healthz", None, None);
    assert_eq!(r.header("Strict-Transport-Security"), None);
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
}

#[test]
fn roles_and_bindings_are_managed_by_admins_only() {
    let server = instance(true);
    let student = access_token(&server, "student1");
    let registrar = access_token(&server, "registrar");
    let body = r#"{"name":"x_role","description":"x","permissions":[]}"#;
    // Function level: neither a student nor a registrar may manage roles.
    for (token, who) in [(&student, "student"), (&registrar, "registrar")] {
        for (method, path, body) in [
            ("GET", "/api/v1/roles", None),
            ("POST", "/api/v1/roles", Some(body)),
            (
                "PATCH",
                "/api/v1/roles/faculty",
                Some(r#"{"description":"x"}"#),
            ),
            ("POST", "/api/v1/role-bindings", Some(body)),
            (
                "POST",
                "/api/v1/authz/explain",
                Some(r#"{"user":"x","permission":"students.read"}"#),
            ),
        ] {
            let r = call(&server, method, path, Some(token), body);
            assert_eq!(r.status, 403, "{who} {method} {path}");
        }
    }
    assert_eq!(
        call(&server, "GET", "/api/v1/roles", None, None).status,
        401
    );

    let admin = access_token(&server, "admin");
    let list = call(&server, "GET", "/api/v1/roles", Some(&admin), None);
    assert_eq!(list.status, 200);
    let roles = list.json()["roles"].as_array().unwrap().clone();
    let admin_role = roles.iter().find(|r| r["name"] == "admin").unwrap();
    assert_eq!(admin_role["builtin"], true);
    assert!(admin_role["permissions"]
        .as_array()
        .unwrap()
        .contains(&"roles.manage".into()));

    let name = format!("tutor_{}", std::process::id());
    let create = serde_json::json!({"name": name, "description": "Peer tutors", "permissions": ["students.read"]}).to_string();
    let r = send_text(&server, "POST", "/api/v1/roles", &admin, &create);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["permissions"],
        serde_json::json!(["students.read"])
    );
    assert_eq!(r.json()["builtin"], false);
    let r = send_text(&server, "POST", "/api/v1/roles", &admin, &create);
    assert_eq!(r.status, 409);

    // Property level: fields nobody may set, malformed names, unknown permissions: 422.
    for bad in [
        serde_json::json!({"name": "r2", "description": "d", "permissions": [], "builtin": true}),
        serde_json::json!({"name": "Bad Name!", "description": "d", "permissions": []}),
        serde_json::json!({"name": "r3", "description": "d", "permissions": ["nothing.here"]}),
        serde_json::json!({"name": "r4", "description": "d", "permissions": ["no dot"]}),
        serde_json::json!({"name": "r5", "description": "", "permissions": []}),
    ] {
        let r = send_text(&server, "POST", "/api/v1/roles", &admin, &bad.to_string());
        assert_eq!(r.status, 422, "{bad}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
    }
    let r = send_text(
        &server,
        "PATCH",
        "/api/v1/roles/admin",
        &admin,
        r#"{"permissions":[]}"#,
    );
    assert_eq!(r.status, 409, "built-in roles are not editable");

    let path = format!("/api/v1/roles/{name}");
    let r = call(
        &server,
        "PATCH",
        &path,
        Some(&admin),
        Some(r#"{"permissions":["students.read","attendance.read","students.read"]}"#),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["permissions"],
        serde_json::json!(["attendance.read", "students.read"])
    );

    // Bind it, and see it listed; a bound role cannot be deleted.
    let faculty = user_id("faculty3");
    let bind = serde_json::json!({"user": faculty, "role": name, "scope": {"type": "institution", "sourced_id": institution()}}).to_string();
    let r = send_text(&server, "POST", "/api/v1/role-bindings", &admin, &bind);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let binding = r.json()["sourced_id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["scope"]["type"], "institution");
    assert_eq!(
        send_text(&server, "POST", "/api/v1/role-bindings", &admin, &bind).status,
        409
    );
    let wrong_scope = serde_json::json!({"user": faculty, "role": name, "scope": {"type": "class", "sourced_id": institution()}}).to_string();
    assert_eq!(
        send_text(
            &server,
            "POST",
            "/api/v1/role-bindings",
            &admin,
            &wrong_scope
        )
        .status,
        422
    );
    let listed = call(
        &server,
        "GET",
        &format!("/api/v1/role-bindings?user={faculty}"),
        Some(&admin),
        None,
    );
    assert_eq!(listed.status, 200);
    assert!(listed.json()["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["sourced_id"] == binding.as_str() && b["role"] == name.as_str()));
    assert_eq!(status_as(&server, "DELETE", &path, &admin), 409);

    let bpath = format!("/api/v1/role-bindings/{binding}");
    assert_eq!(status_as(&server, "DELETE", &bpath, &admin), 204);
    assert_eq!(status_as(&server, "DELETE", &bpath, &admin), 404);
    assert_eq!(status_as(&server, "DELETE", &path, &admin), 204);
    assert_eq!(status_as(&server, "GET", &path, &admin), 404);

    // Every change is in the audit trail, by the admin.
    let audited = sql_one(&format!(
        "SELECT string_agg(e.action, ',' ORDER BY e.id) FROM audit_events e \
         JOIN users u ON u.id = e.actor_id WHERE u.username = 'admin' \
         AND (e.target_id = '{name}' OR e.details->>'binding' = '{binding}')"
    ));
    assert_eq!(
        audited,
        "roles.created,roles.updated,role_bindings.created,role_bindings.deleted,roles.deleted"
    );
}

#[test]
fn explain_names_the_rule_or_binding_that_decides() {
    let server = instance(true);
    let admin = access_token(&server, "admin");
    let (faculty, outside) = faculty_and_outside_student("faculty1");
    let inside = sql_one(
        "SELECT u.sourced_id FROM users u JOIN student_profiles sp ON sp.user_id = u.id \
         WHERE sp.department_id IN (SELECT b.scope_id FROM role_bindings b JOIN users f \
           ON f.id = b.user_id WHERE f.username = 'faculty1') ORDER BY u.id LIMIT 1",
    );
    let explain = |user: &str, permission: &str, student: Option<&str>| {
        let mut body = serde_json::json!({"user": user, "permission": permission});
        if let Some(s) = student {
            body["student"] = s.into();
        }
        let r = send_text(
            &server,
            "POST",
            "/api/v1/authz/explain",
            &admin,
            &body.to_string(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    let v = explain(&faculty, "students.read", Some(&inside));
    assert_eq!(v["allowed"], true);
    assert_eq!(v["decided_by"]["role"], "faculty");
    assert_eq!(v["decided_by"]["scope"]["type"], "department");
    let v = explain(&faculty, "students.read", Some(&outside));
    assert_eq!(v["allowed"], false);
    assert!(v["decided_by"].is_null());
    let v = explain(&faculty, "roles.manage", None);
    assert_eq!(v["allowed"], false);

    let s1 = user_id("student1");
    let v = explain(&s1, "students.read", Some(&s1));
    assert_eq!(v["allowed"], true);
    assert_eq!(v["decided_by"]["role"], "student");
    let v = explain(&s1, "students.read", Some(&user_id("student2")));
    assert_eq!(v["allowed"], false);
    let v = explain(&user_id("guardian1"), "attendance.read", Some(&s1));
    assert_eq!(v["allowed"], true);
    assert_eq!(v["decided_by"]["role"], "guardian");
    let v = explain(&user_id("admin"), "roles.manage", None);
    assert_eq!(v["allowed"], true);
    assert_eq!(v["decided_by"]["scope"]["type"], "institution");
}

/// Two instances sharing keys (and, with `redis`, the invalidation bus, both subscribed).
fn two_instances(redis: bool) -> (TestServer, TestServer) {
    let (a, b) = (instance(redis), instance(redis));
    if redis {
        wait_subscribed(&a);
        wait_subscribed(&b);
    }
    (a, b)
}

/// Makes `faculty` able to read a student of another department through a new
/// institution-wide binding made on one instance, and measures how long until the other lets
/// them; then removes it and measures again. Both must take less than `within`.
fn binding_round_trip(redis: bool, faculty: &str, within: Duration) {
    let (a, b) = two_instances(redis);
    let (faculty_id, outside) = faculty_and_outside_student(faculty);
    let admin = access_token(&a, "admin");
    let token = access_token(&a, faculty);
    let path = format!("/api/v1/students/{outside}");
    // b now holds the faculty member's principal in its cache.
    assert_eq!(status_as(&b, "GET", &path, &token), 403);
    let scope = serde_json::json!({"type": "institution", "sourced_id": institution()});
    let bind = serde_json::json!({"user": faculty_id, "role": "registrar", "scope": scope});
    let binding = create(&a, &admin, "/api/v1/role-bindings", bind);
    // How long until b answers `status`.
    let seen = |status: u16| {
        let t0 = Instant::now();
        let seen = eventually(Duration::from_secs(15), || {
            status_as(&b, "GET", &path, &token) == status
        });
        assert!(seen, "the other instance never answered {status}");
        t0.elapsed()
    };
    let grant = seen(200);
    let unbind = format!("/api/v1/role-bindings/{binding}");
    assert_eq!(status_as(&a, "DELETE", &unbind, &admin), 204);
    let revoke = seen(403);
    eprintln!("propagation (redis: {redis}): grant {grant:?}, revoke {revoke:?}");
    assert!(grant < within, "grant took {grant:?}");
    assert!(revoke < within, "revoke took {revoke:?}");
}

#[test]
fn a_binding_changed_on_one_instance_is_enforced_by_another_at_once() {
    // The principal was cached on b for a minute (the bus was up): only a message explains
    // a change seen this fast.
    binding_round_trip(true, "faculty2", Duration::from_secs(1));
}

#[test]
fn without_redis_a_change_reaches_other_instances_within_the_fallback_expiry() {
    // FALLBACK_TTL is 5 s; polling adds a little.
    binding_round_trip(false, "faculty4", Duration::from_secs(7));
}

#[test]
fn logout_on_one_instance_revokes_access_tokens_on_another_within_a_second() {
    let (a, b) = two_instances(true);
    let body =
        serde_json::json!({"username": "student4", "password": "campushub-demo"}).to_string();
    let r = call(&a, "POST", "/api/v1/auth/login", None, Some(&body));
    assert_eq!(r.status, 200);
    let access = r.json()["access_token"].as_str().unwrap().to_string();
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(status_as(&b, "GET", "/api/v1/me", &access), 200);

    let out = serde_json::json!({"refresh_token": refresh}).to_string();
    assert_eq!(
        call(&a, "POST", "/api/v1/auth/logout", None, Some(&out)).status,
        204
    );
    let t0 = Instant::now();
    let refused = eventually(Duration::from_secs(10), || {
        status_as(&b, "GET", "/api/v1/me", &access) == 401
    });
    let took = t0.elapsed();
    eprintln!("revocation across instances: {took:?}");
    assert!(refused, "the token still works on the other instance");
    assert!(took < Duration::from_secs(1), "revocation took {took:?}");
    // And on the instance that logged out, at once.
    assert_eq!(status_as(&a, "GET", "/api/v1/me", &access), 401);
}
