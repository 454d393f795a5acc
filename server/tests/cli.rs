//! The command line: configuration errors are one line and a non-zero exit, `config check`
//! redacts secrets, migrations are idempotent and refuse edits, seeding refuses to clobber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::{psql, stack_env, ScratchDb};

fn campushub(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_campushub"));
    cmd.args(args).env_remove("CAMPUSHUB_CONFIG").env(
        "CAMPUSHUB_DATABASE_URL",
        stack_env("CAMPUSHUB_DIRECT_DATABASE_URL"),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn bad_settings_fail_with_one_line_naming_the_setting() {
    for (k, v) in [
        ("CAMPUSHUB_LISTEN", "not-an-address"),
        ("CAMPUSHUB_SHARDS", "zero"),
        ("CAMPUSHUB_STATEMENTS", "sometimes"),
        ("CAMPUSHUB_DATABASE_URL", "mysql://nope"),
        ("CAMPUSHUB_IDLE_TIMEOUT_S", "forever"),
        ("CAMPUSHUB_RING_MODE", "fast"),
    ] {
        for cmd in [&["serve"][..], &["config", "check"][..]] {
            let out = campushub(cmd, &[(k, v)]);
            assert_eq!(out.status.code(), Some(1), "{k}={v} {cmd:?}");
            let err = text(&out.stderr);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with(&format!("error: {k}")), "{err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = campushub(&["serve"], &[("CAMPUSHUB_LISTEN", addr.as_str())]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(
        err.trim(),
        format!("error: CAMPUSHUB_LISTEN={addr}: address already in use")
    );
}

#[test]
fn config_check_prints_the_effective_config_without_secrets() {
    let out = campushub(
        &["config", "check"],
        &[
            (
                "CAMPUSHUB_DATABASE_URL",
                "postgres://app:s3cret@127.0.0.1:5432/campus",
            ),
            ("CAMPUSHUB_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/"),
            ("CAMPUSHUB_SHARDS", "3"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("shards = 3"), "{s}");
    assert!(s.contains("[redacted]"), "{s}");
    assert!(!s.contains("s3cret") && !s.contains("hunter2"), "{s}");
}

#[test]
fn unknown_commands_are_usage_errors() {
    let out = campushub(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr).lines().count(), 1);
    let out = campushub(&["seed", "--seed", "x"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// The subcommands `campushub <path> --help` lists (its "Commands:" block), `help` aside.
fn subcommands_in(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Issue 20: every subcommand, found by walking `--help` (so a new one is covered without a
/// change here), answers `--help` on stdout with exit 0; a misuse of any of them is one line
/// on stderr, naming the `--help` to read, and exit 2.
#[test]
fn every_subcommand_answers_help_and_a_misuse_is_one_line_and_exit_2() {
    let mut walk = vec![Vec::<String>::new()];
    let mut commands = Vec::new();
    while let Some(path) = walk.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let out = campushub(&[&args[..], &["--help"]].concat(), &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{path:?}: {}", text(&out.stderr));
        let help = text(&out.stdout);
        let usage = format!("Usage: {}", [&["campushub"][..], &args].concat().join(" "));
        assert!(help.contains(&usage), "{path:?}: {help}");
        for sub in subcommands_in(&help) {
            walk.push([&path[..], &[sub]].concat());
        }
        commands.push(path);
    }
    for want in [
        "serve",
        "migrate",
        "seed",
        "db maintain",
        "audit verify",
        "admin create",
        "config check",
        "tune",
        "version",
    ] {
        assert!(
            commands.iter().any(|c| c.join(" ") == want),
            "{want}: {commands:?}"
        );
    }

    let one_line_usage_error = |args: &[&str], help: &str| {
        let out = campushub(args, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            err.trim_end().ends_with(&format!("see {help} --help)")),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    };
    for path in &commands {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let help = [&["campushub"][..], &args].concat().join(" ");
        one_line_usage_error(&[&args[..], &["--no-such-flag"]].concat(), &help);
        one_line_usage_error(&[&args[..], &["stray", "argument"]].concat(), &help);
    }
    for (args, help) in [
        (&["frobnicate"][..], "campushub"),
        (&["db"], "campushub db"),
        (&["admin"], "campushub admin"),
        (&["seed", "--students"], "campushub seed"),
        (&["seed", "--students", "many"], "campushub seed"),
        (&["seed", "--reset", "--if-empty"], "campushub seed"),
        (
            &["db", "maintain", "--ahead", "99"],
            "campushub db maintain",
        ),
        (
            &["tune", "pg", "--ram", "32GiB", "--cores", "0"],
            "campushub tune",
        ),
        (&["tune", "pg"], "campushub tune"),
        (&["a\nb"], "campushub"),
    ] {
        one_line_usage_error(args, help);
    }

    // `campushub` alone prints the help, as it always did, and is still a misuse.
    let out = campushub(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("Usage: campushub <COMMAND>"));
    let out = campushub(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        text(&campushub(&["version"], &[]).stdout)
    );
}

#[test]
fn migrate_is_idempotent_lists_status_and_refuses_edited_migrations() {
    let db = ScratchDb::new("migrate");
    let env = [("CAMPUSHUB_DATABASE_URL", db.url.as_str())];
    let out = campushub(&["migrate", "--status"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pending"));

    let out = campushub(&["migrate"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("applied 0001_orgs"));
    let out = campushub(&["migrate"], &env);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("up to date"));
    let out = campushub(&["migrate", "--status"], &env);
    assert!(text(&out.stdout).contains("0001_orgs") && !text(&out.stdout).contains("pending"));

    // Someone edited an applied migration: refused, clearly, and nothing else happens.
    psql(
        &db.url,
        "UPDATE schema_migrations SET checksum = 'deadbeefdeadbeef' WHERE version = 1",
    );
    let out = campushub(&["migrate"], &env);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("0001_orgs was edited after it was applied"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);

    // A database ahead of this binary is refused too.
    psql(
        &db.url,
        "UPDATE schema_migrations SET checksum = checksum WHERE version = 1",
    );
    psql(
        &db.url,
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')",
    );
    let out = campushub(&["migrate", "--status"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("9999"));
}

#[test]
fn seed_is_deterministic_and_refuses_a_non_empty_database() {
    let db = ScratchDb::new("seed");
    let env = [("CAMPUSHUB_DATABASE_URL", db.url.as_str())];
    assert!(campushub(&["migrate"], &env).status.success());
    let small = [
        "--students",
        "60",
        "--faculty",
        "12",
        "--attendance-days",
        "4",
        "--quiet",
    ];
    let out = campushub(&[&["seed", "--seed", "7"][..], &small].concat(), &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("orgs"));
    let first = psql(
        &db.url,
        "SELECT string_agg(sourced_id::text, ',' ORDER BY identifier) FROM orgs",
    );

    let out = campushub(&["seed", "--seed", "7"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--reset"));
    let out = campushub(&["seed", "--if-empty"], &env);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("left as it is"));

    let out = campushub(&["seed", "--seed", "7", "--reset"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = psql(
        &db.url,
        "SELECT string_agg(sourced_id::text, ',' ORDER BY identifier) FROM orgs",
    );
    assert_eq!(first, again, "the same seed gives the same ids");

    // Issue 20: `--reset` left the attendance registers behind and failed on a duplicate key
    // as soon as the new sessions' ids met the old registers.
    let registers = || psql(&db.url, "SELECT count(*) FROM attendance_registers");
    let before = {
        let out = campushub(
            &[&["seed", "--seed", "7", "--reset"][..], &small].concat(),
            &env,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        registers()
    };
    let out = campushub(
        &[&["seed", "--seed", "7", "--reset"][..], &small].concat(),
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        registers(),
        before,
        "a reset replaces the registers, it does not add to them"
    );
    assert_ne!(before.trim(), "0");
}

#[test]
fn an_unreachable_database_is_a_one_line_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://campushub@127.0.0.1:{port}/campushub");
    let out = campushub(&["migrate"], &[("CAMPUSHUB_DATABASE_URL", url.as_str())]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: CAMPUSHUB_DATABASE_URL: cannot connect"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}
