//! The campus records: people, terms, courses, classes, enrollments, attendance and results.
//!
//! Writes are one call of a SQL function of migration 0008 (one statement: one transaction,
//! audit event included) answering an [`Outcome`]; a taken unique value is an outcome word too,
//! never an error, however writes interleave (migration 0012). Reads answer documents
//! PostgreSQL encodes as JSON (`json_build_object`), passed through to the client as they are:
//! the server never decodes and re-encodes them. A row of the wrong shape is logged with its
//! statement ([`DbError::undecodable`]).

use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::queries::word::Word;
use crate::statements::{self, Stmt};
use crate::{DbError, Pool};

/// One parameter of a statement.
pub type Param<'a> = &'a (dyn ToSql + Sync);

/// Parameters of a statement.
pub type Params<'a> = [Param<'a>];

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok`, or the word saying why nothing changed (see the function's comment).
    pub outcome: Word,
    /// The public id of the created or changed row.
    pub id: Option<Uuid>,
    /// users.id of the person changed (people), the row id, or a count (bulk writes).
    pub row_id: Option<i64>,
    /// The offending entries of a refused bulk write (public ids, codes).
    pub bad: Vec<String>,
}

impl Outcome {
    /// Whether the change was applied.
    pub fn applied(&self) -> bool {
        self.outcome == Word::Ok
    }
}

/// Runs a write statement (`SELECT outcome, ref, row_id, bad FROM f(..)`).
pub async fn change(pool: &Pool, stmt: &Stmt, params: &Params<'_>) -> Result<Outcome, DbError> {
    let row = pool
        .query_opt(stmt, params)
        .await?
        .ok_or_else(|| DbError::undecodable(stmt, "no row"))?;
    outcome(stmt, &row)
}

/// Runs a write statement as `actor` (users.id) from address `ip`: every write function takes
/// those two first, for its audit event; `params` are the rest.
pub async fn change_as(
    pool: &Pool,
    stmt: &Stmt,
    actor: i64,
    ip: &str,
    params: &Params<'_>,
) -> Result<Outcome, DbError> {
    let mut all: Vec<Param<'_>> = Vec::with_capacity(params.len() + 2);
    all.push(&actor);
    all.push(&ip);
    all.extend_from_slice(params);
    change(pool, stmt, &all).await
}

/// A row of (outcome, ref, row_id, bad).
pub fn outcome(stmt: &Stmt, row: &tokio_postgres::Row) -> Result<Outcome, DbError> {
    let decode = || -> Result<Outcome, tokio_postgres::Error> {
        Ok(Outcome {
            outcome: row.try_get(0)?,
            id: row.try_get(1)?,
            row_id: row.try_get(2)?,
            bad: row
                .try_get::<_, Option<Vec<String>>>(3)?
                .unwrap_or_default(),
        })
    };
    decode().map_err(|e| DbError::undecodable(stmt, e))
}

/// A document statement answering one row with one JSON text column (an aggregate: always a
/// row).
pub async fn document(pool: &Pool, stmt: &Stmt, params: &Params<'_>) -> Result<String, DbError> {
    let row = pool
        .query_opt(stmt, params)
        .await?
        .ok_or_else(|| DbError::undecodable(stmt, "no row"))?;
    row.try_get(0).map_err(|e| DbError::undecodable(stmt, e))
}

/// A page of (row id, JSON document) rows; the row id is the keyset cursor.
pub async fn page(
    pool: &Pool,
    stmt: &Stmt,
    params: &Params<'_>,
) -> Result<Vec<(i64, String)>, DbError> {
    let rows = pool.query(stmt, params).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|e| DbError::undecodable(stmt, e))
}

/// A page of (row id, public id) rows: the server fills in the documents from its cache.
pub async fn id_page(
    pool: &Pool,
    stmt: &Stmt,
    params: &Params<'_>,
) -> Result<Vec<(i64, Uuid)>, DbError> {
    let rows = pool.query(stmt, params).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|e| DbError::undecodable(stmt, e))
}

/// One record with what access checks need: its row id, its department (orgs.id), its
/// version (the ETag) and its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Row id.
    pub id: i64,
    /// The class's row id, for records that belong to a class (sessions, line items).
    pub class_id: Option<i64>,
    /// The department it belongs to.
    pub department_id: Option<i64>,
    /// A state the route needs (a session's submission, a line item's status).
    pub state: Option<String>,
    /// Microseconds of its last change.
    pub version: i64,
    /// The JSON document.
    pub json: String,
}

impl Record {
    /// (class row id, department) of a record that belongs to a class, for its access rule
    /// (0 where the shape has none: no grant matches it).
    pub fn class_scope(&self) -> (i64, i64) {
        (self.class_id.unwrap_or(0), self.department_id.unwrap_or(0))
    }
}

/// The shape of a record statement's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// (id, version, json): terms.
    Plain,
    /// (id, department, version, json): people, courses, classes.
    Department,
    /// (id, class, department, submitted, version, json): attendance sessions.
    Session,
    /// (id, class, department, status, version, json): line items.
    LineItem,
}

/// One record by public id (`None`: no such record).
pub async fn record(
    pool: &Pool,
    stmt: &Stmt,
    shape: Shape,
    id: Uuid,
) -> Result<Option<Record>, DbError> {
    let Some(r) = pool.query_opt(stmt, &[&id]).await? else {
        return Ok(None);
    };
    let decode = || -> Result<Record, tokio_postgres::Error> {
        Ok(match shape {
            Shape::Plain => Record {
                id: r.try_get(0)?,
                class_id: None,
                department_id: None,
                state: None,
                version: r.try_get(1)?,
                json: r.try_get(2)?,
            },
            Shape::Department => Record {
                id: r.try_get(0)?,
                class_id: None,
                department_id: Some(r.try_get(1)?),
                state: None,
                version: r.try_get(2)?,
                json: r.try_get(3)?,
            },
            Shape::Session => Record {
                id: r.try_get(0)?,
                class_id: Some(r.try_get(1)?),
                department_id: Some(r.try_get(2)?),
                state: Some(if r.try_get::<_, bool>(3)? {
                    "submitted".into()
                } else {
                    "open".into()
                }),
                version: r.try_get(4)?,
                json: r.try_get(5)?,
            },
            Shape::LineItem => Record {
                id: r.try_get(0)?,
                class_id: Some(r.try_get(1)?),
                department_id: Some(r.try_get(2)?),
                state: Some(r.try_get(3)?),
                version: r.try_get(4)?,
                json: r.try_get(5)?,
            },
        })
    };
    decode()
        .map(Some)
        .map_err(|e| DbError::undecodable(stmt, e))
}

/// Whether `user` teaches (or assists in) class `class`.
pub async fn teaches(pool: &Pool, user: i64, class: i64) -> Result<bool, DbError> {
    let stmt = &statements::TEACHES;
    let row = pool
        .query_opt(stmt, &[&user, &class])
        .await?
        .ok_or_else(|| DbError::undecodable(stmt, "no row"))?;
    row.try_get(0).map_err(|e| DbError::undecodable(stmt, e))
}

/// Whether `user` is a member of class `class`: actively enrolled in it as a student
/// (`as_student`), or a guardian of a student actively enrolled in it (`as_guardian`).
pub async fn class_member(
    pool: &Pool,
    user: i64,
    class: i64,
    as_student: bool,
    as_guardian: bool,
) -> Result<bool, DbError> {
    let stmt = &statements::CLASS_MEMBER;
    let row = pool
        .query_opt(stmt, &[&user, &class, &as_student, &as_guardian])
        .await?
        .ok_or_else(|| DbError::undecodable(stmt, "no row"))?;
    row.try_get(0).map_err(|e| DbError::undecodable(stmt, e))
}

/// One register to mark: who, from where, which session, whose records (`teacher` or
/// `office`), and the records (student, code, minutes present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// users.id of the caller.
    pub actor: i64,
    /// Client address, as text.
    pub ip: String,
    /// The session's row id.
    pub session: i64,
    /// `teacher` or `office`.
    pub source: &'static str,
    /// Students' users ids, in the request's order.
    pub students: Vec<i64>,
    /// Their codes.
    pub codes: Vec<String>,
    /// Their minutes present, where given.
    pub minutes: Vec<Option<i16>>,
}

/// Marks `registers` in one statement (one transaction, one commit): an outcome per register,
/// in order. At most one register per (session, source): the caller keeps the others for the
/// next batch. A register refused for its own reasons changes nothing, and nothing of the others.
pub async fn mark_registers(pool: &Pool, registers: &[&Register]) -> Result<Vec<Outcome>, DbError> {
    let n = registers.len();
    let records: usize = registers.iter().map(|r| r.students.len()).sum();
    let (mut actors, mut ips, mut sessions, mut sources) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut owner, mut students, mut codes, mut minutes) = (
        Vec::with_capacity(records),
        Vec::with_capacity(records),
        Vec::with_capacity(records),
        Vec::with_capacity(records),
    );
    for (i, r) in registers.iter().enumerate() {
        actors.push(r.actor);
        ips.push(r.ip.as_str());
        sessions.push(r.session);
        sources.push(r.source);
        let i = i32::try_from(i + 1).map_err(|_| DbError::Query)?;
        owner.extend(std::iter::repeat_n(i, r.students.len()));
        students.extend_from_slice(&r.students);
        codes.extend(r.codes.iter().map(String::as_str));
        minutes.extend_from_slice(&r.minutes);
    }
    let stmt = &statements::ATTENDANCE_MARK_BATCH;
    let rows = pool
        .query(
            stmt,
            &[
                &actors, &ips, &sessions, &sources, &owner, &students, &codes, &minutes,
            ],
        )
        .await?;
    if rows.len() != n {
        return Err(DbError::undecodable(
            stmt,
            format_args!("{} rows for {n} registers", rows.len()),
        ));
    }
    rows.iter().map(|r| outcome(stmt, r)).collect()
}

/// What marking needs of a session: its row id, its class's row id and department, and
/// whether it is submitted (`None`: no such session). No document: marking is the hot write.
pub async fn session_state(
    pool: &Pool,
    id: Uuid,
) -> Result<Option<(i64, i64, i64, bool)>, DbError> {
    let stmt = &statements::SESSION_STATE;
    let Some(r) = pool.query_opt(stmt, &[&id]).await? else {
        return Ok(None);
    };
    let decode = || -> Result<(i64, i64, i64, bool), tokio_postgres::Error> {
        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
    };
    decode()
        .map(Some)
        .map_err(|e| DbError::undecodable(stmt, e))
}
