//! The routes of staff, departments, terms and courses, each driven to its success, to every
//! refusal it can give (401 without a credential, 403 without the permission where the record
//! is, 404 for a record that does not exist, 409 for a value someone else holds, 412 for a
//! stale `If-Match`, 422 for a bad body) and through its object-level rule (a department's
//! own staff reader, writer and registrar reach their department only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::campus::{
    bad_fields, build_campus, call_with, create, get, give_password, ok, send, status_as, tag,
};
use common::{access_token as token, call, Resp, TestServer};
use serde_json::{json, Value};

const NOBODY: &str = "00000000-0000-4000-8000-00000000beef";

fn bind(server: &TestServer, admin: &str, user: &str, role: &str, dept: &str) {
    let body =
        json!({"user": user, "role": role, "scope": {"type": "department", "sourced_id": dept}});
    ok(
        &send(server, "POST", "/api/v1/role-bindings", admin, body),
        201,
    );
}

/// A staff member of `dept` with the demo password: (id, username, employee number).
fn hire(server: &TestServer, admin: &str, dept: &str, role: &str) -> (String, String, String) {
    let t = tag();
    let name = format!("cr{t}");
    let employee = format!("CR{t}");
    let body = json!({"username": name, "email": format!("{name}@example.edu"), "given_name": "Cora", "family_name": "Routes", "role": role, "employee_number": employee, "designation": "Clerk", "department": dept});
    let id = create(server, admin, "/api/v1/staff", body);
    give_password(&name);
    (id, name, employee)
}

fn new_department(server: &TestServer, admin: &str) -> (String, String) {
    let t = tag();
    let identifier = format!("CR{t}");
    let body = json!({"name": format!("Routes {t}"), "identifier": identifier});
    (
        create(server, admin, "/api/v1/departments", body),
        identifier,
    )
}

fn no_credential(server: &TestServer, method: &str, path: &str, body: Option<&Value>) -> Resp {
    call(
        server,
        method,
        path,
        None,
        body.map(Value::to_string).as_deref(),
    )
}

fn etag_of(r: &Resp) -> String {
    r.header("ETag").expect("an ETag").to_string()
}

#[test]
fn staff_routes_succeed_refuse_and_keep_to_their_department() {
    let server = TestServer::spawn(&[]);
    let admin = token(&server, "admin");
    let registrar = token(&server, "registrar");
    let (a, _) = new_department(&server, &admin);
    let (b, _) = new_department(&server, &admin);
    let (in_a, name_a, _) = hire(&server, &admin, &a, "aide");
    let (in_b, _, employee_b) = hire(&server, &admin, &b, "teacher");
    // A department's own office: staff.read and staff.write in department A only.
    let (clerk, clerk_name, _) = hire(&server, &admin, &a, "administrator");
    bind(&server, &admin, &clerk, "head_of_department", &a);
    let role = format!("staff_office_{}", tag());
    ok(
        &send(
            &server,
            "POST",
            "/api/v1/roles",
            &admin,
            json!({"name": role, "description": "A department's staff office", "permissions": ["staff.read", "staff.write"]}),
        ),
        201,
    );
    bind(&server, &admin, &clerk, &role, &a);
    let office = token(&server, &clerk_name);
    let aide = token(&server, &name_a);

    // List: everyone of A for the office, nobody of B; 401 without a credential; 403 for a
    // caller with no staff.read anywhere (an aide's built-in staff role has it: a student does not).
    let list = ok(&get(&server, "/api/v1/staff?limit=200", &office), 200);
    let ids: Vec<&str> = list["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sourced_id"].as_str().unwrap())
        .collect();
    assert!(
        list["staff"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["department"]["sourced_id"] == a.as_str()),
        "{list}"
    );
    assert!(ids.contains(&in_a.as_str()) && !ids.contains(&in_b.as_str()));
    let filtered = ok(
        &get(&server, &format!("/api/v1/staff?department={b}"), &admin),
        200,
    );
    assert_eq!(filtered["staff"][0]["sourced_id"], in_b.as_str());
    assert_eq!(
        no_credential(&server, "GET", "/api/v1/staff", None).status,
        401
    );
    let c = build_campus(&server, &admin, &registrar, 1);
    give_password(&c.student_names[0]);
    let student = token(&server, &c.student_names[0]);
    assert_eq!(status_as(&server, "GET", "/api/v1/staff", &student), 403);
    assert_eq!(
        status_as(&server, "GET", "/api/v1/staff?role=janitor", &admin),
        400
    );

    // Get: ETag and 304; one's own record; 403 across departments; 404; 400.
    let path_a = format!("/api/v1/staff/{in_a}");
    let path_b = format!("/api/v1/staff/{in_b}");
    let r = get(&server, &path_a, &office);
    ok(&r, 200);
    let tag_a = etag_of(&r);
    assert_eq!(
        call_with(
            &server,
            "GET",
            &path_a,
            &office,
            &[("If-None-Match", &tag_a)],
            None
        )
        .status,
        304
    );
    ok(&get(&server, &path_a, &aide), 200);
    assert_eq!(status_as(&server, "GET", &path_b, &office), 403);
    assert_eq!(status_as(&server, "GET", &path_b, &aide), 403);
    assert_eq!(
        status_as(&server, "GET", &format!("/api/v1/staff/{NOBODY}"), &admin),
        404
    );
    assert_eq!(
        status_as(&server, "GET", "/api/v1/staff/not-an-id", &admin),
        400
    );
    assert_eq!(no_credential(&server, "GET", &path_a, None).status, 401);

    // Patch: 200 with the new ETag; 412 with the old; 409 for a taken employee number; 422
    // for a bad body; 403 for the registrar (staff.read only) and across departments; 404.
    let r = call_with(
        &server,
        "PATCH",
        &path_a,
        &office,
        &[("If-Match", &tag_a)],
        Some(&json!({"designation": "Senior clerk"})),
    );
    assert_eq!(ok(&r, 200)["designation"], "Senior clerk");
    assert_ne!(etag_of(&r), tag_a);
    let r = call_with(
        &server,
        "PATCH",
        &path_a,
        &office,
        &[("If-Match", &tag_a)],
        Some(&json!({"designation": "Stale"})),
    );
    assert_eq!(r.status, 412);
    let r = send(
        &server,
        "PATCH",
        &path_a,
        &office,
        json!({"employee_number": employee_b}),
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        bad_fields(&send(
            &server,
            "PATCH",
            &path_a,
            &office,
            json!({"email": "not-an-email", "shoe_size": 9})
        )),
        ["email", "shoe_size"]
    );
    assert_eq!(
        bad_fields(&send(&server, "PATCH", &path_a, &office, json!({}))),
        ["body"]
    );
    assert_eq!(
        send(
            &server,
            "PATCH",
            &path_a,
            &registrar,
            json!({"designation": "x"})
        )
        .status,
        403
    );
    assert_eq!(
        send(
            &server,
            "PATCH",
            &path_b,
            &office,
            json!({"designation": "x"})
        )
        .status,
        403
    );
    // Moving someone into a department where the caller may not write is refused.
    assert_eq!(
        send(&server, "PATCH", &path_a, &office, json!({"department": b})).status,
        403
    );
    assert_eq!(
        send(
            &server,
            "PATCH",
            &format!("/api/v1/staff/{NOBODY}"),
            &admin,
            json!({"designation": "x"})
        )
        .status,
        404
    );
    assert_eq!(
        no_credential(
            &server,
            "PATCH",
            &path_a,
            Some(&json!({"designation": "x"}))
        )
        .status,
        401
    );
    assert_eq!(
        ok(&get(&server, &path_a, &admin), 200)["designation"],
        "Senior clerk"
    );

    // Delete: deactivates; never oneself; 403 across departments; 404; 401.
    let own = format!("/api/v1/staff/{clerk}");
    assert_eq!(
        call(&server, "DELETE", &own, Some(&office), None).status,
        409
    );
    assert_eq!(
        call(&server, "DELETE", &path_b, Some(&office), None).status,
        403
    );
    assert_eq!(
        call(&server, "DELETE", &path_a, Some(&registrar), None).status,
        403
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/api/v1/staff/{NOBODY}"),
            Some(&admin),
            None
        )
        .status,
        404
    );
    assert_eq!(no_credential(&server, "DELETE", &path_a, None).status, 401);
    assert_eq!(
        call(&server, "DELETE", &path_a, Some(&office), None).status,
        204
    );
    assert_eq!(
        ok(&get(&server, &path_a, &admin), 200)["status"],
        "tobedeleted"
    );
    // The deactivated aide's token no longer works.
    assert_eq!(status_as(&server, "GET", "/api/v1/me", &aide), 401);
}

#[test]
fn department_patch_succeeds_and_refuses() {
    let server = TestServer::spawn(&[]);
    let admin = token(&server, "admin");
    let registrar = token(&server, "registrar");
    let (d, _) = new_department(&server, &admin);
    let (_, taken) = new_department(&server, &admin);
    let path = format!("/api/v1/departments/{d}");
    let r = get(&server, &path, &registrar);
    let before = etag_of(&r);
    let r = call_with(
        &server,
        "PATCH",
        &path,
        &admin,
        &[("If-Match", &before)],
        Some(&json!({"name": "Renamed"})),
    );
    assert_eq!(ok(&r, 200)["name"], "Renamed");
    let r = call_with(
        &server,
        "PATCH",
        &path,
        &admin,
        &[("If-Match", &before)],
        Some(&json!({"name": "Stale"})),
    );
    assert_eq!(r.status, 412);
    assert_eq!(
        send(
            &server,
            "PATCH",
            &path,
            &admin,
            json!({"identifier": taken})
        )
        .status,
        409
    );
    assert_eq!(
        bad_fields(&send(
            &server,
            "PATCH",
            &path,
            &admin,
            json!({"identifier": "has space", "name": ""})
        )),
        ["name", "identifier"]
    );
    assert_eq!(
        send(&server, "PATCH", &path, &registrar, json!({"name": "Mine"})).status,
        403
    );
    assert_eq!(
        send(
            &server,
            "PATCH",
            &format!("/api/v1/departments/{NOBODY}"),
            &admin,
            json!({"name": "x"})
        )
        .status,
        404
    );
    assert_eq!(
        no_credential(&server, "PATCH", &path, Some(&json!({"name": "x"}))).status,
        401
    );
    // Retired: off the public directory, still readable by id.
    ok(
        &send(
            &server,
            "PATCH",
            &path,
            &admin,
            json!({"status": "tobedeleted"}),
        ),
        200,
    );
    let list = ok(
        &get(&server, "/api/v1/departments?limit=200", &registrar),
        200,
    );
    assert!(!list.to_string().contains(&d));
    assert_eq!(
        ok(&get(&server, &path, &registrar), 200)["status"],
        "tobedeleted"
    );
}

#[test]
fn term_reads_and_patches_succeed_and_refuse() {
    let server = TestServer::spawn(&[]);
    let admin = token(&server, "admin");
    let registrar = token(&server, "registrar");
    let c = build_campus(&server, &admin, &registrar, 0);
    let teacher = token(&server, &c.teacher_name);
    let t = tag();
    let term = create(
        &server,
        &registrar,
        "/api/v1/terms",
        json!({"title": format!("Routes {t}"), "type": "term", "start_date": "2027-02-01", "end_date": "2027-06-30", "school_year": 2027}),
    );
    let path = format!("/api/v1/terms/{term}");
    // Reads: any caller, with an ETag; 304; 404; 400; 401.
    let r = get(&server, &path, &teacher);
    assert_eq!(ok(&r, 200)["title"], format!("Routes {t}"));
    let before = etag_of(&r);
    assert_eq!(
        call_with(
            &server,
            "GET",
            &path,
            &teacher,
            &[("If-None-Match", &before)],
            None
        )
        .status,
        304
    );
    let page = ok(
        &get(
            &server,
            "/api/v1/terms?type=term&school_year=2027&limit=200",
            &teacher,
        ),
        200,
    );
    assert!(page.to_string().contains(&term));
    assert_eq!(
        status_as(&server, "GET", "/api/v1/terms?type=season", &teacher),
        400
    );
    assert_eq!(
        status_as(&server, "GET", &format!("/api/v1/terms/{NOBODY}"), &teacher),
        404
    );
    assert_eq!(status_as(&server, "GET", "/api/v1/terms/x", &teacher), 400);
    assert_eq!(no_credential(&server, "GET", &path, None).status, 401);
    // Patch: the registrar (classes.write for the institution); 412; 422; 403; 404; 401.
    let r = call_with(
        &server,
        "PATCH",
        &path,
        &registrar,
        &[("If-Match", &before)],
        Some(&json!({"title": "Spring"})),
    );
    assert_eq!(ok(&r, 200)["title"], "Spring");
    let r = call_with(
        &server,
        "PATCH",
        &path,
        &registrar,
        &[("If-Match", &before)],
        Some(&json!({"title": "Stale"})),
    );
    assert_eq!(r.status, 412);
    let r = send(
        &server,
        "PATCH",
        &path,
        &registrar,
        json!({"end_date": "2027-01-01"}),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        bad_fields(&send(
            &server,
            "PATCH",
            &path,
            &registrar,
            json!({"type": "season"})
        )),
        ["type"]
    );
    assert_eq!(
        send(&server, "PATCH", &path, &teacher, json!({"title": "Mine"})).status,
        403
    );
    assert_eq!(
        send(
            &server,
            "PATCH",
            &format!("/api/v1/terms/{NOBODY}"),
            &registrar,
            json!({"title": "x"})
        )
        .status,
        404
    );
    assert_eq!(
        no_credential(&server, "PATCH", &path, Some(&json!({"title": "x"}))).status,
        401
    );
    assert_eq!(ok(&get(&server, &path, &teacher), 200)["title"], "Spring");
}

#[test]
fn course_reads_and_patches_keep_to_the_department() {
    let server = TestServer::spawn(&[]);
    let admin = token(&server, "admin");
    let registrar = token(&server, "registrar");
    let (a, _) = new_department(&server, &admin);
    let (b, _) = new_department(&server, &admin);
    let t = tag();
    let course_a = create(
        &server,
        &registrar,
        "/api/v1/courses",
        json!({"title": "Geology", "course_code": format!("GEO{t}"), "credits": 3, "department": a}),
    );
    let course_b = create(
        &server,
        &registrar,
        "/api/v1/courses",
        json!({"title": "Botany", "course_code": format!("BOT{t}"), "credits": 3, "department": b}),
    );
    // A registrar of department B only.
    let (clerk, clerk_name, _) = hire(&server, &admin, &b, "administrator");
    bind(&server, &admin, &clerk, "registrar", &b);
    let b_registrar = token(&server, &clerk_name);
    let path_a = format!("/api/v1/courses/{course_a}");
    let path_b = format!("/api/v1/courses/{course_b}");
    // Reads: the catalogue is open to every caller; 304; 404; 401; a bad filter is 400.
    let r = get(&server, &path_a, &b_registrar);
    let before = etag_of(&r);
    assert_eq!(ok(&r, 200)["course_code"], format!("GEO{t}"));
    assert_eq!(
        call_with(
            &server,
            "GET",
            &path_a,
            &b_registrar,
            &[("If-None-Match", &before)],
            None
        )
        .status,
        304
    );
    let list = ok(
        &get(
            &server,
            &format!("/api/v1/courses?department={a}"),
            &b_registrar,
        ),
        200,
    );
    assert_eq!(list["courses"][0]["sourced_id"], course_a.as_str());
    assert_eq!(
        status_as(
            &server,
            "GET",
            "/api/v1/courses?department=nope",
            &b_registrar
        ),
        400
    );
    assert_eq!(
        status_as(
            &server,
            "GET",
            &format!("/api/v1/courses/{NOBODY}"),
            &b_registrar
        ),
        404
    );
    assert_eq!(no_credential(&server, "GET", &path_a, None).status, 401);
    // Patch: in their department only; 409; 412; 422; 404; 401.
    assert_eq!(
        ok(
            &send(
                &server,
                "PATCH",
                &path_b,
                &b_registrar,
                json!({"title": "Plant biology"})
            ),
            200
        )["title"],
        "Plant biology"
    );
    assert_eq!(
        send(
            &server,
            "PATCH",
            &path_a,
            &b_registrar,
            json!({"title": "Rocks"})
        )
        .status,
        403
    );
    // Moving B's course into A needs the right in A too.
    assert_eq!(
        send(
            &server,
            "PATCH",
            &path_b,
            &b_registrar,
            json!({"department": a})
        )
        .status,
        403
    );
    let r = send(
        &server,
        "PATCH",
        &path_b,
        &registrar,
        json!({"course_code": format!("GEO{t}"), "department": a}),
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let r = call_with(
        &server,
        "PATCH",
        &path_a,
        &registrar,
        &[("If-Match", &before)],
        Some(&json!({"title": "Earth science"})),
    );
    ok(&r, 200);
    let r = call_with(
        &server,
        "PATCH",
        &path_a,
        &registrar,
        &[("If-Match", &before)],
        Some(&json!({"title": "Stale"})),
    );
    assert_eq!(r.status, 412);
    assert_eq!(
        bad_fields(&send(
            &server,
            "PATCH",
            &path_a,
            &registrar,
            json!({"credits": -1})
        )),
        ["credits"]
    );
    assert_eq!(
        send(
            &server,
            "PATCH",
            &format!("/api/v1/courses/{NOBODY}"),
            &registrar,
            json!({"title": "x"})
        )
        .status,
        404
    );
    assert_eq!(
        no_credential(&server, "PATCH", &path_a, Some(&json!({"title": "x"}))).status,
        401
    );
    assert_eq!(
        ok(&get(&server, &path_a, &admin), 200)["title"],
        "Earth science"
    );
}
