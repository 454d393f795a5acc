//! The hot queries stay on their indexes: over a seeded campus (thousands of students, weeks of
//! attendance), EXPLAIN must not show a sequential scan of any big table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{psql, ScratchDb};

/// A table counts as big above this many rows (planner statistics).
const BIG: f64 = 5_000.0;

fn seq_scans_of_big_tables(url: &str, sql: &str) -> Vec<String> {
    let plan = psql(url, &format!("EXPLAIN (FORMAT JSON) {sql}"));
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let mut found = Vec::new();
    let mut stack = vec![v[0]["Plan"].clone()];
    while let Some(node) = stack.pop() {
        if node["Node Type"] == "Seq Scan" {
            let rel = node["Relation Name"].as_str().unwrap_or("?").to_string();
            let rows: f64 = psql(
                url,
                &format!("SELECT reltuples FROM pg_class WHERE relname = '{rel}'"),
            )
            .trim()
            .parse()
            .unwrap_or(0.0);
            if rows > BIG {
                found.push(format!("{rel} ({rows} rows)"));
            }
        }
        if let Some(children) = node["Plans"].as_array() {
            stack.extend(children.iter().cloned());
        }
    }
    found
}

#[test]
fn hot_queries_use_indexes_on_a_seeded_campus() {
    let db = ScratchDb::new("plans");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_campushub"))
            .args(args)
            .env_remove("CAMPUSHUB_CONFIG")
            .env("CAMPUSHUB_DATABASE_URL", &db.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["migrate"]);
    run(&[
        "seed",
        "--students",
        "2500",
        "--faculty",
        "200",
        "--attendance-days",
        "25",
        "--quiet",
    ]);

    let one = |sql: &str| psql(&db.url, sql).trim().to_string();
    let student = one("SELECT u.id FROM users u WHERE u.username = 'student1'");
    let student_uuid = one("SELECT sourced_id FROM users WHERE username = 'student1'");
    let class = one(&format!(
        "SELECT class_id FROM enrollments WHERE user_id = {student} LIMIT 1"
    ));
    let roll = one(&format!(
        "SELECT roll_number FROM student_profiles WHERE user_id = {student}"
    ));
    let roll_prefix = &roll[..roll.len() - 2];
    let last = one("SELECT max(session_date) FROM attendance_sessions");

    let hot: Vec<(&str, String)> = vec![
        ("user by public id", format!("SELECT * FROM users WHERE sourced_id = '{student_uuid}'")),
        ("student by roll number", format!("SELECT * FROM student_profiles WHERE roll_number = '{roll}'")),
        ("students by roll-number prefix", format!("SELECT * FROM student_profiles WHERE roll_number LIKE '{roll_prefix}%' ORDER BY roll_number LIMIT 20")),
        ("people by name prefix", "SELECT id FROM users WHERE lower(family_name) LIKE 'sm%' ORDER BY lower(family_name), lower(given_name) LIMIT 20".to_string()),
        ("username log-in lookup", "SELECT id, password_hash FROM users WHERE lower(username) = lower('Student1')".to_string()),
        ("roster of a class", format!("SELECT u.id, u.family_name FROM enrollments e JOIN users u ON u.id = e.user_id WHERE e.class_id = {class} AND e.role = 'student'")),
        ("a student's classes", format!("SELECT class_id FROM enrollments WHERE user_id = {student}")),
        ("a student's attendance in a date range", format!("SELECT r.session_date, c.code FROM attendance_records r JOIN attendance_codes c ON c.id = r.code_id WHERE r.student_id = {student} AND r.session_date >= DATE '{last}' - 14 AND r.session_date <= DATE '{last}'")),
        ("a class's sessions by date", format!("SELECT * FROM attendance_sessions WHERE class_id = {class} AND session_date BETWEEN DATE '{last}' - 14 AND DATE '{last}' ORDER BY session_date, period")),
        ("records of one session", format!("SELECT * FROM attendance_records WHERE session_id = (SELECT max(id) FROM attendance_sessions WHERE class_id = {class}) AND session_date = DATE '{last}'")),
        ("results of a student", format!("SELECT l.title, r.score FROM results r JOIN line_items l ON l.id = r.line_item_id WHERE r.student_id = {student}")),
        ("guardian's students", "SELECT student_id FROM guardianships WHERE guardian_id = (SELECT id FROM users WHERE lower(username) = 'guardian1')".to_string()),
        ("a user's role bindings", format!("SELECT * FROM role_bindings WHERE user_id = {student}")),
    ];
    let mut failures = Vec::new();
    for (name, sql) in &hot {
        let scans = seq_scans_of_big_tables(&db.url, sql);
        if !scans.is_empty() {
            failures.push(format!("{name}: sequential scan of {}", scans.join(", ")));
        }
    }
    assert!(
        failures.is_empty(),
        "hot queries off their indexes:\n{}",
        failures.join("\n")
    );
}
