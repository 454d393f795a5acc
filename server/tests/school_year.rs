//! A school year that stays right (issue #22), each test named after what was wrong: an
//! office override counted beside the teacher's mark, withdrawn students left on rosters,
//! staff moves that left rights behind, a teaching assignment that was not enough, a term's
//! last day missing from not-taken, `If-Match` lists always 412, departments without ETags,
//! students and guardians locked out of their own classes, guardian links only in SQL, and
//! "today" in UTC.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::campus::{
    bad_fields, build_campus, call_with, create, get, give_password, id_of, ok, open_session, send,
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
        all_pages(
            &server,
            &format!("/api/v1/attendance/not-taken?date={date}&limit=200"),
            &registrar,
            "classes",
        )
        .0
        .iter()
        .any(|x| x["class"]["sourced_id"] == class.as_str())
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

    // Their classes with times and rooms, and a week's timetable: three periods a weekday,
    // none on the weekend, none on the holiday.
    let mine = ok(
        &get(&server, &format!("/api/v1/students/{me_id}/classes"), &me),
        200,
    );
    assert_eq!(
        mine["classes"][0]["periods"],
        json!(common::campus::PERIODS)
    );
    let holiday = json!({"kind": "holiday", "title": format!("Founders' day {}", c.t), "start_date": "2026-11-19", "end_date": "2026-11-19"});
    let closure = ok(
        &send(
            &server,
            "POST",
            "/api/v1/calendar/closures",
            &admin,
            holiday,
        ),
        201,
    );
    let _holiday = ClosureGuard(closure["sourced_id"].as_str().unwrap().to_string());
    let sid = open_session(&server, &teacher, &c.class, "2026-11-16", 2);
    let week = ok(
        &get(
            &server,
            &format!("/api/v1/students/{me_id}/timetable?from=2026-11-16&to=2026-11-22"),
            &me,
        ),
        200,
    );
    let closure_path = format!(
        "/api/v1/calendar/closures/{}",
        closure["sourced_id"].as_str().unwrap()
    );
    ok(
        &call(&server, "DELETE", &closure_path, Some(&admin), None),
        204,
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
    let days: std::collections::BTreeSet<&str> = slots.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-20"],
        "{week}"
    );
    assert_eq!(slots.len(), 12);
    assert_eq!(slots[1], ("2026-11-16".to_string(), 2));
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

/// A holiday or closure made through the API, removed when the test ends however it ends (the
/// calendar is the institution's: other tests share it).
struct ClosureGuard(String);

impl ClosureGuard {
    fn add(
        server: &TestServer,
        admin: &str,
        kind: &str,
        title: &str,
        from: &str,
        to: &str,
    ) -> ClosureGuard {
        let body = json!({"kind": kind, "title": title, "start_date": from, "end_date": to});
        let v = ok(
            &send(server, "POST", "/api/v1/calendar/closures", admin, body),
            201,
        );
        assert_eq!(
            (v["start_date"].as_str(), v["end_date"].as_str()),
            (Some(from), Some(to))
        );
        ClosureGuard(v["sourced_id"].as_str().unwrap().to_string())
    }
}

impl Drop for ClosureGuard {
    fn drop(&mut self) {
        sql_one(&format!(
            "DELETE FROM calendar_closures WHERE sourced_id = '{}' RETURNING 1",
            self.0
        ));
    }
}

#[test]
fn registers_open_only_on_teaching_days_in_the_timetable_unless_unscheduled() {
    let (server, admin, registrar, c) = spawn_campus(1);
    let teacher = token(&server, &c.teacher_name);
    let path = format!("/api/v1/classes/{}/attendance-sessions", c.class);
    let open = |body: Value| send(&server, "POST", &path, &teacher, body);
    // A Saturday, and a period the timetable does not have.
    let r = open(json!({"date": "2026-11-14", "period": 1}));
    assert_eq!(bad_fields(&r), ["date"]);
    assert!(r.json()["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("unscheduled"));
    assert_eq!(
        bad_fields(&open(json!({"date": "2026-11-13", "period": 4}))),
        ["period"]
    );
    assert_eq!(
        bad_fields(&open(
            json!({"date": "2026-11-13", "period": 1, "unscheduled": "yes"})
        )),
        ["unscheduled"]
    );
    // A make-up lesson on purpose: opened, and audited as such.
    let made_up = id_of(&ok(
        &open(json!({"date": "2026-11-14", "period": 1, "unscheduled": true})),
        201,
    ));
    assert_eq!(
        sql_one(&format!("SELECT details->>'unscheduled' FROM audit_events WHERE action = 'attendance.opened' AND target_id = '{made_up}'")),
        "true"
    );
    // A closure: not a teaching day; the refusal names it; not-taken lists nothing that day.
    let title = format!("Snow {}", c.t);
    let not_taken = |date: &str| {
        all_pages(
            &server,
            &format!("/api/v1/attendance/not-taken?date={date}&limit=200"),
            &registrar,
            "classes",
        )
        .0
        .iter()
        .any(|x| x["class"]["sourced_id"] == c.class.as_str())
    };
    assert!(not_taken("2026-11-12"));
    {
        let _snow = ClosureGuard::add(
            &server,
            &admin,
            "closure",
            &title,
            "2026-11-12",
            "2026-11-13",
        );
        let r = open(json!({"date": "2026-11-12", "period": 1}));
        assert_eq!(bad_fields(&r), ["date"]);
        assert!(!not_taken("2026-11-12"));
        let cal = ok(
            &get(
                &server,
                "/api/v1/calendar?from=2026-11-09&to=2026-11-15",
                &registrar,
            ),
            200,
        );
        assert_eq!(cal["teaching_days"], 3, "{cal}");
        assert!(cal["closures"].to_string().contains(&title));
        // Only administrators of the whole calendar add to it; bad ranges are refused.
        let body = json!({"kind": "holiday", "title": "Mine", "start_date": "2026-11-20", "end_date": "2026-11-20"});
        assert_eq!(
            send(&server, "POST", "/api/v1/calendar/closures", &teacher, body).status,
            403
        );
        let body = json!({"kind": "holiday", "title": "Backwards", "start_date": "2026-11-20", "end_date": "2026-11-19"});
        assert_eq!(
            bad_fields(&send(
                &server,
                "POST",
                "/api/v1/calendar/closures",
                &admin,
                body
            )),
            ["end_date"]
        );
        let body = json!({"kind": "party", "title": "", "start_date": "2026-11-20", "end_date": "2028-11-19"});
        assert_eq!(
            bad_fields(&send(
                &server,
                "POST",
                "/api/v1/calendar/closures",
                &admin,
                body
            )),
            ["kind", "title", "end_date"]
        );
    }
    // Reopened: a teaching day again.
    assert!(not_taken("2026-11-12"));
    ok(&open(json!({"date": "2026-11-12", "period": 1})), 201);
    assert_eq!(
        call(
            &server,
            "DELETE",
            "/api/v1/calendar/closures/00000000-0000-4000-8000-000000000000",
            Some(&admin),
            None
        )
        .status,
        404
    );
    assert_eq!(
        status_as(
            &server,
            "GET",
            "/api/v1/calendar?from=2026-11-09&to=2028-11-15",
            &registrar
        ),
        400
    );
}

#[test]
fn reports_count_only_teaching_days() {
    let (server, admin, registrar, c) = spawn_campus(2);
    let teacher = token(&server, &c.teacher_name);
    take_register(&server, &teacher, &c, "2026-11-09", 1, &["A", "P"]);
    take_register(&server, &teacher, &c, "2026-11-10", 1, &["P", "P"]);
    let history = format!(
        "/api/v1/students/{}/attendance?from=2026-11-09&to=2026-11-10",
        c.students[0]
    );
    let report = format!(
        "/api/v1/classes/{}/attendance/report?from=2026-11-09&to=2026-11-10",
        c.class
    );
    let marks = |v: &Value| v["classes"][0]["marks"].as_i64().unwrap_or(0);
    assert_eq!(marks(&ok(&get(&server, &history, &registrar), 200)), 2);
    {
        // The 9th is declared a closure afterwards (the boiler broke at 8:00): its marks stop
        // counting against anyone's presence.
        let _closed = ClosureGuard::add(
            &server,
            &admin,
            "closure",
            &format!("Boiler {}", c.t),
            "2026-11-09",
            "2026-11-09",
        );
        let v = ok(&get(&server, &history, &registrar), 200);
        assert_eq!(marks(&v), 1, "{v}");
        assert_eq!(v["classes"][0]["presence_rate"], 1.0);
        let r = ok(&get(&server, &report, &registrar), 200);
        let row = r["students"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["student"]["sourced_id"] == c.students[0].as_str())
            .unwrap()
            .clone();
        assert_eq!(
            (row["marks"].as_i64(), row["absent"].as_i64()),
            (Some(1), Some(0)),
            "{r}"
        );
    }
    assert_eq!(marks(&ok(&get(&server, &history, &registrar), 200)), 2);
}

#[test]
fn attendance_codes_change_without_sql_and_every_instance_follows() {
    let (server, admin, registrar, c) = spawn_campus(1);
    let second = TestServer::spawn(&[]);
    let teacher = token(&server, &c.teacher_name);
    let class_codes = format!("/api/v1/classes/{}/attendance-codes", c.class);
    let has = |s: &TestServer, code: &str| {
        ok(&get(s, &class_codes, &teacher), 200)["codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == code)
    };
    // The second instance has the department's codes cached.
    let code = format!("F{}", &c.t[c.t.len() - 3..]);
    assert!(!has(&second, &code));
    let path = format!("/api/v1/attendance-codes/{code}?department={}", c.dept);
    let body = json!({"description": "Field trip", "category": "present", "presence_fraction": 1, "entered_by": "teacher"});
    // Only administrators; bad bodies and departments are refused.
    assert_eq!(
        call(
            &server,
            "PUT",
            &path,
            Some(&registrar),
            Some(&body.to_string())
        )
        .status,
        403
    );
    let bad = json!({"description": "", "category": "gone", "presence_fraction": 1.5});
    assert_eq!(
        bad_fields(&send(&server, "PUT", &path, &admin, bad)),
        ["description", "category", "presence_fraction"]
    );
    let nowhere =
        format!("/api/v1/attendance-codes/{code}?department=00000000-0000-4000-8000-000000000000");
    assert_eq!(
        bad_fields(&send(&server, "PUT", &nowhere, &admin, body.clone())),
        ["department"]
    );
    let r = send(
        &server,
        "PUT",
        "/api/v1/attendance-codes/TOOLONGCODE",
        &admin,
        body.clone(),
    );
    assert_eq!(bad_fields(&r), ["code"]);

    let v = ok(&send(&server, "PUT", &path, &admin, body.clone()), 201);
    assert!(v["codes"].to_string().contains(&code));
    assert!(
        common::eventually(std::time::Duration::from_secs(5), || has(&second, &code)),
        "the second instance never saw the new code"
    );
    // It marks a register; replaced (200), then retired: gone from the registers' list.
    let sid = open_session(&server, &teacher, &c.class, "2026-11-24", 1);
    let mark = json!({"records": [{"student": c.students[0], "code": code}]});
    ok(
        &send(
            &server,
            "PUT",
            &format!("/api/v1/attendance-sessions/{sid}/records"),
            &teacher,
            mark,
        ),
        200,
    );
    let half = json!({"description": "Field trip (half day)", "category": "present", "presence_fraction": 0.5});
    ok(&send(&server, "PUT", &path, &admin, half), 200);
    let retire = json!({"description": "Field trip", "category": "present", "presence_fraction": 1, "status": "tobedeleted"});
    ok(&send(&server, "PUT", &path, &admin, retire), 200);
    assert!(common::eventually(
        std::time::Duration::from_secs(5),
        || !has(&second, &code)
    ));
    assert!(!has(&server, &code));
    let list = ok(
        &get(
            &server,
            &format!("/api/v1/attendance-codes?department={}", c.dept),
            &teacher,
        ),
        200,
    );
    let mine = list["codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == code.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (mine["status"].as_str(), mine["scope"].as_str()),
        (Some("tobedeleted"), Some("department"))
    );
    assert_eq!(
        sql_one(&format!("SELECT string_agg(action, ',' ORDER BY id) FROM audit_events WHERE target_type = 'attendance_code' AND target_id = '{code}'")),
        "attendance_codes.created,attendance_codes.updated,attendance_codes.updated"
    );
}

#[test]
fn a_rollover_copies_classes_ends_enrollments_and_promotes_once() {
    let (server, admin, registrar, c) = spawn_campus(2);
    let teacher = token(&server, &c.teacher_name);
    let class = ok(
        &get(&server, &format!("/api/v1/classes/{}", c.class), &admin),
        200,
    );
    let from = class["term"]["sourced_id"].as_str().unwrap().to_string();
    let next = create(
        &server,
        &registrar,
        "/api/v1/terms",
        json!({"title": format!("Next {}", c.t), "type": "term", "start_date": "2027-02-01", "end_date": "2027-06-30", "school_year": 2028}),
    );
    let path = format!("/api/v1/terms/{from}/rollover");
    let year = |s: &str| {
        ok(
            &get(&server, &format!("/api/v1/students/{s}"), &registrar),
            200,
        )["year_of_study"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(year(&c.students[0]), 1);
    // Refusals: a teacher; no target; a target that does not come after.
    assert_eq!(
        send(&server, "POST", &path, &teacher, json!({"to": next})).status,
        403
    );
    assert_eq!(
        bad_fields(&send(&server, "POST", &path, &admin, json!({}))),
        ["to"]
    );
    let r = send(
        &server,
        "POST",
        &format!("/api/v1/terms/{next}/rollover"),
        &admin,
        json!({"to": from}),
    );
    assert_eq!(bad_fields(&r), ["to"]);
    let nobody = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        send(
            &server,
            "POST",
            &format!("/api/v1/terms/{nobody}/rollover"),
            &admin,
            json!({"to": next})
        )
        .status,
        404
    );

    let classes_in_next = || {
        sql_one(&format!("SELECT count(*) FROM classes k JOIN academic_sessions t ON t.id = k.term_id WHERE t.sourced_id = '{next}'"))
    };
    let dry = ok(
        &send(
            &server,
            "POST",
            &path,
            &admin,
            json!({"to": next, "dry_run": true}),
        ),
        200,
    );
    let expected = |dry_run: bool| json!({"from": from, "to": next, "dry_run": dry_run, "classes_copied": 1, "classes_already_there": 0, "teaching_assignments_copied": 1, "enrollments_ended": 3, "students_promoted": 2, "repeated": false});
    assert_eq!(dry, expected(true));
    // Nothing changed.
    assert_eq!(classes_in_next(), "0");
    assert_eq!(year(&c.students[0]), 1);
    assert_eq!(
        ok(
            &get(
                &server,
                &format!("/api/v1/classes/{}/students", c.class),
                &teacher
            ),
            200
        )["students"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let done = ok(
        &send(&server, "POST", &path, &admin, json!({"to": next})),
        200,
    );
    assert_eq!(done, expected(false));
    assert_eq!(classes_in_next(), "1");
    assert_eq!(year(&c.students[0]), 2);
    assert_eq!(year(&c.students[1]), 2);
    // The old class's roster is empty, its enrollments ended on the term's last day; the copy
    // has the timetable and the teacher, who can open its registers.
    assert!(ok(
        &get(
            &server,
            &format!("/api/v1/classes/{}/students", c.class),
            &teacher
        ),
        200
    )["students"]
        .as_array()
        .unwrap()
        .is_empty());
    let ended = ok(
        &get(
            &server,
            &format!("/api/v1/students/{}/enrollments", c.students[0]),
            &registrar,
        ),
        200,
    );
    assert_eq!(ended["enrollments"][0]["end_date"], "2027-01-31");
    let copy = sql_one(&format!("SELECT k.sourced_id FROM classes k JOIN academic_sessions t ON t.id = k.term_id WHERE t.sourced_id = '{next}'"));
    let copied = ok(
        &get(&server, &format!("/api/v1/classes/{copy}"), &teacher),
        200,
    );
    assert_eq!(copied["periods"], json!(common::campus::PERIODS));
    assert_eq!(copied["teachers"][0]["sourced_id"], c.teacher.as_str());
    assert_eq!(copied["class_code"], class["class_code"]);

    // Again: nothing left to do, nobody promoted twice.
    let again = ok(
        &send(&server, "POST", &path, &admin, json!({"to": next})),
        200,
    );
    assert_eq!(
        (
            again["classes_copied"].as_i64(),
            again["classes_already_there"].as_i64(),
            again["enrollments_ended"].as_i64(),
            again["students_promoted"].as_i64(),
            again["repeated"].as_bool()
        ),
        (Some(0), Some(1), Some(0), Some(0), Some(true))
    );
    assert_eq!(year(&c.students[0]), 2);
    assert_eq!(
        sql_one(&format!("SELECT count(*) FROM audit_events WHERE action = 'terms.rolled_over' AND target_id = '{from}'")),
        "2"
    );
}

/// Follows `path`'s keyset pages (`limit` already in it) and collects `key`'s items.
fn all_pages(server: &TestServer, path: &str, token: &str, key: &str) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut next) = (Vec::new(), 0, None::<String>);
    loop {
        let url = match &next {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let v = ok(&get(server, &url, token), 200);
        items.extend(v[key].as_array().unwrap().iter().cloned());
        pages += 1;
        match v["next_cursor"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => return (items, pages),
        }
        assert!(pages < 1000, "endless pages");
    }
}

#[test]
fn not_taken_results_and_enrollments_come_in_pages() {
    let (server, _admin, registrar, c) = spawn_campus(3);
    let teacher = token(&server, &c.teacher_name);
    // Four enrollments (three students, one teacher) in pages of two.
    let path = format!("/api/v1/classes/{}/enrollments?limit=2", c.class);
    let (items, pages) = all_pages(&server, &path, &teacher, "enrollments");
    assert_eq!((items.len(), pages), (4, 2));
    let first = ok(&get(&server, &path, &teacher), 200);
    assert_eq!(first["enrollments"].as_array().unwrap().len(), 2);
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/classes/{}/enrollments?cursor=garbage", c.class),
            &teacher
        ),
        400
    );
    // Three published results in pages of two, for the student and for staff.
    for title in ["One", "Two", "Three"] {
        let quiz = common::campus::new_quiz(&server, &teacher, &c.class, title);
        let sheet = json!({"results": [{"student": c.students[0], "score": 5}]});
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
        ok(
            &send(
                &server,
                "PATCH",
                &format!("/api/v1/line-items/{quiz}"),
                &registrar,
                json!({"status": "published"}),
            ),
            200,
        );
    }
    give_password(&c.student_names[0]);
    let me = token(&server, &c.student_names[0]);
    let results = format!("/api/v1/students/{}/results?limit=2", c.students[0]);
    for who in [&me, &registrar] {
        let (items, pages) = all_pages(&server, &results, who, "results");
        assert_eq!((items.len(), pages), (3, 2));
        let titles: Vec<&str> = items
            .iter()
            .map(|r| r["line_item"]["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["One", "Two", "Three"]);
    }
    // Not-taken of a Monday, across every class of the institution: ours three times, once each.
    let (items, pages) = all_pages(
        &server,
        "/api/v1/attendance/not-taken?date=2026-11-23&limit=50",
        &registrar,
        "classes",
    );
    let ours: Vec<i64> = items
        .iter()
        .filter(|x| x["class"]["sourced_id"] == c.class.as_str())
        .map(|x| x["period"].as_i64().unwrap())
        .collect();
    assert_eq!(ours, [1, 2, 3], "{pages} pages");
    let mut keys: Vec<String> = items
        .iter()
        .map(|x| format!("{}-{}", x["class"]["sourced_id"], x["period"]))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "an item repeated across pages");
}

#[test]
fn minutes_present_are_summed_in_the_reports_that_show_them() {
    let (server, _admin, registrar, c) = spawn_campus(2);
    let teacher = token(&server, &c.teacher_name);
    let day = |date: &str, minutes: i64| {
        let sid = open_session(&server, &teacher, &c.class, date, 1);
        let records = json!({"records": [
            {"student": c.students[0], "code": "L", "minutes_present": minutes},
            {"student": c.students[1], "code": "P"},
        ]});
        ok(
            &send(
                &server,
                "PUT",
                &format!("/api/v1/attendance-sessions/{sid}/records"),
                &teacher,
                records,
            ),
            200,
        );
    };
    day("2026-11-02", 35);
    day("2026-11-03", 20);
    let history = ok(
        &get(
            &server,
            &format!(
                "/api/v1/students/{}/attendance?from=2026-11-02&to=2026-11-03",
                c.students[0]
            ),
            &registrar,
        ),
        200,
    );
    assert_eq!(history["classes"][0]["minutes_present"], 55, "{history}");
    let minutes: Vec<i64> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["minutes_present"].as_i64().unwrap())
        .collect();
    assert_eq!(minutes, [35, 20]);
    let report = ok(
        &get(
            &server,
            &format!(
                "/api/v1/classes/{}/attendance/report?from=2026-11-02&to=2026-11-03",
                c.class
            ),
            &registrar,
        ),
        200,
    );
    let rows = report["students"].as_array().unwrap();
    let of = |s: &str| {
        rows.iter()
            .find(|r| r["student"]["sourced_id"] == s)
            .unwrap()["minutes_present"]
            .as_i64()
            .unwrap()
    };
    assert_eq!((of(&c.students[0]), of(&c.students[1])), (55, 0));
}
