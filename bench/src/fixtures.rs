//! Inputs of the hot stage functions, built once and shared by the criterion benches and the
//! callgrind harness so both measure the same thing.

use std::rc::Rc;
use std::time::{Duration, Instant};

use campushub::auth::access::Principal;
use campushub::auth::tokens::{issue, KeySet, TokenCache};
use campushub::http::date::DATE_LEN;
use campushub::http::parse::HeadLimits;
use campushub::http::response::{security_headers, EncodeContext};
use campushub::http::Response;
use campushub_cache::ratelimit::{LocalLimiter, Policy};
use campushub_cache::LocalCache;
use campushub_db::queries::access::Grant;

/// The server's default head limits.
pub const HEAD_LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 16 * 1024,
    max_uri_bytes: 8 * 1024,
};

/// What wrk sends: the smallest realistic request head.
pub const WRK_GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// What a browser sends: a department read with a Bearer token and the usual headers.
pub const BROWSER_GET: &[u8] = b"GET /api/v1/departments/2e0f627f-4e0e-459b-8177-88bba15443fc HTTP/1.1\r\n\
Host: campus.example.edu\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\r\n\
Accept: application/json\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\r\n\
X-Request-Id: 5f1c9a7e-2b1d-4f5e-8c3a-9d8e7f6a5b4c\r\nConnection: keep-alive\r\n\r\n";

/// A department path, as the router sees it.
pub const DEPARTMENT_PATH: &str = "/api/v1/departments/2e0f627f-4e0e-459b-8177-88bba15443fc";

/// Two HS256 keys, signing with `k2` (a key set after a rotation).
pub const TWO_KEYS: &str =
    "k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=,k2=ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

/// One HS256 key.
pub const ONE_KEY: &str = "k1=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Lifetime of the tokens the fixtures issue.
pub const TOKEN_TTL: Duration = Duration::from_secs(900);

/// How many other users' entries fill the caches and the limiter: a realistically busy shard.
pub const FILL: i64 = 10_000;

/// A registrar's grants: ten permissions at the institution.
pub fn registrar(user_id: i64) -> Principal {
    let grants = [
        "attendance.override",
        "attendance.read",
        "classes.read",
        "classes.write",
        "enrollments.read",
        "enrollments.write",
        "exams.publish",
        "exams.read",
        "students.read",
        "students.write",
    ]
    .iter()
    .map(|p| Grant {
        permission: (*p).into(),
        scope_type: "institution".into(),
        scope_id: 1,
        role: "registrar".into(),
        scope_sourced_id: None,
    })
    .collect();
    Principal {
        user_id,
        grants,
        usable: true,
        revoked_before_ms: 0,
    }
}

/// Parses a key spec (`TWO_KEYS`, `ONE_KEY`) signing with `signing`.
pub fn keys(spec: &str, signing: Option<&str>) -> Result<KeySet, String> {
    KeySet::parse(spec, signing)
}

/// An access token of `uid`.
pub fn token(keys: &KeySet, uid: i64) -> Result<String, String> {
    issue(keys, uid, "5b1f0001-7d2c-4a8e-9f10-000000001eef", TOKEN_TTL)
        .map(|(t, _)| t)
        .map_err(|e| format!("cannot issue a token: {e:?}"))
}

/// A token cache holding the tokens of users `0..FILL`; returns it with those tokens.
pub fn filled_token_cache(keys: &KeySet) -> Result<(TokenCache, Vec<String>), String> {
    let mut cache = TokenCache::new(100_000);
    let mut tokens = Vec::with_capacity(FILL as usize);
    for uid in 0..FILL {
        let t = token(keys, uid)?;
        cache
            .verify(keys, t.as_bytes())
            .map_err(|e| format!("cannot verify a fresh token: {e:?}"))?;
        tokens.push(t);
    }
    Ok((cache, tokens))
}

/// A principal cache holding registrars `0..FILL`, valid for an hour.
pub fn filled_principals() -> LocalCache<i64, Rc<Principal>> {
    let mut principals = LocalCache::new(100_000);
    let far = Instant::now() + Duration::from_secs(3600);
    for uid in 0..FILL {
        principals.insert(uid, Rc::new(registrar(uid)), far);
    }
    principals
}

/// The authenticated group's policy and a limiter that has seen users `0..FILL`.
pub fn filled_limiter() -> Result<(Policy, LocalLimiter<i64>), String> {
    let policy = Policy::new("authenticated", 6000, Duration::from_secs(60))?;
    let mut limiter = LocalLimiter::new(100_000);
    let now = Instant::now();
    for uid in 0..FILL {
        limiter.check(&uid, &policy, now);
    }
    Ok((policy, limiter))
}

/// What `handlers::auth::authenticate` and the access check do for a hot token: token cache,
/// principal cache, revocation time, permission. True when `permission` is granted.
pub fn authorise(
    keys: &KeySet,
    tokens: &mut TokenCache,
    principals: &mut LocalCache<i64, Rc<Principal>>,
    token: &[u8],
    permission: campushub::auth::rule::Permission,
) -> bool {
    let Ok(claims) = tokens.verify(keys, token) else {
        return false;
    };
    let Some(p) = principals.get(&claims.uid, Instant::now()).map(Rc::clone) else {
        return false;
    };
    p.usable
        && claims.issued_ms() >= p.revoked_before_ms
        && p.institution_grant(permission).is_some()
}

/// The fixed parts of a response encode: date, security headers, the `/healthz` response.
pub struct EncodeFixture {
    date: [u8; DATE_LEN],
    security: Vec<u8>,
    /// The response encoded.
    pub response: Response,
}

impl EncodeFixture {
    /// The `/healthz` answer on a fixed date, without HSTS.
    pub fn healthz() -> EncodeFixture {
        EncodeFixture {
            date: *b"Sun, 22 Nov 2026 13:46:49 GMT",
            security: security_headers(false),
            response: Response::static_json(200, b"{\"status\":\"ok\"}"),
        }
    }

    /// A keep-alive HTTP/1.1 GET without credentials or CORS.
    pub fn context(&self) -> EncodeContext<'_> {
        EncodeContext {
            date: &self.date,
            request_id: b"9a479c25b58f40730000000000000001",
            keep_alive: true,
            http10: false,
            head_only: false,
            cors_origin: None,
            security: &self.security,
            credentialed: false,
        }
    }
}
