//! The audit chain: appends link each event to the previous one; `campushub audit verify`
//! finds the first event that was edited or removed; rows cannot be updated in place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{psql, stack_env, ScratchDb};

fn verify(url: &str) -> (i32, String, String) {
    common::cli(url, &["audit", "verify"])
}

#[test]
fn verify_finds_the_first_edited_or_removed_event() {
    let db = ScratchDb::new("audit");
    assert_eq!(common::cli(&db.url, &["migrate"]).0, 0);
    for i in 1..=5 {
        psql(
            &db.url,
            &format!("SELECT audit_append(NULL, 'test.event', 'thing', '{i}', '10.0.0.{i}', '{{\"n\": {i}}}')"),
        );
    }
    let (code, stdout, _) = verify(&db.url);
    assert_eq!(code, 0);
    assert!(stdout.contains("5 events, chain intact"), "{stdout}");

    // Rows cannot be changed in place.
    let refused = Command::new("psql")
        .args([
            db.url.as_str(),
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "UPDATE audit_events SET action = 'test.other' WHERE id = 2",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("append-only"));

    // Someone with the power to switch the guard off edits event 3: named.
    psql(
        &db.url,
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update; \
         UPDATE audit_events SET details = '{\"n\": 99}' WHERE id = 3; \
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update",
    );
    let (code, _, stderr) = verify(&db.url);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim(),
        "error: audit chain broken at event 3: its hash does not match its content"
    );

    // Put it back, then remove event 4 instead: event 5's link no longer matches.
    psql(
        &db.url,
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update; \
         UPDATE audit_events SET details = '{\"n\": 3}' WHERE id = 3; \
         DELETE FROM audit_events WHERE id = 4; \
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update",
    );
    let (code, _, stderr) = verify(&db.url);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("event 5: its link to the previous event does not match"),
        "{stderr}"
    );
}

#[test]
fn the_shared_test_database_chain_is_intact() {
    let (code, stdout, stderr) = verify(&stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("chain intact"));
}
