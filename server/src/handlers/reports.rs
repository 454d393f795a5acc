//! PDF reports, made by workers: `POST /api/v1/reports {kind, subject, from, to}` answers 202
//! with the report's id, `GET /api/v1/reports/{id}` its state, `GET .../file` the PDF. The
//! kinds: a student's `term_report` (published results by class and line item, with the
//! grading scale), a student's `attendance_certificate` (presence by class over the range), a
//! class's `class_register` (students by sessions, for up to a month). Each is under the rule
//! of the data it shows, checked when it is asked for and again whenever it is read: the
//! student themself, their guardians, their teachers, the registrar (`exams.read` for a term
//! report, `attendance.read` for the others).

use campushub_db::queries::reports::{self, Subject};
use serde::{Deserialize, Serialize};

use super::campus::path_id;
use super::students;
use super::{json, json_body, Request};
use crate::api_error::{ApiError, FieldError};
use crate::auth::access::{class_access, student_access};
use crate::auth::rule::Permission;
use crate::http::response::{Body, PDF};
use crate::http::Response;
use crate::shard::Shard;

/// Longest range of a student's report, in days; a class's register covers a month.
const MAX_DAYS: i64 = 400;
const MAX_REGISTER_DAYS: i64 = 31;

/// `POST /api/v1/reports`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewReport)]
pub(crate) struct NewReport {
    /// `term_report`, `attendance_certificate` or `class_register`.
    kind: Option<String>,
    /// The student (reports about a student) or the class (`class_register`), by public id.
    subject: Option<String>,
    /// First day, YYYY-MM-DD.
    from: Option<String>,
    /// Last day, YYYY-MM-DD (at most 400 days after `from`; 31 for a register).
    to: Option<String>,
}

/// What asking answers.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReportAccepted)]
pub(crate) struct Accepted {
    /// The report's id: `GET /api/v1/reports/{id}` for its state.
    sourced_id: uuid::Uuid,
    /// `queued`.
    state: &'static str,
    /// The job that renders it.
    job: uuid::Uuid,
}

/// Days since 1970-01-01 of a YYYY-MM-DD date, if it is one (the rule of
/// `fields::parse_date`, which every date parameter follows).
fn day_number(text: &str) -> Option<i64> {
    super::fields::parse_date(text).map(|d| i64::from(d.0))
}

/// Whether the caller may see what a report about `subject` shows.
async fn may_see(shard: &Shard, req: &Request<'_>, subject: &Subject) -> Result<bool, ApiError> {
    let principal = &req.caller()?.principal;
    let db = shard.db.primary();
    Ok(
        match (subject.kind.as_str(), subject.student, subject.class) {
            ("term_report", Some(student), _) => student_access(
                db,
                principal,
                Permission::ExamsRead,
                student,
                subject.department,
            )
            .await?
            .is_some(),
            ("attendance_certificate", Some(student), _) => student_access(
                db,
                principal,
                Permission::AttendanceRead,
                student,
                subject.department,
            )
            .await?
            .is_some(),
            ("class_register", _, Some(class)) => {
                class_access(
                    db,
                    principal,
                    Permission::AttendanceRead,
                    class,
                    subject.department,
                )
                .await?
            }
            _ => false,
        },
    )
}

/// `POST /api/v1/reports {kind, subject, from, to}`: 202 with the report's id.
pub async fn request(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let body: NewReport = json_body(req)?;
    let mut errors = Vec::new();
    let kind = body.kind.unwrap_or_default();
    if !["term_report", "attendance_certificate", "class_register"].contains(&kind.as_str()) {
        errors.push(FieldError::new(
            "kind",
            "is term_report, attendance_certificate or class_register",
        ));
    }
    let subject = body
        .subject
        .as_deref()
        .and_then(|s| uuid::Uuid::try_parse(s).ok());
    if subject.is_none() {
        errors.push(FieldError::new(
            "subject",
            "is the public id of a student or a class",
        ));
    }
    let from = body.from.unwrap_or_default();
    let to = body.to.unwrap_or_default();
    let (f, t) = (day_number(&from), day_number(&to));
    if f.is_none() {
        errors.push(FieldError::new("from", "is a date, YYYY-MM-DD"));
    }
    if t.is_none() {
        errors.push(FieldError::new("to", "is a date, YYYY-MM-DD"));
    }
    if let (Some(f), Some(t)) = (f, t) {
        let most = if kind == "class_register" {
            MAX_REGISTER_DAYS
        } else {
            MAX_DAYS
        };
        if t < f || t - f > most {
            errors.push(FieldError::new(
                "to",
                format!("is on or after `from`, at most {most} days later"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let Some(subject) = subject else {
        return Err(ApiError::Internal);
    };
    let db = shard.db.primary();
    let who = if kind == "class_register" {
        let (class, department) = reports::class(db, subject)
            .await?
            .ok_or(ApiError::NotFound)?;
        Subject {
            kind: kind.clone(),
            student: None,
            class: Some(class),
            department,
        }
    } else {
        let s = students::load(shard, subject).await?;
        Subject {
            kind: kind.clone(),
            student: Some(s.id),
            class: None,
            department: s.department_id,
        }
    };
    if !may_see(shard, req, &who).await? {
        return Err(ApiError::Forbidden);
    }
    let ip = req.peer.to_string();
    let (id, job) = reports::request(
        db,
        caller.principal.user_id,
        &ip,
        &kind,
        who.student,
        who.class,
        &from,
        &to,
    )
    .await?;
    let body = Accepted {
        sourced_id: id,
        state: "queued",
        job,
    };
    Ok(Response::json(202, json(&body)?).with_header("Location", format!("/api/v1/reports/{id}")))
}

/// `GET /api/v1/reports/{id}`: its state (`queued`, `done`, `failed` with why), pages, size.
pub async fn get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = path_id(req, "report")?;
    let (subject, doc) = reports::by_id(shard.db.primary(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !may_see(shard, req, &subject).await? {
        return Err(ApiError::Forbidden);
    }
    Ok(Response::json(200, doc.into_bytes()).with_header("Cache-Control", "private, no-store"))
}

/// `GET /api/v1/reports/{id}/file`: the PDF, once rendered (409 before).
pub async fn file(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = path_id(req, "report")?;
    let f = reports::file(shard.db.primary(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !may_see(shard, req, &f.subject).await? {
        return Err(ApiError::Forbidden);
    }
    let Some(pdf) = f.pdf else {
        return Err(ApiError::Conflict(format!(
            "The report is {}; its file exists once it is done (GET /api/v1/reports/{id}).",
            f.state
        )));
    };
    let name: String = f
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(Response {
        status: 200,
        content_type: PDF,
        body: Body::Bytes(pdf),
        headers: Vec::new(),
        close: false,
    }
    .with_header(
        "Content-Disposition",
        format!("attachment; filename=\"{name}\""),
    )
    .with_header("Cache-Control", "private, no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_days() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2026-12-06"), Some(20_793));
        assert_eq!(
            day_number("2024-02-29").map(|d| d - day_number("2024-02-28").unwrap()),
            Some(1)
        );
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "x",
            "",
            "1800-01-01",
            "2026-12-32",
        ] {
            assert_eq!(day_number(bad), None, "{bad}");
        }
    }
}
