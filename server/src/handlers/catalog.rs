//! The catalogue and the timetable: departments (writes), academic sessions, courses, classes,
//! class rosters and enrollments. Terms need `classes.write` for the whole institution;
//! courses and classes `classes.write` for their department; rosters and enrollments
//! `enrollments.read` / `enrollments.write` for the class (its department, or the class
//! itself). Academic sessions, courses and classes are each a `RecordKind`: one `get`, `create`
//! and `update` serve the three, and each write's body is declared once, member by member
//! (`body!`).

use std::rc::Rc;

use campushub_db::pgtypes::Date;
use campushub_db::queries::campus::{self, Param, Params, Record, Shape};
use campushub_db::queries::word::Word;
use campushub_db::statements::{
    Stmt, CLASSES_PAGE, CLASS_BY_ID, CLASS_ENROLLMENTS, CLASS_ENROLLMENTS_PAGE, CLASS_ROSTER,
    CLASS_SAVE, COURSES_PAGE, COURSE_BY_ID, COURSE_SAVE, DEPARTMENT_SAVE, ENROLLMENTS_ADD,
    ENROLLMENT_BY_ID, ENROLLMENT_DROP, TERMS_PAGE, TERM_BY_ID, TERM_SAVE,
};
use uuid::Uuid;

use super::campus::{
    allow_in_class, allow_in_class_or_member, apply, array_response, created, finish_body,
    page_response, parse_query, path_id, prefix_pattern, query_one_of, query_uuid, record_response,
    refused, status_in, take_param, write, written, MAX_BULK,
};
use super::fields::Fields;
use super::students::publish_person;
use super::Request;
use crate::api_error::{ApiError, FieldError};
use crate::auth::access::{allow_department, allow_move, department_access, departments_with};
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

/// Declares the body of a catalogue write, member by member: its type and how it is read (`f`:
/// the body's fields; `create`: whether the write creates a record), then `status`, which every
/// catalogue record has and only a change may set; `check` adds what no single member says. The
/// members are, in order, the parameters the write function takes after the record's id and
/// version (each `None` where the body does not name it), and the order they are read in (a 422
/// lists the bad ones so). Declares the struct with `parse` (the body, read strictly), `params`
/// (those parameters) and `unchanged` (whether a change names none of them).
macro_rules! body {
    (
        $(#[$doc:meta])*
        $name:ident($f:ident, $create:ident) { $($field:ident: $ty:ty = $read:expr,)* }
        $(check($b:ident) $check:block)?
    ) => {
        $(#[$doc])*
        pub(super) struct $name {
            $($field: Option<$ty>,)*
            status: Option<&'static str>,
        }

        impl $name {
            const PARAMS: usize = [$(stringify!($field),)* "status"].len();

            /// Reads the body strictly (`create`: a new record, else a change): every bad member
            /// is reported.
            pub(super) fn parse(req: &Request<'_>, $create: bool) -> Result<Self, ApiError> {
                let mut fields = Fields::parse(req)?;
                let $f = &mut fields;
                let body = $name {
                    $($field: $read,)*
                    status: status_in($f, $create),
                };
                $({
                    let $b = &body;
                    $check
                })?
                finish_body(fields, $create, body.unchanged())?;
                Ok(body)
            }

            /// The write function's parameters after the record's id and version.
            fn params(&self) -> [Param<'_>; Self::PARAMS] {
                [$(&self.$field,)* &self.status]
            }

            /// Whether a change names none of the members.
            fn unchanged(&self) -> bool {
                $(self.$field.is_none() &&)* self.status.is_none()
            }
        }
    };
}

/// The refusal of a write that needs an institution, before there is one.
const NO_INSTITUTION: (Word, &str, &str) = (
    Word::NoInstitution,
    "",
    "There is no institution yet: run `campushub admin create --institution NAME` first.",
);

/// Writes a catalogue record with `stmt` as the caller: a new one (`id`: `None`) or a change
/// (`If-Match` honoured). The parameters after the record's id and version are `body`'s; a
/// refusal is answered through `refusals`. The record's public id.
async fn save(
    shard: &Shard,
    req: &Request<'_>,
    (stmt, current): (&Stmt, Option<i64>),
    id: Option<Uuid>,
    body: &Params<'_>,
    refusals: &[(Word, &str, &str)],
) -> Result<Uuid, ApiError> {
    let if_match = req.if_match_at(current)?;
    let mut params: Vec<Param<'_>> = Vec::with_capacity(body.len() + 2);
    params.extend_from_slice(&[&id, &if_match]);
    params.extend_from_slice(body);
    let o = apply(shard, req, stmt, &params, refusals).await?;
    o.id.ok_or(ApiError::Internal)
}

// ---- departments ----

body! {
    /// What a department's body may say.
    DepartmentIn(f, create) {
        name: String = f.text("name", create, 200),
        identifier: String = f.text("identifier", create, 32),
    }
    check(d) {
        let bad = |i: &str| {
            !i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if d.identifier.as_deref().is_some_and(bad) {
            f.bad("identifier", "may hold only letters, digits, - and _");
        }
    }
}

/// `POST /api/v1/departments` and `PATCH /api/v1/departments/{id}` (`departments.write`).
async fn save_department(
    shard: &Shard,
    req: &Request<'_>,
    id: Option<Uuid>,
) -> Result<Uuid, ApiError> {
    let d = DepartmentIn::parse(req, id.is_none())?;
    let refusals = [
        (Word::IdentifierTaken, "identifier", "is already taken"),
        NO_INSTITUTION,
    ];
    // An `If-Match` list is resolved against the version now (one read, only then).
    let current = match id {
        Some(id) if req.if_match_listed() => super::departments::version(shard, id).await?,
        _ => None,
    };
    save(
        shard,
        req,
        (&DEPARTMENT_SAVE, current),
        id,
        &d.params(),
        &refusals,
    )
    .await
}

/// `POST /api/v1/departments`.
pub async fn department_create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = save_department(shard, req, None).await?;
    let body = super::departments::document(shard, id).await?;
    Ok(Response::json(201, body).with_header("Location", format!("/api/v1/departments/{id}")))
}

/// `PATCH /api/v1/departments/{id}` (`If-Match` honoured; the answer carries the new ETag).
pub async fn department_update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = path_id(req, "department")?;
    save_department(shard, req, Some(id)).await?;
    super::departments::answer(shard, req, id, false).await
}

// ---- the record routes of academic sessions, courses and classes ----

/// Where the records of a [`RecordKind`] are: their collection's path (for `Location`), what
/// a route's `{id}` names (for its 400), the record statement and the shape of its row.
pub(crate) struct Spec {
    path: &'static str,
    what: &'static str,
    by_id: &'static Stmt,
    shape: Shape,
}

impl Spec {
    const fn new(
        path: &'static str,
        what: &'static str,
        by_id: &'static Stmt,
        shape: Shape,
    ) -> Spec {
        Spec {
            path,
            what,
            by_id,
            shape,
        }
    }

    /// The record with public id `id`, if there is one.
    async fn record(&self, shard: &Shard, id: Uuid) -> Result<Option<Record>, ApiError> {
        Ok(campus::record(shard.db.primary(), self.by_id, self.shape, id).await?)
    }

    /// The version of record `id` when a change's `If-Match` lists several tags (one read,
    /// only then: `Request::if_match_at` resolves the list against it).
    async fn listed_version(
        &self,
        shard: &Shard,
        req: &Request<'_>,
        id: Option<Uuid>,
    ) -> Result<Option<i64>, ApiError> {
        match id {
            Some(id) if req.if_match_listed() => {
                Ok(self.record(shard, id).await?.map(|r| r.version))
            }
            _ => Ok(None),
        }
    }
}

/// A catalogue record kind: `GET {path}/{id}`, `POST {path}` and `PATCH {path}/{id}` are
/// [`get`], [`create`] and [`update`] of it.
pub(crate) trait RecordKind {
    /// Where its records are.
    const SPEC: Spec;

    /// The record a route's `{id}` names (404 when none), with the caller's right to read it
    /// checked: none by default, the catalogue is open to every caller.
    async fn read(shard: &Shard, req: &Request<'_>) -> Result<Record, ApiError> {
        let id = path_id(req, Self::SPEC.what)?;
        Self::SPEC
            .record(shard, id)
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// Reads the request's body, checks the caller's rights and writes a new record (`id`:
    /// `None`) or a change: the record's public id.
    async fn save(shard: &Shard, req: &Request<'_>, id: Option<Uuid>) -> Result<Uuid, ApiError>;
}

/// A record just written.
async fn saved<K: RecordKind>(shard: &Shard, id: Uuid) -> Result<Record, ApiError> {
    K::SPEC.record(shard, id).await?.ok_or(ApiError::Internal)
}

/// `GET {path}/{id}`: one record (ETag).
pub(crate) async fn get<K: RecordKind>(
    shard: &Shard,
    req: &Request<'_>,
) -> Result<Response, ApiError> {
    Ok(record_response(req, K::read(shard, req).await?))
}

/// `POST {path}`: a new record, with its `Location`.
pub(crate) async fn create<K: RecordKind>(
    shard: &Shard,
    req: &Request<'_>,
) -> Result<Response, ApiError> {
    let id = K::save(shard, req, None).await?;
    created(shard, (K::SPEC.by_id, K::SPEC.shape), K::SPEC.path, id).await
}

/// `PATCH {path}/{id}` (`If-Match` honoured).
pub(crate) async fn update<K: RecordKind>(
    shard: &Shard,
    req: &Request<'_>,
) -> Result<Response, ApiError> {
    let id = K::save(shard, req, Some(path_id(req, K::SPEC.what)?)).await?;
    Ok(written(200, saved::<K>(shard, id).await?))
}

// ---- academic sessions ----

/// `GET /api/v1/terms`: `type`, `school_year`.
pub async fn terms(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (mut kind, mut year) = (None::<&'static str>, None::<i16>);
    let types = "`type` is schoolYear, semester, term or gradingPeriod.";
    let paging = parse_query(req, "`type`, `school_year`", |k, v| match k {
        "type" => take_param(&mut kind, query_one_of(v, TERM_TYPES, types)),
        "school_year" => take_param(
            &mut year,
            v.parse()
                .ok()
                .filter(|y| (1900..=9999).contains(y))
                .ok_or_else(|| {
                    ApiError::BadParameter("`school_year` must be a year like 2026.".into())
                }),
        ),
        _ => Ok(false),
    })?;
    let rows = campus::page(
        shard.db.primary(),
        &TERMS_PAGE,
        &[&paging.after, &(paging.limit + 1), &kind, &year],
    )
    .await?;
    page_response("terms", rows, &paging)
}

body! {
    /// What an academic session's body may say.
    TermIn(f, create) {
        title: String = f.text("title", create, 200),
        kind: &'static str = f.one_of("type", create, TERM_TYPES),
        start: Date = f.date("start_date", create),
        end: Date = f.date("end_date", create),
        year: i16 = f.int("school_year", create, 1900, 9999).map(|y| y as i16),
        parent: Uuid = f.uuid("parent", false),
    }
    check(t) {
        if t.start.zip(t.end).is_some_and(|(s, e)| e <= s) {
            f.bad("end_date", "must be after start_date");
        }
    }
}

/// The types of academic session.
const TERM_TYPES: &[&str] = &["schoolYear", "semester", "term", "gradingPeriod"];

/// Academic sessions: `classes.write` for the whole institution (the route's rule).
pub(crate) struct Term;

impl RecordKind for Term {
    const SPEC: Spec = Spec::new("/api/v1/terms", "term", &TERM_BY_ID, Shape::Plain);

    async fn save(shard: &Shard, req: &Request<'_>, id: Option<Uuid>) -> Result<Uuid, ApiError> {
        let t = TermIn::parse(req, id.is_none())?;
        if let (Some(term), Some(parent)) = (id, t.parent) {
            // A term may not become its own ancestor: lists and reports that climb the parents
            // would go round for ever.
            if campushub_db::queries::access::term_would_cycle(shard.db.primary(), term, parent)
                .await?
            {
                return Err(ApiError::Invalid(vec![FieldError::new(
                    "parent",
                    "is this academic session or one of its descendants",
                )]));
            }
        }
        let refusals = [
            (Word::NoParent, "parent", "is not an academic session"),
            (Word::BadDates, "end_date", "must be after start_date"),
            NO_INSTITUTION,
        ];
        let current = Self::SPEC.listed_version(shard, req, id).await?;
        save(
            shard,
            req,
            (&TERM_SAVE, current),
            id,
            &t.params(),
            &refusals,
        )
        .await
    }
}

// ---- courses ----

/// `GET /api/v1/courses`: `department`, `q` (prefix of the code or title).
pub async fn courses(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let (mut dept, mut q) = (None, None);
    let paging = parse_query(req, "`department`, `q`", |k, v| match k {
        "department" => take_param(&mut dept, query_uuid(k, v)),
        "q" => take_param(&mut q, prefix_pattern(v)),
        _ => Ok(false),
    })?;
    let rows = campus::page(
        shard.db.primary(),
        &COURSES_PAGE,
        &[&dept, &q, &paging.after, &(paging.limit + 1)],
    )
    .await?;
    page_response("courses", rows, &paging)
}

body! {
    /// What a course's body may say.
    CourseIn(f, create) {
        title: String = f.text("title", create, 200),
        code: String = f.text("course_code", create, 32),
        credits: f64 = f.number("credits", false, 0.0, 999.9, 1),
        dept: Uuid = f.uuid("department", create),
    }
}

/// Courses: `classes.write` for their department (the old and the new one when a course moves).
pub(crate) struct Course;

impl RecordKind for Course {
    const SPEC: Spec = Spec::new(
        "/api/v1/courses",
        "course",
        &COURSE_BY_ID,
        Shape::Department,
    );

    async fn save(shard: &Shard, req: &Request<'_>, id: Option<Uuid>) -> Result<Uuid, ApiError> {
        let permission = req.permission()?;
        let c = CourseIn::parse(req, id.is_none())?;
        let current = match id {
            Some(id) => Some(
                Course::read_by_id(shard, id)
                    .await?
                    .department_id
                    .unwrap_or(0),
            ),
            None => None,
        };
        allow_move(&req.caller()?.principal, permission, current, c.dept)?;
        let refusals = [
            (
                Word::CodeTaken,
                "course_code",
                "is already taken in that department",
            ),
            (Word::NoDepartment, "department", "is not a department"),
        ];
        let current = Self::SPEC.listed_version(shard, req, id).await?;
        save(
            shard,
            req,
            (&COURSE_SAVE, current),
            id,
            &c.params(),
            &refusals,
        )
        .await
    }
}

impl Course {
    /// A course by public id (404 when none).
    async fn read_by_id(shard: &Shard, id: Uuid) -> Result<Record, ApiError> {
        Self::SPEC
            .record(shard, id)
            .await?
            .ok_or(ApiError::NotFound)
    }
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
    let rec = Class::SPEC
        .record(shard, id)
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

/// The class of the route's `{id}`, if the caller may read it with the route's permission as
/// staff ([`class_for`]) or as a member (a student enrolled in it, a guardian of one).
pub async fn class_or_member(shard: &Shard, req: &Request<'_>) -> Result<Record, ApiError> {
    let id = path_id(req, "class")?;
    let rec = Class::SPEC
        .record(shard, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let scope = (rec.id, rec.department_id.unwrap_or(0));
    allow_in_class_or_member(shard, req, req.permission()?, scope).await?;
    Ok(rec)
}

/// `GET /api/v1/classes`: `term`, `course`, `department`, `mine=true` (classes the caller
/// teaches). Staff see the classes of the departments where they may read classes.
pub async fn classes(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let (mut term, mut course, mut dept, mut mine) = (None, None, None, false);
    let paging = parse_query(
        req,
        "`term`, `course`, `department`, `mine`",
        |k, v| match k {
            "term" => take_param(&mut term, query_uuid(k, v)),
            "course" => take_param(&mut course, query_uuid(k, v)),
            "department" => take_param(&mut dept, query_uuid(k, v)),
            "mine" => {
                mine = match v {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::BadParameter("`mine` is true or false.".into())),
                };
                Ok(true)
            }
            _ => Ok(false),
        },
    )?;
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

body! {
    /// What a class's body may say.
    ClassIn(f, create) {
        title: String = f.text("title", create, 200),
        code: String = f.text("class_code", create, 64),
        kind: &'static str = f.one_of("class_type", false, &["homeroom", "scheduled"]),
        location: String = f.text("location", false, 200),
        slots: Vec<String> = periods(f),
        capacity: i32 = f.int("capacity", false, 1, 10_000).map(|c| c as i32),
        course: Uuid = f.uuid("course", create),
        term: Uuid = f.uuid("term", create),
    }
}

/// Classes: `classes.read` / `classes.write` for the class or its department; a class belongs to
/// its course's department.
pub(crate) struct Class;

impl RecordKind for Class {
    const SPEC: Spec = Spec::new("/api/v1/classes", "class", &CLASS_BY_ID, Shape::Department);

    /// Staff under the class rule, and the class's members: its students and their guardians.
    async fn read(shard: &Shard, req: &Request<'_>) -> Result<Record, ApiError> {
        class_or_member(shard, req).await
    }

    async fn save(shard: &Shard, req: &Request<'_>, id: Option<Uuid>) -> Result<Uuid, ApiError> {
        let permission = req.permission()?;
        let c = ClassIn::parse(req, id.is_none())?;
        if id.is_some() {
            class_for(shard, req, permission).await?;
        }
        if let Some(course) = c.course {
            // A class belongs to its course's department: the caller must be able to write there.
            let rec = Course::read_by_id(shard, course)
                .await
                .map_err(|e| match e {
                    ApiError::NotFound => {
                        ApiError::Invalid(vec![FieldError::new("course", "is not a course")])
                    }
                    e => e,
                })?;
            allow_department(
                &req.caller()?.principal,
                permission,
                rec.department_id.unwrap_or(0),
            )?;
        }
        let refusals = [
            (
                Word::CodeTaken,
                "class_code",
                "is already taken in that term",
            ),
            (Word::NoCourse, "course", "is not a course"),
            (Word::NoTerm, "term", "is not an academic session"),
        ];
        let current = Self::SPEC.listed_version(shard, req, id).await?;
        save(
            shard,
            req,
            (&CLASS_SAVE, current),
            id,
            &c.params(),
            &refusals,
        )
        .await
    }
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

/// `GET /api/v1/classes/{id}/enrollments`: every enrollment, ended ones included, in keyset
/// pages (`limit`, `cursor`, `fields`) in the order they were made.
pub async fn enrollments(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let paging = parse_query(req, "nothing else", |_, _| Ok(false))?;
    let rec = class_for(shard, req, req.permission()?).await?;
    let limit = paging.limit + 1;
    let rows = campus::page(
        shard.db.primary(),
        &CLASS_ENROLLMENTS_PAGE,
        &[&rec.id, &paging.after, &limit],
    )
    .await?;
    page_response("enrollments", rows, &paging)
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
    let body = enroll_in(req)?;
    let (users, role) = (&body.users, body.role);
    let caller = req.caller()?;
    let permission = req.permission()?;
    let rec = class_for(shard, req, permission).await?;
    // The right on the class is not enough: enrolling a student of another department would
    // open their profile through the roster. The caller needs the permission for each
    // student's own department too (someone with no profile is the database's 422). Staff
    // teach across departments; their assignment opens no profile.
    if role == "student" {
        let departments =
            campushub_db::queries::access::people_departments(shard.db.primary(), users).await?;
        if departments
            .iter()
            .any(|(_, d)| !department_access(&caller.principal, permission, *d))
        {
            return Err(ApiError::Forbidden);
        }
    }
    let class_id = path_id(req, "class")?;
    let o = write(
        shard,
        req,
        &ENROLLMENTS_ADD,
        &[&class_id, users, &role, &body.primary],
    )
    .await?;
    if !o.applied() {
        let single = body.one.is_some();
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
    let id = path_id(req, "enrollment")?;
    let rec = campus::record(shard.db.primary(), &ENROLLMENT_BY_ID, Shape::LineItem, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    allow_in_class(shard, req, req.permission()?, rec.class_scope()).await?;
    let o = apply(shard, req, &ENROLLMENT_DROP, &[&id], &[]).await?;
    publish_roster(shard, rec.class_scope().0).await;
    publish_person(shard, None, o.row_id).await;
    Ok(Response::empty(204))
}
