//! Accounts people can use (migration 0016): invitations, spending an invitation or reset
//! link, and the jobs a request enqueues. The links' tokens are made and checked by the server
//! (`auth::links`); this module only moves their hashes.

use uuid::Uuid;

use crate::queries::word::Word;
use crate::statements::{ACCOUNT_INVITE, ACCOUNT_TOKEN_SPEND, JOB_ENQUEUE, USER_DEPARTMENTS};
use crate::{DbError, Pool};

/// What an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invited {
    /// `Ok`, or why nothing changed (`NotFound`, `Gone`, `NoEmail`, `HasPassword`).
    pub outcome: Word,
    /// The email job (when `Ok`).
    pub job: Option<Uuid>,
    /// When the link stops working, RFC 3339 (when `Ok`).
    pub expires_at: Option<String>,
}

/// Invites user `user` (users.id) as `actor` from `ip`: link `link` whose token hashes to
/// `hash`, valid `ttl_s` seconds; any open invitation of the user is replaced. Audited.
pub async fn invite(
    pool: &Pool,
    actor: i64,
    ip: &str,
    user: i64,
    link: Uuid,
    hash: &[u8],
    ttl_s: i32,
) -> Result<Invited, DbError> {
    let row = pool
        .query_opt(&ACCOUNT_INVITE, &[&actor, &ip, &user, &link, &hash, &ttl_s])
        .await?
        .ok_or_else(|| DbError::undecodable(&ACCOUNT_INVITE, "no row"))?;
    let bad = |e| DbError::undecodable(&ACCOUNT_INVITE, e);
    Ok(Invited {
        outcome: row.try_get(0).map_err(bad)?,
        job: row.try_get(1).map_err(bad)?,
        expires_at: row.try_get(2).map_err(bad)?,
    })
}

/// What spending a link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    /// `Ok`, or why not (`Invalid`, `Used`, `Expired`, `Replaced`, `Gone`).
    pub outcome: Word,
    /// Whose password was set (users.id), when `Ok`.
    pub user: Option<i64>,
    /// The authorization version to announce (sessions ended), when `Ok`.
    pub version: Option<i64>,
}

/// Which link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Sets a first password (72 h).
    Invitation,
    /// Sets a forgotten password (30 min).
    Reset,
}

impl Purpose {
    /// As the database and the token's derivation name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::Reset => "reset",
        }
    }
}

/// Spends the link of `purpose` whose token hashes to `hash`: sets `password_hash`, ends every
/// session of the account, audits (from `ip`).
pub async fn spend(
    pool: &Pool,
    purpose: Purpose,
    hash: &[u8],
    password_hash: &str,
    ip: &str,
) -> Result<Spent, DbError> {
    let row = pool
        .query_opt(
            &ACCOUNT_TOKEN_SPEND,
            &[&purpose.as_str(), &hash, &password_hash, &ip],
        )
        .await?
        .ok_or_else(|| DbError::undecodable(&ACCOUNT_TOKEN_SPEND, "no row"))?;
    let bad = |e| DbError::undecodable(&ACCOUNT_TOKEN_SPEND, e);
    Ok(Spent {
        outcome: row.try_get(0).map_err(bad)?,
        user: row.try_get(1).map_err(bad)?,
        version: row.try_get(2).map_err(bad)?,
    })
}

/// The departments (orgs.id) user `user` belongs to: a student's or staff member's own, a
/// guardian's linked students'.
pub async fn departments_of(pool: &Pool, user: i64) -> Result<Vec<i64>, DbError> {
    let rows = pool.query(&USER_DEPARTMENTS, &[&user]).await?;
    rows.iter()
        .map(|r| {
            r.try_get(0)
                .map_err(|e| DbError::undecodable(&USER_DEPARTMENTS, e))
        })
        .collect()
}

/// Enqueues a job of `kind` with `payload` (JSON text) at `priority`, once per `key`:
/// (job id, whether this call made it).
pub async fn enqueue(
    pool: &Pool,
    kind: &str,
    payload: &str,
    priority: i32,
    key: &str,
    max_attempts: i32,
) -> Result<(Uuid, bool), DbError> {
    let row = pool
        .query_opt(
            &JOB_ENQUEUE,
            &[&kind, &payload, &priority, &key, &max_attempts],
        )
        .await?
        .ok_or_else(|| DbError::undecodable(&JOB_ENQUEUE, "no row"))?;
    let bad = |e| DbError::undecodable(&JOB_ENQUEUE, e);
    Ok((row.try_get(0).map_err(bad)?, row.try_get(1).map_err(bad)?))
}
