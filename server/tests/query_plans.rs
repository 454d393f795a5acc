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

/// Every node of a JSON plan.
fn plan_nodes(plan: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut nodes = Vec::new();
    let mut stack = vec![plan[0]["Plan"].clone()];
    while let Some(node) = stack.pop() {
        if let Some(children) = node["Plans"].as_array() {
            stack.extend(children.iter().cloned());
        }
        nodes.push(node);
    }
    nodes
}

#[test]
fn audit_pages_walk_the_primary_key_in_custom_and_generic_plans() {
    let db = ScratchDb::new("auditplans");
    assert_eq!(common::cli(&db.url, &["migrate"]).0, 0);
    let (code, _, stderr) = common::cli(
        &db.url,
        &[
            "seed",
            "--students",
            "50",
            "--faculty",
            "5",
            "--attendance-days",
            "1",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let one = |sql: &str| psql(&db.url, sql).trim().to_string();
    let admin = one("SELECT id FROM users WHERE username = 'admin'");
    let admin_uuid = one("SELECT sourced_id FROM users WHERE username = 'admin'");
    // More events than the big-table threshold, a seventh of them by one actor.
    psql(
        &db.url,
        &format!(
            "SELECT count(audit_append(CASE WHEN g % 7 = 0 THEN {admin} END, \
             CASE WHEN g % 3 = 0 THEN 'auth.login' ELSE 'test.bulk' END, 'user', (g % 50)::text, \
             '10.0.0.1', '{{}}')) FROM generate_series(1, 8000) g; ANALYZE audit_events"
        ),
    );

    let stmt = &campushub_db::statements::AUDIT_PAGE;
    let types: Vec<&str> = stmt.params.iter().map(|t| t.name()).collect();
    let cases = [
        (
            "first page",
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, 51".to_string(),
        ),
        (
            "after a cursor",
            "NULL, NULL, NULL, NULL, NULL, NULL, 4000, 51".to_string(),
        ),
        (
            "by action",
            "'auth.login', NULL, NULL, NULL, NULL, NULL, NULL, 51".to_string(),
        ),
        (
            "by actor",
            format!("NULL, '{admin_uuid}', NULL, NULL, NULL, NULL, NULL, 51"),
        ),
        (
            "by target",
            "NULL, NULL, 'user', '7', NULL, NULL, NULL, 51".to_string(),
        ),
        (
            "by time",
            "NULL, NULL, NULL, NULL, now() - interval '1 day', now() + interval '1 hour', NULL, 51"
                .to_string(),
        ),
    ];
    let mut failures = Vec::new();
    // Unnamed statements are always planned with their values (custom); prepared ones may
    // switch to the generic plan after five executions. Both must read the page in index
    // order and stop at the limit: a Sort means every matching event was read.
    for mode in ["force_custom_plan", "force_generic_plan"] {
        for (name, args) in &cases {
            let out = psql(
                &db.url,
                &format!(
                    "SET plan_cache_mode = {mode}; PREPARE page({}) AS {}; \
                     EXPLAIN (FORMAT JSON) EXECUTE page({args})",
                    types.join(", "),
                    stmt.sql
                ),
            );
            let plan: serde_json::Value =
                serde_json::from_str(&out[out.find('[').expect("a JSON plan")..]).unwrap();
            let nodes = plan_nodes(&plan);
            let walks_pkey = nodes.iter().any(|n| {
                n["Index Name"] == "audit_events_pkey" && n["Scan Direction"] == "Backward"
            });
            let sorts = nodes.iter().any(|n| n["Node Type"] == "Sort");
            if !walks_pkey || sorts {
                failures.push(format!("{mode}, {name}: {plan}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "audit pages off the primary key:\n{}",
        failures.join("\n")
    );
}
