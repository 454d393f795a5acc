//! Accounts people can use: an invitation sets a first password
//! (`POST /api/v1/users/{id}/invitation`, then `POST /api/v1/auth/invitation/accept`), and a
//! forgotten password is reset by email (`POST /api/v1/auth/password-reset`, then
//! `.../password-reset/confirm`). Links are single-use, stored only as hashes
//! (`auth::links`), and the email itself leaves from a worker (`worker::kinds`).
//!
//! A reset request does the same thing whatever the address: it enqueues one job and answers
//! 202. Whether an account has the address is looked up by the worker, off the request path,
//! so neither the answer nor its timing tells.

use campushub_cache::{Invalidation, Message};
use campushub_db::queries::access::user_id;
use campushub_db::queries::accounts::{self, Purpose};
use campushub_db::queries::word::Word;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::campus::path_id;
use super::credentials::MIN_PASSWORD_CHARS;
use super::{json, json_body, Request};
use crate::api_error::{ApiError, FieldError};
use crate::auth::access;
use crate::auth::links::{self, INVITATION_TTL_S};
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

/// Longest address taken (RFC 5321's path limit).
const MAX_EMAIL_BYTES: usize = 254;

/// The link key, or 503 where the server has none.
pub(super) fn link_key(shard: &Shard) -> Result<&[u8], ApiError> {
    shard
        .config
        .mail
        .link_key
        .as_ref()
        .map(|k| k.expose().as_slice())
        .ok_or(ApiError::NotConfigured(
            "Email links are not configured on this server (CAMPUSHUB_LINK_KEY).",
        ))
}

/// What an invitation answers.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Invitation)]
pub(crate) struct InvitationDto {
    /// The invitation's public id (not its token, which only the email carries).
    invitation: uuid::Uuid,
    /// The job that sends the email.
    job: uuid::Uuid,
    /// When the link stops working (RFC 3339).
    expires_at: String,
}

/// `POST /api/v1/users/{id}/invitation`: emails user `id` a link to set a first password
/// (72 h, single use, replacing any earlier invitation). Needs `users.manage` for the whole
/// institution or for a department the person belongs to. Only an account without a password
/// can be invited, and the link goes to the person's own address: whoever invites gains no
/// access to the account (unlike a change of its email, which the person's own write
/// permission governs), so the inviter need not hold every right the person holds.
pub async fn invite(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let key = link_key(shard)?;
    let public = path_id(req, "user")?;
    let db = shard.db.primary();
    let target = user_id(db, public).await?.ok_or(ApiError::NotFound)?;
    let principal = &caller.principal;
    if principal
        .institution_grant(Permission::UsersManage)
        .is_none()
    {
        let departments = accounts::departments_of(db, target).await?;
        if !departments
            .iter()
            .any(|d| access::department_access(principal, Permission::UsersManage, *d))
        {
            return Err(ApiError::Forbidden);
        }
    }
    let link = uuid::Uuid::new_v4();
    let token = links::token(key, Purpose::Invitation, link);
    let ip = req.peer.to_string();
    let done = accounts::invite(
        db,
        principal.user_id,
        &ip,
        target,
        link,
        &links::hash(&token),
        INVITATION_TTL_S,
    )
    .await?;
    match (done.outcome, done.job, done.expires_at) {
        (Word::Ok, Some(job), Some(expires_at)) => {
            let body = InvitationDto {
                invitation: link,
                job,
                expires_at,
            };
            Ok(Response::json(202, json(&body)?))
        }
        (Word::NotFound, ..) => Err(ApiError::NotFound),
        (Word::Gone, ..) => Err(ApiError::Conflict(
            "This account is disabled; enable it before inviting its person.".into(),
        )),
        (Word::NoEmail, ..) => Err(ApiError::Conflict(
            "This person has no email address; set one first.".into(),
        )),
        (Word::HasPassword, ..) => Err(ApiError::Conflict(
            "This person can already log in; a forgotten password is reset with POST /api/v1/auth/password-reset.".into(),
        )),
        _ => Err(ApiError::Internal),
    }
}

/// `POST /api/v1/auth/invitation/accept` and `.../password-reset/confirm`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LinkPassword)]
pub(crate) struct LinkPasswordBody {
    /// The token from the link (after `#token=`).
    token: Option<String>,
    /// The new password: 10 to 1024 characters.
    password: Option<String>,
}

/// `POST /api/v1/auth/invitation/accept {token, password}`: sets the first password.
pub async fn accept(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    spend(shard, req, Purpose::Invitation).await
}

/// `POST /api/v1/auth/password-reset/confirm {token, password}`: sets a new password and ends
/// every session of the account. Multi-factor authentication still applies at the next log-in.
pub async fn confirm_reset(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    spend(shard, req, Purpose::Reset).await
}

async fn spend(shard: &Shard, req: &Request<'_>, purpose: Purpose) -> Result<Response, ApiError> {
    let body: LinkPasswordBody = json_body(req)?;
    let mut errors = Vec::new();
    let token = body.token.unwrap_or_default();
    if token.is_empty() {
        errors.push(FieldError::new(
            "token",
            "is required: the part of the link after #token=",
        ));
    }
    let password = body.password.unwrap_or_default();
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=1024).contains(&chars) {
        errors.push(FieldError::new(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to 1024 characters"),
        ));
    }
    if password.contains('\0') {
        errors.push(FieldError::new(
            "password",
            "must not contain a NUL character",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    // A token of the wrong shape is no link's: the same answer as an unknown one, without
    // hashing a password for it.
    if !links::well_formed(&token) {
        return Err(link_refused(Word::Invalid, purpose));
    }
    let hash = shard
        .passwords
        .hash(password)
        .await
        .map_err(|_| ApiError::Busy)?
        .ok_or(ApiError::Internal)?;
    let ip = req.peer.to_string();
    let spent = accounts::spend(
        shard.db.primary(),
        purpose,
        &links::hash(&token),
        &hash,
        &ip,
    )
    .await?;
    match (spent.outcome, spent.user, spent.version) {
        (Word::Ok, Some(user), Some(version)) => {
            shard
                .invalidate(Message {
                    version,
                    what: Invalidation::User(user),
                })
                .await;
            Ok(Response::empty(204))
        }
        (word, ..) => Err(link_refused(word, purpose)),
    }
}

/// Why a link did not work, in words its holder can act on.
fn link_refused(word: Word, purpose: Purpose) -> ApiError {
    let ask_again = match purpose {
        Purpose::Invitation => "ask whoever invited you for a new invitation",
        Purpose::Reset => "ask for a new link",
    };
    let why = match word {
        Word::Used => "This link was already used",
        Word::Expired => "This link has expired",
        Word::Replaced => "A newer link replaced this one; use the newest message",
        Word::Gone => "This account is disabled",
        _ => "This link is not valid; check that it was copied whole",
    };
    ApiError::Invalid(vec![FieldError::new(
        "token",
        format!("{why} ({ask_again})."),
    )])
}

/// `POST /api/v1/auth/password-reset`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordResetRequest)]
pub(crate) struct ResetBody {
    /// The account's email address.
    email: Option<String>,
}

/// What a reset request answers, whatever the address.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ResetAccepted)]
pub(crate) struct ResetAccepted {
    /// What happens next.
    detail: &'static str,
}

/// `POST /api/v1/auth/password-reset {email}`: answers 202 the same way for every address.
/// A worker looks the address up; an account that has it gets a 30-minute link, at most
/// three an hour. Limited per client address by the route's `auth` policy.
pub async fn request_reset(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let body: ResetBody = json_body(req)?;
    let email = body.email.unwrap_or_default();
    let email = email.trim();
    let shaped = email.len() <= MAX_EMAIL_BYTES
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_control() || c.is_whitespace());
    if !shaped {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "email",
            "must be an email address (name@example.org)",
        )]));
    }
    link_key(shard)?;
    let lower = email.to_lowercase();
    // One job per address per minute, however many requests arrive: a flood makes no queue.
    let minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 60;
    let digest = sha2::Sha256::digest(lower.as_bytes());
    let key = format!("auth.password_reset:{}:{minute}", hex(&digest[..16]));
    let payload = serde_json::json!({"email": lower, "ip": req.peer.to_string()}).to_string();
    accounts::enqueue(
        shard.db.primary(),
        "auth.password_reset",
        &payload,
        10,
        &key,
        5,
    )
    .await?;
    let body = ResetAccepted {
        detail: "If an account has this address, a link to set a new password is on its way; it works for 30 minutes.",
    };
    Ok(Response::json(202, json(&body)?))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
