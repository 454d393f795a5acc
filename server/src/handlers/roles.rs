//! Role and binding management (`/api/v1/roles`, `/api/v1/role-bindings`) and
//! `POST /api/v1/authz/explain`. All need `roles.manage` for the whole institution. Every
//! change is one statement that also writes its audit event and takes a new authorisation
//! version; it is then published so every shard of every instance drops what it made stale.

use campushub_cache::{Invalidation, Message};
use campushub_db::queries::access::{self as q, Change};
use campushub_db::queries::word::Word;
use serde::{Deserialize, Serialize};

use super::{json, json_body, query_pairs, Request, ScopeDto, ScopeIn};
use crate::api_error::ApiError;
use crate::auth::access::{self, Reason};
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

/// Most permissions one role may carry.
const MAX_PERMISSIONS: usize = 64;

fn valid_role_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn check_permissions(perms: &[String]) -> Result<(), ApiError> {
    if perms.len() > MAX_PERMISSIONS {
        return Err(ApiError::Unprocessable(format!(
            "A role carries at most {MAX_PERMISSIONS} permissions."
        )));
    }
    for p in perms {
        let ok = p.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.bytes().chain(b.bytes())).all(|c| c.is_ascii_lowercase() || c == b'_')
        });
        if !ok {
            return Err(ApiError::Unprocessable(format!(
                "{p:?} is not a permission name like students.read."
            )));
        }
    }
    Ok(())
}

/// The outcome of a change as an API error, when it was not applied.
fn refused(c: &Change, what: &str) -> ApiError {
    match c.outcome {
        Word::NotFound => ApiError::NotFound,
        Word::Exists => ApiError::Conflict(format!("{what} already exists.")),
        Word::Builtin => ApiError::Conflict("Built-in roles cannot be changed or deleted.".into()),
        Word::InUse => ApiError::Conflict(
            "The role is still bound to someone; remove its bindings first.".into(),
        ),
        Word::UnknownPermission => {
            ApiError::Unprocessable("One of the permissions does not exist.".into())
        }
        Word::NoUser => ApiError::Unprocessable("`user` is not a known user.".into()),
        Word::NoRole => ApiError::Unprocessable("`role` is not a known role.".into()),
        Word::NoScope => ApiError::Unprocessable(
            "`scope` does not name an institution, department or class of that type.".into(),
        ),
        _ => ApiError::Internal,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Role)]
pub(crate) struct RoleDto<'a> {
    name: &'a str,
    description: &'a str,
    builtin: bool,
    permissions: &'a [String],
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = RoleList)]
pub(crate) struct RolesDto<'a> {
    roles: Vec<RoleDto<'a>>,
}

fn role_dto(r: &q::Role) -> RoleDto<'_> {
    RoleDto {
        name: &r.name,
        description: &r.description,
        builtin: r.builtin,
        permissions: &r.permissions,
    }
}

/// `GET /api/v1/roles`.
pub async fn list(shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    let roles = q::roles(shard.db.primary()).await?;
    let body = json(&RolesDto {
        roles: roles.iter().map(role_dto).collect(),
    })?;
    Ok(Response::json(200, body))
}

async fn find_role(shard: &Shard, name: &str) -> Result<q::Role, ApiError> {
    q::roles(shard.db.primary())
        .await?
        .into_iter()
        .find(|r| r.name == name)
        .ok_or(ApiError::NotFound)
}

/// `GET /api/v1/roles/{name}`.
pub async fn get(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let role = find_role(shard, req.param).await?;
    Ok(Response::json(200, json(&role_dto(&role))?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    name: String,
    description: String,
    permissions: Vec<String>,
}

/// `POST /api/v1/roles`: a custom role.
pub async fn create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let body: NewRole = json_body(req)?;
    if !valid_role_name(&body.name) {
        return Err(ApiError::Unprocessable(
            "`name` is 1-63 lower-case letters, digits or _, starting with a letter.".into(),
        ));
    }
    if body.description.trim().is_empty()
        || body.description.len() > 500
        || super::fields::has_control(&body.description)
    {
        return Err(ApiError::Unprocessable(
            "`description` is required, at most 500 bytes, without control or invisible formatting characters.".into(),
        ));
    }
    check_permissions(&body.permissions)?;
    let ip = req.peer.to_string();
    let change = q::create_role(
        shard.db.primary(),
        caller.actor(&ip),
        &body.name,
        &body.description,
        &body.permissions,
    )
    .await?;
    if !change.applied() {
        return Err(refused(&change, "A role with this name"));
    }
    // Nobody holds a new role yet: nothing is stale, nothing to publish.
    let role = find_role(shard, &body.name).await?;
    Ok(Response::json(201, json(&role_dto(&role))?)
        .with_header("Location", format!("/api/v1/roles/{}", body.name)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RolePatch {
    description: Option<String>,
    permissions: Option<Vec<String>>,
}

/// `PATCH /api/v1/roles/{name}`: a custom role's description and/or permission set.
pub async fn update(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let body: RolePatch = json_body(req)?;
    if let Some(d) = &body.description {
        if d.trim().is_empty() || d.len() > 500 || super::fields::has_control(d) {
            return Err(ApiError::Unprocessable(
                "`description` must not be empty, at most 500 bytes, without control or invisible formatting characters.".into(),
            ));
        }
    }
    if let Some(p) = &body.permissions {
        check_permissions(p)?;
    }
    let ip = req.peer.to_string();
    let change = q::update_role(
        shard.db.primary(),
        caller.actor(&ip),
        req.param,
        body.description.as_deref(),
        body.permissions.as_deref(),
    )
    .await?;
    if !change.applied() {
        return Err(refused(&change, "The role"));
    }
    publish_role(shard, &change).await;
    let role = find_role(shard, req.param).await?;
    Ok(Response::json(200, json(&role_dto(&role))?))
}

/// `DELETE /api/v1/roles/{name}`: a custom role nobody holds.
pub async fn delete(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let ip = req.peer.to_string();
    let change = q::delete_role(shard.db.primary(), caller.actor(&ip), req.param).await?;
    if !change.applied() {
        return Err(refused(&change, "The role"));
    }
    publish_role(shard, &change).await;
    Ok(Response::empty(204))
}

async fn publish_role(shard: &Shard, change: &Change) {
    if let (Some(version), Some(role)) = (change.version, change.role_id) {
        shard
            .invalidate(Message {
                version,
                what: Invalidation::Role(role),
            })
            .await;
    }
}

async fn publish_user(shard: &Shard, change: &Change) {
    if let (Some(version), Some(user)) = (change.version, change.user_id) {
        shard
            .invalidate(Message {
                version,
                what: Invalidation::User(user),
            })
            .await;
    }
}

fn parse_uuid(what: &str, v: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(v)
        .map_err(|_| ApiError::BadParameter(format!("`{what}` must be a UUID.")))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Binding)]
pub(crate) struct BindingDto<'a> {
    sourced_id: String,
    role: &'a str,
    scope: ScopeDto<'a>,
    created_at: &'a str,
}

pub(crate) fn binding_dto(b: &q::Binding) -> BindingDto<'_> {
    BindingDto {
        sourced_id: b.sourced_id.hyphenated().to_string(),
        role: &b.role,
        scope: ScopeDto::new(&b.scope_type, b.scope_sourced_id),
        created_at: &b.created_at,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = BindingList)]
pub(crate) struct BindingsDto<'a> {
    user: String,
    bindings: Vec<BindingDto<'a>>,
}

/// `GET /api/v1/role-bindings?user={id}`: one user's bindings.
pub async fn list_bindings(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut user = None;
    for pair in query_pairs(req.query) {
        let (k, v) = pair?;
        match k.as_str() {
            "user" => user = Some(parse_uuid("user", &v)?),
            _ => {
                return Err(ApiError::BadParameter(
                    "This route takes `user` (a user's id).".into(),
                ))
            }
        }
    }
    let user =
        user.ok_or_else(|| ApiError::BadParameter("`user` (a user's id) is required.".into()))?;
    let list = q::bindings_of(shard.db.primary(), user).await?;
    let body = json(&BindingsDto {
        user: user.hyphenated().to_string(),
        bindings: list.iter().map(binding_dto).collect(),
    })?;
    Ok(Response::json(200, body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewBinding {
    user: String,
    role: String,
    scope: ScopeIn,
}

/// `POST /api/v1/role-bindings`: gives a user a role at a scope.
pub async fn create_binding(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let body: NewBinding = json_body(req)?;
    let unprocessable = |m: &str| ApiError::Unprocessable(m.into());
    let user = uuid::Uuid::try_parse(&body.user)
        .map_err(|_| unprocessable("`user` must be a user's id (UUID)."))?;
    let (scope_type, scope) = body.scope.parse()?;
    if !valid_role_name(&body.role) {
        return Err(unprocessable("`role` is not a role name."));
    }
    let ip = req.peer.to_string();
    let change = q::create_binding(
        shard.db.primary(),
        caller.actor(&ip),
        user,
        &body.role,
        scope_type,
        scope,
    )
    .await?;
    if !change.applied() {
        return Err(refused(&change, "This binding"));
    }
    publish_user(shard, &change).await;
    let id = change.binding.ok_or(ApiError::Internal)?;
    let list = q::bindings_of(shard.db.primary(), user).await?;
    let b = list
        .iter()
        .find(|b| b.sourced_id == id)
        .ok_or(ApiError::Internal)?;
    let body = json(&binding_dto(b))?;
    Ok(Response::json(201, body).with_header(
        "Location",
        format!("/api/v1/role-bindings/{}", id.hyphenated()),
    ))
}

/// `DELETE /api/v1/role-bindings/{id}`.
pub async fn delete_binding(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let id = parse_uuid("id", req.param)?;
    let ip = req.peer.to_string();
    let change = q::delete_binding(shard.db.primary(), caller.actor(&ip), id).await?;
    if !change.applied() {
        return Err(refused(&change, "The binding"));
    }
    publish_user(shard, &change).await;
    Ok(Response::empty(204))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExplainIn {
    user: String,
    permission: String,
    student: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Decision)]
pub(crate) struct DecidedBy<'a> {
    rule: &'static str,
    role: Option<&'a str>,
    scope: Option<ScopeDto<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Explanation)]
pub(crate) struct ExplainDto<'a> {
    allowed: bool,
    user: &'a str,
    permission: &'a str,
    student: Option<&'a str>,
    decided_by: Option<DecidedBy<'a>>,
}

/// `POST /api/v1/authz/explain`: would this user be allowed this permission (on this
/// student's records, or institution-wide when no student is named), and which rule or
/// binding decides.
pub async fn explain(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let body: ExplainIn = json_body(req)?;
    let user = uuid::Uuid::try_parse(&body.user)
        .map_err(|_| ApiError::Unprocessable("`user` must be a user's id (UUID).".into()))?;
    check_permissions(std::slice::from_ref(&body.permission))?;
    let uid = q::user_id(shard.db.primary(), user)
        .await?
        .ok_or_else(|| ApiError::Unprocessable("`user` is not a known user.".into()))?;
    let principal = access::principal(
        &shard.principals,
        shard.db.primary(),
        shard.cache_ttl(),
        uid,
    )
    .await?
    .ok_or_else(|| ApiError::Unprocessable("`user` is not a known user.".into()))?;
    let permission = Permission::parse(&body.permission).ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "{:?} is not a permission this server checks.",
            body.permission
        ))
    })?;
    let reason = match &body.student {
        Some(s) => {
            let sid = uuid::Uuid::try_parse(s)
                .map_err(|_| ApiError::Unprocessable("`student` must be a UUID.".into()))?;
            let student = super::students::load(shard, sid).await?;
            access::student_access(
                shard.db.primary(),
                &principal,
                permission,
                student.id,
                student.department_id,
            )
            .await?
        }
        None => principal.institution_grant(permission).map(Reason::Binding),
    };
    let allowed = reason.is_some() && principal.usable;
    let decided_by = reason.as_ref().map(|r| match r {
        Reason::Own => DecidedBy {
            rule: "own record (student role)",
            role: Some("student"),
            scope: None,
        },
        Reason::Guardian => DecidedBy {
            rule: "linked student (guardian role)",
            role: Some("guardian"),
            scope: None,
        },
        Reason::Binding(g) => DecidedBy {
            rule: "role binding",
            role: Some(&g.role),
            scope: Some(ScopeDto::new(&g.scope_type, g.scope_sourced_id)),
        },
    });
    let body = json(&ExplainDto {
        allowed,
        user: &body.user,
        permission: &body.permission,
        student: body.student.as_deref(),
        decided_by,
    })?;
    Ok(Response::json(200, body))
}
