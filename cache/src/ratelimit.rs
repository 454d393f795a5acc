//! Rate limiting with GCRA (the generic cell rate algorithm): the policy, the pure decision,
//! the bounded per-shard limiter, the cross-instance limiter on Redis, and the values of the
//! RateLimit header fields.
//!
//! GCRA keeps one number per key, the theoretical arrival time (TAT): the instant at which the
//! key's bucket is full again. A policy of `limit` requests per `period` has the emission
//! interval T = period / limit and the tolerance tau = period - T. A request at `now` is allowed
//! when `max(TAT, now) - now <= tau`, and then moves the TAT on by T. That allows a burst of
//! `limit` at once and one request every T after it, with no timers, no windows to reset, and
//! nothing stored for a key whose bucket is full.
//!
//! Keys belong to the caller, for both limiters: namespace them (`login:ip:203.0.113.7`,
//! `api:user:42`) and check one key against one policy only, since the TAT means nothing under
//! another emission interval.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::hash::Hash;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hashbrown::HashMap;

use crate::{RedisError, ShardRedis};

/// The longest period a policy may have. It keeps every time the Redis script handles (TATs in
/// microseconds since the Unix epoch, until about the year 2200) below 2^53, where Lua's
/// doubles still hold integers exactly; a hand-built longer policy is treated as this long.
pub const MAX_PERIOD: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `limit` requests per `period`, with bursts of up to `limit`.
///
/// Build it with [`Policy::new`]. The fields are public for reading; a policy built by hand
/// that `new` would refuse never panics: a limit of 0 denies everything, a zero period limits
/// to one request per nanosecond after the burst, a period over [`MAX_PERIOD`] counts as that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Shown to clients in the RateLimit header fields: printable ASCII.
    pub name: String,
    /// Requests allowed per `period`, which is also the largest burst.
    pub limit: u32,
    /// The window `limit` refers to.
    pub period: Duration,
}

impl Policy {
    /// A checked policy; the error is one line naming the policy and what is wrong.
    pub fn new(name: impl Into<String>, limit: u32, period: Duration) -> Result<Policy, String> {
        let name = name.into();
        if name.is_empty() || !name.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(format!(
                "rate-limit policy name {name:?} must be non-empty printable ASCII"
            ));
        }
        if limit == 0 {
            return Err(format!(
                "rate-limit policy {name:?}: limit must be at least 1"
            ));
        }
        if period.is_zero() {
            return Err(format!(
                "rate-limit policy {name:?}: period must be longer than zero"
            ));
        }
        if period > MAX_PERIOD {
            return Err(format!(
                "rate-limit policy {name:?}: period must be at most 100 years"
            ));
        }
        Ok(Policy {
            name,
            limit,
            period,
        })
    }

    /// T: how long one request's worth of quota takes to come back (zero for a limit of 0).
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.params(1).map_or(0, |(interval, _)| interval))
    }

    /// tau: how far ahead of now the TAT may run, which is what makes the burst.
    pub fn tolerance(&self) -> Duration {
        Duration::from_nanos(self.params(1).map_or(0, |(_, tolerance)| tolerance))
    }

    /// (T, tau) in units of `unit_ns` nanoseconds; `None` for a limit of 0.
    fn params(&self, unit_ns: u64) -> Option<(u64, u64)> {
        let limit = u64::from(self.limit);
        if limit == 0 {
            return None;
        }
        let period_ns = u64::try_from(self.period.min(MAX_PERIOD).as_nanos()).unwrap_or(u64::MAX);
        // At least one unit, or a period shorter than `limit` units would mean no limit at all.
        let interval = (period_ns / unit_ns.max(1) / limit).max(1);
        // tau = period - T, taken as T * (limit - 1) so that the rounding of T above can never
        // turn a burst of `limit` into `limit + 1`.
        Some((interval, interval.saturating_mul(limit - 1)))
    }

    /// The answer for a limit of 0: nothing is ever allowed.
    fn deny_all(&self) -> Decision {
        Decision {
            allowed: false,
            limit: self.limit,
            remaining: 0,
            reset_after: Duration::ZERO,
            retry_after: self.period.min(MAX_PERIOD),
        }
    }
}

/// What the limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The policy's limit, for the headers.
    pub limit: u32,
    /// Requests that could still be made at once after this one.
    pub remaining: u32,
    /// Time until the bucket is full again (the whole burst available).
    pub reset_after: Duration,
    /// Time until a request would be allowed; zero when allowed.
    pub retry_after: Duration,
}

impl Decision {
    /// The `Retry-After` value in whole seconds, rounded up and at least 1, for a denied
    /// request; `None` when the request is allowed.
    pub fn retry_after_s(&self) -> Option<u64> {
        if self.allowed {
            None
        } else {
            Some(ceil_secs(self.retry_after).max(1))
        }
    }
}

/// One GCRA step: the decision for a request at `now` on a key whose stored TAT is `tat`, both
/// in nanoseconds on one clock (a key with no state passes 0, or anything not after `now`).
/// Returns the decision and, when the request is allowed, the TAT to store; a denied request
/// changes nothing.
pub fn gcra(policy: &Policy, tat: u64, now: u64) -> (Decision, Option<u64>) {
    let Some((interval, tolerance)) = policy.params(1) else {
        return (policy.deny_all(), None);
    };
    // A TAT in the past is a full bucket, not credit: idle time beyond a full bucket is lost.
    let tat = tat.max(now);
    let ahead = tat - now;
    if ahead > tolerance {
        let decision = Decision {
            allowed: false,
            limit: policy.limit,
            remaining: 0,
            reset_after: Duration::from_nanos(ahead),
            retry_after: Duration::from_nanos(ahead - tolerance),
        };
        return (decision, None);
    }
    let new_tat = tat.saturating_add(interval);
    let decision = Decision {
        allowed: true,
        limit: policy.limit,
        remaining: u32::try_from((tolerance - ahead) / interval).unwrap_or(u32::MAX),
        reset_after: Duration::from_nanos(new_tat.saturating_sub(now)),
        retry_after: Duration::ZERO,
    };
    (decision, Some(new_tat))
}

/// A bounded per-shard map from key to TAT: limits what one shard lets through, with no I/O.
///
/// Owned by one shard, like [`crate::LocalCache`]. When full it first forgets keys whose
/// buckets are full again (they carry no state); if that frees too little it forgets an
/// arbitrary batch of live keys, which hands those keys a fresh burst. Size it above the
/// number of keys limited within one period on a shard, or a flood of new keys (spoofed
/// addresses, say) can wash out the state of the others.
pub struct LocalLimiter<K> {
    tats: HashMap<K, u64, ahash::RandomState>,
    capacity: usize,
    /// TATs are nanoseconds since this instant, so one stored value is a plain `u64`.
    base: Instant,
}

impl<K: Hash + Eq> LocalLimiter<K> {
    /// A limiter holding the state of at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        LocalLimiter {
            tats: HashMap::with_capacity_and_hasher(
                capacity.min(1 << 16),
                ahash::RandomState::new(),
            ),
            capacity: capacity.max(1),
            base: Instant::now(),
        }
    }

    /// The decision for one request on `key` at `now`. Borrowed keys work (`&str` for
    /// `Box<str>` or `String`): a key already held costs one lookup and no allocation; a new
    /// key is converted to `K` once, when it is stored.
    pub fn check<Q>(&mut self, key: &Q, policy: &Policy, now: Instant) -> Decision
    where
        K: Borrow<Q> + From<Q::Owned>,
        Q: Hash + Eq + ToOwned + ?Sized,
    {
        let now =
            u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX);
        if let Some(tat) = self.tats.get_mut(key) {
            let (decision, new_tat) = gcra(policy, *tat, now);
            if let Some(new_tat) = new_tat {
                *tat = new_tat;
            }
            return decision;
        }
        let (decision, new_tat) = gcra(policy, 0, now);
        if let Some(new_tat) = new_tat {
            if self.tats.len() >= self.capacity {
                self.evict(now);
            }
            self.tats.insert(K::from(key.to_owned()), new_tat);
        }
        decision
    }

    /// Keys held (some may have full buckets again).
    pub fn len(&self) -> usize {
        self.tats.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.tats.is_empty()
    }

    fn evict(&mut self, now: u64) {
        // A TAT not after `now` is a full bucket, the same as no entry: forgetting it is free.
        self.tats.retain(|_, tat| *tat > now);
        // Free a whole batch, not one slot, so the scans stay amortised over many inserts.
        let keep = self.capacity - (self.capacity / 8).max(1);
        let mut excess = self.tats.len().saturating_sub(keep);
        if excess > 0 {
            self.tats.retain(|_, _| {
                if excess > 0 {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }
}

/// The GCRA step as a Redis script, so that every instance shares one budget per key and one
/// clock (the Redis server's).
///
/// KEYS\[1\]: the key. ARGV\[1\]: the emission interval T in microseconds; ARGV\[2\]: the
/// tolerance tau in microseconds. Returns `{allowed (1 or 0), remaining, reset_after_us,
/// retry_after_us}`. The key holds the TAT in microseconds since the Unix epoch and expires
/// when the bucket is full again, so idle keys cost nothing. Needs Redis 5 or later (a write
/// after `TIME` in a script relies on effect replication).
pub const GCRA_LUA: &str = r#"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
if tat < now then
  tat = now
end
local ahead = tat - now
if ahead > tolerance then
  return {0, 0, ahead, ahead - tolerance}
end
local new_tat = tat + interval
-- '%.0f': Lua would print a number this large as 1.7e+15 and lose the digits.
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
  'PX', string.format('%.0f', math.ceil((new_tat - now) / 1000)))
return {1, math.floor((tolerance - ahead) / interval), new_tat - now, 0}
"#;

/// The cross-instance limiter: runs [`GCRA_LUA`] on the shard's Redis connection.
///
/// Owned by one shard (`!Send`); it only remembers the script's SHA-1, loaded on first use.
/// On an error it does not decide for the caller: falling back to a [`LocalLimiter`] (per-shard
/// limits while Redis is away) or refusing the request is the caller's choice.
#[derive(Debug, Default)]
pub struct SharedLimiter {
    sha: RefCell<Option<Rc<str>>>,
}

impl SharedLimiter {
    /// A limiter that loads the script on first use.
    pub fn new() -> Self {
        SharedLimiter::default()
    }

    /// The decision for one request on `key` (namespaced by the caller), made by Redis: one
    /// round trip, two after Redis lost the script.
    pub async fn check(
        &self,
        redis: &ShardRedis,
        key: &str,
        policy: &Policy,
    ) -> Result<Decision, RedisError> {
        let Some((interval_us, tolerance_us)) = policy.params(1_000) else {
            return Ok(policy.deny_all());
        };
        let cached = self.sha.borrow().clone();
        let sha = match cached {
            Some(sha) => sha,
            None => self.load(redis).await?,
        };
        let reply = match redis
            .query(&evalsha(&sha, key, interval_us, tolerance_us))
            .await
        {
            Ok(reply) => reply,
            // NOSCRIPT, after a Redis restart or SCRIPT FLUSH, is the failure expected here, and
            // `RedisError` does not tell it from other command errors: each is worth one reload.
            // A timeout or an outage is not, since a retry would only double the wait.
            Err(RedisError::Command) => {
                let sha = self.load(redis).await?;
                redis
                    .query(&evalsha(&sha, key, interval_us, tolerance_us))
                    .await?
            }
            Err(e) => return Err(e),
        };
        Ok(decision_from_reply(policy.limit, reply))
    }

    async fn load(&self, redis: &ShardRedis) -> Result<Rc<str>, RedisError> {
        let sha: String = redis
            .query(redis::cmd("SCRIPT").arg("LOAD").arg(GCRA_LUA))
            .await?;
        let sha: Rc<str> = sha.into();
        *self.sha.borrow_mut() = Some(Rc::clone(&sha));
        Ok(sha)
    }
}

fn evalsha(sha: &str, key: &str, interval_us: u64, tolerance_us: u64) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(sha)
        .arg(1)
        .arg(key)
        .arg(interval_us)
        .arg(tolerance_us);
    cmd
}

fn decision_from_reply(limit: u32, reply: (i64, i64, i64, i64)) -> Decision {
    let (allowed, remaining, reset_after_us, retry_after_us) = reply;
    let micros = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
    let allowed = allowed == 1;
    Decision {
        allowed,
        limit,
        remaining: u32::try_from(remaining).unwrap_or(0).min(limit),
        reset_after: micros(reset_after_us),
        retry_after: if allowed {
            Duration::ZERO
        } else {
            micros(retry_after_us)
        },
    }
}

/// The values of `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers,
/// structured fields): `"<name>";q=<limit>;w=<period s>` and
/// `"<name>";r=<remaining>;t=<seconds until the bucket is full, rounded up>`.
pub fn header_values(policy: &Policy, d: &Decision) -> (String, String) {
    let name = sf_string(&policy.name);
    let policy_value = policy_value(policy);
    let state = format!(
        "{name};r={};t={}",
        d.remaining,
        sf_integer(ceil_secs(d.reset_after))
    );
    (policy_value, state)
}

/// The `RateLimit-Policy` value alone (it does not change between requests, so callers may
/// make it once).
pub fn policy_value(policy: &Policy) -> String {
    format!(
        "{};q={};w={}",
        sf_string(&policy.name),
        policy.limit,
        sf_integer(ceil_secs(policy.period).max(1))
    )
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// Structured-field integers have at most 15 digits.
fn sf_integer(n: u64) -> u64 {
    n.min(999_999_999_999_999)
}

/// A structured-field string. `Policy::new` admits only printable ASCII, but a hand-built name
/// must not be able to break the header (or start a new one), so anything else is replaced.
fn sf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn per_minute(limit: u32) -> Policy {
        Policy::new("test", limit, Duration::from_secs(60)).expect("valid policy")
    }

    #[test]
    fn policy_validation() {
        assert!(Policy::new("api", 0, Duration::from_secs(1))
            .unwrap_err()
            .contains("limit must be at least 1"));
        assert!(Policy::new("api", 1, Duration::ZERO)
            .unwrap_err()
            .contains("period must be longer than zero"));
        assert!(Policy::new("api", 1, Duration::MAX)
            .unwrap_err()
            .contains("at most 100 years"));
        assert!(Policy::new("", 1, Duration::from_secs(1)).is_err());
        assert!(Policy::new("a\r\nb", 1, Duration::from_secs(1)).is_err());
        let p = per_minute(5);
        assert_eq!(p.emission_interval(), Duration::from_secs(12));
        assert_eq!(p.tolerance(), Duration::from_secs(48));
    }

    #[test]
    fn burst_of_limit_then_denied_for_one_interval() {
        let p = per_minute(5);
        let now = 1_000 * SEC;
        let mut tat = 0;
        for expected_remaining in (0..5).rev() {
            let (d, new_tat) = gcra(&p, tat, now);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            assert_eq!(d.retry_after, Duration::ZERO);
            // Full again once every request so far has been paid back at one per 12 s.
            assert_eq!(
                d.reset_after,
                Duration::from_secs(12 * u64::from(5 - expected_remaining))
            );
            tat = new_tat.expect("allowed stores a TAT");
        }

        let (d, new_tat) = gcra(&p, tat, now);
        assert!(!d.allowed);
        assert_eq!(new_tat, None);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.retry_after, Duration::from_secs(12));
        assert_eq!(d.reset_after, Duration::from_secs(60));
        assert_eq!(d.retry_after_s(), Some(12));

        // One nanosecond early is still too early.
        let (d, _) = gcra(&p, tat, now + 12 * SEC - 1);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Duration::from_nanos(1));
        assert_eq!(d.retry_after_s(), Some(1));

        // After one emission interval exactly one more fits.
        let (d, new_tat) = gcra(&p, tat, now + 12 * SEC);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_after, Duration::from_secs(60));
        let tat = new_tat.expect("allowed stores a TAT");
        assert!(!gcra(&p, tat, now + 12 * SEC).0.allowed);
    }

    #[test]
    fn idle_time_refills_the_bucket_but_no_further() {
        let p = per_minute(5);
        let now = 1_000 * SEC;
        let (_, tat) = gcra(&p, 0, now);
        let tat = tat.expect("allowed");
        // An hour later the bucket is full, and only full: the burst is still 5.
        let later = now + 3_600 * SEC;
        let (d, _) = gcra(&p, tat, later);
        assert_eq!(d.remaining, 4);
        assert_eq!(d.reset_after, Duration::from_secs(12));
        // Half the interval after one request, half a request has come back: still 3 after
        // the next.
        let (_, tat) = gcra(&p, 0, now);
        let (_, tat2) = gcra(&p, tat.expect("allowed"), now);
        let (d, _) = gcra(&p, tat2.expect("allowed"), now + 6 * SEC);
        assert_eq!(d.remaining, 2);
        assert_eq!(d.reset_after, Duration::from_secs(30));
    }

    #[test]
    fn steady_rate_matches_the_policy() {
        // 10 per second, asked 1000 times a second for 10 s: burst of 10, then 10 a second.
        let p = Policy::new("steady", 10, Duration::from_secs(1)).expect("valid policy");
        let mut tat = 0;
        let mut allowed = 0;
        for ms in 0..10_000u64 {
            let (d, new_tat) = gcra(&p, tat, ms * 1_000_000);
            if let Some(t) = new_tat {
                tat = t;
                allowed += 1;
            }
            assert_eq!(d.allowed, new_tat.is_some());
        }
        assert_eq!(allowed, 10 + 99);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let zero = Policy {
            name: "zero".into(),
            limit: 0,
            period: Duration::from_secs(10),
        };
        let (d, tat) = gcra(&zero, 0, 5);
        assert!(!d.allowed);
        assert_eq!(tat, None);
        assert_eq!(d.retry_after_s(), Some(10));

        let no_period = Policy {
            name: "no-period".into(),
            limit: 3,
            period: Duration::ZERO,
        };
        let huge = Policy {
            name: "huge".into(),
            limit: u32::MAX,
            period: Duration::MAX,
        };
        let one_forever = Policy {
            name: "one".into(),
            limit: 1,
            period: Duration::MAX,
        };
        for p in [&no_period, &huge, &one_forever] {
            for (tat, now) in [(0, 0), (u64::MAX, 0), (0, u64::MAX), (u64::MAX, u64::MAX)] {
                let _ = gcra(p, tat, now);
            }
            let _ = header_values(p, &gcra(p, 0, 0).0);
        }
        let (d, _) = gcra(&no_period, 0, 0);
        assert!(d.allowed);
        assert_eq!(d.remaining, 2);

        // The clock going backwards leaves the stored TAT further ahead: stricter, never looser.
        let p = per_minute(5);
        let (_, tat) = gcra(&p, 0, 100 * SEC);
        let (d, _) = gcra(&p, tat.expect("allowed"), 50 * SEC);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Duration::from_secs(112 - 50 - 48));
    }

    #[test]
    fn local_limiter_counts_per_key_with_borrowed_lookups() {
        let p = per_minute(2);
        let before = Instant::now();
        let mut limiter: LocalLimiter<Box<str>> = LocalLimiter::new(16);
        let start = Instant::now();
        assert!(limiter.check("alice", &p, start).allowed);
        assert!(limiter.check("alice", &p, start).allowed);
        let d = limiter.check("alice", &p, start);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Duration::from_secs(30));
        assert!(limiter.check("bob", &p, start).allowed);
        assert!(
            limiter
                .check("alice", &p, start + Duration::from_secs(30))
                .allowed
        );
        assert_eq!(limiter.len(), 2);

        let mut by_user: LocalLimiter<u64> = LocalLimiter::new(16);
        assert_eq!(by_user.check(&42, &p, start).remaining, 1);
        assert_eq!(by_user.check(&42, &p, start).remaining, 0);
        // An instant before the limiter existed counts as its start, without panicking.
        let mut late: LocalLimiter<String> = LocalLimiter::new(4);
        assert!(late.check("x", &p, before).allowed);
        assert!(late.check("x", &p, before).allowed);
        assert!(!late.check("x", &p, before).allowed);
    }

    #[test]
    fn local_limiter_stays_bounded_and_evicts_full_buckets_first() {
        let p = per_minute(5);
        let t0 = Instant::now();
        let mut limiter: LocalLimiter<u32> = LocalLimiter::new(8);
        for i in 0..1_000 {
            assert!(limiter.check(&i, &p, t0).allowed);
            assert!(limiter.len() <= 8);
        }

        let mut limiter: LocalLimiter<u32> = LocalLimiter::new(4);
        for i in 0..3 {
            limiter.check(&i, &p, t0);
        }
        // Key 3 comes a minute later, when the buckets of 0..3 are full again.
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(limiter.check(&3, &p, t1).remaining, 4);
        assert_eq!(limiter.len(), 4);
        assert_eq!(limiter.check(&4, &p, t1).remaining, 4);
        // Only the stale keys went: key 3 still remembers its request.
        assert_eq!(limiter.len(), 2);
        assert_eq!(limiter.check(&3, &p, t1).remaining, 3);
    }

    #[test]
    fn header_values_follow_the_draft() {
        let p = Policy::new("login", 5, Duration::from_secs(60)).expect("valid policy");
        let now = 10 * SEC;
        let (d, _) = gcra(&p, 0, now);
        let (policy, state) = header_values(&p, &d);
        assert_eq!(policy, r#""login";q=5;w=60"#);
        assert_eq!(state, r#""login";r=4;t=12"#);
        assert_eq!(d.retry_after_s(), None);

        // Sub-second times round up, so a client never comes back too early.
        let fast = Policy::new("fast", 3, Duration::from_millis(1_500)).expect("valid policy");
        let (d, _) = gcra(&fast, 0, now);
        assert_eq!(header_values(&fast, &d).0, r#""fast";q=3;w=2"#);
        assert_eq!(header_values(&fast, &d).1, r#""fast";r=2;t=1"#);

        let odd = Policy {
            name: "a\"b\\c\r\nd".into(),
            limit: 1,
            period: Duration::from_secs(1),
        };
        assert_eq!(
            header_values(&odd, &gcra(&odd, 0, 0).0).0,
            r#""a\"b\\c??d";q=1;w=1"#
        );
    }

    #[test]
    fn redis_reply_is_clamped() {
        let d = decision_from_reply(5, (1, 4, 12_000_000, 7));
        assert_eq!(
            d,
            Decision {
                allowed: true,
                limit: 5,
                remaining: 4,
                reset_after: Duration::from_secs(12),
                retry_after: Duration::ZERO,
            }
        );
        let d = decision_from_reply(5, (0, -1, -5, i64::MAX));
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_after, Duration::ZERO);
        assert_eq!(d.retry_after, Duration::from_micros(i64::MAX as u64));
        assert_eq!(decision_from_reply(5, (1, 99, 0, 0)).remaining, 5);
    }
}
