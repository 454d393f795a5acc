//! A school year that stays right (issue #22), each test named after what was wrong: an
//! office override counted beside the teacher's mark, withdrawn students left on rosters,
//! staff moves that left rights behind, a teaching assignment that was not enough, a term's
//! last day missing from not-taken, `If-Match` lists always 412, departments without ETags,
//! students and guardians locked out of their own classes, guardian links only in SQL, and
//! "today" in UTC.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::campus::{
    bad_fields, build_campus, call_with, create, get, give_password, ok, open_session, send,
    spawn_campus, status_as, tag, take_register, Campus,
};
use common::{access_token as token, call, sql_one, TestServer};
use serde_json::{json, Value};

/// Held by the tests that read "today" and by the one that moves the institution's time zone:
/// the tests of this binary run in parallel over one database.
static TODAY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Backdates every enrollment of `c`'s class to `day`, as if the class had run since then (the
/// API enrolls from today).
fn enrolled_since(c: &Campus, day: &str) {
    sql_one(&format!(
        "UPDATE enrollments SET begin_date = '{day}' WHERE class_id = (SELECT id FROM classes WHERE sourced_id = '{}') RETURNING 1",
        c.class
    ));
}

/// A staff member of department `dept` made by `admin`, with the demo password: (id, name).
fn new_teacher(server: &TestServer, admin: &str, dept: &str) -> (String, String) {
    let t = tag();
    let name = format!("tt{t}");
    let body = json!({"username": name, "given_name": "Tom", "family_name": "Teacher", "role": "teacher", "employee_number": format!("X{t}"), "designation": "Lecturer", "department": dept});
    let id = create(server, admin, "/api/v1/staff", body);
    give_password(&name);
    (id, name)
}

fn new_department(server: &TestServer, admin: &str) -> String {
    let t = tag();
    let body = json!({"name": format!("Dept B {t}"), "identifier": format!("B{t}")});
    create(server, admin, "/api/v1/departments", body)
}

fn bindings(v: &Value) -> Vec<(String, String)> {
    let mut b: Vec<(String, String)> = v["role_bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["role"].as_str().unwrap().to_string(),
                b["scope"]["sourced_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    b.sort();
    b
}

#[test]
fn an_office_override_counts_once_in_every_report() {
    let (server, _admin, registrar, c) = spawn_campus(2);
    let teacher = token(&server, &c.teacher_name);
    // Monday inside the last 30 days (the department's summary covers them) and the term.
    let sid = take_register(&server, &teacher, &c, "2026-11-30", 1, &["A", "P"]);
    let records = format!("/api/v1/attendance-sessions/{sid}/records");
    let fix = json!({"records": [{"student": c.students[0], "code": "M"}]});
    assert_eq!(
        ok(&send(&server, "PUT", &records, &registrar, fix), 200)["source"],
        "office"
    );
    // Both registers hold student 0.
    assert_eq!(
        sql_one(&format!("SELECT count(*) FROM attendance_registers r JOIN attendance_sessions s ON s.id = r.session_id JOIN users u ON u.id = ANY (r.students) WHERE s.sourced_id = '{sid}' AND u.sourced_id = '{}'", c.students[0])),
        "2"
    );

    let mine = format!(
        "/api/v1/students/{}/attendance?from=2026-11-30&to=2026-11-30",
        c.students[0]
    );
    let v = ok(&get(&server, &mine, &registrar), 200);
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 1, "one mark per session: {v}");
    assert_eq!(
        (recs[0]["code"].as_str(), recs[0]["source"].as_str()),
        (Some("M"), Some("office"))
    );
    let class = &v["classes"][0];
    assert_eq!(class["marks"], 1, "{v}");
    let m_presence: f64 = sql_one(
        "SELECT presence_fraction FROM attendance_codes WHERE code = 'M' ORDER BY id LIMIT 1",
    )
    .parse()
    .unwrap();
    assert_eq!(class["presence_rate"].as_f64().unwrap(), m_presence);

    // The department summary: two students, two marks (not three), the override's presence.
    let summary = format!("/api/v1/departments/{}/summary", c.dept);
    let mut last = Value::Null;
    let settled = common::eventually(std::time::Duration::from_secs(10), || {
        last = ok(&get(&server, &summary, &registrar), 200);
        last["attendance_30d"]["marks"] == 2
    });
    assert!(settled, "{last}");
    let expected = (m_presence + 1.0) / 2.0;
    let rate = last["attendance_30d"]["presence_rate"].as_f64().unwrap();
    assert!((rate - expected).abs() < 1e-9, "{last}");
}

#[test]
fn a_withdrawn_student_leaves_every_roster_and_no_register_waits_for_them() {
    let _today = TODAY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (server, admin, registrar, c) = spawn_campus(3);
    enrolled_since(&c, "2026-09-01");
    let teacher = token(&server, &c.teacher_name);
    let gone = &c.students[2];
    let path = format!("/api/v1/students/{gone}");
    // The date may not lie after today, nor be garbage.
    let r = call(
        &server,
        "DELETE",
        &format!("{path}?on=2099-01-01"),
        Some(&registrar),
        None,
    );
    assert_eq!(bad_fields(&r), ["on"]);
    let r = call(
        &server,
        "DELETE",
        &format!("{path}?on=yesterday"),
        Some(&registrar),
        None,
    );
    assert_eq!(r.status, 400);
    let r = call(
        &server,
        "DELETE",
        &format!("{path}?when=2026-12-01"),
        Some(&registrar),
        None,
    );
    assert_eq!(r.status, 400);
    // A teacher may not withdraw anyone; nothing changed.
    assert_eq!(status_as(&server, "DELETE", &path, &teacher), 403);
    assert_eq!(
        ok(&get(&server, &path, &registrar), 200)["status"],
        "active"
    );

    let r = call(
        &server,
        "DELETE",
        &format!("{path}?on=2026-12-01"),
        Some(&registrar),
        None,
    );
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        ok(&get(&server, &path, &registrar), 200)["status"],
        "tobedeleted"
    );
    // Off the roster at once; the enrollment stays, ended on that date.
    let roster = ok(
        &get(
            &server,
            &format!("/api/v1/classes/{}/students", c.class),
            &teacher,
        ),
        200,
    );
    let on_roster: Vec<&str> = roster["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sourced_id"].as_str().unwrap())
        .collect();
    assert_eq!(on_roster.len(), 2, "{roster}");
    assert!(!on_roster.contains(&gone.as_str()));
    let mine = ok(
        &get(&server, &format!("{path}/enrollments"), &registrar),
        200,
    );
    let e = &mine["enrollments"][0];
    assert_eq!(
        (e["status"].as_str(), e["end_date"].as_str()),
        (Some("tobedeleted"), Some("2026-12-01"))
    );
    // A register marks the two who stay and submits: nobody who left is waited for.
    take_register(&server, &teacher, &c, "2026-12-02", 1, &["P", "P"]);
    // Marking the one who left is refused by name.
    let sid = open_session(&server, &teacher, &c.class, "2026-12-07", 1);
    let late = json!({"records": [{"student": gone, "code": "P"}]});
    let r = send(
        &server,
        "PUT",
        &format!("/api/v1/attendance-sessions/{sid}/records"),
        &teacher,
        late,
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        sql_one(&format!("SELECT details->>'on' FROM audit_events WHERE action = 'students.withdrawn' AND target_id = '{gone}'")),
        "2026-12-01"
    );

    // Re-admission: active again, enrolled again from today, on the roster again.
    let back = json!({"status": "active"});
    assert_eq!(
        ok(&send(&server, "PATCH", &path, &registrar, back), 200)["status"],
        "active"
    );
    let enroll = json!({"users": [gone]});
    ok(
        &send(
            &server,
            "POST",
            &format!("/api/v1/classes/{}/enrollments", c.class),
            &registrar,
            enroll,
        ),
        201,
    );
    let roster = ok(
        &get(
            &server,
            &format!("/api/v1/classes/{}/students", c.class),
            &teacher,
        ),
        200,
    );
    assert_eq!(roster["students"].as_array().unwrap().len(), 3);
    let today = ok(&get(&server, "/api/v1/admin/institution", &admin), 200)["today"].clone();
    let mine = ok(
        &get(&server, &format!("{path}/enrollments"), &registrar),
        200,
    );
    let e = &mine["enrollments"][0];
    assert_eq!(e["status"], "active");
    assert_eq!(e["begin_date"], today);
    assert!(e["end_date"].is_null());
}

#[test]
fn a_staff_move_moves_the_builtin_binding_and_keeps_custom_ones() {
    let server = TestServer::spawn(&[]);
    let admin = token(&server, "admin");
    let registrar = token(&server, "registrar");
    let c = build_campus(&server, &admin, &registrar, 1);
    let other = new_department(&server, &admin);
    let (staff, name) = new_teacher(&server, &admin, &c.dept);
    // A custom binding beside the built-in one: head of department A.
    let hod = json!({"user": staff, "role": "head_of_department", "scope": {"type": "department", "sourced_id": c.dept}});
    ok(
        &send(&server, "POST", "/api/v1/role-bindings", &admin, hod),
        201,
    );
    let path = format!("/api/v1/staff/{staff}");
    // Registrars read staff but do not write them.
    let r = send(
        &server,
        "PATCH",
        &path,
        &registrar,
        json!({"department": other}),
    );
    assert_eq!(r.status, 403);
    let r = send(&server, "PATCH", &path, &admin, json!({"role": "janitor"}));
    assert_eq!(bad_fields(&r), ["role"]);

    let r = send(
        &server,
        "PATCH",
        &path,
        &admin,
        json!({"department": other}),
    );
    let v = ok(&r, 200);
    assert_eq!(v["department"]["sourced_id"], other.as_str());
    assert!(r.header("ETag").is_some());
    let held = bindings(&v);
    assert!(
        held.contains(&("faculty".into(), other.clone())),
        "{held:?}"
    );
    assert!(
        held.contains(&("head_of_department".into(), c.dept.clone())),
        "{held:?}"
    );
    assert!(
        !held.contains(&("faculty".into(), c.dept.clone())),
        "{held:?}"
    );
    // The rights follow at once: the teacher reads department B's staff list... through
    // faculty's staff-free permissions, so look at students: B's classes are theirs to read.
    let teacher = token(&server, &name);
    let perms = ok(&get(&server, "/api/v1/me/permissions", &teacher), 200).to_string();
    assert!(perms.contains(&other), "{perms}");

    // A new role moves the built-in binding from faculty to staff, in the same department.
    let v = ok(
        &send(
            &server,
            "PATCH",
            &path,
            &admin,
            json!({"role": "administrator"}),
        ),
        200,
    );
    assert_eq!(v["role"], "administrator");
    let held = bindings(&v);
    assert!(held.contains(&("staff".into(), other.clone())), "{held:?}");
    assert!(!held.iter().any(|(r, _)| r == "faculty"), "{held:?}");
    assert_eq!(
        sql_one(&format!("SELECT count(*) FROM audit_events WHERE target_id = '{staff}' AND action = 'staff.updated' AND details ? 'binding_moved'")),
        "2"
    );
}

#[test]
fn a_teaching_assignment_in_another_department_is_enough_to_mark_and_grade() {
    let (server, admin, registrar, c) = spawn_campus(2);
    let other = new_department(&server, &admin);
    let (outsider, name) = new_teacher(&server, &admin, &other);
    let teacher = token(&server, &name);
    let sessions = format!("/api/v1/classes/{}/attendance-sessions", c.class);
    let open = json!({"date": "2026-11-23", "period": 1});
    // Not assigned: no access to department A's class.
    assert_eq!(
        send(&server, "POST", &sessions, &teacher, open.clone()).status,
        403
    );
    let enroll = json!({"user": outsider, "role": "teacher"});
    ok(
        &send(
            &server,
            "POST",
            &format!("/api/v1/classes/{}/enrollments", c.class),
            &registrar,
            enroll,
        ),
        201,
    );
    // Assigned: the class, its roster, a register and a quiz, without a class binding.
    ok(
        &get(&server, &format!("/api/v1/classes/{}", c.class), &teacher),
        200,
    );
    ok(
        &get(
            &server,
            &format!("/api/v1/classes/{}/students", c.class),
            &teacher,
        ),
        200,
    );
    take_register(&server, &teacher, &c, "2026-11-23", 1, &["P", "A"]);
    let quiz = common::campus::new_quiz(&server, &teacher, &c.class, "Orbits");
    let sheet = json!({"results": [{"student": c.students[0], "score": 9}]});
    ok(
        &send(
            &server,
            "PUT",
            &format!("/api/v1/line-items/{quiz}/results"),
            &teacher,
            sheet,
        ),
        200,
    );
    // Another class of department A, not theirs: still refused.
    let c2 = build_campus(&server, &admin, &registrar, 0);
    let elsewhere = format!("/api/v1/classes/{}/attendance-sessions", c2.class);
    assert_eq!(
        send(&server, "POST", &elsewhere, &teacher, open).status,
        403
    );
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/classes/{}", c2.class),
            &teacher
        ),
        403
    );
}

#[test]
fn not_taken_includes_a_terms_last_day() {
    let server = TestServer::spawn(&[]);
    let admin = token(&server, "admin");
    let registrar = token(&server, "registrar");
    let t = tag();
    let dept = create(
        &server,
        &admin,
        "/api/v1/departments",
        json!({"name": format!("Dept {t}"), "identifier": format!("L{t}")}),
    );
    // The term ends on a Wednesday, the class meets on Wednesdays.
    let term = create(
        &server,
        &registrar,
        "/api/v1/terms",
        json!({"title": format!("Short {t}"), "type": "term", "start_date": "2026-11-02", "end_date": "2026-11-04", "school_year": 2027}),
    );
    let course = create(
        &server,
        &registrar,
        "/api/v1/courses",
        json!({"title": "Optics", "course_code": format!("OPT{t}"), "credits": 1, "department": dept}),
    );
    let class = create(
        &server,
        &registrar,
        "/api/v1/classes",
        json!({"title": "Optics", "class_code": format!("OPT{t}"), "periods": ["WED-3"], "course": course, "term": term}),
    );
    let listed = |date: &str| {
        ok(
            &get(
                &server,
                &format!("/api/v1/attendance/not-taken?date={date}"),
                &registrar,
            ),
            200,
        )
        .to_string()
        .contains(&class)
    };
    assert!(
        listed("2026-11-04"),
        "the last day of the term is a teaching day"
    );
    assert!(!listed("2026-11-11"), "the week after the term is not");
}

#[test]
fn if_match_takes_a_list_and_departments_carry_etags() {
    let server = TestServer::spawn(&[]);
    let admin = token(&server, "admin");
    let dept = new_department(&server, &admin);
    let path = format!("/api/v1/departments/{dept}");
    let r = get(&server, &path, &admin);
    ok(&r, 200);
    let tag = r
        .header("ETag")
        .expect("department GET sends an ETag")
        .to_string();
    let r = call_with(
        &server,
        "GET",
        &path,
        &admin,
        &[("If-None-Match", &tag)],
        None,
    );
    assert_eq!(r.status, 304);
    // A list naming the current version among others is honoured.
    let list = format!("\"1\", {tag}, W/\"2\"");
    let r = call_with(
        &server,
        "PATCH",
        &path,
        &admin,
        &[("If-Match", &list)],
        Some(&json!({"name": format!("Renamed {}", tag.len())})),
    );
    ok(&r, 200);
    let new_tag = r
        .header("ETag")
        .expect("department PATCH sends the new ETag")
        .to_string();
    assert_ne!(new_tag, tag);
    // A list naming none of it, or a weak tag alone, is 412; nothing changes.
    let stale = format!("\"1\", {tag}");
    let r = call_with(
        &server,
        "PATCH",
        &path,
        &admin,
        &[("If-Match", &stale)],
        Some(&json!({"name": "Never"})),
    );
    assert_eq!(r.status, 412);
    let weak = format!("W/{new_tag}");
    let r = call_with(
        &server,
        "PATCH",
        &path,
        &admin,
        &[("If-Match", &weak)],
        Some(&json!({"name": "Never"})),
    );
    assert_eq!(r.status, 412);
    assert_ne!(ok(&get(&server, &path, &admin), 200)["name"], "Never");
    // The same on a student: a list with the current version passes.
    let registrar = token(&server, "registrar");
    let c: Campus = build_campus(&server, &admin, &registrar, 1);
    let student = format!("/api/v1/students/{}", c.students[0]);
    let r = get(&server, &student, &registrar);
    let stag = r.header("ETag").unwrap().to_string();
    let list = format!("\"7\", {stag}");
    let r = call_with(
        &server,
        "PATCH",
        &student,
        &registrar,
        &[("If-Match", &list)],
        Some(&json!({"program": "BSc Optics"})),
    );
    assert_eq!(ok(&r, 200)["program"], "BSc Optics");
}

#[test]
fn students_and_guardians_see_classes_timetables_and_what_is_due() {
    let (server, admin, registrar, c) = spawn_campus(2);
    enrolled_since(&c, "2026-09-01");
    let teacher = token(&server, &c.teacher_name);
    for n in &c.student_names {
        give_password(n);
    }
    let me = token(&server, &c.student_names[0]);
    let me_id = &c.students[0];
    // The class and its line items, as a member.
    let class = ok(
        &get(&server, &format!("/api/v1/classes/{}", c.class), &me),
        200,
    );
    assert_eq!(class["location"], "Dome");
    let quiz = common::campus::new_quiz(&server, &teacher, &c.class, "Moons");
    let items = ok(
        &get(
            &server,
            &format!("/api/v1/classes/{}/line-items", c.class),
            &me,
        ),
        200,
    );
    assert_eq!(items["line_items"][0]["sourced_id"], quiz.as_str());
    ok(
        &get(&server, &format!("/api/v1/line-items/{quiz}"), &me),
        200,
    );
    // Never the class's registers or classmates' results.
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/line-items/{quiz}/results"),
            &me
        ),
        403
    );
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/classes/{}/attendance-sessions", c.class),
            &me
        ),
        403
    );
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/classes/{}/students", c.class),
            &me
        ),
        403
    );

    // Their classes with times and rooms, and a week's timetable: MON-1, MON-2, WED-1.
    let mine = ok(
        &get(&server, &format!("/api/v1/students/{me_id}/classes"), &me),
        200,
    );
    assert_eq!(
        mine["classes"][0]["periods"],
        json!(["MON-1", "MON-2", "WED-1"])
    );
    let sid = open_session(&server, &teacher, &c.class, "2026-11-16", 2);
    let week = ok(
        &get(
            &server,
            &format!("/api/v1/students/{me_id}/timetable?from=2026-11-16&to=2026-11-22"),
            &me,
        ),
        200,
    );
    let lessons = week["lessons"].as_array().unwrap();
    let slots: Vec<(String, i64)> = lessons
        .iter()
        .map(|l| {
            (
                l["date"].as_str().unwrap().to_string(),
                l["period"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        slots,
        [
            ("2026-11-16".to_string(), 1),
            ("2026-11-16".to_string(), 2),
            ("2026-11-18".to_string(), 1)
        ]
    );
    assert_eq!(lessons[1]["session"], sid.as_str());
    assert_eq!(lessons[0]["location"], "Dome");
    assert_eq!(lessons[0]["teachers"][0]["family_name"], "Teacher");
    let r = get(
        &server,
        &format!("/api/v1/students/{me_id}/timetable?from=2026-11-16&to=2027-11-16"),
        &me,
    );
    assert_eq!(r.status, 400);

    // What is due, with their own result only once published.
    let sheet = json!({"results": [{"student": me_id, "score": 7}, {"student": c.students[1], "score": 3}]});
    ok(
        &send(
            &server,
            "PUT",
            &format!("/api/v1/line-items/{quiz}/results"),
            &teacher,
            sheet,
        ),
        200,
    );
    let due = format!("/api/v1/students/{me_id}/line-items");
    let v = ok(&get(&server, &due, &me), 200);
    assert!(v["line_items"][0]["result"].is_null(), "draft: {v}");
    let publish = json!({"status": "published"});
    ok(
        &send(
            &server,
            "PATCH",
            &format!("/api/v1/line-items/{quiz}"),
            &registrar,
            publish,
        ),
        200,
    );
    let v = ok(&get(&server, &due, &me), 200);
    assert_eq!(v["line_items"][0]["result"]["score"], 7.0);

    // Someone else's week is not theirs to read.
    let other = &c.students[1];
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/students/{other}/timetable"),
            &me
        ),
        403
    );
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/students/{other}/classes"),
            &me
        ),
        403
    );
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/students/{other}/line-items"),
            &me
        ),
        403
    );
    // A student of another class does not see this one.
    let c2 = build_campus(&server, &admin, &registrar, 1);
    give_password(&c2.student_names[0]);
    let stranger = token(&server, &c2.student_names[0]);
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/classes/{}", c.class),
            &stranger
        ),
        403
    );
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/classes/{}/line-items", c.class),
            &stranger
        ),
        403
    );
}

#[test]
fn registrars_link_and_unlink_guardians_and_an_unlinked_guardian_loses_access_everywhere() {
    let (server, _admin, registrar, c) = spawn_campus(2);
    let second = TestServer::spawn(&[]);
    let teacher = token(&server, &c.teacher_name);
    let student = &c.students[0];
    let path = format!("/api/v1/students/{student}/guardians");
    let t = tag();
    let gname = format!("g{t}");
    let new = json!({"relationship": "parent", "new_guardian": {"username": gname, "email": format!("{gname}@example.org"), "given_name": "Gail", "family_name": "Guardian"}});
    // Only who may write the student's records links.
    assert_eq!(
        send(&server, "POST", &path, &teacher, new.clone()).status,
        403
    );
    let me = {
        give_password(&c.student_names[0]);
        token(&server, &c.student_names[0])
    };
    assert_eq!(send(&server, "POST", &path, &me, new.clone()).status, 403);
    // Bad bodies name their fields.
    let r = send(
        &server,
        "POST",
        &path,
        &registrar,
        json!({"relationship": "uncle", "guardian": student}),
    );
    assert_eq!(bad_fields(&r), ["relationship"]);
    let r = send(
        &server,
        "POST",
        &path,
        &registrar,
        json!({"relationship": "parent"}),
    );
    assert_eq!(bad_fields(&r), ["guardian"]);
    // A student's account is not a guardian's.
    let r = send(
        &server,
        "POST",
        &path,
        &registrar,
        json!({"relationship": "parent", "guardian": c.students[1]}),
    );
    assert_eq!(bad_fields(&r), ["guardian"]);

    let v = ok(&send(&server, "POST", &path, &registrar, new.clone()), 201);
    let g = &v["guardians"][0];
    assert_eq!(
        (g["username"].as_str(), g["relationship"].as_str()),
        (Some(gname.as_str()), Some("parent"))
    );
    let gid = g["guardian"]["sourced_id"].as_str().unwrap().to_string();
    // The same username again is taken.
    let r = send(&server, "POST", &path, &registrar, new);
    assert_eq!(r.status, 409);
    // The same guardian linked to the second student, as a relative.
    let other = format!("/api/v1/students/{}/guardians", c.students[1]);
    ok(
        &send(
            &server,
            "POST",
            &other,
            &registrar,
            json!({"relationship": "relative", "guardian": gid}),
        ),
        201,
    );

    give_password(&gname);
    let guardian = token(&server, &gname);
    for s in [&server, &second] {
        ok(
            &get(s, &format!("/api/v1/students/{student}"), &guardian),
            200,
        );
        ok(
            &get(
                s,
                &format!("/api/v1/students/{student}/timetable?from=2026-11-16"),
                &guardian,
            ),
            200,
        );
        ok(
            &get(s, &format!("/api/v1/classes/{}", c.class), &guardian),
            200,
        );
    }
    assert_eq!(
        ok(&get(&server, &path, &guardian), 200)["guardians"][0]["guardian"]["sourced_id"],
        gid.as_str()
    );

    // Unlinked from the first student: refused at once on both instances; the second stays.
    let r = call(
        &server,
        "DELETE",
        &format!("{path}?guardian={gid}"),
        Some(&registrar),
        None,
    );
    assert_eq!(r.status, 204);
    for s in [&server, &second] {
        assert_eq!(
            status_as(s, "GET", &format!("/api/v1/students/{student}"), &guardian),
            403
        );
        assert_eq!(
            status_as(
                s,
                "GET",
                &format!("/api/v1/students/{student}/attendance"),
                &guardian
            ),
            403
        );
        ok(
            &get(s, &format!("/api/v1/students/{}", c.students[1]), &guardian),
            200,
        );
    }
    // Twice is 404; without the guardian it is 400.
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("{path}?guardian={gid}"),
            Some(&registrar),
            None
        )
        .status,
        404
    );
    assert_eq!(
        call(&server, "DELETE", &path, Some(&registrar), None).status,
        400
    );
    assert_eq!(
        sql_one(&format!("SELECT string_agg(action, ',' ORDER BY id) FROM audit_events WHERE target_id = '{student}' AND action LIKE 'guardians.%'")),
        "guardians.linked,guardians.unlinked"
    );
    assert!(ok(&get(&server, &path, &registrar), 200)["guardians"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn the_institutions_time_zone_decides_today() {
    let _today = TODAY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = TestServer::spawn(&[]);
    let admin = token(&server, "admin");
    let registrar = token(&server, "registrar");
    let path = "/api/v1/admin/institution";
    assert_eq!(status_as(&server, "GET", path, &registrar), 403);
    let before = ok(&get(&server, path, &admin), 200);
    // Put back whatever happens below: other tests count on a stable "today".
    struct Restore(String);
    impl Drop for Restore {
        fn drop(&mut self) {
            sql_one(&format!(
                "UPDATE orgs SET time_zone = '{}' WHERE type = 'institution' RETURNING 1",
                self.0
            ));
        }
    }
    let _restore = Restore(before["time_zone"].as_str().unwrap().to_string());
    for bad in [
        "Mars/Olympus",
        "Etc/GMT+99",
        "+03",
        "Europe/../etc",
        "",
        "UTC; DROP TABLE users",
    ] {
        let r = send(&server, "PATCH", path, &admin, json!({"time_zone": bad}));
        assert_eq!(bad_fields(&r), ["time_zone"], "{bad}");
    }
    let r = send(&server, "PATCH", path, &admin, json!({}));
    assert_eq!(r.status, 422);
    // UTC+14: its date is ahead of UTC's for ten hours a day, never behind.
    let v = ok(
        &send(
            &server,
            "PATCH",
            path,
            &admin,
            json!({"time_zone": "Pacific/Kiritimati"}),
        ),
        200,
    );
    assert_eq!(v["time_zone"], "Pacific/Kiritimati");
    let there = sql_one("SELECT (now() AT TIME ZONE 'Pacific/Kiritimati')::date");
    assert_eq!(v["today"], there.as_str());
    // The default range of an attendance history ends on that date.
    let c = build_campus(&server, &admin, &registrar, 1);
    let h = ok(
        &get(
            &server,
            &format!("/api/v1/students/{}/attendance", c.students[0]),
            &registrar,
        ),
        200,
    );
    assert_eq!(h["to"], there.as_str());
    // Back to what it was (other tests in this binary count on a stable "today").
    let zone = before["time_zone"].as_str().unwrap();
    ok(
        &send(&server, "PATCH", path, &admin, json!({"time_zone": zone})),
        200,
    );
    assert!(
        sql_one("SELECT count(*) FROM audit_events WHERE action = 'institution.updated'")
            .parse::<i64>()
            .unwrap()
            >= 2
    );
}
