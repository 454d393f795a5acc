//! The append-only, hash-chained audit trail: appending events, reading it a page at a time,
//! and walking the chain to find the first row that was changed or removed.

use std::fmt;

use tokio_postgres::Client;
use uuid::Uuid;

use crate::pgtypes::Timestamp;
use crate::statements::{AUDIT_APPEND, AUDIT_PAGE};
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

/// Which events a page holds: every filter is optional (`None` matches any event).
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Exact action, e.g. `auth.login`.
    pub action: Option<&'a str>,
    /// Public id of the acting user.
    pub actor: Option<Uuid>,
    /// Exact target type.
    pub target_type: Option<&'a str>,
    /// Exact target id.
    pub target_id: Option<&'a str>,
    /// Occurred at or after this.
    pub from: Option<Timestamp>,
    /// Occurred before this.
    pub to: Option<Timestamp>,
    /// Keyset cursor: only events with an id below this one.
    pub before_id: Option<i64>,
}

/// One recorded event, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Event id (its position in the chain).
    pub id: i64,
    /// RFC 3339 UTC with microseconds.
    pub occurred_at: String,
    /// Public id of the acting user, when there was one.
    pub actor: Option<Uuid>,
    /// `area.verb`.
    pub action: String,
    /// What it was done to.
    pub target_type: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Extra facts: JSON text, as stored.
    pub details: String,
    /// The event's chain hash, lower-case hex.
    pub hash: String,
}

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// At most the number asked for.
    pub events: Vec<Record>,
    /// Whether older events match the filter too (the last event's id is the next cursor).
    pub more: bool,
}

/// Up to `limit` events matching `filter`, newest first.
pub async fn page(pool: &Pool, filter: &Filter<'_>, limit: u32) -> Result<Page, DbError> {
    // One row past the page says whether there is another page, without a count.
    let fetch = i64::from(limit) + 1;
    let limit = limit as usize;
    let rows = pool
        .query(
            &AUDIT_PAGE,
            &[
                &filter.action,
                &filter.actor,
                &filter.target_type,
                &filter.target_id,
                &filter.from,
                &filter.to,
                &filter.before_id,
                &fetch,
            ],
        )
        .await?;
    let more = rows.len() > limit;
    let events = rows
        .iter()
        .take(limit)
        .map(|r| {
            Ok(Record {
                id: r.try_get(0)?,
                occurred_at: r.try_get(1)?,
                actor: r.try_get(2)?,
                action: r.try_get(3)?,
                target_type: r.try_get(4)?,
                target_id: r.try_get(5)?,
                ip: r.try_get(6)?,
                details: r.try_get(7)?,
                hash: r.try_get(8)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|_| DbError::Decode)?;
    Ok(Page { events, more })
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
