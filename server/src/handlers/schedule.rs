//! What a student's week looks like, for the student, their guardians and the staff who may
//! read their classes: `GET /api/v1/students/{id}/classes` (the classes they are enrolled in,
//! with meeting times, rooms and teachers), `.../timetable?from&to` (each lesson of a date
//! range, by the classes' timetables, inside their terms and enrollments) and `.../line-items`
//! (what is due, with their own result once published).

use campushub_db::pgtypes::Date;
use campushub_db::queries::campus;
use campushub_db::statements::{STUDENT_CLASSES, STUDENT_LINE_ITEMS, STUDENT_TIMETABLE};

use super::campus::{array_response, from_to, today};
use super::students::{allow_student, load, parse_id};
use super::Request;
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::CachedStudent;
use crate::shard::Shard;

/// Longest range one timetable request may ask for.
pub const MAX_TIMETABLE_DAYS: i32 = 92;

/// The student of the route, once the caller may use the route's permission on their records.
async fn student(shard: &Shard, req: &Request<'_>) -> Result<std::rc::Rc<CachedStudent>, ApiError> {
    let s = load(shard, parse_id(req.param)?).await?;
    allow_student(shard, req.caller()?, req.permission()?, &s).await?;
    Ok(s)
}

/// `GET /api/v1/students/{id}/classes`.
pub async fn classes(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let s = student(shard, req).await?;
    let doc = campus::document(shard.db.primary(), &STUDENT_CLASSES, &[&s.id]).await?;
    Ok(array_response("classes", doc).with_header("Cache-Control", "private, no-store"))
}

/// `GET /api/v1/students/{id}/timetable?from=&to=`: default from today (where the institution
/// is) to six days later; at most [`MAX_TIMETABLE_DAYS`] days.
pub async fn timetable(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (from, to) = from_to(req)?;
    let s = student(shard, req).await?;
    let from = match from {
        Some(f) => f,
        None => today(shard).await?,
    };
    let to = to.unwrap_or(Date(from.0 + 6));
    if to < from || to.0 - from.0 >= MAX_TIMETABLE_DAYS {
        return Err(ApiError::BadParameter(format!(
            "`from` must not be after `to`, and the range at most {MAX_TIMETABLE_DAYS} days."
        )));
    }
    let doc =
        campus::document(shard.db.primary(), &STUDENT_TIMETABLE, &[&s.id, &from, &to]).await?;
    let body = format!(
        "{{\"student\":{{\"sourced_id\":\"{}\",\"type\":\"user\"}},\"from\":\"{}\",\"to\":\"{}\",\"lessons\":{doc}}}",
        parse_id(req.param)?.hyphenated(),
        from.iso(),
        to.iso()
    );
    Ok(Response::json(200, body.into_bytes()).with_header("Cache-Control", "private, no-store"))
}

/// `GET /api/v1/students/{id}/line-items`: the line items of the student's classes, by due
/// date, each with the student's own result once the line item is published.
pub async fn line_items(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let s = student(shard, req).await?;
    let doc = campus::document(shard.db.primary(), &STUDENT_LINE_ITEMS, &[&s.id]).await?;
    Ok(array_response("line_items", doc).with_header("Cache-Control", "private, no-store"))
}
