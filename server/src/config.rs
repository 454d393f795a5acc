//! Configuration, in two levels (ripgrep's `LowArgs` -> `HiArgs`): every setting as found,
//! unchecked (`LowConfig`: the optional TOML file named by `CAMPUSHUB_CONFIG` and the
//! `CAMPUSHUB_*` variable of the same name, both declared once in `settings!`), then one
//! validated [`Config`] built from it section by section (serving, limits, edge, database,
//! cache, auth, operations), before any thread starts.
//!
//! Precedence: environment over file over defaults. Every error names the setting it is about
//! and fits on one line, so `campushub config check` and `serve` can print it and exit 1.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use campushub_db::{redact_url, DbUrl, StatementMode};
use serde::Deserialize;

/// A value that must never appear in logs or `config check` output (passwords in URLs).
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    /// The secret itself; call sites say plainly that they expose it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The validated configuration shared (read-only) by every shard.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address every shard listens on (SO_REUSEPORT).
    pub listen: SocketAddr,
    /// Number of shards (threads, one runtime each).
    pub shards: usize,
    /// Pin shard N to core N (modulo the cores available).
    pub pin_cores: bool,
    /// Send `Strict-Transport-Security` (set when the server sits behind TLS).
    pub hsts: bool,
    /// Rate-limit policies.
    pub rate_limits: campushub_cache::RateLimits,
    /// Serve `/debug/pprof/profile` (admins only): an in-process sampling profiler.
    pub profiling: bool,
    /// What `campushub worker` reads.
    pub worker: WorkerConfig,
    /// Email and the links it carries (invitations, password resets).
    pub mail: MailConfig,
    /// Where `/docs` finds its renderer (`redoc.standalone.js`, installed by the scripts);
    /// none: `/docs` answers 404.
    pub docs_dir: Option<std::path::PathBuf>,
    /// Primary PostgreSQL.
    pub database: DbUrl,
    /// Optional streaming replica for analytics queries.
    pub replica: Option<DbUrl>,
    /// Optional Redis; without it the server runs in single-instance mode.
    pub redis_url: Option<Secret<String>>,
    /// Named prepared statements or unnamed (`query_typed`) ones.
    pub statements: StatementMode,
    /// PostgreSQL clients per shard (queries pipeline over each).
    pub db_connections_per_shard: u32,
    /// Longest a request waits for the database before it gets 503.
    pub statement_timeout: Duration,
    /// Analytics queries go to the primary while the replica lags more than this.
    pub replica_max_lag: Duration,
    /// Time allowed for a request head to arrive completely (slowloris bound).
    pub header_timeout: Duration,
    /// Idle keep-alive connections are closed after this.
    pub idle_timeout: Duration,
    /// Longest wait between two reads of a request body.
    pub body_timeout: Duration,
    /// Accepting pauses on a shard that holds this many connections.
    pub max_connections_per_shard: u32,
    /// Default request-body limit (routes may set a lower one).
    pub max_body_bytes: u64,
    /// Limit on the request line plus headers.
    pub max_header_bytes: usize,
    /// Limit on the request target.
    pub max_uri_bytes: usize,
    /// Origins allowed by CORS (exact match, `scheme://host[:port]`).
    pub cors_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` names the client (balancers; `net::forwarded`).
    pub trusted_proxies: Vec<crate::net::forwarded::Cidr>,
    /// Fraction of requests that get an access-log line (errors always do).
    pub access_log_sample: f64,
    /// Time in-flight requests get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// io_uring submission queue entries per shard.
    pub ring_entries: u32,
    /// io_uring task-running mode.
    pub ring_mode: RingMode,
    /// Which I/O driver shards use.
    pub driver: DriverChoice,
    /// After SIGTERM, keep serving (with `/readyz` at 503) this long before closing the
    /// listeners, so load balancers stop sending new connections first.
    pub drain_delay: Duration,
    /// JWT keys; `None` means a random key made at start (single instance, not persistent).
    pub jwt_keys: Option<crate::auth::tokens::KeySet>,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_token_ttl: Duration,
    /// Failed log-ins within `login_window` that lock an account.
    pub login_max_failures: u32,
    /// Failed credential checks within `login_window`, from all addresses together, that lock
    /// an account for everyone (except a right password plus a one-time code from an address
    /// that is not itself locked out).
    pub login_account_max_failures: u32,
    /// How long a shard reuses a department summary it computed (zero: never).
    pub summary_cache: Duration,
    /// Longest lifetime of an API key, in days (also the lifetime of a key made without one).
    pub api_key_max_days: u32,
    /// Bearer token for `/metrics` and the detailed `/readyz`; `None`: those answer loopback
    /// clients only.
    pub ops_token: Option<Secret<String>>,
    /// Window for counting failures, and the length of a lock-out.
    pub login_window: Duration,
    /// Threads hashing passwords.
    pub password_threads: u32,
    /// Log-ins that may wait for a hashing thread before 503.
    pub password_queue: u32,
    /// Student profiles each shard keeps encoded (0: read PostgreSQL every time).
    pub profile_cache_entries: u32,
    /// Whether a profile missing from the shard's cache is looked up in Redis (shared by every
    /// shard of every instance) before PostgreSQL, and stored there after a PostgreSQL read.
    pub profile_l2: bool,
}

/// How each shard's io_uring runs completion work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingMode {
    /// IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG.
    Coop,
    /// IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (Linux 6.1+).
    Defer,
}

impl RingMode {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RingMode::Coop => "coop",
            RingMode::Defer => "defer",
        }
    }
}

/// Which I/O driver to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverChoice {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    /// epoll only (containers whose seccomp profile forbids io_uring, or for comparison).
    Epoll,
}

/// A configuration error: one line naming the setting.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err(setting: &str, msg: impl fmt::Display) -> ConfigError {
    ConfigError(format!("{setting}: {msg}"))
}

/// Where a setting's value came from, for error messages: `CAMPUSHUB_LISTEN` or `listen`.
fn env_name(key: &str) -> String {
    format!("CAMPUSHUB_{}", key.to_ascii_uppercase())
}

impl Config {
    /// Loads the file named by `CAMPUSHUB_CONFIG` (if any), overlays the environment, validates.
    pub fn load() -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let file = std::env::var("CAMPUSHUB_CONFIG").ok();
        Self::from_sources(file.as_deref().map(Path::new), &vars)
    }

    /// Builds a config from an optional file and a list of environment variables (testable):
    /// the settings as found first (`LowConfig`), then each section checked.
    pub fn from_sources(
        file: Option<&Path>,
        vars: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let low = LowConfig::read(file, vars)?;
        let serving = serving(&low)?;
        let limits = limits(&low)?;
        let edge = edge(&low)?;
        let db = database(&low)?;
        let cache = cache(&low)?;
        let auth = auth(&low)?;
        let ops = operations(&low)?;
        let worker = worker(&low)?;
        let mail = mail(&low, serving.listen)?;
        Ok(Config {
            worker,
            mail,
            listen: serving.listen,
            shards: serving.shards,
            pin_cores: serving.pin_cores,
            ring_entries: serving.ring_entries,
            ring_mode: serving.ring_mode,
            driver: serving.driver,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            body_timeout: limits.body_timeout,
            max_connections_per_shard: limits.max_connections_per_shard,
            max_body_bytes: limits.max_body_bytes,
            max_header_bytes: limits.max_header_bytes,
            max_uri_bytes: limits.max_uri_bytes,
            rate_limits: limits.rate_limits,
            hsts: edge.hsts,
            cors_origins: edge.cors_origins,
            trusted_proxies: edge.trusted_proxies,
            database: db.database,
            replica: db.replica,
            statements: db.statements,
            db_connections_per_shard: db.db_connections_per_shard,
            statement_timeout: db.statement_timeout,
            replica_max_lag: db.replica_max_lag,
            redis_url: cache.redis_url,
            summary_cache: cache.summary_cache,
            profile_cache_entries: cache.profile_cache_entries,
            profile_l2: cache.profile_l2,
            jwt_keys: auth.jwt_keys,
            access_token_ttl: auth.access_token_ttl,
            refresh_token_ttl: auth.refresh_token_ttl,
            login_max_failures: auth.login_max_failures,
            login_account_max_failures: auth.login_account_max_failures,
            login_window: auth.login_window,
            api_key_max_days: auth.api_key_max_days,
            password_threads: auth.password_threads,
            password_queue: auth.password_queue,
            ops_token: ops.ops_token,
            profiling: ops.profiling,
            docs_dir: ops.docs_dir,
            access_log_sample: ops.access_log_sample,
            shutdown_grace: ops.shutdown_grace,
            drain_delay: ops.drain_delay,
        })
    }

    /// The effective configuration as TOML-like lines, secrets redacted.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: String| {
            out.push_str(k);
            out.push_str(" = ");
            out.push_str(&v);
            out.push('\n');
        };
        line("listen", format!("{:?}", self.listen.to_string()));
        line("shards", self.shards.to_string());
        line("pin_cores", self.pin_cores.to_string());
        line("hsts", self.hsts.to_string());
        line("profiling", self.profiling.to_string());
        line("worker_concurrency", self.worker.concurrency.to_string());
        line(
            "worker_lease_s",
            self.worker.lease.as_secs_f64().to_string(),
        );
        line("worker_poll_ms", self.worker.poll.as_millis().to_string());
        line(
            "worker_metrics_listen",
            format!("{:?}", self.worker.metrics_listen.to_string()),
        );
        line(
            "worker_keep_done_days",
            (self.worker.keep_done.as_secs() / 86_400).to_string(),
        );
        if let Some(d) = &self.docs_dir {
            line("docs_dir", format!("{:?}", d.display().to_string()));
        }
        line(
            "report_fonts_dir",
            format!("{:?}", self.worker.report_fonts_dir.display().to_string()),
        );
        line("public_url", format!("{:?}", self.mail.public_url));
        line(
            "link_key",
            format!(
                "{:?}",
                if self.mail.link_key.is_some() {
                    "[set]"
                } else {
                    ""
                }
            ),
        );
        if let Some(smtp) = &self.mail.smtp {
            line("smtp_url", format!("{:?}", smtp.redacted()));
            if let Some(ca) = &smtp.ca {
                line("smtp_ca", format!("{:?}", ca.display().to_string()));
            }
            line("smtp_from", format!("{:?}", smtp.from));
        }
        line("rate_limits", format!("{:?}", self.rate_limits.describe()));
        line("database_url", format!("{:?}", self.database.redacted()));
        line(
            "replica_url",
            format!(
                "{:?}",
                self.replica
                    .as_ref()
                    .map(|r| r.redacted())
                    .unwrap_or_default()
            ),
        );
        line(
            "redis_url",
            format!(
                "{:?}",
                self.redis_url
                    .as_ref()
                    .map(|r| redact_url(r.expose()))
                    .unwrap_or_default()
            ),
        );
        line(
            "statements",
            format!("{:?}", self.statements.as_str().to_string()),
        );
        line(
            "db_connections_per_shard",
            self.db_connections_per_shard.to_string(),
        );
        line(
            "statement_timeout_ms",
            self.statement_timeout.as_millis().to_string(),
        );
        line(
            "replica_max_lag_ms",
            self.replica_max_lag.as_millis().to_string(),
        );
        line(
            "header_timeout_s",
            self.header_timeout.as_secs_f64().to_string(),
        );
        line(
            "idle_timeout_s",
            self.idle_timeout.as_secs_f64().to_string(),
        );
        line(
            "body_timeout_s",
            self.body_timeout.as_secs_f64().to_string(),
        );
        line(
            "max_connections_per_shard",
            self.max_connections_per_shard.to_string(),
        );
        line("max_body_bytes", self.max_body_bytes.to_string());
        line("max_header_bytes", self.max_header_bytes.to_string());
        line("max_uri_bytes", self.max_uri_bytes.to_string());
        line("cors_origins", format!("{:?}", self.cors_origins));
        line(
            "trusted_proxies",
            self.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
        line("access_log_sample", self.access_log_sample.to_string());
        line(
            "shutdown_grace_s",
            self.shutdown_grace.as_secs_f64().to_string(),
        );
        line("ring_entries", self.ring_entries.to_string());
        line("ring_mode", format!("{:?}", self.ring_mode.as_str()));
        line(
            "driver",
            format!(
                "{:?}",
                match self.driver {
                    DriverChoice::Auto => "auto",
                    DriverChoice::Epoll => "epoll",
                }
            ),
        );
        line("drain_delay_s", self.drain_delay.as_secs_f64().to_string());
        line(
            "jwt_keys",
            match &self.jwt_keys {
                Some(k) => format!("{:?} (signing first; secrets redacted)", k.kids()),
                None => "\"\" (a random key per process: set CAMPUSHUB_JWT_KEYS for more than one instance)".into(),
            },
        );
        line(
            "access_token_ttl_s",
            self.access_token_ttl.as_secs().to_string(),
        );
        line(
            "refresh_token_ttl_s",
            self.refresh_token_ttl.as_secs().to_string(),
        );
        line("login_max_failures", self.login_max_failures.to_string());
        line(
            "login_account_max_failures",
            self.login_account_max_failures.to_string(),
        );
        line("api_key_max_days", self.api_key_max_days.to_string());
        line("summary_cache_s", self.summary_cache.as_secs().to_string());
        line(
            "ops_token",
            if self.ops_token.is_some() {
                "[redacted]".into()
            } else {
                "unset (/metrics and detailed /readyz: loopback clients only)".into()
            },
        );
        line("login_window_s", self.login_window.as_secs().to_string());
        line("password_threads", self.password_threads.to_string());
        line("password_queue", self.password_queue.to_string());
        line(
            "profile_cache_entries",
            self.profile_cache_entries.to_string(),
        );
        line("profile_l2", self.profile_l2.to_string());
        out
    }
}

// The sections: each checks its settings, in the order the fields of `Config` give them, and
// says what is wrong in one line naming the setting.

/// Where and how the shards serve.
struct Serving {
    listen: SocketAddr,
    shards: usize,
    pin_cores: bool,
    ring_entries: u32,
    ring_mode: RingMode,
    driver: DriverChoice,
}

fn serving(low: &LowConfig) -> Result<Serving, ConfigError> {
    let listen_s = low.listen.text().unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen: SocketAddr = listen_s.parse().map_err(|_| {
        low.listen.error(format!(
            "{listen_s:?} is not an address like 127.0.0.1:8080"
        ))
    })?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let shards = match low.shards.text() {
        None => cores,
        Some(s) if s == "auto" => cores,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => n,
            _ => {
                return Err(low
                    .shards
                    .error(format!("{s:?} is not `auto` or a number from 1 to 1024")))
            }
        },
    };
    let ring_mode = match low.ring_mode.text().as_deref().unwrap_or("defer") {
        "coop" => RingMode::Coop,
        "defer" => RingMode::Defer,
        other => {
            return Err(low
                .ring_mode
                .error(format!("{other:?} is not `coop` or `defer`")))
        }
    };
    let driver = match low.driver.text().as_deref().unwrap_or("auto") {
        "auto" => DriverChoice::Auto,
        "epoll" => DriverChoice::Epoll,
        other => {
            return Err(low
                .driver
                .error(format!("{other:?} is not `auto` or `epoll`")))
        }
    };
    Ok(Serving {
        listen,
        shards,
        pin_cores: low.pin_cores.flag(true)?,
        ring_entries: low.ring_entries.number(1024, 8..=32768)?,
        ring_mode,
        driver,
    })
}

/// What one request and one shard may take: time, bytes, connections, rate.
struct Limits {
    header_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    max_connections_per_shard: u32,
    max_body_bytes: u64,
    max_header_bytes: usize,
    max_uri_bytes: usize,
    rate_limits: campushub_cache::RateLimits,
}

fn limits(low: &LowConfig) -> Result<Limits, ConfigError> {
    let max_header_bytes = low.max_header_bytes.number(16 * 1024, 1024..=1 << 20)? as usize;
    let max_uri_bytes = low.max_uri_bytes.number(8 * 1024, 64..=1 << 20)? as usize;
    if max_uri_bytes >= max_header_bytes {
        return Err(low
            .max_uri_bytes
            .error("must be smaller than CAMPUSHUB_MAX_HEADER_BYTES"));
    }
    let rate_limits = campushub_cache::RateLimits::parse(
        &low.rate_limits.text().unwrap_or_default(),
        &low.rate_limit_shared
            .text()
            .unwrap_or_else(|| campushub_cache::policies::DEFAULT_SHARED.into()),
    )
    .map_err(|e| low.rate_limits.error(e))?;
    Ok(Limits {
        header_timeout: low.header_timeout_s.seconds(10.0)?,
        idle_timeout: low.idle_timeout_s.seconds(60.0)?,
        body_timeout: low.body_timeout_s.seconds(30.0)?,
        max_connections_per_shard: low
            .max_connections_per_shard
            .number(10_000, 1..=1_000_000)?,
        max_body_bytes: low.max_body_bytes.number(1 << 20, 0..=1 << 30)?,
        max_header_bytes,
        max_uri_bytes,
        rate_limits,
    })
}

/// What sits in front: the TLS terminator (HSTS), balancers, browsers of other origins.
struct Edge {
    hsts: bool,
    cors_origins: Vec<String>,
    trusted_proxies: Vec<crate::net::forwarded::Cidr>,
}

fn edge(low: &LowConfig) -> Result<Edge, ConfigError> {
    let cors_origins = low.cors_origins.list();
    for origin in &cors_origins {
        let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.ends_with('/')
            && !origin.contains(char::is_whitespace);
        if !ok {
            return Err(low.cors_origins.error(format!(
                "{origin:?} is not an origin like https://app.example.edu"
            )));
        }
    }
    let trusted_proxies = low
        .trusted_proxies
        .list()
        .iter()
        .map(|c| crate::net::forwarded::Cidr::parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| low.trusted_proxies.error(e))?;
    Ok(Edge {
        hsts: low.hsts.flag(false)?,
        cors_origins,
        trusted_proxies,
    })
}

/// PostgreSQL: the primary, the replica, and how the shards use them.
struct Database {
    database: DbUrl,
    replica: Option<DbUrl>,
    statements: StatementMode,
    db_connections_per_shard: u32,
    statement_timeout: Duration,
    replica_max_lag: Duration,
}

fn database(low: &LowConfig) -> Result<Database, ConfigError> {
    let database_s = low.database_url.text().ok_or_else(|| {
        low.database_url
            .error("not set (for the local stack: set -a; . .stack/env; set +a)")
    })?;
    let database = DbUrl::parse(&database_s).map_err(|e| low.database_url.error(e))?;
    let replica = match low.replica_url.text() {
        Some(s) if !s.is_empty() => Some(DbUrl::parse(&s).map_err(|e| low.replica_url.error(e))?),
        _ => None,
    };
    let statements = match low.statements.text().as_deref().unwrap_or("prepared") {
        "prepared" => StatementMode::Prepared,
        "unnamed" => StatementMode::Unnamed,
        other => {
            return Err(low
                .statements
                .error(format!("{other:?} is not `prepared` or `unnamed`")))
        }
    };
    Ok(Database {
        database,
        replica,
        statements,
        db_connections_per_shard: low.db_connections_per_shard.number(2, 1..=64)?,
        statement_timeout: Duration::from_millis(
            low.statement_timeout_ms.number(2000, 10..=600_000)?,
        ),
        replica_max_lag: Duration::from_millis(low.replica_max_lag_ms.number(5000, 0..=3_600_000)?),
    })
}

/// Redis and the caches in front of PostgreSQL.
struct Cache {
    redis_url: Option<Secret<String>>,
    summary_cache: Duration,
    profile_cache_entries: u32,
    profile_l2: bool,
}

fn cache(low: &LowConfig) -> Result<Cache, ConfigError> {
    let redis_url = match low.redis_url.text() {
        Some(s) if !s.is_empty() => {
            campushub_cache::RedisTarget::parse(&s).map_err(|e| low.redis_url.error(e))?;
            Some(Secret::new(s))
        }
        _ => None,
    };
    Ok(Cache {
        redis_url,
        summary_cache: Duration::from_secs(low.summary_cache_s.number(60, 0..=3600)?),
        profile_cache_entries: low.profile_cache_entries.number(50_000, 0..=10_000_000)?,
        profile_l2: low.profile_l2.flag(true)?,
    })
}

/// Tokens, log-in throttling, API keys and password hashing.
struct Auth {
    jwt_keys: Option<crate::auth::tokens::KeySet>,
    access_token_ttl: Duration,
    refresh_token_ttl: Duration,
    login_max_failures: u32,
    login_account_max_failures: u32,
    login_window: Duration,
    api_key_max_days: u32,
    password_threads: u32,
    password_queue: u32,
}

fn auth(low: &LowConfig) -> Result<Auth, ConfigError> {
    let jwt_keys = match low.jwt_keys.text() {
        Some(spec) if !spec.trim().is_empty() => {
            let signing = low.jwt_signing_kid.text();
            Some(
                crate::auth::tokens::KeySet::parse(&spec, signing.as_deref())
                    .map_err(|e| low.jwt_keys.error(e))?,
            )
        }
        _ => None,
    };
    let access_token_ttl_s = low.access_token_ttl_s.number(900, 60..=86_400)?;
    let refresh_token_ttl_s = low
        .refresh_token_ttl_s
        .number(30 * 86_400, 3_600..=365 * 86_400)?;
    let login_max_failures = low.login_max_failures.number(5, 1..=1_000)?;
    let login_window_s = low.login_window_s.number(900, 1..=86_400)?;
    let login_account_max_failures = low.login_account_max_failures.number(50, 1..=100_000)?;
    if login_account_max_failures < login_max_failures {
        return Err(low
            .login_account_max_failures
            .error("must not be below CAMPUSHUB_LOGIN_MAX_FAILURES (the per-address limit)"));
    }
    Ok(Auth {
        jwt_keys,
        access_token_ttl: Duration::from_secs(access_token_ttl_s),
        refresh_token_ttl: Duration::from_secs(refresh_token_ttl_s),
        login_max_failures,
        login_account_max_failures,
        login_window: Duration::from_secs(login_window_s),
        api_key_max_days: low.api_key_max_days.number(365, 1..=3650)?,
        password_threads: low.password_threads.number(2, 1..=256)?,
        password_queue: low.password_queue.number(64, 1..=100_000)?,
    })
}

/// What operators see and control: the ops token, profiling, the reference page, the access
/// log, the shutdown.
struct Operations {
    ops_token: Option<Secret<String>>,
    profiling: bool,
    docs_dir: Option<std::path::PathBuf>,
    access_log_sample: f64,
    shutdown_grace: Duration,
    drain_delay: Duration,
}

fn operations(low: &LowConfig) -> Result<Operations, ConfigError> {
    let ops_token = match low.ops_token.text() {
        Some(t) if t.is_empty() => None,
        Some(t) => {
            // Compared with every scrape; short or odd tokens are a configuration mistake.
            let ok = t.len() >= 16 && t.len() <= 256 && t.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(low
                    .ops_token
                    .error("must be 16 to 256 printable ASCII characters without spaces"));
            }
            Some(Secret::new(t))
        }
        None => None,
    };
    let access_log_sample = match &low.access_log_sample.var {
        Some(s) => s.parse::<f64>().map_err(|_| {
            low.access_log_sample
                .error(format!("{s:?} is not a number"))
        })?,
        None => low.access_log_sample.file.unwrap_or(1.0),
    };
    if !(0.0..=1.0).contains(&access_log_sample) {
        return Err(low.access_log_sample.error("must be between 0 and 1"));
    }
    let drain_delay = match &low.drain_delay_s.var {
        Some(v) => v.trim().parse::<f64>().map_err(|_| {
            low.drain_delay_s
                .error(format!("{v:?} is not a number of seconds"))
        })?,
        None => low.drain_delay_s.file.unwrap_or(0.0),
    };
    if !(0.0..=3600.0).contains(&drain_delay) {
        return Err(low
            .drain_delay_s
            .error(format!("{drain_delay} is out of range (0 to 3600 seconds)")));
    }
    Ok(Operations {
        ops_token,
        profiling: low.profiling.flag(false)?,
        docs_dir: low
            .docs_dir
            .text()
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from),
        access_log_sample,
        shutdown_grace: low.shutdown_grace_s.seconds(10.0)?,
        drain_delay: Duration::from_secs_f64(drain_delay),
    })
}

/// What `campushub worker` reads.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs one worker process runs at once.
    pub concurrency: u32,
    /// How long a claimed job stays the worker's without a renewal (renewed every third of
    /// it): a worker that dies loses its jobs to another this long after its last renewal.
    pub lease: Duration,
    /// How often an idle worker looks for ready jobs.
    pub poll: Duration,
    /// The worker's own `/metrics` and `/healthz`.
    pub metrics_listen: SocketAddr,
    /// Done and cancelled jobs are deleted this long after they finished.
    pub keep_done: Duration,
    /// Where DejaVuSans.ttf and DejaVuSans-Bold.ttf are (fonts-dejavu-core).
    pub report_fonts_dir: std::path::PathBuf,
}

fn worker(low: &LowConfig) -> Result<WorkerConfig, ConfigError> {
    let lease = low.worker_lease_s.seconds(30.0)?;
    if lease < Duration::from_secs(3) {
        return Err(low
            .worker_lease_s
            .error("must be at least 3 seconds (the lease is renewed every third of it)"));
    }
    let listen = low
        .worker_metrics_listen
        .text()
        .unwrap_or_else(|| "127.0.0.1:9464".into());
    let metrics_listen = listen.parse().map_err(|_| {
        low.worker_metrics_listen
            .error(format!("{listen:?} is not HOST:PORT"))
    })?;
    Ok(WorkerConfig {
        concurrency: low.worker_concurrency.number(8, 1..=256)?,
        lease,
        poll: Duration::from_millis(low.worker_poll_ms.number(500, 10..=60_000)?),
        metrics_listen,
        keep_done: Duration::from_secs(
            u64::from(low.worker_keep_done_days.number(7, 1..=3650)?) * 86_400,
        ),
        report_fonts_dir: low
            .report_fonts_dir
            .text()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/usr/share/fonts/truetype/dejavu".into())
            .into(),
    })
}

/// Email and the links it carries.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// Where people reach this server (links in messages start with it), no trailing slash.
    pub public_url: String,
    /// The key links' tokens are derived with (HMAC-SHA-256); the server and every worker
    /// need the same one. None: invitations and resets answer 503.
    pub link_key: Option<Secret<Vec<u8>>>,
    /// The SMTP server the worker sends through; none: email jobs wait and retry.
    pub smtp: Option<SmtpConfig>,
}

/// The SMTP server and the sender.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// `smtp://USER:PASSWORD@HOST:PORT` (STARTTLS required) or `smtps://...` (TLS from the
    /// first byte).
    pub url: Secret<String>,
    /// Host, port, implicit TLS, user and password, read from `url`.
    pub host: String,
    /// The port (587 for smtp, 465 for smtps when the URL names none).
    pub port: u16,
    /// TLS from the first byte (`smtps`), else STARTTLS, which is required.
    pub implicit_tls: bool,
    /// AUTH user and password, when the URL names them.
    pub credentials: Option<(String, Secret<String>)>,
    /// PEM file of extra roots the server's certificate may chain to (a private CA).
    pub ca: Option<std::path::PathBuf>,
    /// The From mailbox, `Name <address>` or `address`.
    pub from: String,
    /// Longest wait for the server on one command.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// The URL without its password.
    pub fn redacted(&self) -> String {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        match &self.credentials {
            Some((user, _)) => format!("{scheme}://{user}:***@{}:{}", self.host, self.port),
            None => format!("{scheme}://{}:{}", self.host, self.port),
        }
    }
}

/// Shortest link key: 256 bits.
const LINK_KEY_MIN_BYTES: usize = 32;

fn mail(low: &LowConfig, listen: SocketAddr) -> Result<MailConfig, ConfigError> {
    let public_url = low
        .public_url
        .text()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("http://{listen}"));
    let parsed = url::Url::parse(&public_url).map_err(|e| {
        low.public_url
            .error(format!("{public_url:?} is not a URL ({e})"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(low
            .public_url
            .error("must be http(s)://HOST[:PORT][/PATH], without query or fragment"));
    }
    let link_key = match low.link_key.text().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(k.trim())
                .map_err(|_| low.link_key.error("is not base64"))?;
            if bytes.len() < LINK_KEY_MIN_BYTES {
                return Err(low.link_key.error(format!(
                    "must decode to at least {LINK_KEY_MIN_BYTES} bytes, not {}",
                    bytes.len()
                )));
            }
            Some(Secret::new(bytes))
        }
    };
    let smtp = match low.smtp_url.text().filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => Some(smtp(low, u)?),
    };
    Ok(MailConfig {
        public_url: public_url.trim_end_matches('/').to_string(),
        link_key,
        smtp,
    })
}

fn smtp(low: &LowConfig, text: String) -> Result<SmtpConfig, ConfigError> {
    let bad = |why: &str| low.smtp_url.error(why);
    let u =
        url::Url::parse(&text).map_err(|_| bad("is not a URL (smtp://USER:PASSWORD@HOST:PORT)"))?;
    let implicit_tls = match u.scheme() {
        "smtp" => false,
        "smtps" => true,
        _ => return Err(bad("must start with smtp:// (STARTTLS) or smtps:// (TLS)")),
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = u.port().unwrap_or(if implicit_tls { 465 } else { 587 });
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = if u.username().is_empty() {
        None
    } else {
        Some((
            decode(u.username()),
            Secret::new(decode(u.password().unwrap_or_default())),
        ))
    };
    let ca = low
        .smtp_ca
        .text()
        .filter(|c| !c.is_empty())
        .map(std::path::PathBuf::from);
    if let Some(ca) = &ca {
        if !ca.is_file() {
            return Err(low
                .smtp_ca
                .error(format!("{} is not a readable file", ca.display())));
        }
    }
    let from = low
        .smtp_from
        .text()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "campushub <no-reply@localhost>".into());
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(low.smtp_from.error(format!(
            "{from:?} is not a mailbox (Name <address> or address)"
        )));
    }
    Ok(SmtpConfig {
        url: Secret::new(text.clone()),
        host,
        port,
        implicit_tls,
        credentials,
        ca,
        from,
        timeout: low.smtp_timeout_s.seconds(30.0)?,
    })
}

// The low level: every setting as found, before any check.

/// One setting as found: its variable's text, which wins, and the file's value.
struct Setting<T> {
    /// `CAMPUSHUB_LISTEN`: the variable, whose name every error about the setting starts with
    /// (the file's key is the same name without the prefix, in lower case).
    name: String,
    var: Option<String>,
    file: Option<T>,
}

impl<T> Setting<T> {
    fn new(key: &str, file: Option<T>, vars: &[(String, String)]) -> Setting<T> {
        let name = env_name(key);
        let var = vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone());
        Setting { name, var, file }
    }

    /// An error about this setting: one line naming it.
    fn error(&self, msg: impl fmt::Display) -> ConfigError {
        err(&self.name, msg)
    }
}

impl Setting<String> {
    /// The text, the variable's over the file's.
    fn text(&self) -> Option<String> {
        self.var.clone().or_else(|| self.file.clone())
    }
}

impl Setting<Vec<String>> {
    /// A comma-separated variable, else the file's list.
    fn list(&self) -> Vec<String> {
        match &self.var {
            Some(s) => s
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect(),
            None => self.file.clone().unwrap_or_default(),
        }
    }
}

impl Setting<bool> {
    /// `true`/`false` (or 1/0, yes/no, on/off in a variable).
    fn flag(&self, default: bool) -> Result<bool, ConfigError> {
        match &self.var {
            Some(s) => match s.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(self.error(format!("{s:?} is not true or false"))),
            },
            None => Ok(self.file.unwrap_or(default)),
        }
    }
}

impl Setting<f64> {
    /// A number of seconds from 0.001 to 86400.
    fn seconds(&self, default: f64) -> Result<Duration, ConfigError> {
        let v = match &self.var {
            Some(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| self.error(format!("{s:?} is not a number of seconds")))?,
            None => self.file.unwrap_or(default),
        };
        if !(0.001..=86_400.0).contains(&v) {
            return Err(self.error(format!("{v} is out of range (0.001 to 86400 seconds)")));
        }
        Ok(Duration::from_secs_f64(v))
    }
}

impl<T> Setting<T>
where
    T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
{
    /// A whole number within `range`.
    fn number(&self, default: T, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError> {
        let v = match &self.var {
            Some(s) => s
                .trim()
                .parse::<T>()
                .map_err(|_| self.error(format!("{s:?} is not a whole number")))?,
            None => self.file.unwrap_or(default),
        };
        if !range.contains(&v) {
            return Err(self.error(format!(
                "{v} is out of range ({} to {})",
                range.start(),
                range.end()
            )));
        }
        Ok(v)
    }
}

/// Declares every setting once, with the type its file value has: the file's shape
/// ([`FileConfig`], every key optional, unknown keys refused) and the settings as found
/// ([`LowConfig`]: the file's value and the `CAMPUSHUB_*` variable of the same name).
macro_rules! settings {
    ($($key:ident: $ty:ty,)*) => {
        /// The optional TOML file, as written; every key optional.
        #[derive(Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct FileConfig {
            $($key: Option<$ty>,)*
        }

        /// Every setting as found, nothing checked yet (no `Debug`: secrets are still plain).
        struct LowConfig {
            $($key: Setting<$ty>,)*
        }

        impl LowConfig {
            fn merge(file: FileConfig, vars: &[(String, String)]) -> LowConfig {
                LowConfig {
                    $($key: Setting::new(stringify!($key), file.$key, vars),)*
                }
            }
        }
    };
}

settings! {
    listen: String,
    shards: String,
    pin_cores: bool,
    hsts: bool,
    profiling: bool,
    docs_dir: String,
    rate_limits: String,
    rate_limit_shared: String,
    database_url: String,
    replica_url: String,
    redis_url: String,
    statements: String,
    db_connections_per_shard: u32,
    statement_timeout_ms: u64,
    replica_max_lag_ms: u64,
    header_timeout_s: f64,
    idle_timeout_s: f64,
    body_timeout_s: f64,
    max_connections_per_shard: u32,
    max_body_bytes: u64,
    max_header_bytes: u64,
    max_uri_bytes: u64,
    cors_origins: Vec<String>,
    trusted_proxies: Vec<String>,
    access_log_sample: f64,
    shutdown_grace_s: f64,
    ring_entries: u32,
    ring_mode: String,
    driver: String,
    drain_delay_s: f64,
    jwt_keys: String,
    jwt_signing_kid: String,
    access_token_ttl_s: u64,
    refresh_token_ttl_s: u64,
    login_max_failures: u32,
    login_account_max_failures: u32,
    api_key_max_days: u32,
    summary_cache_s: u64,
    ops_token: String,
    login_window_s: u64,
    password_threads: u32,
    password_queue: u32,
    profile_cache_entries: u32,
    profile_l2: bool,
    worker_concurrency: u32,
    worker_lease_s: f64,
    worker_poll_ms: u64,
    worker_metrics_listen: String,
    worker_keep_done_days: u32,
    report_fonts_dir: String,
    public_url: String,
    link_key: String,
    smtp_url: String,
    smtp_ca: String,
    smtp_from: String,
    smtp_timeout_s: f64,
}

impl LowConfig {
    /// The file named (if any) and the variables, unchecked.
    fn read(file: Option<&Path>, vars: &[(String, String)]) -> Result<LowConfig, ConfigError> {
        let file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("CAMPUSHUB_CONFIG", format!("{}: {e}", path.display())))?;
                toml::from_str(&text).map_err(|e| {
                    let msg = e.message().to_string();
                    err("CAMPUSHUB_CONFIG", format!("{}: {msg}", path.display()))
                })?
            }
            None => FileConfig::default(),
        };
        Ok(LowConfig::merge(file, vars))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const DB: (&str, &str) = (
        "CAMPUSHUB_DATABASE_URL",
        "postgres://app:pw@127.0.0.1:5432/campus",
    );

    #[test]
    fn defaults_apply() {
        let c = Config::from_sources(None, &vars(&[DB])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.statement_timeout, Duration::from_secs(2));
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert!(c.shards >= 1);
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (k, v) in [
            ("CAMPUSHUB_LISTEN", "nowhere"),
            ("CAMPUSHUB_SHARDS", "0"),
            ("CAMPUSHUB_STATEMENTS", "sometimes"),
            ("CAMPUSHUB_HEADER_TIMEOUT_S", "-1"),
            ("CAMPUSHUB_ACCESS_LOG_SAMPLE", "2"),
            ("CAMPUSHUB_CORS_ORIGINS", "example.edu"),
            ("CAMPUSHUB_REDIS_URL", "http://x"),
        ] {
            let e = Config::from_sources(None, &vars(&[DB, (k, v)])).unwrap_err();
            assert!(e.0.starts_with(k), "{k}: {}", e.0);
            assert!(!e.0.contains('\n'));
        }
    }

    #[test]
    fn missing_database_url_is_an_error() {
        let e = Config::from_sources(None, &[]).unwrap_err();
        assert!(e.0.starts_with("CAMPUSHUB_DATABASE_URL"));
    }

    #[test]
    fn describe_redacts_passwords() {
        let c = Config::from_sources(
            None,
            &vars(&[
                DB,
                ("CAMPUSHUB_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/"),
            ]),
        )
        .unwrap();
        let d = c.describe();
        assert!(!d.contains("pw@"), "{d}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("[redacted]"));
    }

    #[test]
    fn env_overrides_file() {
        let dir = std::env::temp_dir().join(format!("campushub-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nshards = \"3\"\n").unwrap();
        let c = Config::from_sources(
            Some(&path),
            &vars(&[DB, ("CAMPUSHUB_LISTEN", "127.0.0.1:9001")]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.shards, 3);
        std::fs::write(&path, "lisen = 1\n").unwrap();
        let e = Config::from_sources(Some(&path), &vars(&[DB])).unwrap_err();
        assert!(e.0.starts_with("CAMPUSHUB_CONFIG"), "{}", e.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
