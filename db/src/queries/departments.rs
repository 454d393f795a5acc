//! Departments: the public directory of the institution's academic units.

use tokio_postgres::Row;
use uuid::Uuid;

use crate::statements::{DEPARTMENTS_PAGE, DEPARTMENT_BY_ID, DEPARTMENT_SUMMARY};
use crate::{DbError, Pool, ShardDb, Source};

/// A department as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Public id.
    pub sourced_id: Uuid,
    /// Full name, e.g. "Computer Science and Engineering".
    pub name: String,
    /// Short code, e.g. "CSE".
    pub identifier: String,
    /// `active` or `tobedeleted`.
    pub status: String,
    /// RFC 3339 UTC time of the last change.
    pub date_last_modified: String,
    /// Public id of the institution.
    pub parent_sourced_id: Uuid,
    /// Microseconds of the last change: the ETag, and what `If-Match` compares.
    pub version: i64,
}

fn decode(row: &Row) -> Result<Department, DbError> {
    let d = || -> Result<Department, tokio_postgres::Error> {
        Ok(Department {
            sourced_id: row.try_get(0)?,
            name: row.try_get(1)?,
            identifier: row.try_get(2)?,
            status: row.try_get(3)?,
            date_last_modified: row.try_get(4)?,
            parent_sourced_id: row.try_get(5)?,
            version: row.try_get(6)?,
        })
    };
    d().map_err(|_| DbError::Decode)
}

/// One department by public id.
pub async fn by_id(pool: &Pool, id: Uuid) -> Result<Option<Department>, DbError> {
    match pool.query_opt(&DEPARTMENT_BY_ID, &[&id]).await? {
        Some(row) => decode(&row).map(Some),
        None => Ok(None),
    }
}

/// Up to `limit` active departments whose identifier sorts after `after`.
pub async fn page(pool: &Pool, after: &str, limit: i64) -> Result<Vec<Department>, DbError> {
    let rows = pool.query(&DEPARTMENTS_PAGE, &[&after, &limit]).await?;
    rows.iter().map(decode).collect()
}

/// A department's figures (an analytics query: replica when fresh, else primary).
#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentSummary {
    /// Public id.
    pub sourced_id: Uuid,
    /// Name.
    pub name: String,
    /// Short code.
    pub identifier: String,
    /// Students whose home department this is.
    pub students: i64,
    /// Faculty and staff of the department.
    pub staff: i64,
    /// Courses in the catalogue.
    pub courses: i64,
    /// Class sections.
    pub classes: i64,
    /// Attendance marks in the last 30 days.
    pub attendance_marks_30d: i64,
    /// Mean presence fraction of those marks (none when there were none).
    pub presence_rate_30d: Option<f64>,
    /// Which server answered.
    pub source: Source,
}

/// The summary of one department.
pub async fn summary(db: &ShardDb, id: Uuid) -> Result<Option<DepartmentSummary>, DbError> {
    let (pool, source) = db.analytics();
    let Some(row) = pool.query_opt(&DEPARTMENT_SUMMARY, &[&id]).await? else {
        return Ok(None);
    };
    let s = || -> Result<DepartmentSummary, tokio_postgres::Error> {
        Ok(DepartmentSummary {
            sourced_id: row.try_get(0)?,
            name: row.try_get(1)?,
            identifier: row.try_get(2)?,
            students: row.try_get(3)?,
            staff: row.try_get(4)?,
            courses: row.try_get(5)?,
            classes: row.try_get(6)?,
            attendance_marks_30d: row.try_get(7)?,
            presence_rate_30d: row.try_get(8)?,
            source,
        })
    };
    s().map(Some).map_err(|_| DbError::Decode)
}
