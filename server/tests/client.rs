//! A real HTTP client library (ureq) drives keep-alive and concurrent connections, and the
//! JSON API, readiness and metrics are checked as a client sees them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;

fn get(agent: &ureq::Agent, url: &str) -> (u16, String, Option<String>) {
    match agent.get(url).call() {
        Ok(r) => {
            let ct = r.header("Content-Type").map(str::to_string);
            (r.status(), r.into_string().unwrap(), ct)
        }
        Err(ureq::Error::Status(code, r)) => {
            let ct = r.header("Content-Type").map(str::to_string);
            (code, r.into_string().unwrap(), ct)
        }
        Err(e) => panic!("{url}: {e}"),
    }
}

use common::metric_sum as metric;

#[test]
fn keep_alive_reuses_one_connection() {
    let server = TestServer::spawn(&[]);
    let agent = ureq::AgentBuilder::new().max_idle_connections(1).build();
    let before = get(&agent, &server.url("/metrics")).1;
    let conns_before = metric(&before, "campushub_connections_total");
    for _ in 0..200 {
        let (status, body, _) = get(&agent, &server.url("/healthz"));
        assert_eq!(status, 200);
        assert_eq!(body, "{\"status\":\"ok\"}");
    }
    let after = get(&agent, &server.url("/metrics")).1;
    let conns_after = metric(&after, "campushub_connections_total");
    assert!(
        conns_after - conns_before <= 1.0,
        "connections were not reused: {conns_before} -> {conns_after}"
    );
}

#[test]
fn concurrent_connections_all_get_answers() {
    let server = TestServer::spawn(&[]);
    let id = common::some_department_id(&server);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let healthz = server.url("/healthz");
            let dept = server.url(&format!("/api/v1/departments/{id}"));
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                for i in 0..50 {
                    let url = if (i + t) % 2 == 0 { &healthz } else { &dept };
                    let (status, _, _) = get(&agent, url);
                    assert_eq!(status, 200, "{url}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = get(&ureq::agent(), &server.url("/metrics")).1;
    assert!(metric(&text, "campushub_shard_requests_total") >= 800.0);
}

#[test]
fn departments_read_list_and_paginate() {
    let server = TestServer::spawn(&[]);
    let agent = ureq::agent();
    let mut seen = Vec::new();
    let mut url = server.url("/api/v1/departments?limit=5");
    loop {
        let (status, body, ct) = get(&agent, &url);
        assert_eq!(status, 200);
        assert_eq!(ct.as_deref(), Some("application/json"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        for d in v["departments"].as_array().unwrap() {
            seen.push(d["identifier"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => url = server.url(&format!("/api/v1/departments?limit=5&after={c}")),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are ordered and do not overlap");
    assert!(seen.len() >= 20, "{seen:?}");

    let id = common::some_department_id(&server);
    let (status, body, _) = get(&agent, &server.url(&format!("/api/v1/departments/{id}")));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["sourced_id"], id.as_str());
    assert_eq!(v["parent"]["type"], "org");
    assert_eq!(v["status"], "active");

    // The summary is for those who may read the department's attendance.
    let (status, _, _) = get(
        &agent,
        &server.url(&format!("/api/v1/departments/{id}/summary")),
    );
    assert_eq!(status, 401);
    let admin = common::access_token(&server, "admin");
    let summary = common::call(
        &server,
        "GET",
        &format!("/api/v1/departments/{id}/summary"),
        Some(&admin),
        None,
    );
    let (status, body) = (
        summary.status,
        String::from_utf8_lossy(&summary.body).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["department"]["sourced_id"], id.as_str());
    assert_eq!(v["source"], "primary", "no replica configured");
    for k in ["students", "staff", "courses", "classes"] {
        assert!(v[k].as_i64().unwrap() > 0, "{k}: {body}");
    }
    assert!(v["attendance_30d"]["marks"].as_i64().unwrap() > 0, "{body}");
    let rate = v["attendance_30d"]["presence_rate"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&rate), "{body}");
    let nobody = common::call(
        &server,
        "GET",
        "/api/v1/departments/00000000-0000-4000-8000-000000000000/summary",
        Some(&admin),
        None,
    );
    assert_eq!(nobody.status, 404);
    let malformed = common::call(
        &server,
        "GET",
        "/api/v1/departments/not-a-uuid/summary",
        Some(&admin),
        None,
    );
    assert_eq!(malformed.status, 400);

    for (path, status) in [
        ("/api/v1/departments/not-a-uuid", 400),
        (
            "/api/v1/departments/00000000-0000-4000-8000-000000000000",
            404,
        ),
        ("/api/v1/departments?limit=0", 400),
        ("/api/v1/departments?limit=201", 400),
        ("/api/v1/departments?limit=abc", 400),
        ("/api/v1/departments?color=red", 400),
        ("/api/v1/departments?after=%zz", 400),
    ] {
        let (got, body, ct) = get(&agent, &server.url(path));
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"), "{path}");
        let p: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(p["status"], status);
    }
}

#[test]
fn readyz_reports_every_dependency() {
    let server = TestServer::spawn(&[]);
    let (status, body, _) = get(&ureq::agent(), &server.url("/readyz"));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["draining"], false);
    let pool = &v["checks"]["database"]["pool"];
    assert_eq!(pool["total"], 2);
    for k in ["connected", "active", "idle", "waiting"] {
        assert!(pool[k].is_u64(), "{k} in {body}");
    }
    assert_eq!(v["checks"]["redis"]["status"], "up");
    assert_eq!(v["checks"]["redis"]["connected"], true);
    assert!(v["uptime_s"].as_f64().unwrap() > 0.0);
    assert!(v["memory"]["rss_bytes"].as_u64().unwrap() > 0);
    assert!(v["cache"]["entries"].is_u64());
    assert!(["io_uring", "epoll"].contains(&v["driver"].as_str().unwrap()));
}

#[test]
fn metrics_expose_the_documented_series() {
    let server = TestServer::spawn(&[]);
    let agent = ureq::agent();
    get(&agent, &server.url("/healthz"));
    get(&agent, &server.url("/api/v1/departments/nope"));
    let (status, text, ct) = get(&agent, &server.url("/metrics"));
    assert_eq!(status, 200);
    assert!(ct.unwrap().starts_with("text/plain; version=0.0.4"));
    for needle in [
        "# TYPE http_server_request_duration_seconds histogram",
        "http_server_request_duration_seconds_bucket{http_request_method=\"GET\",http_route=\"/healthz\",http_response_status_code=\"200\",le=\"+Inf\"}",
        "http_route=\"/api/v1/departments/{id}\",http_response_status_code=\"400\"",
        "campushub_active_requests{shard=\"0\"}",
        "campushub_open_connections{shard=\"0\"}",
        "campushub_shard_requests_total{shard=\"0\"}",
        "campushub_db_pool_connections{shard=\"0\",pool=\"primary\",state=\"total\"} 2",
        "campushub_db_pool_connections{shard=\"0\",pool=\"primary\",state=\"connected\"}",
        "campushub_redis_connected{shard=\"0\"} 1",
        "campushub_build_info{version=",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(!text.contains("nope"), "raw paths must not become labels");
}

#[test]
fn several_shards_share_the_port() {
    let server = TestServer::spawn(&[("CAMPUSHUB_SHARDS", "2")]);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let url = server.url("/healthz");
            std::thread::spawn(move || {
                for _ in 0..20 {
                    // A fresh connection each time, so the kernel spreads them over shards.
                    let agent = ureq::agent();
                    assert_eq!(get(&agent, &url).0, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let logs = server.logs();
    assert!(logs
        .iter()
        .any(|l| l.contains("\"msg\":\"shard started\"") && l.contains("\"shard\":\"1\"")));
    assert!(logs
        .iter()
        .any(|l| l.contains("\"msg\":\"listening\"") && l.contains("\"shards\":\"2\"")));
}

#[test]
fn without_redis_the_server_runs_single_instance() {
    let server = TestServer::spawn(&[("CAMPUSHUB_REDIS_URL", "")]);
    let (status, body, _) = get(&ureq::agent(), &server.url("/readyz"));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checks"]["redis"]["status"], "disabled");
}

#[test]
fn the_epoll_driver_serves_the_same_api() {
    let server = TestServer::spawn(&[("CAMPUSHUB_DRIVER", "epoll")]);
    let agent = ureq::agent();
    let (status, body, _) = get(&agent, &server.url("/readyz"));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["driver"], "epoll");
    let id = common::some_department_id(&server);
    assert_eq!(
        get(&agent, &server.url(&format!("/api/v1/departments/{id}"))).0,
        200
    );
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("\"driver\":\"epoll\"")));
}
