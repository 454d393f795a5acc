//! Object-level access to student records: a student sees only their own, a guardian only the
//! linked students, faculty their department, the registrar and admin everyone; callers are
//! always taken from the token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{access_token as token, parse_responses, psql, stack_env, Resp, TestServer};

fn get(server: &TestServer, path: &str, token: Option<&str>) -> Resp {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n");
    parse_responses(&server.raw(req.as_bytes()), &[]).remove(0)
}

fn one(sql: &str) -> String {
    psql(&stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"), sql)
        .trim()
        .to_string()
}

fn student_id(username: &str) -> String {
    one(&format!(
        "SELECT sourced_id FROM users WHERE username = '{username}'"
    ))
}

#[test]
fn each_role_sees_exactly_the_students_it_should() {
    let server = TestServer::spawn(&[]);
    let s1 = student_id("student1");
    let s2 = student_id("student2");
    let s3 = student_id("student3");
    // faculty1 is bound to the first department (ACC); find one student inside it and one outside.
    let inside = one(
        "SELECT u.sourced_id FROM users u JOIN student_profiles sp ON sp.user_id = u.id \
         JOIN orgs d ON d.id = sp.department_id WHERE d.identifier = 'ACC' ORDER BY u.id LIMIT 1",
    );
    let outside = one(
        "SELECT u.sourced_id FROM users u JOIN student_profiles sp ON sp.user_id = u.id \
         JOIN orgs d ON d.id = sp.department_id WHERE d.identifier <> 'ACC' ORDER BY u.id LIMIT 1",
    );

    assert_eq!(
        get(&server, &format!("/api/v1/students/{s1}"), None).status,
        401
    );

    let student1 = token(&server, "student1");
    let own = get(&server, &format!("/api/v1/students/{s1}"), Some(&student1));
    assert_eq!(own.status, 200, "{}", String::from_utf8_lossy(&own.body));
    assert_eq!(own.json()["username"], "student1");
    assert!(own.json()["roll_number"].is_string());
    assert!(
        own.json().get("id").is_none(),
        "row ids never leave the server"
    );
    assert_eq!(
        get(&server, &format!("/api/v1/students/{s2}"), Some(&student1)).status,
        403
    );

    let guardian1 = token(&server, "guardian1");
    assert_eq!(
        get(&server, &format!("/api/v1/students/{s1}"), Some(&guardian1)).status,
        200
    );
    assert_eq!(
        get(&server, &format!("/api/v1/students/{s2}"), Some(&guardian1)).status,
        200
    );
    assert_eq!(
        get(&server, &format!("/api/v1/students/{s3}"), Some(&guardian1)).status,
        403
    );

    let faculty1 = token(&server, "faculty1");
    assert_eq!(
        get(
            &server,
            &format!("/api/v1/students/{inside}"),
            Some(&faculty1)
        )
        .status,
        200
    );
    assert_eq!(
        get(
            &server,
            &format!("/api/v1/students/{outside}"),
            Some(&faculty1)
        )
        .status,
        403
    );

    for staff in ["registrar", "admin"] {
        let t = token(&server, staff);
        assert_eq!(
            get(&server, &format!("/api/v1/students/{s3}"), Some(&t)).status,
            200,
            "{staff}"
        );
        assert_eq!(
            get(
                &server,
                "/api/v1/students/00000000-0000-4000-8000-000000000000",
                Some(&t)
            )
            .status,
            404
        );
        assert_eq!(
            get(&server, "/api/v1/students/not-a-uuid", Some(&t)).status,
            400
        );
    }

    // A second read is served from the shard's cache and says the same.
    let again = get(&server, &format!("/api/v1/students/{s1}"), Some(&student1));
    assert_eq!(again.body, own.body);
}

#[test]
fn attendance_reports_marks_and_presence_per_class() {
    let server = TestServer::spawn(&[]);
    let s1 = student_id("student1");
    let s2 = student_id("student2");
    let student1 = token(&server, "student1");
    let (from, to) = (
        one("SELECT to_char(min(session_date), 'YYYY-MM-DD') FROM attendance_sessions"),
        one("SELECT to_char(max(session_date), 'YYYY-MM-DD') FROM attendance_sessions"),
    );
    let r = get(
        &server,
        &format!("/api/v1/students/{s1}/attendance?from={from}&to={to}"),
        Some(&student1),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    // One mark per session: where the office marked the student too, its mark counts instead
    // of the teacher's (school_year.rs puts a student in both registers).
    let expected: usize = one(&format!(
        "SELECT count(DISTINCT r.session_id) FROM attendance_registers r, users u \
         WHERE u.username = 'student1' AND u.id = ANY (r.students) \
         AND r.session_date BETWEEN '{from}' AND '{to}'"
    ))
    .parse()
    .unwrap();
    assert!(expected > 0);
    assert_eq!(v["records"].as_array().unwrap().len(), expected);
    let classes = v["classes"].as_array().unwrap();
    assert!(!classes.is_empty());
    let total: u64 = classes.iter().map(|c| c["marks"].as_u64().unwrap()).sum();
    assert_eq!(total as usize, expected);
    for c in classes {
        let rate = c["presence_rate"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&rate), "{c}");
    }

    assert_eq!(
        get(
            &server,
            &format!("/api/v1/students/{s2}/attendance"),
            Some(&student1)
        )
        .status,
        403
    );
    for bad in [
        "from=2026-02-30",
        "from=yesterday",
        "from=2026-01-01&to=2025-01-01",
        "from=2020-01-01&to=2026-01-01",
        "color=red",
    ] {
        let r = get(
            &server,
            &format!("/api/v1/students/{s1}/attendance?{bad}"),
            Some(&student1),
        );
        assert_eq!(r.status, 400, "{bad}");
    }
}

#[test]
fn my_permissions_lists_grants_with_their_scopes() {
    let server = TestServer::spawn(&[]);
    let faculty1 = token(&server, "faculty1");
    let r = get(&server, "/api/v1/me/permissions", Some(&faculty1));
    assert_eq!(r.status, 200);
    let perms = r.json()["permissions"].as_array().unwrap().clone();
    assert!(perms.iter().any(|p| p["permission"] == "attendance.mark"
        && p["role"] == "faculty"
        && p["scope"]["type"] == "department"
        && p["scope"]["sourced_id"].is_string()));
    assert!(!perms.iter().any(|p| p["permission"] == "roles.manage"));
}
