//! The caller's own credentials: multi-factor log-in (`/api/v1/auth/mfa/verify`), enrolment
//! and removal (`/auth/mfa/enroll`, `/auth/mfa/disable`), and password change
//! (`/auth/password`, which ends every session of the user). Every change is audited. Only a
//! person's own log-in may change their credentials: an API key may not (the route table's
//! `Person` rule), or whoever held a key could enrol their own authenticator on its creator.

use std::time::{SystemTime, UNIX_EPOCH};

use campushub_cache::{Invalidation, Message};
use campushub_db::queries::users;
use serde::{Deserialize, Serialize};

use super::auth::{complete_login, record};
use super::{json, json_body, Request};
use crate::api_error::ApiError;
use crate::auth::passwords::Verdict;
use crate::auth::tokens::{self, TokenError};
use crate::auth::{throttle, totp};
use crate::http::Response;
use crate::shard::Shard;

/// Shortest new password accepted (NIST SP 800-63B asks for at least 8; campus accounts
/// guard student records, so a little more).
pub(super) const MIN_PASSWORD_CHARS: usize = 10;

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn code_field(code: Option<String>) -> Result<String, ApiError> {
    code.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
        ApiError::Unprocessable("`code` (the 6-digit one-time code) is required.".into())
    })
}

/// Checks `code` against the user's active secret and spends its step, so it never works
/// twice (even on two instances at once): false when wrong, stale or already used.
async fn spend_code(
    shard: &Shard,
    user: i64,
    state: &users::Mfa,
    code: &str,
) -> Result<bool, ApiError> {
    let secret = state.secret.as_deref().unwrap_or_default();
    let last = state.last_step.and_then(|s| u64::try_from(s).ok());
    match totp::verify(secret, code, now_s(), last).and_then(|s| i64::try_from(s).ok()) {
        Some(step) => Ok(users::mfa_use_step(shard.db.primary(), user, step).await?),
        None => Ok(false),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifyBody {
    challenge: Option<String>,
    code: Option<String>,
}

/// Second step of an MFA log-in: the challenge from the first step and a one-time code.
/// A wrong code counts as a failed log-in (towards the lock-out); each code works once.
pub async fn verify(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let body: VerifyBody = json_body(req)?;
    let code = code_field(body.code)?;
    let challenge = body.challenge.unwrap_or_default();
    let claims =
        tokens::verify_kind(&shard.keys, tokens::Kind::MfaChallenge, &challenge).map_err(|e| {
            match e {
                TokenError::Expired => {
                    ApiError::Unauthenticated("The MFA challenge has expired; log in again.")
                }
                TokenError::Invalid => ApiError::Unauthenticated("The MFA challenge is not valid."),
            }
        })?;
    let user = claims.uid;
    // The strict per-(account, address) limit covers code guessing too, and so does the
    // lock-out: an address locked out of the account gets nothing, right code or not.
    shard
        .limiters
        .check_login(
            &shard.config.rate_limits,
            shard.redis.as_deref(),
            &users::subject_of(user),
            req.peer,
        )
        .await?;
    throttle::gate_user(shard, user, req.peer).await?;
    let db = shard.db.primary();
    let sourced_id = uuid::Uuid::try_parse(&claims.sub)
        .map_err(|_| ApiError::Unauthenticated("The MFA challenge is not valid."))?;
    let state = users::mfa(db, user).await?;
    let Some(state) = state.filter(|m| m.enabled) else {
        return Err(ApiError::Unauthenticated(
            "Multi-factor authentication is no longer on for this account; log in again.",
        ));
    };
    if !spend_code(shard, user, &state, &code).await? {
        let lock = throttle::fail(shard, &users::subject_of(user), req.peer).await?;
        record(
            shard,
            req,
            Some(user),
            "auth.mfa_failed",
            Some(user),
            serde_json::json!({"locked": lock.is_some()}),
        )
        .await?;
        return Err(lock.unwrap_or(ApiError::Unauthenticated(
            "The one-time code is wrong or was already used.",
        )));
    }
    complete_login(shard, req, user, sourced_id, None, true).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnrollBody {
    code: Option<String>,
}

/// A new secret for an authenticator app, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MfaSecret)]
pub(crate) struct EnrollDto {
    /// Base32, as authenticator apps take it.
    secret: String,
    otpauth_uri: String,
    digits: u32,
    period_s: u64,
}

/// Whether MFA is on, after a change.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MfaState {
    mfa_enabled: bool,
}

/// What enrolment answers: a new secret (no code sent), or the state once a code confirmed it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = MfaEnrolment)]
pub(crate) enum Enrolment {
    /// Enrolment started.
    Started(EnrollDto),
    /// Enrolment confirmed: MFA is on.
    Confirmed(MfaState),
}

/// Without a code: starts enrolment, returning a new secret (shown this once) for an
/// authenticator app. With a code from that app: turns MFA on.
pub async fn enroll(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let user = caller.principal.user_id;
    let body: EnrollBody = if req.body.is_empty() {
        EnrollBody { code: None }
    } else {
        json_body(req)?
    };
    let db = shard.db.primary();
    let state = users::mfa(db, user)
        .await?
        .ok_or(ApiError::Unauthenticated("This account no longer exists."))?;
    if state.enabled {
        return Err(ApiError::Conflict(
            "Multi-factor authentication is already on; disable it first to change the secret."
                .into(),
        ));
    }
    match body.code {
        None => {
            let secret = totp::new_secret();
            if !users::mfa_set_pending(db, user, &secret).await? {
                return Err(ApiError::Conflict(
                    "Multi-factor authentication is already on.".into(),
                ));
            }
            let dto = EnrollDto {
                secret: totp::base32_encode(&secret),
                otpauth_uri: totp::otpauth_uri("campushub", &state.username, &secret),
                digits: totp::DIGITS,
                period_s: totp::STEP_S,
            };
            Ok(Response::json(200, json(&Enrolment::Started(dto))?)
                .with_header("Cache-Control", "no-store"))
        }
        Some(code) => {
            let Some(secret) = state.secret else {
                return Err(ApiError::Conflict(
                    "Start enrolment first: POST without a code.".into(),
                ));
            };
            let step = totp::verify(&secret, &code, now_s(), None)
                .and_then(|s| i64::try_from(s).ok())
                .ok_or_else(|| {
                    ApiError::Unprocessable("The one-time code does not match the secret.".into())
                })?;
            if !users::mfa_enable(db, user, step).await? {
                return Err(ApiError::Conflict(
                    "Multi-factor authentication is already on.".into(),
                ));
            }
            record(
                shard,
                req,
                Some(user),
                "auth.mfa_enabled",
                Some(user),
                serde_json::json!({}),
            )
            .await?;
            let on = Enrolment::Confirmed(MfaState { mfa_enabled: true });
            Ok(Response::json(200, json(&on)?))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DisableBody {
    code: Option<String>,
}

/// Turns MFA off; needs a current code, so a stolen access token alone cannot do it.
pub async fn disable(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let user = caller.principal.user_id;
    let body: DisableBody = json_body(req)?;
    let code = code_field(body.code)?;
    shard
        .limiters
        .check_credentials(&shard.config.rate_limits, shard.redis.as_deref(), user)
        .await?;
    throttle::gate_user(shard, user, req.peer).await?;
    let db = shard.db.primary();
    let state = users::mfa(db, user)
        .await?
        .ok_or(ApiError::Unauthenticated("This account no longer exists."))?;
    if !state.enabled {
        return Err(ApiError::Conflict(
            "Multi-factor authentication is not on.".into(),
        ));
    }
    if !spend_code(shard, user, &state, &code).await? {
        let lock = throttle::fail(shard, &users::subject_of(user), req.peer).await?;
        record(
            shard,
            req,
            Some(user),
            "auth.mfa_disable_failed",
            Some(user),
            serde_json::json!({"reason": "wrong code", "locked": lock.is_some()}),
        )
        .await?;
        return Err(lock.unwrap_or(ApiError::Unprocessable(
            "The one-time code is wrong or was already used.".into(),
        )));
    }
    users::mfa_disable(db, user).await?;
    record(
        shard,
        req,
        Some(user),
        "auth.mfa_disabled",
        Some(user),
        serde_json::json!({}),
    )
    .await?;
    Ok(Response::json(200, json(&MfaState { mfa_enabled: false })?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordBody {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// Changes the caller's password (the current one is required) and ends every session of
/// the user, this one included: refresh tokens are revoked and access tokens stop working on
/// every shard of every instance.
pub async fn change_password(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let user = caller.principal.user_id;
    let body: PasswordBody = json_body(req)?;
    let current = body.current_password.unwrap_or_default();
    let new = body.new_password.unwrap_or_default();
    let chars = new.chars().count();
    if !(MIN_PASSWORD_CHARS..=1024).contains(&chars) {
        return Err(ApiError::Unprocessable(format!(
            "`new_password` must be {MIN_PASSWORD_CHARS} to 1024 characters."
        )));
    }
    if new == current {
        return Err(ApiError::Unprocessable(
            "`new_password` must differ from the current one.".into(),
        ));
    }
    shard
        .limiters
        .check_credentials(&shard.config.rate_limits, shard.redis.as_deref(), user)
        .await?;
    throttle::gate_user(shard, user, req.peer).await?;
    let db = shard.db.primary();
    let stored = users::password_hash(db, user).await?;
    // Within the caller's share of the hashing pool: one token cannot crowd out log-ins.
    let verdict = shard
        .passwords
        .verify_as(user, stored, current)
        .await
        .map_err(|_| ApiError::Busy)?;
    if verdict == Verdict::Invalid {
        let lock = throttle::fail(shard, &users::subject_of(user), req.peer).await?;
        record(
            shard,
            req,
            Some(user),
            "auth.password_change_failed",
            Some(user),
            serde_json::json!({"reason": "wrong current password", "locked": lock.is_some()}),
        )
        .await?;
        return Err(lock.unwrap_or(ApiError::Unprocessable(
            "`current_password` is wrong.".into(),
        )));
    }
    let hash = shard
        .passwords
        .hash_as(user, new)
        .await
        .map_err(|_| ApiError::Busy)?
        .ok_or(ApiError::Internal)?;
    // The change and its audit event are one transaction.
    let version = users::change_password(db, user, &hash, &req.peer.to_string())
        .await?
        .ok_or(ApiError::Unauthenticated("This account no longer exists."))?;
    shard
        .invalidate(Message {
            version,
            what: Invalidation::User(user),
        })
        .await;
    Ok(Response::empty(204))
}
