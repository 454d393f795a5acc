//! Failed credential checks and what they cost the next attempt: growing delays, then a lock,
//! per (throttle subject, client address), and a lock of the subject for every address at a
//! higher count. A subject is `u:<users.id>` for an account and `n:<name>` for a name that
//! matches none, so real and unknown names get the same answers.
//!
//! Why per address: a lock anyone can trigger is a way to lock anyone out. Guessing from one
//! address is slowed (no delay for two typos, then 1, 2, 4 ... s) and stopped at
//! `login_max_failures`; only `login_account_max_failures` failures from all addresses together
//! lock the account for everyone, and even then a right password plus a one-time code from an
//! address that is not itself locked gets through (MFA accounts; see `handlers::auth::login`).

use campushub_db::queries::users::{self, Throttle};

use crate::api_error::ApiError;
use crate::shard::Shard;

fn ceil_s(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        s.ceil() as u64
    } else {
        1
    }
}

/// Refuses an attempt from an address that is locked out of the subject (423) or must still
/// wait after its last failure (429), before any password or code is checked.
pub fn gate(t: &Throttle) -> Result<(), ApiError> {
    if let Some(until) = &t.locked_until {
        return Err(ApiError::AccountLocked(until.clone(), ceil_s(t.wait_s)));
    }
    if t.wait_s > 0.0 {
        return Err(ApiError::LoginThrottled(ceil_s(t.wait_s)));
    }
    Ok(())
}

/// The 423 of a subject locked for every address, if it is.
pub fn subject_lock(t: &Throttle) -> Option<ApiError> {
    t.subject_locked_until
        .as_ref()
        .map(|until| ApiError::AccountLocked(until.clone(), ceil_s(t.subject_wait_s)))
}

/// Counts a failure of `subject` from `peer`; returns the lock it caused or was already under
/// (pair first, then subject), if any.
pub async fn fail(
    shard: &Shard,
    subject: &str,
    peer: std::net::IpAddr,
) -> Result<Option<ApiError>, ApiError> {
    let c = &shard.config;
    let t = users::login_failed(
        shard.db.primary(),
        subject,
        &peer.to_string(),
        c.login_window.as_secs_f64(),
        i32::try_from(c.login_max_failures).unwrap_or(i32::MAX),
        i32::try_from(c.login_account_max_failures).unwrap_or(i32::MAX),
    )
    .await?;
    Ok(match &t.locked_until {
        Some(until) => Some(ApiError::AccountLocked(until.clone(), ceil_s(t.wait_s))),
        None => subject_lock(&t),
    })
}

/// Refuses an authenticated credential check (password change, MFA removal, a one-time code)
/// from an address locked out of the account or still waiting after a failure.
pub async fn gate_user(shard: &Shard, user: i64, peer: std::net::IpAddr) -> Result<(), ApiError> {
    let t = users::throttle(
        shard.db.primary(),
        &users::subject_of(user),
        &peer.to_string(),
    )
    .await?;
    gate(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(locked: Option<&str>, wait_s: f64) -> Throttle {
        Throttle {
            failures: 3,
            locked_until: locked.map(str::to_string),
            wait_s,
            subject_locked_until: None,
            subject_wait_s: 0.0,
        }
    }

    #[test]
    fn locks_beat_delays_and_waits_round_up() {
        assert!(gate(&t(None, 0.0)).is_ok());
        match gate(&t(None, 1.2)) {
            Err(ApiError::LoginThrottled(2)) => {}
            other => panic!("{other:?}"),
        }
        match gate(&t(Some("2026-01-01T00:00:00Z"), 899.5)) {
            Err(ApiError::AccountLocked(u, 900)) => assert_eq!(u, "2026-01-01T00:00:00Z"),
            other => panic!("{other:?}"),
        }
        assert_eq!(ceil_s(f64::NAN), 1);
    }
}
