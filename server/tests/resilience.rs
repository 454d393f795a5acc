//! Dependencies going away and coming back, and graceful shutdown. These tests stop and start
//! the throwaway stack's services, so they run one at a time (a lock below).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{eventually, parse_responses, psql, read_to_close, stack, TestServer};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn status_of(server: &TestServer, path: &str) -> (u16, common::Resp) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut r = parse_responses(&server.raw(req.as_bytes()), &[]);
    let r = r.remove(0);
    (r.status, r)
}

/// Whether `/readyz` answers 200 with `checks.<name>.status == status` (a degraded dependency
/// leaves the server ready).
fn ready_with(server: &TestServer, name: &str, status: &str) -> bool {
    let (code, r) = status_of(server, "/readyz");
    code == 200 && r.json()["checks"][name]["status"] == status
}

/// Restarts `service` even if the test body panics.
struct Restart(&'static str);

impl Drop for Restart {
    fn drop(&mut self) {
        stack("start", self.0);
    }
}

#[test]
fn database_down_gives_503_fast_and_recovers_by_itself() {
    let _g = serial();
    let server = TestServer::spawn(&[("CAMPUSHUB_STATEMENT_TIMEOUT_MS", "1500")]);
    let id = common::some_department_id(&server);
    let path = format!("/api/v1/departments/{id}");
    assert_eq!(status_of(&server, &path).0, 200);

    let restart = Restart("postgres");
    stack("stop", "postgres");
    let started = Instant::now();
    let (status, resp) = status_of(&server, &path);
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&resp.body));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within the statement timeout"
    );
    assert_eq!(resp.header("Retry-After"), Some("1"));
    assert_eq!(
        resp.header("Content-Type"),
        Some("application/problem+json")
    );
    assert_eq!(resp.json()["status"], 503);
    let (ready, body) = status_of(&server, "/readyz");
    assert_eq!(ready, 503);
    // A problem+json like every other error; the checks only because loopback clients are
    // operators while no ops token is set.
    assert_eq!(
        body.header("Content-Type"),
        Some("application/problem+json")
    );
    assert_eq!(body.json()["type"], "/problems/not-ready");
    assert_eq!(body.json()["checks"]["database"]["status"], "down");
    // Liveness does no I/O and stays up.
    assert_eq!(status_of(&server, "/healthz").0, 200);

    drop(restart);
    assert!(
        eventually(Duration::from_secs(30), || status_of(&server, &path).0
            == 200),
        "service did not recover after the database came back: {:?}",
        server.logs()
    );
    assert_eq!(status_of(&server, "/readyz").0, 200);
}

/// Reads `path` on a fresh connection; its status and how long the answer took.
fn timed_status(server: &TestServer, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _) = status_of(server, path);
    (status, started.elapsed())
}

/// The path to PostgreSQL blackholed (nothing comes back, nothing fails) and then cut: every
/// request is answered, a 503 within the statement timeout, never a hang; a connection that
/// answers nothing for a whole statement timeout is closed at once, so later requests get fast
/// 503s; and the server serves again by itself once the path works.
#[test]
fn database_path_blackholed_or_cut_gives_bounded_503s_and_recovers() {
    let _g = serial();
    let db_url = common::stack_env("CAMPUSHUB_DATABASE_URL");
    let proxy = common::FaultProxy::start(common::url_addr(&db_url));
    let timeout = Duration::from_millis(1000);
    let server = TestServer::spawn(&[
        (
            "CAMPUSHUB_DATABASE_URL",
            &common::with_port(&db_url, proxy.port),
        ),
        ("CAMPUSHUB_STATEMENT_TIMEOUT_MS", "1000"),
        ("CAMPUSHUB_DB_CONNECTIONS_PER_SHARD", "2"),
    ]);
    let id = common::some_department_id(&server);
    let path = format!("/api/v1/departments/{id}");
    assert_eq!(timed_status(&server, &path).0, 200);

    // The answer bound: the statement timeout, plus the loopback and the test's own slack.
    let bound = timeout + Duration::from_millis(700);
    proxy.blackhole(true);
    let mut took = Vec::new();
    for _ in 0..6 {
        let (status, t) = timed_status(&server, &path);
        assert_eq!(status, 503, "a blackholed database gives 503");
        assert!(t < bound, "answered in {t:?}, past the statement timeout");
        took.push(t);
    }
    // Both connections stalled and were closed: the requests after them did not wait.
    let fast = took.iter().filter(|t| **t < timeout / 2).count();
    assert!(fast >= 3, "later requests were not fast 503s: {took:?}");
    let (_, m) = status_of(&server, "/metrics");
    let stalls = common::metric_sum(
        &String::from_utf8_lossy(&m.body),
        "campushub_db_stalls_total",
    );
    assert!(stalls >= 1.0, "no stalled connection was closed");
    proxy.blackhole(false);
    assert!(
        eventually(Duration::from_secs(20), || timed_status(&server, &path).0
            == 200),
        "the server did not recover once the path worked: {:?}",
        server.logs()
    );

    // Cut every connection: answered at once (503) or served, then served again by itself.
    proxy.cut();
    let started = Instant::now();
    loop {
        let (status, t) = timed_status(&server, &path);
        assert!(t < bound, "answered in {t:?} after the cut");
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still failing 20 s after the cut: {:?}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status_of(&server, "/readyz").0, 200);
}

#[test]
fn redis_down_degrades_and_recovers() {
    let _g = serial();
    let server = TestServer::spawn(&[("CAMPUSHUB_RATE_LIMITS", "login=3/1m")]);
    let subscribed = |server: &TestServer| {
        let (_, m) = status_of(server, "/metrics");
        String::from_utf8_lossy(&m.body)
            .contains("campushub_invalidation_subscribed{shard=\"0\"} 1")
    };
    assert!(eventually(Duration::from_secs(10), || subscribed(&server)));
    let restart = Restart("redis");
    stack("stop", "redis");
    assert!(eventually(Duration::from_secs(10), || ready_with(
        &server, "redis", "down"
    )));
    let (_, r) = status_of(&server, "/readyz");
    assert_eq!(r.json()["status"], "degraded");
    // Requests that do not need Redis keep working.
    assert_eq!(status_of(&server, "/api/v1/departments?limit=1").0, 200);
    assert!(!subscribed(&server));
    // The shared log-in limit falls back to the shard's own limiter instead of failing open.
    let name = format!("nobody-redis-down-{}", std::process::id());
    let body = serde_json::json!({"username": name, "password": "x"}).to_string();
    let statuses: Vec<u16> = (0..4)
        .map(|_| common::call(&server, "POST", "/api/v1/auth/login", None, Some(&body)).status)
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429]);

    drop(restart);
    assert!(
        eventually(Duration::from_secs(20), || {
            let (_, r) = status_of(&server, "/readyz");
            r.json()["checks"]["redis"]["status"] == "up"
        }),
        "redis did not reconnect: {:?}",
        server.logs()
    );
    // The invalidation subscription comes back too (and starts from empty caches).
    assert!(
        eventually(Duration::from_secs(20), || subscribed(&server)),
        "the invalidation subscription did not come back: {:?}",
        server.logs()
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let _g = serial();
    let mut server = TestServer::spawn(&[
        ("CAMPUSHUB_STATEMENT_TIMEOUT_MS", "20000"),
        ("CAMPUSHUB_SHUTDOWN_GRACE_S", "15"),
    ]);
    let id = common::some_department_id(&server);

    // Hold a lock on orgs so the department read below waits in PostgreSQL.
    let direct = common::stack_env("CAMPUSHUB_DIRECT_DATABASE_URL");
    let mut locker = Command::new("psql")
        .args([
            direct.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "BEGIN; LOCK TABLE orgs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let lock_held = || {
        let out = Command::new("psql")
            .args([direct.as_str(), "-Atc", "SELECT count(*) FROM pg_locks WHERE relation = 'orgs'::regclass AND mode = 'AccessExclusiveLock' AND granted"])
            .output()
            .expect("psql");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    };
    assert!(
        eventually(Duration::from_secs(10), lock_held),
        "the test lock was never taken"
    );

    // In flight: a database read (blocked on the lock) and a body still being uploaded.
    let mut db_req = server.connect();
    db_req
        .write_all(format!("GET /api/v1/departments/{id} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    let mut upload = server.connect();
    upload
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    // An idle keep-alive connection: it must be closed, not kept.
    let mut idle = server.connect();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Another one whose client sends its next request just after the drain begins: that
    // request is answered (with Connection: close), not lost with the connection.
    let mut late = server.connect();
    late.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: early\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // The database read really is in flight: no answer yet.
    db_req
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut probe = [0u8; 1];
    assert!(
        std::io::Read::read(&mut db_req, &mut probe).is_err(),
        "the read was not blocked"
    );
    db_req
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();

    let pid = server.pid().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(300));
    // New connections are refused once the listener is closed.
    assert!(
        std::net::TcpStream::connect(server.addr).is_err(),
        "listener still open while draining"
    );
    upload.write_all(b" world").unwrap();
    late.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: late\r\n\r\n")
        .unwrap();

    let r = parse_responses(&read_to_close(&mut db_req), &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200, "{}", String::from_utf8_lossy(&r[0].body));
    assert_eq!(r[0].header("Connection"), Some("close"));
    assert_eq!(r[0].json()["sourced_id"], id.as_str());
    let r = parse_responses(&read_to_close(&mut upload), &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
    let r = parse_responses(&read_to_close(&mut late), &[]);
    let got: Vec<(u16, Option<&str>, Option<&str>)> = r
        .iter()
        .map(|r| (r.status, r.header("X-Request-Id"), r.header("Connection")))
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, got[0].1), (200, Some("early")));
    assert_eq!(got[1], (200, Some("late"), Some("close")));
    let r = parse_responses(&read_to_close(&mut idle), &[]);
    assert_eq!(
        r.len(),
        1,
        "the idle connection got its one answer and was closed"
    );

    let status = server.terminate_wait();
    assert_eq!(status.code(), Some(0), "{:?}", server.logs());
    let _ = locker.wait();
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("shutdown requested")));
}

#[test]
fn drain_delay_keeps_serving_with_readyz_503() {
    let _g = serial();
    let mut server = TestServer::spawn(&[("CAMPUSHUB_DRAIN_DELAY_S", "2")]);
    let pid = server.pid().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(
        eventually(Duration::from_secs(2), || status_of(&server, "/readyz").0
            == 503),
        "readyz did not turn 503 after SIGTERM"
    );
    let (_, r) = status_of(&server, "/readyz");
    assert_eq!(r.json()["draining"], true);
    // Still serving new connections during the delay.
    assert_eq!(status_of(&server, "/healthz").0, 200);
    let status = server.terminate_wait();
    assert_eq!(status.code(), Some(0));
}

fn summary_source(server: &TestServer, token: &str, id: &str) -> String {
    let r = common::call(
        server,
        "GET",
        &format!("/api/v1/departments/{id}/summary"),
        Some(token),
        None,
    );
    let code = r.status;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["source"].as_str().unwrap().to_string()
}

#[test]
fn analytics_use_the_replica_and_fall_back_when_it_lags_or_is_down() {
    let _g = serial();
    let replica = common::stack_env("CAMPUSHUB_REPLICA_URL");
    let direct = common::stack_env("CAMPUSHUB_DIRECT_DATABASE_URL");
    let server = TestServer::spawn(&[
        ("CAMPUSHUB_REPLICA_URL", replica.as_str()),
        ("CAMPUSHUB_REPLICA_MAX_LAG_MS", "500"),
        // Every summary read goes to the database, so each shows where it was answered.
        ("CAMPUSHUB_SUMMARY_CACHE_S", "0"),
    ]);
    let id = common::some_department_id(&server);
    let token = common::access_token(&server, "admin");
    assert!(
        eventually(Duration::from_secs(10), || summary_source(
            &server, &token, &id
        ) == "replica"),
        "a fresh replica answers analytics"
    );
    let (_, r) = status_of(&server, "/readyz");
    assert_eq!(r.json()["checks"]["replica"]["status"], "up");
    assert!(r.json()["checks"]["replica"]["lag_s"].as_f64().unwrap() < 0.5);

    // Lagging: replay paused on the replica while the primary keeps writing.
    psql(&replica, "SELECT pg_wal_replay_pause()");
    struct Resume(String);
    impl Drop for Resume {
        fn drop(&mut self) {
            let _ = Command::new("psql")
                .args([self.0.as_str(), "-c", "SELECT pg_wal_replay_resume()"])
                .output();
        }
    }
    let resume = Resume(replica.clone());
    assert!(
        eventually(Duration::from_secs(15), || {
            psql(
                &direct,
                "UPDATE orgs SET date_last_modified = now() WHERE type = 'institution'",
            );
            summary_source(&server, &token, &id) == "primary"
        }),
        "a lagging replica is bypassed"
    );
    drop(resume);
    assert!(eventually(Duration::from_secs(15), || summary_source(
        &server, &token, &id
    ) == "replica"));

    // Down: reports still answer, from the primary, and the fallback is counted.
    let restart = Restart("replica");
    stack("stop", "replica");
    assert!(eventually(Duration::from_secs(10), || ready_with(
        &server, "replica", "down"
    )));
    let (_, r) = status_of(&server, "/readyz");
    assert_eq!(r.json()["status"], "degraded");
    assert_eq!(summary_source(&server, &token, &id), "primary");
    let (_, m) = status_of(&server, "/metrics");
    let text = String::from_utf8_lossy(&m.body).into_owned();
    let fallbacks = common::metric_sum(&text, "campushub_db_replica_fallbacks_total");
    assert!(fallbacks >= 1.0, "{text}");

    drop(restart);
    assert!(
        eventually(Duration::from_secs(20), || summary_source(
            &server, &token, &id
        ) == "replica"),
        "replica did not come back: {:?}",
        server.logs()
    );
}
