//! A person's notice preferences (migration 0017): which kinds they get by email.

use crate::statements::{
    NOTIFICATION_CHOOSE, NOTIFICATION_PREFS, NOTIFICATION_SETTINGS, NOTIFICATION_SETTINGS_SAVE,
};
use crate::{DbError, Pool};

/// Whether user `user` takes (absence, results) notices by email.
pub async fn preferences(pool: &Pool, user: i64) -> Result<(bool, bool), DbError> {
    let row = pool
        .query_opt(&NOTIFICATION_PREFS, &[&user])
        .await?
        .ok_or_else(|| DbError::undecodable(&NOTIFICATION_PREFS, "no row"))?;
    let bad = |e| DbError::undecodable(&NOTIFICATION_PREFS, e);
    Ok((row.try_get(0).map_err(bad)?, row.try_get(1).map_err(bad)?))
}

/// Turns notice `kind` on or off for user `user`, from `ip`, `via` the API or a link
/// (audited when it changes): whether it changed.
pub async fn choose(
    pool: &Pool,
    user: i64,
    kind: &str,
    on: bool,
    ip: &str,
    via: &str,
) -> Result<bool, DbError> {
    let row = pool
        .query_opt(&NOTIFICATION_CHOOSE, &[&user, &kind, &on, &ip, &via])
        .await?
        .ok_or_else(|| DbError::undecodable(&NOTIFICATION_CHOOSE, "no row"))?;
    row.try_get(0)
        .map_err(|e| DbError::undecodable(&NOTIFICATION_CHOOSE, e))
}

/// The institution's settings: (seconds between a submission and its absence alerts, whether
/// students get their own alerts).
pub async fn settings(pool: &Pool) -> Result<(i32, bool), DbError> {
    let row = pool
        .query_opt(&NOTIFICATION_SETTINGS, &[])
        .await?
        .ok_or_else(|| DbError::undecodable(&NOTIFICATION_SETTINGS, "no row"))?;
    let bad = |e| DbError::undecodable(&NOTIFICATION_SETTINGS, e);
    Ok((row.try_get(0).map_err(bad)?, row.try_get(1).map_err(bad)?))
}

/// Changes them (None keeps), audited as `actor` from `ip`: the settings after.
pub async fn save_settings(
    pool: &Pool,
    actor: i64,
    ip: &str,
    delay_s: Option<i32>,
    to_students: Option<bool>,
) -> Result<(i32, bool), DbError> {
    let row = pool
        .query_opt(
            &NOTIFICATION_SETTINGS_SAVE,
            &[&actor, &ip, &delay_s, &to_students],
        )
        .await?
        .ok_or_else(|| DbError::undecodable(&NOTIFICATION_SETTINGS_SAVE, "no row"))?;
    let bad = |e| DbError::undecodable(&NOTIFICATION_SETTINGS_SAVE, e);
    Ok((row.try_get(0).map_err(bad)?, row.try_get(1).map_err(bad)?))
}
