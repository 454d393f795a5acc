//! `POST /api/v1/admin/cache/clear`: drops every cached entry (profiles, principals, API keys,
//! summaries) on every shard of every instance, for an administrator who changed data behind
//! the API's back (a bulk import, a manual fix in SQL). Audited.

use campushub_db::audit::{self, Event};

use super::Request;
use crate::api_error::ApiError;
use crate::http::Response;
use crate::shard::Shard;

/// `POST /api/v1/admin/cache/clear` (`cache.manage` for the whole institution).
pub async fn clear_cache(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let before = shard.cache_stats().iter().map(|c| c.entries).sum::<u64>();
    audit::append(
        shard.db.primary(),
        &Event {
            actor: Some(caller.principal.user_id),
            action: "cache.cleared",
            target_type: None,
            target_id: None,
            ip: Some(req.peer.to_string()),
            details: Some(format!("{{\"entries_on_this_shard\":{before}}}")),
        },
    )
    .await?;
    // The shared level too, when this server uses one (`null`: Redis did not answer; its
    // entries then expire within a minute).
    let shared = super::students::forget_everything(shard).await;
    let body = CacheCleared {
        cleared: true,
        entries_dropped_on_this_shard: before,
        shared_entries_dropped: shared,
    };
    Ok(Response::json(200, super::json(&body)?))
}

/// What `POST /api/v1/admin/cache/clear` dropped.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CacheCleared {
    cleared: bool,
    /// Entries of every cache of the shard that answered (the others drop theirs on the bus).
    entries_dropped_on_this_shard: u64,
    /// Entries of the shared level in Redis; `null` when Redis did not answer (they then
    /// expire within a minute).
    shared_entries_dropped: Option<u64>,
}
