//! The statements the server really prepares (`campushub_db::statements::ALL`, not copies of
//! them) stay on their indexes: over a seeded campus (thousands of students, weeks of
//! attendance), EXPLAIN of their custom and generic plans must not show a sequential scan of
//! any big table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{psql, ScratchDb};

/// A table counts as big above this many rows (planner statistics).
const BIG: f64 = 5_000.0;

/// Statements allowed to read a big table whole, and why.
const SCANS_ALLOWED: &[(&str, &str)] = &[(
    campushub_db::statements::DEPARTMENT_SUMMARY.sql,
    "analytics over a month of a whole department's sessions: a hash join over the sessions \
     table is the cheaper plan; it runs on the replica when one is fresh, needs \
     attendance.read, and each shard computes it at most once a minute",
)];

/// A literal for a parameter of type `ty` in `EXECUTE`: values of the seeded campus, so that
/// custom plans see realistic selectivity. Statements whose text casts a parameter further
/// (`$n::inet`, `$n::jsonb`) get a value that casts.
fn literal(ty: &str, sql: &str, n: usize, campus: &Campus) -> String {
    let cast_to = |t: &str| sql.contains(&format!("${n}::{t}"));
    match ty {
        "int8" => campus.student.clone(),
        "int4" => "5".into(),
        "int2" => "1".into(),
        "_uuid" => format!("ARRAY['{}']::uuid[]", campus.student_uuid),
        "_int2" => "ARRAY[1]::int2[]".into(),
        "_float8" => "ARRAY[1.5]::float8[]".into(),
        "float8" => "900".into(),
        "bool" => "false".into(),
        "uuid" => format!("'{}'", campus.student_uuid),
        "date" => format!("DATE '{}'", campus.last),
        "timestamptz" => "NULL".into(),
        "bytea" => "'\\x00'".into(),
        "_int8" => format!("ARRAY[{}]::int8[]", campus.class),
        "_text" if cast_to("inet") => "ARRAY['127.0.0.1']".into(),
        "_text" => "ARRAY['students.read']".into(),
        "_int4" => "ARRAY[1]::int4[]".into(),
        "text" if cast_to("inet") => "'127.0.0.1'".into(),
        "text" if cast_to("jsonb") => "'{}'".into(),
        "text" => "'student1'".into(),
        other => panic!("no test literal for parameter type {other}: add one"),
    }
}

struct Campus {
    student: String,
    student_uuid: String,
    class: String,
    last: String,
}

/// Every statement the server prepares, planned the way the server runs it (custom and
/// generic plans of the prepared text, with the seeded campus's values), must stay off
/// sequential scans of big tables. New statements are covered as they are added to the table.
#[test]
fn every_request_path_statement_uses_indexes_on_a_seeded_campus() {
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
    let campus = Campus {
        student_uuid: one("SELECT sourced_id FROM users WHERE username = 'student1'"),
        class: one(&format!(
            "SELECT class_id FROM enrollments WHERE user_id = {student} LIMIT 1"
        )),
        last: one("SELECT max(session_date) FROM attendance_sessions"),
        student,
    };
    psql(&db.url, "ANALYZE");

    let mut failures = Vec::new();
    for stmt in campushub_db::statements::ALL {
        let types: Vec<&str> = stmt.params.iter().map(|t| t.name()).collect();
        let args: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(i, t)| literal(t, stmt.sql, i + 1, &campus))
            .collect();
        let (head, exec) = if types.is_empty() {
            (String::new(), String::new())
        } else {
            (
                format!("({})", types.join(", ")),
                format!("({})", args.join(", ")),
            )
        };
        for mode in ["force_custom_plan", "force_generic_plan"] {
            let out = psql(
                &db.url,
                &format!(
                    "SET plan_cache_mode = {mode}; PREPARE s{head} AS {}; \
                     EXPLAIN (FORMAT JSON) EXECUTE s{exec}",
                    stmt.sql
                ),
            );
            let plan: serde_json::Value =
                serde_json::from_str(&out[out.find('[').expect("a JSON plan")..]).unwrap();
            let scans = big_seq_scans(&db.url, &plan);
            let allowed = SCANS_ALLOWED.iter().any(|(sql, _)| *sql == stmt.sql);
            if !scans.is_empty() && !allowed {
                failures.push(format!(
                    "statement {} ({mode}): sequential scan of {}\n  {}",
                    stmt.id,
                    scans.join(", "),
                    stmt.sql
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "request-path statements off their indexes:\n{}",
        failures.join("\n")
    );
}

/// Big tables a plan reads with a sequential scan.
fn big_seq_scans(url: &str, plan: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    for node in plan_nodes(plan) {
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
    }
    found
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
