//! The job queue for operators: `GET /api/v1/admin/jobs` (newest first, filtered by state and
//! kind, keyset pages), `GET /api/v1/admin/jobs/{id}`, and `POST .../{id}/retry` (a dead or
//! cancelled job runs again) and `.../cancel` (a ready or running job stops: a running job's
//! worker finds it no longer its own at its next lease renewal). Needs `jobs.manage` for the
//! whole institution; retries and cancels are audited.

use campushub_db::queries::jobs::{self, Operation};
use campushub_db::queries::word::Word;

use super::campus::{page_response, parse_cursor, parse_limit, path_id, Paging, DEFAULT_LIMIT};
use super::{query_pairs, Request};
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::Shard;

/// The states a job can be in.
const STATES: [&str; 5] = ["ready", "running", "done", "dead", "cancelled"];

/// `GET /api/v1/admin/jobs?state=&kind=&limit=&cursor=`.
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut state = None;
    let mut kind = None;
    let mut limit = DEFAULT_LIMIT;
    let mut after = None;
    for pair in query_pairs(req.query) {
        let (k, v) = pair?;
        match k.as_str() {
            "state" => {
                state = Some(STATES.into_iter().find(|s| *s == v).ok_or_else(|| {
                    ApiError::BadParameter(
                        "`state` is ready, running, done, dead or cancelled.".into(),
                    )
                })?);
            }
            "kind" => {
                let ok = !v.is_empty()
                    && v.len() <= 64
                    && v.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                    });
                if !ok {
                    return Err(ApiError::BadParameter(
                        "`kind` is a job kind: lower-case letters, digits, `_` and `.`.".into(),
                    ));
                }
                kind = Some(v);
            }
            "limit" => limit = parse_limit(&v)?,
            "cursor" => after = Some(parse_cursor(&v)?),
            _ => {
                return Err(ApiError::BadParameter(
                    "This route takes `state`, `kind`, `limit` and `cursor`.".into(),
                ))
            }
        }
    }
    // One more than the page, to know whether another follows.
    let rows = jobs::page(shard.db.primary(), state, kind.as_deref(), after, limit + 1).await?;
    let paging = Paging {
        limit,
        ..Paging::default()
    };
    page_response("jobs", rows, &paging)
}

/// `GET /api/v1/admin/jobs/{id}`.
pub async fn get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = path_id(req, "job")?;
    let doc = jobs::by_id(shard.db.primary(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Response::json(200, doc.into_bytes()).with_header("Cache-Control", "no-store"))
}

/// `POST /api/v1/admin/jobs/{id}/retry`: the job as it now is.
pub async fn retry(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    operate(shard, req, Operation::Retry).await
}

/// `POST /api/v1/admin/jobs/{id}/cancel`: the job as it now is.
pub async fn cancel(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    operate(shard, req, Operation::Cancel).await
}

async fn operate(shard: &Shard, req: &Request<'_>, op: Operation) -> Result<Response, ApiError> {
    let id = path_id(req, "job")?;
    let caller = req.caller()?;
    let pool = shard.db.primary();
    let ip = req.peer.to_string();
    match jobs::operate(pool, caller.principal.user_id, &ip, id, op).await? {
        Word::Ok => {}
        Word::NotFound => return Err(ApiError::NotFound),
        Word::NotRetryable => {
            return Err(ApiError::Conflict(
                "Only a dead or cancelled job can be retried.".into(),
            ))
        }
        Word::NotCancellable => {
            return Err(ApiError::Conflict(
                "Only a ready or running job can be cancelled.".into(),
            ))
        }
        _ => return Err(ApiError::Internal),
    }
    let doc = jobs::by_id(pool, id).await?.ok_or(ApiError::NotFound)?;
    Ok(Response::json(200, doc.into_bytes()).with_header("Cache-Control", "no-store"))
}
