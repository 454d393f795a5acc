//! Attendance codes without SQL: `GET /api/v1/attendance-codes?department=` (the institution's
//! codes, and a department's own), `PUT /api/v1/attendance-codes/{code}?department=`
//! (create or replace; `departments.write` for the whole institution; audited). A code in use
//! is retired (`"status": "tobedeleted"`), never deleted: marks refer to it. Every shard of
//! every instance drops its cached codes when one changes (`Invalidation::Codes`).

use campushub_cache::Invalidation;
use campushub_db::queries::campus;
use campushub_db::queries::word::Word;
use campushub_db::statements::{ATTENDANCE_CODES, ATTENDANCE_CODE_SAVE};

use super::campus::{apply, array_response, publish, query_uuid, STATUSES};
use super::fields::Fields;
use super::{query_pairs, Request};
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::Shard;

const CATEGORIES: &[&str] = &["present", "absent", "late", "excused"];
const ENTERED_BY: &[&str] = &["teacher", "office", "any"];

/// `department` of the query, if named (anything else is 400).
fn department(req: &Request<'_>) -> Result<Option<uuid::Uuid>, ApiError> {
    let mut department = None;
    for pair in query_pairs(req.query) {
        let (k, v) = pair?;
        if k != "department" {
            return Err(ApiError::BadParameter(
                "This route takes `department` (a department's id).".into(),
            ));
        }
        department = Some(query_uuid("department", &v)?);
    }
    Ok(department)
}

/// `GET /api/v1/attendance-codes?department=`.
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let department = department(req)?;
    let doc = campus::document(shard.db.primary(), &ATTENDANCE_CODES, &[&department]).await?;
    Ok(array_response("codes", doc))
}

/// `PUT /api/v1/attendance-codes/{code}?department=`: `{"description", "category",
/// "presence_fraction", "entered_by"?, "status"?}`. 201 when it made the code, 200 when it
/// replaced one; the answer is the list it belongs to.
pub async fn put(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let code = req.param;
    let mut f = Fields::parse(req)?;
    if code.is_empty()
        || code.len() > 8
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        f.bad("code", "must be 1 to 8 letters, digits, _ or -");
    }
    let description = f.text("description", true, 200);
    let category = f.one_of("category", true, CATEGORIES);
    let presence = f.number("presence_fraction", true, 0.0, 1.0, 2);
    let entered_by = f.one_of("entered_by", false, ENTERED_BY);
    let status = f.one_of("status", false, STATUSES);
    f.finish()?;
    let department = department(req)?;
    let refusals = [
        (Word::NoDepartment, "department", "is not a department"),
        (
            Word::NoInstitution,
            "",
            "There is no institution yet: `campushub admin create` makes it.",
        ),
    ];
    let o = apply(
        shard,
        req,
        &ATTENDANCE_CODE_SAVE,
        &[
            &department,
            &code,
            &description,
            &category,
            &presence,
            &entered_by,
            &status,
        ],
        &refusals,
    )
    .await?;
    publish(shard, Invalidation::Codes).await;
    let doc = campus::document(shard.db.primary(), &ATTENDANCE_CODES, &[&department]).await?;
    let mut r = array_response("codes", doc);
    if o.bad.first().is_some_and(|w| w == "created") {
        r.status = 201;
    }
    Ok(r)
}
