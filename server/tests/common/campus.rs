//! The campus a test builds for itself through the API (a department, term, course, class,
//! teacher and students, names unique per run: the suite runs twice over one database) and
//! the small request helpers the campus tests share.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};

use super::{call, first_response, sql_one, Resp, TestServer};

pub fn tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}{}", std::process::id() % 100_000, nanos % 1_000_000)
}

/// One request with extra headers (`If-Match`, `If-None-Match`).
pub fn call_with(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Resp {
    let body = body.map(Value::to_string);
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = &body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.as_deref().unwrap_or(""));
    first_response(&server.raw(req.as_bytes()), method)
}

pub fn send(server: &TestServer, method: &str, path: &str, token: &str, body: Value) -> Resp {
    call(server, method, path, Some(token), Some(&body.to_string()))
}

/// A `method` request to `path` as `token` with the JSON text `body`.
pub fn send_text(server: &TestServer, method: &str, path: &str, token: &str, body: &str) -> Resp {
    call(server, method, path, Some(token), Some(body))
}

pub fn get(server: &TestServer, path: &str, token: &str) -> Resp {
    call(server, "GET", path, Some(token), None)
}

/// The status of a `method` request without a body to `path` as `token`.
pub fn status_as(server: &TestServer, method: &str, path: &str, token: &str) -> u16 {
    call(server, method, path, Some(token), None).status
}

pub fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

pub fn id_of(v: &Value) -> String {
    v["sourced_id"].as_str().unwrap().to_string()
}

/// POSTs `body` to `path` as `token` and expects 201: the new record's public id.
pub fn create(server: &TestServer, token: &str, path: &str, body: Value) -> String {
    id_of(&ok(&send(server, "POST", path, token, body), 201))
}

/// The fields a 422 names.
pub fn bad_fields(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["type"], "/problems/invalid-fields", "{v}");
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

/// Gives a person made through the API the demo password, so the test can log in as them.
pub fn give_password(username: &str) {
    sql_one(&format!(
        "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'admin') \
         WHERE username = '{username}' RETURNING 1"
    ));
}

/// The timetable of the class `build_campus` makes: periods 1 to 3 of every weekday the
/// institution teaches, so a register can be opened on any teaching day of its term.
pub const PERIODS: [&str; 15] = [
    "MON-1", "MON-2", "MON-3", "TUE-1", "TUE-2", "TUE-3", "WED-1", "WED-2", "WED-3", "THU-1",
    "THU-2", "THU-3", "FRI-1", "FRI-2", "FRI-3",
];

/// A department, term, course and class (timetable [`PERIODS`]), a teacher and `n` students
/// enrolled in it, all new: their public ids, then the run's tag and the log-in names.
pub struct Campus {
    pub dept: String,
    pub class: String,
    pub teacher: String,
    pub students: Vec<String>,
    pub t: String,
    pub teacher_name: String,
    pub student_names: Vec<String>,
}

pub fn build_campus(server: &TestServer, admin: &str, registrar: &str, n: usize) -> Campus {
    let t = tag();
    let dept = json!({"name": format!("Dept {t}"), "identifier": format!("D{t}")});
    let dept = create(server, admin, "/api/v1/departments", dept);
    let term = json!({"title": format!("Term {t}"), "type": "term", "start_date": "2026-09-01", "end_date": "2027-01-31", "school_year": 2027});
    let term = create(server, registrar, "/api/v1/terms", term);
    let course = json!({"title": "Astronomy", "course_code": format!("AST{t}"), "credits": 3.5, "department": dept});
    let course = create(server, registrar, "/api/v1/courses", course);
    let class = json!({"title": "Astronomy A", "class_code": format!("AST{t}-A"), "periods": PERIODS, "capacity": 40, "course": course, "term": term, "location": "Dome"});
    let class = create(server, registrar, "/api/v1/classes", class);
    let teacher_name = format!("teach{t}");
    let teacher = json!({"username": teacher_name, "given_name": "Tess", "family_name": "Teacher", "role": "teacher", "employee_number": format!("E{t}"), "designation": "Lecturer", "department": dept});
    let teacher = create(server, admin, "/api/v1/staff", teacher);
    give_password(&teacher_name);
    let mut students = Vec::new();
    let mut student_names = Vec::new();
    for i in 0..n {
        let name = format!("s{t}x{i}");
        let student = json!({"username": name, "email": format!("{name}@example.edu"), "given_name": format!("Given{i}"), "family_name": format!("Family{t}"), "roll_number": format!("R{t}-{i}"), "program": "BSc Astronomy", "year_of_study": 1, "department": dept});
        students.push(create(server, registrar, "/api/v1/students", student));
        student_names.push(name);
    }
    let enrollments = format!("/api/v1/classes/{class}/enrollments");
    let teaches = json!({"user": teacher, "role": "teacher", "is_primary": true});
    ok(&send(server, "POST", &enrollments, registrar, teaches), 201);
    if n > 0 {
        let enrolled = json!({"users": students});
        ok(
            &send(server, "POST", &enrollments, registrar, enrolled),
            201,
        );
    }
    Campus {
        dept,
        class,
        teacher,
        students,
        t,
        teacher_name,
        student_names,
    }
}

/// A server of its own and a campus of `n` students built on it: the server, the
/// administrator's and the registrar's tokens, and the campus.
pub fn spawn_campus(n: usize) -> (TestServer, String, String, Campus) {
    let server = TestServer::spawn(&[]);
    let admin = super::access_token(&server, "admin");
    let registrar = super::access_token(&server, "registrar");
    let c = build_campus(&server, &admin, &registrar, n);
    (server, admin, registrar, c)
}

/// Opens the register of class `class` for `date` and `period` as `teacher`; its public id.
pub fn open_session(
    server: &TestServer,
    teacher: &str,
    class: &str,
    date: &str,
    period: u8,
) -> String {
    let path = format!("/api/v1/classes/{class}/attendance-sessions");
    create(
        server,
        teacher,
        &path,
        json!({"date": date, "period": period}),
    )
}

/// A draft quiz (max score 10) titled `title` in class `class`, made by `teacher`; its id.
pub fn new_quiz(server: &TestServer, teacher: &str, class: &str, title: &str) -> String {
    let path = format!("/api/v1/classes/{class}/line-items");
    create(
        server,
        teacher,
        &path,
        json!({"title": title, "category": "quiz", "max_score": 10}),
    )
}

/// Opens the register of `c`'s class for `date` and `period` as `teacher`, marks student i
/// with `codes[i]` and submits it: the session's public id.
pub fn take_register(
    server: &TestServer,
    teacher: &str,
    c: &Campus,
    date: &str,
    period: u8,
    codes: &[&str],
) -> String {
    let sid = open_session(server, teacher, &c.class, date, period);
    let records: Vec<Value> = c
        .students
        .iter()
        .zip(codes)
        .map(|(st, code)| json!({"student": st, "code": code}))
        .collect();
    let path = format!("/api/v1/attendance-sessions/{sid}/records");
    ok(
        &send(server, "PUT", &path, teacher, json!({"records": records})),
        200,
    );
    let submit = format!("/api/v1/attendance-sessions/{sid}/submit");
    ok(&call(server, "POST", &submit, Some(teacher), None), 200);
    sid
}
