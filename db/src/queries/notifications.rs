//! A person's notice preferences (migration 0017): which kinds they get by email.

use crate::statements::{NOTIFICATION_CHOOSE, NOTIFICATION_PREFS};
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
