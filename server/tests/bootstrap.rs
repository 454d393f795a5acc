//! A real deployment can start: a database that is migrated but never demo-seeded has the
//! built-in roles, `campushub admin create` makes the first administrator (password on standard
//! input, never an argument), and that administrator logs in and manages roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{call, psql, ScratchDb, TestServer};

/// Runs `campushub admin create ARGS` against `url` with `stdin` on standard input:
/// (exit code, stdout, stderr).
fn admin_create(url: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_campushub"))
        .args(["admin", "create"])
        .args(args)
        .env_remove("CAMPUSHUB_CONFIG")
        .env("CAMPUSHUB_DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_migrated_database_gets_its_first_administrator_who_can_log_in() {
    let db = ScratchDb::new("bootstrap");
    assert_eq!(common::cli(&db.url, &["migrate"]).0, 0);
    let one = |sql: &str| psql(&db.url, sql).trim().to_string();
    assert_eq!(one("SELECT count(*) FROM roles WHERE builtin"), "7");
    assert_eq!(
        one("SELECT count(*) FROM role_permissions rp JOIN roles r ON r.id = rp.role_id WHERE r.name = 'admin'"),
        "20"
    );
    assert_eq!(one("SELECT count(*) FROM users"), "0");

    let password = "first-admin-password-1";
    let line = format!("{password}\n");
    let args = ["--username", "root_admin", "--email", "it@example.edu"];
    // No institution yet, and none named: refused, nothing written.
    let (code, _, err) = admin_create(&db.url, &args, &line);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--institution"), "{err}");
    assert_eq!(one("SELECT count(*) FROM users"), "0");
    // The password never travels as an argument.
    let (code, _, err) = admin_create(&db.url, &["--username", "x", "--password", password], "");
    assert_eq!(code, 2, "{err}");
    // Too short, empty, or the username itself.
    for bad in ["short\n", "\n", "", "root_admin\n"] {
        let (code, _, err) = admin_create(
            &db.url,
            &[&args[..], &["--institution", "Example University"]].concat(),
            bad,
        );
        assert_eq!(code, 1, "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    assert_eq!(one("SELECT count(*) FROM users"), "0");

    let (code, out, err) = admin_create(
        &db.url,
        &[&args[..], &["--institution", "Example University"]].concat(),
        &line,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("administrator of Example University"), "{out}");
    assert_eq!(
        one("SELECT count(*) FROM orgs WHERE type = 'institution'"),
        "1"
    );
    assert!(
        one("SELECT password_hash FROM users WHERE username = 'root_admin'")
            .starts_with("$argon2id$")
    );
    assert_eq!(
        one("SELECT count(*) FROM audit_events WHERE action = 'users.admin_created'"),
        "1"
    );
    // Again: the name (or the email) is taken.
    let (code, _, err) = admin_create(
        &db.url,
        &["--username", "ROOT_ADMIN", "--institution", "Other"],
        &line,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");

    // The administrator logs in on a server over this database and manages roles.
    let server = TestServer::spawn(&[("CAMPUSHUB_DATABASE_URL", db.url.as_str())]);
    let body = serde_json::json!({"username": "it@example.edu", "password": password}).to_string();
    let r = call(&server, "POST", "/api/v1/auth/login", None, Some(&body));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    let me = call(&server, "GET", "/api/v1/me", Some(&token), None);
    assert_eq!(me.json()["username"], "root_admin");
    let roles = call(&server, "GET", "/api/v1/roles", Some(&token), None);
    assert_eq!(roles.status, 200);
    assert_eq!(roles.json()["roles"].as_array().unwrap().len(), 7);
    let audit = call(
        &server,
        "GET",
        "/api/v1/audit-events?action=users.admin_created",
        Some(&token),
        None,
    );
    assert_eq!(
        audit.status,
        200,
        "{}",
        String::from_utf8_lossy(&audit.body)
    );
    // A real deployment starts from here: a department, then its first student.
    let dept = serde_json::json!({"name": "Physics", "identifier": "PHY"}).to_string();
    let r = call(
        &server,
        "POST",
        "/api/v1/departments",
        Some(&token),
        Some(&dept),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let dept_id = r.json()["sourced_id"].as_str().unwrap().to_string();
    let student = serde_json::json!({
        "username": "first.student", "given_name": "First", "family_name": "Student",
        "roll_number": "PHY-0001", "program": "BSc Physics", "year_of_study": 1,
        "department": dept_id
    })
    .to_string();
    let r = call(
        &server,
        "POST",
        "/api/v1/students",
        Some(&token),
        Some(&student),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let location = r.header("Location").unwrap().to_string();
    let r = call(&server, "GET", &location, Some(&token), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["roll_number"], "PHY-0001");
    let r = call(
        &server,
        "GET",
        "/api/v1/students?q=stud",
        Some(&token),
        None,
    );
    assert_eq!(r.json()["students"].as_array().unwrap().len(), 1);
    drop(server);
    // The demo seed refuses a database with campus data, and works over the migrated roles
    // on an empty one: covered by scripts/test, which migrates, then seeds.
}
