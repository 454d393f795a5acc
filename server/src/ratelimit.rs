//! Rate limits, per route group: GCRA per client address for anonymous calls, per principal
//! for authenticated ones, per client address on the log-in and credential routes, a strict
//! one per (account, address) pair on log-in attempts, and one per principal on credential
//! changes (password, MFA removal). Local policies are decided by the shard alone (one map lookup); shared
//! ones by a Redis script, so they hold across every shard and instance, falling back to the
//! shard's own limiter while Redis is away. Over a limit: 429 with `Retry-After` and the IETF
//! `RateLimit` / `RateLimit-Policy` fields.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::time::Instant;

use campushub_cache::policies::PolicyName;
use campushub_cache::ratelimit::{Decision, LocalLimiter, Policy, SharedLimiter};
use campushub_cache::{RateLimits, ShardRedis};

use crate::api_error::ApiError;
pub use crate::router::LimitGroup;

/// The shard's limiter state.
pub struct ShardLimiters {
    anonymous: RefCell<LocalLimiter<IpAddr>>,
    authenticated: RefCell<LocalLimiter<i64>>,
    auth: RefCell<LocalLimiter<IpAddr>>,
    login: RefCell<LocalLimiter<Box<str>>>,
    credentials: RefCell<LocalLimiter<i64>>,
    shared: SharedLimiter,
    /// Requests refused with 429 since start (the shard's metrics read it).
    refused_total: Cell<u64>,
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
            refused_total: Cell::new(0),
        }
    }
}

/// A limit that was applied to a request, for its response headers.
#[derive(Debug)]
pub struct Applied {
    /// `RateLimit-Policy` value.
    pub policy: &'static str,
    /// Which policy.
    name: PolicyName,
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
        format!("\"{}\";r={};t={t}", self.name.as_str(), d.remaining)
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
    Anonymous(IpAddr),
    Authenticated(i64),
    Auth(IpAddr),
    Login(&'k str),
    Credentials(i64),
}

impl Key<'_> {
    /// The policy this key counts against.
    fn policy(&self) -> PolicyName {
        match self {
            Key::Anonymous(_) => PolicyName::Anonymous,
            Key::Authenticated(_) => PolicyName::Authenticated,
            Key::Auth(_) => PolicyName::Auth,
            Key::Login(_) => PolicyName::Login,
            Key::Credentials(_) => PolicyName::Credentials,
        }
    }
}

impl ShardLimiters {
    async fn decide(
        &self,
        limits: &RateLimits,
        redis: Option<&ShardRedis>,
        policy: &Policy,
        key: Key<'_>,
    ) -> Result<Applied, ApiError> {
        let name = key.policy();
        let applied = |decision| Applied {
            policy: limits.header(name),
            name,
            decision,
        };
        if limits.is_shared(name) {
            if let Some(redis) = redis.filter(|r| r.connected()) {
                let n = name.as_str();
                let redis_key = match &key {
                    Key::Anonymous(ip) | Key::Auth(ip) => format!("campushub:rl:{n}:{ip}"),
                    Key::Authenticated(id) | Key::Credentials(id) => {
                        format!("campushub:rl:{n}:{id}")
                    }
                    Key::Login(subject) => format!("campushub:rl:{n}:{subject}"),
                };
                // Redis away or slow: the shard's own limiter decides instead.
                if let Ok(decision) = self.shared.check(redis, &redis_key, policy).await {
                    return Ok(applied(decision));
                }
            }
        }
        let now = Instant::now();
        let l = self;
        let decision = match key {
            Key::Anonymous(ip) => l.anonymous.borrow_mut().check(&ip, policy, now),
            Key::Auth(ip) => l.auth.borrow_mut().check(&ip, policy, now),
            Key::Authenticated(id) => l.authenticated.borrow_mut().check(&id, policy, now),
            Key::Login(name) => l.login.borrow_mut().check(name, policy, now),
            Key::Credentials(id) => l.credentials.borrow_mut().check(&id, policy, now),
        };
        Ok(applied(decision))
    }

    /// Applies the route's limit group to a request: `Ok(Some)` when a limit applied and allowed
    /// it, `Err` (429) when it refused. `user` is the principal the authentication stage found
    /// without the database (`auth::caller::rate_identity`), asked for only in the group limited
    /// per principal, so probes and log-in routes never verify a token for it.
    pub async fn check_request(
        &self,
        limits: &RateLimits,
        redis: Option<&ShardRedis>,
        group: LimitGroup,
        peer: IpAddr,
        user: Option<i64>,
    ) -> Result<Option<Applied>, ApiError> {
        let applied = match group {
            // Probes are for operators and balancers; limiting them would fail health checks.
            LimitGroup::Probe => return Ok(None),
            LimitGroup::Auth => match &limits.auth {
                Some(p) => self.decide(limits, redis, p, Key::Auth(peer)).await?,
                None => return Ok(None),
            },
            // Readiness reaches here only from non-operators, with no `user`: anonymous.
            LimitGroup::Caller | LimitGroup::Readiness => {
                match (user, &limits.authenticated, &limits.anonymous) {
                    (Some(id), Some(p), _) => {
                        self.decide(limits, redis, p, Key::Authenticated(id))
                            .await?
                    }
                    (Some(_), None, _) => return Ok(None),
                    (None, _, Some(p)) => {
                        self.decide(limits, redis, p, Key::Anonymous(peer)).await?
                    }
                    (None, _, None) => return Ok(None),
                }
            }
        };
        self.finish(&applied)?;
        Ok(Some(applied))
    }

    /// The strict limit on log-in attempts and one-time codes, per throttle subject (`u:<id>` for
    /// an account, `n:<name>` for a name that matches none) and client address.
    pub async fn check_login(
        &self,
        limits: &RateLimits,
        redis: Option<&ShardRedis>,
        subject: &str,
        peer: IpAddr,
    ) -> Result<(), ApiError> {
        let Some(policy) = &limits.login else {
            return Ok(());
        };
        let key = format!("{subject}|{peer}");
        let applied = self.decide(limits, redis, policy, Key::Login(&key)).await?;
        self.finish(&applied)
    }

    /// The per-principal limit on credential changes (password, MFA removal).
    pub async fn check_credentials(
        &self,
        limits: &RateLimits,
        redis: Option<&ShardRedis>,
        user: i64,
    ) -> Result<(), ApiError> {
        let Some(policy) = &limits.credentials else {
            return Ok(());
        };
        let applied = self
            .decide(limits, redis, policy, Key::Credentials(user))
            .await?;
        self.finish(&applied)
    }

    /// `Err` (429, counted) when the limit refused.
    fn finish(&self, applied: &Applied) -> Result<(), ApiError> {
        if applied.decision.allowed {
            Ok(())
        } else {
            self.refused_total.set(self.refused_total.get() + 1);
            Err(applied.refused())
        }
    }

    /// Requests refused with 429 since start.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.get()
    }
}
