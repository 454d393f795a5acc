//! Students and staff: lists (filters, prefix search, keyset pages), creation, changes
//! (`PATCH` with `If-Match`) and deactivation. Writes need `students.write` / `staff.write`
//! for the whole institution or for the person's department (both the old and the new one
//! when a person moves); every write drops the person's cached profile and principal on every
//! shard of every instance. What every person has (names, department, status) is read and
//! written once for both kinds; a `Kind` adds its own members and write functions.

use std::rc::Rc;

use campushub_db::queries::access;
use campushub_db::queries::campus::{self, Outcome, Param, Record, Shape};
use campushub_db::queries::word::Word;
use campushub_db::statements::{
    Stmt, STAFF_BY_ID, STAFF_CREATE, STAFF_PAGE, STAFF_UPDATE, STUDENTS_PAGE, STUDENT_CREATE,
    STUDENT_UPDATE, STUDENT_WITHDRAW, USER_ENROLLMENTS,
};

use super::campus::{
    apply, array_response, campus_caches, created, finish_body, page_response, parse_query,
    path_id, prefix_pattern, query_one_of, query_uuid, read_through, record_response, status_in,
    take_param, STATUSES,
};
use super::fields::{parse_date, Fields};
use super::roles::binding_dto;
use super::students::{allow_student, load, load_many, parse_id, publish_person};
use super::Request;
use crate::api_error::ApiError;
use crate::auth::access::Caller;
use crate::auth::access::{
    allow_department, allow_move, departments_with, require_covers, require_department,
};
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

const STAFF_ROLES: &[&str] = &["teacher", "administrator", "aide"];

/// The departments whose records the caller may list with `permission` (`None`: all); 403
/// when none.
fn list_scope(caller: &Caller, permission: Permission) -> Result<Option<Vec<i64>>, ApiError> {
    match departments_with(&caller.principal, permission) {
        Some(ids) if ids.is_empty() => Err(ApiError::Forbidden),
        scope => Ok(scope),
    }
}

/// The filters every list of people takes: `department`, `status`, `q`.
#[derive(Default)]
struct PersonFilter {
    department: Option<uuid::Uuid>,
    status: Option<&'static str>,
    q: Option<String>,
}

impl PersonFilter {
    /// Takes `department`, `status` or `q`; `false` when `k` is none of them.
    fn take(&mut self, k: &str, v: &str) -> Result<bool, ApiError> {
        let status = "`status` is active or tobedeleted.";
        match k {
            "department" => take_param(&mut self.department, query_uuid(k, v)),
            "status" => take_param(&mut self.status, query_one_of(v, STATUSES, status)),
            "q" => take_param(&mut self.q, prefix_pattern(v)),
            _ => Ok(false),
        }
    }
}

/// `GET /api/v1/students`: `department`, `program`, `year`, `status`, `q` (prefix of the
/// family or given name, roll number or email), keyset-paginated by creation.
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let scope = list_scope(caller, req.permission()?)?;
    let (mut filter, mut program, mut year) = (PersonFilter::default(), None, None);
    let paging = parse_query(
        req,
        "`department`, `program`, `year`, `status`, `q`",
        |k, v| match k {
            "program" => take_param(&mut program, Ok(v.to_string())),
            "year" => take_param(
                &mut year,
                v.parse::<i16>()
                    .ok()
                    .filter(|y| (1..=10).contains(y))
                    .ok_or_else(|| {
                        ApiError::BadParameter("`year` must be a whole number from 1 to 10.".into())
                    }),
            ),
            _ => filter.take(k, v),
        },
    )?;
    let PersonFilter {
        department: dept,
        status,
        q,
    } = filter;
    // The page's ids from the shard's page cache, else PostgreSQL (which walks the index from
    // the cursor); the profiles from the shard's profile cache.
    let key = format!(
        "{dept:?}|{program:?}|{year:?}|{status:?}|{q:?}|{}|{}|{scope:?}",
        paging.after, paging.limit
    );
    let pages = (&shard.student_pages, campus_caches(shard));
    let ids = read_through(shard, pages, key, || async {
        let params: [Param<'_>; 8] = [
            &dept,
            &program,
            &year,
            &status,
            &q,
            &paging.after,
            &(paging.limit + 1),
            &scope,
        ];
        let ids = campus::id_page(shard.db.primary(), &STUDENTS_PAGE, &params).await?;
        Ok(crate::shard::Roster::from(ids))
    })
    .await?;
    let public: Vec<uuid::Uuid> = ids.iter().map(|(_, u)| *u).collect();
    let profiles = load_many(shard, &public).await?;
    let rows: Vec<(i64, &[u8])> = ids
        .iter()
        .filter_map(|(row, _)| {
            profiles
                .iter()
                .find(|p| p.id == *row)
                .map(|p| (*row, &p.json[..]))
        })
        .collect();
    page_response("students", rows, &paging)
}

/// A log-in name: letters, digits and `. _ - +`. No `@`: log-in takes a username or an email,
/// so a username shaped like someone else's email would make one name mean two accounts.
pub(super) fn username(f: &mut Fields, required: bool) -> Option<String> {
    let u = f.text("username", required, 150)?;
    if !u
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    {
        f.bad("username", "may hold only letters, digits and . _ - +");
        return None;
    }
    Some(u)
}

/// A kind of person: the members of its body besides what every person has, and its write
/// functions (migration 0008).
pub(super) trait Kind: Default {
    /// Creates one.
    const CREATE: &'static Stmt;
    /// Changes or (de)activates one.
    const UPDATE: &'static Stmt;
    /// Reads the members a body lists between the names and the department.
    fn read(f: &mut Fields, create: bool) -> Self;
    /// Reads the members a body lists between the department and the status.
    fn read_after_department(&mut self, _f: &mut Fields) {}
    /// Whether a change names none of them.
    fn unchanged(&self) -> bool;
    /// Their parameters of [`Kind::CREATE`] (`create`) or [`Kind::UPDATE`], in the function's
    /// order, with `department` in its place.
    fn params<'a>(
        &'a self,
        create: bool,
        department: &'a Option<uuid::Uuid>,
        out: &mut Vec<Param<'a>>,
    );
}

/// A person's body, read strictly (every bad field reported, in the order the body lists them).
#[derive(Default)]
pub(super) struct PersonIn<K> {
    username: Option<String>,
    email: Option<Option<String>>,
    given_name: Option<String>,
    family_name: Option<String>,
    own: K,
    department: Option<uuid::Uuid>,
    status: Option<&'static str>,
}

/// A person a change found: their public id, users.id and department (orgs.id), and the
/// version `If-Match` requires.
struct Found {
    id: uuid::Uuid,
    user: i64,
    department: i64,
    if_match: Option<i64>,
}

const PERSON_REFUSALS: &[(Word, &str, &str)] = &[
    (Word::UsernameTaken, "username", "is already taken"),
    (Word::EmailTaken, "email", "is already taken"),
    (Word::RollTaken, "roll_number", "is already taken"),
    (Word::EmployeeTaken, "employee_number", "is already taken"),
    (Word::NoDepartment, "department", "is not a department"),
];

impl<K: Kind> PersonIn<K> {
    /// Reads a person's body (`create`: a new one, else a change).
    fn read(req: &Request<'_>, create: bool) -> Result<Self, ApiError> {
        let mut f = Fields::parse(req)?;
        let mut p = PersonIn {
            username: if create { username(&mut f, true) } else { None },
            email: f.email("email"),
            given_name: f.text("given_name", create, 100),
            family_name: f.text("family_name", create, 100),
            own: K::read(&mut f, create),
            department: f.uuid("department", create),
            status: None,
        };
        p.own.read_after_department(&mut f);
        p.status = status_in(&mut f, create);
        let unchanged = p.email.is_none()
            && p.given_name.is_none()
            && p.family_name.is_none()
            && p.own.unchanged()
            && p.department.is_none()
            && p.status.is_none();
        finish_body(f, create, unchanged)?;
        Ok(p)
    }

    /// A change that only deactivates.
    fn deactivation() -> Self {
        PersonIn {
            status: Some("tobedeleted"),
            ..PersonIn::default()
        }
    }

    /// Creates the person, in a department the caller may write in; their public id.
    async fn create(&self, shard: &Shard, req: &Request<'_>) -> Result<uuid::Uuid, ApiError> {
        let caller = req.caller()?;
        let department = self.department.ok_or(ApiError::Internal)?;
        require_department(&caller.principal, req.permission()?, department)?;
        let email = self.email.clone().flatten();
        let mut params: Vec<Param<'_>> = Vec::with_capacity(12);
        params.extend_from_slice(&[&self.username, &email, &self.given_name, &self.family_name]);
        self.own.params(true, &self.department, &mut params);
        let o = apply(shard, req, K::CREATE, &params, PERSON_REFUSALS).await?;
        o.id.ok_or(ApiError::Internal)
    }

    /// Changes the person `found`. The caller must be able to write in their department and in
    /// the one they move to; nobody deactivates themself (409: the last administrator could
    /// lock the campus out, and a stolen session could hide its tracks), and nobody changes a
    /// person whose grants reach beyond their own (403). That the institution keeps an active
    /// administrator is the database's to hold (migration 0014), under concurrency too.
    async fn change(
        &self,
        shard: &Shard,
        req: &Request<'_>,
        found: Found,
    ) -> Result<Outcome, ApiError> {
        let caller = req.caller()?;
        let principal = &caller.principal;
        allow_move(
            principal,
            req.permission()?,
            Some(found.department),
            self.department,
        )?;
        if found.user == principal.user_id && self.status == Some("tobedeleted") {
            return Err(ApiError::Conflict(
                "You cannot deactivate your own account; another administrator can.".into(),
            ));
        }
        require_covers(shard.db.primary(), principal, found.user).await?;
        let email_set = self.email.is_some();
        let email = self.email.clone().flatten();
        let mut params: Vec<Param<'_>> = Vec::with_capacity(14);
        params.extend_from_slice(&[
            &found.id,
            &found.if_match,
            &email_set,
            &email,
            &self.given_name,
            &self.family_name,
        ]);
        self.own.params(false, &self.department, &mut params);
        params.push(&self.status);
        apply(shard, req, K::UPDATE, &params, PERSON_REFUSALS).await
    }
}

// ---- students ----

/// A student's own members.
#[derive(Default)]
pub(super) struct Student {
    roll_number: Option<String>,
    program: Option<String>,
    year_of_study: Option<i16>,
    admitted_on: Option<campushub_db::pgtypes::Date>,
}

impl Kind for Student {
    const CREATE: &'static Stmt = &STUDENT_CREATE;
    const UPDATE: &'static Stmt = &STUDENT_UPDATE;

    fn read(f: &mut Fields, create: bool) -> Self {
        Student {
            roll_number: f.text("roll_number", create, 32),
            program: f.text("program", create, 100),
            year_of_study: f.int("year_of_study", create, 1, 10).map(|y| y as i16),
            admitted_on: None,
        }
    }

    fn read_after_department(&mut self, f: &mut Fields) {
        self.admitted_on = f.date("admitted_on", false);
    }

    fn unchanged(&self) -> bool {
        self.roll_number.is_none()
            && self.program.is_none()
            && self.year_of_study.is_none()
            && self.admitted_on.is_none()
    }

    fn params<'a>(
        &'a self,
        _create: bool,
        department: &'a Option<uuid::Uuid>,
        out: &mut Vec<Param<'a>>,
    ) {
        out.extend_from_slice(&[
            &self.roll_number,
            &self.program,
            &self.year_of_study,
            department,
            &self.admitted_on,
        ]);
    }
}

/// Reads a student's body (`create`: a new one, else a change).
pub(super) fn student_in(req: &Request<'_>, create: bool) -> Result<PersonIn<Student>, ApiError> {
    PersonIn::read(req, create)
}

/// `POST /api/v1/students`.
pub async fn create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = student_in(req, true)?.create(shard, req).await?;
    // A new student belongs in pages every shard may hold.
    publish_person(shard, Some(id), None).await;
    let student = load(shard, id).await?;
    Ok(Response::shared_json(201, Rc::clone(&student.json))
        .with_header("Location", format!("/api/v1/students/{id}"))
        .with_header("ETag", crate::request::etag(student.version)))
}

async fn change_student(
    shard: &Shard,
    req: &Request<'_>,
    s: &PersonIn<Student>,
) -> Result<uuid::Uuid, ApiError> {
    let id = parse_id(req.param)?;
    let current = load(shard, id).await?;
    let if_match = req.if_match_at(Some(current.version))?;
    let found = Found {
        id,
        user: current.id,
        department: current.department_id,
        if_match,
    };
    let o = s.change(shard, req, found).await?;
    publish_person(shard, Some(id), o.row_id).await;
    Ok(id)
}

/// `PATCH /api/v1/students/{id}` (`If-Match` honoured).
pub async fn update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let s = student_in(req, false)?;
    let id = change_student(shard, req, &s).await?;
    let student = load(shard, id).await?;
    Ok(
        Response::shared_json(200, std::rc::Rc::clone(&student.json))
            .with_header("ETag", crate::request::etag(student.version)),
    )
}

/// `DELETE /api/v1/students/{id}?on=DATE`: withdraws the student as of `on` (default: today
/// where the institution is; not after it): the account is disabled and its tokens revoked,
/// and every active enrollment ends on that date, so the student leaves every roster at once
/// (the enrollments, marks and results stay). `If-Match` honoured. Re-admission: `PATCH`
/// with `"status": "active"`, then enroll again.
pub async fn deactivate(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut on = None;
    for pair in super::query_pairs(req.query) {
        let (k, v) = pair?;
        if k != "on" {
            return Err(ApiError::BadParameter(
                "This route takes `on` (the date of the withdrawal).".into(),
            ));
        }
        on = Some(parse_date(&v).ok_or_else(|| {
            ApiError::BadParameter("`on` must be a date like 2026-11-30 that exists.".into())
        })?);
    }
    let id = parse_id(req.param)?;
    let current = load(shard, id).await?;
    let if_match = req.if_match_at(Some(current.version))?;
    let caller = req.caller()?;
    let principal = &caller.principal;
    allow_department(principal, req.permission()?, current.department_id)?;
    if current.id == principal.user_id {
        return Err(ApiError::Conflict(
            "You cannot deactivate your own account; another administrator can.".into(),
        ));
    }
    require_covers(shard.db.primary(), principal, current.id).await?;
    let refusals = [(
        Word::BadDates,
        "on",
        "may not be after today (where the institution is) or before the student's admission",
    )];
    let o = apply(
        shard,
        req,
        &STUDENT_WITHDRAW,
        &[&id, &if_match, &on],
        &refusals,
    )
    .await?;
    publish_person(shard, Some(id), o.row_id).await;
    for class in o.bad.iter().filter_map(|c| c.parse::<i64>().ok()) {
        super::campus::publish(shard, campushub_cache::Invalidation::Class(class)).await;
    }
    Ok(Response::empty(204))
}

/// `GET /api/v1/students/{id}/enrollments`: the student's classes (the student themself,
/// their guardians, staff who may read the student's classes).
pub async fn student_enrollments(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let s = load(shard, parse_id(req.param)?).await?;
    allow_student(shard, caller, req.permission()?, &s).await?;
    let doc = campus::document(shard.db.primary(), &USER_ENROLLMENTS, &[&s.id]).await?;
    Ok(array_response("enrollments", doc))
}

// ---- staff ----

/// `GET /api/v1/staff`: `department`, `role`, `status`, `q`, keyset-paginated.
pub async fn staff_list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let scope = list_scope(caller, req.permission()?)?;
    let (mut filter, mut role) = (PersonFilter::default(), None);
    let roles = "`role` is teacher, administrator or aide.";
    let paging = parse_query(req, "`department`, `role`, `status`, `q`", |k, v| match k {
        "role" => take_param(&mut role, query_one_of(v, STAFF_ROLES, roles)),
        _ => filter.take(k, v),
    })?;

    let rows = campus::page(
        shard.db.primary(),
        &STAFF_PAGE,
        &[
            &filter.department,
            &role,
            &filter.status,
            &filter.q,
            &paging.after,
            &(paging.limit + 1),
            &scope,
        ],
    )
    .await?;
    page_response("staff", rows, &paging)
}

/// A staff member by public id (`missing`: the answer when there is none).
async fn staff_member(
    shard: &Shard,
    id: uuid::Uuid,
    missing: ApiError,
) -> Result<Record, ApiError> {
    campus::record(shard.db.primary(), &STAFF_BY_ID, Shape::Department, id)
        .await?
        .ok_or(missing)
}

async fn staff_record(shard: &Shard, req: &Request<'_>) -> Result<Record, ApiError> {
    staff_member(shard, path_id(req, "staff member")?, ApiError::NotFound).await
}

/// `GET /api/v1/staff/{id}`: staff who may read the department's staff, or the person.
pub async fn staff_get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let rec = staff_record(shard, req).await?;
    let own = rec.id == caller.principal.user_id && caller.api_key.is_none();
    if !own {
        allow_department(
            &caller.principal,
            req.permission()?,
            rec.department_id.unwrap_or(0),
        )?;
    }
    Ok(record_response(req, rec))
}

/// A staff member's own members.
#[derive(Default)]
pub(super) struct Staff {
    role: Option<&'static str>,
    employee_number: Option<String>,
    designation: Option<String>,
}

impl Kind for Staff {
    const CREATE: &'static Stmt = &STAFF_CREATE;
    const UPDATE: &'static Stmt = &STAFF_UPDATE;

    fn read(f: &mut Fields, create: bool) -> Self {
        Staff {
            // A change of role moves the built-in binding it implies (migration 0019).
            role: f.one_of("role", create, STAFF_ROLES),
            employee_number: f.text("employee_number", create, 32),
            designation: f.text("designation", create, 100),
        }
    }

    fn unchanged(&self) -> bool {
        self.role.is_none() && self.employee_number.is_none() && self.designation.is_none()
    }

    fn params<'a>(
        &'a self,
        create: bool,
        department: &'a Option<uuid::Uuid>,
        out: &mut Vec<Param<'a>>,
    ) {
        if create {
            out.push(&self.role);
        }
        out.extend_from_slice(&[&self.employee_number, &self.designation, department]);
        if !create {
            out.push(&self.role);
        }
    }
}

/// Reads a staff member's body (`create`: a new one, else a change).
pub(super) fn staff_in(req: &Request<'_>, create: bool) -> Result<PersonIn<Staff>, ApiError> {
    PersonIn::read(req, create)
}

/// `POST /api/v1/staff`: a teacher gets the built-in faculty role in their department, other
/// staff the staff role.
pub async fn staff_create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let id = staff_in(req, true)?.create(shard, req).await?;
    let staff = (&STAFF_BY_ID, Shape::Department);
    created(shard, staff, "/api/v1/staff", id).await
}

async fn change_staff(
    shard: &Shard,
    req: &Request<'_>,
    s: &PersonIn<Staff>,
) -> Result<uuid::Uuid, ApiError> {
    let current = staff_record(shard, req).await?;
    let if_match = req.if_match_at(Some(current.version))?;
    let id = path_id(req, "staff member")?;
    let found = Found {
        id,
        user: current.id,
        department: current.department_id.unwrap_or(0),
        if_match,
    };
    let o = s.change(shard, req, found).await?;
    publish_person(shard, None, o.row_id).await;
    Ok(id)
}

/// `PATCH /api/v1/staff/{id}` (`If-Match` honoured): the staff member, and every role binding
/// they hold after the change (a move or a new role moves the built-in one; custom ones stay,
/// for whoever manages roles to keep or remove).
pub async fn staff_update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let s = staff_in(req, false)?;
    let id = change_staff(shard, req, &s).await?;
    let rec = staff_member(shard, id, ApiError::Internal).await?;
    let bindings = access::bindings_of(shard.db.primary(), id).await?;
    let mut doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&rec.json).map_err(|_| ApiError::Internal)?;
    doc.insert(
        "role_bindings".into(),
        serde_json::to_value(bindings.iter().map(binding_dto).collect::<Vec<_>>())
            .map_err(|_| ApiError::Internal)?,
    );
    let body = serde_json::to_vec(&doc).map_err(|_| ApiError::Internal)?;
    Ok(Response::json(200, body).with_header("ETag", crate::request::etag(rec.version)))
}

/// `DELETE /api/v1/staff/{id}`: deactivates.
pub async fn staff_deactivate(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    change_staff(shard, req, &PersonIn::deactivation()).await?;
    Ok(Response::empty(204))
}
