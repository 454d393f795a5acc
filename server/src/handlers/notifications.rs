//! A person's notices: which kinds they get by email (`GET` and `PATCH
//! /api/v1/me/notifications`), and the unsubscribe link of every notice, which turns its kind
//! off without logging in (`POST /api/v1/notifications/unsubscribe`: the page
//! `/account/unsubscribe` sends JSON; a mail client's one-click (RFC 8058) sends the link's
//! query and a form body, which is ignored). Every change is audited.

use campushub_db::queries::access::user_id;
use campushub_db::queries::notifications;
use serde::{Deserialize, Serialize};

use super::{json, json_body, query_pairs, Request};
use crate::api_error::{ApiError, FieldError};
use crate::auth::links::{self, NOTICE_KINDS};
use crate::http::Response;
use crate::shard::Shard;

/// Which notices a person gets by email.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NotificationPreferences)]
pub(crate) struct Preferences {
    /// Absence alerts (guardians; students where the institution sends them theirs).
    absence: bool,
    /// Published results (students and their guardians).
    results: bool,
}

/// `PATCH /api/v1/me/notifications`: the kinds to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotificationPreferencesPatch)]
pub(crate) struct PreferencesPatch {
    absence: Option<bool>,
    results: Option<bool>,
}

async fn current(shard: &Shard, user: i64) -> Result<Response, ApiError> {
    let (absence, results) = notifications::preferences(shard.db.primary(), user).await?;
    Ok(
        Response::json(200, json(&Preferences { absence, results })?)
            .with_header("Cache-Control", "private, no-store"),
    )
}

/// `GET /api/v1/me/notifications`.
pub async fn mine(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    current(shard, req.caller()?.principal.user_id).await
}

/// `PATCH /api/v1/me/notifications {absence?, results?}`.
pub async fn choose(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let user = req.caller()?.principal.user_id;
    let body: PreferencesPatch = json_body(req)?;
    if body.absence.is_none() && body.results.is_none() {
        return Err(ApiError::Unprocessable(
            "Name at least one of `absence` and `results` (true or false).".into(),
        ));
    }
    let ip = req.peer.to_string();
    for (kind, on) in [("absence", body.absence), ("results", body.results)] {
        if let Some(on) = on {
            notifications::choose(shard.db.primary(), user, kind, on, &ip, "api").await?;
        }
    }
    current(shard, user).await
}

/// `POST /api/v1/notifications/unsubscribe`: the link's three parts.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UnsubscribeRequest)]
pub(crate) struct UnsubscribeBody {
    /// The person (public id).
    user: Option<String>,
    /// `absence` or `results`.
    kind: Option<String>,
    /// The link's token.
    token: Option<String>,
}

/// What an unsubscribe did.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Unsubscribed)]
pub(crate) struct Unsubscribed {
    kind: String,
    email: bool,
}

/// `POST /api/v1/notifications/unsubscribe`: turns one kind of notice off for the person the
/// link names, when its token is theirs.
pub async fn unsubscribe(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let mut from_query = UnsubscribeBody {
        user: None,
        kind: None,
        token: None,
    };
    for pair in query_pairs(req.query) {
        let (k, v) = pair?;
        match k.as_str() {
            "u" => from_query.user = Some(v),
            "k" => from_query.kind = Some(v),
            "t" => from_query.token = Some(v),
            _ => return Err(ApiError::BadParameter(
                "This route takes `u`, `k` and `t` (the one-click link), or none and a JSON body."
                    .into(),
            )),
        }
    }
    // A one-click request (the link's query; the form body says only "One-Click"), or JSON.
    let link = if from_query.user.is_some() || from_query.token.is_some() {
        from_query
    } else {
        json_body(req)?
    };
    let key = super::accounts::link_key(shard)?;
    let kind = link.kind.unwrap_or_default();
    if !NOTICE_KINDS.contains(&kind.as_str()) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "kind",
            "is absence or results",
        )]));
    }
    let refused = || {
        ApiError::Invalid(vec![FieldError::new(
            "token",
            "This unsubscribe link is not valid; check that it was copied whole, or change your choices in campushub.",
        )])
    };
    let person = link
        .user
        .as_deref()
        .and_then(|u| uuid::Uuid::try_parse(u).ok())
        .ok_or_else(refused)?;
    if !links::unsubscribe_token_ok(key, person, &kind, link.token.as_deref().unwrap_or("")) {
        return Err(refused());
    }
    let db = shard.db.primary();
    let user = user_id(db, person).await?.ok_or_else(refused)?;
    let ip = req.peer.to_string();
    notifications::choose(db, user, &kind, false, &ip, "unsubscribe link").await?;
    Ok(Response::json(
        200,
        json(&Unsubscribed { kind, email: false })?,
    ))
}

/// The institution's notice settings.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NotificationSettings)]
pub(crate) struct Settings {
    /// Seconds between a register's submission and its absence alerts (0 to 86,400): a mark
    /// corrected within them sends nothing.
    absence_delay_s: i32,
    /// Whether students get their own absence alerts (guardians always may).
    absence_to_students: bool,
}

/// `PATCH /api/v1/admin/notification-settings`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotificationSettingsPatch)]
pub(crate) struct SettingsPatch {
    absence_delay_s: Option<i32>,
    absence_to_students: Option<bool>,
}

/// `GET /api/v1/admin/notification-settings`.
pub async fn settings(shard: &Shard, _req: &Request<'_>) -> Result<Response, ApiError> {
    let (absence_delay_s, absence_to_students) =
        notifications::settings(shard.db.primary()).await?;
    let body = Settings {
        absence_delay_s,
        absence_to_students,
    };
    Ok(Response::json(200, json(&body)?))
}

/// `PATCH /api/v1/admin/notification-settings {absence_delay_s?, absence_to_students?}`
/// (audited).
pub async fn save_settings(shard: &Shard, req: &Request<'_>) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    let body: SettingsPatch = json_body(req)?;
    if body.absence_delay_s.is_none() && body.absence_to_students.is_none() {
        return Err(ApiError::Unprocessable(
            "Name at least one of `absence_delay_s` and `absence_to_students`.".into(),
        ));
    }
    if body
        .absence_delay_s
        .is_some_and(|d| !(0..=86_400).contains(&d))
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "absence_delay_s",
            "must be 0 to 86400 seconds",
        )]));
    }
    let ip = req.peer.to_string();
    let (absence_delay_s, absence_to_students) = notifications::save_settings(
        shard.db.primary(),
        caller.principal.user_id,
        &ip,
        body.absence_delay_s,
        body.absence_to_students,
    )
    .await?;
    let body = Settings {
        absence_delay_s,
        absence_to_students,
    };
    Ok(Response::json(200, json(&body)?))
}
