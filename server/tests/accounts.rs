//! Accounts people can use, on the real stack: a registrar invites a new teacher, the worker
//! emails the link through the stack's SMTP server (STARTTLS, AUTH), the teacher sets a first
//! password with it and logs in; a forgotten password is reset by email. And the abuse paths:
//! a used, expired, replaced, guessed or malformed token; two people spending one link at
//! once; an invitation out of the caller's scope; reset floods for one address; known and
//! unknown addresses answered alike; a bounced address recorded on the person; the SMTP
//! server away for a while.
//!
//! One test at a time: each starts a worker, and a worker takes any ready job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::campus::{bad_fields, get, id_of, ok, send, tag};
use common::mail::{browse, delivered_to, link, wait_for};
use common::worker::Worker;
use common::{access_token, call, eventually, some_department_id, sql_one, stack, TestServer};
use serde_json::json;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A server and a worker whose links point at it.
fn spawn() -> (TestServer, Worker) {
    let server = TestServer::spawn(&[]);
    let worker = Worker::spawn(&[("CAMPUSHUB_PUBLIC_URL", &server.url(""))]);
    (server, worker)
}

/// A new teacher (no password yet) in department `dept`: (public id, username, address).
fn new_teacher(
    server: &TestServer,
    admin: &str,
    dept: &str,
    domain: &str,
) -> (String, String, String) {
    let t = tag();
    let username = format!("inv{t}");
    let email = format!("{username}@{domain}");
    let r = send(
        server,
        "POST",
        "/api/v1/staff",
        admin,
        json!({"username": username, "given_name": "Ines", "family_name": "Vited", "role": "teacher",
               "email": email, "employee_number": format!("IV{t}"), "designation": "Lecturer",
               "department": dept}),
    );
    (id_of(&ok(&r, 201)), username, email)
}

fn invite(server: &TestServer, token: &str, person: &str) -> common::Resp {
    call(
        server,
        "POST",
        &format!("/api/v1/users/{person}/invitation"),
        Some(token),
        None,
    )
}

fn spend(server: &TestServer, path: &str, token: &str, password: &str) -> common::Resp {
    let body = json!({"token": token, "password": password}).to_string();
    call(server, "POST", path, None, Some(&body))
}

fn log_in(server: &TestServer, username: &str, password: &str) -> common::Resp {
    let body = json!({"username": username, "password": password}).to_string();
    call(server, "POST", "/api/v1/auth/login", None, Some(&body))
}

/// The `detail` of the one field error a 422 names.
fn token_refusal(r: &common::Resp) -> String {
    assert_eq!(bad_fields(r), ["token"]);
    r.json()["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string()
}

fn job_state(id: &str) -> String {
    sql_one(&format!("SELECT state FROM jobs WHERE sourced_id = '{id}'"))
}

#[test]
fn a_registrar_invites_a_teacher_who_sets_a_password_from_the_email_and_logs_in() {
    let _g = serial();
    let (server, _worker) = spawn();
    let admin = access_token(&server, "admin");
    let registrar = access_token(&server, "registrar");
    let dept = some_department_id(&server);
    let (person, username, email) = new_teacher(&server, &admin, &dept, "campus.example");

    let r = invite(&server, &registrar, &person);
    let answer = ok(&r, 202);
    let job = answer["job"].as_str().unwrap().to_string();
    assert!(
        answer["expires_at"].as_str().unwrap().ends_with('Z'),
        "{answer}"
    );
    let invitation = answer["invitation"].as_str().unwrap().to_string();

    let messages = wait_for(&email, 1, Duration::from_secs(20));
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["content_type"], "multipart/alternative", "{m}");
    assert_eq!(
        m["message_id"],
        format!("<{job}@campushub.localhost>"),
        "the Message-ID comes from the job"
    );
    assert!(!m["date"].as_str().unwrap().is_empty(), "{m}");
    assert!(
        m["from"]
            .as_str()
            .unwrap()
            .contains("no-reply@campushub.localhost"),
        "{m}"
    );
    assert!(m["to"].as_str().unwrap().contains(&email), "{m}");
    assert!(m["text"].as_str().unwrap().contains(&username), "{m}");
    assert!(m["html"].as_str().unwrap().contains(&username), "{m}");
    let (url, token) = link(m, "/account/invitation");
    assert!(
        url.starts_with(&server.url("/account/invitation#token=")),
        "{url}"
    );
    assert_eq!(token.len(), 43, "{token}");
    assert!(eventually(Duration::from_secs(5), || job_state(&job) == "done"));

    // Neither the database nor any log holds the token: only its hash, and the link's id.
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM account_tokens WHERE sourced_id = '{invitation}' \
             AND token_hash = sha256(convert_to('{token}', 'UTF8'))"
        )),
        "1"
    );
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM jobs WHERE payload::text LIKE '%{token}%'"
        )),
        "0"
    );

    // The password must follow the rules; then the link sets it, once.
    let short = spend(&server, "/api/v1/auth/invitation/accept", &token, "short");
    assert_eq!(bad_fields(&short), ["password"]);
    let password = "a long enough first password";
    assert_eq!(
        spend(&server, "/api/v1/auth/invitation/accept", &token, password).status,
        204
    );
    assert_eq!(log_in(&server, &username, password).status, 200);
    let again = spend(
        &server,
        "/api/v1/auth/invitation/accept",
        &token,
        "another password 2",
    );
    assert!(token_refusal(&again).contains("already used"), "{again:?}");
    assert_eq!(log_in(&server, &username, password).status, 200);

    // Audited: who invited, and the acceptance.
    let audit = sql_one(&format!(
        "SELECT string_agg(action, ',' ORDER BY id) FROM audit_events \
         WHERE target_type = 'user' AND target_id = '{person}' AND action IN ('users.invited', 'auth.invitation_accepted')"
    ));
    assert_eq!(audit, "users.invited,auth.invitation_accepted");

    // Now that they can log in, a second invitation is refused: a reset is what they need.
    assert_eq!(invite(&server, &registrar, &person).status, 409);
    for line in server.logs() {
        assert!(!line.contains(&token), "the token reached the log: {line}");
    }
}

#[test]
fn links_that_are_replaced_expired_guessed_malformed_or_raced_set_nothing() {
    let _g = serial();
    let (server, _worker) = spawn();
    let admin = access_token(&server, "admin");
    let dept = some_department_id(&server);
    let (person, username, email) = new_teacher(&server, &admin, &dept, "campus.example");

    // Two invitations: the first link is replaced by the second. (Had the first not left yet,
    // the worker would not send it at all: a replaced link's message is dropped.)
    ok(&invite(&server, &admin, &person), 202);
    wait_for(&email, 1, Duration::from_secs(20));
    ok(&invite(&server, &admin, &person), 202);
    let messages = wait_for(&email, 2, Duration::from_secs(20));
    let (_, first) = link(&messages[0], "/account/invitation");
    let (_, second) = link(&messages[1], "/account/invitation");
    assert_ne!(first, second);
    let r = spend(
        &server,
        "/api/v1/auth/invitation/accept",
        &first,
        "a fine password here",
    );
    assert!(token_refusal(&r).contains("newer link"), "{r:?}");

    // Guessed (the right shape, no link's) and malformed tokens: the same plain refusal.
    let guessed = "A".repeat(43);
    for token in [guessed.as_str(), "short", "../../etc/passwd", "tok\0en", ""] {
        let r = spend(
            &server,
            "/api/v1/auth/invitation/accept",
            token,
            "a fine password here",
        );
        assert_eq!(
            r.status,
            422,
            "{token:?}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // An invitation's token is no reset token.
    let r = spend(
        &server,
        "/api/v1/auth/password-reset/confirm",
        &second,
        "a fine password here",
    );
    assert!(token_refusal(&r).contains("not valid"), "{r:?}");

    // Expired: its time ran out.
    sql_one(&format!(
        "UPDATE account_tokens SET expires_at = now() - interval '1 second' \
         WHERE token_hash = sha256(convert_to('{second}', 'UTF8')) RETURNING 1"
    ));
    let r = spend(
        &server,
        "/api/v1/auth/invitation/accept",
        &second,
        "a fine password here",
    );
    assert!(token_refusal(&r).contains("expired"), "{r:?}");
    assert_eq!(
        log_in(&server, &username, "a fine password here").status,
        401
    );

    // Two people spending one link at once: exactly one sets the password.
    ok(&invite(&server, &admin, &person), 202);
    let messages = wait_for(&email, 3, Duration::from_secs(20));
    let (_, third) = link(&messages[2], "/account/invitation");
    let answers: Vec<u16> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..4)
            .map(|i| {
                let (server, third) = (&server, &third);
                s.spawn(move || {
                    spend(
                        server,
                        "/api/v1/auth/invitation/accept",
                        third,
                        &format!("racer number {i} password"),
                    )
                    .status
                })
            })
            .collect();
        racers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        answers.iter().filter(|s| **s == 204).count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|s| **s == 422).count(),
        3,
        "{answers:?}"
    );
}

#[test]
fn invitations_need_users_manage_where_the_person_is() {
    let _g = serial();
    let (server, _worker) = spawn();
    let admin = access_token(&server, "admin");
    let dept = some_department_id(&server);
    let (person, _, _) = new_teacher(&server, &admin, &dept, "campus.example");

    // Students, guardians and teachers may not invite anyone.
    for who in ["student1", "guardian1", "faculty1"] {
        let t = access_token(&server, who);
        assert_eq!(invite(&server, &t, &person).status, 403, "{who}");
    }
    assert_eq!(
        call(
            &server,
            "POST",
            &format!("/api/v1/users/{person}/invitation"),
            None,
            None
        )
        .status,
        401
    );
    // Unknown and malformed ids.
    assert_eq!(invite(&server, &admin, &uuid_nil()).status, 404);
    assert_eq!(invite(&server, &admin, "not-a-uuid").status, 400);

    // A registrar for one department: people there, not elsewhere.
    let other = sql_one(&format!(
        "SELECT sourced_id FROM orgs WHERE type = 'department' AND sourced_id <> '{dept}' ORDER BY id LIMIT 1"
    ));
    let (elsewhere, _, _) = new_teacher(&server, &admin, &other, "campus.example");
    let faculty2 = sql_one("SELECT sourced_id FROM users WHERE username = 'faculty2'");
    let bind = json!({"user": faculty2, "role": "registrar", "scope": {"type": "department", "sourced_id": dept}});
    let binding = id_of(&ok(
        &send(&server, "POST", "/api/v1/role-bindings", &admin, bind),
        201,
    ));
    let scoped = access_token(&server, "faculty2");
    assert_eq!(invite(&server, &scoped, &elsewhere).status, 403);
    assert_eq!(invite(&server, &scoped, &person).status, 202);
    ok(
        &call(
            &server,
            "DELETE",
            &format!("/api/v1/role-bindings/{binding}"),
            Some(&admin),
            None,
        ),
        204,
    );
    // The binding gone, so is the right (on every shard, at once).
    assert!(eventually(Duration::from_secs(5), || invite(
        &server, &scoped, &person
    )
    .status
        == 403));

    // No address, a disabled account, someone who can already log in: 409, each said plainly.
    let t = tag();
    let noemail = id_of(&ok(
        &send(
            &server,
            "POST",
            "/api/v1/staff",
            &admin,
            json!({"username": format!("noemail{t}"), "given_name": "No", "family_name": "Mail", "role": "teacher",
                     "employee_number": format!("NE{t}"), "designation": "Lecturer", "department": dept}),
        ),
        201,
    ));
    let r = invite(&server, &admin, &noemail);
    assert_eq!(r.status, 409);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("no email"),
        "{:?}",
        r.json()
    );
    let student1 = sql_one("SELECT sourced_id FROM users WHERE username = 'student1'");
    let r = invite(&server, &admin, &student1);
    assert_eq!(r.status, 409);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("already log in"),
        "{:?}",
        r.json()
    );
    ok(
        &call(
            &server,
            "DELETE",
            &format!("/api/v1/staff/{noemail}"),
            Some(&admin),
            None,
        ),
        204,
    );
    assert_eq!(invite(&server, &admin, &noemail).status, 409);
}

fn uuid_nil() -> String {
    "00000000-0000-0000-0000-000000000000".into()
}

#[test]
fn a_forgotten_password_is_reset_by_email_and_every_session_ends() {
    let _g = serial();
    let (server, _worker) = spawn();
    let admin = access_token(&server, "admin");
    let dept = some_department_id(&server);
    let (person, username, email) = new_teacher(&server, &admin, &dept, "campus.example");
    ok(&invite(&server, &admin, &person), 202);
    let m = wait_for(&email, 1, Duration::from_secs(20));
    let (_, token) = link(&m[0], "/account/invitation");
    let old_password = "the first password set";
    assert_eq!(
        spend(
            &server,
            "/api/v1/auth/invitation/accept",
            &token,
            old_password
        )
        .status,
        204
    );

    // A session to end.
    let session = ok(&log_in(&server, &username, old_password), 200);
    let access = session["access_token"].as_str().unwrap().to_string();
    let refresh = session["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(get(&server, "/api/v1/me", &access).status, 200);

    // Known and unknown addresses get the same answer, and each makes the same one job.
    let unknown = format!("nobody{}@campus.example", tag());
    let ask = |address: &str| {
        call(
            &server,
            "POST",
            "/api/v1/auth/password-reset",
            None,
            Some(&json!({"email": address}).to_string()),
        )
    };
    let known_answer = ask(&email.to_uppercase());
    let unknown_answer = ask(&unknown);
    assert_eq!(known_answer.status, 202);
    assert_eq!(unknown_answer.status, 202);
    assert_eq!(known_answer.body, unknown_answer.body);
    for (name, _) in &known_answer.headers {
        assert!(
            unknown_answer.headers.iter().any(|(n, _)| n == name),
            "header {name} only for a known address"
        );
    }
    for address in [email.to_lowercase(), unknown.clone()] {
        let jobs = sql_one(&format!(
            "SELECT count(*) FROM jobs WHERE kind = 'auth.password_reset' AND payload->>'email' = '{address}'"
        ));
        assert_eq!(jobs, "1", "{address}");
    }
    // Malformed addresses are refused as such, for every address alike.
    for bad in ["", "no-at-sign", "a@", "@b", "tab\t@x.y"] {
        let r = ask(bad);
        assert_eq!(bad_fields(&r), ["email"], "{bad:?}");
    }
    assert_eq!(ask("nul\0@x.y").status, 422);

    let m = wait_for(&email, 2, Duration::from_secs(20));
    assert!(
        m[1]["subject"].as_str().unwrap().contains("Reset"),
        "{}",
        m[1]
    );
    let (url, reset) = link(&m[1], "/account/reset");
    assert!(url.contains("/account/reset#token="), "{url}");
    assert!(delivered_to(&unknown).is_empty());

    let new_password = "a brand new password";
    assert_eq!(
        spend(
            &server,
            "/api/v1/auth/password-reset/confirm",
            &reset,
            new_password
        )
        .status,
        204
    );
    // Every session ended: the access token is refused, the refresh token is dead.
    assert!(eventually(Duration::from_secs(5), || get(
        &server,
        "/api/v1/me",
        &access
    )
    .status
        == 401));
    let r = call(
        &server,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(&json!({"refresh_token": refresh}).to_string()),
    );
    assert_eq!(r.status, 401);
    assert_eq!(log_in(&server, &username, old_password).status, 401);
    assert_eq!(log_in(&server, &username, new_password).status, 200);
    // A reset sets the password only: with MFA on, the new password still asks for a code.
    sql_one(&format!(
        "UPDATE users SET mfa_enabled = true, mfa_secret = '\\x3132333435363738393031323334353637383930' \
         WHERE sourced_id = '{person}' RETURNING 1"
    ));
    common::campus::ok(
        &call(
            &server,
            "POST",
            "/api/v1/admin/cache/clear",
            Some(&admin),
            None,
        ),
        200,
    );
    let r = log_in(&server, &username, new_password);
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["type"], "/problems/mfa-required");
    let r = spend(
        &server,
        "/api/v1/auth/password-reset/confirm",
        &reset,
        "yet another password",
    );
    assert!(token_refusal(&r).contains("already used"), "{r:?}");
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM audit_events WHERE target_id = '{person}' \
             AND action IN ('auth.password_reset_requested', 'auth.password_reset')"
        )),
        "2"
    );
}

#[test]
fn reset_floods_for_one_address_send_a_few_links_and_are_limited_per_client() {
    let _g = serial();
    let server = TestServer::spawn(&[]);
    let admin = access_token(&server, "admin");
    let dept = some_department_id(&server);
    let (person, _, email) = new_teacher(&server, &admin, &dept, "campus.example");
    let body = json!({"email": email}).to_string();
    // A hundred requests in a burst: one job (one per address per minute).
    for _ in 0..100 {
        assert_eq!(
            call(
                &server,
                "POST",
                "/api/v1/auth/password-reset",
                None,
                Some(&body)
            )
            .status,
            202
        );
    }
    let jobs = sql_one(&format!(
        "SELECT count(*) FROM jobs WHERE kind = 'auth.password_reset' AND payload->>'email' = '{email}'"
    ));
    assert!(
        jobs == "1" || jobs == "2",
        "{jobs} jobs (one per minute; the burst may straddle one)"
    );
    // However often the worker is asked, an account gets three links an hour.
    let user = sql_one(&format!(
        "SELECT id FROM users WHERE sourced_id = '{person}'"
    ));
    let issued: Vec<String> = (0..5)
        .map(|_| {
            sql_one(&format!(
                "SELECT outcome FROM password_reset_issue('{email}', gen_random_uuid(), \
                 sha256(gen_random_uuid()::text::bytea), 1800, NULL, 3)"
            ))
        })
        .collect();
    assert_eq!(issued, ["ok", "ok", "ok", "throttled", "throttled"]);
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM account_tokens WHERE user_id = {user} AND purpose = 'reset' AND replaced_at IS NULL AND used_at IS NULL"
        )),
        "1",
        "each new link replaces the one before"
    );

    // Per client address: the `auth` policy of the route.
    let limited = TestServer::spawn(&[
        (
            "CAMPUSHUB_RATE_LIMITS",
            "anonymous=off,authenticated=off,auth=5/1m,login=off,credentials=off",
        ),
        ("CAMPUSHUB_RATE_LIMIT_SHARED", ""),
    ]);
    let statuses: Vec<u16> = (0..7)
        .map(|_| {
            call(
                &limited,
                "POST",
                "/api/v1/auth/password-reset",
                None,
                Some(&body),
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [202, 202, 202, 202, 202, 429, 429]);
}

#[test]
fn a_bounced_address_is_recorded_on_the_person_and_not_tried_again() {
    let _g = serial();
    let (server, _worker) = spawn();
    let admin = access_token(&server, "admin");
    let dept = some_department_id(&server);
    // The stack's SMTP server refuses every address under .invalid with 550.
    let (person, _, email) = new_teacher(&server, &admin, &dept, "nowhere.invalid");
    let job = ok(&invite(&server, &admin, &person), 202)["job"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(eventually(Duration::from_secs(20), || job_state(&job) == "dead"));
    let error = sql_one(&format!(
        "SELECT last_error FROM jobs WHERE sourced_id = '{job}'"
    ));
    assert!(error.contains("550"), "{error}");
    assert_eq!(
        sql_one(&format!(
            "SELECT attempts FROM jobs WHERE sourced_id = '{job}'"
        )),
        "1",
        "a 5xx is not retried"
    );
    let bounce = sql_one(&format!(
        "SELECT email_bounced_at IS NOT NULL AND email_bounce LIKE '%550%' FROM users WHERE sourced_id = '{person}'"
    ));
    assert_eq!(bounce, "t");
    // Operators see it among the dead jobs.
    let dead = ok(
        &get(
            &server,
            "/api/v1/admin/jobs?state=dead&kind=email.invitation",
            &admin,
        ),
        200,
    );
    assert!(
        dead["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["sourced_id"] == job.as_str()),
        "{dead}"
    );
    // Not tried again while the address stays.
    let job2 = ok(&invite(&server, &admin, &person), 202)["job"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(eventually(Duration::from_secs(20), || job_state(&job2) == "dead"));
    let error = sql_one(&format!(
        "SELECT last_error FROM jobs WHERE sourced_id = '{job2}'"
    ));
    assert!(error.contains("bounced before"), "{error}");
    assert!(delivered_to(&email).is_empty());
    // A new address clears the mark, and the next invitation arrives.
    let fixed = email.replace("nowhere.invalid", "campus.example");
    let r = send(
        &server,
        "PATCH",
        &format!("/api/v1/staff/{person}"),
        &admin,
        json!({"email": fixed}),
    );
    ok(&r, 200);
    assert_eq!(
        sql_one(&format!(
            "SELECT email_bounced_at IS NULL FROM users WHERE sourced_id = '{person}'"
        )),
        "t"
    );
    ok(&invite(&server, &admin, &person), 202);
    wait_for(&fixed, 1, Duration::from_secs(20));
}

#[test]
fn a_message_waits_while_the_smtp_server_is_away_and_arrives_once_it_is_back() {
    let _g = serial();
    let (server, _worker) = spawn();
    let admin = access_token(&server, "admin");
    let dept = some_department_id(&server);
    let (person, _, email) = new_teacher(&server, &admin, &dept, "campus.example");
    stack("stop", "smtp");
    let job = ok(&invite(&server, &admin, &person), 202)["job"]
        .as_str()
        .unwrap()
        .to_string();
    let retried = eventually(Duration::from_secs(20), || {
        sql_one(&format!(
            "SELECT state = 'ready' AND attempts >= 1 AND last_error LIKE 'smtp:%' FROM jobs WHERE sourced_id = '{job}'"
        )) == "t"
    });
    stack("start", "smtp");
    assert!(retried, "the job was not retried: {}", job_state(&job));
    // Backoff: at most a few seconds for the first retries.
    let m = wait_for(&email, 1, Duration::from_secs(30));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["message_id"], format!("<{job}@campushub.localhost>"));
    assert!(eventually(Duration::from_secs(5), || job_state(&job) == "done"));
}

#[test]
fn the_account_pages_are_strict_small_and_self_contained() {
    let server = TestServer::spawn(&[]);
    for page in ["/account/invitation", "/account/reset"] {
        let r = call(&server, "GET", page, None, None);
        assert_eq!(r.status, 200, "{page}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let html = String::from_utf8(r.body.clone()).unwrap();
        assert!(html.contains("<label for=\"password\">"), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
        assert_eq!(
            r.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-security-policy"))
                .count(),
            1
        );
    }
    let js = call(&server, "GET", "/account/account.js", None, None);
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    let css = call(&server, "GET", "/account/account.css", None, None);
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

/// The whole path in a real browser: the link from the delivered message opens the page, a
/// person types the password twice and presses the button, the page says it is done, and the
/// password logs in. The token leaves the address bar at once, and the page breaks none of its
/// Content-Security-Policy. The screenshot is kept for people to look at
/// (target/account-invitation.png).
#[test]
fn a_person_sets_their_password_in_a_browser_from_the_link_in_their_email() {
    let _g = serial();
    let (server, _worker) = spawn();
    let admin = access_token(&server, "admin");
    let dept = some_department_id(&server);
    let (person, username, email) = new_teacher(&server, &admin, &dept, "campus.example");
    ok(&invite(&server, &admin, &person), 202);
    let m = wait_for(&email, 1, Duration::from_secs(20));
    let (url, token) = link(&m[0], "/account/invitation");
    let password = "typed in a real browser";
    let shot = common::repo().join("target/account-invitation.png");
    let seen = browse(
        &url,
        &[
            "--type".into(),
            format!("#password={password}"),
            "--type".into(),
            format!("#confirm={password}"),
            "--click".into(),
            "#submit".into(),
            "--wait".into(),
            "#status=Your password is set".into(),
            "--screenshot".into(),
            shot.display().to_string(),
        ],
    );
    let after = seen["url_after_load"].as_str().unwrap();
    assert!(
        !after.contains(&token),
        "the token stayed in the address bar: {after}"
    );
    for line in seen["log"].as_array().unwrap() {
        let line = line.as_str().unwrap();
        assert!(
            !line.contains("Content Security Policy") && !line.starts_with("exception"),
            "{line}"
        );
    }
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    assert_eq!(log_in(&server, &username, password).status, 200);

    // The same page, opened again with the spent link, says so in plain words.
    let seen = browse(
        &url,
        &[
            "--type",
            "#password=another good password",
            "--type",
            "#confirm=another good password",
            "--click",
            "#submit",
            "--wait",
            "#status=already used",
        ]
        .map(String::from),
    );
    assert!(
        seen["texts"]["#status"]
            .as_str()
            .unwrap()
            .contains("ask whoever invited you"),
        "{seen}"
    );
}

/// Operators invite from the command line, one person or a list (one job each); who cannot be
/// invited is named with why, and the exit status says so.
#[test]
fn operators_invite_a_list_of_people_from_the_command_line() {
    let _g = serial();
    let (server, _worker) = spawn();
    let admin = access_token(&server, "admin");
    let dept = some_department_id(&server);
    let (_, first, first_email) = new_teacher(&server, &admin, &dept, "campus.example");
    let (second_id, _, second_email) = new_teacher(&server, &admin, &dept, "campus.example");
    let (_, _, third_email) = new_teacher(&server, &admin, &dept, "campus.example");
    let list = std::env::temp_dir().join(format!("campushub-invite-{}.txt", tag()));
    std::fs::write(
        &list,
        format!(
            "# new staff\n{second_id}\n\n{third_email}\nstudent1\nno-such-person-{}\n",
            tag()
        ),
    )
    .unwrap();
    let url = common::stack_env("CAMPUSHUB_DATABASE_URL");
    let (code, out, err) = common::cli(
        &url,
        &[
            "admin",
            "invite",
            "--user",
            &first,
            "--user",
            &first.to_uppercase(),
            "--from-file",
            list.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&list);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains(": invited")).count(),
        3,
        "{out}"
    );
    assert!(
        err.contains("student1: not invited: they can already log in"),
        "{err}"
    );
    assert!(err.contains("no such person"), "{err}");
    for address in [&first_email, &second_email, &third_email] {
        wait_for(address, 1, Duration::from_secs(20));
    }
    let (code, _, err) = common::cli(&url, &["admin", "invite"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--user"), "{err}");
}
