//! The academic calendar: `GET /api/v1/calendar?from&to` (any caller: the teaching weekdays,
//! the holidays and closures in the range, each term's count of teaching days) and the
//! closures themselves, `POST /api/v1/calendar/closures` and `DELETE
//! /api/v1/calendar/closures/{id}` (`classes.write` for the whole institution; audited). A
//! teaching day lies in a term's dates, on a teaching weekday, in no closure
//! (`campus_teaching_day`, migration 0019): not-taken, timetables, reports and presence rates
//! count only those, and a register for another day takes `"unscheduled": true`.

use campushub_db::pgtypes::Date;
use campushub_db::queries::campus;
use campushub_db::statements::{CALENDAR, CLOSURE_CREATE, CLOSURE_DELETE};

use super::campus::{apply, from_to, path_id, today};
use super::fields::Fields;
use super::Request;
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::Shard;

/// Longest range a calendar read or one closure may span.
pub const MAX_CALENDAR_DAYS: i32 = 366;

/// `GET /api/v1/calendar?from=&to=`: default today to 90 days later.
pub async fn get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (from, to) = from_to(req)?;
    let from = match from {
        Some(f) => f,
        None => today(shard).await?,
    };
    let to = to.unwrap_or(Date(from.0 + 90));
    if to < from || to.0 - from.0 > MAX_CALENDAR_DAYS {
        return Err(ApiError::BadParameter(format!(
            "`from` must not be after `to`, and the range at most {MAX_CALENDAR_DAYS} days."
        )));
    }
    let doc = campus::document(shard.db.primary(), &CALENDAR, &[&from, &to]).await?;
    Ok(Response::json(200, doc.into_bytes()).with_header("Cache-Control", "private, no-cache"))
}

/// `POST /api/v1/calendar/closures`: `{"kind": "holiday"|"closure", "title", "start_date",
/// "end_date"}` (inclusive, at most a year). 201 with the closure.
pub async fn create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut f = Fields::parse(req)?;
    let kind = f.one_of("kind", true, &["holiday", "closure"]);
    let title = f.text("title", true, 200);
    let start = f.date("start_date", true);
    let end = f.date("end_date", true);
    if let (Some(s), Some(e)) = (start, end) {
        if e < s || e.0 - s.0 > MAX_CALENDAR_DAYS {
            f.bad(
                "end_date",
                "must not be before start_date, and at most a year after it",
            );
        }
    }
    f.finish()?;
    let refusals = [(
        campushub_db::queries::word::Word::NoInstitution,
        "",
        "There is no institution yet: `campushub admin create` makes it.",
    )];
    let o = apply(
        shard,
        req,
        &CLOSURE_CREATE,
        &[&kind, &title, &start, &end],
        &refusals,
    )
    .await?;
    let id = o.id.ok_or(ApiError::Internal)?;
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::Internal);
    };
    let body = serde_json::json!({
        "sourced_id": id.hyphenated().to_string(),
        "kind": kind,
        "title": title,
        "start_date": start.iso(),
        "end_date": end.iso(),
    });
    Ok(Response::json(201, body.to_string().into_bytes())
        .with_header("Location", format!("/api/v1/calendar/closures/{id}")))
}

/// `DELETE /api/v1/calendar/closures/{id}`: its days teach again.
pub async fn delete(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = path_id(req, "closure")?;
    apply(shard, req, &CLOSURE_DELETE, &[&id], &[]).await?;
    Ok(Response::empty(204))
}
