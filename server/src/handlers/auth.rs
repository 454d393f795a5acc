//! `POST /api/v1/auth/login` and `GET /api/v1/me`.
//!
//! Log-in: unknown names and wrong passwords get the same answer after the same work (a hash
//! is checked either way); failures are counted per account and lock it for the configured
//! window; Django hashes are upgraded to argon2id on a good log-in.

use campushub_cache::{Invalidation, Message};
use campushub_db::audit::{self, Event};
use campushub_db::queries::users;
use serde::{Deserialize, Serialize};

use super::{json, json_body, Request, ScopeDto};
use crate::api_error::ApiError;
use crate::auth::new_refresh_token;
use crate::auth::passwords::Verdict;
use crate::auth::throttle;
use crate::auth::tokens;
use crate::http::Response;
use crate::shard::Shard;

#[derive(Deserialize)]
pub(super) struct LoginBody {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TokenPair)]
pub(crate) struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: &'a str,
    refresh_expires_in: u64,
}

/// Checks credentials and returns an access token and a refresh token.
///
/// Order: the per-(account, address) rate limit, then the address's throttle state (a lock or
/// a pending delay answers before any hashing), then the password. Real and unknown names take
/// the same path, with the same work and the same answers. While the account is locked for
/// every address, only a right password on an account with MFA, from an address that is not
/// itself locked, gets on (to the one-time code); everything else gets the lock's 423.
pub async fn login(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let body: LoginBody = json_body(req)?;
    let username = body.username.unwrap_or_default();
    let password = body.password.unwrap_or_default();
    if username.trim().is_empty() || username.len() > 254 {
        return Err(ApiError::Unprocessable(
            "`username` (a username or an email) is required, at most 254 characters.".into(),
        ));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(ApiError::Unprocessable(
            "`password` is required, at most 1024 bytes.".into(),
        ));
    }
    let db = shard.db.primary();
    let source = req.peer.to_string();
    let lookup = users::for_login(db, username.trim(), &source).await?;
    shard
        .limiters
        .check_login(
            &shard.config.rate_limits,
            shard.redis.as_deref(),
            &lookup.subject,
            req.peer,
        )
        .await?;
    throttle::gate(&lookup.throttle)?;
    let subject_locked = throttle::subject_lock(&lookup.throttle);
    let account = lookup.account;
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    let verdict = shard
        .passwords
        .verify(stored, password)
        .await
        .map_err(|_| ApiError::Busy)?;
    let (account, rehash) = match (account, verdict) {
        (Some(a), Verdict::Valid { rehash }) if a.usable => (a, rehash),
        (account, _) => {
            let (actor, details) = match &account {
                Some(a) => (Some(a.id), serde_json::json!({"reason": "wrong password"})),
                None => {
                    let name: String = username.trim().chars().take(64).collect();
                    (
                        None,
                        serde_json::json!({"login": name, "reason": "unknown account"}),
                    )
                }
            };
            let lock = throttle::fail(shard, &lookup.subject, req.peer).await?;
            record(shard, req, actor, "auth.login_failed", actor, details).await?;
            return Err(match lock {
                Some(locked) => {
                    if let (Some(id), None) = (actor, &subject_locked) {
                        record(
                            shard,
                            req,
                            Some(id),
                            "auth.account_locked",
                            Some(id),
                            serde_json::json!({"address": source}),
                        )
                        .await?;
                    }
                    locked
                }
                None => ApiError::InvalidCredentials,
            });
        }
    };
    if let Some(locked) = subject_locked {
        if !account.mfa_enabled {
            // A right password alone does not lift a lock that guessing from elsewhere caused.
            return Err(locked);
        }
    }
    if account.mfa_enabled {
        // The password was right; a one-time code is still owed. The Django hash upgrade
        // waits for the full log-in.
        let (challenge, _) = tokens::issue_kind(
            &shard.keys,
            tokens::Kind::MfaChallenge,
            account.id,
            &account.sourced_id.hyphenated().to_string(),
            tokens::MFA_TTL,
        )
        .map_err(|_| ApiError::Internal)?;
        return Err(ApiError::MfaRequired {
            challenge,
            expires_in_s: tokens::MFA_TTL.as_secs(),
        });
    }
    complete_login(
        shard,
        req,
        account.id,
        account.sourced_id,
        rehash.as_deref(),
        false,
    )
    .await
}

/// Finishes a log-in whose credentials are all proven: clears failures (storing `rehash`),
/// audits it, and answers with a new token pair in a new refresh-token family.
pub(super) async fn complete_login(
    shard: &Shard,
    req: &Request<'_>,
    user_id: i64,
    sourced_id: uuid::Uuid,
    rehash: Option<&str>,
    mfa: bool,
) -> Result<Response, ApiError> {
    let config = &shard.config;
    let db = shard.db.primary();
    users::login_succeeded(db, user_id, rehash, &req.peer.to_string()).await?;
    record(
        shard,
        req,
        Some(user_id),
        "auth.login",
        Some(user_id),
        serde_json::json!({"password_rehashed": rehash.is_some(), "mfa": mfa}),
    )
    .await?;
    let (refresh, refresh_hash) = new_refresh_token();
    users::insert_refresh_token(
        db,
        user_id,
        uuid::Uuid::new_v4(),
        &refresh_hash,
        config.refresh_token_ttl.as_secs_f64(),
    )
    .await?;
    token_response(shard, user_id, sourced_id, &refresh)
}

/// The token pair answer of log-in and refresh.
fn token_response(
    shard: &Shard,
    user_id: i64,
    sourced_id: uuid::Uuid,
    refresh: &str,
) -> Result<Response, ApiError> {
    let config = &shard.config;
    let sourced = sourced_id.hyphenated().to_string();
    let (access, _) = tokens::issue(&shard.keys, user_id, &sourced, config.access_token_ttl)
        .map_err(|_| ApiError::Internal)?;
    let body = json(&TokenResponse {
        access_token: &access,
        token_type: "Bearer",
        expires_in: config.access_token_ttl.as_secs(),
        refresh_token: refresh,
        refresh_expires_in: config.refresh_token_ttl.as_secs(),
    })?;
    Ok(Response::json(200, body)
        .with_header("Cache-Control", "no-store")
        .with_header("Pragma", "no-cache"))
}

#[derive(Deserialize)]
pub(super) struct RefreshBody {
    refresh_token: Option<String>,
}

fn refresh_hash(req: &Request<'_>) -> Result<Vec<u8>, ApiError> {
    use sha2::Digest as _;
    let body: RefreshBody = json_body(req)?;
    let token = body.refresh_token.unwrap_or_default();
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::Unprocessable(
            "`refresh_token` is required.".into(),
        ));
    }
    Ok(sha2::Sha256::digest(token.as_bytes()).to_vec())
}

/// Rotates a refresh token. Presenting one that was already rotated revokes its whole family:
/// someone else holds a copy.
pub async fn refresh(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let presented = refresh_hash(req)?;
    let (next, next_hash) = new_refresh_token();
    let outcome = users::refresh(
        shard.db.primary(),
        &presented,
        &next_hash,
        shard.config.refresh_token_ttl.as_secs_f64(),
    )
    .await?;
    match outcome {
        users::Refresh::Rotated {
            user_id,
            sourced_id,
            usable: true,
        } => token_response(shard, user_id, sourced_id, &next),
        users::Refresh::Rotated { .. } | users::Refresh::Invalid => Err(ApiError::Unauthenticated(
            "The refresh token is not valid; log in again.",
        )),
        users::Refresh::Reused { user_id, version } => {
            shard
                .invalidate(Message {
                    version,
                    what: Invalidation::User(user_id),
                })
                .await;
            crate::access_log::event(
                "warn",
                "refresh token reused: family revoked",
                &[("user_id", user_id.to_string())],
            );
            record(
                shard,
                req,
                None,
                "auth.refresh_reused",
                Some(user_id),
                serde_json::json!({"family_revoked": true}),
            )
            .await?;
            Err(ApiError::Unauthenticated(
                "This refresh token was already used; the session is revoked. Log in again.",
            ))
        }
    }
}

/// Ends a session: its refresh-token family and the user's current access tokens.
pub async fn logout(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let presented = refresh_hash(req)?;
    let ip = req.peer.to_string();
    if let Some((user_id, version)) = users::logout(shard.db.primary(), &presented, &ip).await? {
        shard
            .invalidate(Message {
                version,
                what: Invalidation::User(user_id),
            })
            .await;
    }
    // Unknown tokens get the same answer: log-out reveals nothing.
    Ok(Response::empty(204).with_header("Cache-Control", "no-store"))
}

/// Appends an event to the audit chain.
pub(super) async fn record(
    shard: &Shard,
    req: &Request<'_>,
    actor: Option<i64>,
    action: &str,
    target_user: Option<i64>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    audit::append(
        shard.db.primary(),
        &Event {
            actor,
            action,
            target_type: target_user.map(|_| "user"),
            target_id: target_user.map(|id| id.to_string()),
            ip: Some(req.peer.to_string()),
            details: Some(details.to_string()),
        },
    )
    .await
    .map_err(ApiError::from)
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Me)]
pub(crate) struct MeDto<'a> {
    sourced_id: String,
    username: &'a str,
    email: Option<&'a str>,
    given_name: &'a str,
    family_name: &'a str,
    role: &'a str,
}

/// Who the caller is.
pub async fn me(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let profile = users::profile(shard.db.primary(), caller.principal.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated(
            "The account behind this token no longer exists.",
        ))?;
    let body = json(&MeDto {
        sourced_id: profile.sourced_id.hyphenated().to_string(),
        username: &profile.username,
        email: profile.email.as_deref(),
        given_name: &profile.given_name,
        family_name: &profile.family_name,
        role: &profile.role,
    })?;
    Ok(Response::json(200, body).with_header("Cache-Control", "no-store"))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Grant)]
pub(crate) struct PermissionDto<'a> {
    permission: &'a str,
    role: &'a str,
    scope: ScopeDto<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Permissions)]
pub(crate) struct PermissionsDto<'a> {
    permissions: Vec<PermissionDto<'a>>,
}

/// What the caller may do, and where.
pub async fn my_permissions(_shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let body = json(&PermissionsDto {
        permissions: caller
            .principal
            .grants
            .iter()
            .map(|g| PermissionDto {
                permission: &g.permission,
                role: &g.role,
                scope: ScopeDto::new(&g.scope_type, g.scope_sourced_id),
            })
            .collect(),
    })?;
    Ok(Response::json(200, body).with_header("Cache-Control", "private, no-store"))
}
