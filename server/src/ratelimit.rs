//! Rate limits, per route group: GCRA per client address for anonymous calls, per principal
//! for authenticated ones, per client address on the log-in and credential routes, a strict
//! one per (account, address) pair on log-in attempts, and one per principal on credential
//! changes (password, MFA removal). Local policies are decided by the shard alone (one map lookup); shared
//! ones by a Redis script, so they hold across every shard and instance, falling back to the
//! shard's own limiter while Redis is away. Over a limit: 429 with `Retry-After` and the IETF
//! `RateLimit` / `RateLimit-Policy` fields.

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use campushub_cache::ratelimit::{policy_value, Decision, LocalLimiter, Policy, SharedLimiter};

use crate::api_error::ApiError;
use crate::router::Route;
use crate::shard::Shard;

/// The policies, as configured (`None`: that limit is off).
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Per client address, requests without a valid access token.
    pub anonymous: Option<Policy>,
    /// Per principal, requests with a valid access token.
    pub authenticated: Option<Policy>,
    /// Per client address, on the log-in, refresh and log-out routes.
    pub auth: Option<Policy>,
    /// Per (account, client address) on log-in attempts and one-time codes: the account, not
    /// the string typed (a username and its email share a budget; a name that matches no
    /// account has its own), and per address, so that nobody elsewhere can spend it.
    pub login: Option<Policy>,
    /// Per principal, on password changes and MFA removal (guesses of a current secret).
    pub credentials: Option<Policy>,
    /// Which of the five go through Redis: `[anonymous, authenticated, auth, login,
    /// credentials]`.
    pub shared: [bool; 5],
    /// Each policy's `RateLimit-Policy` value, made once: configuration lives as long as the
    /// process, and a response then carries it without formatting or allocating.
    policy_headers: [&'static str; 5],
}

/// Default policies: generous for API use, strict where passwords are guessed.
pub const DEFAULT_SPEC: &str =
    "anonymous=600/1m,authenticated=6000/1m,auth=60/1m,login=10/5m,credentials=10/15m";
/// Policies that hold across instances by default.
pub const DEFAULT_SHARED: &str = "auth,login,credentials";

const NAMES: [&str; 5] = ["anonymous", "authenticated", "auth", "login", "credentials"];

fn parse_period(s: &str) -> Option<Duration> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

impl RateLimits {
    /// Parses `name=LIMIT/PERIOD` (or `name=off`) pairs over the defaults, and the list of
    /// shared policy names. Periods: `30s`, `1m`, `1h`, `1d`.
    pub fn parse(spec: &str, shared: &str) -> Result<RateLimits, String> {
        let mut policies: [Option<Policy>; 5] = [None, None, None, None, None];
        for part in DEFAULT_SPEC
            .split(',')
            .chain(spec.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not name=LIMIT/PERIOD"))?;
            let i = NAMES
                .iter()
                .position(|n| *n == name.trim())
                .ok_or_else(|| {
                    format!(
                        "{name:?} is not a policy (anonymous, authenticated, auth, login, credentials)"
                    )
                })?;
            let value = value.trim();
            policies[i] = if value == "off" {
                None
            } else {
                let (limit, period) = value
                    .split_once('/')
                    .ok_or_else(|| format!("{name}: {value:?} is not LIMIT/PERIOD like 60/1m"))?;
                let limit: u32 = limit
                    .parse()
                    .map_err(|_| format!("{name}: {limit:?} is not a whole number"))?;
                let period = parse_period(period).ok_or_else(|| {
                    format!("{name}: {period:?} is not a period like 30s, 1m, 1h")
                })?;
                Some(Policy::new(NAMES[i], limit, period)?)
            };
        }
        let mut shared_flags = [false; 5];
        for name in shared.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let i = NAMES
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| format!("{name:?} is not a policy name"))?;
            shared_flags[i] = true;
        }
        let policy_headers = policies.each_ref().map(|p| -> &'static str {
            match p {
                Some(p) => Box::leak(policy_value(p).into_boxed_str()),
                None => "",
            }
        });
        let [anonymous, authenticated, auth, login, credentials] = policies;
        Ok(RateLimits {
            policy_headers,
            anonymous,
            authenticated,
            auth,
            login,
            credentials,
            shared: shared_flags,
        })
    }

    /// One line for `config check`.
    pub fn describe(&self) -> String {
        [
            &self.anonymous,
            &self.authenticated,
            &self.auth,
            &self.login,
            &self.credentials,
        ]
        .iter()
        .zip(NAMES)
        .zip(self.shared)
        .map(|((p, name), shared)| match p {
            Some(p) => format!(
                "{name}={}/{}s{}",
                p.limit,
                p.period.as_secs(),
                if shared { " (shared)" } else { "" }
            ),
            None => format!("{name}=off"),
        })
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The shard's limiter state.
pub struct ShardLimiters {
    anonymous: RefCell<LocalLimiter<IpAddr>>,
    authenticated: RefCell<LocalLimiter<i64>>,
    auth: RefCell<LocalLimiter<IpAddr>>,
    login: RefCell<LocalLimiter<Box<str>>>,
    credentials: RefCell<LocalLimiter<i64>>,
    shared: SharedLimiter,
}

impl Default for ShardLimiters {
    fn default() -> Self {
        ShardLimiters {
            anonymous: RefCell::new(LocalLimiter::new(100_000)),
            authenticated: RefCell::new(LocalLimiter::new(100_000)),
            auth: RefCell::new(LocalLimiter::new(100_000)),
            login: RefCell::new(LocalLimiter::new(100_000)),
            credentials: RefCell::new(LocalLimiter::new(100_000)),
            shared: SharedLimiter::new(),
        }
    }
}

/// A limit that was applied to a request, for its response headers.
#[derive(Debug)]
pub struct Applied {
    /// `RateLimit-Policy` value.
    pub policy: &'static str,
    /// Which policy (index into the five).
    which: usize,
    /// Its decision.
    pub decision: Decision,
}

impl Applied {
    /// The `RateLimit` value: `"<name>";r=<remaining>;t=<seconds until full>`.
    pub fn state(&self) -> String {
        let d = &self.decision;
        let t = d
            .reset_after
            .as_secs()
            .saturating_add(u64::from(d.reset_after.subsec_nanos() > 0));
        format!("\"{}\";r={};t={t}", NAMES[self.which], d.remaining)
    }

    /// The 429 for a refused request.
    fn refused(&self) -> ApiError {
        ApiError::RateLimited {
            retry_after_s: self.decision.retry_after_s().unwrap_or(1),
            policy: self.policy,
            state: self.state(),
        }
    }
}

/// Which limiter a decision comes from. Each policy keeps its keys in its own namespace
/// (`campushub:rl:<policy>:...` in Redis, its own map in a shard), and the log-in key is
/// built from a throttle subject (`u:<id>` or `n:<name>`) and the address, so no value typed
/// into a form can name another policy's or another account's bucket.
enum Key<'k> {
    Ip(IpAddr),
    User(i64),
    Login(&'k str),
    Credentials(i64),
}

async fn decide(
    shard: &Shard,
    which: usize,
    policy: &Policy,
    key: Key<'_>,
) -> Result<Applied, ApiError> {
    let limits = &shard.config.rate_limits;
    let applied = |decision| Applied {
        policy: limits.policy_headers[which],
        which,
        decision,
    };
    if limits.shared[which] {
        if let Some(redis) = shard.redis.as_ref().filter(|r| r.connected()) {
            let redis_key = match &key {
                Key::Ip(ip) => format!("campushub:rl:{}:{ip}", NAMES[which]),
                Key::User(id) => format!("campushub:rl:{}:{id}", NAMES[which]),
                Key::Login(name) => format!("campushub:rl:{}:{name}", NAMES[which]),
                Key::Credentials(id) => format!("campushub:rl:{}:{id}", NAMES[which]),
            };
            // Redis away or slow: the shard's own limiter decides instead.
            if let Ok(decision) = shard.limiters.shared.check(redis, &redis_key, policy).await {
                return Ok(applied(decision));
            }
        }
    }
    let now = Instant::now();
    let l = &shard.limiters;
    let decision = match key {
        Key::Ip(ip) if which == 0 => l.anonymous.borrow_mut().check(&ip, policy, now),
        Key::Ip(ip) => l.auth.borrow_mut().check(&ip, policy, now),
        Key::User(id) => l.authenticated.borrow_mut().check(&id, policy, now),
        Key::Login(name) => l.login.borrow_mut().check(name, policy, now),
        Key::Credentials(id) => l.credentials.borrow_mut().check(&id, policy, now),
    };
    Ok(applied(decision))
}

/// Applies the route group's limit to a request: `Ok(Some)` when one applied and allowed it,
/// `Err` (429) when it refused. `user` names the principal when the request carries a valid
/// credential; it is asked only on routes limited per principal, so probes and log-in routes
/// never verify a token for it.
pub async fn check_request(
    shard: &Shard,
    route: Route,
    peer: IpAddr,
    user: impl FnOnce() -> Option<i64>,
) -> Result<Option<Applied>, ApiError> {
    let limits = &shard.config.rate_limits;
    let applied = match route {
        // Probes are for operators and balancers; limiting them would fail health checks.
        Route::Healthz | Route::Readyz | Route::Metrics => return Ok(None),
        Route::Login
        | Route::Refresh
        | Route::Logout
        | Route::MfaVerify
        | Route::MfaDisable
        | Route::Password => match &limits.auth {
            Some(p) => decide(shard, 2, p, Key::Ip(peer)).await?,
            None => return Ok(None),
        },
        _ => match (user(), &limits.authenticated, &limits.anonymous) {
            (Some(id), Some(p), _) => decide(shard, 1, p, Key::User(id)).await?,
            (Some(_), None, _) => return Ok(None),
            (None, _, Some(p)) => decide(shard, 0, p, Key::Ip(peer)).await?,
            (None, _, None) => return Ok(None),
        },
    };
    if applied.decision.allowed {
        Ok(Some(applied))
    } else {
        shard.metrics.borrow_mut().rate_limited_total += 1;
        Err(applied.refused())
    }
}

/// The strict limit on log-in attempts and one-time codes, per throttle subject (`u:<id>` for
/// an account, `n:<name>` for a name that matches none) and client address.
pub async fn check_login(shard: &Shard, subject: &str, peer: IpAddr) -> Result<(), ApiError> {
    let Some(policy) = &shard.config.rate_limits.login else {
        return Ok(());
    };
    let key = format!("{subject}|{peer}");
    let applied = decide(shard, 3, policy, Key::Login(&key)).await?;
    finish(shard, &applied)
}

/// The per-principal limit on credential changes (password, MFA removal).
pub async fn check_credentials(shard: &Shard, user: i64) -> Result<(), ApiError> {
    let Some(policy) = &shard.config.rate_limits.credentials else {
        return Ok(());
    };
    let applied = decide(shard, 4, policy, Key::Credentials(user)).await?;
    finish(shard, &applied)
}

fn finish(shard: &Shard, applied: &Applied) -> Result<(), ApiError> {
    if applied.decision.allowed {
        Ok(())
    } else {
        shard.metrics.borrow_mut().rate_limited_total += 1;
        Err(applied.refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies_over_the_defaults() {
        let l = RateLimits::parse("authenticated=off, login=3/30s", "login").unwrap();
        assert!(l.authenticated.is_none());
        let login = l.login.unwrap();
        assert_eq!((login.limit, login.period), (3, Duration::from_secs(30)));
        assert_eq!(l.anonymous.unwrap().period, Duration::from_secs(60));
        assert_eq!(l.shared, [false, false, false, true, false]);
        for bad in [
            "nobody=1/1m",
            "login=1",
            "login=x/1m",
            "login=1/1y",
            "login=1/0s",
            "login",
        ] {
            assert!(RateLimits::parse(bad, "").is_err(), "{bad}");
        }
        assert!(RateLimits::parse("", "everyone").is_err());
        assert_eq!(l.policy_headers[3], "\"login\";q=3;w=30");
        assert_eq!(
            RateLimits::parse("", DEFAULT_SHARED).unwrap().describe(),
            "anonymous=600/60s, authenticated=6000/60s, auth=60/60s (shared), login=10/300s (shared), credentials=10/900s (shared)"
        );
    }
}
