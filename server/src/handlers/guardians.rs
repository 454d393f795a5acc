//! A student's guardians, managed by registrars: `GET`, `POST` and `DELETE
//! /api/v1/students/{id}/guardians`. Reading needs `students.read` on the student (the student
//! and their guardians see the list too); linking and unlinking need `students.write` where the
//! student is. A link names an active guardian account or makes one (an invitation then gives it
//! a password). Every change is audited; an unlinked guardian's next read of the student is
//! refused on every instance, because the guardian rule reads `guardianships`, never a cache.

use campushub_db::queries::campus;
use campushub_db::queries::word::Word;
use campushub_db::statements::{GUARDIAN_LINK, GUARDIAN_UNLINK, STUDENT_GUARDIANS};

use super::campus::{apply, array_response, publish, query_uuid};
use super::fields::Fields;
use super::students::{allow_student, load, parse_id};
use super::Request;
use crate::api_error::ApiError;
use crate::auth::access::allow_department;
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

const RELATIONSHIPS: &[&str] = &["parent", "guardian", "relative", "other"];

const LINK_REFUSALS: &[(Word, &str, &str)] = &[
    (
        Word::NoUser,
        "guardian",
        "is not an active guardian account",
    ),
    (
        Word::UsernameTaken,
        "new_guardian.username",
        "is already taken",
    ),
    (Word::EmailTaken, "new_guardian.email", "is already taken"),
];

/// `GET /api/v1/students/{id}/guardians`.
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let s = load(shard, parse_id(req.param)?).await?;
    allow_student(shard, caller, req.permission()?, &s).await?;
    let doc = campus::document(shard.db.primary(), &STUDENT_GUARDIANS, &[&s.id]).await?;
    Ok(array_response("guardians", doc).with_header("Cache-Control", "private, no-store"))
}

/// The new guardian of a link that makes one.
struct NewGuardian {
    username: Option<String>,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
}

/// `POST /api/v1/students/{id}/guardians`: `{"guardian": id, "relationship": ...}` links an
/// active guardian account; `{"new_guardian": {"username", "email", "given_name",
/// "family_name"}, "relationship": ...}` makes the account and links it. Linking again changes
/// the relationship. 201 with the student's guardians.
pub async fn link(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut f = Fields::parse(req)?;
    let relationship = f.one_of("relationship", true, RELATIONSHIPS);
    let guardian = f.uuid("guardian", false);
    let mut new = None;
    if let Some(mut g) = f.object("new_guardian") {
        new = Some(NewGuardian {
            username: super::people::username(&mut g, true),
            email: g.email("email").flatten(),
            given_name: g.text("given_name", true, 100),
            family_name: g.text("family_name", true, 100),
        });
        f.absorb(g);
    }
    if f.ok() && guardian.is_some() == new.is_some() {
        f.bad(
            "guardian",
            "name an existing guardian (`guardian`) or a new one (`new_guardian`), not both",
        );
    }
    f.finish()?;
    let s = load(shard, parse_id(req.param)?).await?;
    let principal = &req.caller()?.principal;
    allow_department(principal, Permission::StudentsWrite, s.department_id)?;
    let student = parse_id(req.param)?;
    let n = new.as_ref();
    let o = apply(
        shard,
        req,
        &GUARDIAN_LINK,
        &[
            &student,
            &guardian,
            &relationship,
            &n.and_then(|g| g.username.clone()),
            &n.and_then(|g| g.email.clone()),
            &n.and_then(|g| g.given_name.clone()),
            &n.and_then(|g| g.family_name.clone()),
        ],
        LINK_REFUSALS,
    )
    .await?;
    if let Some(user) = o.row_id {
        publish(shard, campushub_cache::Invalidation::User(user)).await;
    }
    let doc = campus::document(shard.db.primary(), &STUDENT_GUARDIANS, &[&s.id]).await?;
    let mut r = array_response("guardians", doc);
    r.status = 201;
    Ok(r)
}

/// `DELETE /api/v1/students/{id}/guardians?guardian=ID`: ends the link (the guardian's account
/// stays).
pub async fn unlink(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut guardian = None;
    for pair in super::query_pairs(req.query) {
        let (k, v) = pair?;
        if k != "guardian" {
            return Err(ApiError::BadParameter(
                "This route takes `guardian` (the guardian's id).".into(),
            ));
        }
        guardian = Some(query_uuid("guardian", &v)?);
    }
    let guardian = guardian.ok_or_else(|| {
        ApiError::BadParameter("`guardian` (the guardian's id) is required.".into())
    })?;
    let s = load(shard, parse_id(req.param)?).await?;
    let principal = &req.caller()?.principal;
    allow_department(principal, Permission::StudentsWrite, s.department_id)?;
    let student = parse_id(req.param)?;
    let o = apply(shard, req, &GUARDIAN_UNLINK, &[&student, &guardian], &[]).await?;
    if let Some(user) = o.row_id {
        publish(shard, campushub_cache::Invalidation::User(user)).await;
    }
    Ok(Response::empty(204))
}
