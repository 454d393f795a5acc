//! The catalogue and the timetable: departments (writes), academic sessions, courses, classes,
//! class rosters and enrollments. Terms need `classes.write` for the whole institution;
//! courses and classes `classes.write` for their department; rosters and enrollments
//! `enrollments.read` / `enrollments.write` for the class (its department, or the class
//! itself).

use std::rc::Rc;

use campushub_db::queries::campus::{self, Record, Shape};
use campushub_db::queries::word::Word;
use campushub_db::statements::{
    CLASSES_PAGE, CLASS_BY_ID, CLASS_ENROLLMENTS, CLASS_ROSTER, CLASS_SAVE, COURSES_PAGE,
    COURSE_BY_ID, COURSE_SAVE, DEPARTMENT_SAVE, ENROLLMENTS_ADD, ENROLLMENT_BY_ID, ENROLLMENT_DROP,
    TERMS_PAGE, TERM_BY_ID, TERM_SAVE,
};

use super::campus::{
    allow_in_class, array_response, ip, page_response, parse_query, path_id, prefix_pattern,
    query_uuid, record_response, refused, written, MAX_BULK, STATUSES,
};
use super::fields::Fields;
use super::students::publish_person;
use super::Request;
use crate::api_error::ApiError;
use crate::auth::access::{department_access, departments_with, require_department};
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

fn nothing_to_change(f: &mut Fields, create: bool, empty: bool) {
    if !create && f.ok() && empty {
        f.bad("body", "names nothing to change");
    }
}

// ---- departments ----

/// What a department's body may say, read strictly.
pub(super) struct DepartmentIn {
    name: Option<String>,
    identifier: Option<String>,
    status: Option<&'static str>,
}

/// Reads a department's body (`create`: a new one, else a change).
pub(super) fn department_in(req: &Request<'_>, create: bool) -> Result<DepartmentIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let name = f.text("name", create, 200);
    let identifier = f.text("identifier", create, 32);
    let status = if create {
        None
    } else {
        f.one_of("status", false, STATUSES)
    };
    if let Some(i) = &identifier {
        if !i
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            f.bad("identifier", "may hold only letters, digits, - and _");
        }
    }
    nothing_to_change(
        &mut f,
        create,
        name.is_none() && identifier.is_none() && status.is_none(),
    );
    f.finish()?;
    Ok(DepartmentIn {
        name,
        identifier,
        status,
    })
}

/// `POST /api/v1/departments` and `PATCH /api/v1/departments/{id}` (`departments.write`).
async fn save_department(
    shard: &Shard,
    req: &Request<'_>,
    id: Option<uuid::Uuid>,
) -> Result<uuid::Uuid, ApiError> {
    let caller = req.caller()?;
    let DepartmentIn {
        name,
        identifier,
        status,
    } = department_in(req, id.is_none())?;
    let if_match = req.if_match()?;
    let ip = ip(req);
    let o = campus::change(
        shard.db.primary(),
        &DEPARTMENT_SAVE,
        &[
            &caller.principal.user_id,
            &ip,
            &id,
            &if_match,
            &name,
            &identifier,
            &status,
        ],
    )
    .await?;
    if !o.applied() {
        return Err(refused(
            &o,
            &[
                (Word::IdentifierTaken, "identifier", "is already taken"),
                (Word::NoInstitution, "", "There is no institution yet: run `campushub admin create --institution NAME` first."),
            ],
            |_| None,
        ));
    }
    o.id.ok_or(ApiError::Internal)
}

/// `POST /api/v1/departments`.
pub async fn department_create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = save_department(shard, req, None).await?;
    let body = super::departments::document(shard, id).await?;
    Ok(Response::json(201, body).with_header("Location", format!("/api/v1/departments/{id}")))
}

/// `PATCH /api/v1/departments/{id}`.
pub async fn department_update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = path_id(req, "department")?;
    save_department(shard, req, Some(id)).await?;
    Ok(Response::json(
        200,
        super::departments::document(shard, id).await?,
    ))
}

// ---- academic sessions ----

/// `GET /api/v1/terms`: `type`, `school_year`.
pub async fn terms(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (mut kind, mut year) = (None::<String>, None::<i16>);
    let paging = parse_query(req, "`type`, `school_year`", |k, v| {
        match k {
            "type" => kind = Some(v.to_string()),
            "school_year" => {
                year = Some(
                    v.parse()
                        .ok()
                        .filter(|y| (1900..=9999).contains(y))
                        .ok_or_else(|| {
                            ApiError::BadParameter("`school_year` must be a year like 2026.".into())
                        })?,
                )
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let rows = campus::page(
        shard.db.primary(),
        &TERMS_PAGE,
        &[&paging.after, &(paging.limit + 1), &kind, &year],
    )
    .await?;
    page_response("terms", rows, &paging)
}

async fn term_record(shard: &Shard, id: uuid::Uuid) -> Result<Record, ApiError> {
    campus::record(shard.db.primary(), &TERM_BY_ID, Shape::Plain, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /api/v1/terms/{id}`.
pub async fn term(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    Ok(record_response(
        req,
        term_record(shard, path_id(req, "term")?).await?,
    ))
}

/// What an academic session's body may say, read strictly.
pub(super) struct TermIn {
    title: Option<String>,
    kind: Option<&'static str>,
    start: Option<campushub_db::pgtypes::Date>,
    end: Option<campushub_db::pgtypes::Date>,
    year: Option<i16>,
    parent: Option<uuid::Uuid>,
    status: Option<&'static str>,
}

/// Reads an academic session's body (`create`: a new one, else a change).
pub(super) fn term_in(req: &Request<'_>, create: bool) -> Result<TermIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let title = f.text("title", create, 200);
    let kind = f.one_of(
        "type",
        create,
        &["schoolYear", "semester", "term", "gradingPeriod"],
    );
    let start = f.date("start_date", create);
    let end = f.date("end_date", create);
    let year = f.int("school_year", create, 1900, 9999).map(|y| y as i16);
    let parent = f.uuid("parent", false);
    let status = if create {
        None
    } else {
        f.one_of("status", false, STATUSES)
    };
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            f.bad("end_date", "must be after start_date");
        }
    }
    nothing_to_change(
        &mut f,
        create,
        title.is_none()
            && kind.is_none()
            && start.is_none()
            && end.is_none()
            && year.is_none()
            && parent.is_none()
            && status.is_none(),
    );
    f.finish()?;
    Ok(TermIn {
        title,
        kind,
        start,
        end,
        year,
        parent,
        status,
    })
}

async fn save_term(
    shard: &Shard,
    req: &Request<'_>,
    id: Option<uuid::Uuid>,
) -> Result<uuid::Uuid, ApiError> {
    let caller = req.caller()?;
    let TermIn {
        title,
        kind,
        start,
        end,
        year,
        parent,
        status,
    } = term_in(req, id.is_none())?;
    if let (Some(term), Some(parent)) = (id, parent) {
        // A term may not become its own ancestor: lists and reports that climb the parents
        // would go round for ever.
        if campushub_db::queries::access::term_would_cycle(shard.db.primary(), term, parent).await?
        {
            return Err(ApiError::Invalid(vec![crate::api_error::FieldError::new(
                "parent",
                "is this academic session or one of its descendants",
            )]));
        }
    }
    let if_match = req.if_match()?;
    let ip = ip(req);
    let o = campus::change(
        shard.db.primary(),
        &TERM_SAVE,
        &[
            &caller.principal.user_id,
            &ip,
            &id,
            &if_match,
            &title,
            &kind,
            &start,
            &end,
            &year,
            &parent,
            &status,
        ],
    )
    .await?;
    if !o.applied() {
        return Err(refused(
            &o,
            &[
                (Word::NoParent, "parent", "is not an academic session"),
                (Word::BadDates, "end_date", "must be after start_date"),
                (Word::NoInstitution, "", "There is no institution yet: run `campushub admin create --institution NAME` first."),
            ],
            |_| None,
        ));
    }
    o.id.ok_or(ApiError::Internal)
}

/// `POST /api/v1/terms`.
pub async fn term_create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = save_term(shard, req, None).await?;
    Ok(written(201, term_record(shard, id).await?)
        .with_header("Location", format!("/api/v1/terms/{id}")))
}

/// `PATCH /api/v1/terms/{id}`.
pub async fn term_update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = save_term(shard, req, Some(path_id(req, "term")?)).await?;
    Ok(written(200, term_record(shard, id).await?))
}

// ---- courses ----

/// `GET /api/v1/courses`: `department`, `q` (prefix of the code or title).
pub async fn courses(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (mut dept, mut q) = (None, None);
    let paging = parse_query(req, "`department`, `q`", |k, v| {
        match k {
            "department" => dept = Some(query_uuid(k, v)?),
            "q" => q = Some(prefix_pattern(v)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let rows = campus::page(
        shard.db.primary(),
        &COURSES_PAGE,
        &[&dept, &q, &paging.after, &(paging.limit + 1)],
    )
    .await?;
    page_response("courses", rows, &paging)
}

async fn course_record(shard: &Shard, id: uuid::Uuid) -> Result<Record, ApiError> {
    campus::record(shard.db.primary(), &COURSE_BY_ID, Shape::Department, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /api/v1/courses/{id}`.
pub async fn course(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    Ok(record_response(
        req,
        course_record(shard, path_id(req, "course")?).await?,
    ))
}

/// What a course's body may say, read strictly.
pub(super) struct CourseIn {
    title: Option<String>,
    code: Option<String>,
    credits: Option<f64>,
    dept: Option<uuid::Uuid>,
    status: Option<&'static str>,
}

/// Reads a course's body (`create`: a new one, else a change).
pub(super) fn course_in(req: &Request<'_>, create: bool) -> Result<CourseIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let title = f.text("title", create, 200);
    let code = f.text("course_code", create, 32);
    let credits = f.number("credits", false, 0.0, 999.9, 1);
    let dept = f.uuid("department", create);
    let status = if create {
        None
    } else {
        f.one_of("status", false, STATUSES)
    };
    nothing_to_change(
        &mut f,
        create,
        title.is_none()
            && code.is_none()
            && credits.is_none()
            && dept.is_none()
            && status.is_none(),
    );
    f.finish()?;
    Ok(CourseIn {
        title,
        code,
        credits,
        dept,
        status,
    })
}

async fn save_course(
    shard: &Shard,
    req: &Request<'_>,
    id: Option<uuid::Uuid>,
) -> Result<uuid::Uuid, ApiError> {
    let caller = req.caller()?;
    let permission = req.permission()?;
    let CourseIn {
        title,
        code,
        credits,
        dept,
        status,
    } = course_in(req, id.is_none())?;
    if let Some(id) = id {
        let current = course_record(shard, id).await?;
        if !department_access(
            &caller.principal,
            permission,
            current.department_id.unwrap_or(0),
        ) {
            return Err(ApiError::Forbidden);
        }
    }
    if let Some(d) = dept {
        require_department(&caller.principal, permission, d)?;
    }
    let if_match = req.if_match()?;
    let ip = ip(req);
    let o = campus::change(
        shard.db.primary(),
        &COURSE_SAVE,
        &[
            &caller.principal.user_id,
            &ip,
            &id,
            &if_match,
            &title,
            &code,
            &credits,
            &dept,
            &status,
        ],
    )
    .await?;
    if !o.applied() {
        return Err(refused(
            &o,
            &[
                (
                    Word::CodeTaken,
                    "course_code",
                    "is already taken in that department",
                ),
                (Word::NoDepartment, "department", "is not a department"),
            ],
            |_| None,
        ));
    }
    o.id.ok_or(ApiError::Internal)
}

/// `POST /api/v1/courses`.
pub async fn course_create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = save_course(shard, req, None).await?;
    Ok(written(201, course_record(shard, id).await?)
        .with_header("Location", format!("/api/v1/courses/{id}")))
}

/// `PATCH /api/v1/courses/{id}`.
pub async fn course_update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = save_course(shard, req, Some(path_id(req, "course")?)).await?;
    Ok(written(200, course_record(shard, id).await?))
}

// ---- classes ----

/// A class by public id, with the caller's right to `permission` on it checked (404 first:
/// whether a class exists is no secret, its contents are).
pub async fn class_for(
    shard: &Shard,
    req: &Request<'_>,
    permission: Permission,
) -> Result<Record, ApiError> {
    let id = path_id(req, "class")?;
    let rec = campus::record(shard.db.primary(), &CLASS_BY_ID, Shape::Department, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    allow_in_class(
        shard,
        req,
        permission,
        (rec.id, rec.department_id.unwrap_or(0)),
    )
    .await?;
    Ok(rec)
}

/// `GET /api/v1/classes`: `term`, `course`, `department`, `mine=true` (classes the caller
/// teaches). Staff see the classes of the departments where they may read classes.
pub async fn classes(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let (mut term, mut course, mut dept, mut mine) = (None, None, None, false);
    let paging = parse_query(req, "`term`, `course`, `department`, `mine`", |k, v| {
        match k {
            "term" => term = Some(query_uuid(k, v)?),
            "course" => course = Some(query_uuid(k, v)?),
            "department" => dept = Some(query_uuid(k, v)?),
            "mine" => {
                mine = match v {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::BadParameter("`mine` is true or false.".into())),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let scope = departments_with(&caller.principal, req.permission()?);
    if scope.as_ref().is_some_and(Vec::is_empty) && !mine {
        return Err(ApiError::Forbidden);
    }
    let teacher = mine.then_some(caller.principal.user_id);
    // `mine` lists what the caller teaches, wherever it is.
    let scope = if mine { None } else { scope };
    let rows = campus::page(
        shard.db.primary(),
        &CLASSES_PAGE,
        &[
            &term,
            &course,
            &dept,
            &paging.after,
            &(paging.limit + 1),
            &scope,
            &teacher,
        ],
    )
    .await?;
    page_response("classes", rows, &paging)
}

/// `GET /api/v1/classes/{id}`.
pub async fn class(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = class_for(shard, req, req.permission()?).await?;
    Ok(record_response(req, rec))
}

fn periods(f: &mut Fields) -> Option<Vec<String>> {
    let raw = f.array("periods", false, 64)?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, v) in raw.iter().enumerate() {
        let ok = v.as_str().filter(|s| {
            s.split_once('-').is_some_and(|(day, n)| {
                ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"].contains(&day)
                    && n.parse::<u8>().is_ok_and(|n| n <= 24)
                    && !n.starts_with('+')
                    && n.len() <= 2
            })
        });
        match ok {
            Some(s) => out.push(s.to_string()),
            None => f.bad(
                &format!("periods[{i}]"),
                "must be a slot like MON-1 (day and period 0-24)",
            ),
        }
    }
    Some(out)
}

/// What a class's body may say, read strictly.
pub(super) struct ClassIn {
    title: Option<String>,
    code: Option<String>,
    kind: Option<&'static str>,
    location: Option<String>,
    slots: Option<Vec<String>>,
    capacity: Option<i32>,
    course: Option<uuid::Uuid>,
    term: Option<uuid::Uuid>,
    status: Option<&'static str>,
}

/// Reads a class's body (`create`: a new one, else a change).
pub(super) fn class_in(req: &Request<'_>, create: bool) -> Result<ClassIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let title = f.text("title", create, 200);
    let code = f.text("class_code", create, 64);
    let kind = f.one_of("class_type", false, &["homeroom", "scheduled"]);
    let location = f.text("location", false, 200);
    let slots = periods(&mut f);
    let capacity = f.int("capacity", false, 1, 10_000).map(|c| c as i32);
    let course = f.uuid("course", create);
    let term = f.uuid("term", create);
    let status = if create {
        None
    } else {
        f.one_of("status", false, STATUSES)
    };
    nothing_to_change(
        &mut f,
        create,
        title.is_none()
            && code.is_none()
            && kind.is_none()
            && location.is_none()
            && slots.is_none()
            && capacity.is_none()
            && course.is_none()
            && term.is_none()
            && status.is_none(),
    );
    f.finish()?;
    Ok(ClassIn {
        title,
        code,
        kind,
        location,
        slots,
        capacity,
        course,
        term,
        status,
    })
}

async fn save_class(
    shard: &Shard,
    req: &Request<'_>,
    id: Option<uuid::Uuid>,
) -> Result<uuid::Uuid, ApiError> {
    let caller = req.caller()?;
    let permission = req.permission()?;
    let ClassIn {
        title,
        code,
        kind,
        location,
        slots,
        capacity,
        course,
        term,
        status,
    } = class_in(req, id.is_none())?;
    if id.is_some() {
        class_for(shard, req, permission).await?;
    }
    if let Some(c) = course {
        // A class belongs to its course's department: the caller must be able to write there.
        let rec = course_record(shard, c).await.map_err(|e| match e {
            ApiError::NotFound => ApiError::Invalid(vec![crate::api_error::FieldError::new(
                "course",
                "is not a course",
            )]),
            e => e,
        })?;
        if !department_access(
            &caller.principal,
            permission,
            rec.department_id.unwrap_or(0),
        ) {
            return Err(ApiError::Forbidden);
        }
    }
    let if_match = req.if_match()?;
    let ip = ip(req);
    let o = campus::change(
        shard.db.primary(),
        &CLASS_SAVE,
        &[
            &caller.principal.user_id,
            &ip,
            &id,
            &if_match,
            &title,
            &code,
            &kind,
            &location,
            &slots,
            &capacity,
            &course,
            &term,
            &status,
        ],
    )
    .await?;
    if !o.applied() {
        return Err(refused(
            &o,
            &[
                (
                    Word::CodeTaken,
                    "class_code",
                    "is already taken in that term",
                ),
                (Word::NoCourse, "course", "is not a course"),
                (Word::NoTerm, "term", "is not an academic session"),
            ],
            |_| None,
        ));
    }
    o.id.ok_or(ApiError::Internal)
}

async fn class_record(shard: &Shard, id: uuid::Uuid) -> Result<Record, ApiError> {
    campus::record(shard.db.primary(), &CLASS_BY_ID, Shape::Department, id)
        .await?
        .ok_or(ApiError::Internal)
}

/// `POST /api/v1/classes`.
pub async fn class_create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = save_class(shard, req, None).await?;
    Ok(written(201, class_record(shard, id).await?)
        .with_header("Location", format!("/api/v1/classes/{id}")))
}

/// `PATCH /api/v1/classes/{id}`.
pub async fn class_update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = save_class(shard, req, Some(path_id(req, "class")?)).await?;
    Ok(written(200, class_record(shard, id).await?))
}

/// `GET /api/v1/classes/{id}/students`: the roster, by name.
pub async fn roster(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = class_for(shard, req, req.permission()?).await?;
    // The roster's ids, by name, from the shard's cache or PostgreSQL; the profiles from the
    // shard's profile cache.
    let ids = roster_ids(shard, rec.id, false).await?;
    let public: Vec<uuid::Uuid> = ids.iter().map(|(_, u)| *u).collect();
    let profiles = super::students::load_many(shard, &public).await?;
    // A student the caller may not read in full (of another department, enrolled here) shows
    // only what taking a register needs.
    let principal = &req.caller()?.principal;
    let full = |department: i64| {
        department_access(principal, Permission::StudentsRead, department)
            || principal.grants.iter().any(|g| {
                g.permission == Permission::StudentsRead
                    && g.scope_type == "class"
                    && g.scope_id == rec.id
            })
    };
    let reduced: Vec<Option<Vec<u8>>> = profiles
        .iter()
        .map(|p| {
            if full(p.department_id) {
                Ok(None)
            } else {
                roster_entry(&p.json).map(Some)
            }
        })
        .collect::<Result<_, ApiError>>()?;
    let docs: Vec<&[u8]> = profiles
        .iter()
        .zip(&reduced)
        .map(|(p, r)| r.as_deref().unwrap_or(&p.json[..]))
        .collect();
    let body = super::campus::array_body("students", &docs, None)?;
    Ok(Response::json(200, body).with_header("Cache-Control", "private, no-store"))
}

/// What a roster shows of a student the caller may not read in full: who they are, not how
/// to reach them or what they study.
#[derive(serde::Serialize, serde::Deserialize)]
struct RosterEntry<'a> {
    sourced_id: &'a str,
    status: &'a str,
    username: &'a str,
    given_name: &'a str,
    family_name: &'a str,
    roll_number: &'a str,
}

/// A cached profile cut down to a [`RosterEntry`].
fn roster_entry(profile: &[u8]) -> Result<Vec<u8>, ApiError> {
    let e: RosterEntry<'_> = sonic_rs::from_slice(profile).map_err(|_| ApiError::Internal)?;
    super::json(&e)
}

/// A class's students (users.id, public id), by name: cached per shard (with the profile
/// cache: off when it is), dropped everywhere when someone enrolls or leaves. A renamed student
/// keeps their place until the entry expires. `fresh`: read PostgreSQL (and refill the cache)
/// even when the cache holds the class.
pub(super) async fn roster_ids(
    shard: &Shard,
    class: i64,
    fresh: bool,
) -> Result<crate::shard::Roster, ApiError> {
    let now = std::time::Instant::now();
    let cached = super::campus::campus_caches(shard);
    if cached && !fresh {
        if let Some(ids) = shard.rosters.borrow_mut().get(&class, now) {
            return Ok(Rc::clone(ids));
        }
    }
    let epoch = shard.cache_epoch.get();
    let ids: Rc<[(i64, uuid::Uuid)]> =
        campus::id_page(shard.db.primary(), &CLASS_ROSTER, &[&class])
            .await?
            .into();
    if cached {
        super::campus::keep(shard, &shard.rosters, epoch, class, Rc::clone(&ids), now);
    }
    Ok(ids)
}

/// Tells every shard of every instance that class `class`'s roster changed.
async fn publish_roster(shard: &Shard, class: i64) {
    super::campus::publish(shard, campushub_cache::Invalidation::Class(class)).await;
}

/// `GET /api/v1/classes/{id}/enrollments`: every enrollment, ended ones included.
pub async fn enrollments(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let rec = class_for(shard, req, req.permission()?).await?;
    let doc = campus::document(shard.db.primary(), &CLASS_ENROLLMENTS, &[&rec.id]).await?;
    Ok(array_response("enrollments", doc))
}

/// What an enrollment request may say: one `user` or a list of `users`, read strictly.
pub(super) struct EnrollIn {
    one: Option<uuid::Uuid>,
    users: Vec<uuid::Uuid>,
    role: &'static str,
    primary: bool,
}

/// Reads an enrollment request's body.
pub(super) fn enroll_in(req: &Request<'_>) -> Result<EnrollIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let one = f.uuid("user", false);
    let many = f.array("users", false, MAX_BULK);
    let role = f
        .one_of("role", false, &["student", "teacher", "aide"])
        .unwrap_or("student");
    let primary = f.boolean("is_primary", false).unwrap_or(false);
    let mut users: Vec<uuid::Uuid> = Vec::new();
    match (one, &many) {
        (Some(u), None) => users.push(u),
        (None, Some(list)) => {
            for (i, v) in list.iter().enumerate() {
                match v.as_str().and_then(|s| uuid::Uuid::try_parse(s).ok()) {
                    Some(u) if users.contains(&u) => {
                        f.bad(&format!("users[{i}]"), "is listed twice")
                    }
                    Some(u) => users.push(u),
                    None => f.bad(&format!("users[{i}]"), "must be a UUID"),
                }
            }
            if list.is_empty() {
                f.bad("users", "must not be empty");
            }
        }
        _ if f.ok() => f.bad("user", "give either `user` or `users`"),
        _ => {}
    }
    f.finish()?;
    Ok(EnrollIn {
        one,
        users,
        role,
        primary,
    })
}

/// `POST /api/v1/classes/{id}/enrollments`: `{"user": id}` or `{"users": [ids]}` (up to 500,
/// all or nothing), `role` (student by default), `is_primary`. Enrolling someone already
/// enrolled changes nothing, so a retried request is harmless.
pub async fn enroll(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let EnrollIn {
        one,
        users,
        role,
        primary,
    } = enroll_in(req)?;
    let caller = req.caller()?;
    let permission = req.permission()?;
    let rec = class_for(shard, req, permission).await?;
    // The right on the class is not enough: enrolling a student of another department would
    // open their profile through the roster. The caller needs the permission for each
    // student's own department too (someone with no profile is the database's 422). Staff
    // teach across departments; their assignment opens no profile.
    if role == "student" {
        let departments =
            campushub_db::queries::access::people_departments(shard.db.primary(), &users).await?;
        if departments
            .iter()
            .any(|(_, d)| !department_access(&caller.principal, permission, *d))
        {
            return Err(ApiError::Forbidden);
        }
    }
    let class_id = path_id(req, "class")?;
    let ip = ip(req);
    let o = campus::change(
        shard.db.primary(),
        &ENROLLMENTS_ADD,
        &[
            &caller.principal.user_id,
            &ip,
            &class_id,
            &users,
            &role,
            &primary,
        ],
    )
    .await?;
    if !o.applied() {
        let single = one.is_some();
        return Err(refused(
            &o,
            &[
                (Word::Unknown, "users", if role == "student" { "is not an active student" } else { "is not an active staff member" }),
                (Word::Full, "", "The class would be over its capacity; raise `capacity` or use another section."),
            ],
            |bad| {
                if single {
                    return Some("user".into());
                }
                users
                    .iter()
                    .position(|u| u.hyphenated().to_string() == bad)
                    .map(|i| format!("users[{i}]"))
            },
        ));
    }
    // Access rules that go through enrollments (a class-scoped grant's students) are read
    // live; the students' cached principals hold none of it. The roster is cached: drop it.
    publish_roster(shard, rec.id).await;
    let doc = campus::document(shard.db.primary(), &CLASS_ENROLLMENTS, &[&rec.id]).await?;
    let mut resp = array_response("enrollments", doc);
    resp.status = 201;
    Ok(resp)
}

/// `DELETE /api/v1/enrollments/{id}`: ends an enrollment (kept for the record).
pub async fn drop_enrollment(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let id = path_id(req, "enrollment")?;
    let rec = campus::record(shard.db.primary(), &ENROLLMENT_BY_ID, Shape::LineItem, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    allow_in_class(shard, req, req.permission()?, rec.class_scope()).await?;
    let ip = ip(req);
    let o = campus::change(
        shard.db.primary(),
        &ENROLLMENT_DROP,
        &[&caller.principal.user_id, &ip, &id],
    )
    .await?;
    if !o.applied() {
        return Err(refused(&o, &[], |_| None));
    }
    publish_roster(shard, rec.class_scope().0).await;
    publish_person(shard, None, o.row_id).await;
    Ok(Response::empty(204))
}
