//! What a user may do: their grants (permission, scope, role) and relationship checks.

use uuid::Uuid;

use crate::statements::{ENROLLED_IN_ANY, IS_GUARDIAN_OF, USER_GRANTS};
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
    let rows = pool.query(&USER_GRANTS, &[&id]).await?;
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
