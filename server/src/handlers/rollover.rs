//! The end of a term: `POST /api/v1/terms/{id}/rollover` `{"to": term, "dry_run": bool,
//! "promote": bool}` copies the term's classes (timetables, rooms, capacities) and teaching
//! assignments into the next term, ends the old enrollments on the term's last day, and
//! promotes the students who were enrolled by one year of study (`promote`, default: when
//! the next term belongs to a later school year). One transaction, audited, idempotent; a dry
//! run does the same work and rolls it back, so its report is what the real one will do.
//! Needs `classes.write` for the whole institution.

use campushub_db::queries::word::Word;
use campushub_db::statements::TERM_ROLLOVER;

use campushub_db::queries::campus::{self, Param};

use super::campus::{ip, path_id, refused};
use super::fields::Fields;
use super::Request;
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::Shard;

/// Longest a rollover may take (measured on the seeded campus: see scripts/bench-rollover).
const ROLLOVER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `POST /api/v1/terms/{id}/rollover`.
pub async fn rollover(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let from = path_id(req, "term")?;
    let mut f = Fields::parse(req)?;
    let to = f.uuid("to", true);
    let dry_run = f.boolean("dry_run", false).unwrap_or(false);
    let promote = f.boolean("promote", false);
    f.finish()?;
    let to = to.ok_or(ApiError::Internal)?;
    let refusals = [
        (Word::NoTerm, "to", "is not an academic session"),
        (
            Word::Backwards,
            "to",
            "must start after the term rolled over",
        ),
    ];
    // Seconds on a large campus: on a connection of its own, not the shard's pipelined ones.
    let actor = req.caller()?.principal.user_id;
    let ip = ip(req);
    let params: [Param<'_>; 6] = [&actor, &ip, &from, &to, &promote, &dry_run];
    let row = shard
        .db
        .primary()
        .query_opt_alone(&TERM_ROLLOVER, &params, ROLLOVER_TIMEOUT)
        .await?
        .ok_or_else(|| campushub_db::DbError::undecodable(&TERM_ROLLOVER, "no row"))?;
    let o = campus::outcome(&TERM_ROLLOVER, &row)?;
    if !o.applied() {
        return Err(refused(&o, &refusals, |_| None));
    }
    if !dry_run {
        // Rosters, profiles (years of study) and pages of every instance are stale.
        super::students::forget_everything(shard).await;
    }
    let report = o.bad.first().ok_or(ApiError::Internal)?;
    Ok(Response::json(200, report.clone().into_bytes()).with_header("Cache-Control", "no-store"))
}
