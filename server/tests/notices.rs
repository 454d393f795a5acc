//! Notices on the real stack, read back from the SMTP server's Maildir: a submitted register
//! alerts each absent student's guardians once per day, listing every period missed; a mark
//! corrected before the alert leaves cancels it; a published line item tells each student and
//! their guardians their result; preferences and the unsubscribe link (the page's JSON and a
//! mail client's one-click) are honoured and audited; a forged link changes nothing.
//!
//! One test at a time: each starts a worker, and a worker takes any ready job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::campus::{build_campus, give_password, new_quiz, ok, send, tag, take_register, Campus};
use common::mail::{browse, delivered_to, wait_for};
use common::worker::Worker;
use common::{access_token, call, sql_one, TestServer};
use serde_json::json;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A guardian of student `student` (public id) with an address of their own: the address.
fn guardian_of(student: &str) -> String {
    let name = format!("guard{}", tag());
    let email = format!("{name}@home.example");
    sql_one(&format!(
        "WITH g AS (INSERT INTO users (username, email, given_name, family_name, role) \
         VALUES ('{name}', '{email}', 'Gwen', 'Guardian', 'guardian') RETURNING id) \
         INSERT INTO guardianships (guardian_id, student_id, relationship) \
         SELECT g.id, u.id, 'parent' FROM g, users u WHERE u.sourced_id = '{student}' RETURNING 1"
    ));
    email
}

/// Absence alerts leave `delay_s` after a submission (the institution's setting, changed as
/// an administrator does).
fn absence_delay(server: &TestServer, delay_s: u32) {
    let admin = access_token(server, "admin");
    let r = send(
        server,
        "PATCH",
        "/api/v1/admin/notification-settings",
        &admin,
        json!({"absence_delay_s": delay_s}),
    );
    assert_eq!(ok(&r, 200)["absence_delay_s"], delay_s);
}

struct Setup {
    server: TestServer,
    _worker: Worker,
    admin: String,
    registrar: String,
    teacher: String,
    c: Campus,
}

fn setup(students: usize) -> Setup {
    let server = TestServer::spawn(&[]);
    let worker = Worker::spawn(&[("CAMPUSHUB_PUBLIC_URL", &server.url(""))]);
    let admin = access_token(&server, "admin");
    let registrar = access_token(&server, "registrar");
    let c = build_campus(&server, &admin, &registrar, students);
    let teacher = access_token(&server, &c.teacher_name);
    Setup {
        server,
        _worker: worker,
        admin,
        registrar,
        teacher,
        c,
    }
}

fn jobs_for(kind: &str, key_part: &str) -> String {
    sql_one(&format!(
        "SELECT count(*) FROM jobs WHERE kind = '{kind}' AND idempotency_key LIKE '%{key_part}%'"
    ))
}

#[test]
fn a_days_absences_reach_each_guardian_once_and_a_corrected_mark_sends_nothing() {
    let _g = serial();
    let s = setup(3);
    absence_delay(&s.server, 2);
    // Only those who manage users institution-wide change them (administrators, registrars),
    // within bounds.
    let r = send(
        &s.server,
        "PATCH",
        "/api/v1/admin/notification-settings",
        &s.teacher,
        json!({"absence_delay_s": 5}),
    );
    assert_eq!(r.status, 403);
    let r = send(
        &s.server,
        "PATCH",
        "/api/v1/admin/notification-settings",
        &s.admin,
        json!({"absence_delay_s": -1}),
    );
    assert_eq!(r.status, 422);
    let alone = guardian_of(&s.c.students[0]);
    let corrected = guardian_of(&s.c.students[1]);
    let present = guardian_of(&s.c.students[2]);
    // Student 0 misses periods 1 and 2; student 1 misses period 1, which the office then
    // excuses; student 2 is there all day.
    let date = "2026-10-05";
    let first = take_register(&s.server, &s.teacher, &s.c, date, 1, &["A", "A", "P"]);
    take_register(&s.server, &s.teacher, &s.c, date, 2, &["A", "P", "P"]);
    let office = format!("/api/v1/attendance-sessions/{first}/records");
    let excuse = json!({"records": [{"student": s.c.students[1], "code": "E"}]});
    ok(&send(&s.server, "PUT", &office, &s.registrar, excuse), 200);

    let m = wait_for(&alone, 1, Duration::from_secs(30));
    assert_eq!(m.len(), 1, "{m:?}");
    let text = m[0]["text"].as_str().unwrap();
    assert!(
        text.contains("period 1: Astronomy A") && text.contains("period 2: Astronomy A"),
        "{text}"
    );
    assert!(
        m[0]["subject"].as_str().unwrap().contains("Given0"),
        "{}",
        m[0]
    );
    assert!(m[0]["html"].as_str().unwrap().contains("<td"), "{}", m[0]);
    let one_click = m[0]["list_unsubscribe"].as_str().unwrap();
    assert!(
        one_click.starts_with('<') && one_click.contains("/api/v1/notifications/unsubscribe?u="),
        "{one_click}"
    );
    assert_eq!(m[0]["list_unsubscribe_post"], "List-Unsubscribe=One-Click");

    // The corrected student's job ran and found nothing to say; nobody wrote to the present one.
    let student1 = sql_one(&format!(
        "SELECT id FROM users WHERE sourced_id = '{}'",
        s.c.students[1]
    ));
    // (Its alert job ran and found the mark corrected; or, had the correction come before the
    // worker read the register, no alert job was ever made.)
    assert!(common::eventually(Duration::from_secs(30), || {
        sql_one(&format!(
            "SELECT (SELECT count(*) FROM jobs WHERE kind = 'notify.session' AND state = 'done' \
                     AND payload->>'session' = '{first}') = 1 \
                AND (SELECT count(*) FROM jobs WHERE kind = 'notify.absence' AND state <> 'done' \
                     AND idempotency_key = 'notify.absence:{student1}:{date}') = 0"
        )) == "t"
    }));
    std::thread::sleep(Duration::from_millis(500));
    assert!(delivered_to(&corrected).is_empty());
    assert!(delivered_to(&present).is_empty());
    // One alert per student per day: a third register that day makes no new job.
    let student0 = sql_one(&format!(
        "SELECT id FROM users WHERE sourced_id = '{}'",
        s.c.students[0]
    ));
    let third = take_register(&s.server, &s.teacher, &s.c, date, 3, &["A", "A", "A"]);
    // Once the worker has read that register (its notify.session job done)...
    assert!(common::eventually(Duration::from_secs(30), || {
        sql_one(&format!(
            "SELECT count(*) FROM jobs WHERE kind = 'notify.session' AND state = 'done' \
             AND payload->>'session' = '{third}'"
        )) == "1"
    }));
    assert_eq!(
        jobs_for("notify.absence", &format!("{student0}:{date}")),
        "1"
    );
    assert_eq!(
        jobs_for("email.absence", &format!("{student0}:{date}")),
        "1"
    );
    absence_delay(&s.server, 900);
}

#[test]
fn published_results_reach_students_and_guardians_who_want_them_and_one_click_unsubscribes() {
    let _g = serial();
    let s = setup(2);
    let guardian = guardian_of(&s.c.students[0]);
    let student0 = format!("{}@example.edu", s.c.student_names[0]);
    let student1 = format!("{}@example.edu", s.c.student_names[1]);
    // Student 1 turns results off.
    give_password(&s.c.student_names[1]);
    let st1 = access_token(&s.server, &s.c.student_names[1]);
    let r = send(
        &s.server,
        "PATCH",
        "/api/v1/me/notifications",
        &st1,
        json!({"results": false}),
    );
    assert_eq!(ok(&r, 200), json!({"absence": true, "results": false}));
    let r = call(
        &s.server,
        "GET",
        "/api/v1/me/notifications",
        Some(&st1),
        None,
    );
    assert_eq!(ok(&r, 200), json!({"absence": true, "results": false}));

    let quiz = new_quiz(
        &s.server,
        &s.teacher,
        &s.c.class,
        &format!("Quiz {}", s.c.t),
    );
    let grades = json!({"results": [
        {"student": s.c.students[0], "score": 8.5, "score_status": "fully graded", "comment": "Well argued"},
        {"student": s.c.students[1], "score": 6, "score_status": "fully graded"}
    ]});
    ok(
        &send(
            &s.server,
            "PUT",
            &format!("/api/v1/line-items/{quiz}/results"),
            &s.teacher,
            grades,
        ),
        200,
    );
    // A draft tells nobody.
    std::thread::sleep(Duration::from_millis(300));
    assert!(delivered_to(&student0).is_empty());
    let publish = json!({"status": "published"});
    ok(
        &send(
            &s.server,
            "PATCH",
            &format!("/api/v1/line-items/{quiz}"),
            &s.registrar,
            publish,
        ),
        200,
    );

    let to_student = wait_for(&student0, 1, Duration::from_secs(30));
    let to_guardian = wait_for(&guardian, 1, Duration::from_secs(30));
    assert!(
        to_student[0]["text"]
            .as_str()
            .unwrap()
            .contains("8.5 out of 10"),
        "{}",
        to_student[0]
    );
    assert!(
        to_student[0]["text"]
            .as_str()
            .unwrap()
            .contains("Well argued"),
        "{}",
        to_student[0]
    );
    assert!(
        to_guardian[0]["text"]
            .as_str()
            .unwrap()
            .contains("The result of Given0"),
        "{}",
        to_guardian[0]
    );
    assert_ne!(to_student[0]["message_id"], to_guardian[0]["message_id"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        delivered_to(&student1).is_empty(),
        "student 1 turned results off"
    );

    // The guardian's mail client unsubscribes with one click (RFC 8058): a POST to the
    // List-Unsubscribe address with a form body.
    let header = to_guardian[0]["list_unsubscribe"].as_str().unwrap();
    let url = header.trim_start_matches('<').trim_end_matches('>');
    let path = &url[url.find("/api/").unwrap()..];
    let form = "List-Unsubscribe=One-Click";
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let r = common::first_response(&s.server.raw(raw.as_bytes()), "POST");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({"kind": "results", "email": false}));
    let guardian_id = sql_one(&format!(
        "SELECT sourced_id FROM users WHERE email = '{guardian}'"
    ));
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM audit_events WHERE action = 'notifications.changed' AND target_id = '{guardian_id}' \
             AND details->>'via' = 'unsubscribe link'"
        )),
        "1"
    );
    // A forged or altered link changes nothing, and says so plainly.
    let forged = path.replace("k=results", "k=absence");
    let raw = format!(
        "POST {forged} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        common::first_response(&s.server.raw(raw.as_bytes()), "POST").status,
        422
    );
    let body = json!({"user": guardian_id, "kind": "absence", "token": "A".repeat(43)}).to_string();
    assert_eq!(
        call(
            &s.server,
            "POST",
            "/api/v1/notifications/unsubscribe",
            None,
            Some(&body)
        )
        .status,
        422
    );
    assert_eq!(
        sql_one(&format!(
            "SELECT notification_wanted(id, 'absence') FROM users WHERE sourced_id = '{guardian_id}'"
        )),
        "t"
    );
    // Nobody's preferences but one's own: an API key may not, a missing token may not.
    assert_eq!(
        call(&s.server, "GET", "/api/v1/me/notifications", None, None).status,
        401
    );
    let r = send(
        &s.server,
        "PATCH",
        "/api/v1/me/notifications",
        &st1,
        json!({}),
    );
    assert_eq!(r.status, 422);
    let r = send(
        &s.server,
        "PATCH",
        "/api/v1/me/notifications",
        &st1,
        json!({"results": "no"}),
    );
    assert_eq!(r.status, 422);

    // The student stops results from the page the message's footer links to, in a browser.
    let text = to_student[0]["text"].as_str().unwrap();
    let page = text
        .split_whitespace()
        .find(|w| w.contains("/account/unsubscribe#"))
        .unwrap_or_else(|| panic!("no unsubscribe link in {text}"));
    let seen = browse(
        page,
        &[
            "--click",
            "#submit",
            "--wait",
            "#status=will not email you results",
        ]
        .map(String::from),
    );
    assert!(
        !seen["url_after_load"].as_str().unwrap().contains("t="),
        "{seen}"
    );
    assert_eq!(
        sql_one(&format!(
            "SELECT notification_wanted(id, 'results') FROM users WHERE sourced_id = '{}'",
            s.c.students[0]
        )),
        "f"
    );
    let _ = &s.admin;
}
