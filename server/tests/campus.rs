//! The campus API end to end, on the real stack: a registrar's and a teacher's day, every
//! refusal (401, 403, 404, 409, 412, 422) and the object-level rules, keyset pages under
//! concurrent inserts, concurrent duplicates, and caches that stay true across instances.
//!
//! Each test builds its own department, term, course, class, teacher and students through
//! the API (names unique per run: the suite runs twice over one database), so it depends on
//! nothing but the demo log-ins `admin` and `registrar`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::campus::{
    bad_fields, build_campus, call_with, get, give_password, id_of, ok, open_session, send,
    send_text, spawn_campus, status_as,
};
use common::{access_token, call, eventually, sql_one, TestServer};
use serde_json::{json, Value};

#[test]
fn a_registrars_and_a_teachers_day() {
    let (server, _, registrar, c) = spawn_campus(5);
    let class = &c.class;
    let roster_path = format!("/api/v1/classes/{class}/students");
    let sessions = format!("/api/v1/classes/{class}/attendance-sessions");
    let own_results = format!("/api/v1/students/{}/results", c.students[0]);

    // The registrar finds the new students by name prefix, and pages through them.
    let students = |query: String| {
        let path = format!("/api/v1/students?{query}");
        ok(&get(&server, &path, &registrar), 200)
    };
    let found = students(format!("q=family{}&limit=3", c.t));
    assert_eq!(found["students"].as_array().unwrap().len(), 3);
    let next = found["next_cursor"].as_str().unwrap();
    let rest = students(format!("q=family{}&limit=3&cursor={next}", c.t));
    assert_eq!(rest["students"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_null());
    let dept_list = students(format!("department={}&fields=username,roll_number", c.dept));
    let first = &dept_list["students"][0];
    assert_eq!(first.as_object().unwrap().len(), 2, "{first}");
    assert!(first["roll_number"].as_str().unwrap().starts_with('R'));

    // The teacher logs in, finds the class, its timetable and roster.
    let teacher = access_token(&server, &c.teacher_name);
    let mine = ok(&get(&server, "/api/v1/classes?mine=true", &teacher), 200);
    let classes = mine["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 1);
    assert_eq!(classes[0]["periods"], json!(common::campus::PERIODS));
    assert_eq!(classes[0]["teachers"][0]["sourced_id"], c.teacher);
    assert_eq!(classes[0]["enrolled"], 5);
    let roster = ok(&get(&server, &roster_path, &teacher), 200);
    assert_eq!(roster["students"].as_array().unwrap().len(), 5);

    // Monday, period 1: open the register, mark the whole class in one request.
    let sid = open_session(&server, &teacher, class, "2026-11-30", 1);
    let dup = send(
        &server,
        "POST",
        &sessions,
        &teacher,
        json!({"date": "2026-11-30", "period": 1}),
    );
    assert_eq!(dup.status, 409);
    assert!(dup.json()["detail"].as_str().unwrap().contains(&sid));
    let marks: Vec<Value> = c
        .students
        .iter()
        .enumerate()
        .map(|(i, s)| match i {
            0 => json!({"student": s, "code": "A"}),
            1 => json!({"student": s, "code": "L", "minutes_present": 40}),
            _ => json!({"student": s, "code": "P"}),
        })
        .collect();
    let body = json!({"records": marks});
    let path = format!("/api/v1/attendance-sessions/{sid}/records");
    let register = format!("/api/v1/attendance-sessions/{sid}");
    let r = send(&server, "PUT", &path, &teacher, body.clone());
    let answer = ok(&r, 200);
    assert_eq!(r.header("X-Records-Changed"), Some("5"));
    assert_eq!(
        (
            answer["records"].as_i64(),
            answer["changed"].as_i64(),
            answer["source"].as_str()
        ),
        (Some(5), Some(5), Some("teacher"))
    );
    let first_state = ok(&get(&server, &register, &teacher), 200);
    // Idempotent: the same PUT again changes nothing and leaves the same register.
    let r = send(&server, "PUT", &path, &teacher, body.clone());
    assert_eq!(ok(&r, 200)["changed"], 0);
    assert_eq!(r.header("X-Records-Changed"), Some("0"));
    // An empty register marks nothing and changes nothing.
    let r = send(&server, "PUT", &path, &teacher, json!({"records": []}));
    assert_eq!(ok(&r, 200)["changed"], 0);
    let second_state = ok(&get(&server, &register, &teacher), 200);
    assert_eq!(first_state["records"].as_array().unwrap().len(), 5);
    assert_eq!(first_state["records"], second_state["records"]);
    assert_eq!(
        sql_one(&format!("SELECT sum(cardinality(r.students)) FROM attendance_registers r JOIN attendance_sessions s ON s.id = r.session_id WHERE s.sourced_id = '{sid}'")),
        "5"
    );
    // Office-only codes are refused in a teacher's register, by position.
    let medical = json!({"records": [{"student": c.students[0], "code": "M"}]});
    let r = send(&server, "PUT", &path, &teacher, medical.clone());
    assert_eq!(bad_fields(&r), ["records[0].code"]);

    // Submitted: the teacher can no longer change it; the office overrides beside it.
    let submit = format!("{register}/submit");
    ok(&call(&server, "POST", &submit, Some(&teacher), None), 200);
    let r = send(&server, "PUT", &path, &teacher, body.clone());
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let r = send(&server, "PUT", &path, &registrar, medical);
    assert_eq!(ok(&r, 200)["source"], "office");
    let state = ok(&get(&server, &register, &registrar), 200);
    let recs: Vec<&Value> = state["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["student"]["sourced_id"] == c.students[0])
        .collect();
    assert_eq!(
        recs.len(),
        2,
        "the teacher's mark is kept beside the office's: {recs:?}"
    );
    let office = recs.iter().find(|r| r["source"] == "office").unwrap();
    assert_eq!(office["code"], "M");
    assert_eq!(office["overrides_teacher"], true);
    assert!(recs
        .iter()
        .any(|r| r["source"] == "teacher" && r["code"] == "A"));

    // The report counts the override instead of the teacher's mark.
    let report = ok(
        &get(
            &server,
            &format!("/api/v1/classes/{class}/attendance/report?from=2026-11-01&to=2026-11-30"),
            &teacher,
        ),
        200,
    );
    let rows = report["students"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let row0 = rows
        .iter()
        .find(|r| r["student"]["sourced_id"] == c.students[0])
        .unwrap();
    assert_eq!(
        (row0["excused"].as_i64(), row0["absent"].as_i64()),
        (Some(1), Some(0)),
        "{row0}"
    );
    let row1 = rows
        .iter()
        .find(|r| r["student"]["sourced_id"] == c.students[1])
        .unwrap();
    assert_eq!(row1["late"], 1);
    assert_eq!(row1["presence_rate"], 0.75);

    // Periods 2 and 3 of that Monday were never taken.
    let nt = ok(
        &get(
            &server,
            "/api/v1/attendance/not-taken?date=2026-11-30",
            &teacher,
        ),
        200,
    );
    let ours: Vec<&Value> = nt["classes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["class"]["sourced_id"] == *class)
        .collect();
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert_eq!(
        (ours[0]["period"].as_i64(), ours[0]["state"].as_str()),
        (Some(2), Some("not_opened"))
    );

    // The codes a register takes: the institution's and the department's, with who may enter
    // each (cached per shard: the second read is the cache's).
    let codes_path = format!("/api/v1/classes/{class}/attendance-codes");
    for _ in 0..2 {
        let codes = ok(&get(&server, &codes_path, &teacher), 200);
        let list = codes["codes"].as_array().unwrap();
        assert!(list.iter().any(|c| c["code"] == "P"), "{codes}");
        assert!(list.iter().any(|c| c["entered_by"] == "office"), "{codes}");
    }
    assert_eq!(call(&server, "GET", &codes_path, None, None).status, 401);
    // Exams: the teacher creates a midterm and enters results; students see them only once
    // the registrar publishes.
    let item = ok(
        &send(
            &server,
            "POST",
            &format!("/api/v1/classes/{class}/line-items"),
            &teacher,
            json!({"title": "Midterm", "category": "midterm", "max_score": 50, "due_date": "2026-12-10"}),
        ),
        201,
    );
    let li = id_of(&item);
    let item_path = format!("/api/v1/line-items/{li}");
    let results = format!("{item_path}/results");
    let sheet = json!({"results": [
        {"student": c.students[0], "score": 41.5, "comment": "Good"},
        {"student": c.students[1], "score_status": "exempt"}
    ]});
    let r = send(&server, "PUT", &results, &teacher, sheet.clone());
    assert_eq!(ok(&r, 200)["results"].as_array().unwrap().len(), 2);
    let r = send(&server, "PUT", &results, &teacher, sheet.clone());
    assert_eq!(r.header("X-Results-Changed"), Some("0"));
    give_password(&c.student_names[0]);
    let student = access_token(&server, &c.student_names[0]);
    let mine = ok(&get(&server, &own_results, &student), 200);
    assert_eq!(
        mine["results"].as_array().unwrap().len(),
        0,
        "a draft is not shown: {mine}"
    );
    let staff_view = ok(&get(&server, &own_results, &teacher), 200);
    assert_eq!(staff_view["results"].as_array().unwrap().len(), 1);
    // Teachers grade; they do not publish.
    let set_status =
        |token: &str, to: &str| send(&server, "PATCH", &item_path, token, json!({"status": to}));
    assert_eq!(set_status(&teacher, "published").status, 403);
    ok(&set_status(&registrar, "published"), 200);
    let mine = ok(&get(&server, &own_results, &student), 200);
    assert_eq!(mine["results"][0]["score"], 41.5);
    assert_eq!(mine["results"][0]["line_item"]["status"], "published");
    // The student's published results are cached per shard; a new score drops them.
    ok(
        &send(
            &server,
            "PUT",
            &results,
            &teacher,
            json!({"results": [{"student": c.students[0], "score": 45}]}),
        ),
        200,
    );
    let mine = ok(&get(&server, &own_results, &student), 200);
    assert_eq!(mine["results"][0]["score"], 45.0, "{mine}");
    // Another student's results are not theirs to read.
    let r = get(
        &server,
        &format!("/api/v1/students/{}/results", c.students[1]),
        &student,
    );
    assert_eq!(r.status, 403);
    // Locked: final; backwards: refused.
    assert_eq!(bad_fields(&set_status(&registrar, "draft")), ["status"]);
    ok(&set_status(&registrar, "locked"), 200);
    let r = send(&server, "PUT", &results, &teacher, sheet);
    assert_eq!(r.status, 409);

    // Every write left its audit event.
    for action in [
        "students.created",
        "classes.created",
        "enrollments.created",
        "attendance.marked",
        "attendance.submitted",
        "exams.graded",
        "exams.published",
        "exams.locked",
    ] {
        let n: i64 = sql_one(&format!("SELECT count(*) FROM audit_events WHERE action = '{action}' AND occurred_at > now() - interval '10 minutes'")).parse().unwrap();
        assert!(n >= 1, "{action}");
    }

    // A student dropped from the class is no longer on its roster or its registers.
    let enrollments = ok(
        &get(
            &server,
            &format!("/api/v1/students/{}/enrollments", c.students[4]),
            &registrar,
        ),
        200,
    );
    let eid = id_of(&enrollments["enrollments"][0]);
    let enrollment = format!("/api/v1/enrollments/{eid}");
    ok(
        &call(&server, "DELETE", &enrollment, Some(&registrar), None),
        204,
    );
    assert_eq!(status_as(&server, "DELETE", &enrollment, &registrar), 404);
    let roster = ok(&get(&server, &roster_path, &teacher), 200);
    assert_eq!(roster["students"].as_array().unwrap().len(), 4);
    let s2 = open_session(&server, &teacher, class, "2026-12-02", 1);
    let s2 = format!("/api/v1/attendance-sessions/{s2}");
    let r = send(
        &server,
        "PUT",
        &format!("{s2}/records"),
        &teacher,
        json!({"records": [{"student": c.students[3], "code": "P"}, {"student": c.students[4], "code": "P"}]}),
    );
    assert_eq!(bad_fields(&r), ["records[1].student"]);
    // Incomplete registers are not submitted: every missing student is named.
    let r = call(
        &server,
        "POST",
        &format!("{s2}/submit"),
        Some(&teacher),
        None,
    );
    assert_eq!(bad_fields(&r).len(), 4);
}

#[test]
fn refusals_and_object_level_rules() {
    let (server, admin, registrar, c) = spawn_campus(2);
    let other = build_campus(&server, &admin, &registrar, 1);
    let teacher = access_token(&server, &c.teacher_name);
    let class = &c.class;

    // 401 without a credential.
    for (m, p) in [
        ("GET", "/api/v1/students".to_string()),
        ("GET", format!("/api/v1/classes/{class}")),
        ("POST", "/api/v1/students".to_string()),
    ] {
        assert_eq!(
            call(&server, m, &p, None, Some("{}")).status,
            401,
            "{m} {p}"
        );
    }
    // 404 for ids that do not exist, 400 for ids that are not ids.
    let nobody = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        get(&server, &format!("/api/v1/classes/{nobody}"), &registrar).status,
        404
    );
    assert_eq!(
        get(
            &server,
            &format!("/api/v1/attendance-sessions/{nobody}"),
            &registrar
        )
        .status,
        404
    );
    assert_eq!(
        get(&server, "/api/v1/classes/not-an-id", &registrar).status,
        400
    );
    assert_eq!(
        get(&server, "/api/v1/students?cursor=forged", &registrar).status,
        400
    );

    // A teacher marks only the classes they teach: not another department's, and not a class
    // of their own department they do not teach.
    let sess = ok(
        &send(
            &server,
            "POST",
            &format!("/api/v1/classes/{}/attendance-sessions", other.class),
            &registrar,
            json!({"date": "2026-11-30", "period": 1}),
        ),
        403,
    );
    assert_eq!(sess["status"], 403);
    let own_dept_class = id_of(&ok(
        &send(
            &server,
            "POST",
            "/api/v1/classes",
            &registrar,
            json!({"title": "Not theirs", "class_code": format!("NT{}", c.t), "course": class_course(&server, &registrar, class), "term": class_term(&server, &registrar, class)}),
        ),
        201,
    ));
    let r = send(
        &server,
        "POST",
        &format!("/api/v1/classes/{own_dept_class}/attendance-sessions"),
        &teacher,
        json!({"date": "2026-11-30", "period": 1}),
    );
    assert_eq!(r.status, 403, "same department, not their class");
    let r = send(
        &server,
        "POST",
        &format!("/api/v1/classes/{}/attendance-sessions", other.class),
        &teacher,
        json!({"date": "2026-11-30", "period": 1}),
    );
    assert_eq!(r.status, 403, "another department");
    // Nor do they read another department's roster, or write students.
    assert_eq!(
        get(
            &server,
            &format!("/api/v1/classes/{}/students", other.class),
            &teacher
        )
        .status,
        403
    );
    let r = send(
        &server,
        "PATCH",
        &format!("/api/v1/students/{}", c.students[0]),
        &teacher,
        json!({"program": "X"}),
    );
    assert_eq!(r.status, 403);
    // A student may read their own profile but not list students.
    give_password(&c.student_names[0]);
    let student = access_token(&server, &c.student_names[0]);
    assert_eq!(
        get(
            &server,
            &format!("/api/v1/students/{}", c.students[0]),
            &student
        )
        .status,
        200
    );
    assert_eq!(
        get(
            &server,
            &format!("/api/v1/students/{}", c.students[1]),
            &student
        )
        .status,
        403
    );
    assert_eq!(get(&server, "/api/v1/students", &student).status, 403);

    // 422 names every bad field at once, unknown members and impossible dates included.
    let r = send(
        &server,
        "POST",
        "/api/v1/students",
        &registrar,
        json!({"username": "has space", "email": "nope", "given_name": 7, "family_name": "", "roll_number": "x", "program": "p", "year_of_study": 0, "department": c.dept, "admitted_on": "2026-02-30", "role": "admin"}),
    );
    let mut fields = bad_fields(&r);
    fields.sort();
    assert_eq!(
        fields,
        [
            "admitted_on",
            "email",
            "family_name",
            "given_name",
            "role",
            "username",
            "year_of_study"
        ]
    );
    let r = send(&server, "POST", "/api/v1/students", &registrar, json!({}));
    assert_eq!(bad_fields(&r).len(), 7, "every required field");
    let r = send_text(
        &server,
        "POST",
        "/api/v1/students",
        &registrar,
        r#"{"username":"a\u0000b"}"#,
    );
    assert_eq!(r.status, 422);
    let r = send(
        &server,
        "POST",
        "/api/v1/classes",
        &registrar,
        json!({"title": "T", "class_code": "C", "course": nobody, "term": nobody, "periods": ["MON-1", "FUNDAY-3", "TUE-99"], "capacity": 0}),
    );
    let mut fields = bad_fields(&r);
    fields.sort();
    assert_eq!(fields, ["capacity", "periods[1]", "periods[2]"]);
    let r = send(
        &server,
        "POST",
        "/api/v1/terms",
        &registrar,
        json!({"title": "T", "type": "term", "start_date": "2027-01-10", "end_date": "2027-01-01", "school_year": 2027}),
    );
    assert_eq!(bad_fields(&r), ["end_date"]);

    // 409 naming the field: the username is taken (case aside).
    let dup = send(
        &server,
        "POST",
        "/api/v1/students",
        &registrar,
        json!({"username": c.student_names[0].to_uppercase(), "given_name": "G", "family_name": "F", "roll_number": format!("R{}-new", c.t), "program": "P", "year_of_study": 1, "department": c.dept}),
    );
    assert_eq!(dup.status, 409, "{}", String::from_utf8_lossy(&dup.body));
    assert_eq!(dup.json()["errors"][0]["field"], "username");

    // ETags: 304 for a current copy, 412 for a stale one; the change drops the cache.
    let path = format!("/api/v1/students/{}", c.students[0]);
    let r = get(&server, &path, &registrar);
    let etag = r.header("ETag").unwrap().to_string();
    // `method` on the student with one precondition header.
    let on_condition = |method: &str, header: (&str, &str), body: Option<Value>| {
        call_with(&server, method, &path, &registrar, &[header], body.as_ref())
    };
    let r = on_condition("GET", ("If-None-Match", &etag), None);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = on_condition(
        "PATCH",
        ("If-Match", &etag),
        Some(json!({"program": "BSc Physics", "email": null})),
    );
    let changed = ok(&r, 200);
    assert_eq!(changed["program"], "BSc Physics");
    assert!(changed["email"].is_null());
    let new_tag = r.header("ETag").unwrap().to_string();
    assert_ne!(new_tag, etag);
    let r = on_condition(
        "PATCH",
        ("If-Match", &etag),
        Some(json!({"program": "Lost update"})),
    );
    assert_eq!(r.status, 412);
    assert_eq!(
        get(&server, &path, &registrar).json()["program"],
        "BSc Physics"
    );
    let r = on_condition(
        "PATCH",
        ("If-Match", "\"garbage\""),
        Some(json!({"program": "X"})),
    );
    assert_eq!(r.status, 412);
    let r = send(&server, "PATCH", &path, &registrar, json!({}));
    assert_eq!(bad_fields(&r), ["body"]);

    // Bulk enrollment is all or nothing, and names the bad entries.
    let fresh = ok(
        &send(
            &server,
            "POST",
            "/api/v1/students",
            &registrar,
            json!({"username": format!("late{}", c.t), "given_name": "Late", "family_name": "Comer", "roll_number": format!("L{}", c.t), "program": "P", "year_of_study": 1, "department": c.dept}),
        ),
        201,
    );
    let r = send(
        &server,
        "POST",
        &format!("/api/v1/classes/{class}/enrollments"),
        &registrar,
        json!({"users": [id_of(&fresh), nobody, c.teacher]}),
    );
    assert_eq!(bad_fields(&r), ["users[1]", "users[2]"]);
    let roster = ok(
        &get(
            &server,
            &format!("/api/v1/classes/{class}/students"),
            &registrar,
        ),
        200,
    );
    assert_eq!(
        roster["students"].as_array().unwrap().len(),
        2,
        "nothing was enrolled"
    );

    // Deactivation: the account stops working at once; the record stays.
    let token = access_token(&server, &c.student_names[0]);
    ok(&call(&server, "DELETE", &path, Some(&registrar), None), 204);
    assert_eq!(get(&server, &path, &token).status, 401);
    assert_eq!(
        get(&server, &path, &registrar).json()["status"],
        "tobedeleted"
    );
    let body = json!({"username": c.student_names[0], "password": "campushub-demo"}).to_string();
    assert_eq!(
        call(&server, "POST", "/api/v1/auth/login", None, Some(&body)).status,
        401
    );
}

fn class_course(server: &TestServer, token: &str, class: &str) -> String {
    get(server, &format!("/api/v1/classes/{class}"), token).json()["course"]["sourced_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn class_term(server: &TestServer, token: &str, class: &str) -> String {
    get(server, &format!("/api/v1/classes/{class}"), token).json()["term"]["sourced_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn keyset_pages_neither_skip_nor_repeat_while_others_insert() {
    let (server, _, registrar, c) = spawn_campus(0);
    let new_student = |i: usize, tag: &str| json!({"username": format!("k{tag}n{i}"), "given_name": "K", "family_name": "Page", "roll_number": format!("K{tag}-{i}"), "program": "P", "year_of_study": 2, "department": c.dept});
    let mut before = Vec::new();
    for i in 0..30 {
        before.push(id_of(&ok(
            &send(
                &server,
                "POST",
                "/api/v1/students",
                &registrar,
                new_student(i, &c.t),
            ),
            201,
        )));
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (seen, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 60 {
                let body = json!({"username": format!("k{}w{n}", c.t), "given_name": "W", "family_name": "Page", "roll_number": format!("K{}-w{n}", c.t), "program": "P", "year_of_study": 2, "department": c.dept});
                ok(&send(&server, "POST", "/api/v1/students", &registrar, body), 201);
                n += 1;
            }
            n
        });
        let mut seen: Vec<String> = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut path = format!(
                "/api/v1/students?department={}&limit=4&fields=sourced_id",
                c.dept
            );
            if !cursor.is_empty() {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = ok(&get(&server, &path, &registrar), 200);
            for s in page["students"].as_array().unwrap() {
                seen.push(s["sourced_id"].as_str().unwrap().to_string());
            }
            std::thread::sleep(Duration::from_millis(5));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => break,
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (seen, writer.join().unwrap())
    });
    assert!(written > 0);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a row was repeated");
    for id in &before {
        assert!(seen.contains(id), "{id} was skipped");
    }
}

#[test]
fn concurrent_duplicates_give_one_student_and_clear_refusals() {
    let (server, _, registrar, c) = spawn_campus(0);
    let mut statuses: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (server, registrar, c) = (&server, &registrar, &c);
                scope.spawn(move || {
                    let body = json!({"username": format!("twin{}", c.t), "given_name": "T", "family_name": "Win", "roll_number": format!("TW{}-{i}", c.t), "program": "P", "year_of_study": 1, "department": c.dept});
                    send(server, "POST", "/api/v1/students", registrar, body).status
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(
        sql_one(&format!(
            "SELECT count(*) FROM users WHERE username = 'twin{}'",
            c.t
        )),
        "1"
    );
}

#[test]
fn a_change_through_one_instance_is_read_through_another() {
    let (a, _, registrar, c) = spawn_campus(1);
    let b = TestServer::spawn(&[]);
    let path = format!("/api/v1/students/{}", c.students[0]);
    // B caches the profile (and the registrar's principal).
    assert_eq!(get(&b, &path, &registrar).json()["year_of_study"], 1);
    assert_eq!(get(&b, &path, &registrar).json()["year_of_study"], 1);
    ok(
        &send(&a, "PATCH", &path, &registrar, json!({"year_of_study": 2})),
        200,
    );
    // The invalidation travels through Redis: well under the 60 s a cached profile lives.
    assert!(
        eventually(Duration::from_secs(3), || get(&b, &path, &registrar).json()
            ["year_of_study"]
            == 2),
        "instance B still serves the old profile"
    );
    // Rosters are cached per shard too: an enrollment through A shows on B's roster.
    let roster = format!("/api/v1/classes/{}/students", c.class);
    // How many students `path` lists on instance `s`.
    let students = |s: &TestServer, path: &str| {
        get(s, path, &registrar).json()["students"]
            .as_array()
            .unwrap()
            .len()
    };
    let count = |s: &TestServer| students(s, &roster);
    assert_eq!(count(&b), 1);
    assert_eq!(count(&b), 1);
    // List pages are cached per shard too: B's page of the department gains the student
    // created through A.
    let list = format!("/api/v1/students?department={}&fields=sourced_id", c.dept);
    let listed = |s: &TestServer| students(s, &list);
    assert_eq!(listed(&b), 1);
    assert_eq!(listed(&b), 1);
    let newcomer = ok(
        &send(
            &a,
            "POST",
            "/api/v1/students",
            &registrar,
            json!({"username": format!("new{}", c.t), "given_name": "New", "family_name": "Comer", "roll_number": format!("N{}", c.t), "program": "P", "year_of_study": 1, "department": c.dept}),
        ),
        201,
    );
    ok(
        &send(
            &a,
            "POST",
            &format!("/api/v1/classes/{}/enrollments", c.class),
            &registrar,
            json!({"user": id_of(&newcomer)}),
        ),
        201,
    );
    assert!(
        eventually(Duration::from_secs(3), || count(&b) == 2),
        "instance B still serves the old roster"
    );
    assert!(
        eventually(Duration::from_secs(3), || listed(&b) == 2),
        "instance B still serves the old list page"
    );
    // A rename through A moves the student out of a prefix search B has cached.
    let comers = format!("/api/v1/students?department={}&q=comer", c.dept);
    let found = |s: &TestServer| students(s, &comers);
    assert_eq!(found(&b), 1);
    assert_eq!(found(&b), 1);
    ok(
        &send(
            &a,
            "PATCH",
            &format!("/api/v1/students/{}", id_of(&newcomer)),
            &registrar,
            json!({"family_name": "Renamed"}),
        ),
        200,
    );
    assert!(
        eventually(Duration::from_secs(3), || found(&b) == 0),
        "instance B still finds the old name"
    );
    let enrollments = ok(
        &get(
            &a,
            &format!("/api/v1/students/{}/enrollments", id_of(&newcomer)),
            &registrar,
        ),
        200,
    );
    ok(
        &call(
            &a,
            "DELETE",
            &format!(
                "/api/v1/enrollments/{}",
                id_of(&enrollments["enrollments"][0])
            ),
            Some(&registrar),
            None,
        ),
        204,
    );
    assert!(
        eventually(Duration::from_secs(3), || count(&b) == 1),
        "a dropped student stays on B's roster"
    );
    // Deactivation through A locks the person out on B at once (their principal is dropped).
    give_password(&c.student_names[0]);
    let student = access_token(&b, &c.student_names[0]);
    assert_eq!(get(&b, &path, &student).status, 200);
    ok(&call(&a, "DELETE", &path, Some(&registrar), None), 204);
    assert!(eventually(Duration::from_secs(3), || get(
        &b, &path, &student
    )
    .status
        == 401));
}

#[test]
fn caches_report_their_entries_and_admins_can_clear_them_everywhere() {
    let (a, admin, registrar, c) = spawn_campus(1);
    let b = TestServer::spawn(&[]);
    let path = format!("/api/v1/students/{}", c.students[0]);
    let students_cached = |s: &TestServer| {
        let r = call(s, "GET", "/readyz", None, None);
        r.json()["cache"]["caches"]["students"].as_u64().unwrap()
    };
    // (A read that an invalidation from the writes above crosses is answered but not cached:
    // read until one is.)
    assert!(eventually(Duration::from_secs(3), || {
        ok(&get(&b, &path, &registrar), 200);
        students_cached(&b) >= 1
    }));
    assert!(
        call(&b, "GET", "/readyz", None, None).json()["cache"]["entries"]
            .as_u64()
            .unwrap()
            >= 3
    );
    // Hits and misses per cache on /metrics (shards publish their figures once a second).
    assert!(eventually(Duration::from_secs(3), || {
        ok(&get(&b, &path, &registrar), 200);
        let m = String::from_utf8_lossy(&call(&b, "GET", "/metrics", None, None).body).to_string();
        m.lines().any(|l| {
            l.starts_with("campushub_cache_hits_total{shard=\"0\",cache=\"students\"}")
                && !l.ends_with(" 0")
        }) && m.contains("campushub_cache_misses_total{shard=\"0\",cache=\"principals\"}")
    }));
    // Only those with cache.manage may clear; the clear reaches the other instance.
    let r = call(
        &a,
        "POST",
        "/api/v1/admin/cache/clear",
        Some(&registrar),
        None,
    );
    assert_eq!(r.status, 403);
    let r = call(&a, "POST", "/api/v1/admin/cache/clear", Some(&admin), None);
    assert_eq!(ok(&r, 200)["cleared"], true);
    assert!(eventually(Duration::from_secs(3), || students_cached(&b) == 0));
    assert_eq!(
        sql_one("SELECT count(*) > 0 FROM audit_events WHERE action = 'cache.cleared' AND occurred_at > now() - interval '1 minute'"),
        "t"
    );
}

/// Marks register `sid` with `records` as `teacher`: the answer's status.
fn mark(server: &TestServer, teacher: &str, sid: &str, records: Value) -> u16 {
    let path = format!("/api/v1/attendance-sessions/{sid}/records");
    send(server, "PUT", &path, teacher, json!({ "records": records })).status
}

/// Register `sid`, as `teacher` reads it.
fn read_register(server: &TestServer, teacher: &str, sid: &str) -> Value {
    ok(
        &get(
            server,
            &format!("/api/v1/attendance-sessions/{sid}"),
            teacher,
        ),
        200,
    )
}

#[test]
fn registers_marked_together_are_written_together_and_answered_one_by_one() {
    let (server, admin, registrar, c) = spawn_campus(3);
    let teacher = access_token(&server, &c.teacher_name);
    // Twelve teaching days of October (weekdays: registers open on teaching days only).
    let days = [1, 2, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16];
    let sessions: Vec<String> = days
        .iter()
        .map(|day| {
            id_of(&ok(
                &send(
                    &server,
                    "POST",
                    &format!("/api/v1/classes/{}/attendance-sessions", c.class),
                    &teacher,
                    json!({"date": format!("2026-10-{day:02}"), "period": 1}),
                ),
                201,
            ))
        })
        .collect();
    let outsider = build_campus(&server, &admin, &registrar, 1).students[0].clone();
    // Twelve registers at once, and one that names a student of another class: the shard
    // writes them in as few statements as arrive together; each answer is the register's own.
    let statuses: Vec<(usize, u16)> = std::thread::scope(|scope| {
        let mut threads = Vec::new();
        for (i, sid) in sessions.iter().enumerate() {
            let (server, teacher, c) = (&server, &teacher, &c);
            threads.push(scope.spawn(move || {
                let records: Vec<Value> = c
                    .students
                    .iter()
                    .map(|s| json!({"student": s, "code": if i % 2 == 0 { "P" } else { "A" }}))
                    .collect();
                (i, mark(server, teacher, sid, json!(records)))
            }));
        }
        let (server, teacher, sid, outsider) = (&server, &teacher, &sessions[0], &outsider);
        threads.push(scope.spawn(move || {
            (
                99,
                mark(
                    server,
                    teacher,
                    sid,
                    json!([{"student": outsider, "code": "P"}]),
                ),
            )
        }));
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (i, status) in statuses {
        assert_eq!(status, if i == 99 { 422 } else { 200 }, "register {i}");
    }
    for (i, sid) in sessions.iter().enumerate() {
        let register = read_register(&server, &teacher, sid);
        let records = register["records"].as_array().unwrap();
        assert_eq!(records.len(), 3, "{sid}");
        let want = if i % 2 == 0 { "P" } else { "A" };
        assert!(records.iter().all(|r| r["code"] == want), "{register}");
    }
    let m = String::from_utf8_lossy(&call(&server, "GET", "/metrics", None, None).body).to_string();
    assert!(m.contains("campushub_register_batches_total"), "{m}");

    // The same register marked by eight requests at once: a batch holds it once, the others
    // follow in later batches, so every answer is 200 and the register is one PUT's whole
    // state (all one code), never a mix.
    let sid = &sessions[1];
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (server, teacher, c) = (&server, &teacher, &c);
                scope.spawn(move || {
                    let code = ["P", "A", "L"][i % 3];
                    let records: Vec<Value> = c
                        .students
                        .iter()
                        .map(|s| json!({"student": s, "code": code}))
                        .collect();
                    mark(server, teacher, sid, json!(records))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let register = read_register(&server, &teacher, sid);
    let records = register["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{register}");
    assert!(
        records.iter().all(|r| r["code"] == records[0]["code"]),
        "{register}"
    );

    // A student who left the class behind the shard's back (the roster cache still lists
    // them): PostgreSQL checks the enrollment again and the student is refused by position.
    let gone = &c.students[2];
    assert_eq!(
        sql_one(&format!(
            "WITH x AS (UPDATE enrollments SET status = 'tobedeleted' \
             WHERE user_id = (SELECT id FROM users WHERE sourced_id = '{gone}') \
             AND class_id = (SELECT id FROM classes WHERE sourced_id = '{}') RETURNING 1) \
             SELECT count(*) FROM x",
            c.class
        )),
        "1"
    );
    let records: Vec<Value> = c
        .students
        .iter()
        .map(|s| json!({"student": s, "code": "P"}))
        .collect();
    let r = send(
        &server,
        "PUT",
        &format!("/api/v1/attendance-sessions/{}/records", sessions[2]),
        &teacher,
        json!({"records": records}),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["errors"][0]["field"], "records[2].student", "{v}");
}

/// The value of a `/metrics` counter summed over shards.
fn counter(server: &TestServer, name: &str) -> u64 {
    let body =
        String::from_utf8_lossy(&call(server, "GET", "/metrics", None, None).body).to_string();
    body.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn the_shared_profile_level_serves_other_instances_and_never_an_old_profile() {
    // A fills the shared level; B keeps no profiles of its own, so every read of B consults it.
    let a = TestServer::spawn(&[("CAMPUSHUB_PROFILE_L2", "on")]);
    let b = TestServer::spawn(&[
        ("CAMPUSHUB_PROFILE_L2", "on"),
        ("CAMPUSHUB_PROFILE_CACHE_ENTRIES", "0"),
    ]);
    let admin = access_token(&a, "admin");
    let registrar = access_token(&a, "registrar");
    let c = build_campus(&a, &admin, &registrar, 1);
    let path = format!("/api/v1/students/{}", c.students[0]);
    assert_eq!(ok(&get(&a, &path, &registrar), 200)["year_of_study"], 1);
    // The fill runs in the background: B finds the profile in the shared level soon after.
    assert!(
        eventually(Duration::from_secs(3), || {
            let before = counter(&b, "campushub_profile_shared_hits_total");
            ok(&get(&b, &path, &registrar), 200)["year_of_study"] == 1
                && counter(&b, "campushub_profile_shared_hits_total") > before
        }),
        "B never found the profile in the shared level"
    );
    // A change through A stores the new profile in the shared level once it has committed: B
    // reads it at once, and the old one (an older version) is never stored again.
    ok(
        &send(&a, "PATCH", &path, &registrar, json!({"year_of_study": 2})),
        200,
    );
    for _ in 0..5 {
        assert_eq!(ok(&get(&b, &path, &registrar), 200)["year_of_study"], 2);
    }
    // An unknown id is a 404 through the shared level too.
    let r = get(
        &b,
        "/api/v1/students/00000000-0000-4000-8000-000000000000",
        &registrar,
    );
    assert_eq!(r.status, 404);
    // Clearing the caches clears the shared level as well.
    let cleared = ok(
        &call(&a, "POST", "/api/v1/admin/cache/clear", Some(&admin), None),
        200,
    );
    assert!(cleared["shared_entries_dropped"].is_u64(), "{cleared}");
}

#[test]
fn cold_profile_reads_are_coalesced_and_each_gets_its_own_student() {
    // No shard cache and no shared level: every profile read goes to PostgreSQL, through the
    // shard's coalescer.
    let server = TestServer::spawn(&[
        ("CAMPUSHUB_PROFILE_CACHE_ENTRIES", "0"),
        ("CAMPUSHUB_PROFILE_L2", "off"),
    ]);
    let registrar = access_token(&server, "registrar");
    let ids: Vec<String> = sql_one(
        "SELECT string_agg(sourced_id::text, ',') FROM (SELECT u.sourced_id FROM users u \
         JOIN student_profiles sp ON sp.user_id = u.id ORDER BY u.id LIMIT 24) s",
    )
    .split(',')
    .map(String::from)
    .collect();
    assert_eq!(ids.len(), 24);
    let unknown = "00000000-0000-4000-8000-00000000c01d".to_string();
    let reads_before = counter(&server, "campushub_profile_reads_total");
    let batches_before = counter(&server, "campushub_profile_read_batches_total");
    // 12 threads at once, each asking for every id (so the same id is often asked for twice in
    // one statement) and an unknown one.
    let per_thread = ids.len() + 1;
    std::thread::scope(|scope| {
        for t in 0..12 {
            let (server, registrar, ids, unknown) = (&server, &registrar, &ids, &unknown);
            scope.spawn(move || {
                for i in 0..per_thread {
                    let id = if i == per_thread - 1 {
                        unknown
                    } else {
                        &ids[(i + t * 5) % ids.len()]
                    };
                    let r = get(server, &format!("/api/v1/students/{id}"), registrar);
                    if id == unknown {
                        assert_eq!(r.status, 404);
                    } else {
                        assert_eq!(ok(&r, 200)["sourced_id"], id.as_str());
                    }
                }
            });
        }
    });
    let reads = counter(&server, "campushub_profile_reads_total") - reads_before;
    let batches = counter(&server, "campushub_profile_read_batches_total") - batches_before;
    assert_eq!(
        reads,
        12 * per_thread as u64,
        "every cold read went through the coalescer"
    );
    assert!(
        batches >= 1 && batches <= reads,
        "{batches} statements for {reads} reads"
    );
}
