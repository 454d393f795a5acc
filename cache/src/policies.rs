//! The rate-limit policies as configured: plain values, parsed and checked once before any
//! shard starts (the server's configuration keeps them; each shard's limiters apply them).

use std::time::Duration;

use crate::ratelimit::{policy_value, Policy};

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
    pub policy_headers: [&'static str; 5],
}

/// Default policies: generous for API use, strict where passwords are guessed.
pub const DEFAULT_SPEC: &str =
    "anonymous=600/1m,authenticated=6000/1m,auth=60/1m,login=10/5m,credentials=10/15m";
/// Policies that hold across instances by default.
pub const DEFAULT_SHARED: &str = "auth,login,credentials";

/// The policy names, in the order of every per-policy array.
pub const NAMES: [&str; 5] = ["anonymous", "authenticated", "auth", "login", "credentials"];

/// One of the five policies, by name: what the arrays of [`RateLimits`] are indexed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyName {
    /// Per client address, requests without a valid access token.
    Anonymous,
    /// Per principal, requests with a valid access token.
    Authenticated,
    /// Per client address, on the log-in, refresh and log-out routes.
    Auth,
    /// Per (account, client address) on log-in attempts and one-time codes.
    Login,
    /// Per principal, on password changes and MFA removal.
    Credentials,
}

impl PolicyName {
    /// Its position in [`NAMES`] and in the arrays of [`RateLimits`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name in configuration, headers and Redis keys.
    pub fn as_str(self) -> &'static str {
        NAMES[self.index()]
    }
}

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
    /// The policy `name`, if it is on.
    pub fn policy(&self, name: PolicyName) -> Option<&Policy> {
        match name {
            PolicyName::Anonymous => self.anonymous.as_ref(),
            PolicyName::Authenticated => self.authenticated.as_ref(),
            PolicyName::Auth => self.auth.as_ref(),
            PolicyName::Login => self.login.as_ref(),
            PolicyName::Credentials => self.credentials.as_ref(),
        }
    }

    /// Whether policy `name` is decided in Redis (across instances).
    pub fn is_shared(&self, name: PolicyName) -> bool {
        self.shared[name.index()]
    }

    /// Policy `name`'s `RateLimit-Policy` value.
    pub fn header(&self, name: PolicyName) -> &'static str {
        self.policy_headers[name.index()]
    }

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
