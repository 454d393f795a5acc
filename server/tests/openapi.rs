//! The OpenAPI document: valid OpenAPI 3.1 by an independent validator
//! (`openapi-spec-validator`, installed by scripts/test; a missing tool fails the test), and in
//! step with the server: every documented operation is routed, and every routed one documented.
//! And `/docs`, the reference for people: opened in headless Chromium (installed by
//! scripts/test), it lists every operation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{call, parse_responses, TestServer};

#[test]
fn the_document_is_valid_openapi_and_matches_what_the_server_routes() {
    let server = TestServer::spawn(&[]);
    let r = call(&server, "GET", "/openapi.json", None, None);
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");

    let path = std::env::temp_dir().join(format!("campushub-openapi-{}.json", std::process::id()));
    std::fs::write(&path, &r.body).unwrap();
    common::run_ok(
        Command::new("python3")
            .args(["-m", "openapi_spec_validator"])
            .arg(&path),
        "openapi-spec-validator",
    );
    let _ = std::fs::remove_file(&path);

    // Every documented operation exists: the server's Allow for the path names its method.
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (template, item) in paths {
        let concrete = template
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{name}", "admin");
        let raw = server.raw(
            format!("OPTIONS {concrete} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let resp = parse_responses(&raw, &[false]).remove(0);
        assert_eq!(resp.status, 204, "{template} is documented but not routed");
        let allow = resp.header("Allow").unwrap().to_string();
        for method in item.as_object().unwrap().keys() {
            assert!(
                allow.split(", ").any(|m| m.eq_ignore_ascii_case(method)),
                "{method} {template} is documented; the server allows {allow}"
            );
            operations += 1;
        }
        // And every method the server allows there is documented (HEAD and OPTIONS come
        // with GET and with every route).
        for m in allow
            .split(", ")
            .filter(|m| *m != "HEAD" && *m != "OPTIONS")
        {
            assert!(
                item.get(m.to_ascii_lowercase()).is_some(),
                "{m} {template} is routed but not documented"
            );
        }
    }
    let routed: usize = campushub::router::SPECS
        .iter()
        .map(|s| s.endpoints.len())
        .sum();
    assert_eq!(
        operations, routed,
        "documented operations vs. the route table"
    );
    // Paths the route table does not have are not routed.
    let raw =
        server.raw(b"OPTIONS /api/v1/not-a-route HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(parse_responses(&raw, &[false]).remove(0).status, 404);
}

/// `/docs` in a real browser: Redoc (served from CAMPUSHUB_DOCS_DIR, which scripts/test sets)
/// renders the served document under the page's own Content-Security-Policy, and every
/// operation's summary is on the page.
#[test]
fn the_reference_for_people_renders_every_operation_in_a_browser() {
    let dir = std::env::var("CAMPUSHUB_DOCS_DIR")
        .expect("CAMPUSHUB_DOCS_DIR (scripts/test installs the renderer and sets it)");
    let server = TestServer::spawn(&[("CAMPUSHUB_DOCS_DIR", &dir)]);
    let page = call(&server, "GET", "/docs", None, None);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("Content-Security-Policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let doc = call(&server, "GET", "/openapi.json", None, None).json();

    let profile = std::env::temp_dir().join(format!("campushub-chromium-{}", std::process::id()));
    let out = common::run_ok(
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--virtual-time-budget=30000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(server.url("/docs")),
        "chromium",
    );
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout)
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    assert!(
        dom.contains("campushub"),
        "the page did not render: {dom:.2000}"
    );
    let mut missing = Vec::new();
    let mut operations = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let summary = op["summary"].as_str().unwrap();
            if !dom.contains(summary) {
                missing.push(format!("{method} {template}: {summary}"));
            }
        }
    }
    assert!(operations > 70, "{operations}");
    assert!(missing.is_empty(), "not on the rendered page: {missing:#?}");
}
