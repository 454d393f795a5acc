//! The institution's own settings: `GET` and `PATCH /api/v1/admin/institution` (its time zone,
//! from which every default date of the API is taken: "today", the last 30 days, the day a
//! withdrawal or an enrollment takes effect; and the weekdays it teaches on, which the
//! calendar starts from). Changes are audited; each shard sees a new zone within
//! `shard::TODAY_TTL`.

use campushub_db::queries::word::Word;
use campushub_db::statements::{INSTITUTION_SETTINGS, INSTITUTION_SETTINGS_SAVE};

use super::campus::{apply, finish_body};
use super::fields::Fields;
use super::Request;
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::Shard;

async fn answer(shard: &Shard) -> Result<Response, ApiError> {
    let row = shard
        .db
        .primary()
        .query_opt(&INSTITUTION_SETTINGS, &[])
        .await?
        .ok_or(ApiError::NotFound)?;
    let doc: String = row
        .try_get(0)
        .map_err(|e| campushub_db::DbError::undecodable(&INSTITUTION_SETTINGS, e))?;
    Ok(Response::json(200, doc.into_bytes()).with_header("Cache-Control", "no-store"))
}

/// `GET /api/v1/admin/institution`: its name, time zone and today there.
pub async fn get(shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    answer(shard).await
}

/// The weekday names a timetable and the calendar use.
pub const WEEKDAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// `PATCH /api/v1/admin/institution {"time_zone": "Europe/Berlin", "teaching_weekdays":
/// ["MON", ...]}`: an IANA zone name; the weekdays it teaches on (1 to 7, no repeats).
pub async fn update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut f = Fields::parse(req)?;
    let time_zone = f.text("time_zone", false, 64);
    let weekdays = f.array("teaching_weekdays", false, 7).and_then(|list| {
        let days: Vec<String> = list
            .iter()
            .filter_map(|v| {
                v.as_str()
                    .filter(|d| WEEKDAYS.contains(d))
                    .map(str::to_string)
            })
            .collect();
        let unique = days.iter().collect::<std::collections::BTreeSet<_>>().len() == days.len();
        if days.len() != list.len() || days.is_empty() || !unique {
            f.bad(
                "teaching_weekdays",
                "must list 1 to 7 different weekdays, each one of MON TUE WED THU FRI SAT SUN",
            );
            None
        } else {
            Some(days)
        }
    });
    finish_body(f, false, time_zone.is_none() && weekdays.is_none())?;
    let refusals = [
        (
            Word::Invalid,
            "time_zone",
            "is not a time zone of the IANA database (like Europe/Berlin)",
        ),
        (
            Word::NoInstitution,
            "",
            "There is no institution yet: `campushub admin create` makes it.",
        ),
    ];
    let params: [campushub_db::queries::campus::Param<'_>; 2] = [&time_zone, &weekdays];
    apply(shard, req, &INSTITUTION_SETTINGS_SAVE, &params, &refusals).await?;
    // This shard answers with the new zone at once; the others within TODAY_TTL.
    shard.today.set(None);
    answer(shard).await
}
