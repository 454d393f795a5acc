//! Subcommands: `serve`, `migrate`, `seed`, `db maintain`, `audit verify`, `admin create`,
//! `config check`, `tune`. Errors are one line on stderr and
//! a non-zero exit status (1 for failures, 2 for usage errors).

use std::time::Duration;

use campushub_db::{migrate, partitions, seed};

use crate::config::Config;

const USAGE: &str = "usage: campushub <command>

commands:
  serve                 run the API server (config from CAMPUSHUB_* variables, optional CAMPUSHUB_CONFIG file)
  migrate [--status]    apply pending schema migrations, or list applied and pending ones
  seed [--students N] [--faculty N] [--attendance-days N] [--seed N]
       [--demo-password P] [--reset | --if-empty] [--quiet]
                        build a deterministic demo campus (defaults: 10000 students, 3000
                        faculty, 120 teaching days of attendance, password campushub-demo)
  db maintain [--from YYYY-MM] [--ahead N]
                        create attendance partitions for this month and the next N (default 3),
                        moving rows that waited in the default partition
  audit verify          walk the audit chain; name the first event changed or removed
  admin create --username NAME [--email EMAIL] [--given-name G] [--family-name F]
       [--institution NAME]
                        make the first administrator (the built-in admin role for the whole
                        institution; the institution is created when there is none). The
                        password is read from standard input (prompted, without echo, on a
                        terminal), never from an argument
  config check          validate the configuration and print it, secrets redacted
  tune pg|pgbouncer|redis --ram SIZE --cores N [--instances N] [--shards N]
       [--connections-per-shard N] [--storage ssd|hdd] [--db-host H] [--db-port P]
                        print postgresql.conf, pgbouncer.ini or redis.conf sized to a machine and
                        to the fleet that connects (shards default to --cores)
  version               print the version";

/// Runs the command line; returns the process exit status.
pub fn run(args: &[String]) -> i32 {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["serve"] => serve(),
        ["migrate", rest @ ..] => match rest {
            [] => migrate_cmd(false),
            ["--status"] => migrate_cmd(true),
            _ => usage_error(&format!("migrate: unexpected argument {:?}", rest[0])),
        },
        ["seed", rest @ ..] => seed_cmd(rest),
        ["config", "check"] => config_check(),
        ["db", "maintain", rest @ ..] => maintain_cmd(rest),
        ["audit", "verify"] => audit_verify(),
        ["tune", rest @ ..] => crate::tune::run(rest),
        ["admin", "create", rest @ ..] => admin_create(rest),
        ["version"] | ["--version"] | ["-V"] => {
            println!("campushub {}", env!("CARGO_PKG_VERSION"));
            0
        }
        ["help"] | ["--help"] | ["-h"] | [] => {
            println!("{USAGE}");
            i32::from(args.is_empty()) * 2
        }
        [other, ..] => usage_error(&format!("unknown command {other:?}")),
    }
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("error: {msg} (see campushub help)");
    2
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {msg}");
    1
}

fn load_config() -> Result<Config, i32> {
    Config::load().map_err(fail)
}

fn serve() -> i32 {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let shutdown = match crate::shutdown::install() {
        Ok(s) => s,
        Err(e) => return fail(format!("could not install signal handlers: {e}")),
    };
    match crate::server::run(config, shutdown) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn config_check() -> i32 {
    match load_config() {
        Ok(c) => {
            print!("{}", c.describe());
            0
        }
        Err(code) => code,
    }
}

/// Runs `f` with a client connected to the primary, on a one-off monoio runtime.
fn with_client<F, Fut>(f: F) -> i32
where
    F: FnOnce(campushub_db::tokio_postgres::Client) -> Fut,
    Fut: std::future::Future<Output = i32>,
{
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build();
    let mut runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => return fail(format!("could not start a runtime: {e}")),
    };
    runtime.block_on(async move {
        let url = &config.database;
        let (client, task) =
            match campushub_db::connect(url, "campushub cli", Duration::from_secs(10)).await {
                Ok(c) => c,
                Err(e) => {
                    return fail(format!(
                        "CAMPUSHUB_DATABASE_URL: cannot connect to {}: {e}",
                        url.endpoint()
                    ))
                }
            };
        monoio::spawn(task);
        f(client).await
    })
}

fn migrate_cmd(status_only: bool) -> i32 {
    with_client(|client| async move {
        if status_only {
            return match migrate::status(&client).await {
                Ok(list) => {
                    for m in list {
                        let state = match (&m.applied_at, m.checksum_ok) {
                            (Some(at), true) => format!("applied {at}"),
                            (Some(at), false) => format!("applied {at}, EDITED since"),
                            (None, _) => "pending".to_string(),
                        };
                        println!("{:04}_{:<24} {state}", m.version, m.name);
                    }
                    0
                }
                Err(e) => fail(e),
            };
        }
        match migrate::run(&client).await {
            Ok(applied) if applied.is_empty() => {
                println!("migrate: database is up to date");
                0
            }
            Ok(applied) => {
                for m in applied {
                    println!("migrate: applied {:04}_{}", m.version, m.name);
                }
                0
            }
            Err(e) => fail(e),
        }
    })
}

fn seed_cmd(args: &[&str]) -> i32 {
    let mut opts = seed::SeedOptions::default();
    let mut if_empty = false;
    let mut quiet = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> Result<u64, i32> {
            match it.next().map(|v| v.replace('_', "").parse::<u64>()) {
                Some(Ok(n)) => Ok(n),
                _ => Err(usage_error(&format!("seed: {name} takes a whole number"))),
            }
        };
        match *a {
            "--reset" => opts.reset = true,
            "--if-empty" => if_empty = true,
            "--quiet" => quiet = true,
            "--seed" => match number("--seed") {
                Ok(n) => opts.seed = n,
                Err(code) => return code,
            },
            "--students" => match number("--students") {
                Ok(n) => opts.students = u32::try_from(n).unwrap_or(u32::MAX),
                Err(code) => return code,
            },
            "--faculty" => match number("--faculty") {
                Ok(n) => opts.faculty = u32::try_from(n).unwrap_or(u32::MAX),
                Err(code) => return code,
            },
            "--attendance-days" => match number("--attendance-days") {
                Ok(n) => opts.attendance_days = u32::try_from(n).unwrap_or(u32::MAX),
                Err(code) => return code,
            },
            "--demo-password" => match it.next() {
                Some(p) if p.len() >= 8 => opts.demo_password = (*p).to_string(),
                _ => {
                    return usage_error(
                        "seed: --demo-password takes a password of at least 8 characters",
                    )
                }
            },
            other => return usage_error(&format!("seed: unexpected argument {other:?}")),
        }
    }
    if if_empty && opts.reset {
        return usage_error("seed: --if-empty and --reset contradict each other");
    }
    with_client(|client| async move {
        if if_empty {
            match seed::is_empty(&client).await {
                Ok(true) => {}
                Ok(false) => {
                    println!("seed: database already holds data; left as it is");
                    return 0;
                }
                Err(e) => return fail(e),
            }
        }
        let bars = indicatif::MultiProgress::with_draw_target(if quiet {
            indicatif::ProgressDrawTarget::hidden()
        } else {
            indicatif::ProgressDrawTarget::stderr()
        });
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:>20} [{bar:30}] {pos:>9}/{len:<9} rows  {per_sec:>14}  {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        let mut current: Option<(&'static str, indicatif::ProgressBar)> = None;
        let mut progress = |table: &'static str, done: u64, expected: u64| {
            if current.as_ref().is_none_or(|(t, _)| *t != table) {
                if let Some((_, bar)) = current.take() {
                    bar.finish();
                }
                let bar = bars.add(indicatif::ProgressBar::new(expected));
                bar.set_style(style.clone());
                bar.set_prefix(table);
                current = Some((table, bar));
            }
            if let Some((_, bar)) = &current {
                bar.set_length(expected.max(done));
                bar.set_position(done);
            }
        };
        let result = seed::run(&client, &opts, &mut progress).await;
        if let Some((_, bar)) = current.take() {
            bar.finish();
        }
        match result {
            Ok(summary) => {
                for (table, rows) in &summary.tables {
                    println!("seed: {table:<20} {rows:>10} rows");
                }
                let total: u64 = summary.tables.iter().map(|(_, n)| n).sum();
                println!(
                    "seed: {total} rows in {:.1} s (seed {}); demo log-ins {} with password {:?}",
                    summary.seconds,
                    opts.seed,
                    seed::DEMO_LOGINS
                        .iter()
                        .map(|(u, _)| *u)
                        .collect::<Vec<_>>()
                        .join(", "),
                    opts.demo_password
                );
                0
            }
            Err(e) => fail(e),
        }
    })
}

fn maintain_cmd(args: &[&str]) -> i32 {
    let mut from: Option<partitions::Month> = None;
    let mut ahead = 3u32;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--from" => match it.next().and_then(|v| partitions::Month::parse(v)) {
                Some(m) => from = Some(m),
                None => return usage_error("db maintain: --from takes a month like 2026-11"),
            },
            "--ahead" => match it.next().map(|v| v.parse::<u32>()) {
                Some(Ok(n)) if n <= 36 => ahead = n,
                _ => return usage_error("db maintain: --ahead takes a number from 0 to 36"),
            },
            other => return usage_error(&format!("db maintain: unexpected argument {other:?}")),
        }
    }
    with_client(|client| async move {
        let from = match from {
            Some(m) => m,
            None => match partitions::current_month(&client).await {
                Ok(m) => m,
                Err(e) => return fail(e),
            },
        };
        match partitions::maintain(&client, from, ahead).await {
            Ok(report) => {
                for (month, moved) in &report.created {
                    println!(
                        "maintain: created {} ({month}); moved {moved} rows from the default partition",
                        month.table()
                    );
                }
                println!(
                    "maintain: {} partitions created, {} already present ({} to {})",
                    report.created.len(),
                    report.existing.len(),
                    from,
                    (0..ahead).fold(from, |m, _| m.next())
                );
                if !report.deferred.is_empty() {
                    let months: Vec<String> =
                        report.deferred.iter().map(ToString::to_string).collect();
                    println!(
                        "maintain: {} months deferred to the next run (at most {} partitions per run; their rows wait in the default partition): {}",
                        months.len(),
                        partitions::MAX_CREATED_PER_RUN,
                        months.join(", ")
                    );
                }
                0
            }
            Err(e) => fail(e),
        }
    })
}

fn audit_verify() -> i32 {
    with_client(|client| async move {
        match campushub_db::audit::verify(&client).await {
            Ok(campushub_db::audit::Verification::Intact { events }) => {
                println!("audit: {events} events, chain intact");
                0
            }
            Ok(campushub_db::audit::Verification::Broken { id, reason }) => {
                eprintln!("error: audit chain broken at event {id}: {reason}");
                1
            }
            Err(e) => fail(e),
        }
    })
}

/// Shortest administrator password accepted (as for password changes).
const MIN_ADMIN_PASSWORD_CHARS: usize = 10;

fn admin_create(args: &[&str]) -> i32 {
    let mut username = None;
    let mut email = None;
    let mut given = None;
    let mut family = None;
    let mut institution = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let slot = match *a {
            "--username" => &mut username,
            "--email" => &mut email,
            "--given-name" => &mut given,
            "--family-name" => &mut family,
            "--institution" => &mut institution,
            "--password" => {
                return usage_error(
                    "admin create: a password is never an argument (it would show in ps and in shell history); send it on standard input",
                )
            }
            other => return usage_error(&format!("admin create: unexpected argument {other:?}")),
        };
        match it.next() {
            Some(v) if !v.trim().is_empty() && !v.contains('\0') => *slot = Some(v.trim()),
            _ => return usage_error(&format!("admin create: {a} takes a value")),
        }
    }
    let Some(username) = username else {
        return usage_error("admin create: --username is required");
    };
    // The API's rules, so that the first administrator is one the API could have made. The
    // value is never echoed back: a bidi override in it would garble the message.
    type Check = fn(&str) -> Option<&'static str>;
    let checks: [(&str, Option<&str>, Check); 5] = [
        ("--username", Some(username), username_problem),
        ("--email", email, email_problem),
        ("--given-name", given, name_problem),
        ("--family-name", family, name_problem),
        ("--institution", institution, name_problem),
    ];
    for (name, value, check) in checks {
        if let Some(problem) = value.and_then(check) {
            return usage_error(&format!("admin create: {name} {problem}"));
        }
    }
    let password = match read_password(&format!("Password for {username}: ")) {
        Ok(p) => p,
        Err(e) => return fail(format!("admin create: {e}")),
    };
    let chars = password.chars().count();
    if !(MIN_ADMIN_PASSWORD_CHARS..=1024).contains(&chars) || password.contains('\0') {
        return fail(format!(
            "admin create: the password must be {MIN_ADMIN_PASSWORD_CHARS} to 1024 characters"
        ));
    }
    if password.eq_ignore_ascii_case(username) {
        return fail("admin create: the password must not be the username");
    }
    let Some(hash) = crate::auth::passwords::hash(&password) else {
        return fail("admin create: could not hash the password");
    };
    let admin = campushub_db::bootstrap::NewAdmin {
        username,
        email,
        given_name: given.unwrap_or(username),
        family_name: family.unwrap_or("Administrator"),
        password_hash: &hash,
        institution,
    };
    with_client(|client| async move {
        use campushub_db::bootstrap::{create_admin, Created};
        match create_admin(&client, &admin).await {
            Ok(Created::Ok { admin: id, institution }) => {
                println!(
                    "admin: created {} ({id}), administrator of {institution}",
                    admin.username
                );
                0
            }
            Ok(Created::Exists) => fail(format!(
                "admin create: a user named {:?} (or with that email) already exists",
                admin.username
            )),
            Ok(Created::NoInstitution) => fail(
                "admin create: the database has no institution yet; name it with --institution \"Example University\"",
            ),
            Err(e) => fail(format!("admin create: {e}")),
        }
    })
}

/// What is wrong with an administrator's username, by the API's rule (handlers/people.rs): at
/// most 150 letters, digits and `. _ - +`. No `@`: log-in takes a username or an email, so a
/// username shaped like another account's email would make one name mean two accounts.
fn username_problem(u: &str) -> Option<&'static str> {
    if u.contains('@') {
        Some("must not hold @ (log-in takes a username or an email; give the email with --email)")
    } else if !u
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    {
        Some("may hold only letters, digits and . _ - +")
    } else if u.len() > 150 {
        Some("must be at most 150 characters")
    } else {
        None
    }
}

/// What is wrong with an email address, by the API's rule (handlers/fields.rs, `email`).
fn email_problem(e: &str) -> Option<&'static str> {
    if e.chars().count() > 254 {
        Some("must be at most 254 characters")
    } else if crate::handlers::fields::has_control(e) || !is_email(e) {
        Some("must be an email address like name@example.edu")
    } else {
        None
    }
}

/// The API's test of an email address: one `@` with something before it, a dotted domain
/// after it, and no spaces.
fn is_email(e: &str) -> bool {
    e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !e.contains(char::is_whitespace)
}

/// What is wrong with a name (given, family, the institution's), by the API's rule for names
/// (handlers/fields.rs, `text`): at most 100 characters, none of them a control character, a
/// bidirectional override or isolate, or a zero-width one.
fn name_problem(v: &str) -> Option<&'static str> {
    if v.chars().count() > 100 {
        Some("must be at most 100 characters")
    } else if crate::handlers::fields::has_control(v) {
        Some(
            "must not contain control characters, bidirectional overrides or zero-width characters",
        )
    } else {
        None
    }
}

/// The password from standard input: prompted without echo on a terminal, else its first line.
fn read_password(prompt: &str) -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    if tty {
        eprint!("{prompt}");
        stty("-echo");
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if tty {
        stty("echo");
        eprintln!();
    }
    read.map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password)
}
