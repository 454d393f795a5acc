//! `/api/v1/api-keys`: create (the secret is shown once), list one's own keys by prefix, and
//! revoke. Creating needs `api_keys.manage` for the whole institution and a user's own log-in
//! (a key cannot make keys); each key carries its own scoped bindings, never more than its
//! creator holds. Creation and revocation are audited; a revocation reaches every shard of
//! every instance through the invalidation bus.

use campushub_cache::{Invalidation, Message};
use campushub_db::queries::api_keys;
use campushub_db::queries::word::Word;
use serde::{Deserialize, Serialize};

use super::{json, json_body, Request, ScopeIn};
use crate::api_error::ApiError;
use crate::auth::rule::Permission;
use crate::http::Response;
use crate::shard::Shard;

/// The permission that makes and revokes keys.
const MANAGE: Permission = Permission::ApiKeysManage;
/// Most bindings one key may carry.
const MAX_BINDINGS: usize = 16;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KeyBindingIn)]
pub(crate) struct BindingIn {
    role: String,
    scope: ScopeIn,
}

/// `POST /api/v1/api-keys`: a name, a lifetime in days (default and most: the server's), and
/// the roles the key carries, each at a scope the creator holds.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewApiKey)]
pub(crate) struct NewKey {
    name: String,
    expires_in_days: Option<i32>,
    bindings: Vec<BindingIn>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = KeyBinding)]
pub(crate) struct BindingOut<'a> {
    role: &'a str,
    scope_type: &'a str,
    scope: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CreatedApiKey)]
pub(crate) struct CreatedDto<'a> {
    sourced_id: String,
    name: &'a str,
    prefix: &'a str,
    /// The whole key: shown this once, never again.
    key: &'a str,
    expires_in_days: i32,
}

/// `POST /api/v1/api-keys`.
pub async fn create(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let body: NewKey = json_body(req)?;
    let bad = |m: &str| ApiError::Unprocessable(m.into());
    if body.name.trim().is_empty() || body.name.len() > 100 {
        return Err(bad("`name` is required, at most 100 bytes."));
    }
    if super::fields::has_control(&body.name) {
        return Err(bad(
            "`name` must not contain control or invisible formatting characters.",
        ));
    }
    // Every key expires: absent means the longest lifetime the server allows.
    let max_days = i32::try_from(shard.config.api_key_max_days).unwrap_or(i32::MAX);
    let expires_in_days = body.expires_in_days.unwrap_or(max_days);
    if !(1..=max_days).contains(&expires_in_days) {
        return Err(ApiError::Unprocessable(format!(
            "`expires_in_days` is 1 to {max_days} (absent: {max_days})."
        )));
    }
    if body.bindings.is_empty() || body.bindings.len() > MAX_BINDINGS {
        return Err(ApiError::Unprocessable(format!(
            "`bindings` lists 1 to {MAX_BINDINGS} roles, each with a scope."
        )));
    }
    let mut bindings = Vec::with_capacity(body.bindings.len());
    for b in &body.bindings {
        let (scope_type, scope) = b.scope.parse()?;
        bindings.push(BindingOut {
            role: &b.role,
            scope_type,
            scope: scope.hyphenated().to_string(),
        });
    }
    let bindings_json = serde_json::to_string(&bindings).map_err(|_| ApiError::Internal)?;
    let (key, prefix, hash) = crate::auth::api_keys::generate();
    let ip = req.peer.to_string();
    let created = api_keys::create(
        shard.db.primary(),
        caller.actor(&ip),
        &prefix,
        &hash,
        &body.name,
        Some(expires_in_days),
        &bindings_json,
    )
    .await?;
    let detail = created.detail.as_deref().unwrap_or("");
    let id = match (created.outcome, created.key) {
        (Word::Ok, Some(id)) => id,
        (Word::NoRole, _) => {
            return Err(ApiError::Unprocessable(format!(
                "{detail:?} is not a known role."
            )))
        }
        (Word::NoScope, _) => {
            return Err(ApiError::Unprocessable(format!(
                "{detail:?} is not an institution, department or class of the given type."
            )))
        }
        (Word::SelfOnly, _) => {
            return Err(ApiError::Unprocessable(format!(
                "{detail:?} grants only on its holder's own or linked records; it cannot be given to a key."
            )))
        }
        (Word::ExceedsCreator, _) => {
            return Err(ApiError::Unprocessable(format!(
                "The key would grant `{detail}`, which you do not hold at that scope; a key never grants more than its creator."
            )))
        }
        _ => return Err(ApiError::Internal),
    };
    let id = id.hyphenated().to_string();
    let dto = CreatedDto {
        sourced_id: id.clone(),
        name: &body.name,
        prefix: &prefix,
        key: &key,
        expires_in_days,
    };
    Ok(Response::json(201, json(&dto)?)
        .with_header("Cache-Control", "no-store")
        .with_header("Location", format!("/api/v1/api-keys/{id}")))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiKey)]
pub(crate) struct ListedDto<'a> {
    sourced_id: String,
    name: &'a str,
    prefix: &'a str,
    created_at: &'a str,
    expires_at: Option<&'a str>,
    last_used_at: Option<&'a str>,
    revoked_at: Option<&'a str>,
    bindings: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiKeyList)]
pub(crate) struct ListDto<'a> {
    api_keys: Vec<ListedDto<'a>>,
}

/// `GET /api/v1/api-keys`: the caller's own keys, newest first, by prefix (never the secret).
pub async fn list(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let keys = api_keys::of_owner(shard.db.primary(), caller.principal.user_id).await?;
    let api_keys = keys
        .iter()
        .map(|k| {
            Ok(ListedDto {
                sourced_id: k.sourced_id.hyphenated().to_string(),
                name: &k.name,
                prefix: &k.prefix,
                created_at: &k.created_at,
                expires_at: k.expires_at.as_deref(),
                last_used_at: k.last_used_at.as_deref(),
                revoked_at: k.revoked_at.as_deref(),
                bindings: serde_json::from_str(&k.bindings_json).map_err(|_| ApiError::Internal)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Response::json(200, json(&ListDto { api_keys })?))
}

/// `DELETE /api/v1/api-keys/{id}`: the caller's own key, or, for holders of `api_keys.manage`
/// for the whole institution, a key whose owner holds no grant beyond the caller's (404
/// otherwise, as for a key that does not exist). It stops working on every shard of every
/// instance.
pub async fn revoke(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let id = uuid::Uuid::try_parse(req.param)
        .map_err(|_| ApiError::BadParameter("The key id must be a UUID.".into()))?;
    // Anyone's key for an institution-wide manager, but only a key whose owner holds no
    // grant beyond the manager's own: revoking an administrator's integration is the
    // administrator's business (or another administrator's).
    let mut any = caller.principal.institution_grant(MANAGE).is_some();
    if any {
        match api_keys::owner(shard.db.primary(), id).await? {
            Some(owner) if owner != caller.principal.user_id => {
                any =
                    crate::auth::access::covers_user(shard.db.primary(), &caller.principal, owner)
                        .await?;
            }
            _ => {}
        }
    }
    let ip = req.peer.to_string();
    let revoked = api_keys::revoke(shard.db.primary(), caller.actor(&ip), id, any).await?;
    let Some((key_id, version)) = revoked else {
        return Err(ApiError::NotFound);
    };
    shard
        .invalidate(Message {
            version,
            what: Invalidation::ApiKey(key_id),
        })
        .await;
    Ok(Response::empty(204))
}
