//! The append-only, hash-chained audit trail: appending events, and walking the chain to find
//! the first row that was changed or removed.

use std::fmt;

use tokio_postgres::Client;

use crate::statements::AUDIT_APPEND;
use crate::{DbError, Pool};

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    /// Who did it (user row id), when known.
    pub actor: Option<i64>,
    /// What happened, `area.verb` (e.g. `auth.login_failed`).
    pub action: &'a str,
    /// What it was done to.
    pub target_type: Option<&'a str>,
    /// Its id.
    pub target_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Extra facts, a JSON object.
    pub details: Option<String>,
}

/// Appends `event` to the chain.
pub async fn append(pool: &Pool, event: &Event<'_>) -> Result<(), DbError> {
    pool.query(
        &AUDIT_APPEND,
        &[
            &event.actor,
            &event.action,
            &event.target_type,
            &event.target_id,
            &event.ip,
            &event.details.as_deref().unwrap_or("{}"),
        ],
    )
    .await
    .map(|_| ())
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every row's hash matches its content and its predecessor.
    Intact {
        /// Events checked.
        events: u64,
    },
    /// The first row whose hash or link does not match.
    Broken {
        /// Its id.
        id: i64,
        /// What does not match.
        reason: &'static str,
    },
}

/// A database error while verifying.
#[derive(Debug)]
pub struct AuditError(pub String);

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuditError {}

/// Recomputes every hash in order and checks every link.
pub async fn verify(client: &Client) -> Result<Verification, AuditError> {
    let db = |e: tokio_postgres::Error| AuditError(crate::simple::describe(&e));
    let first_bad = crate::simple::rows(
        client,
        "SELECT id, bad_hash FROM ( \
             SELECT id, \
               hash <> audit_event_digest(prev_hash, id, occurred_at, actor_id, action, \
                                          target_type, target_id, ip, details) AS bad_hash, \
               prev_hash IS DISTINCT FROM lag(hash) OVER (ORDER BY id) AS bad_link \
             FROM audit_events) t \
         WHERE bad_hash OR bad_link ORDER BY id LIMIT 1",
    )
    .await
    .map_err(db)?;
    if let Some(row) = first_bad.first() {
        let id = row
            .first()
            .cloned()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let reason = if row.get(1).cloned().flatten().as_deref() == Some("t") {
            "its hash does not match its content"
        } else {
            "its link to the previous event does not match"
        };
        return Ok(Verification::Broken { id, reason });
    }
    let events = crate::simple::scalar(client, "SELECT count(*) FROM audit_events")
        .await
        .map_err(db)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Verification::Intact { events })
}
