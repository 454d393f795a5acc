//! Students and staff: lists (filters, prefix search, keyset pages), creation, changes
//! (`PATCH` with `If-Match`) and deactivation. Writes need `students.write` / `staff.write`
//! for the whole institution or for the person's department (both the old and the new one
//! when a person moves); every write drops the person's cached profile and principal on every
//! shard of every instance.

use std::rc::Rc;

use campushub_db::queries::campus::{self, Shape};
use campushub_db::queries::word::Word;
use campushub_db::statements::{
    STAFF_BY_ID, STAFF_CREATE, STAFF_PAGE, STAFF_UPDATE, STUDENTS_PAGE, STUDENT_CREATE,
    STUDENT_UPDATE, USER_ENROLLMENTS,
};

use super::campus::{
    array_response, ip, page_response, parse_query, path_id, prefix_pattern, query_uuid,
    record_response, refused, written, STATUSES,
};
use super::fields::Fields;
use super::students::{allow_student, load, load_many, parse_id, publish_person};
use super::Request;
use crate::api_error::ApiError;
use crate::auth::access::Caller;
use crate::auth::access::{
    department_access, departments_with, require_covers, require_department,
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

/// `GET /api/v1/students`: `department`, `program`, `year`, `status`, `q` (prefix of the
/// family or given name, roll number or email), keyset-paginated by creation.
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let scope = list_scope(caller, req.permission()?)?;
    let (mut dept, mut program, mut year, mut status, mut q) = (None, None, None, None, None);
    let paging = parse_query(
        req,
        "`department`, `program`, `year`, `status`, `q`",
        |k, v| {
            match k {
                "department" => dept = Some(query_uuid(k, v)?),
                "program" => program = Some(v.to_string()),
                "year" => {
                    year = Some(
                        v.parse::<i16>()
                            .ok()
                            .filter(|y| (1..=10).contains(y))
                            .ok_or_else(|| {
                                ApiError::BadParameter(
                                    "`year` must be a whole number from 1 to 10.".into(),
                                )
                            })?,
                    )
                }
                "status" => {
                    status = Some(STATUSES.iter().find(|s| **s == v).copied().ok_or_else(|| {
                        ApiError::BadParameter("`status` is active or tobedeleted.".into())
                    })?)
                }
                "q" => q = Some(prefix_pattern(v)?),
                _ => return Ok(false),
            }
            Ok(true)
        },
    )?;
    // The page's ids from the shard's page cache, else PostgreSQL (which walks the index from
    // the cursor); the profiles from the shard's profile cache.
    let key = format!(
        "{dept:?}|{program:?}|{year:?}|{status:?}|{q:?}|{}|{}|{scope:?}",
        paging.after, paging.limit
    );
    let now = std::time::Instant::now();
    let cached = super::campus::campus_caches(shard);
    let hit = if cached {
        shard
            .student_pages
            .borrow_mut()
            .get(key.as_str(), now)
            .map(Rc::clone)
    } else {
        None
    };
    let ids = match hit {
        Some(ids) => ids,
        None => {
            let epoch = shard.cache_epoch.get();
            let ids: crate::shard::Roster = campus::id_page(
                shard.db.primary(),
                &STUDENTS_PAGE,
                &[
                    &dept,
                    &program,
                    &year,
                    &status,
                    &q,
                    &paging.after,
                    &(paging.limit + 1),
                    &scope,
                ],
            )
            .await?
            .into();
            if cached {
                super::campus::keep(
                    shard,
                    &shard.student_pages,
                    epoch,
                    key,
                    Rc::clone(&ids),
                    now,
                );
            }
            ids
        }
    };
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

/// What a student's body may say, read strictly (every bad field reported).
pub(super) struct StudentIn {
    username: Option<String>,
    email: Option<Option<String>>,
    given_name: Option<String>,
    family_name: Option<String>,
    roll_number: Option<String>,
    program: Option<String>,
    year_of_study: Option<i16>,
    department: Option<uuid::Uuid>,
    admitted_on: Option<campushub_db::pgtypes::Date>,
    status: Option<&'static str>,
}

/// A log-in name: letters, digits and `. _ - +`. No `@`: log-in takes a username or an email,
/// so a username shaped like someone else's email would make one name mean two accounts.
fn username(f: &mut Fields, required: bool) -> Option<String> {
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

pub(super) fn student_in(req: &Request<'_>, create: bool) -> Result<StudentIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let s = StudentIn {
        username: if create { username(&mut f, true) } else { None },
        email: f.email("email"),
        given_name: f.text("given_name", create, 100),
        family_name: f.text("family_name", create, 100),
        roll_number: f.text("roll_number", create, 32),
        program: f.text("program", create, 100),
        year_of_study: f.int("year_of_study", create, 1, 10).map(|y| y as i16),
        department: f.uuid("department", create),
        admitted_on: f.date("admitted_on", false),
        status: if create {
            None
        } else {
            f.one_of("status", false, STATUSES)
        },
    };
    if !create && f.ok() && nothing(&s) {
        f.bad("body", "names nothing to change");
    }
    f.finish()?;
    Ok(s)
}

fn nothing(s: &StudentIn) -> bool {
    s.email.is_none()
        && s.given_name.is_none()
        && s.family_name.is_none()
        && s.roll_number.is_none()
        && s.program.is_none()
        && s.year_of_study.is_none()
        && s.department.is_none()
        && s.admitted_on.is_none()
        && s.status.is_none()
}

const PERSON_REFUSALS: &[(Word, &str, &str)] = &[
    (Word::UsernameTaken, "username", "is already taken"),
    (Word::EmailTaken, "email", "is already taken"),
    (Word::RollTaken, "roll_number", "is already taken"),
    (Word::EmployeeTaken, "employee_number", "is already taken"),
    (Word::NoDepartment, "department", "is not a department"),
];

/// What holds for every change to a person (`target`, users.id), whatever their department:
/// nobody deactivates themself (409: the last administrator could lock the campus out, and a
/// stolen session could hide its tracks), and nobody changes a person whose grants reach
/// beyond their own (403). That the institution keeps an active administrator is the
/// database's to hold (migration 0014), under concurrency too.
async fn guard_person(
    shard: &Shard,
    caller: &Caller,
    target: i64,
    status: Option<&str>,
) -> Result<(), ApiError> {
    if target == caller.principal.user_id && status == Some("tobedeleted") {
        return Err(ApiError::Conflict(
            "You cannot deactivate your own account; another administrator can.".into(),
        ));
    }
    require_covers(shard.db.primary(), &caller.principal, target).await
}

/// `POST /api/v1/students`.
pub async fn create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let s = student_in(req, true)?;
    let (
        Some(username),
        Some(given),
        Some(family),
        Some(roll),
        Some(program),
        Some(year),
        Some(dept),
    ) = (
        &s.username,
        &s.given_name,
        &s.family_name,
        &s.roll_number,
        &s.program,
        s.year_of_study,
        s.department,
    )
    else {
        return Err(ApiError::Internal);
    };
    require_department(&caller.principal, req.permission()?, dept)?;
    let ip = ip(req);
    let email = s.email.clone().flatten();
    let o = campus::change(
        shard.db.primary(),
        &STUDENT_CREATE,
        &[
            &caller.principal.user_id,
            &ip,
            username,
            &email,
            given,
            family,
            roll,
            program,
            &year,
            &dept,
            &s.admitted_on,
        ],
    )
    .await?;
    if !o.applied() {
        return Err(refused(&o, PERSON_REFUSALS, |_| None));
    }
    let id = o.id.ok_or(ApiError::Internal)?;
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
    s: &StudentIn,
) -> Result<uuid::Uuid, ApiError> {
    let caller = req.caller()?;
    let id = parse_id(req.param)?;
    let if_match = req.if_match()?;
    let current = load(shard, id).await?;
    let permission = req.permission()?;
    if !department_access(&caller.principal, permission, current.department_id) {
        return Err(ApiError::Forbidden);
    }
    if let Some(dept) = s.department {
        require_department(&caller.principal, permission, dept)?;
    }
    guard_person(shard, caller, current.id, s.status).await?;
    let ip = ip(req);
    let email_set = s.email.is_some();
    let email = s.email.clone().flatten();
    let o = campus::change(
        shard.db.primary(),
        &STUDENT_UPDATE,
        &[
            &caller.principal.user_id,
            &ip,
            &id,
            &if_match,
            &email_set,
            &email,
            &s.given_name,
            &s.family_name,
            &s.roll_number,
            &s.program,
            &s.year_of_study,
            &s.department,
            &s.admitted_on,
            &s.status,
        ],
    )
    .await?;
    if !o.applied() {
        return Err(refused(&o, PERSON_REFUSALS, |_| None));
    }
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

/// `DELETE /api/v1/students/{id}`: deactivates (the record stays; the account is disabled and
/// its tokens revoked). `If-Match` honoured.
pub async fn deactivate(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let s = StudentIn {
        username: None,
        email: None,
        given_name: None,
        family_name: None,
        roll_number: None,
        program: None,
        year_of_study: None,
        department: None,
        admitted_on: None,
        status: Some("tobedeleted"),
    };
    change_student(shard, req, &s).await?;
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
    let (mut dept, mut role, mut status, mut q) = (None, None, None, None);
    let paging =
        parse_query(req, "`department`, `role`, `status`, `q`", |k, v| {
            match k {
                "department" => dept = Some(query_uuid(k, v)?),
                "role" => {
                    role = Some(STAFF_ROLES.iter().find(|s| **s == v).copied().ok_or_else(
                        || {
                            ApiError::BadParameter(
                                "`role` is teacher, administrator or aide.".into(),
                            )
                        },
                    )?)
                }
                "status" => {
                    status = Some(STATUSES.iter().find(|s| **s == v).copied().ok_or_else(|| {
                        ApiError::BadParameter("`status` is active or tobedeleted.".into())
                    })?)
                }
                "q" => q = Some(prefix_pattern(v)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
    let rows = campus::page(
        shard.db.primary(),
        &STAFF_PAGE,
        &[
            &dept,
            &role,
            &status,
            &q,
            &paging.after,
            &(paging.limit + 1),
            &scope,
        ],
    )
    .await?;
    page_response("staff", rows, &paging)
}

async fn staff_record(shard: &Shard, req: &Request<'_>) -> Result<campus::Record, ApiError> {
    let id = path_id(req, "staff member")?;
    campus::record(shard.db.primary(), &STAFF_BY_ID, Shape::Department, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /api/v1/staff/{id}`: staff who may read the department's staff, or the person.
pub async fn staff_get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let rec = staff_record(shard, req).await?;
    let own = rec.id == caller.principal.user_id && caller.api_key.is_none();
    if !own
        && !department_access(
            &caller.principal,
            req.permission()?,
            rec.department_id.unwrap_or(0),
        )
    {
        return Err(ApiError::Forbidden);
    }
    Ok(record_response(req, rec))
}

/// What a staff member's body may say, read strictly.
pub(super) struct StaffIn {
    username: Option<String>,
    email: Option<Option<String>>,
    given_name: Option<String>,
    family_name: Option<String>,
    role: Option<&'static str>,
    employee_number: Option<String>,
    designation: Option<String>,
    department: Option<uuid::Uuid>,
    status: Option<&'static str>,
}

pub(super) fn staff_in(req: &Request<'_>, create: bool) -> Result<StaffIn, ApiError> {
    let mut f = Fields::parse(req)?;
    let s = StaffIn {
        username: if create { username(&mut f, true) } else { None },
        email: f.email("email"),
        given_name: f.text("given_name", create, 100),
        family_name: f.text("family_name", create, 100),
        role: if create {
            f.one_of("role", true, STAFF_ROLES)
        } else {
            None
        },
        employee_number: f.text("employee_number", create, 32),
        designation: f.text("designation", create, 100),
        department: f.uuid("department", create),
        status: if create {
            None
        } else {
            f.one_of("status", false, STATUSES)
        },
    };
    let empty = s.email.is_none()
        && s.given_name.is_none()
        && s.family_name.is_none()
        && s.employee_number.is_none()
        && s.designation.is_none()
        && s.department.is_none()
        && s.status.is_none();
    if !create && f.ok() && empty {
        f.bad("body", "names nothing to change");
    }
    f.finish()?;
    Ok(s)
}

/// `POST /api/v1/staff`: a teacher gets the built-in faculty role in their department, other
/// staff the staff role.
pub async fn staff_create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let s = staff_in(req, true)?;
    let (Some(dept), Some(role)) = (s.department, s.role) else {
        return Err(ApiError::Internal);
    };
    require_department(&caller.principal, req.permission()?, dept)?;
    let ip = ip(req);
    let email = s.email.clone().flatten();
    let o = campus::change(
        shard.db.primary(),
        &STAFF_CREATE,
        &[
            &caller.principal.user_id,
            &ip,
            &s.username,
            &email,
            &s.given_name,
            &s.family_name,
            &role,
            &s.employee_number,
            &s.designation,
            &dept,
        ],
    )
    .await?;
    if !o.applied() {
        return Err(refused(&o, PERSON_REFUSALS, |_| None));
    }
    let id = o.id.ok_or(ApiError::Internal)?;
    let rec = campus::record(shard.db.primary(), &STAFF_BY_ID, Shape::Department, id)
        .await?
        .ok_or(ApiError::Internal)?;
    Ok(written(201, rec).with_header("Location", format!("/api/v1/staff/{id}")))
}

async fn change_staff(
    shard: &Shard,
    req: &Request<'_>,
    s: &StaffIn,
) -> Result<uuid::Uuid, ApiError> {
    let caller = req.caller()?;
    let if_match = req.if_match()?;
    let current = staff_record(shard, req).await?;
    let permission = req.permission()?;
    if !department_access(
        &caller.principal,
        permission,
        current.department_id.unwrap_or(0),
    ) {
        return Err(ApiError::Forbidden);
    }
    if let Some(dept) = s.department {
        require_department(&caller.principal, permission, dept)?;
    }
    guard_person(shard, caller, current.id, s.status).await?;
    let id = path_id(req, "staff member")?;
    let ip = ip(req);
    let email_set = s.email.is_some();
    let email = s.email.clone().flatten();
    let o = campus::change(
        shard.db.primary(),
        &STAFF_UPDATE,
        &[
            &caller.principal.user_id,
            &ip,
            &id,
            &if_match,
            &email_set,
            &email,
            &s.given_name,
            &s.family_name,
            &s.employee_number,
            &s.designation,
            &s.department,
            &s.status,
        ],
    )
    .await?;
    if !o.applied() {
        return Err(refused(&o, PERSON_REFUSALS, |_| None));
    }
    publish_person(shard, None, o.row_id).await;
    Ok(id)
}

/// `PATCH /api/v1/staff/{id}` (`If-Match` honoured).
pub async fn staff_update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let s = staff_in(req, false)?;
    let id = change_staff(shard, req, &s).await?;
    let rec = campus::record(shard.db.primary(), &STAFF_BY_ID, Shape::Department, id)
        .await?
        .ok_or(ApiError::Internal)?;
    Ok(written(200, rec))
}

/// `DELETE /api/v1/staff/{id}`: deactivates.
pub async fn staff_deactivate(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let s = StaffIn {
        username: None,
        email: None,
        given_name: None,
        family_name: None,
        role: None,
        employee_number: None,
        designation: None,
        department: None,
        status: Some("tobedeleted"),
    };
    change_staff(shard, req, &s).await?;
    Ok(Response::empty(204))
}
