//! A fleet on one machine (scripts/fleet): two instances behind HAProxy with TLS, on the
//! throwaway stack. Constant-rate load through the balancer while one instance is stopped with
//! SIGTERM and started again: no request fails. Rate limits key on the client the balancer
//! names. A role binding and an attendance mark made through one instance are read back
//! through the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::campus::{send_text, status_as};
use common::{access_token, call, eventually, repo, sql_one, TestServer};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const LIMITS: &str = "anonymous=5/1m,authenticated=100000/1s,auth=off,login=off,credentials=off";

fn fleet(args: &[&str], port: u16, http_port: u16) -> (bool, String) {
    let out = Command::new(repo().join("scripts/fleet"))
        .args(args)
        .env("FLEET_BIN", env!("CARGO_BIN_EXE_campushub"))
        .env("FLEET_PORT", port.to_string())
        .env("FLEET_HTTP_PORT", http_port.to_string())
        .env("CAMPUSHUB_RATE_LIMITS", LIMITS)
        .output()
        .expect("run scripts/fleet");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Takes the fleet down even when the test fails.
struct Down(u16, u16);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = fleet(&["down"], self.0, self.1);
    }
}

fn fleet_dir() -> PathBuf {
    PathBuf::from(common::stack_env("CAMPUSHUB_STACK_DIR")).join("fleet")
}

/// https_load.py's summary.
fn load(url: &str, rate: u32, secs: f64, token: Option<&str>, source: &str) -> serde_json::Value {
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("scripts/lib/https_load.py"))
        .args(["--url", url, "--ca"])
        .arg(fleet_dir().join("ca.pem"))
        .args(["--rate", &rate.to_string(), "--duration", &secs.to_string()])
        .args(["--connections", "8", "--source", source]);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let out = cmd.output().expect("run https_load.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn requests_served(server: &TestServer) -> f64 {
    let (_, m) = {
        let r = call(server, "GET", "/metrics", None, None);
        (r.status, r)
    };
    common::metric_sum(
        &String::from_utf8_lossy(&m.body),
        "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/api/v1/departments\"",
    )
}

#[test]
fn a_fleet_behind_haproxy_loses_no_request_and_agrees_with_itself() {
    let (port, http_port) = (free_port(), free_port());
    let _down = Down(port, http_port);
    let (ok, out) = fleet(&["up", "2"], port, http_port);
    assert!(ok, "scripts/fleet up failed: {out}");
    let ports: Vec<u16> = std::fs::read_to_string(fleet_dir().join("ports"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let one = TestServer::at(([127, 0, 0, 1], ports[0]).into());
    let two = TestServer::at(([127, 0, 0, 1], ports[1]).into());
    let base = format!("https://127.0.0.1:{port}");

    // Constant-rate load through the balancer; instance 1 leaves and comes back midway.
    let token = access_token(&two, "registrar");
    let url = format!("{base}/api/v1/departments?limit=1");
    let runner = {
        let (url, token) = (url.clone(), token.clone());
        std::thread::spawn(move || load(&url, 100, 12.0, Some(&token), "127.0.0.1"))
    };
    std::thread::sleep(Duration::from_secs(3));
    let (ok, out) = fleet(&["stop", "1"], port, http_port);
    assert!(ok, "{out}");
    std::thread::sleep(Duration::from_secs(2));
    let (ok, out) = fleet(&["start", "1"], port, http_port);
    assert!(ok, "{out}");
    let summary = runner.join().unwrap();
    eprintln!("load through HAProxy: {summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["ok"], summary["sent"], "{summary}");
    assert_eq!(
        summary["hsts"], summary["ok"],
        "HSTS on every response: {summary}"
    );
    // Both served: the restarted one rejoined the rotation (its counters began again at 0).
    assert!(
        requests_served(&one) > 0.0,
        "instance 1 never came back into rotation"
    );
    assert!(requests_served(&two) > 0.0);

    // Plain HTTP is sent to HTTPS.
    let r = String::from_utf8_lossy(&common::raw_from(
        &TestServer::at(([127, 0, 0, 1], http_port).into()),
        [127, 0, 0, 1].into(),
        b"GET /api/v1/departments HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ))
    .into_owned();
    assert!(r.starts_with("HTTP/1.1 308"), "{r}");
    assert!(
        r.contains("location: https://127.0.0.1") || r.contains("Location: https://127.0.0.1"),
        "{r}"
    );

    // Rate limits key on the client HAProxy names: 127.0.0.2 spends both instances' anonymous
    // budgets (5 a minute each; 24 requests, round robin), and 127.0.0.3 still has its own.
    // Keyed on the balancer's address instead, 127.0.0.3 would find both budgets spent.
    let spent = load(&url, 40, 0.6, None, "127.0.0.2");
    assert_eq!(spent["statuses"]["200"], 10, "{spent}");
    assert_eq!(spent["statuses"]["429"], 14, "{spent}");
    let other = load(&url, 20, 0.2, None, "127.0.0.3");
    assert_eq!(other["statuses"]["200"], 4, "{other}");

    // A role binding made through instance 1 is enforced by instance 2, and so is its removal.
    let admin = access_token(&one, "admin");
    let faculty = access_token(&two, "faculty5");
    // What faculty5 gets from instance 2 for the roles list.
    let roles_on_two = || status_as(&two, "GET", "/api/v1/roles", &faculty);
    assert_eq!(roles_on_two(), 403);
    let bind = serde_json::json!({
        "user": sql_one("SELECT sourced_id FROM users WHERE username = 'faculty5'"),
        "role": "admin",
        "scope": {"type": "institution", "sourced_id": sql_one("SELECT sourced_id FROM orgs WHERE type = 'institution'")},
    })
    .to_string();
    let r = send_text(&one, "POST", "/api/v1/role-bindings", &admin, &bind);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let binding = r.json()["sourced_id"].as_str().unwrap().to_string();
    assert!(eventually(Duration::from_secs(5), || roles_on_two() == 200));
    let path = format!("/api/v1/role-bindings/{binding}");
    assert_eq!(status_as(&one, "DELETE", &path, &admin), 204);
    assert!(eventually(Duration::from_secs(5), || roles_on_two() == 403));

    // An attendance mark made through instance 1 reads back through instance 2.
    let session = sql_one(
        "SELECT s.sourced_id FROM attendance_sessions s WHERE EXISTS (SELECT 1 FROM enrollments e
             WHERE e.class_id = s.class_id AND e.role = 'student' AND e.status = 'active')
         ORDER BY s.session_date DESC, s.id LIMIT 1",
    );
    let student = sql_one(&format!(
        "SELECT u.sourced_id FROM attendance_sessions s JOIN enrollments e ON e.class_id = s.class_id
             AND e.role = 'student' AND e.status = 'active' JOIN users u ON u.id = e.user_id
         WHERE s.sourced_id = '{session}' ORDER BY u.id LIMIT 1"
    ));
    let body = serde_json::json!({"records": [{"student": student, "code": "L"}]}).to_string();
    let r = send_text(
        &one,
        "PUT",
        &format!("/api/v1/attendance-sessions/{session}/records"),
        &admin,
        &body,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = call(
        &two,
        "GET",
        &format!("/api/v1/attendance-sessions/{session}"),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200);
    let records = r.json()["records"].as_array().unwrap().clone();
    assert!(
        records
            .iter()
            .any(|x| x["student"]["sourced_id"] == student.as_str() && x["code"] == "L"),
        "{records:?}"
    );
}
