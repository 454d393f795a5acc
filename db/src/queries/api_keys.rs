//! API keys: lookup by public prefix, the key's own grants, creation with scoped bindings,
//! revocation, listing, and the batched last-used update.

use uuid::Uuid;

use crate::queries::access::{decode_grants, Actor, Grant};
use crate::queries::word::Word;
use crate::statements::{
    API_KEYS_OF_OWNER, API_KEYS_TOUCH, API_KEY_BY_PREFIX, API_KEY_CREATE, API_KEY_GRANTS,
    API_KEY_REVOKE,
};
use crate::{DbError, Pool};

/// A stored key, found by its prefix.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// api_keys.id.
    pub id: i64,
    /// SHA-256 of the whole key.
    pub secret_hash: Vec<u8>,
    /// users.id of the creator, whose records the key acts on.
    pub owner_id: i64,
    /// Neither revoked nor expired.
    pub live: bool,
    /// The owner's account is enabled and active.
    pub owner_usable: bool,
}

/// The key with public prefix `prefix`.
pub async fn by_prefix(pool: &Pool, prefix: &str) -> Result<Option<StoredKey>, DbError> {
    let Some(row) = pool.query_opt(&API_KEY_BY_PREFIX, &[&prefix]).await? else {
        return Ok(None);
    };
    let decode = || -> Result<StoredKey, tokio_postgres::Error> {
        Ok(StoredKey {
            id: row.try_get(0)?,
            secret_hash: row.try_get(1)?,
            owner_id: row.try_get(2)?,
            live: row.try_get(3)?,
            owner_usable: row.try_get(4)?,
        })
    };
    decode().map(Some).map_err(|_| DbError::Decode)
}

/// The grants of key `id` (its own bindings only: never its owner's).
pub async fn grants(pool: &Pool, id: i64) -> Result<Vec<Grant>, DbError> {
    decode_grants(&pool.query(&API_KEY_GRANTS, &[&id]).await?)
}

/// What creating a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// `ok`, `no_role`, `no_scope`, `exceeds_creator` or `no_bindings`.
    pub outcome: Word,
    /// Public id of the new key (when `ok`).
    pub key: Option<Uuid>,
    /// What was wrong (the role, scope or permission), when not `ok`.
    pub detail: Option<String>,
}

/// Creates a key owned by the actor. `bindings_json`: `[{"role", "scope_type", "scope"}]`.
pub async fn create(
    pool: &Pool,
    actor: Actor<'_>,
    prefix: &str,
    secret_hash: &[u8],
    name: &str,
    expires_days: Option<i32>,
    bindings_json: &str,
) -> Result<Created, DbError> {
    let row = pool
        .query_opt(
            &API_KEY_CREATE,
            &[
                &actor.user_id,
                &actor.ip,
                &prefix,
                &secret_hash,
                &name,
                &expires_days,
                &bindings_json,
            ],
        )
        .await?
        .ok_or(DbError::Decode)?;
    let decode = || -> Result<Created, tokio_postgres::Error> {
        Ok(Created {
            outcome: row.try_get(0)?,
            key: row.try_get(2)?,
            detail: row.try_get(3)?,
        })
    };
    decode().map_err(|_| DbError::Decode)
}

/// Revokes `key` (the actor's own, or any when `any`): `Some((key id, version))`, or `None`
/// when there was no such live key.
pub async fn revoke(
    pool: &Pool,
    actor: Actor<'_>,
    key: Uuid,
    any: bool,
) -> Result<Option<(i64, i64)>, DbError> {
    let row = pool
        .query_opt(&API_KEY_REVOKE, &[&actor.user_id, &actor.ip, &key, &any])
        .await?
        .ok_or(DbError::Decode)?;
    let outcome: Word = row.try_get(0).map_err(|_| DbError::Decode)?;
    if outcome != Word::Ok {
        return Ok(None);
    }
    let id: i64 = row.try_get(1).map_err(|_| DbError::Decode)?;
    let version: i64 = row.try_get(2).map_err(|_| DbError::Decode)?;
    Ok(Some((id, version)))
}

/// The owner (users.id) of key `key`, if it exists.
pub async fn owner(pool: &Pool, key: Uuid) -> Result<Option<i64>, DbError> {
    match pool
        .query_opt(&crate::statements::API_KEY_OWNER, &[&key])
        .await?
    {
        Some(row) => row.try_get(0).map(Some).map_err(|_| DbError::Decode),
        None => Ok(None),
    }
}

/// A key as its owner sees it listed (never the secret).
#[derive(Debug, Clone)]
pub struct Listed {
    /// Public id.
    pub sourced_id: Uuid,
    /// Public prefix (the start of the key).
    pub prefix: String,
    /// Name given at creation.
    pub name: String,
    /// RFC 3339 UTC times.
    pub created_at: String,
    /// When it stops working, if ever.
    pub expires_at: Option<String>,
    /// Last use, recorded in batches (may lag by a few seconds).
    pub last_used_at: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// Its bindings, as a JSON array text.
    pub bindings_json: String,
}

/// The keys owned by user `owner`, newest first.
pub async fn of_owner(pool: &Pool, owner: i64) -> Result<Vec<Listed>, DbError> {
    let rows = pool.query(&API_KEYS_OF_OWNER, &[&owner]).await?;
    rows.iter()
        .map(|r| {
            Ok(Listed {
                sourced_id: r.try_get(0)?,
                prefix: r.try_get(1)?,
                name: r.try_get(2)?,
                created_at: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                last_used_at: r.try_get(5)?,
                revoked_at: r.try_get(6)?,
                bindings_json: r.try_get(7)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)
}

/// Marks keys `ids` used now.
pub async fn touch(pool: &Pool, ids: &[i64]) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    pool.query(&API_KEYS_TOUCH, &[&ids]).await.map(|_| ())
}
