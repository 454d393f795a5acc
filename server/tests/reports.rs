//! PDF reports on the real stack, made by a real worker and read back with poppler's
//! `pdftotext` and `pdfinfo` (an independent implementation): a term report, an attendance
//! certificate and a class's register say the names and figures they should, on the pages
//! they should; each is under the rule of the data it shows, when asked for and when read;
//! bad requests are refused field by field.
//!
//! One test at a time: each starts a worker, and a worker takes any ready job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::campus::{
    bad_fields, build_campus, give_password, new_quiz, ok, send, take_register, Campus,
};
use common::worker::Worker;
use common::{access_token, call, eventually, TestServer};
use serde_json::{json, Value};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

struct Setup {
    server: TestServer,
    worker: Option<Worker>,
    admin: String,
    registrar: String,
    teacher: String,
    c: Campus,
}

fn setup() -> Setup {
    let server = TestServer::spawn(&[]);
    let worker = Worker::spawn(&[("CAMPUSHUB_PUBLIC_URL", &server.url(""))]);
    let admin = access_token(&server, "admin");
    let registrar = access_token(&server, "registrar");
    let c = build_campus(&server, &admin, &registrar, 3);
    let teacher = access_token(&server, &c.teacher_name);
    Setup {
        server,
        worker: Some(worker),
        admin,
        registrar,
        teacher,
        c,
    }
}

fn ask(s: &Setup, token: &str, kind: &str, subject: &str, from: &str, to: &str) -> common::Resp {
    send(
        &s.server,
        "POST",
        "/api/v1/reports",
        token,
        json!({"kind": kind, "subject": subject, "from": from, "to": to}),
    )
}

/// Asks as `token` and waits until the report is done: its state document.
fn made(s: &Setup, token: &str, kind: &str, subject: &str, from: &str, to: &str) -> Value {
    let r = ask(s, token, kind, subject, from, to);
    let id = ok(&r, 202)["sourced_id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/reports/{id}").as_str())
    );
    let mut last = Value::Null;
    let done = eventually(Duration::from_secs(30), || {
        last = ok(
            &call(
                &s.server,
                "GET",
                &format!("/api/v1/reports/{id}"),
                Some(token),
                None,
            ),
            200,
        );
        last["state"] != "queued"
    });
    assert!(done && last["state"] == "done", "{last}");
    last
}

/// The PDF of report `id` as `token`: its text (pdftotext -layout) and pdfinfo's lines.
fn read_pdf(s: &Setup, token: &str, id: &str) -> (String, String) {
    let r = call(
        &s.server,
        "GET",
        &format!("/api/v1/reports/{id}/file"),
        Some(token),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename=\""));
    assert!(r.body.starts_with(b"%PDF-"));
    let path = std::env::temp_dir().join(format!("campushub-report-{id}.pdf"));
    std::fs::write(&path, &r.body).unwrap();
    let text = common::run_ok(
        Command::new("pdftotext").arg("-layout").arg(&path).arg("-"),
        "pdftotext (poppler-utils)",
    );
    let info = common::run_ok(
        Command::new("pdfinfo").arg(&path),
        "pdfinfo (poppler-utils)",
    );
    let _ = std::fs::remove_file(&path);
    (
        String::from_utf8_lossy(&text.stdout).into_owned(),
        String::from_utf8_lossy(&info.stdout).into_owned(),
    )
}

fn pages(info: &str) -> u32 {
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_term_report_shows_published_results_by_class_with_the_grading_scale() {
    let _g = serial();
    let s = setup();
    let quiz = new_quiz(&s.server, &s.teacher, &s.c.class, "Star charts");
    let draft = new_quiz(&s.server, &s.teacher, &s.c.class, "Unpublished draft");
    let grades = json!({"results": [
        {"student": s.c.students[0], "score": 8.5, "score_status": "fully graded"},
        {"student": s.c.students[1], "score": 4, "score_status": "fully graded"}
    ]});
    ok(
        &send(
            &s.server,
            "PUT",
            &format!("/api/v1/line-items/{quiz}/results"),
            &s.teacher,
            grades.clone(),
        ),
        200,
    );
    ok(
        &send(
            &s.server,
            "PUT",
            &format!("/api/v1/line-items/{draft}/results"),
            &s.teacher,
            grades,
        ),
        200,
    );
    ok(
        &send(
            &s.server,
            "PATCH",
            &format!("/api/v1/line-items/{quiz}"),
            &s.registrar,
            json!({"status": "published"}),
        ),
        200,
    );

    let doc = made(
        &s,
        &s.registrar,
        "term_report",
        &s.c.students[0],
        "2026-09-01",
        "2027-01-31",
    );
    assert_eq!(doc["kind"], "term_report");
    assert_eq!(doc["subject"]["sourced_id"], s.c.students[0].as_str());
    assert_eq!(doc["pages"], 1);
    let id = doc["sourced_id"].as_str().unwrap();
    let (text, info) = read_pdf(&s, &s.registrar, id);
    assert_eq!(pages(&info), 1, "{info}");
    for want in [
        "Term report",
        &format!("Given0 Family{}", s.c.t),
        &format!("R{}-0", s.c.t),
        "BSc Astronomy",
        "Astronomy A",
        "Star charts",
        "8.5",
        "85 B",
        "A: 90% and above",
        "F: below 60%",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert!(
        !text.contains("Unpublished draft"),
        "a draft reached the report:\n{text}"
    );
    assert!(!text.contains("Given1"), "another student's name:\n{text}");

    // The student reads their own; another student may neither read it nor ask for it.
    give_password(&s.c.student_names[0]);
    give_password(&s.c.student_names[1]);
    let own = access_token(&s.server, &s.c.student_names[0]);
    let other = access_token(&s.server, &s.c.student_names[1]);
    assert_eq!(
        call(
            &s.server,
            "GET",
            &format!("/api/v1/reports/{id}"),
            Some(&own),
            None
        )
        .status,
        200
    );
    read_pdf(&s, &own, id);
    assert_eq!(
        call(
            &s.server,
            "GET",
            &format!("/api/v1/reports/{id}"),
            Some(&other),
            None
        )
        .status,
        403
    );
    assert_eq!(
        call(
            &s.server,
            "GET",
            &format!("/api/v1/reports/{id}/file"),
            Some(&other),
            None
        )
        .status,
        403
    );
    assert_eq!(
        ask(
            &s,
            &other,
            "term_report",
            &s.c.students[0],
            "2026-09-01",
            "2027-01-31"
        )
        .status,
        403
    );
    assert_eq!(
        call(
            &s.server,
            "GET",
            "/api/v1/reports/00000000-0000-4000-8000-000000000000",
            Some(&s.admin),
            None
        )
        .status,
        404
    );
    assert_eq!(
        call(
            &s.server,
            "GET",
            &format!("/api/v1/reports/{id}"),
            None,
            None
        )
        .status,
        401
    );
}

#[test]
fn a_certificate_and_a_register_count_what_the_registers_hold() {
    let _g = serial();
    let s = setup();
    // Two sessions: student 0 present then absent; student 1 late then present; student 2
    // absent, then excused by the office.
    let days = [
        ("2026-10-05", ["P", "L", "A"]),
        ("2026-10-07", ["A", "P", "P"]),
    ];
    let mut first = String::new();
    for (i, (date, codes)) in days.iter().enumerate() {
        let sid = take_register(&s.server, &s.teacher, &s.c, date, 1, codes);
        if i == 0 {
            first = sid;
        }
    }
    let excuse = json!({"records": [{"student": s.c.students[2], "code": "E"}]});
    ok(
        &send(
            &s.server,
            "PUT",
            &format!("/api/v1/attendance-sessions/{first}/records"),
            &s.registrar,
            excuse,
        ),
        200,
    );

    let doc = made(
        &s,
        &s.registrar,
        "attendance_certificate",
        &s.c.students[0],
        "2026-10-01",
        "2026-10-31",
    );
    let (text, info) = read_pdf(&s, &s.registrar, doc["sourced_id"].as_str().unwrap());
    assert_eq!(pages(&info), 1);
    assert!(
        text.contains("Attendance certificate")
            && text.contains(&format!("Given0 Family{}", s.c.t)),
        "{text}"
    );
    assert!(
        text.contains("from 2026-10-01") && text.contains("2026-10-31, by class"),
        "{text}"
    );
    assert!(
        text.contains(&format!("AST{}", s.c.t)),
        "the course code is cut:\n{text}"
    );
    assert!(
        text.contains("Overall presence: 50% of 2 sessions."),
        "{text}"
    );

    // The register: landscape, every student, every session, the office's code in place.
    let doc = made(
        &s,
        &s.teacher,
        "class_register",
        &s.c.class,
        "2026-10-01",
        "2026-10-31",
    );
    let (text, info) = read_pdf(&s, &s.teacher, doc["sourced_id"].as_str().unwrap());
    assert!(info.contains("842 x 595"), "{info}");
    assert!(text.contains("Attendance register: Astronomy A"), "{text}");
    assert!(text.contains("05/1") && text.contains("07/1"), "{text}");
    for i in 0..3 {
        assert!(
            text.contains(&format!("Family{}, Given{i}", s.c.t)),
            "{text}"
        );
    }
    let row = |i: usize| {
        text.lines()
            .find(|l| l.contains(&format!("Given{i}")))
            .unwrap()
            .to_string()
    };
    let cells = |l: String| {
        l.split_whitespace()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(cells(row(0)), ["P", "A", "1"], "{text}");
    assert_eq!(cells(row(1)), ["L", "P", "0"], "{text}");
    assert_eq!(cells(row(2)), ["E", "P", "0"], "{text}");

    // A teacher of another class may not; nor may a student ask for their class's register.
    let other = build_campus(&s.server, &s.admin, &s.registrar, 0);
    let stranger = access_token(&s.server, &other.teacher_name);
    assert_eq!(
        ask(
            &s,
            &stranger,
            "class_register",
            &s.c.class,
            "2026-10-01",
            "2026-10-31"
        )
        .status,
        403
    );
    assert_eq!(
        call(
            &s.server,
            "GET",
            &format!("/api/v1/reports/{}", doc["sourced_id"].as_str().unwrap()),
            Some(&stranger),
            None
        )
        .status,
        403
    );
    give_password(&s.c.student_names[0]);
    let student = access_token(&s.server, &s.c.student_names[0]);
    assert_eq!(
        ask(
            &s,
            &student,
            "class_register",
            &s.c.class,
            "2026-10-01",
            "2026-10-31"
        )
        .status,
        403
    );
    assert_eq!(
        ask(
            &s,
            &student,
            "attendance_certificate",
            &s.c.students[0],
            "2026-10-01",
            "2026-10-31"
        )
        .status,
        202
    );
}

#[test]
fn bad_requests_are_refused_field_by_field_and_a_file_waits_for_its_report() {
    let _g = serial();
    let mut s = setup();
    let st = s.c.students[0].clone();
    assert_eq!(
        bad_fields(&ask(
            &s,
            &s.registrar,
            "transcript",
            &st,
            "2026-10-01",
            "2026-10-31"
        )),
        ["kind"]
    );
    assert_eq!(
        bad_fields(&ask(
            &s,
            &s.registrar,
            "term_report",
            "nobody",
            "2026-10-01",
            "2026-10-31"
        )),
        ["subject"]
    );
    assert_eq!(
        bad_fields(&ask(
            &s,
            &s.registrar,
            "term_report",
            &st,
            "2026-02-30",
            "2026-10-31"
        )),
        ["from"]
    );
    assert_eq!(
        bad_fields(&ask(
            &s,
            &s.registrar,
            "term_report",
            &st,
            "2026-10-31",
            "2026-10-01"
        )),
        ["to"]
    );
    assert_eq!(
        bad_fields(&ask(
            &s,
            &s.registrar,
            "term_report",
            &st,
            "2020-01-01",
            "2026-10-01"
        )),
        ["to"]
    );
    assert_eq!(
        bad_fields(&ask(
            &s,
            &s.registrar,
            "class_register",
            &s.c.class,
            "2026-09-01",
            "2026-11-30"
        )),
        ["to"]
    );
    assert_eq!(
        ask(
            &s,
            &s.registrar,
            "term_report",
            "00000000-0000-4000-8000-000000000000",
            "2026-10-01",
            "2026-10-31"
        )
        .status,
        404
    );
    assert_eq!(
        ask(
            &s,
            &s.registrar,
            "class_register",
            "00000000-0000-4000-8000-000000000000",
            "2026-10-01",
            "2026-10-31"
        )
        .status,
        404
    );
    let r = send(
        &s.server,
        "POST",
        "/api/v1/reports",
        &s.registrar,
        json!({"kind": "term_report", "subject": st, "from": "2026-10-01", "to": "2026-10-31", "extra": 1}),
    );
    assert_eq!(r.status, 422);

    // No worker: the report waits, and so does its file.
    drop(s.worker.take());
    let r = ask(
        &s,
        &s.registrar,
        "attendance_certificate",
        &st,
        "2026-10-01",
        "2026-10-31",
    );
    let id = ok(&r, 202)["sourced_id"].as_str().unwrap().to_string();
    let state = ok(
        &call(
            &s.server,
            "GET",
            &format!("/api/v1/reports/{id}"),
            Some(&s.registrar),
            None,
        ),
        200,
    );
    assert_eq!(state["state"], "queued");
    assert!(state.get("pages").is_none(), "{state}");
    assert_eq!(
        call(
            &s.server,
            "GET",
            &format!("/api/v1/reports/{id}/file"),
            Some(&s.registrar),
            None
        )
        .status,
        409
    );
    // A worker comes back: the file is there.
    let _w = Worker::spawn(&[("CAMPUSHUB_PUBLIC_URL", &s.server.url(""))]);
    assert!(eventually(Duration::from_secs(30), || {
        call(
            &s.server,
            "GET",
            &format!("/api/v1/reports/{id}/file"),
            Some(&s.registrar),
            None,
        )
        .status
            == 200
    }));
    let audit = common::sql_one(&format!(
        "SELECT count(*) FROM audit_events WHERE action = 'reports.requested' AND target_id = '{id}'"
    ));
    assert_eq!(audit, "1");
}
