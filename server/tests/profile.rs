//! The in-process profiler: off unless configured, admins only, and it answers a flamegraph of
//! the server while it keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::campus::status_as;
use common::{access_token, call, TestServer};

#[test]
fn the_profiler_is_off_by_default_and_for_admins_only() {
    let off = TestServer::spawn(&[]);
    let admin = access_token(&off, "admin");
    assert_eq!(
        status_as(&off, "GET", "/debug/pprof/profile?seconds=1", &admin),
        404
    );

    let server = TestServer::spawn(&[("CAMPUSHUB_PROFILING", "true")]);
    let admin = access_token(&server, "admin");
    let student = access_token(&server, "student1");
    assert_eq!(
        call(&server, "GET", "/debug/pprof/profile?seconds=1", None, None).status,
        401
    );
    assert_eq!(
        status_as(&server, "GET", "/debug/pprof/profile?seconds=1", &student),
        403
    );
    assert_eq!(
        status_as(&server, "GET", "/debug/pprof/profile?seconds=0", &admin),
        400
    );

    // Load while it records, so there is something to see; the shard keeps answering.
    // The load runs until the profile is back, not for a fixed time: starting the profiler
    // (reading the binary's symbols) blocks the shard for a while in a debug build, and a
    // fixed window could close before the recording starts (then there is nothing to see).
    let addr = server.addr;
    let recording = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let still = std::sync::Arc::clone(&recording);
    let load = std::thread::spawn(move || {
        let mut ok = 0;
        while still.load(std::sync::atomic::Ordering::Relaxed) {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            use std::io::Write;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .unwrap();
            if common::read_to_close(&mut s).starts_with(b"HTTP/1.1 200") {
                ok += 1;
            }
        }
        ok
    });
    let r = call(
        &server,
        "GET",
        "/debug/pprof/profile?seconds=1",
        Some(&admin),
        None,
    );
    recording.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Content-Type"), Some("image/svg+xml"));
    let svg = String::from_utf8_lossy(&r.body);
    assert!(
        svg.contains("<svg"),
        "len {}: {:?}",
        svg.len(),
        &svg[..svg.len().min(300)]
    );
    assert!(
        load.join().unwrap() > 10,
        "the server kept serving while it recorded"
    );
}
