//! The public department directory: `GET /api/v1/departments` (keyset-paginated) and
//! `GET /api/v1/departments/{id}` (one row from PostgreSQL); and a department's figures,
//! `GET /api/v1/departments/{id}/summary`, for those who may read its attendance, computed at
//! most once a minute (`summary_cache_s`) per shard.

use campushub_db::queries::departments::{self, Department};
use serde::Serialize;

use super::campus::{parse_limit, DEFAULT_LIMIT};
use super::{json, query_pairs, ObjectRef, Request};
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::Shard;

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Department)]
pub(crate) struct DepartmentDto<'a> {
    sourced_id: String,
    name: &'a str,
    identifier: &'a str,
    status: &'a str,
    date_last_modified: &'a str,
    parent: ObjectRef,
}

impl<'a> From<&'a Department> for DepartmentDto<'a> {
    fn from(d: &'a Department) -> Self {
        DepartmentDto {
            sourced_id: d.sourced_id.hyphenated().to_string(),
            name: &d.name,
            identifier: &d.identifier,
            status: &d.status,
            date_last_modified: &d.date_last_modified,
            parent: ObjectRef::new(d.parent_sourced_id, "org"),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DepartmentPage)]
pub(crate) struct Page<'a> {
    departments: Vec<DepartmentDto<'a>>,
    next_cursor: Option<&'a str>,
}

/// One department by public id, with its ETag (`If-None-Match` answers 304).
pub async fn get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = uuid::Uuid::try_parse(req.param)
        .map_err(|_| ApiError::BadParameter("The department id must be a UUID.".into()))?;
    answer(shard, req, id, true).await
}

/// Department `id` as the API answers it, with its ETag; `conditional`: 304 when
/// `If-None-Match` names its version.
pub async fn answer(
    shard: &Shard,
    req: &Request<'_>,
    id: uuid::Uuid,
    conditional: bool,
) -> Result<Response, ApiError> {
    let dept = departments::by_id(shard.db.primary(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let tag = crate::request::etag(dept.version);
    if conditional && req.not_modified(dept.version) {
        return Ok(Response::empty(304).with_header("ETag", tag));
    }
    Ok(Response::json(200, json(&DepartmentDto::from(&dept))?).with_header("ETag", tag))
}

/// The version of department `id` (`None`: no such department).
pub async fn version(shard: &Shard, id: uuid::Uuid) -> Result<Option<i64>, ApiError> {
    Ok(departments::by_id(shard.db.primary(), id)
        .await?
        .map(|d| d.version))
}

/// A page of active departments ordered by identifier; `?limit=` (1 to 200) and `?after=`
/// (the `next_cursor` of the previous page).
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut limit = DEFAULT_LIMIT;
    let mut after = String::new();
    for pair in query_pairs(req.query) {
        let (k, v) = pair?;
        match k.as_str() {
            "limit" => limit = parse_limit(&v)?,
            "after" => {
                if v.len() > 32 {
                    return Err(ApiError::BadParameter(
                        "`after` is not a cursor from this API.".into(),
                    ));
                }
                after = v;
            }
            _ => {
                return Err(ApiError::BadParameter(format!(
                    "Unknown query parameter `{}`; this route takes `limit` and `after`.",
                    k.chars().take(40).collect::<String>()
                )))
            }
        }
    }
    // One extra row tells whether there is a next page.
    let mut rows = departments::page(shard.db.primary(), &after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let page = Page {
        departments: rows.iter().map(DepartmentDto::from).collect(),
        next_cursor: if more {
            rows.last().map(|d| d.identifier.as_str())
        } else {
            None
        },
    };
    Ok(Response::json(200, json(&page)?))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DepartmentSummary)]
pub(crate) struct SummaryDto<'a> {
    department: ObjectRef,
    name: &'a str,
    identifier: &'a str,
    students: i64,
    staff: i64,
    courses: i64,
    classes: i64,
    attendance_30d: AttendanceDto,
    /// Which database answered (`replica` when fresh enough, else `primary`).
    source: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DepartmentAttendance)]
pub(crate) struct AttendanceDto {
    marks: i64,
    presence_rate: Option<f64>,
}

/// `GET /api/v1/departments/{id}/summary`: people, catalogue and the 30-day presence rate
/// (analytics, from the replica when it is fresh). Needs `attendance.read` for the whole
/// institution or for that department. A shard computes each department's figures at most
/// once per `summary_cache_s` (default 60 s: counts and a 30-day presence rate, where a
/// minute of staleness changes nothing a reader acts on; 74-189 ms each on the seeded campus),
/// so repeated reads cost no more than a plain one.
pub async fn summary(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = uuid::Uuid::try_parse(req.param)
        .map_err(|_| ApiError::BadParameter("The department id must be a UUID.".into()))?;
    let caller = req.caller()?;
    if caller
        .principal
        .department_grant(req.permission()?, id)
        .is_none()
    {
        return Err(ApiError::Forbidden);
    }
    let now = std::time::Instant::now();
    if let Some(body) = shard.summaries.borrow_mut().get(&id, now) {
        return Ok(summary_response(std::rc::Rc::clone(body)));
    }
    let s = departments::summary(&shard.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let dto = SummaryDto {
        department: ObjectRef::new(s.sourced_id, "org"),
        name: &s.name,
        identifier: &s.identifier,
        students: s.students,
        staff: s.staff,
        courses: s.courses,
        classes: s.classes,
        attendance_30d: AttendanceDto {
            marks: s.attendance_marks_30d,
            presence_rate: s
                .presence_rate_30d
                .map(|r| (r * 10_000.0).round() / 10_000.0),
        },
        source: s.source.as_str(),
    };
    let body: std::rc::Rc<[u8]> = json(&dto)?.into();
    let ttl = shard.config.summary_cache;
    if !ttl.is_zero() {
        shard
            .summaries
            .borrow_mut()
            .insert(id, std::rc::Rc::clone(&body), now + ttl);
    }
    Ok(summary_response(body))
}

fn summary_response(body: std::rc::Rc<[u8]>) -> Response {
    // Per caller: never stored by shared caches. The cached bytes are shared, not copied.
    Response::shared_json(200, body).with_header("Cache-Control", "private, max-age=60")
}

/// One department's document (`None`: no such department).
pub async fn document(shard: &Shard, id: uuid::Uuid) -> Result<Vec<u8>, ApiError> {
    let dept = departments::by_id(shard.db.primary(), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    json(&DepartmentDto::from(&dept))
}
