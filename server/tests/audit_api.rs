//! `GET /api/v1/audit-events` against the real server: auditors read the trail filtered by
//! action, actor, target and time, page through it with the keyset cursor without gaps or
//! duplicates, and everyone else, or a malformed query, is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::campus::send_text;
use common::{access_token, call, sql_one, Resp, TestServer};

fn user_id(username: &str) -> String {
    sql_one(&format!(
        "SELECT sourced_id FROM users WHERE username = '{username}'"
    ))
}

fn get(server: &TestServer, path: &str, token: &str) -> Resp {
    let r = call(server, "GET", path, Some(token), None);
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r
}

fn ids(page: &serde_json::Value) -> Vec<i64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

/// The database clock, to the second (what `from` and `to` compare with).
fn db_now() -> String {
    sql_one("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
}

#[test]
fn admins_page_through_the_audit_trail_by_action_and_actor() {
    let server = TestServer::spawn(&[]);
    let start = db_now();
    let admin_id = user_id("admin");
    let admin_row = sql_one("SELECT id FROM users WHERE username = 'admin'");
    // Three log-ins of our own, so the filtered trail has at least three events after `start`.
    let mut token = String::new();
    for _ in 0..3 {
        token = access_token(&server, "admin");
    }

    // By action and actor, since the start of the test.
    let path = format!("/api/v1/audit-events?action=auth.login&actor={admin_id}&from={start}");
    let r = get(&server, &path, &token);
    assert_eq!(r.header("Cache-Control"), Some("private, no-store"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let page = r.json();
    let events = page["events"].as_array().unwrap();
    assert!(events.len() >= 3, "{page}");
    for e in events {
        assert_eq!(e["action"], "auth.login", "{e}");
        assert_eq!(e["actor"]["sourced_id"], admin_id.as_str(), "{e}");
        assert_eq!(e["actor"]["type"], "user", "{e}");
        assert_eq!(e["target_type"], "user", "{e}");
        assert_eq!(e["target_id"], admin_row.as_str(), "{e}");
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
        assert_eq!(e["details"]["mfa"], false, "details is embedded JSON: {e}");
        let at = e["occurred_at"].as_str().unwrap();
        assert!(at.ends_with('Z') && at.len() == 27, "{at}");
        assert!(at[..19] >= start[..19], "{at} is before {start}");
        let hash = e["hash"].as_str().unwrap();
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{hash}"
        );
    }
    let first = ids(&page);
    assert!(
        first.windows(2).all(|w| w[0] > w[1]),
        "newest first: {first:?}"
    );
    assert_eq!(page["next"], serde_json::Value::Null, "one page holds them");

    // Each filter on its own.
    let by_action = get(
        &server,
        "/api/v1/audit-events?action=auth.login&limit=5",
        &token,
    )
    .json();
    let actions = by_action["events"].as_array().unwrap();
    assert!(!actions.is_empty());
    assert!(actions.iter().all(|e| e["action"] == "auth.login"));
    let by_actor = get(
        &server,
        &format!("/api/v1/audit-events?actor={admin_id}&limit=5"),
        &token,
    )
    .json();
    let mine = by_actor["events"].as_array().unwrap();
    assert!(!mine.is_empty());
    assert!(mine
        .iter()
        .all(|e| e["actor"]["sourced_id"] == admin_id.as_str()));
    let by_target = get(
        &server,
        &format!("/api/v1/audit-events?target_type=user&target_id={admin_row}&limit=1"),
        &token,
    )
    .json();
    assert_eq!(by_target["events"][0]["target_id"], admin_row.as_str());
    assert!(by_target["next"].is_string(), "more than one such event");
    // `to` is exclusive of the start: none of this test's events.
    let before = get(
        &server,
        &format!("/api/v1/audit-events?actor={admin_id}&to={start}&limit=200"),
        &token,
    )
    .json();
    let before_ids: HashSet<i64> = ids(&before).into_iter().collect();
    assert!(first.iter().all(|id| !before_ids.contains(id)));
    // A date is midnight UTC: nothing happened on or after a day far ahead.
    let future = get(&server, "/api/v1/audit-events?from=9999-12-31", &token).json();
    assert_eq!(future["events"].as_array().unwrap().len(), 0);
    assert_eq!(future["next"], serde_json::Value::Null);

    // Pages of two, following `next` until it is null: newest first, no duplicates, and
    // exactly the events the table holds for this filter (later appends have higher ids, so
    // they cannot slip into a walk that started before them).
    let base = format!("/api/v1/audit-events?actor={admin_id}&from={start}&limit=2");
    let mut walked: Vec<i64> = Vec::new();
    let mut path = base.clone();
    let mut pages = 0;
    loop {
        let page = get(&server, &path, &token).json();
        let page_ids = ids(&page);
        assert!(page_ids.len() <= 2, "{page}");
        walked.extend(&page_ids);
        pages += 1;
        assert!(pages < 500, "the walk does not end");
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(next, page_ids.last().unwrap().to_string());
                path = format!("{base}&after={next}");
            }
            None => break,
        }
    }
    assert!(walked.len() >= 3 && pages >= 2, "{walked:?}");
    assert!(walked.windows(2).all(|w| w[0] > w[1]), "{walked:?}");
    let unique: HashSet<i64> = walked.iter().copied().collect();
    assert_eq!(unique.len(), walked.len(), "duplicates in {walked:?}");
    let expected = sql_one(&format!(
        "SELECT string_agg(id::text, ',' ORDER BY id DESC) FROM audit_events \
         WHERE actor_id = {admin_row} AND occurred_at >= '{start}' AND id <= {}",
        walked[0]
    ));
    let walked_text: Vec<String> = walked.iter().map(i64::to_string).collect();
    assert_eq!(walked_text.join(","), expected);

    // HEAD answers like GET, without the body.
    let head = call(&server, "HEAD", &base, Some(&token), None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn the_audit_trail_needs_audit_read_and_valid_parameters() {
    let server = TestServer::spawn(&[]);
    for who in ["registrar", "student1"] {
        let token = access_token(&server, who);
        let r = call(&server, "GET", "/api/v1/audit-events", Some(&token), None);
        assert_eq!(r.status, 403, "{who}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["type"], "/problems/forbidden");
    }
    let r = call(&server, "GET", "/api/v1/audit-events", None, None);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["type"], "/problems/unauthenticated");
    let r = call(
        &server,
        "GET",
        "/api/v1/audit-events",
        Some("not-a-token"),
        None,
    );
    assert_eq!(r.status, 401);

    let admin = access_token(&server, "admin");
    let r = send_text(&server, "POST", "/api/v1/audit-events", &admin, "{}");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
    for query in [
        "limit=0",
        "limit=201",
        "limit=ten",
        "from=notadate",
        "to=2026-13-01",
        "from=2026-02-01&to=2026-01-01",
        "action=DROP%20TABLE",
        "action=DROP+TABLE",
        "action=auth",
        "actor=admin",
        "after=0",
        "target_id=1",
        "limit=1&limit=2",
        "sort=id",
    ] {
        let r = call(
            &server,
            "GET",
            &format!("/api/v1/audit-events?{query}"),
            Some(&admin),
            None,
        );
        assert_eq!(
            r.status,
            400,
            "{query}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
        assert_eq!(r.json()["type"], "/problems/bad-parameter", "{query}");
    }
    // The largest page is allowed.
    let r = call(
        &server,
        "GET",
        "/api/v1/audit-events?limit=200",
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["events"].as_array().unwrap().len() <= 200);
}
