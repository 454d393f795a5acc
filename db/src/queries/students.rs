//! Students: the profile and the attendance history.

use uuid::Uuid;

use crate::pgtypes::{Date, Timestamp};
use crate::statements::{ORG_SOURCED_ID, STUDENTS_BY_IDS, STUDENT_ATTENDANCE, STUDENT_BY_ID};
use crate::{DbError, Pool};

/// A student's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Student {
    /// Row id (never shown).
    pub id: i64,
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
    /// `active` or `tobedeleted`.
    pub status: String,
    /// RFC 3339 UTC time of the last change.
    pub date_last_modified: String,
    /// Microseconds since the epoch of the last change (the version in its ETag).
    pub version: i64,
    /// Roll number.
    pub roll_number: String,
    /// Programme.
    pub program: String,
    /// Year of study.
    pub year_of_study: i16,
    /// Home department (orgs.id).
    pub department_id: i64,
}

/// A student by public id.
pub async fn by_id(pool: &Pool, id: Uuid) -> Result<Option<Student>, DbError> {
    match pool.query_opt(&STUDENT_BY_ID, &[&id]).await? {
        Some(r) => decode(&r).map(Some),
        None => Ok(None),
    }
}

/// Students by public ids (in no particular order; unknown ids are left out).
pub async fn by_ids(pool: &Pool, ids: &[Uuid]) -> Result<Vec<Student>, DbError> {
    let rows = pool.query(&STUDENTS_BY_IDS, &[&ids]).await?;
    rows.iter().map(decode).collect()
}

/// A row of `STUDENT_BY_ID` or `STUDENTS_BY_IDS`.
fn decode(r: &tokio_postgres::Row) -> Result<Student, DbError> {
    let decode = || -> Result<Student, tokio_postgres::Error> {
        let modified: Timestamp = r.try_get(7)?;
        Ok(Student {
            id: r.try_get(0)?,
            sourced_id: r.try_get(1)?,
            username: r.try_get(2)?,
            email: r.try_get(3)?,
            given_name: r.try_get(4)?,
            family_name: r.try_get(5)?,
            status: r.try_get(6)?,
            date_last_modified: modified.rfc3339_millis(),
            version: modified.0,
            roll_number: r.try_get(8)?,
            program: r.try_get(9)?,
            year_of_study: r.try_get(10)?,
            department_id: r.try_get(11)?,
        })
    };
    decode().map_err(|_| DbError::Decode)
}

/// One attendance mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Session date.
    pub date: Date,
    /// Period.
    pub period: i16,
    /// Class public id.
    pub class_id: Uuid,
    /// Class title.
    pub class_title: String,
    /// Code, e.g. `P`.
    pub code: String,
    /// `present`, `absent`, `late` or `excused`.
    pub category: String,
    /// How much presence it counts as.
    pub presence: f64,
    /// `teacher` or `office`: the register whose mark counts (the office's where it marked
    /// the student too).
    pub source: String,
    /// Minutes present, where the mark recorded them (a late arrival, an early leave).
    pub minutes: Option<i16>,
}

/// A student's effective marks from `from` to `to`, inclusive: one per session, the office's
/// where it overrode the teacher's.
pub async fn attendance(
    pool: &Pool,
    student: i64,
    from: Date,
    to: Date,
) -> Result<Vec<Mark>, DbError> {
    let rows = pool
        .query(&STUDENT_ATTENDANCE, &[&student, &from, &to])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Mark {
                date: Date(r.try_get(0)?),
                period: r.try_get(1)?,
                class_id: r.try_get(2)?,
                class_title: r.try_get(3)?,
                code: r.try_get(4)?,
                category: r.try_get(5)?,
                presence: r.try_get(6)?,
                source: r.try_get(7)?,
                minutes: r.try_get(8)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)
}

/// The public id of org `id` (a department, the institution), if it exists.
pub async fn org_sourced_id(pool: &Pool, id: i64) -> Result<Option<Uuid>, DbError> {
    let Some(row) = pool.query_opt(&ORG_SOURCED_ID, &[&id]).await? else {
        return Ok(None);
    };
    row.try_get(0).map(Some).map_err(|_| DbError::Decode)
}
