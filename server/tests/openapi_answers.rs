//! Every answer against the document: the test drives every operation of `/openapi.json` on
//! the real stack (its success, and the refusals each can give: 400, 401, 403, 404, 409, 412,
//! 413, 415, 422, 304, then 429 and 503 from servers set up to give them) and holds each
//! answer against the document the server serves, with an independent JSON Schema validator
//! (`scripts/lib/check_answers.py`, openapi-schema-validator; a missing tool fails the test).
//! An answer fails when its status is not documented for its operation, its media type is not
//! the documented one, or its body does not validate (object schemas closed: a member the
//! document does not name fails); and a request body the server took (2xx) must validate
//! against the documented request schema. The test also fails when an operation's success was never
//! seen, or a status documented somewhere was never answered anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use campushub::auth::{links, totp};
use campushub_db::queries::accounts::Purpose;
use common::campus::{build_campus, give_password, id_of, new_quiz, open_session};
use common::{access_token, now_s, parse_responses, Resp, TestServer};
use serde_json::{json, Value};

/// A made-up public id: no record has it.
const NOBODY: &str = "00000000-0000-4000-8000-00000000abcd";

/// The answers seen, each with the operation (template) it belongs to.
struct Answers<'s> {
    /// The server most requests go to.
    server: &'s TestServer,
    doc: Value,
    lines: Vec<String>,
    /// (method, template) -> statuses answered.
    seen: BTreeMap<(String, String), BTreeSet<u16>>,
    /// (method, template) -> a concrete path that reached it.
    paths: BTreeMap<(String, String), String>,
}

/// One request, as the test wants it sent.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    token: Option<&'a str>,
    body: Option<&'a str>,
    content_type: &'a str,
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> Req<'a> {
    fn new(method: &'a str, path: &'a str, token: Option<&'a str>) -> Self {
        Req {
            method,
            path,
            token,
            body: None,
            content_type: "application/json",
            headers: &[],
        }
    }
    fn body(mut self, body: &'a str) -> Self {
        self.body = Some(body);
        self
    }
}

impl<'s> Answers<'s> {
    fn new(server: &'s TestServer) -> Answers<'s> {
        let r = common::call(server, "GET", "/openapi.json", None, None);
        assert_eq!(r.status, 200);
        Answers {
            server,
            doc: r.json(),
            lines: Vec::new(),
            seen: BTreeMap::new(),
            paths: BTreeMap::new(),
        }
    }

    /// The documented template `path` (without its query) belongs to.
    fn template(&self, path: &str) -> String {
        let path = path.split('?').next().unwrap();
        let segs: Vec<&str> = path.split('/').collect();
        for t in self.doc["paths"].as_object().unwrap().keys() {
            let tsegs: Vec<&str> = t.split('/').collect();
            if tsegs.len() == segs.len()
                && tsegs
                    .iter()
                    .zip(&segs)
                    .all(|(a, b)| a == b || (a.starts_with('{') && !b.is_empty()))
            {
                return t.clone();
            }
        }
        panic!("{path} matches no documented path");
    }

    fn send(&mut self, server: &TestServer, r: Req<'_>) -> Resp {
        let mut head = format!("{} {} HTTP/1.1\r\nHost: t\r\n", r.method, r.path);
        if let Some(t) = r.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        for (k, v) in r.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = r.body {
            head.push_str(&format!(
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                r.content_type,
                b.len()
            ));
        }
        head.push_str("Connection: close\r\n\r\n");
        head.push_str(r.body.unwrap_or(""));
        let resp = parse_responses(&server.raw(head.as_bytes()), &[false]).remove(0);
        let request = r.body.filter(|_| r.content_type == "application/json");
        self.record_request(r.method, r.path, request, &resp);
        resp
    }

    fn record(&mut self, method: &str, path: &str, resp: &Resp) {
        self.record_request(method, path, None, resp);
    }

    /// Records the answer, and the JSON body that drew it (checked against the documented
    /// request schema when the answer is a success).
    fn record_request(&mut self, method: &str, path: &str, request: Option<&str>, resp: &Resp) {
        let template = self.template(path);
        let key = (method.to_string(), template.clone());
        self.seen
            .entry(key.clone())
            .or_default()
            .insert(resp.status);
        if (200..300).contains(&resp.status) {
            self.paths.entry(key).or_insert_with(|| path.to_string());
        }
        self.lines.push(
            json!({
                "method": method,
                "template": template,
                "path": path,
                "status": resp.status,
                "content_type": resp.header("Content-Type").unwrap_or(""),
                "body": String::from_utf8_lossy(&resp.body),
                "request": request,
            })
            .to_string(),
        );
    }

    /// `method path` as `token` with the JSON `body`, which must answer `status`; the answer's
    /// JSON (Null when empty).
    fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        status: u16,
    ) -> Value {
        let mut r = Req::new(method, path, token);
        r.body = body;
        let server = self.server;
        self.expect(server, r, status)
    }

    /// The request, and the status it must answer; the answer's JSON (Null when empty).
    fn expect(&mut self, server: &TestServer, r: Req<'_>, status: u16) -> Value {
        let what = format!("{} {}", r.method, r.path);
        let resp = self.send(server, r);
        assert_eq!(
            resp.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        if resp.body.is_empty() || !resp.header("Content-Type").unwrap_or("").contains("json") {
            Value::Null
        } else {
            resp.json()
        }
    }

    /// Every documented operation as (method, template, documented statuses, has body).
    fn operations(&self) -> Vec<(String, String, BTreeSet<u16>, bool)> {
        let mut out = Vec::new();
        for (t, item) in self.doc["paths"].as_object().unwrap() {
            for (m, op) in item.as_object().unwrap() {
                let statuses = op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|s| s.parse().unwrap())
                    .collect();
                out.push((
                    m.to_uppercase(),
                    t.clone(),
                    statuses,
                    op.get("requestBody").is_some(),
                ));
            }
        }
        out
    }
}

fn tok(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap().to_string()
}

#[test]
fn every_answer_of_every_operation_validates_against_the_document() {
    let docs = std::env::var("CAMPUSHUB_DOCS_DIR")
        .expect("CAMPUSHUB_DOCS_DIR (scripts/test installs the renderer and sets it)");
    let server = TestServer::spawn(&[("CAMPUSHUB_PROFILING", "on"), ("CAMPUSHUB_DOCS_DIR", &docs)]);
    let mut a = Answers::new(&server);
    let admin = access_token(&server, "admin");
    let registrar = access_token(&server, "registrar");
    let c = build_campus(&server, &admin, &registrar, 4);
    let teacher = access_token(&server, &c.teacher_name);
    for name in &c.student_names {
        give_password(name);
    }
    let student = access_token(&server, &c.student_names[0]);

    // Operators' and public routes.
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/redoc.standalone.js",
    ] {
        a.call("GET", path, None, None, 200);
    }
    a.call(
        "GET",
        "/debug/pprof/profile?seconds=1",
        Some(&admin),
        None,
        200,
    );
    a.call(
        "GET",
        "/debug/pprof/profile?seconds=0",
        Some(&admin),
        None,
        400,
    );
    a.call("POST", "/api/v1/admin/cache/clear", Some(&admin), None, 200);

    // Departments.
    a.call("GET", "/api/v1/departments?limit=2", None, None, 200);
    let dept = format!("/api/v1/departments/{}", c.dept);
    a.call("GET", &dept, None, None, 200);
    let patch = json!({"name": format!("Dept {} renamed", c.t)}).to_string();
    a.call("PATCH", &dept, Some(&admin), Some(&patch), 200);
    a.call("GET", &format!("{dept}/summary"), Some(&admin), None, 200);
    let new_dept =
        json!({"name": format!("Dept2 {}", c.t), "identifier": format!("E{}", c.t)}).to_string();
    a.call(
        "POST",
        "/api/v1/departments",
        Some(&admin),
        Some(&new_dept),
        201,
    );
    a.call(
        "POST",
        "/api/v1/departments",
        Some(&admin),
        Some(&new_dept),
        409,
    );

    // The caller's own session and credentials, on students of the new class.
    a.call("GET", "/api/v1/me", Some(&student), None, 200);
    a.call("GET", "/api/v1/me/permissions", Some(&student), None, 200);
    let login =
        |user: &str, password: &str| json!({"username": user, "password": password}).to_string();
    let pair = a.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&login(&c.student_names[1], "campushub-demo")),
        200,
    );
    a.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&login(&c.student_names[1], "wrong")),
        401,
    );
    // Wrong passwords: throttled (429), then the account locked from this address (423).
    let mut locked = false;
    for _ in 0..12 {
        let r = a.send(
            &server,
            Req::new("POST", "/api/v1/auth/login", None).body(&login(&c.student_names[1], "wrong")),
        );
        match r.status {
            423 => {
                locked = true;
                break;
            }
            429 => {
                let wait: u64 = r.header("Retry-After").unwrap().parse().unwrap();
                std::thread::sleep(Duration::from_secs(wait));
            }
            s => assert_eq!(s, 401),
        }
    }
    assert!(locked, "five failures did not lock the account");
    let refresh = json!({"refresh_token": tok(&pair, "refresh_token")}).to_string();
    let pair = a.call("POST", "/api/v1/auth/refresh", None, Some(&refresh), 200);
    a.call("POST", "/api/v1/auth/refresh", None, Some(&refresh), 401);
    let refresh = json!({"refresh_token": tok(&pair, "refresh_token")}).to_string();
    a.call("POST", "/api/v1/auth/logout", None, Some(&refresh), 204);

    // MFA: enrol, the two-step log-in, a wrong code, removal (codes a step apart).
    let mfa_user = &c.student_names[2];
    let mfa_token = access_token(&server, mfa_user);
    let enrol = a.call(
        "POST",
        "/api/v1/auth/mfa/enroll",
        Some(&mfa_token),
        None,
        200,
    );
    let secret = totp::base32_decode(enrol["secret"].as_str().unwrap()).unwrap();
    if now_s() % totp::STEP_S > totp::STEP_S - 4 {
        std::thread::sleep(Duration::from_secs(5));
    }
    let code = |offset: i64| json!({"code": common::totp_code(&secret, offset)}).to_string();
    a.call(
        "POST",
        "/api/v1/auth/mfa/enroll",
        Some(&mfa_token),
        Some(&code(-1)),
        200,
    );
    a.call(
        "POST",
        "/api/v1/auth/mfa/enroll",
        Some(&mfa_token),
        None,
        409,
    );
    let challenge = a.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&login(mfa_user, "campushub-demo")),
        401,
    );
    let verify = |code: String| {
        let code: Value = serde_json::from_str(&code).unwrap();
        json!({"challenge": challenge["challenge"], "code": code["code"]}).to_string()
    };
    a.call(
        "POST",
        "/api/v1/auth/mfa/verify",
        None,
        Some(&verify(code(-1))),
        401,
    );
    let pair = a.call(
        "POST",
        "/api/v1/auth/mfa/verify",
        None,
        Some(&verify(code(0))),
        200,
    );
    let mfa_token = tok(&pair, "access_token");
    a.call(
        "POST",
        "/api/v1/auth/mfa/disable",
        Some(&mfa_token),
        Some(&code(1)),
        200,
    );
    let pw_token = access_token(&server, &c.student_names[3]);
    let change = json!({"current_password": "campushub-demo", "new_password": format!("a new and long passphrase {}", c.t)}).to_string();
    a.call(
        "POST",
        "/api/v1/auth/password",
        Some(&pw_token),
        Some(&change),
        204,
    );

    // Invitations and password resets. The tokens a worker would email are derived here the
    // way the worker derives them (no worker runs in this test).
    let key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(common::stack_env("CAMPUSHUB_LINK_KEY"))
            .unwrap()
    };
    let invitee_email = format!("confinv{}@campus.example", c.t);
    let invitee = a.call(
        "POST",
        "/api/v1/staff",
        Some(&admin),
        Some(&json!({"username": format!("confinv{}", c.t), "given_name": "In", "family_name": "Vitee", "role": "teacher", "email": invitee_email, "employee_number": format!("CI{}", c.t), "designation": "Tutor", "department": c.dept}).to_string()),
        201,
    );
    let invite_path = format!("/api/v1/users/{}/invitation", id_of(&invitee));
    let invitation = a.call("POST", &invite_path, Some(&registrar), None, 202);
    let link_id = uuid::Uuid::parse_str(invitation["invitation"].as_str().unwrap()).unwrap();
    let token = links::token(&key, Purpose::Invitation, link_id);
    let first = format!("a first password {}", c.t);
    let accept = json!({"token": token, "password": first}).to_string();
    a.call(
        "POST",
        "/api/v1/auth/invitation/accept",
        None,
        Some(&accept),
        204,
    );
    a.call(
        "POST",
        "/api/v1/auth/invitation/accept",
        None,
        Some(&accept),
        422,
    );
    a.call("POST", &invite_path, Some(&registrar), None, 409);
    let ask = json!({"email": invitee_email}).to_string();
    a.call("POST", "/api/v1/auth/password-reset", None, Some(&ask), 202);
    let reset_id = uuid::Uuid::new_v4();
    let reset = links::token(&key, Purpose::Reset, reset_id);
    common::sql_one(&format!(
        "SELECT outcome FROM password_reset_issue('{invitee_email}', '{reset_id}', \
         sha256(convert_to('{reset}', 'UTF8')), 1800, NULL, 3)"
    ));
    let confirm =
        json!({"token": reset, "password": format!("a reset password {}", c.t)}).to_string();
    a.call(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        None,
        Some(&confirm),
        204,
    );
    // Reports: asked for, rendered by a worker, read.
    let ask = json!({"kind": "attendance_certificate", "subject": c.students[0], "from": "2026-10-01", "to": "2026-10-31"}).to_string();
    let report = a.call("POST", "/api/v1/reports", Some(&registrar), Some(&ask), 202);
    let report_path = format!("/api/v1/reports/{}", report["sourced_id"].as_str().unwrap());
    a.call("GET", &report_path, Some(&registrar), None, 200);
    a.call(
        "GET",
        &format!("{report_path}/file"),
        Some(&registrar),
        None,
        409,
    );
    let worker = common::worker::Worker::spawn(&[]);
    let rendered = common::eventually(Duration::from_secs(30), || {
        a.send(
            &server,
            Req::new("GET", &format!("{report_path}/file"), Some(&registrar)),
        )
        .status
            == 200
    });
    assert!(rendered, "the report was not rendered");
    drop(worker);
    a.call("GET", &report_path, Some(&registrar), None, 200);

    // Notices: one's own choices, and an unsubscribe link (its token derived as the worker does).
    a.call("GET", "/api/v1/me/notifications", Some(&student), None, 200);
    let choose = json!({"absence": false}).to_string();
    a.call(
        "PATCH",
        "/api/v1/me/notifications",
        Some(&student),
        Some(&choose),
        200,
    );
    let me = uuid::Uuid::parse_str(&c.students[0]).unwrap();
    let stop = json!({"user": me, "kind": "results", "token": links::unsubscribe_token(&key, me, "results")}).to_string();
    a.call(
        "POST",
        "/api/v1/notifications/unsubscribe",
        None,
        Some(&stop),
        200,
    );
    let forged = json!({"user": me, "kind": "absence", "token": links::unsubscribe_token(&key, me, "results")}).to_string();
    a.call(
        "POST",
        "/api/v1/notifications/unsubscribe",
        None,
        Some(&forged),
        422,
    );
    a.call("GET", "/account/unsubscribe", None, None, 200);
    a.call(
        "GET",
        "/api/v1/admin/notification-settings",
        Some(&admin),
        None,
        200,
    );
    let settings = json!({"absence_delay_s": 900}).to_string();
    a.call(
        "PATCH",
        "/api/v1/admin/notification-settings",
        Some(&admin),
        Some(&settings),
        200,
    );
    for page in [
        "/account/invitation",
        "/account/reset",
        "/account/account.js",
        "/account/account.css",
    ] {
        a.call("GET", page, None, None, 200);
    }

    // Roles, bindings, explanations.
    a.call("GET", "/api/v1/roles", Some(&admin), None, 200);
    let role = format!("conf_{}", c.t);
    let new_role =
        json!({"name": role, "description": "Conformance", "permissions": ["students.read"]})
            .to_string();
    a.call("POST", "/api/v1/roles", Some(&admin), Some(&new_role), 201);
    a.call("POST", "/api/v1/roles", Some(&admin), Some(&new_role), 409);
    let role_path = format!("/api/v1/roles/{role}");
    a.call("GET", &role_path, Some(&admin), None, 200);
    let role_patch = json!({"description": "Conformance, changed"}).to_string();
    a.call("PATCH", &role_path, Some(&admin), Some(&role_patch), 200);
    a.call("GET", "/api/v1/roles/no_such_role", Some(&admin), None, 404);
    let institution =
        common::sql_one("SELECT sourced_id FROM orgs WHERE type = 'institution' LIMIT 1");
    let bind = json!({"user": c.teacher, "role": role, "scope": {"type": "institution", "sourced_id": institution}}).to_string();
    let binding = a.call(
        "POST",
        "/api/v1/role-bindings",
        Some(&admin),
        Some(&bind),
        201,
    );
    a.call("DELETE", &role_path, Some(&admin), None, 409);
    a.call(
        "GET",
        &format!("/api/v1/role-bindings?user={}", c.teacher),
        Some(&admin),
        None,
        200,
    );
    let explain =
        json!({"user": c.teacher, "permission": "students.read", "student": c.students[0]})
            .to_string();
    a.call(
        "POST",
        "/api/v1/authz/explain",
        Some(&admin),
        Some(&explain),
        200,
    );
    a.call(
        "DELETE",
        &format!("/api/v1/role-bindings/{}", id_of(&binding)),
        Some(&admin),
        None,
        204,
    );
    a.call("DELETE", &role_path, Some(&admin), None, 204);

    // The job queue: a job due tomorrow (no worker takes it meanwhile), cancelled, retried.
    let job = common::sql_one(
        "SELECT job_id FROM job_enqueue('noop', '{}'::jsonb, 100, now() + interval '1 day')",
    );
    let job_path = format!("/api/v1/admin/jobs/{job}");
    a.call(
        "GET",
        "/api/v1/admin/jobs?state=ready&kind=noop&limit=2",
        Some(&admin),
        None,
        200,
    );
    a.call(
        "GET",
        "/api/v1/admin/jobs?state=lost",
        Some(&admin),
        None,
        400,
    );
    a.call("GET", &job_path, Some(&admin), None, 200);
    a.call(
        "POST",
        &format!("{job_path}/retry"),
        Some(&admin),
        None,
        409,
    );
    a.call(
        "POST",
        &format!("{job_path}/cancel"),
        Some(&admin),
        None,
        200,
    );
    a.call(
        "POST",
        &format!("{job_path}/cancel"),
        Some(&admin),
        None,
        409,
    );
    a.call(
        "POST",
        &format!("{job_path}/retry"),
        Some(&admin),
        None,
        200,
    );

    // API keys and the audit trail.
    let new_key = json!({"name": format!("conf-{}", c.t), "expires_in_days": 1, "bindings": [{"role": "registrar", "scope": {"type": "institution", "sourced_id": institution}}]}).to_string();
    let key = a.call(
        "POST",
        "/api/v1/api-keys",
        Some(&admin),
        Some(&new_key),
        201,
    );
    a.call("GET", "/api/v1/api-keys", Some(&admin), None, 200);
    a.call(
        "DELETE",
        &format!("/api/v1/api-keys/{}", id_of(&key)),
        Some(&admin),
        None,
        204,
    );
    a.call(
        "GET",
        "/api/v1/audit-events?limit=20",
        Some(&admin),
        None,
        200,
    );

    // People.
    let student_path = format!("/api/v1/students/{}", c.students[0]);
    let got = a.send(&server, Req::new("GET", &student_path, Some(&registrar)));
    assert_eq!(got.status, 200);
    let etag = got.header("ETag").unwrap().to_string();
    a.expect(
        &server,
        Req {
            headers: &[("If-None-Match", &etag)],
            ..Req::new("GET", &student_path, Some(&registrar))
        },
        304,
    );
    let student_patch = json!({"program": "BSc Astrophysics"}).to_string();
    a.expect(
        &server,
        Req {
            headers: &[("If-Match", "\"stale\"")],
            ..Req::new("PATCH", &student_path, Some(&registrar)).body(&student_patch)
        },
        412,
    );
    a.expect(
        &server,
        Req {
            headers: &[("If-Match", &etag)],
            ..Req::new("PATCH", &student_path, Some(&registrar)).body(&student_patch)
        },
        200,
    );
    a.call(
        "GET",
        &format!("/api/v1/students?department={}&limit=2", c.dept),
        Some(&registrar),
        None,
        200,
    );
    a.call(
        "GET",
        &format!(
            "/api/v1/students?department={}&fields=username,roll_number",
            c.dept
        ),
        Some(&registrar),
        None,
        200,
    );
    a.call(
        "GET",
        "/api/v1/students?limit=0",
        Some(&registrar),
        None,
        400,
    );
    let admit = |n: &str| {
        json!({"username": format!("conf{}{n}", c.t), "given_name": "Conf", "family_name": "Ormance", "roll_number": format!("C{}{n}", c.t), "program": "BSc", "year_of_study": 1, "department": c.dept}).to_string()
    };
    let leaver = a.call(
        "POST",
        "/api/v1/students",
        Some(&registrar),
        Some(&admit("a")),
        201,
    );
    a.call(
        "POST",
        "/api/v1/students",
        Some(&registrar),
        Some(&admit("a")),
        409,
    );
    let bad_student = json!({"username": "x", "given_name": "", "department": "nope"}).to_string();
    a.call(
        "POST",
        "/api/v1/students",
        Some(&registrar),
        Some(&bad_student),
        422,
    );
    a.call(
        "DELETE",
        &format!("/api/v1/students/{}", id_of(&leaver)),
        Some(&registrar),
        None,
        204,
    );
    for sub in [
        "enrollments",
        "results",
        "classes",
        "line-items",
        "timetable?from=2026-11-02&to=2026-11-08",
    ] {
        a.call(
            "GET",
            &format!("{student_path}/{sub}"),
            Some(&registrar),
            None,
            200,
        );
    }
    a.call(
        "GET",
        &format!("{student_path}/timetable?from=2026-11-08&to=2026-11-02"),
        Some(&registrar),
        None,
        400,
    );
    let guardians = format!("{student_path}/guardians");
    let link = json!({"relationship": "guardian", "new_guardian": {"username": format!("confg{}", c.t), "given_name": "Gus", "family_name": "Guard"}}).to_string();
    let linked = a.call("POST", &guardians, Some(&registrar), Some(&link), 201);
    a.call("POST", &guardians, Some(&registrar), Some(&link), 409);
    let no_one = json!({"relationship": "guardian", "guardian": NOBODY}).to_string();
    a.call("POST", &guardians, Some(&registrar), Some(&no_one), 422);
    a.call("GET", &guardians, Some(&registrar), None, 200);
    let gid = linked["guardians"][0]["guardian"]["sourced_id"]
        .as_str()
        .unwrap()
        .to_string();
    a.call(
        "DELETE",
        &format!("{guardians}?guardian={gid}"),
        Some(&registrar),
        None,
        204,
    );
    a.call(
        "DELETE",
        &format!("{guardians}?guardian={gid}"),
        Some(&registrar),
        None,
        404,
    );
    a.call("GET", "/api/v1/admin/institution", Some(&admin), None, 200);
    let zone = json!({"time_zone": "UTC"}).to_string();
    a.call(
        "PATCH",
        "/api/v1/admin/institution",
        Some(&admin),
        Some(&zone),
        200,
    );
    // The calendar, its closures, attendance codes and a rollover (of a campus of its own).
    a.call(
        "GET",
        "/api/v1/calendar?from=2026-11-01&to=2026-11-30",
        Some(&student),
        None,
        200,
    );
    a.call("GET", "/api/v1/calendar?from=x", Some(&student), None, 400);
    let closure = json!({"kind": "holiday", "title": format!("Conformance {}", c.t), "start_date": "2027-01-29", "end_date": "2027-01-29"}).to_string();
    let made = a.call(
        "POST",
        "/api/v1/calendar/closures",
        Some(&admin),
        Some(&closure),
        201,
    );
    let bad_closure = json!({"kind": "holiday", "title": "x", "start_date": "2027-01-29", "end_date": "2027-01-01"}).to_string();
    a.call(
        "POST",
        "/api/v1/calendar/closures",
        Some(&admin),
        Some(&bad_closure),
        422,
    );
    a.call(
        "DELETE",
        &format!("/api/v1/calendar/closures/{}", id_of(&made)),
        Some(&admin),
        None,
        204,
    );
    a.call(
        "GET",
        &format!("/api/v1/attendance-codes?department={}", c.dept),
        Some(&teacher),
        None,
        200,
    );
    let code_path = format!(
        "/api/v1/attendance-codes/OA{}?department={}",
        &c.t[..3],
        c.dept
    );
    let code = json!({"description": "Conformance", "category": "excused", "presence_fraction": 0})
        .to_string();
    a.call("PUT", &code_path, Some(&admin), Some(&code), 201);
    a.call("PUT", &code_path, Some(&admin), Some(&code), 200);
    let bad_code =
        json!({"description": "x", "category": "nope", "presence_fraction": 0}).to_string();
    a.call("PUT", &code_path, Some(&admin), Some(&bad_code), 422);
    let spare = build_campus(&server, &admin, &registrar, 1);
    let spare_class = a.call(
        "GET",
        &format!("/api/v1/classes/{}", spare.class),
        Some(&admin),
        None,
        200,
    );
    let spare_term = spare_class["term"]["sourced_id"]
        .as_str()
        .unwrap()
        .to_string();
    let next = json!({"title": format!("Next {}", c.t), "type": "term", "start_date": "2027-02-01", "end_date": "2027-06-30", "school_year": 2028}).to_string();
    let next = a.call("POST", "/api/v1/terms", Some(&registrar), Some(&next), 201);
    let rollover = format!("/api/v1/terms/{spare_term}/rollover");
    let dry = json!({"to": id_of(&next), "dry_run": true}).to_string();
    a.call("POST", &rollover, Some(&admin), Some(&dry), 200);
    let real = json!({"to": id_of(&next)}).to_string();
    a.call("POST", &rollover, Some(&admin), Some(&real), 200);
    let back = json!({"to": spare_term}).to_string();
    a.call(
        "POST",
        &format!("/api/v1/terms/{}/rollover", id_of(&next)),
        Some(&admin),
        Some(&back),
        422,
    );
    let bad_zone = json!({"time_zone": "Nowhere/Atall"}).to_string();
    a.call(
        "PATCH",
        "/api/v1/admin/institution",
        Some(&admin),
        Some(&bad_zone),
        422,
    );
    a.call(
        "GET",
        &format!("{student_path}/attendance?from=2026-09-01&to=2026-12-31"),
        Some(&student),
        None,
        200,
    );
    a.call("GET", "/api/v1/staff?limit=2", Some(&admin), None, 200);
    let hire = |n: &str| {
        json!({"username": format!("confstaff{}{n}", c.t), "given_name": "Sam", "family_name": "Staff", "role": "teacher", "employee_number": format!("CE{}{n}", c.t), "designation": "Tutor", "department": c.dept}).to_string()
    };
    let staff = a.call("POST", "/api/v1/staff", Some(&admin), Some(&hire("a")), 201);
    let staff_path = format!("/api/v1/staff/{}", id_of(&staff));
    a.call("GET", &staff_path, Some(&admin), None, 200);
    let staff_patch = json!({"designation": "Senior tutor"}).to_string();
    a.call("PATCH", &staff_path, Some(&admin), Some(&staff_patch), 200);
    a.call("DELETE", &staff_path, Some(&admin), None, 204);

    // The catalogue.
    a.call("GET", "/api/v1/terms?limit=2", Some(&registrar), None, 200);
    let term = json!({"title": format!("Conf term {}", c.t), "type": "term", "start_date": "2027-02-01", "end_date": "2027-06-30", "school_year": 2027}).to_string();
    let term = a.call("POST", "/api/v1/terms", Some(&registrar), Some(&term), 201);
    let term_path = format!("/api/v1/terms/{}", id_of(&term));
    a.call("GET", &term_path, Some(&registrar), None, 200);
    let title = json!({"title": format!("Conf renamed {}", c.t)}).to_string();
    a.call("PATCH", &term_path, Some(&registrar), Some(&title), 200);
    a.call(
        "GET",
        "/api/v1/courses?limit=2",
        Some(&registrar),
        None,
        200,
    );
    let course = json!({"title": "Optics", "course_code": format!("OPT{}", c.t), "credits": 2, "department": c.dept}).to_string();
    let course = a.call(
        "POST",
        "/api/v1/courses",
        Some(&registrar),
        Some(&course),
        201,
    );
    let course_path = format!("/api/v1/courses/{}", id_of(&course));
    a.call("GET", &course_path, Some(&registrar), None, 200);
    a.call("PATCH", &course_path, Some(&registrar), Some(&title), 200);
    a.call(
        "GET",
        "/api/v1/classes?mine=true",
        Some(&teacher),
        None,
        200,
    );
    let class = json!({"title": "Optics A", "class_code": format!("OPT{}-A", c.t), "periods": ["TUE-1"], "capacity": 20, "course": id_of(&course), "term": id_of(&term), "location": "Lab"}).to_string();
    let class = a.call(
        "POST",
        "/api/v1/classes",
        Some(&registrar),
        Some(&class),
        201,
    );
    let class_path = format!("/api/v1/classes/{}", id_of(&class));
    a.call("GET", &class_path, Some(&registrar), None, 200);
    a.call("PATCH", &class_path, Some(&registrar), Some(&title), 200);
    let enroll = json!({"users": [c.students[0]]}).to_string();
    let enrolled = a.call(
        "POST",
        &format!("{class_path}/enrollments"),
        Some(&registrar),
        Some(&enroll),
        201,
    );
    let the_class = format!("/api/v1/classes/{}", c.class);
    for sub in ["students", "enrollments"] {
        a.call(
            "GET",
            &format!("{the_class}/{sub}"),
            Some(&teacher),
            None,
            200,
        );
    }
    let enrollment = enrolled["enrollments"][0]["sourced_id"].as_str().unwrap();
    a.call(
        "DELETE",
        &format!("/api/v1/enrollments/{enrollment}"),
        Some(&registrar),
        None,
        204,
    );

    // Attendance.
    let sid = open_session(&server, &teacher, &c.class, "2026-11-02", 1);
    let open = json!({"date": "2026-11-04", "period": 1}).to_string();
    a.call(
        "POST",
        &format!("{the_class}/attendance-sessions"),
        Some(&teacher),
        Some(&open),
        201,
    );
    a.call(
        "POST",
        &format!("{the_class}/attendance-sessions"),
        Some(&teacher),
        Some(&open),
        409,
    );
    a.call(
        "GET",
        &format!("{the_class}/attendance-sessions?from=2026-11-01&to=2026-11-30"),
        Some(&teacher),
        None,
        200,
    );
    a.call(
        "GET",
        &format!("{the_class}/attendance-codes"),
        Some(&teacher),
        None,
        200,
    );
    let register = format!("/api/v1/attendance-sessions/{sid}");
    let marks: Vec<Value> = c
        .students
        .iter()
        .map(|s| json!({"student": s, "code": "P"}))
        .collect();
    let marks = json!({"records": marks}).to_string();
    a.call(
        "POST",
        &format!("{register}/submit"),
        Some(&teacher),
        None,
        422,
    );
    a.call(
        "PUT",
        &format!("{register}/records"),
        Some(&teacher),
        Some(&marks),
        200,
    );
    a.call("GET", &register, Some(&teacher), None, 200);
    a.call(
        "POST",
        &format!("{register}/submit"),
        Some(&teacher),
        None,
        200,
    );
    a.call(
        "GET",
        &format!("{the_class}/attendance/report?from=2026-11-01&to=2026-11-30"),
        Some(&teacher),
        None,
        200,
    );
    a.call(
        "GET",
        "/api/v1/attendance/not-taken?date=2026-11-02",
        Some(&admin),
        None,
        200,
    );

    // Exams and results.
    a.call(
        "GET",
        &format!("{the_class}/line-items"),
        Some(&teacher),
        None,
        200,
    );
    let item =
        json!({"title": "Final", "category": "exam", "max_score": 100, "due_date": "2027-01-20"})
            .to_string();
    a.call(
        "POST",
        &format!("{the_class}/line-items"),
        Some(&teacher),
        Some(&item),
        201,
    );
    let li = new_quiz(&server, &teacher, &c.class, "Quiz");
    let li_path = format!("/api/v1/line-items/{li}");
    a.call("GET", &li_path, Some(&teacher), None, 200);
    let li_patch = json!({"title": "Quiz one"}).to_string();
    a.call("PATCH", &li_path, Some(&teacher), Some(&li_patch), 200);
    let sheet = json!({"results": [{"student": c.students[0], "score": 8.5, "comment": "Good"}, {"student": c.students[1], "score_status": "exempt"}]}).to_string();
    a.call(
        "PUT",
        &format!("{li_path}/results"),
        Some(&teacher),
        Some(&sheet),
        200,
    );
    a.call(
        "GET",
        &format!("{li_path}/results"),
        Some(&teacher),
        None,
        200,
    );

    refusals(&mut a, &server, &student);
    limited(&mut a);
    unavailable(&mut a);
    check(&a);
}

/// The refusals every operation can give, driven on each with the path its success took: no
/// credential (401), a student's (403), a made-up or malformed id (404, 400), and for bodies an
/// unknown member (422), another media type (415) and too many bytes (413).
fn refusals(a: &mut Answers, server: &TestServer, student: &str) {
    let ops = a.operations();
    for (method, template, documented, has_body) in &ops {
        let key = (method.clone(), template.clone());
        let Some(path) = a.paths.get(&key).cloned() else {
            panic!("{method} {template}: the test never reached its success");
        };
        let path = path.split('?').next().unwrap().to_string();
        let body = has_body.then_some("{\"zz_not_a_member\": 1}");
        if documented.contains(&401) {
            let mut r = Req::new(method, &path, None);
            r.body = body;
            a.send(server, r);
        }
        if documented.contains(&403) {
            let mut r = Req::new(method, &path, Some(student));
            r.body = body;
            a.send(server, r);
        }
        if template.contains("{id}") {
            for id in [NOBODY, "not-an-id"] {
                let p = replace_id(template, &path, id);
                let mut r = Req::new(method, &p, Some(admin_token(server)));
                r.body = body;
                a.send(server, r);
            }
        }
        if *has_body {
            let admin = admin_token(server).to_string();
            a.send(
                server,
                Req::new(method, &path, Some(&admin)).body("{\"zz_not_a_member\": 1}"),
            );
            a.send(
                server,
                Req {
                    content_type: "text/plain",
                    ..Req::new(method, &path, Some(&admin)).body("{}")
                },
            );
            // The head alone announces too many bytes: answered before the body is read.
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: 1048577\r\nConnection: close\r\n\r\n"
            );
            let resp = parse_responses(&server.raw(head.as_bytes()), &[false]).remove(0);
            a.record(method, &path, &resp);
        }
    }
}

/// The admin's token, fetched once.
fn admin_token(server: &TestServer) -> &'static str {
    static ADMIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ADMIN.get_or_init(|| access_token(server, "admin"))
}

/// `path` (which matched `template`) with its `{id}` segment replaced by `id`.
fn replace_id(template: &str, path: &str, id: &str) -> String {
    template
        .split('/')
        .zip(path.split('/'))
        .map(|(t, p)| if t == "{id}" { id } else { p })
        .collect::<Vec<_>>()
        .join("/")
}

/// 429: a server whose anonymous limit is two requests a minute.
fn limited(a: &mut Answers) {
    let server = TestServer::spawn(&[("CAMPUSHUB_RATE_LIMITS", "anonymous=2/1m")]);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            a.send(&server, Req::new("GET", "/api/v1/departments", None))
                .status,
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// 503: a server whose path to PostgreSQL answers nothing; /readyz says so too.
fn unavailable(a: &mut Answers) {
    let db_url = common::stack_env("CAMPUSHUB_DATABASE_URL");
    let proxy = common::FaultProxy::start(common::url_addr(&db_url));
    let server = TestServer::spawn(&[
        (
            "CAMPUSHUB_DATABASE_URL",
            &common::with_port(&db_url, proxy.port),
        ),
        ("CAMPUSHUB_STATEMENT_TIMEOUT_MS", "500"),
    ]);
    let id = common::some_department_id(&server);
    proxy.blackhole(true);
    let path = format!("/api/v1/departments/{id}");
    a.expect(&server, Req::new("GET", &path, None), 503);
    let ready = common::eventually(Duration::from_secs(10), || {
        a.send(&server, Req::new("GET", "/readyz", None)).status == 503
    });
    assert!(ready, "/readyz never said the database was gone");
    proxy.blackhole(false);
}

/// Every answer validates; every operation's success was seen; every status the document
/// names somewhere was answered somewhere.
fn check(a: &Answers) {
    let dir = std::env::temp_dir();
    let doc_path = dir.join(format!("campushub-doc-{}.json", std::process::id()));
    let answers_path = dir.join(format!("campushub-answers-{}.jsonl", std::process::id()));
    std::fs::write(&doc_path, a.doc.to_string()).unwrap();
    let mut f = std::fs::File::create(&answers_path).unwrap();
    for line in &a.lines {
        writeln!(f, "{line}").unwrap();
    }
    drop(f);
    let checked = std::panic::catch_unwind(|| {
        common::run_ok(
            Command::new("python3")
                .arg(common::repo().join("scripts/lib/check_answers.py"))
                .arg(&doc_path)
                .arg(&answers_path),
            "check_answers.py (answers that do not match the document)",
        )
    });
    let _ = std::fs::remove_file(&doc_path);
    let _ = std::fs::remove_file(&answers_path);
    if let Err(failure) = checked {
        std::panic::resume_unwind(failure);
    }

    let mut documented_anywhere = BTreeSet::new();
    let mut answered_anywhere = BTreeSet::new();
    for (method, template, documented, _) in a.operations() {
        let seen = a
            .seen
            .get(&(method.clone(), template.clone()))
            .cloned()
            .unwrap_or_default();
        assert!(
            seen.iter().any(|s| (200..300).contains(s)),
            "{method} {template}: no success answer was checked"
        );
        documented_anywhere.extend(documented);
        answered_anywhere.extend(seen);
    }
    let never: Vec<_> = documented_anywhere.difference(&answered_anywhere).collect();
    assert!(never.is_empty(), "documented but never answered: {never:?}");
}
