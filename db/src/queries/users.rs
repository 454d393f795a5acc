//! Accounts: the log-in lookup, failure counting and lock-out, refresh tokens, the profile,
//! multi-factor secrets and password changes.

use tokio_postgres::Row;
use uuid::Uuid;

use crate::statements::{
    INSERT_REFRESH_TOKEN, LOGIN_FAILED, LOGIN_SUCCEEDED, LOGOUT, MFA_DISABLE, MFA_ENABLE,
    MFA_SET_PENDING, MFA_STATE, MFA_USE_STEP, PASSWORD_CHANGE, PASSWORD_HASH, REFRESH_TOKEN_STATE,
    REVOKE_ACCESS_TOKENS, REVOKE_REFRESH_FAMILY, ROTATE_REFRESH_TOKEN, THROTTLE_STATE,
    USER_FOR_LOGIN, USER_PROFILE,
};
use crate::{DbError, Pool};

/// Where a throttle subject (an account, or a name that matches none) stands, seen from one
/// client address.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    /// Failures from this address in the current window.
    pub failures: i32,
    /// This address is locked out of the subject until this RFC 3339 time.
    pub locked_until: Option<String>,
    /// Seconds before this address may try again (a growing delay, or the lock).
    pub wait_s: f64,
    /// The subject is locked for every address until this RFC 3339 time.
    pub subject_locked_until: Option<String>,
    /// Seconds left of the subject's lock.
    pub subject_wait_s: f64,
}

impl Throttle {
    fn decode(row: &Row, at: usize) -> Result<Throttle, tokio_postgres::Error> {
        let locked: bool = row.try_get(at + 1)?;
        let subject_locked: bool = row.try_get(at + 4)?;
        Ok(Throttle {
            failures: row.try_get(at)?,
            locked_until: if locked { row.try_get(at + 2)? } else { None },
            wait_s: row.try_get(at + 3)?,
            subject_locked_until: if subject_locked {
                row.try_get(at + 5)?
            } else {
                None
            },
            subject_wait_s: row.try_get(at + 6)?,
        })
    }
}

/// The account a log-in names, if any.
#[derive(Debug, Clone)]
pub struct LoginAccount {
    /// users.id.
    pub id: i64,
    /// Public id.
    pub sourced_id: Uuid,
    /// Stored hash (`None`: the account cannot log in with a password).
    pub password_hash: Option<String>,
    /// Enabled and active.
    pub usable: bool,
    /// Multi-factor authentication is on.
    pub mfa_enabled: bool,
}

/// A log-in attempt's view of the database: the account (if the name matches one), its
/// throttle subject, and the subject's state seen from the client address.
#[derive(Debug, Clone)]
pub struct LoginLookup {
    /// The account, when the name matches one.
    pub account: Option<LoginAccount>,
    /// `u:<users.id>` or `n:<lower-cased name>`.
    pub subject: String,
    /// Failures and locks.
    pub throttle: Throttle,
}

/// The account with this username or email (case-insensitive), with its throttle state seen
/// from `source` (the client address).
pub async fn for_login(pool: &Pool, login: &str, source: &str) -> Result<LoginLookup, DbError> {
    let row = pool
        .query_opt(&USER_FOR_LOGIN, &[&login, &source])
        .await?
        .ok_or(DbError::Decode)?;
    let decode = || -> Result<LoginLookup, tokio_postgres::Error> {
        let id: Option<i64> = row.try_get(0)?;
        let account = match id {
            Some(id) => Some(LoginAccount {
                id,
                sourced_id: row.try_get(1)?,
                password_hash: row.try_get(2)?,
                usable: row.try_get(3)?,
                mfa_enabled: row.try_get(4)?,
            }),
            None => None,
        };
        Ok(LoginLookup {
            account,
            subject: row.try_get(5)?,
            throttle: Throttle::decode(&row, 6)?,
        })
    };
    decode().map_err(|_| DbError::Decode)
}

/// The throttle subject of an account.
pub fn subject_of(user: i64) -> String {
    format!("u:{user}")
}

/// Where `subject` stands seen from `source`.
pub async fn throttle(pool: &Pool, subject: &str, source: &str) -> Result<Throttle, DbError> {
    let row = pool
        .query_opt(&THROTTLE_STATE, &[&subject, &source])
        .await?
        .ok_or(DbError::Decode)?;
    Throttle::decode(&row, 0).map_err(|_| DbError::Decode)
}

/// Counts a failed credential check of `subject` from `source`: the pair locks at
/// `pair_max` failures within `window_s` seconds, the subject at `subject_max`. Returns the
/// state afterwards.
pub async fn login_failed(
    pool: &Pool,
    subject: &str,
    source: &str,
    window_s: f64,
    pair_max: i32,
    subject_max: i32,
) -> Result<Throttle, DbError> {
    let row = pool
        .query_opt(
            &LOGIN_FAILED,
            &[&subject, &source, &window_s, &pair_max, &subject_max],
        )
        .await?
        .ok_or(DbError::Decode)?;
    Throttle::decode(&row, 0).map_err(|_| DbError::Decode)
}

/// Clears failures after a good log-in; stores `rehash` when given.
pub async fn login_succeeded(
    pool: &Pool,
    id: i64,
    rehash: Option<&str>,
    source: &str,
) -> Result<(), DbError> {
    pool.query(&LOGIN_SUCCEEDED, &[&id, &rehash, &source])
        .await
        .map(|_| ())
}

/// Stores a refresh token by its hash.
pub async fn insert_refresh_token(
    pool: &Pool,
    user_id: i64,
    family: Uuid,
    token_hash: &[u8],
    ttl_s: f64,
) -> Result<(), DbError> {
    pool.query(
        &INSERT_REFRESH_TOKEN,
        &[&user_id, &family, &token_hash, &ttl_s],
    )
    .await
    .map(|_| ())
}

/// The signed-in user.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Public id.
    pub sourced_id: Uuid,
    /// Username.
    pub username: String,
    /// Email.
    pub email: Option<String>,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// OneRoster primary role.
    pub role: String,
    /// Enabled and active.
    pub usable: bool,
    /// Tokens issued before this (seconds since the epoch) are refused; 0 when never.
    pub tokens_revoked_before_s: f64,
}

/// The profile of user `id`.
pub async fn profile(pool: &Pool, id: i64) -> Result<Option<Profile>, DbError> {
    let Some(row) = pool.query_opt(&USER_PROFILE, &[&id]).await? else {
        return Ok(None);
    };
    let decode = || -> Result<Profile, tokio_postgres::Error> {
        Ok(Profile {
            sourced_id: row.try_get(0)?,
            username: row.try_get(1)?,
            email: row.try_get(2)?,
            given_name: row.try_get(3)?,
            family_name: row.try_get(4)?,
            role: row.try_get(5)?,
            usable: row.try_get(6)?,
            tokens_revoked_before_s: row.try_get(7)?,
        })
    };
    decode().map(Some).map_err(|_| DbError::Decode)
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// Rotated: the successor is stored; here is whose it is.
    Rotated {
        /// Row id.
        user_id: i64,
        /// Public id.
        sourced_id: Uuid,
        /// Enabled and active.
        usable: bool,
    },
    /// Already rotated or revoked: the whole family and the user's access tokens are now
    /// revoked (theft detection).
    Reused {
        /// Whose family it was.
        user_id: i64,
        /// Authorisation version of the revocation.
        version: i64,
    },
    /// Unknown or expired.
    Invalid,
}

/// Rotates `token_hash` to `new_hash`, or revokes its family when it was already used.
pub async fn refresh(
    pool: &Pool,
    token_hash: &[u8],
    new_hash: &[u8],
    ttl_s: f64,
) -> Result<Refresh, DbError> {
    if let Some(row) = pool
        .query_opt(&ROTATE_REFRESH_TOKEN, &[&token_hash, &new_hash, &ttl_s])
        .await?
    {
        let decode = || -> Result<Refresh, tokio_postgres::Error> {
            Ok(Refresh::Rotated {
                user_id: row.try_get(0)?,
                sourced_id: row.try_get(1)?,
                usable: row.try_get(2)?,
            })
        };
        return decode().map_err(|_| DbError::Decode);
    }
    let Some(row) = pool.query_opt(&REFRESH_TOKEN_STATE, &[&token_hash]).await? else {
        return Ok(Refresh::Invalid);
    };
    let family: Uuid = row.try_get(0).map_err(|_| DbError::Decode)?;
    let user_id: i64 = row.try_get(1).map_err(|_| DbError::Decode)?;
    let used: bool = row.try_get(2).map_err(|_| DbError::Decode)?;
    if !used {
        // Live but expired.
        return Ok(Refresh::Invalid);
    }
    pool.query(&REVOKE_REFRESH_FAMILY, &[&family]).await?;
    // Whoever kept a copy of the refresh token may hold access tokens from it too.
    let version = revoke_access_tokens(pool, user_id).await?;
    Ok(Refresh::Reused { user_id, version })
}

/// Access tokens of `user_id` issued before now stop working; returns the authorisation
/// version of the revocation (to publish).
pub async fn revoke_access_tokens(pool: &Pool, user_id: i64) -> Result<i64, DbError> {
    let row = pool
        .query_opt(&REVOKE_ACCESS_TOKENS, &[&user_id])
        .await?
        .ok_or(DbError::Decode)?;
    row.try_get(0).map_err(|_| DbError::Decode)
}

/// Ends the session of `token_hash`: revokes its family and the user's current access tokens.
/// Returns whose session it was and the authorisation version, when the token was known.
pub async fn logout(
    pool: &Pool,
    token_hash: &[u8],
    ip: &str,
) -> Result<Option<(i64, i64)>, DbError> {
    let Some(row) = pool.query_opt(&LOGOUT, &[&token_hash, &ip]).await? else {
        return Ok(None);
    };
    let user_id: i64 = row.try_get(0).map_err(|_| DbError::Decode)?;
    let version: i64 = row.try_get(1).map_err(|_| DbError::Decode)?;
    Ok(Some((user_id, version)))
}

/// A user's multi-factor state.
#[derive(Debug, Clone)]
pub struct Mfa {
    /// The secret: active when `enabled`, pending confirmation otherwise.
    pub secret: Option<Vec<u8>>,
    /// MFA is on.
    pub enabled: bool,
    /// The last one-time-code step accepted.
    pub last_step: Option<i64>,
    /// For the authenticator's label.
    pub username: String,
}

/// The MFA state of user `id`.
pub async fn mfa(pool: &Pool, id: i64) -> Result<Option<Mfa>, DbError> {
    let Some(row) = pool.query_opt(&MFA_STATE, &[&id]).await? else {
        return Ok(None);
    };
    let decode = || -> Result<Mfa, tokio_postgres::Error> {
        Ok(Mfa {
            secret: row.try_get(0)?,
            enabled: row.try_get(1)?,
            last_step: row.try_get(2)?,
            username: row.try_get(3)?,
        })
    };
    decode().map(Some).map_err(|_| DbError::Decode)
}

async fn changed(
    pool: &Pool,
    stmt: &crate::statements::Stmt,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<bool, DbError> {
    Ok(pool.query_opt(stmt, params).await?.is_some())
}

/// Stores a pending secret; false when MFA is already on.
pub async fn mfa_set_pending(pool: &Pool, id: i64, secret: &[u8]) -> Result<bool, DbError> {
    changed(pool, &MFA_SET_PENDING, &[&id, &secret]).await
}

/// Turns MFA on; false when it already was, or no secret is pending.
pub async fn mfa_enable(pool: &Pool, id: i64, step: i64) -> Result<bool, DbError> {
    changed(pool, &MFA_ENABLE, &[&id, &step]).await
}

/// Turns MFA off; false when it was not on.
pub async fn mfa_disable(pool: &Pool, id: i64) -> Result<bool, DbError> {
    changed(pool, &MFA_DISABLE, &[&id]).await
}

/// Spends `step`; false when it (or a later one) was already used.
pub async fn mfa_use_step(pool: &Pool, id: i64, step: i64) -> Result<bool, DbError> {
    changed(pool, &MFA_USE_STEP, &[&id, &step]).await
}

/// The stored password hash of user `id`.
pub async fn password_hash(pool: &Pool, id: i64) -> Result<Option<String>, DbError> {
    let Some(row) = pool.query_opt(&PASSWORD_HASH, &[&id]).await? else {
        return Ok(None);
    };
    row.try_get(0).map_err(|_| DbError::Decode)
}

/// Stores a new password hash and ends every session of the user; returns the authorisation
/// version, or `None` when there is no such user.
pub async fn change_password(
    pool: &Pool,
    id: i64,
    hash: &str,
    ip: &str,
) -> Result<Option<i64>, DbError> {
    let Some(row) = pool.query_opt(&PASSWORD_CHANGE, &[&id, &hash, &ip]).await? else {
        return Ok(None);
    };
    row.try_get(0).map(Some).map_err(|_| DbError::Decode)
}
