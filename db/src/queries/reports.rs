//! PDF reports (migration 0018): asking for one, and reading its state and file. The worker
//! renders them (`campushub worker`, kind `report.render`).

use uuid::Uuid;

use crate::statements::{REPORT_BY_ID, REPORT_CLASS, REPORT_FILE, REPORT_REQUEST};
use crate::{DbError, Pool};

/// Who a report is about, as access checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `term_report`, `attendance_certificate` or `class_register`.
    pub kind: String,
    /// The student (users.id), for a student's report.
    pub student: Option<i64>,
    /// The class (classes.id), for a class's register.
    pub class: Option<i64>,
    /// The department (orgs.id) of the student or the class.
    pub department: i64,
}

/// A class's row id and department, by public id.
pub async fn class(pool: &Pool, id: Uuid) -> Result<Option<(i64, i64)>, DbError> {
    let Some(row) = pool.query_opt(&REPORT_CLASS, &[&id]).await? else {
        return Ok(None);
    };
    let bad = |e| DbError::undecodable(&REPORT_CLASS, e);
    Ok(Some((
        row.try_get(0).map_err(bad)?,
        row.try_get(1).map_err(bad)?,
    )))
}

/// Asks for a report of `kind` about `student` or `class` over `from`..=`to` (dates), as
/// `actor` from `ip` (audited): (report id, job id).
#[allow(clippy::too_many_arguments)]
pub async fn request(
    pool: &Pool,
    actor: i64,
    ip: &str,
    kind: &str,
    student: Option<i64>,
    class: Option<i64>,
    from: &str,
    to: &str,
) -> Result<(Uuid, Uuid), DbError> {
    let row = pool
        .query_opt(
            &REPORT_REQUEST,
            &[&actor, &ip, &kind, &student, &class, &from, &to],
        )
        .await?
        .ok_or_else(|| DbError::undecodable(&REPORT_REQUEST, "no row"))?;
    let bad = |e| DbError::undecodable(&REPORT_REQUEST, e);
    Ok((row.try_get(0).map_err(bad)?, row.try_get(1).map_err(bad)?))
}

fn subject(row: &tokio_postgres::Row) -> Result<Subject, tokio_postgres::Error> {
    Ok(Subject {
        kind: row.try_get(0)?,
        student: row.try_get(1)?,
        class: row.try_get(3)?,
        department: row.try_get(2)?,
    })
}

/// A report's subject and its JSON document.
pub async fn by_id(pool: &Pool, id: Uuid) -> Result<Option<(Subject, String)>, DbError> {
    let Some(row) = pool.query_opt(&REPORT_BY_ID, &[&id]).await? else {
        return Ok(None);
    };
    let bad = |e| DbError::undecodable(&REPORT_BY_ID, e);
    Ok(Some((
        subject(&row).map_err(bad)?,
        row.try_get(4).map_err(bad)?,
    )))
}

/// A report's file, when rendered.
#[derive(Debug, Clone)]
pub struct File {
    /// Who it is about.
    pub subject: Subject,
    /// `queued`, `done`, `failed`.
    pub state: String,
    /// The PDF (when done).
    pub pdf: Option<Vec<u8>>,
    /// A file name for it.
    pub name: String,
}

/// A report's subject, state and PDF.
pub async fn file(pool: &Pool, id: Uuid) -> Result<Option<File>, DbError> {
    let Some(row) = pool.query_opt(&REPORT_FILE, &[&id]).await? else {
        return Ok(None);
    };
    let bad = |e| DbError::undecodable(&REPORT_FILE, e);
    Ok(Some(File {
        subject: subject(&row).map_err(bad)?,
        state: row.try_get(4).map_err(bad)?,
        pdf: row.try_get(5).map_err(bad)?,
        name: row.try_get(6).map_err(bad)?,
    }))
}
