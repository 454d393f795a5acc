//! Writes of a value another record holds (issue 19, Low 1): a course moved into a department
//! that holds its code, a class moved into a term that holds its code, and concurrent writes of
//! one email, roll number or employee number all answer 409 problem+json naming the field,
//! never 500; and a 500 that does happen leaves its cause (SQLSTATE, constraint, statement) in
//! the server's log, without the values the request carried.
//!
//! Like tests/campus.rs, each test builds what it needs through the API with names unique per
//! run (the suite runs twice over one database) and depends only on the demo log-in `admin`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::campus::{create, get, ok, send, tag};
use common::{access_token, eventually, psql, sql_one, Resp, ScratchDb, TestServer};
use serde_json::{json, Value};

/// Concurrent writers per round, each with a database connection of its own (see
/// [`spawn_for_races`]), so that all of them are inside PostgreSQL at once.
const WRITERS: usize = 8;
/// Rounds per concurrency test: one lucky schedule must not let a broken build pass.
const ROUNDS: usize = 8;
/// The answer to a write of a value another record holds (issue 19: 409, naming the field).
const TAKEN: u16 = 409;

/// A server whose shard has a database connection per writer: with the default two, the
/// writes would reach PostgreSQL two at a time and rarely overlap.
fn spawn_for_races() -> TestServer {
    let connections = WRITERS.to_string();
    TestServer::spawn(&[("CAMPUSHUB_DB_CONNECTIONS_PER_SHARD", connections.as_str())])
}

/// Asserts a 409 problem+json whose `errors` name exactly `field`.
fn assert_taken(r: &Resp, field: &str) {
    assert_eq!(r.status, TAKEN, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("Content-Type"),
        Some("application/problem+json"),
        "{:?}",
        r.headers
    );
    let v = r.json();
    assert_eq!(v["status"], TAKEN, "{v}");
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no `errors` naming the field: {v}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, [field], "{v}");
}

fn department(server: &TestServer, admin: &str, t: &str, n: u32) -> String {
    let body = json!({"name": format!("Conflicts {t} {n}"), "identifier": format!("W{t}{n}")});
    create(server, admin, "/api/v1/departments", body)
}

fn term(server: &TestServer, admin: &str, t: &str, n: u32) -> String {
    let body = json!({"title": format!("Term {t} {n}"), "type": "term", "start_date": "2026-09-01", "end_date": "2027-01-31", "school_year": 2027});
    create(server, admin, "/api/v1/terms", body)
}

fn course(server: &TestServer, admin: &str, code: &str, dept: &str) -> String {
    let body = json!({"title": "Optics", "course_code": code, "credits": 3.0, "department": dept});
    create(server, admin, "/api/v1/courses", body)
}

fn class(server: &TestServer, admin: &str, code: &str, course: &str, term: &str) -> String {
    let body = json!({"title": "Optics A", "class_code": code, "course": course, "term": term});
    create(server, admin, "/api/v1/classes", body)
}

fn student(server: &TestServer, admin: &str, t: &str, i: usize, dept: &str) -> String {
    let name = format!("wc{t}s{i}");
    let body = json!({"username": name, "email": format!("{name}@example.edu"), "given_name": "Wen", "family_name": "Conflict", "roll_number": format!("WC{t}-{i}"), "program": "BSc Optics", "year_of_study": 1, "department": dept});
    create(server, admin, "/api/v1/students", body)
}

fn staff(server: &TestServer, admin: &str, t: &str, i: usize, dept: &str) -> String {
    let body = json!({"username": format!("wc{t}f{i}"), "given_name": "Fay", "family_name": "Conflict", "role": "teacher", "employee_number": format!("WE{t}-{i}"), "designation": "Lecturer", "department": dept});
    create(server, admin, "/api/v1/staff", body)
}

/// Runs `write(i)` for every i in `0..WRITERS` at once; their responses, in i's order.
fn at_once(write: impl Fn(usize) -> Resp + Sync) -> Vec<Resp> {
    let barrier = std::sync::Barrier::new(WRITERS);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (write, barrier) = (&write, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    write(i)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// Exactly one write won (`won`: 200 or 201); every other one is a 409 naming `field`.
fn one_winner(responses: &[Resp], won: u16, field: &str) {
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    let mut expected = vec![TAKEN; responses.len()];
    expected[0] = won;
    expected.sort_unstable();
    assert_eq!(statuses, expected, "one {won}, the others 409");
    for r in responses.iter().filter(|r| r.status != won) {
        assert_taken(r, field);
    }
}

/// The record at `path`, moved (its `member` set from `from` to `to`) where another record
/// holds its code (`code`): 409 naming `code`, alone or with another change, and nothing
/// changed; moved with a free code (`free`) as well, it is 200.
fn a_move_onto_a_taken_code_is_refused(
    server: &TestServer,
    admin: &str,
    path: &str,
    (member, from, to): (&str, &str, &str),
    (code, free): (&str, &str),
) {
    for body in [
        json!({ member: to }),
        json!({ member: to, "title": "Moved" }),
    ] {
        assert_taken(&send(server, "PATCH", path, admin, body), code);
    }
    let now = ok(&get(server, path, admin), 200);
    assert_eq!(now[member]["sourced_id"], from, "{now}");
    assert_ne!(now["title"], "Moved", "{now}");
    let moved = json!({ member: to, code: free });
    let now = ok(&send(server, "PATCH", path, admin, moved), 200);
    assert_eq!(now[member]["sourced_id"], to, "{now}");
}

#[test]
fn a_course_moved_into_a_department_that_holds_its_code_is_409_on_course_code() {
    let server = TestServer::spawn(&[]);
    let admin = access_token(&server, "admin");
    let t = tag();
    let (home, other) = (
        department(&server, &admin, &t, 1),
        department(&server, &admin, &t, 2),
    );
    let code = format!("OPT{t}");
    let moving = course(&server, &admin, &code, &home);
    course(&server, &admin, &code, &other);
    // No code sent: the code it keeps is the one taken in the department it moves to.
    a_move_onto_a_taken_code_is_refused(
        &server,
        &admin,
        &format!("/api/v1/courses/{moving}"),
        ("department", &home, &other),
        ("course_code", &format!("OPT{t}-2")),
    );
}

#[test]
fn a_class_moved_into_a_term_that_holds_its_code_is_409_on_class_code() {
    let server = TestServer::spawn(&[]);
    let admin = access_token(&server, "admin");
    let t = tag();
    let dept = department(&server, &admin, &t, 1);
    let (autumn, spring) = (term(&server, &admin, &t, 1), term(&server, &admin, &t, 2));
    let optics = course(&server, &admin, &format!("OPT{t}"), &dept);
    let code = format!("OPT{t}-A");
    let moving = class(&server, &admin, &code, &optics, &autumn);
    class(&server, &admin, &code, &optics, &spring);
    let path = format!("/api/v1/classes/{moving}");
    let free = format!("OPT{t}-B");
    a_move_onto_a_taken_code_is_refused(
        &server,
        &admin,
        &path,
        ("term", &autumn, &spring),
        ("class_code", &free),
    );
}

/// A value only one person may hold, that `WRITERS` people are changed to at once: their
/// collection, the field, how a value ends, and the table and column where it is counted.
type Race = (&'static str, &'static str, &'static str, &'static str);

const EMAIL: Race = (
    "students",
    "email",
    "@example.edu",
    "users WHERE lower(email)",
);
const ROLL_NUMBER: Race = (
    "students",
    "roll_number",
    "",
    "student_profiles WHERE roll_number",
);
const EMPLOYEE: Race = (
    "staff",
    "employee_number",
    "",
    "staff_profiles WHERE employee_number",
);

/// Round after round, `WRITERS` new people of `race`'s collection are changed at once to the
/// same value of its field: one 200, the rest 409 naming the field, and the value is held once.
fn race_one_value((collection, field, end, counted_in): Race) {
    let server = spawn_for_races();
    let admin = access_token(&server, "admin");
    let t = tag();
    let dept = department(&server, &admin, &t, 1);
    let person = if collection == "staff" {
        staff
    } else {
        student
    };
    let people: Vec<String> = (0..WRITERS)
        .map(|i| person(&server, &admin, &t, i, &dept))
        .collect();
    for round in 0..ROUNDS {
        let v = format!("wr{t}r{round}{end}");
        let responses = at_once(|i| {
            let path = format!("/api/v1/{collection}/{}", people[i]);
            send(&server, "PATCH", &path, &admin, json!({ field: v }))
        });
        one_winner(&responses, 200, field);
        let count = format!("SELECT count(*) FROM {counted_in} = '{v}'");
        assert_eq!(sql_one(&count), "1", "round {round}");
    }
}

#[test]
fn concurrent_changes_to_one_email_give_one_200_and_409s() {
    race_one_value(EMAIL);
}

#[test]
fn concurrent_admissions_with_one_email_give_one_201_and_409s() {
    let server = spawn_for_races();
    let admin = access_token(&server, "admin");
    let t = tag();
    let dept = department(&server, &admin, &t, 1);
    for round in 0..ROUNDS {
        // Different usernames and roll numbers: only the email is shared.
        let email = format!("twin{t}r{round}@example.edu");
        let responses = at_once(|i| {
            send(
                &server,
                "POST",
                "/api/v1/students",
                &admin,
                json!({"username": format!("wc{t}r{round}n{i}"), "email": email, "given_name": "Tw", "family_name": "In", "roll_number": format!("WT{t}-{round}-{i}"), "program": "P", "year_of_study": 1, "department": dept}),
            )
        });
        one_winner(&responses, 201, "email");
    }
}

#[test]
fn concurrent_changes_to_one_roll_number_give_one_200_and_409s() {
    race_one_value(ROLL_NUMBER);
}

#[test]
fn concurrent_changes_to_one_employee_number_give_one_200_and_409s() {
    race_one_value(EMPLOYEE);
}

/// A 500 the code cannot foresee: a unique index the API knows nothing of (as a database
/// administrator might add), on a database of the test's own. The server answers 500 and its
/// log names the SQLSTATE, the constraint, the table and the statement, and holds none of the
/// values the request sent (PostgreSQL's DETAIL quotes them: `Key (name)=(...)`).
#[test]
fn a_500_leaves_its_cause_in_the_server_log() {
    let db = ScratchDb::new("write_conflicts");
    let (code, _, err) = common::cli(&db.url, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    // The demo administrator, with the demo password (copied as a hash from the stack's).
    let hash = sql_one("SELECT password_hash FROM users WHERE username = 'admin'");
    assert!(hash.starts_with('$'), "the stack is seeded: {hash}");
    psql(
        &db.url,
        &format!(
            "SELECT outcome FROM admin_create('admin', NULL, 'Ada', 'Admin', '{hash}', 'Scratch University')"
        ),
    );
    psql(
        &db.url,
        "CREATE UNIQUE INDEX write_conflicts_one_name ON orgs (name)",
    );
    let server = TestServer::spawn(&[("CAMPUSHUB_DATABASE_URL", db.url.as_str())]);
    let admin = access_token(&server, "admin");
    let name = "Department of Unforeseen Clashes";
    ok(
        &send(
            &server,
            "POST",
            "/api/v1/departments",
            &admin,
            json!({"name": name, "identifier": "CLASH1"}),
        ),
        201,
    );
    let r = send(
        &server,
        "POST",
        "/api/v1/departments",
        &admin,
        json!({"name": name, "identifier": "CLASH2"}),
    );
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));

    let cause = || {
        server
            .logs()
            .into_iter()
            .find(|l| l.contains("write_conflicts_one_name"))
    };
    assert!(
        eventually(Duration::from_secs(5), || cause().is_some()),
        "no log line names the constraint: {:#?}",
        server.logs()
    );
    let line = cause().unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "error", "{line}");
    assert_eq!(v["sqlstate"], "23505", "{line}");
    assert_eq!(v["constraint"], "write_conflicts_one_name", "{line}");
    assert_eq!(v["table"], "orgs", "{line}");
    assert_eq!(v["statement"], "department_save", "{line}");
    assert!(
        v["where"]
            .as_str()
            .is_some_and(|w| w.starts_with("PL/pgSQL function department_save(")),
        "{line}"
    );
    for l in server.logs() {
        assert!(!l.contains(name), "a value reached the log: {l}");
        assert!(!l.contains("CLASH2"), "a value reached the log: {l}");
    }
}
