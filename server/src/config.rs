//! Configuration: raw values from an optional TOML file and `CAMPUSHUB_*` variables, then one
//! validated [`Config`] built before any thread starts.
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

/// Raw settings as they come from the file; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    shards: Option<String>,
    pin_cores: Option<bool>,
    hsts: Option<bool>,
    profiling: Option<bool>,
    docs_dir: Option<String>,
    rate_limits: Option<String>,
    rate_limit_shared: Option<String>,
    database_url: Option<String>,
    replica_url: Option<String>,
    redis_url: Option<String>,
    statements: Option<String>,
    db_connections_per_shard: Option<u32>,
    statement_timeout_ms: Option<u64>,
    replica_max_lag_ms: Option<u64>,
    header_timeout_s: Option<f64>,
    idle_timeout_s: Option<f64>,
    body_timeout_s: Option<f64>,
    max_connections_per_shard: Option<u32>,
    max_body_bytes: Option<u64>,
    max_header_bytes: Option<u64>,
    max_uri_bytes: Option<u64>,
    cors_origins: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    access_log_sample: Option<f64>,
    shutdown_grace_s: Option<f64>,
    ring_entries: Option<u32>,
    ring_mode: Option<String>,
    driver: Option<String>,
    drain_delay_s: Option<f64>,
    jwt_keys: Option<String>,
    jwt_signing_kid: Option<String>,
    access_token_ttl_s: Option<u64>,
    refresh_token_ttl_s: Option<u64>,
    login_max_failures: Option<u32>,
    login_account_max_failures: Option<u32>,
    api_key_max_days: Option<u32>,
    summary_cache_s: Option<u64>,
    ops_token: Option<String>,
    login_window_s: Option<u64>,
    password_threads: Option<u32>,
    password_queue: Option<u32>,
    profile_cache_entries: Option<u32>,
    profile_l2: Option<bool>,
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

    /// Builds a config from an optional file and a list of environment variables (testable).
    pub fn from_sources(
        file: Option<&Path>,
        vars: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("CAMPUSHUB_CONFIG", format!("{}: {e}", path.display())))?;
                toml::from_str(&text).map_err(|e| {
                    let msg = e.message().to_string();
                    err("CAMPUSHUB_CONFIG", format!("{}: {msg}", path.display()))
                })?
            }
            None => RawConfig::default(),
        };
        let env = |key: &str| -> Option<String> {
            let name = env_name(key);
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };

        let listen_s = env("listen")
            .or(raw.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_s.parse().map_err(|_| {
            err(
                "CAMPUSHUB_LISTEN",
                format!("{listen_s:?} is not an address like 127.0.0.1:8080"),
            )
        })?;

        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let shards = match env("shards").or(raw.shards) {
            None => cores,
            Some(s) if s == "auto" => cores,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => n,
                _ => {
                    return Err(err(
                        "CAMPUSHUB_SHARDS",
                        format!("{s:?} is not `auto` or a number from 1 to 1024"),
                    ))
                }
            },
        };
        let pin_cores = parse_bool("pin_cores", env("pin_cores"), raw.pin_cores, true)?;
        let hsts = parse_bool("hsts", env("hsts"), raw.hsts, false)?;
        let profiling = parse_bool("profiling", env("profiling"), raw.profiling, false)?;
        let docs_dir = env("docs_dir")
            .or(raw.docs_dir)
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from);
        let rate_limits = campushub_cache::RateLimits::parse(
            &env("rate_limits").or(raw.rate_limits).unwrap_or_default(),
            &env("rate_limit_shared")
                .or(raw.rate_limit_shared)
                .unwrap_or_else(|| campushub_cache::policies::DEFAULT_SHARED.into()),
        )
        .map_err(|e| err("CAMPUSHUB_RATE_LIMITS", e))?;

        let database_s = env("database_url").or(raw.database_url).ok_or_else(|| {
            err(
                "CAMPUSHUB_DATABASE_URL",
                "not set (for the local stack: set -a; . .stack/env; set +a)",
            )
        })?;
        let database =
            DbUrl::parse(&database_s).map_err(|e| err("CAMPUSHUB_DATABASE_URL", e.to_string()))?;
        let replica = match env("replica_url").or(raw.replica_url) {
            Some(s) if !s.is_empty() => {
                Some(DbUrl::parse(&s).map_err(|e| err("CAMPUSHUB_REPLICA_URL", e.to_string()))?)
            }
            _ => None,
        };
        let redis_url = match env("redis_url").or(raw.redis_url) {
            Some(s) if !s.is_empty() => {
                campushub_cache::RedisTarget::parse(&s)
                    .map_err(|e| err("CAMPUSHUB_REDIS_URL", e))?;
                Some(Secret::new(s))
            }
            _ => None,
        };
        let statements = match env("statements")
            .or(raw.statements)
            .as_deref()
            .unwrap_or("prepared")
        {
            "prepared" => StatementMode::Prepared,
            "unnamed" => StatementMode::Unnamed,
            other => {
                return Err(err(
                    "CAMPUSHUB_STATEMENTS",
                    format!("{other:?} is not `prepared` or `unnamed`"),
                ))
            }
        };

        let db_connections_per_shard = parse_num(
            "db_connections_per_shard",
            env("db_connections_per_shard"),
            raw.db_connections_per_shard,
            2u32,
            1..=64,
        )?;
        let statement_timeout_ms = parse_num(
            "statement_timeout_ms",
            env("statement_timeout_ms"),
            raw.statement_timeout_ms,
            2000u64,
            10..=600_000,
        )?;
        let replica_max_lag_ms = parse_num(
            "replica_max_lag_ms",
            env("replica_max_lag_ms"),
            raw.replica_max_lag_ms,
            5000u64,
            0..=3_600_000,
        )?;
        let header_timeout = parse_secs(
            "header_timeout_s",
            env("header_timeout_s"),
            raw.header_timeout_s,
            10.0,
        )?;
        let idle_timeout = parse_secs(
            "idle_timeout_s",
            env("idle_timeout_s"),
            raw.idle_timeout_s,
            60.0,
        )?;
        let body_timeout = parse_secs(
            "body_timeout_s",
            env("body_timeout_s"),
            raw.body_timeout_s,
            30.0,
        )?;
        let max_connections_per_shard = parse_num(
            "max_connections_per_shard",
            env("max_connections_per_shard"),
            raw.max_connections_per_shard,
            10_000u32,
            1..=1_000_000,
        )?;
        let max_body_bytes = parse_num(
            "max_body_bytes",
            env("max_body_bytes"),
            raw.max_body_bytes,
            1u64 << 20,
            0..=1u64 << 30,
        )?;
        let max_header_bytes = parse_num(
            "max_header_bytes",
            env("max_header_bytes"),
            raw.max_header_bytes,
            16 * 1024u64,
            1024..=1 << 20,
        )? as usize;
        let max_uri_bytes = parse_num(
            "max_uri_bytes",
            env("max_uri_bytes"),
            raw.max_uri_bytes,
            8 * 1024u64,
            64..=1 << 20,
        )? as usize;
        if max_uri_bytes >= max_header_bytes {
            return Err(err(
                "CAMPUSHUB_MAX_URI_BYTES",
                "must be smaller than CAMPUSHUB_MAX_HEADER_BYTES",
            ));
        }
        // A comma-separated variable, else the file's list.
        let list = |var: Option<String>, file: Option<Vec<String>>| -> Vec<String> {
            match var {
                Some(s) => s
                    .split(',')
                    .map(|o| o.trim().to_string())
                    .filter(|o| !o.is_empty())
                    .collect(),
                None => file.unwrap_or_default(),
            }
        };
        let cors_origins = list(env("cors_origins"), raw.cors_origins);
        for origin in &cors_origins {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && !origin.contains(char::is_whitespace);
            if !ok {
                return Err(err(
                    "CAMPUSHUB_CORS_ORIGINS",
                    format!("{origin:?} is not an origin like https://app.example.edu"),
                ));
            }
        }
        let trusted_proxies = list(env("trusted_proxies"), raw.trusted_proxies)
            .iter()
            .map(|c| crate::net::forwarded::Cidr::parse(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err("CAMPUSHUB_TRUSTED_PROXIES", e))?;
        let access_log_sample = match env("access_log_sample") {
            Some(s) => s.parse::<f64>().map_err(|_| {
                err(
                    "CAMPUSHUB_ACCESS_LOG_SAMPLE",
                    format!("{s:?} is not a number"),
                )
            })?,
            None => raw.access_log_sample.unwrap_or(1.0),
        };
        if !(0.0..=1.0).contains(&access_log_sample) {
            return Err(err(
                "CAMPUSHUB_ACCESS_LOG_SAMPLE",
                "must be between 0 and 1",
            ));
        }
        let shutdown_grace = parse_secs(
            "shutdown_grace_s",
            env("shutdown_grace_s"),
            raw.shutdown_grace_s,
            10.0,
        )?;
        let ring_entries = parse_num(
            "ring_entries",
            env("ring_entries"),
            raw.ring_entries,
            1024u32,
            8..=32768,
        )?;

        let ring_mode = match env("ring_mode")
            .or(raw.ring_mode)
            .as_deref()
            .unwrap_or("defer")
        {
            "coop" => RingMode::Coop,
            "defer" => RingMode::Defer,
            other => {
                return Err(err(
                    "CAMPUSHUB_RING_MODE",
                    format!("{other:?} is not `coop` or `defer`"),
                ))
            }
        };
        let driver = match env("driver").or(raw.driver).as_deref().unwrap_or("auto") {
            "auto" => DriverChoice::Auto,
            "epoll" => DriverChoice::Epoll,
            other => {
                return Err(err(
                    "CAMPUSHUB_DRIVER",
                    format!("{other:?} is not `auto` or `epoll`"),
                ))
            }
        };
        let drain_delay = match env("drain_delay_s") {
            Some(v) => v.trim().parse::<f64>().map_err(|_| {
                err(
                    "CAMPUSHUB_DRAIN_DELAY_S",
                    format!("{v:?} is not a number of seconds"),
                )
            })?,
            None => raw.drain_delay_s.unwrap_or(0.0),
        };
        if !(0.0..=3600.0).contains(&drain_delay) {
            return Err(err(
                "CAMPUSHUB_DRAIN_DELAY_S",
                format!("{drain_delay} is out of range (0 to 3600 seconds)"),
            ));
        }
        let drain_delay = Duration::from_secs_f64(drain_delay);

        let jwt_keys = match env("jwt_keys").or(raw.jwt_keys) {
            Some(spec) if !spec.trim().is_empty() => {
                let signing = env("jwt_signing_kid").or(raw.jwt_signing_kid);
                Some(
                    crate::auth::tokens::KeySet::parse(&spec, signing.as_deref())
                        .map_err(|e| err("CAMPUSHUB_JWT_KEYS", e))?,
                )
            }
            _ => None,
        };
        let access_token_ttl_s = parse_num(
            "access_token_ttl_s",
            env("access_token_ttl_s"),
            raw.access_token_ttl_s,
            900u64,
            60..=86_400,
        )?;
        let refresh_token_ttl_s = parse_num(
            "refresh_token_ttl_s",
            env("refresh_token_ttl_s"),
            raw.refresh_token_ttl_s,
            30 * 86_400u64,
            3_600..=365 * 86_400,
        )?;
        let login_max_failures = parse_num(
            "login_max_failures",
            env("login_max_failures"),
            raw.login_max_failures,
            5u32,
            1..=1_000,
        )?;
        let login_window_s = parse_num(
            "login_window_s",
            env("login_window_s"),
            raw.login_window_s,
            900u64,
            1..=86_400,
        )?;
        let login_account_max_failures = parse_num(
            "login_account_max_failures",
            env("login_account_max_failures"),
            raw.login_account_max_failures,
            50u32,
            1..=100_000,
        )?;
        if login_account_max_failures < login_max_failures {
            return Err(err(
                "CAMPUSHUB_LOGIN_ACCOUNT_MAX_FAILURES",
                "must not be below CAMPUSHUB_LOGIN_MAX_FAILURES (the per-address limit)",
            ));
        }
        let api_key_max_days = parse_num(
            "api_key_max_days",
            env("api_key_max_days"),
            raw.api_key_max_days,
            365u32,
            1..=3650,
        )?;
        let summary_cache_s = parse_num(
            "summary_cache_s",
            env("summary_cache_s"),
            raw.summary_cache_s,
            60u64,
            0..=3600,
        )?;
        let ops_token = match env("ops_token").or(raw.ops_token) {
            Some(t) if t.is_empty() => None,
            Some(t) => {
                // Compared with every scrape; short or odd tokens are a configuration mistake.
                let ok = t.len() >= 16 && t.len() <= 256 && t.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(err(
                        "CAMPUSHUB_OPS_TOKEN",
                        "must be 16 to 256 printable ASCII characters without spaces",
                    ));
                }
                Some(Secret::new(t))
            }
            None => None,
        };
        let password_threads = parse_num(
            "password_threads",
            env("password_threads"),
            raw.password_threads,
            2u32,
            1..=256,
        )?;
        let password_queue = parse_num(
            "password_queue",
            env("password_queue"),
            raw.password_queue,
            64u32,
            1..=100_000,
        )?;
        let profile_cache_entries = parse_num(
            "profile_cache_entries",
            env("profile_cache_entries"),
            raw.profile_cache_entries,
            50_000u32,
            0..=10_000_000,
        )?;
        let profile_l2 = parse_bool("profile_l2", env("profile_l2"), raw.profile_l2, true)?;

        Ok(Config {
            listen,
            shards,
            pin_cores,
            hsts,
            rate_limits,
            profiling,
            docs_dir,
            database,
            replica,
            redis_url,
            statements,
            db_connections_per_shard,
            statement_timeout: Duration::from_millis(statement_timeout_ms),
            replica_max_lag: Duration::from_millis(replica_max_lag_ms),
            header_timeout,
            idle_timeout,
            body_timeout,
            max_connections_per_shard,
            max_body_bytes,
            max_header_bytes,
            max_uri_bytes,
            cors_origins,
            trusted_proxies,
            access_log_sample,
            shutdown_grace,
            ring_entries,
            ring_mode,
            driver,
            drain_delay,
            jwt_keys,
            access_token_ttl: Duration::from_secs(access_token_ttl_s),
            refresh_token_ttl: Duration::from_secs(refresh_token_ttl_s),
            login_max_failures,
            login_account_max_failures,
            api_key_max_days,
            summary_cache: Duration::from_secs(summary_cache_s),
            ops_token,
            login_window: Duration::from_secs(login_window_s),
            password_threads,
            password_queue,
            profile_cache_entries,
            profile_l2,
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
        if let Some(d) = &self.docs_dir {
            line("docs_dir", format!("{:?}", d.display().to_string()));
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

fn parse_bool(
    key: &str,
    env: Option<String>,
    file: Option<bool>,
    default: bool,
) -> Result<bool, ConfigError> {
    match env {
        Some(s) => match s.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(err(&env_name(key), format!("{s:?} is not true or false"))),
        },
        None => Ok(file.unwrap_or(default)),
    }
}

fn parse_num<T>(
    key: &str,
    env: Option<String>,
    file: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
{
    let v = match env {
        Some(s) => s
            .trim()
            .parse::<T>()
            .map_err(|_| err(&env_name(key), format!("{s:?} is not a whole number")))?,
        None => file.unwrap_or(default),
    };
    if !range.contains(&v) {
        return Err(err(
            &env_name(key),
            format!("{v} is out of range ({} to {})", range.start(), range.end()),
        ));
    }
    Ok(v)
}

fn parse_secs(
    key: &str,
    env: Option<String>,
    file: Option<f64>,
    default: f64,
) -> Result<Duration, ConfigError> {
    let v = match env {
        Some(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| err(&env_name(key), format!("{s:?} is not a number of seconds")))?,
        None => file.unwrap_or(default),
    };
    if !(0.001..=86_400.0).contains(&v) {
        return Err(err(
            &env_name(key),
            format!("{v} is out of range (0.001 to 86400 seconds)"),
        ));
    }
    Ok(Duration::from_secs_f64(v))
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
