//! The stack's secrets (scripts/lib/stack.sh), checked on the throwaway stack of `scripts/test`:
//! DIR/env and every other file holding a secret is readable by its owner only, PostgreSQL
//! (direct, replica, through PgBouncer) refuses a TCP connection without the password, and
//! Redis answers NOAUTH until a client authenticates. `scripts/up` writes the same stack, and
//! its files are what people copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{
    psql, psql_command, redis, redis_addr_and_password, resp_command, split_pg_password, stack_env,
};

fn stack_dir() -> PathBuf {
    PathBuf::from(stack_env("CAMPUSHUB_TEST_STACK_DIR"))
}

/// The stack's PostgreSQL URLs: direct, through PgBouncer, and the replica when there is one.
fn pg_urls() -> Vec<(&'static str, String)> {
    let mut urls = vec![
        ("direct", stack_env("CAMPUSHUB_DIRECT_DATABASE_URL")),
        ("pgbouncer", stack_env("CAMPUSHUB_DATABASE_URL")),
    ];
    if let Ok(replica) = std::env::var("CAMPUSHUB_REPLICA_URL") {
        if !replica.is_empty() {
            urls.push(("replica", replica));
        }
    }
    urls
}

#[test]
fn stack_secrets_files_are_readable_by_their_owner_only() {
    let dir = stack_dir();
    let mut files = vec![
        "env",
        "jwt_key",
        "pg_password",
        "redis_password",
        "pgpass",
        "pgbouncer/userlist.txt",
        "redis/redis.conf",
    ];
    if dir.join("replica").exists() {
        files.extend(["replication_password", "replication.pgpass"]);
    }
    for name in files {
        let path = dir.join(name);
        let meta = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (the stack keeps a secret there)", path.display()));
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "{} has mode {mode:o}: it holds a secret, so 0600",
            path.display()
        );
    }
}

#[test]
fn stack_secrets_postgres_refuses_tcp_connections_without_the_password() {
    let nowhere = stack_dir().join("no-such-pgpass");
    for (name, url) in pg_urls() {
        let (bare, password) = split_pg_password(&url);
        let without = Command::new("psql")
            .args([bare.as_str(), "-w", "-Atc", "SELECT 1"])
            .env_remove("PGPASSWORD")
            .env("PGPASSFILE", &nowhere)
            .output()
            .expect("psql");
        let stderr = String::from_utf8_lossy(&without.stderr);
        assert!(
            !without.status.success(),
            "{name}: a TCP connection without a password was admitted"
        );
        assert!(stderr.contains("password"), "{name}: {stderr}");

        let wrong = Command::new("psql")
            .args([bare.as_str(), "-w", "-Atc", "SELECT 1"])
            .env("PGPASSWORD", "0".repeat(64))
            .env("PGPASSFILE", &nowhere)
            .output()
            .expect("psql");
        let stderr = String::from_utf8_lossy(&wrong.stderr);
        assert!(
            !wrong.status.success(),
            "{name}: a wrong password was admitted"
        );
        assert!(stderr.contains("authentication failed"), "{name}: {stderr}");

        // With the password from the URL: admitted (so the refusals above were about it).
        assert!(password.is_some(), "the {name} URL carries no password");
        assert_eq!(psql(&url, "SELECT 1").trim(), "1", "{name}");
    }

    // No rule trusts anyone, and TCP always takes SCRAM.
    let lax = psql(
        &stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
        "SELECT count(*) FROM pg_hba_file_rules \
         WHERE auth_method = 'trust' OR (type <> 'local' AND auth_method <> 'scram-sha-256')",
    );
    assert_eq!(lax.trim(), "0", "pg_hba.conf has rules without a password");
}

#[test]
fn stack_secrets_pgbouncer_and_replica_authenticate_with_scram() {
    // PgBouncer logs in to PostgreSQL with the client's SCRAM keys; the replica streams with the
    // replicator role's password: both work only when the secrets agree.
    let direct = stack_env("CAMPUSHUB_DIRECT_DATABASE_URL");
    assert_eq!(
        psql(&stack_env("CAMPUSHUB_DATABASE_URL"), "SELECT current_user").trim(),
        "campushub"
    );
    if std::env::var("CAMPUSHUB_REPLICA_URL").is_ok_and(|u| !u.is_empty()) {
        let streaming = psql(
            &direct,
            "SELECT count(*) FROM pg_stat_replication WHERE usename = 'replicator' AND state = 'streaming'",
        );
        assert_eq!(
            streaming.trim(),
            "1",
            "the replica does not stream as replicator"
        );
    }
    let methods = psql_command(&direct)
        .args([
            "-Atc",
            "SELECT rolname, left(rolpassword, 14) FROM pg_authid WHERE rolname IN ('campushub', 'replicator') ORDER BY 1",
        ])
        .output()
        .expect("psql");
    let out = String::from_utf8_lossy(&methods.stdout);
    assert!(out.contains("campushub|SCRAM-SHA-256$"), "{out}");
}

/// A reply line from a raw Redis connection.
fn read_reply(s: &mut TcpStream) -> String {
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn stack_secrets_redis_answers_noauth_without_the_password() {
    let (addr, password) = redis_addr_and_password(&stack_env("CAMPUSHUB_REDIS_URL"));
    let mut s = TcpStream::connect(addr.as_str()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(resp_command(&["PING"]).as_bytes()).unwrap();
    let reply = read_reply(&mut s);
    assert!(reply.starts_with("-NOAUTH"), "PING without AUTH: {reply:?}");

    s.write_all(resp_command(&["AUTH", &"0".repeat(64)]).as_bytes())
        .unwrap();
    let reply = read_reply(&mut s);
    assert!(
        reply.starts_with("-WRONGPASS"),
        "AUTH with a wrong password: {reply:?}"
    );
    s.write_all(resp_command(&["GET", "campushub:any"]).as_bytes())
        .unwrap();
    let reply = read_reply(&mut s);
    assert!(
        reply.starts_with("-NOAUTH"),
        "GET after a failed AUTH: {reply:?}"
    );

    // With the URL's password (common::redis sends AUTH first).
    assert!(
        password.is_some(),
        "CAMPUSHUB_REDIS_URL carries no password"
    );
    assert_eq!(redis(&["PING"]), "+PONG\r\n");
}
