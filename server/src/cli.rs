//! The command line, declared with clap (derive): every subcommand and its flags in the
//! `Command` enum, run by [`run`]. `--help` works on every subcommand and `--version` on the
//! whole; both print to standard output and exit 0. Every error is one line on standard error
//! and a non-zero exit status: 2 for misuse (unknown subcommand or flag, missing or bad value),
//! 1 for a failure.

use std::ffi::OsString;
use std::time::Duration;

use campushub_db::{migrate, partitions, seed};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Config;

/// campushub: the campus-management API server and the commands that look after it.
#[derive(Debug, Parser)]
#[command(name = "campushub", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every subcommand, in the order `campushub --help` lists them.
///
/// A new subcommand (worker, admin invite, oauth-client, import, export, ...) is a variant here:
/// its doc comment is its help, its fields or `Args` struct its flags (checked by clap, so a
/// misuse is exit 2), and its arm in [`dispatch`] calls the code that runs it: a function in
/// this file while it is short, its own module beside this one once it grows, with its `Args`
/// struct there (as [`crate::tune::TuneArgs`]). A group of commands (`admin create`, `admin
/// invite`) is a variant holding its own `Subcommand` enum, as [`AdminCommand`]. The rules
/// every subcommand follows are set once, in [`grammar`].
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server (config from CAMPUSHUB_* variables, optional CAMPUSHUB_CONFIG file)
    Serve,
    /// Run background jobs from the queue in PostgreSQL (email, reports) until SIGTERM; any
    /// number of workers on any number of hosts share the queue
    Worker,
    /// Apply pending schema migrations, or list applied and pending ones
    Migrate(MigrateArgs),
    /// Build a deterministic demo campus
    Seed(SeedArgs),
    /// Database upkeep
    #[command(subcommand)]
    Db(DbCommand),
    /// The audit trail
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Administrators
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print postgresql.conf, pgbouncer.ini or redis.conf sized to a machine and to the fleet
    /// that connects
    Tune(crate::tune::TuneArgs),
    /// Print the version
    Version,
}

/// `campushub db ...`
#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Create attendance partitions for this month and the next N, moving rows that waited in
    /// the default partition
    Maintain(MaintainArgs),
}

/// `campushub audit ...`
#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the audit chain; name the first event changed or removed
    Verify,
}

/// `campushub admin ...`
#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Make the first administrator
    ///
    /// The administrator gets the built-in admin role for the whole institution; the
    /// institution is created when there is none. The password is read from standard input
    /// (prompted, without echo, on a terminal), never from an argument.
    Create(AdminCreateArgs),
    /// Email people a link to set their first password
    ///
    /// One invitation (and one email job, sent by `campushub worker`) per person, each link
    /// single-use and valid 72 hours, replacing any earlier invitation of that person. Only
    /// people who cannot log in yet (no password) and have an email address are invited;
    /// each other one is named with why, and the exit status is 1.
    Invite(AdminInviteArgs),
}

/// `campushub config ...`
#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it, secrets redacted
    Check,
}

/// `campushub migrate`
#[derive(Debug, Args)]
struct MigrateArgs {
    /// List applied and pending migrations; apply nothing
    #[arg(long)]
    status: bool,
}

/// `campushub seed`
#[derive(Debug, Args)]
struct SeedArgs {
    /// Students (at least 2)
    #[arg(long, value_name = "N", value_parser = count,
        default_value_t = seed::SeedOptions::default().students)]
    students: u32,
    /// Faculty (at least 1)
    #[arg(long, value_name = "N", value_parser = count,
        default_value_t = seed::SeedOptions::default().faculty)]
    faculty: u32,
    /// Teaching days of attendance history, ending yesterday
    #[arg(long, value_name = "N", value_parser = count,
        default_value_t = seed::SeedOptions::default().attendance_days)]
    attendance_days: u32,
    /// Seed for every generated id and value (the same seed, the same campus)
    #[arg(long, value_name = "N", value_parser = whole_number,
        default_value_t = seed::SeedOptions::default().seed)]
    seed: u64,
    /// Password of the demo log-ins, at least 8 characters
    #[arg(long, value_name = "PASSWORD", value_parser = demo_password,
        default_value_t = seed::SeedOptions::default().demo_password)]
    demo_password: String,
    /// Wipe the campus tables first
    #[arg(long)]
    reset: bool,
    /// Seed only a database without campus data; leave any other as it is
    #[arg(long, conflicts_with = "reset")]
    if_empty: bool,
    /// No progress bars
    #[arg(long)]
    quiet: bool,
}

/// `campushub db maintain`
#[derive(Debug, Args)]
struct MaintainArgs {
    /// The first month [default: this month, by the database's clock]
    #[arg(long, value_name = "YYYY-MM", value_parser = month)]
    from: Option<partitions::Month>,
    /// Months after the first to create too, 0 to 36
    #[arg(long, value_name = "N", value_parser = ahead, default_value_t = 3)]
    ahead: u32,
}

/// `campushub admin invite`
#[derive(Debug, Args)]
struct AdminInviteArgs {
    /// Whom to invite: a username, an email address or a public id (repeat for several)
    #[arg(long = "user", value_name = "USER")]
    users: Vec<String>,
    /// A file with one person per line (username, email or public id; blank lines and lines
    /// starting with # are skipped); - reads standard input
    #[arg(long, value_name = "FILE")]
    from_file: Option<std::path::PathBuf>,
}

/// `campushub admin create`
#[derive(Debug, Args)]
struct AdminCreateArgs {
    /// Log-in name: letters, digits and . _ - + (required)
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    /// Email address (log-in takes it too)
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// Given name [default: the username]
    #[arg(long, value_name = "NAME")]
    given_name: Option<String>,
    /// Family name [default: Administrator]
    #[arg(long, value_name = "NAME")]
    family_name: Option<String>,
    /// The institution's name, to create it when the database has none
    #[arg(long, value_name = "NAME")]
    institution: Option<String>,
    /// Never taken: it is here to refuse it with the reason
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "")]
    password: Option<String>,
}

/// Runs the command line (`args` starts with the program's name); returns the exit status.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let parsed = grammar()
        .try_get_matches_from(&args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    match parsed {
        Ok(cli) => dispatch(cli.command),
        Err(e) => parse_failure(&e, &command_path(&args)),
    }
}

/// The command line clap checks: [`Cli`]'s, with two rules set on every subcommand at any
/// depth, so that a new one follows them without an attribute: a flag given twice takes its
/// last value (as it always did), and a group alone (`campushub db`) is a one-line misuse like
/// any other (derived groups print their help instead; only `campushub` alone does here).
fn grammar() -> clap::Command {
    fn each(command: clap::Command, top: bool) -> clap::Command {
        let mut command = command.args_override_self(true).arg_required_else_help(top);
        for sub in command.get_subcommands_mut() {
            *sub = each(std::mem::take(sub), false);
        }
        command
    }
    each(Cli::command(), true)
}

/// Runs one subcommand.
fn dispatch(command: Command) -> i32 {
    match command {
        Command::Serve => serve(),
        Command::Worker => worker(),
        Command::Migrate(args) => migrate_cmd(args.status),
        Command::Seed(args) => seed_cmd(args),
        Command::Db(DbCommand::Maintain(args)) => maintain_cmd(args),
        Command::Audit(AuditCommand::Verify) => audit_verify(),
        Command::Admin(AdminCommand::Create(args)) => admin_create(&args),
        Command::Admin(AdminCommand::Invite(args)) => admin_invite(&args),
        Command::Config(ConfigCommand::Check) => config_check(),
        Command::Tune(args) => {
            print!("{}", args.file());
            0
        }
        Command::Version => {
            println!("campushub {}", env!("CARGO_PKG_VERSION"));
            0
        }
    }
}

/// What clap stopped on: help and version printed with exit 0; `campushub` alone prints the
/// help with exit 2; anything else is a misuse, one line on stderr and exit 2.
fn parse_failure(e: &clap::Error, command: &str) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match e.print() {
            Ok(()) => 0,
            Err(_) => 1,
        },
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            print!("{}", e.render());
            2
        }
        _ => {
            eprintln!("{}", one_line(&e.render().to_string(), command));
            2
        }
    }
}

/// clap's usage error, several lines with a usage block, as one line: the message (a list of
/// missing arguments joined onto it), clap's suggestion, and which `--help` to read. Control,
/// bidirectional and zero-width characters of an echoed argument are escaped, so the line
/// stays one line and reads as what was typed.
fn one_line(rendered: &str, command: &str) -> String {
    let mut blocks = rendered.split("\n\n").map(str::trim);
    let first = blocks.next().unwrap_or_default();
    let lines: Vec<&str> = first.lines().map(str::trim).collect();
    let message = match lines.split_first() {
        Some((head, list)) if head.ends_with(':') && !list.is_empty() => {
            format!("{head} {}", list.join(", "))
        }
        _ => lines.join(" "),
    };
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let mut line = format!("error: {message} (");
    // Only the tips that name what was probably meant; clap's others (`-- --flag`) mislead more
    // than they help here.
    let tips = blocks.filter_map(|b| b.strip_prefix("tip: "));
    for tip in tips.filter(|t| t.starts_with("a similar")) {
        line.push_str(&format!("tip: {tip}; "));
    }
    line.push_str(&format!("see {command} --help)"));
    escape_invisible(&line)
}

/// The subcommand `args` name, as far as they name one that exists: `campushub db maintain`.
fn command_path(args: &[OsString]) -> String {
    let mut command = grammar();
    let mut path = vec!["campushub".to_string()];
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = command.find_subcommand(arg).cloned() else {
            break;
        };
        path.push(sub.get_name().to_string());
        command = sub;
    }
    path.join(" ")
}

/// `s` with each control, bidirectional or zero-width character written as `\u{..}`.
fn escape_invisible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut buf = [0u8; 4];
    for c in s.chars() {
        if crate::handlers::fields::has_control(c.encode_utf8(&mut buf)) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A usage error found after clap: one line naming the command, exit status 2.
fn usage_error(command: &str, msg: &str) -> i32 {
    eprintln!("error: {command}: {msg} (see campushub {command} --help)");
    2
}

/// `--seed`: a whole number; `_` may group digits (`10_000`).
fn whole_number(value: &str) -> Result<u64, String> {
    value
        .replace('_', "")
        .parse::<u64>()
        .map_err(|_| "takes a whole number like 10000 or 10_000".into())
}

/// `--students`, `--faculty`, `--attendance-days`: a whole number, at most `u32::MAX` (larger
/// ones are taken as that).
fn count(value: &str) -> Result<u32, String> {
    whole_number(value).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// `--demo-password`: at least 8 characters.
fn demo_password(value: &str) -> Result<String, String> {
    if value.len() < 8 {
        return Err("takes a password of at least 8 characters".into());
    }
    Ok(value.to_string())
}

/// `--from`: a month.
fn month(value: &str) -> Result<partitions::Month, String> {
    partitions::Month::parse(value).ok_or_else(|| "takes a month like 2026-11".into())
}

/// `--ahead`: 0 to 36 months.
fn ahead(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= 36)
        .ok_or_else(|| "takes a number from 0 to 36".into())
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

fn worker() -> i32 {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match crate::worker::run(config) {
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

fn seed_cmd(args: SeedArgs) -> i32 {
    let opts = seed::SeedOptions {
        seed: args.seed,
        reset: args.reset,
        students: args.students,
        faculty: args.faculty,
        attendance_days: args.attendance_days,
        demo_password: args.demo_password,
    };
    let (if_empty, quiet) = (args.if_empty, args.quiet);
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

fn maintain_cmd(args: MaintainArgs) -> i32 {
    let MaintainArgs { from, ahead } = args;
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

fn admin_create(args: &AdminCreateArgs) -> i32 {
    const CMD: &str = "admin create";
    if args.password.is_some() {
        return usage_error(
            CMD,
            "a password is never an argument (it would show in ps and in shell history); send it on standard input",
        );
    }
    // A value of spaces alone is no value; the rest is taken without its surrounding spaces.
    let values = [
        ("--username", &args.username),
        ("--email", &args.email),
        ("--given-name", &args.given_name),
        ("--family-name", &args.family_name),
        ("--institution", &args.institution),
    ];
    for (name, value) in values {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return usage_error(CMD, &format!("{name} takes a value"));
        }
    }
    fn value(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim)
    }
    let (email, given, family, institution) = (
        value(&args.email),
        value(&args.given_name),
        value(&args.family_name),
        value(&args.institution),
    );
    let Some(username) = value(&args.username) else {
        return usage_error(CMD, "--username is required");
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
            return usage_error(CMD, &format!("{name} {problem}"));
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

/// The people `admin invite` was given, in order, without repeats.
fn invitees(args: &AdminInviteArgs) -> Result<Vec<String>, String> {
    let mut all: Vec<String> = args.users.iter().map(|u| u.trim().to_string()).collect();
    if let Some(path) = &args.from_file {
        let text = if path.as_os_str() == "-" {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                .map_err(|e| format!("standard input: {e}"))?;
            t
        } else {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
        };
        all.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    if let Some(bad) = all
        .iter()
        .find(|u| u.is_empty() || u.len() > 254 || u.contains('\0'))
    {
        return Err(format!(
            "{:?} is not a username, an email or a public id",
            bad.escape_debug().to_string()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|u| seen.insert(u.to_lowercase()));
    Ok(all)
}

fn admin_invite(args: &AdminInviteArgs) -> i32 {
    const CMD: &str = "admin invite";
    let people = match invitees(args) {
        Ok(p) if p.is_empty() => {
            return usage_error(CMD, "name someone with --user or --from-file")
        }
        Ok(p) => p,
        Err(e) => return fail(format!("{CMD}: {e}")),
    };
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(key) = config.mail.link_key.as_ref().map(|k| k.expose().clone()) else {
        return fail(format!(
            "{CMD}: CAMPUSHUB_LINK_KEY is not set (the key links are derived with; the server and workers need the same)"
        ));
    };
    with_client(|client| async move {
        use campushub_db::queries::accounts::Purpose;
        use campushub_db::tokio_postgres::types::Type;
        let mut failed = 0;
        for who in &people {
            let found = client
                .query_typed(
                    "SELECT id FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) \
                     OR sourced_id::text = lower($1) ORDER BY id LIMIT 2",
                    &[(who, Type::TEXT)],
                )
                .await;
            let ids: Vec<i64> = match found {
                Ok(rows) => rows.iter().filter_map(|r| r.try_get(0).ok()).collect(),
                Err(e) => return fail(format!("{CMD}: {e}")),
            };
            let id = match ids.as_slice() {
                [id] => *id,
                [] => {
                    eprintln!("{who}: no such person");
                    failed += 1;
                    continue;
                }
                _ => {
                    eprintln!("{who}: names more than one person; use their public id");
                    failed += 1;
                    continue;
                }
            };
            let link = uuid::Uuid::new_v4();
            let token = crate::auth::links::token(&key, Purpose::Invitation, link);
            let hash = crate::auth::links::hash(&token).to_vec();
            let done = client
                .query_typed(
                    "SELECT outcome, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                     FROM account_invite(NULL, NULL, $1, $2, $3, $4)",
                    &[
                        (&id, Type::INT8),
                        (&link, Type::UUID),
                        (&hash, Type::BYTEA),
                        (&crate::auth::links::INVITATION_TTL_S, Type::INT4),
                    ],
                )
                .await;
            let row = match done.as_deref() {
                Ok([row]) => row,
                Ok(_) => return fail(format!("{CMD}: account_invite answered no row")),
                Err(e) => return fail(format!("{CMD}: {e}")),
            };
            let outcome: String = row.try_get(0).unwrap_or_default();
            match outcome.as_str() {
                "ok" => {
                    let until: String = row.try_get(1).unwrap_or_default();
                    println!("{who}: invited (the link works until {until})");
                }
                other => {
                    failed += 1;
                    eprintln!(
                        "{who}: not invited: {}",
                        match other {
                            "has_password" =>
                                "they can already log in (a forgotten password is reset by email)",
                            "no_email" => "no email address",
                            "gone" => "the account is disabled",
                            "not_found" => "no such person",
                            _ => "refused",
                        }
                    );
                }
            }
        }
        i32::from(failed > 0)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("campushub")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        grammar()
            .try_get_matches_from(argv(args))
            .and_then(|matches| Cli::from_arg_matches(&matches))
    }

    /// The line `campushub <args>` prints on stderr.
    fn misuse(args: &[&str]) -> String {
        let e = parse(args).expect_err("a misuse");
        assert_eq!(e.exit_code(), 2, "{args:?}");
        one_line(&e.render().to_string(), &command_path(&argv(args)))
    }

    #[test]
    fn the_grammar_passes_clap_s_own_checks() {
        grammar().debug_assert();
    }

    #[test]
    fn usage_errors_are_one_line_naming_the_help_to_read() {
        assert_eq!(
            misuse(&["tune"]),
            "error: the following required arguments were not provided: --ram <SIZE>, \
             --cores <N>, <TARGET> (see campushub tune --help)"
        );
        assert_eq!(
            misuse(&["serv"]),
            "error: unrecognized subcommand 'serv' (tip: a similar subcommand exists: 'serve'; \
             see campushub --help)"
        );
        assert_eq!(
            misuse(&["db", "maintain", "--ahead", "37"]),
            "error: invalid value '37' for '--ahead <N>': takes a number from 0 to 36 \
             (see campushub db maintain --help)"
        );
        assert_eq!(
            misuse(&["db"]),
            "error: 'campushub db' requires a subcommand but one was not provided \
             [subcommands: maintain, help] (see campushub db --help)"
        );
        assert!(misuse(&["seed", "--reset", "--if-empty"]).contains("cannot be used with"));
        // An echoed argument cannot break the line or turn the text around.
        let line = misuse(&["a\nb\u{202E}c"]);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains("b\\u{202e}c"), "{line}");
    }

    #[test]
    fn help_and_version_are_not_errors_and_bare_campushub_is() {
        for args in [
            &["--help"][..],
            &["-h"],
            &["help"],
            &["db", "--help"],
            &["--version"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 0, "{args:?}");
        }
        let bare = parse(&[]).unwrap_err();
        assert_eq!(
            bare.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
    }

    #[test]
    fn flags_keep_their_old_forms_and_defaults() {
        let Ok(Cli {
            command: Command::Seed(args),
        }) = parse(&["seed", "--students", "1_000", "--students", "60", "--quiet"])
        else {
            panic!("seed parses");
        };
        let defaults = seed::SeedOptions::default();
        assert_eq!(args.students, 60, "the last of a repeated flag wins");
        assert_eq!(
            (args.faculty, args.seed, args.demo_password.as_str()),
            (
                defaults.faculty,
                defaults.seed,
                defaults.demo_password.as_str()
            )
        );
        assert!(args.quiet && !args.reset && !args.if_empty);
        assert_eq!(count("99_999_999_999").unwrap(), u32::MAX);
        assert!(parse(&["seed", "--demo-password", "short"]).is_err());

        let Ok(Cli {
            command: Command::Db(DbCommand::Maintain(args)),
        }) = parse(&["db", "maintain", "--from", "2026-11"])
        else {
            panic!("db maintain parses");
        };
        assert_eq!(args.ahead, 3);
        assert_eq!(args.from.map(|m| m.to_string()).as_deref(), Some("2026-11"));

        let Ok(Cli {
            command: Command::Admin(AdminCommand::Create(args)),
        }) = parse(&["admin", "create", "--username", " root ", "--password"])
        else {
            panic!("admin create parses");
        };
        assert_eq!(args.username.as_deref(), Some(" root "));
        assert_eq!(args.password.as_deref(), Some(""), "refused after parsing");
    }
}
