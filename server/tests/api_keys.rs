//! API keys against the real server: shown once and listed by prefix, accepted as `X-API-Key`
//! and as Bearer, limited to their own scoped bindings, never more than their creator holds,
//! revoked everywhere at once, use recorded in batches, creation and revocation audited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::campus::{send_text, status_as};
use common::{access_token, call, eventually, parse_responses, sql_one, Resp, TestServer};

const KEYS: &str = "t1=dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk=";

fn with_key(server: &TestServer, path: &str, key: &str) -> Resp {
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n");
    parse_responses(&server.raw(req.as_bytes()), &[]).remove(0)
}

fn org(kind: &str, identifier: Option<&str>) -> String {
    match identifier {
        Some(i) => sql_one(&format!(
            "SELECT sourced_id FROM orgs WHERE type = '{kind}' AND identifier = '{i}'"
        )),
        None => sql_one(&format!(
            "SELECT sourced_id FROM orgs WHERE type = '{kind}'"
        )),
    }
}

fn student_in(dept: &str, inside: bool) -> String {
    let op = if inside { "=" } else { "<>" };
    sql_one(&format!(
        "SELECT u.sourced_id FROM users u JOIN student_profiles sp ON sp.user_id = u.id \
         JOIN orgs d ON d.id = sp.department_id WHERE d.identifier {op} '{dept}' ORDER BY u.id LIMIT 1"
    ))
}

fn create(server: &TestServer, token: &str, name: &str, bindings: serde_json::Value) -> Resp {
    let body = serde_json::json!({"name": name, "expires_in_days": 30, "bindings": bindings});
    send_text(server, "POST", "/api/v1/api-keys", token, &body.to_string())
}

#[test]
fn keys_are_shown_once_scoped_and_revoked_everywhere() {
    let a = TestServer::spawn(&[("CAMPUSHUB_JWT_KEYS", KEYS)]);
    let b = TestServer::spawn(&[("CAMPUSHUB_JWT_KEYS", KEYS)]);
    let admin = access_token(&a, "admin");
    let name = format!("attendance-sync-{}", std::process::id());
    let r = create(
        &a,
        &admin,
        &name,
        serde_json::json!([{"role": "faculty", "scope": {"type": "department", "sourced_id": org("department", Some("ACC"))}}]),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let key = r.json()["key"].as_str().unwrap().to_string();
    let id = r.json()["sourced_id"].as_str().unwrap().to_string();
    let prefix = r.json()["prefix"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("chk_{prefix}_")));
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM api_keys WHERE prefix = '{prefix}' AND position(convert_to('{key}', 'UTF8') in secret_hash) = 0"
        )),
        "1",
        "stored hashed"
    );

    // Listed by prefix; the secret never appears again.
    let list = call(&a, "GET", "/api/v1/api-keys", Some(&admin), None);
    assert_eq!(list.status, 200);
    let body = String::from_utf8_lossy(&list.body).to_string();
    assert!(!body.contains(&key));
    let listed = list.json()["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["sourced_id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["prefix"], prefix.as_str());
    assert_eq!(listed["bindings"][0]["role"], "faculty");
    assert_eq!(listed["bindings"][0]["scope"]["type"], "department");

    // The key's own binding decides: its department, not the admin's whole institution.
    let inside = format!("/api/v1/students/{}", student_in("ACC", true));
    let outside = format!("/api/v1/students/{}", student_in("ACC", false));
    assert_eq!(with_key(&a, &inside, &key).status, 200);
    assert_eq!(status_as(&a, "GET", &inside, &key), 200, "as Bearer");
    assert_eq!(with_key(&a, &outside, &key).status, 403);
    assert_eq!(
        with_key(&b, &inside, &key).status,
        200,
        "on another instance"
    );
    // A key cannot make keys or manage roles.
    assert_eq!(
        send_text(&a, "POST", "/api/v1/api-keys", &key, "{}").status,
        403
    );
    assert_eq!(status_as(&a, "GET", "/api/v1/roles", &key), 403);
    // Wrong and malformed keys.
    let mut wrong = key.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    assert_eq!(with_key(&a, &inside, &wrong).status, 401);
    assert_eq!(with_key(&a, &inside, "chk_nonsense").status, 401);

    // Use is recorded in batches.
    let used = eventually(Duration::from_secs(15), || {
        sql_one(&format!(
            "SELECT last_used_at IS NOT NULL FROM api_keys WHERE prefix = '{prefix}'"
        )) == "t"
    });
    assert!(used, "last_used_at was never recorded");

    // Revoked on a: refused on b at once (the bus), and on a.
    let r = call(
        &a,
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 204);
    let t0 = Instant::now();
    let gone = eventually(Duration::from_secs(10), || {
        with_key(&b, &inside, &key).status == 401
    });
    eprintln!("key revocation across instances: {:?}", t0.elapsed());
    assert!(gone && t0.elapsed() < Duration::from_secs(1));
    assert_eq!(with_key(&a, &inside, &key).status, 401);
    assert_eq!(
        status_as(&a, "DELETE", &format!("/api/v1/api-keys/{id}"), &admin),
        404
    );
    let audited = sql_one(&format!(
        "SELECT string_agg(action, ',' ORDER BY id) FROM audit_events WHERE target_id = '{id}'"
    ));
    assert_eq!(audited, "api_keys.created,api_keys.revoked");
}

#[test]
fn a_key_never_grants_more_than_its_creator_holds() {
    let server = TestServer::spawn(&[]);
    let admin = access_token(&server, "admin");
    let student = access_token(&server, "student1");
    let institution = org("institution", None);
    let registrar_binding = serde_json::json!([{"role": "registrar", "scope": {"type": "institution", "sourced_id": institution}}]);
    // No api_keys.manage: refused outright.
    assert_eq!(
        create(&server, &student, "k", registrar_binding.clone()).status,
        403
    );
    assert_eq!(
        status_as(&server, "GET", "/api/v1/api-keys", &student),
        200,
        "anyone may list their own (none)"
    );

    // A key maker who holds nothing else cannot mint a registrar key.
    let role = format!("key_maker_{}", std::process::id());
    let r = send_text(&server, "POST", "/api/v1/roles", &admin, &serde_json::json!({"name": role, "description": "makes keys", "permissions": ["api_keys.manage"]}).to_string());
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let maker = sql_one("SELECT sourced_id FROM users WHERE username = 'faculty6'");
    let r = send_text(&server, "POST", "/api/v1/role-bindings", &admin, &serde_json::json!({"user": maker, "role": role, "scope": {"type": "institution", "sourced_id": institution}}).to_string());
    assert_eq!(r.status, 201);
    let binding = r.json()["sourced_id"].as_str().unwrap().to_string();
    let maker_token = access_token(&server, "faculty6");
    let r = create(&server, &maker_token, "escalate", registrar_binding);
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["detail"].as_str().unwrap().contains("do not hold"));
    // Bad requests.
    for bad in [
        serde_json::json!({"name": "x", "bindings": []}),
        serde_json::json!({"name": "x", "bindings": [{"role": "nope", "scope": {"type": "institution", "sourced_id": institution}}]}),
        serde_json::json!({"name": "x", "bindings": [{"role": "faculty", "scope": {"type": "class", "sourced_id": institution}}]}),
        serde_json::json!({"name": "x", "expires_in_days": 0, "bindings": [{"role": "faculty", "scope": {"type": "institution", "sourced_id": institution}}]}),
        serde_json::json!({"name": "x", "owner": "admin", "bindings": [{"role": "faculty", "scope": {"type": "institution", "sourced_id": institution}}]}),
    ] {
        let r = send_text(
            &server,
            "POST",
            "/api/v1/api-keys",
            &admin,
            &bad.to_string(),
        );
        assert_eq!(r.status, 422, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    // Clean up the grant.
    assert_eq!(
        status_as(
            &server,
            "DELETE",
            &format!("/api/v1/role-bindings/{binding}"),
            &admin
        ),
        204
    );
    assert_eq!(
        status_as(&server, "DELETE", &format!("/api/v1/roles/{role}"), &admin),
        204
    );
}
