//! Every API error, mapped to status and RFC 9457 problem+json in exactly one place.

use campushub_db::DbError;
use serde::Serialize;

use crate::http::response::{Body, Response, PROBLEM_JSON};
use crate::http::ProtoError;

/// Something the client gets instead of what it asked for.
#[derive(Debug)]
pub enum ApiError {
    /// A protocol error (the connection closes after it).
    Proto(ProtoError),
    /// No such resource.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed(&'static str),
    /// A parameter is malformed; the text says which and why.
    BadParameter(String),
    /// CORS preflight from an origin not on the allowlist.
    CorsOriginDenied,
    /// The database is unreachable or reconnecting.
    DatabaseUnavailable,
    /// The database did not answer within the statement timeout.
    DatabaseTimeout,
    /// The server is shutting down.
    Draining,
    /// No usable credentials: missing, malformed, expired, forged or revoked token.
    Unauthenticated(&'static str),
    /// Wrong log-in name or password (the same answer for both).
    InvalidCredentials,
    /// Too many failed log-ins: locked until the RFC 3339 time, for this many seconds. The
    /// same answer for real and unknown names.
    AccountLocked(String, u64),
    /// Failed attempts from this address: wait this many seconds before the next one (the
    /// growing delay before a lock).
    LoginThrottled(u64),
    /// `/readyz` says no: why, and (for operators only) the checks and whether the server is
    /// draining.
    NotReady(&'static str, Option<Box<(serde_json::Value, bool)>>),
    /// The password was right and the account has multi-factor authentication: finish with
    /// `POST /api/v1/auth/mfa/verify`, the challenge and a one-time code.
    MfaRequired {
        /// The signed challenge (an MFA-only token).
        challenge: String,
        /// Its lifetime in seconds.
        expires_in_s: u64,
    },
    /// The body is not JSON.
    UnsupportedMediaType,
    /// The body is JSON but not a valid request; the text says what is wrong.
    Unprocessable(String),
    /// The body is JSON but fields are wrong: every bad field, each with why (the `errors`
    /// member lists them all, so a client fixes a form in one round trip).
    Invalid(Vec<FieldError>),
    /// `If-Match` named a version that is no longer current: someone changed the record since
    /// the client read it.
    PreconditionFailed,
    /// Password hashing is saturated; retry shortly.
    Busy,
    /// Authenticated, but not allowed to do this to this object.
    Forbidden,
    /// Not allowed, for a reason worth telling (the text).
    ForbiddenBecause(&'static str),
    /// The request conflicts with the current state (duplicate, in use, built in).
    Conflict(String),
    /// A value the request sets is already another record's (a username, an email, a course
    /// code in that department): 409, and `errors` names each such field, as a 422 names bad
    /// ones. The client can fix the form field, but no retry of the same request succeeds.
    Taken(Vec<FieldError>),
    /// Over a rate limit: retry after this many seconds; `RateLimit-Policy` and `RateLimit`
    /// values.
    RateLimited {
        /// Seconds until one more request would be allowed.
        retry_after_s: u64,
        /// `RateLimit-Policy` value.
        policy: &'static str,
        /// `RateLimit` value.
        state: String,
    },
    /// A feature this server was not configured for (the text names the setting): 503.
    NotConfigured(&'static str),
    /// A bug or an unexpected database answer; details go to the log, not the client.
    Internal,
}

/// One bad field of a request body: where (`records[3].code`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a path into the body (`email`, `records[3].student`).
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

impl FieldError {
    /// `field` is wrong because `detail`.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// RFC 9457 problem details: every error answer (also the OpenAPI document's `Problem`).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    /// `/problems/<slug>`.
    #[serde(rename = "type")]
    type_: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    /// Identifies the request in the server's logs.
    request_id: &'a str,
    /// Extension member of `mfa-required`: the challenge to finish the log-in with.
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge: Option<&'a str>,
    /// Extension member of `mfa-required`: the challenge's lifetime in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge_expires_in: Option<u64>,
    /// Extension member of `not-ready` (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    checks: Option<&'a serde_json::Value>,
    /// Extension member of `not-ready` (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    draining: Option<bool>,
    /// Extension member of `invalid-fields` (every bad field) and of a `conflict` over taken
    /// values (every such field).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldError>>)]
    errors: Option<&'a [FieldError]>,
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable => ApiError::DatabaseUnavailable,
            DbError::Timeout => ApiError::DatabaseTimeout,
            DbError::Conflict => ApiError::Conflict(
                "The change would leave the institution without an active administrator.".into(),
            ),
            // The db crate logged the cause (SQLSTATE, constraint, statement).
            DbError::Query | DbError::Decode => ApiError::Internal,
        }
    }
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Proto(p) => p.status(),
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::BadParameter(_) => 400,
            ApiError::CorsOriginDenied | ApiError::Forbidden | ApiError::ForbiddenBecause(_) => 403,
            ApiError::DatabaseUnavailable
            | ApiError::DatabaseTimeout
            | ApiError::Draining
            | ApiError::NotReady(..)
            | ApiError::NotConfigured(_)
            | ApiError::Busy => 503,
            ApiError::Unauthenticated(_)
            | ApiError::InvalidCredentials
            | ApiError::MfaRequired { .. } => 401,
            ApiError::AccountLocked(..) => 423,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Unprocessable(_) | ApiError::Invalid(_) => 422,
            ApiError::PreconditionFailed => 412,
            ApiError::Internal => 500,
            ApiError::Conflict(_) | ApiError::Taken(_) => 409,
            ApiError::RateLimited { .. } | ApiError::LoginThrottled(_) => 429,
        }
    }

    fn slug_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Proto(p) => match p.status() {
                408 => ("request-timeout", "Request timeout"),
                413 => ("content-too-large", "Content too large"),
                414 => ("uri-too-long", "URI too long"),
                417 => ("expectation-failed", "Expectation failed"),
                431 => ("headers-too-large", "Request header fields too large"),
                501 => ("not-implemented", "Not implemented"),
                505 => ("version-not-supported", "HTTP version not supported"),
                _ => ("malformed-request", "Malformed request"),
            },
            ApiError::NotFound => ("not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::BadParameter(_) => ("bad-parameter", "Bad parameter"),
            ApiError::CorsOriginDenied => ("cors-origin-denied", "Origin not allowed"),
            ApiError::DatabaseUnavailable => ("database-unavailable", "Database unavailable"),
            ApiError::DatabaseTimeout => ("database-timeout", "Database timeout"),
            ApiError::Draining => ("shutting-down", "Shutting down"),
            ApiError::Unauthenticated(_) => ("unauthenticated", "Authentication required"),
            ApiError::InvalidCredentials => ("invalid-credentials", "Invalid credentials"),
            ApiError::AccountLocked(..) => ("account-locked", "Account locked"),
            ApiError::LoginThrottled(_) => ("login-throttled", "Too many failed attempts"),
            ApiError::NotReady(..) => ("not-ready", "Not ready"),
            ApiError::MfaRequired { .. } => {
                ("mfa-required", "Multi-factor authentication required")
            }
            ApiError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            ApiError::Unprocessable(_) => ("invalid-request", "Invalid request"),
            ApiError::Invalid(_) => ("invalid-fields", "Invalid fields"),
            ApiError::PreconditionFailed => ("precondition-failed", "Precondition failed"),
            ApiError::Busy => ("busy", "Busy"),
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => ("forbidden", "Forbidden"),
            ApiError::Conflict(_) | ApiError::Taken(_) => ("conflict", "Conflict"),
            ApiError::RateLimited { .. } => ("rate-limited", "Too many requests"),
            ApiError::NotConfigured(_) => ("not-configured", "Not configured"),
            ApiError::Internal => ("internal", "Internal server error"),
        }
    }

    fn detail(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(match self {
            ApiError::Invalid(errors) => {
                return std::borrow::Cow::Owned(match errors.as_slice() {
                    [one] => format!("`{}`: {}", one.field, one.detail),
                    many => format!(
                        "{} fields are not valid; `errors` lists each of them.",
                        many.len()
                    ),
                })
            }
            ApiError::Taken(errors) => {
                return std::borrow::Cow::Owned(match errors.as_slice() {
                    [one] => format!("`{}`: {}", one.field, one.detail),
                    many => format!(
                        "{} fields hold values other records have; `errors` lists each of them.",
                        many.len()
                    ),
                })
            }
            ApiError::PreconditionFailed => {
                "The record changed since the version named in If-Match; read it again (GET), then retry with its ETag."
            }
            ApiError::AccountLocked(until, _) => {
                return std::borrow::Cow::Owned(format!(
                    "Too many failed log-ins; log-in is locked until {until}."
                ))
            }
            ApiError::LoginThrottled(s) => {
                return std::borrow::Cow::Owned(format!(
                    "Too many failed attempts from this address; wait {s} s before the next one."
                ))
            }
            ApiError::NotReady(why, _) | ApiError::NotConfigured(why) => why,
            ApiError::Unauthenticated(why) | ApiError::ForbiddenBecause(why) => why,
            ApiError::RateLimited { retry_after_s, .. } => {
                return std::borrow::Cow::Owned(format!(
                    "Too many requests; retry in {retry_after_s} s."
                ))
            }
            ApiError::InvalidCredentials => "The log-in name or the password is wrong.",
            ApiError::MfaRequired { .. } => "The password is right; this account also needs a one-time code: POST /api/v1/auth/mfa/verify with the challenge and the code.",
            ApiError::UnsupportedMediaType => "The body must be application/json.",
            ApiError::Unprocessable(s) | ApiError::Conflict(s) => s,
            ApiError::Busy => "Too many log-ins are being checked right now; retry shortly.",
            ApiError::Forbidden => "Your roles do not allow this on this record.",
            ApiError::Proto(p) => p.detail(),
            ApiError::NotFound => "No resource matches this path.",
            ApiError::MethodNotAllowed(_) => {
                "The resource does not support this method; see the Allow header."
            }
            ApiError::BadParameter(s) => s,
            ApiError::CorsOriginDenied => "This origin is not on the server's CORS allowlist.",
            ApiError::DatabaseUnavailable => {
                "The database cannot be reached right now; retry shortly."
            }
            ApiError::DatabaseTimeout => "The database did not answer in time; retry shortly.",
            ApiError::Draining => "The server is shutting down; retry on another instance.",
            ApiError::Internal => {
                "The server hit an unexpected condition; the request id identifies it in the logs."
            }
        })
    }

    /// The problem+json response.
    pub fn to_response(&self, request_id: &str) -> Response {
        let status = self.status();
        let (slug, title) = self.slug_title();
        let type_ = format!("/problems/{slug}");
        let problem = Problem {
            type_: &type_,
            title,
            status,
            detail: &self.detail(),
            request_id,
            challenge: match self {
                ApiError::MfaRequired { challenge, .. } => Some(challenge),
                _ => None,
            },
            challenge_expires_in: match self {
                ApiError::MfaRequired { expires_in_s, .. } => Some(*expires_in_s),
                _ => None,
            },
            checks: match self {
                ApiError::NotReady(_, Some(detail)) => Some(&detail.0),
                _ => None,
            },
            draining: match self {
                ApiError::NotReady(_, Some(detail)) => Some(detail.1),
                _ => None,
            },
            errors: match self {
                ApiError::Invalid(errors) | ApiError::Taken(errors) => Some(errors),
                _ => None,
            },
        };
        let body = sonic_rs::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = Response {
            status,
            content_type: PROBLEM_JSON,
            body: Body::Bytes(body),
            headers: Vec::new(),
            close: matches!(self, ApiError::Proto(_)),
        };
        match self {
            ApiError::MethodNotAllowed(allow) => resp.headers.push(("Allow", (*allow).into())),
            ApiError::DatabaseUnavailable | ApiError::DatabaseTimeout => {
                resp.headers.push(("Retry-After", "1".into()))
            }
            ApiError::Draining => {
                resp.headers.push(("Retry-After", "1".into()));
                resp.close = true;
            }
            ApiError::Busy | ApiError::NotReady(..) => {
                resp.headers.push(("Retry-After", "1".into()))
            }
            ApiError::LoginThrottled(s) => resp
                .headers
                .push(("Retry-After", s.max(&1).to_string().into())),
            ApiError::RateLimited {
                retry_after_s,
                policy,
                state,
            } => {
                resp.headers
                    .push(("Retry-After", (*retry_after_s).max(1).to_string().into()));
                resp.headers.push(("RateLimit-Policy", (*policy).into()));
                resp.headers.push(("RateLimit", state.clone().into()));
            }
            ApiError::AccountLocked(_, seconds) => resp
                .headers
                .push(("Retry-After", seconds.max(&1).to_string().into())),
            ApiError::Unauthenticated(_) => resp
                .headers
                .push(("WWW-Authenticate", "Bearer realm=\"campushub\"".into())),
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_has_required_members() {
        let r = ApiError::MethodNotAllowed("GET, HEAD").to_response("rid-1");
        assert_eq!(r.status, 405);
        assert_eq!(r.content_type, PROBLEM_JSON);
        let Body::Bytes(b) = &r.body else { panic!() };
        let v: serde_json::Value = serde_json::from_slice(b).unwrap();
        assert_eq!(v["status"], 405);
        assert_eq!(v["request_id"], "rid-1");
        assert!(v["type"].as_str().unwrap().starts_with("/problems/"));
        assert!(v["title"].is_string() && v["detail"].is_string());
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| *k == "Allow" && v == "GET, HEAD"));
    }

    #[test]
    fn a_taken_value_is_409_naming_the_field() {
        let r = ApiError::Taken(vec![FieldError::new("email", "is already taken")])
            .to_response("rid-2");
        assert_eq!(r.status, 409);
        assert_eq!(r.content_type, PROBLEM_JSON);
        let Body::Bytes(b) = &r.body else { panic!() };
        let v: serde_json::Value = serde_json::from_slice(b).unwrap();
        assert_eq!(v["type"], "/problems/conflict");
        assert_eq!(v["errors"][0]["field"], "email");
        assert_eq!(v["detail"], "`email`: is already taken");
    }

    #[test]
    fn database_errors_are_mapped_to_their_status() {
        assert_eq!(ApiError::from(DbError::Conflict).status(), 409);
        for e in [DbError::Query, DbError::Decode] {
            assert_eq!(ApiError::from(e).status(), 500);
        }
    }

    #[test]
    fn database_errors_are_503_with_retry_after() {
        for e in [DbError::Unavailable, DbError::Timeout] {
            let r = ApiError::from(e).to_response("x");
            assert_eq!(r.status, 503);
            assert!(r.headers.iter().any(|(k, _)| *k == "Retry-After"));
        }
    }
}
