//! What a user may do: their grants (permission, scope, role), their account state,
//! relationship checks, and the changes to roles and bindings (each one statement that also
//! writes the audit event and takes a new authorisation version).

use uuid::Uuid;

use crate::queries::word::Word;
use crate::statements::{
    Stmt, BINDING_CREATE, BINDING_DELETE, ENROLLED_IN_ANY, IS_GUARDIAN_OF, PEOPLE_DEPARTMENTS,
    ROLES_LIST, ROLE_CREATE, ROLE_DELETE, ROLE_UPDATE, STUDENT_DRAFT_CLASSES, TARGET_GRANTS,
    TERM_WOULD_CYCLE, USER_AUTH_STATE, USER_BINDINGS, USER_GRANTS, USER_ID_BY_SOURCED,
};
use crate::{DbError, Pool};

/// One permission a user holds, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// e.g. `students.read`.
    pub permission: String,
    /// `institution`, `department` or `class`.
    pub scope_type: String,
    /// orgs.id or classes.id.
    pub scope_id: i64,
    /// The role that carries it.
    pub role: String,
    /// Public id of the scope.
    pub scope_sourced_id: Option<Uuid>,
}

/// All grants of user `id`.
pub async fn grants(pool: &Pool, id: i64) -> Result<Vec<Grant>, DbError> {
    decode_grants(&pool.query(&USER_GRANTS, &[&id]).await?)
}

/// Grants from rows of (permission, scope type, scope id, role, scope public id).
pub(crate) fn decode_grants(rows: &[tokio_postgres::Row]) -> Result<Vec<Grant>, DbError> {
    rows.iter()
        .map(|r| {
            Ok(Grant {
                permission: r.try_get(0)?,
                scope_type: r.try_get(1)?,
                scope_id: r.try_get(2)?,
                role: r.try_get(3)?,
                scope_sourced_id: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)
}

async fn exists(
    pool: &Pool,
    stmt: &crate::statements::Stmt,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<bool, DbError> {
    let row = pool.query_opt(stmt, params).await?.ok_or(DbError::Decode)?;
    row.try_get(0).map_err(|_| DbError::Decode)
}

/// Whether `guardian` looks after `student`.
pub async fn is_guardian_of(pool: &Pool, guardian: i64, student: i64) -> Result<bool, DbError> {
    exists(pool, &IS_GUARDIAN_OF, &[&guardian, &student]).await
}

/// Whether `student` is enrolled in one of `classes`.
pub async fn enrolled_in_any(pool: &Pool, student: i64, classes: &[i64]) -> Result<bool, DbError> {
    if classes.is_empty() {
        return Ok(false);
    }
    exists(pool, &ENROLLED_IN_ANY, &[&student, &classes]).await
}

/// What authentication needs to know about an account besides its grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthState {
    /// Enabled and active.
    pub usable: bool,
    /// Access tokens issued before this (ms since the epoch) are refused; 0 for never.
    pub revoked_before_ms: u64,
}

/// The account state of user `id` (`None`: no such user).
pub async fn auth_state(pool: &Pool, id: i64) -> Result<Option<AuthState>, DbError> {
    let Some(row) = pool.query_opt(&USER_AUTH_STATE, &[&id]).await? else {
        return Ok(None);
    };
    let usable: bool = row.try_get(0).map_err(|_| DbError::Decode)?;
    let ms: f64 = row.try_get(1).map_err(|_| DbError::Decode)?;
    Ok(Some(AuthState {
        usable,
        revoked_before_ms: ms.max(0.0) as u64,
    }))
}

/// The row id of the user with public id `id`.
pub async fn user_id(pool: &Pool, id: Uuid) -> Result<Option<i64>, DbError> {
    let Some(row) = pool.query_opt(&USER_ID_BY_SOURCED, &[&id]).await? else {
        return Ok(None);
    };
    row.try_get(0).map(Some).map_err(|_| DbError::Decode)
}

/// A role as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Built in (cannot be changed or deleted).
    pub builtin: bool,
    /// Its permissions, sorted.
    pub permissions: Vec<String>,
}

/// Every role.
pub async fn roles(pool: &Pool) -> Result<Vec<Role>, DbError> {
    let rows = pool.query(&ROLES_LIST, &[]).await?;
    rows.iter()
        .map(|r| {
            Ok(Role {
                name: r.try_get(0)?,
                description: r.try_get(1)?,
                builtin: r.try_get(2)?,
                permissions: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)
}

/// A role binding as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Public id of the binding.
    pub sourced_id: Uuid,
    /// Role name.
    pub role: String,
    /// `institution`, `department` or `class`.
    pub scope_type: String,
    /// Public id of the org or class.
    pub scope_sourced_id: Option<Uuid>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// The bindings of the user with public id `user`.
pub async fn bindings_of(pool: &Pool, user: Uuid) -> Result<Vec<Binding>, DbError> {
    let rows = pool.query(&USER_BINDINGS, &[&user]).await?;
    rows.iter()
        .map(|r| {
            Ok(Binding {
                sourced_id: r.try_get(0)?,
                role: r.try_get(1)?,
                scope_type: r.try_get(2)?,
                scope_sourced_id: r.try_get(3)?,
                created_at: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)
}

/// What a change to roles or bindings did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `ok`, or why nothing changed (`exists`, `not_found`, `builtin`, `in_use`,
    /// `unknown_permission`, `no_user`, `no_role`, `no_scope`).
    pub outcome: Word,
    /// The role, for role changes.
    pub role_id: Option<i64>,
    /// The user whose grants changed, for binding changes.
    pub user_id: Option<i64>,
    /// The new binding's public id, for binding creation.
    pub binding: Option<Uuid>,
    /// Authorisation version taken by the change (when `ok`).
    pub version: Option<i64>,
}

impl Change {
    /// Whether the change was applied.
    pub fn applied(&self) -> bool {
        self.outcome == Word::Ok
    }
}

/// Who makes a change, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// users.id of the caller.
    pub user_id: i64,
    /// Client address, as text.
    pub ip: &'a str,
}

async fn role_change(
    pool: &Pool,
    stmt: &Stmt,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Change, DbError> {
    let row = pool.query_opt(stmt, params).await?.ok_or(DbError::Decode)?;
    let decode = || -> Result<Change, tokio_postgres::Error> {
        Ok(Change {
            outcome: row.try_get(0)?,
            role_id: row.try_get(1)?,
            user_id: None,
            binding: None,
            version: row.try_get(2)?,
        })
    };
    decode().map_err(|_| DbError::Decode)
}

/// Creates a custom role.
pub async fn create_role(
    pool: &Pool,
    actor: Actor<'_>,
    name: &str,
    description: &str,
    permissions: &[String],
) -> Result<Change, DbError> {
    role_change(
        pool,
        &ROLE_CREATE,
        &[&actor.user_id, &actor.ip, &name, &description, &permissions],
    )
    .await
}

/// Updates a custom role (`None` leaves a field as it is).
pub async fn update_role(
    pool: &Pool,
    actor: Actor<'_>,
    name: &str,
    description: Option<&str>,
    permissions: Option<&[String]>,
) -> Result<Change, DbError> {
    role_change(
        pool,
        &ROLE_UPDATE,
        &[&actor.user_id, &actor.ip, &name, &description, &permissions],
    )
    .await
}

/// Deletes a custom role that nobody holds.
pub async fn delete_role(pool: &Pool, actor: Actor<'_>, name: &str) -> Result<Change, DbError> {
    role_change(pool, &ROLE_DELETE, &[&actor.user_id, &actor.ip, &name]).await
}

/// Binds `role` to `user` at a scope.
pub async fn create_binding(
    pool: &Pool,
    actor: Actor<'_>,
    user: Uuid,
    role: &str,
    scope_type: &str,
    scope: Uuid,
) -> Result<Change, DbError> {
    let row = pool
        .query_opt(
            &BINDING_CREATE,
            &[&actor.user_id, &actor.ip, &user, &role, &scope_type, &scope],
        )
        .await?
        .ok_or(DbError::Decode)?;
    let decode = || -> Result<Change, tokio_postgres::Error> {
        Ok(Change {
            outcome: row.try_get(0)?,
            binding: row.try_get(1)?,
            user_id: row.try_get(2)?,
            role_id: None,
            version: row.try_get(3)?,
        })
    };
    decode().map_err(|_| DbError::Decode)
}

/// Removes a binding.
pub async fn delete_binding(
    pool: &Pool,
    actor: Actor<'_>,
    binding: Uuid,
) -> Result<Change, DbError> {
    let row = pool
        .query_opt(&BINDING_DELETE, &[&actor.user_id, &actor.ip, &binding])
        .await?
        .ok_or(DbError::Decode)?;
    let decode = || -> Result<Change, tokio_postgres::Error> {
        Ok(Change {
            outcome: row.try_get(0)?,
            user_id: row.try_get(1)?,
            role_id: None,
            binding: None,
            version: row.try_get(2)?,
        })
    };
    decode().map_err(|_| DbError::Decode)
}

/// One grant of a person someone wants to change, with the department of a class scope.
#[derive(Debug, Clone)]
pub struct TargetGrant {
    /// e.g. `students.read`.
    pub permission: String,
    /// `institution`, `department` or `class`.
    pub scope_type: String,
    /// orgs.id or classes.id.
    pub scope_id: i64,
    /// The role that carries it.
    pub role: String,
    /// orgs.id of the class's department, for a class scope.
    pub class_department: Option<i64>,
}

/// Every grant of user `id`, for the rule that nobody changes a person whose grants reach
/// beyond their own.
pub async fn target_grants(pool: &Pool, id: i64) -> Result<Vec<TargetGrant>, DbError> {
    let rows = pool.query(&TARGET_GRANTS, &[&id]).await?;
    rows.iter()
        .map(|r| {
            Ok(TargetGrant {
                permission: r.try_get(0)?,
                scope_type: r.try_get(1)?,
                scope_id: r.try_get(2)?,
                role: r.try_get(3)?,
                class_department: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)
}

/// The department (orgs.id) of each of `ids` that has a student or staff profile.
pub async fn people_departments(pool: &Pool, ids: &[Uuid]) -> Result<Vec<(Uuid, i64)>, DbError> {
    let rows = pool.query(&PEOPLE_DEPARTMENTS, &[&ids]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)
}

/// The classes (row id, department) with draft line items that `student` has results in.
pub async fn student_draft_classes(pool: &Pool, student: i64) -> Result<Vec<(i64, i64)>, DbError> {
    let rows = pool.query(&STUDENT_DRAFT_CLASSES, &[&student]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)
}

/// Whether making `parent` the parent of academic session `term` would close a circle.
pub async fn term_would_cycle(pool: &Pool, term: Uuid, parent: Uuid) -> Result<bool, DbError> {
    exists(pool, &TERM_WOULD_CYCLE, &[&term, &parent]).await
}
