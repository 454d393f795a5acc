//! The OpenAPI document: valid OpenAPI 3.1 by an independent validator
//! (`openapi-spec-validator`, installed by scripts/test; a missing tool fails the test), and in
//! step with the server: every documented operation is routed, and every routed one documented.
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
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("python3 (scripts/test installs it)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

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
