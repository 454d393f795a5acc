//! `GET /api/v1/students/{id}` (the profile, served from a per-shard cache of encoded JSON) and
//! `GET /api/v1/students/{id}/attendance?from=&to=` (marks plus the presence rate per class).
//! Both need a token and pass the object-level rule of `auth::access`.

use std::rc::Rc;
use std::time::Instant;

use campushub_db::queries::students;
use serde::Serialize;

use super::campus::{date_range, keep};
use super::{json, ObjectRef, Request};
use crate::api_error::ApiError;
use crate::auth::access::student_access;
use crate::auth::access::Caller;
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::{CachedStudent, Shard};

#[derive(Serialize)]
struct StudentDto<'a> {
    sourced_id: String,
    status: &'a str,
    date_last_modified: &'a str,
    username: &'a str,
    email: Option<&'a str>,
    given_name: &'a str,
    family_name: &'a str,
    roll_number: &'a str,
    program: &'a str,
    year_of_study: i16,
    department: ObjectRef,
}

pub(super) fn parse_id(param: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(param)
        .map_err(|_| ApiError::BadParameter("The student id must be a UUID.".into()))
}

/// The public id of an org, from the shard's map (public ids never change) or PostgreSQL.
async fn org_id(shard: &Shard, id: i64) -> Result<uuid::Uuid, ApiError> {
    if let Some(u) = shard.org_ids.borrow().get(&id) {
        return Ok(*u);
    }
    let u = students::org_sourced_id(shard.db.primary(), id)
        .await?
        .ok_or(ApiError::Internal)?;
    let mut map = shard.org_ids.borrow_mut();
    // Orgs number in the tens; the bound only guards against a bug filling it.
    if map.len() < 100_000 {
        map.insert(id, u);
    }
    Ok(u)
}

/// Key prefix of student profiles in the shared (Redis) level.
pub const SHARED_PREFIX: &str = "campushub:student:";

/// How long a profile lives in the shared level: as long as a cached profile lives on a shard
/// while the invalidation bus is up (also the bound on an old profile there when a writer could
/// not store the new one).
const SHARED_TTL: std::time::Duration = crate::auth::access::LIVE_TTL;

fn shared_key(id: &uuid::Uuid) -> String {
    format!("{SHARED_PREFIX}{}", id.hyphenated())
}

/// The shared level, when this server uses one (`profile_l2` and Redis configured).
fn shared(shard: &Shard) -> Option<&Rc<campushub_cache::ShardRedis>> {
    shard.redis.as_ref().filter(|_| shard.config.profile_l2)
}

/// Profiles of `ids` from the shared level, in order (`None`: a miss, or Redis unavailable).
async fn shared_get(shard: &Shard, ids: &[uuid::Uuid]) -> Vec<Option<Rc<CachedStudent>>> {
    let Some(redis) = shared(shard) else {
        return vec![None; ids.len()];
    };
    let keys: Vec<String> = ids.iter().map(shared_key).collect();
    let entries = campushub_cache::shared::get_many(redis, &keys)
        .await
        .unwrap_or_else(|_| vec![None; ids.len()]);
    let found: Vec<Option<Rc<CachedStudent>>> = entries
        .into_iter()
        .map(|e| {
            e.map(|e| {
                Rc::new(CachedStudent {
                    id: e.id,
                    department_id: e.group,
                    version: e.version,
                    json: e.body.into(),
                })
            })
        })
        .collect();
    let hits = found.iter().filter(|f| f.is_some()).count() as u64;
    let mut m = shard.metrics.borrow_mut();
    m.profile_shared_hits_total += hits;
    m.profile_shared_misses_total += ids.len() as u64 - hits;
    found
}

fn shared_entry(s: &CachedStudent) -> campushub_cache::shared::Entry {
    campushub_cache::shared::Entry {
        version: s.version,
        id: s.id,
        group: s.department_id,
        body: s.json.to_vec(),
    }
}

/// Stores a profile read from PostgreSQL in the shared level, in the background (a newer
/// version there wins).
fn shared_fill(shard: &Shard, id: uuid::Uuid, s: &CachedStudent) {
    let Some(redis) = shared(shard) else {
        return;
    };
    let redis = Rc::clone(redis);
    let entry = shared_entry(s);
    monoio::spawn(async move {
        let _ = campushub_cache::shared::fill(&redis, &shared_key(&id), &entry, SHARED_TTL).await;
    });
}

/// After a change to many records at once (a rollover, an import, a fix in SQL): every cached
/// entry goes, on every shard of every instance, and every profile of the shared level. How
/// many shared entries went (`None`: Redis did not answer; they then expire within
/// `SHARED_TTL`).
pub async fn forget_everything(shard: &Shard) -> Option<u64> {
    shard
        .invalidate(campushub_cache::Message {
            version: 0,
            what: campushub_cache::Invalidation::All,
        })
        .await;
    match shared(shard) {
        Some(redis) => campushub_cache::shared::clear(redis, SHARED_PREFIX)
            .await
            .ok(),
        None => Some(0),
    }
}

/// After a committed change to student `id`: the new profile, read from PostgreSQL, replaces
/// the shared level's (an older one can no longer be stored there). Failures are left to the
/// entry's expiry.
pub async fn shared_refresh(shard: &Shard, id: uuid::Uuid) {
    let Some(redis) = shared(shard) else {
        return;
    };
    let redis = Rc::clone(redis);
    let Ok(Some(row)) = students::by_id(shard.db.primary(), id).await else {
        return;
    };
    let Ok(student) = encode(shard, &row).await else {
        return;
    };
    let _ = campushub_cache::shared::fill(
        &redis,
        &shared_key(&id),
        &shared_entry(&student),
        SHARED_TTL,
    )
    .await;
}

/// Tells every shard of every instance that a person's cached records and principal are
/// stale (their profile, status or enrollments changed).
pub async fn publish_person(shard: &Shard, student: Option<uuid::Uuid>, user: Option<i64>) {
    if let Some(id) = student {
        shared_refresh(shard, id).await;
        super::campus::publish(
            shard,
            campushub_cache::Invalidation::Student(id.hyphenated().to_string()),
        )
        .await;
    }
    if let Some(user) = user {
        super::campus::publish(shard, campushub_cache::Invalidation::User(user)).await;
    }
}

/// The student, from the shard's cache, the shared level or PostgreSQL.
pub async fn load(shard: &Shard, id: uuid::Uuid) -> Result<Rc<CachedStudent>, ApiError> {
    let now = Instant::now();
    let cached = super::campus::campus_caches(shard);
    if cached {
        if let Some(s) = shard.students.borrow_mut().get(&id, now) {
            return Ok(Rc::clone(s));
        }
    }
    let epoch = shard.cache_epoch.get();
    let student = match shared_get(shard, &[id]).await.pop().flatten() {
        Some(s) => s,
        None => {
            let s = shard
                .profile_reads
                .ask(id)
                .await?
                .ok_or(ApiError::NotFound)?;
            let student = encode(shard, &s).await?;
            shared_fill(shard, id, &student);
            student
        }
    };
    if cached {
        keep(shard, &shard.students, epoch, id, Rc::clone(&student), now);
    }
    Ok(student)
}

/// A student as the cache keeps it: the profile encoded once.
async fn encode(shard: &Shard, s: &students::Student) -> Result<Rc<CachedStudent>, ApiError> {
    let json = json(&StudentDto {
        sourced_id: s.sourced_id.hyphenated().to_string(),
        status: &s.status,
        date_last_modified: &s.date_last_modified,
        username: &s.username,
        email: s.email.as_deref(),
        given_name: &s.given_name,
        family_name: &s.family_name,
        roll_number: &s.roll_number,
        program: &s.program,
        year_of_study: s.year_of_study,
        department: ObjectRef::new(org_id(shard, s.department_id).await?, "org"),
    })?;
    Ok(Rc::new(CachedStudent {
        id: s.id,
        department_id: s.department_id,
        version: s.version,
        json: json.into(),
    }))
}

/// Students by public id, in the order given: from the shard's cache, the misses in one
/// statement (and cached). A student gone between the page's statement and this one is left
/// out. Lists and rosters are assembled from these encoded profiles, so PostgreSQL only finds
/// the ids.
pub async fn load_many(
    shard: &Shard,
    ids: &[uuid::Uuid],
) -> Result<Vec<Rc<CachedStudent>>, ApiError> {
    let now = Instant::now();
    let cached = super::campus::campus_caches(shard);
    let mut found: Vec<Option<Rc<CachedStudent>>> = Vec::with_capacity(ids.len());
    let mut missing: Vec<uuid::Uuid> = Vec::new();
    {
        let mut cache = shard.students.borrow_mut();
        for id in ids {
            let hit = if cached {
                cache.get(id, now).map(Rc::clone)
            } else {
                None
            };
            if hit.is_none() {
                missing.push(*id);
            }
            found.push(hit);
        }
    }
    let epoch = shard.cache_epoch.get();
    // A student found after the cache: answered at every place it was asked for, and cached.
    let settle =
        |found: &mut Vec<Option<Rc<CachedStudent>>>, id: uuid::Uuid, student: Rc<CachedStudent>| {
            for (i, want) in ids.iter().enumerate() {
                if *want == id && found[i].is_none() {
                    found[i] = Some(Rc::clone(&student));
                }
            }
            if cached {
                keep(shard, &shard.students, epoch, id, student, now);
            }
        };
    if !missing.is_empty() && shared(shard).is_some() {
        let mut still = Vec::with_capacity(missing.len());
        for (id, hit) in missing.iter().zip(shared_get(shard, &missing).await) {
            match hit {
                Some(student) => settle(&mut found, *id, student),
                None => still.push(*id),
            }
        }
        missing = still;
    }
    if !missing.is_empty() {
        for row in &students::by_ids(shard.db.primary(), &missing).await? {
            let student = encode(shard, row).await?;
            shared_fill(shard, row.sourced_id, &student);
            settle(&mut found, row.sourced_id, student);
        }
    }
    Ok(found.into_iter().flatten().collect())
}

/// 403 unless the caller may use `permission` on this student's records.
pub(super) async fn allow_student(
    shard: &Shard,
    caller: &Caller,
    permission: Permission,
    s: &CachedStudent,
) -> Result<(), ApiError> {
    match student_access(
        shard.db.primary(),
        &caller.principal,
        permission,
        s.id,
        s.department_id,
    )
    .await?
    {
        Some(_) => Ok(()),
        None => Err(ApiError::Forbidden),
    }
}

/// A student's profile.
pub async fn get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let id = parse_id(req.param)?;
    let s = load(shard, id).await?;
    allow_student(shard, caller, req.permission()?, &s).await?;
    let tag = crate::request::etag(s.version);
    if req.not_modified(s.version) {
        return Ok(Response::empty(304)
            .with_header("ETag", tag)
            .with_header("Cache-Control", "private, no-cache"));
    }
    Ok(Response::shared_json(200, Rc::clone(&s.json))
        .with_header("ETag", tag)
        .with_header("Cache-Control", "private, no-cache"))
}

#[derive(Serialize)]
struct ClassSummary {
    class_id: String,
    title: String,
    marks: u32,
    presence_rate: f64,
    /// Minutes present summed over the marks that recorded them.
    minutes_present: u32,
}

#[derive(Serialize)]
struct MarkDto<'a> {
    date: String,
    period: i16,
    class_id: String,
    code: &'a str,
    category: &'a str,
    source: &'a str,
    minutes_present: Option<i16>,
}

#[derive(Serialize)]
struct AttendanceDto<'a> {
    student: ObjectRef,
    from: String,
    to: String,
    classes: Vec<ClassSummary>,
    records: Vec<MarkDto<'a>>,
}

/// A student's attendance between two dates, with the presence rate per class.
pub async fn attendance(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let id = parse_id(req.param)?;
    let (from, to) = date_range(shard, req).await?;
    let s = load(shard, id).await?;
    allow_student(shard, caller, req.permission()?, &s).await?;
    let marks = students::attendance(shard.db.primary(), s.id, from, to).await?;
    // One mark per session (the office's where it overrode the teacher's): the statement
    // answers effective marks only.
    let mut classes: Vec<(uuid::Uuid, String, u32, f64, u32)> = Vec::new();
    for m in &marks {
        let minutes = m.minutes.map_or(0, |x| u32::from(x.max(0).unsigned_abs()));
        match classes.iter_mut().find(|c| c.0 == m.class_id) {
            Some(c) => {
                c.2 += 1;
                c.3 += m.presence;
                c.4 += minutes;
            }
            None => classes.push((m.class_id, m.class_title.clone(), 1, m.presence, minutes)),
        }
    }
    let dto = AttendanceDto {
        student: ObjectRef::new(id, "user"),
        from: from.iso(),
        to: to.iso(),
        classes: classes
            .into_iter()
            .map(|(cid, title, n, sum, minutes)| ClassSummary {
                class_id: cid.hyphenated().to_string(),
                title,
                marks: n,
                presence_rate: (sum / f64::from(n.max(1)) * 10_000.0).round() / 10_000.0,
                minutes_present: minutes,
            })
            .collect(),
        records: marks
            .iter()
            .map(|m| MarkDto {
                date: m.date.iso(),
                period: m.period,
                class_id: m.class_id.hyphenated().to_string(),
                code: &m.code,
                category: &m.category,
                source: &m.source,
                minutes_present: m.minutes,
            })
            .collect(),
    };
    let body = json(&dto)?;
    Ok(Response::json(200, body).with_header("Cache-Control", "private, no-store"))
}
