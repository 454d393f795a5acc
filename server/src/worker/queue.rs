//! The queue as the worker sees it: the calls to the SQL functions of migration 0015 (claim,
//! renew, finish, fail, release, recover, clean up) and the figures `/metrics` shows. The
//! rules (leases, attempts, backoff with jitter, dead after the last attempt) live in those
//! functions, so every worker on every host applies the same ones.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::types::{Json, ToSql, Type};
use tokio_postgres::Row;

/// The worker's database: its pool, and how statements are sent. Named statements prepared
/// once per connection (PgBouncer's session pool, or PostgreSQL itself), or unnamed ones in
/// one round trip each (`CAMPUSHUB_STATEMENTS=unnamed`: PgBouncer's transaction pool, which
/// keeps no named statement), as the server does.
#[derive(Clone)]
pub struct Db {
    /// The connections.
    pub pool: Pool,
    /// Unnamed statements (`query_typed`).
    pub unnamed: bool,
}

impl Db {
    /// Runs `sql` with its typed parameters.
    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, QueueError> {
        let client = self.pool.get().await?;
        if self.unnamed {
            return Ok(client.query_typed(sql, params).await?);
        }
        let stmt = client.prepare_cached(sql).await?;
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        Ok(client.query(&stmt, &values).await?)
    }

    /// The first column of the one row `sql` answers.
    pub(super) async fn one<T>(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<T, QueueError>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let rows = self.query(sql, params).await?;
        let row = rows
            .first()
            .ok_or_else(|| QueueError(format!("no row from {sql}")))?;
        Ok(row.try_get(0)?)
    }
}

/// A job this worker holds: claimed, under its lease.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Row id (never shown outside).
    pub id: i64,
    /// Public id.
    pub sourced_id: uuid::Uuid,
    /// What to run.
    pub kind: String,
    /// Its input.
    pub payload: serde_json::Value,
    /// This attempt's number (1 for the first): with the worker's name, whose the job is.
    pub attempt: i32,
}

/// A failure of the queue's own statements: the database is away or refused.
#[derive(Debug)]
pub struct QueueError(pub String);

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<tokio_postgres::Error> for QueueError {
    fn from(e: tokio_postgres::Error) -> Self {
        QueueError(match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        })
    }
}

impl From<deadpool_postgres::PoolError> for QueueError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        QueueError(format!("no database connection: {e}"))
    }
}

/// Claims up to `limit` ready jobs for `worker` under a lease of `lease`.
pub async fn claim(
    db: &Db,
    worker: &str,
    limit: i32,
    lease: Duration,
) -> Result<Vec<Claimed>, QueueError> {
    let rows = db
        .query(
            "SELECT job_id, sourced_id, kind, payload, attempt \
             FROM jobs_claim($1, $2, $3, NULL)",
            &[
                (&worker, Type::TEXT),
                (&limit, Type::INT4),
                (&lease_s(lease), Type::INT4),
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get(0)?,
                sourced_id: r.try_get(1)?,
                kind: r.try_get(2)?,
                payload: r.try_get::<_, Json<serde_json::Value>>(3)?.0,
                attempt: r.try_get(4)?,
            })
        })
        .collect()
}

/// Renews the leases of `held` (id, attempt); answers the ids still this worker's.
pub async fn renew(
    db: &Db,
    worker: &str,
    held: &[(i64, i32)],
    lease: Duration,
) -> Result<Vec<i64>, QueueError> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = held.iter().map(|h| h.0).collect();
    let attempts: Vec<i32> = held.iter().map(|h| h.1).collect();
    let rows = db
        .query(
            "SELECT job_id FROM jobs_renew($1, $2, $3, $4)",
            &[
                (&worker, Type::TEXT),
                (&ids, Type::INT8_ARRAY),
                (&attempts, Type::INT4_ARRAY),
                (&lease_s(lease), Type::INT4),
            ],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get(0).map_err(QueueError::from))
        .collect()
}

/// Done; false when the job was no longer this worker's (lease lost, cancelled).
pub async fn finish(db: &Db, worker: &str, job: &Claimed) -> Result<bool, QueueError> {
    held_call(db, "SELECT job_finish($1, $2, $3)", worker, job).await
}

/// Calls `sql`, a function of (job, worker, attempt) answering whether the job was still
/// this worker's.
async fn held_call(db: &Db, sql: &str, worker: &str, job: &Claimed) -> Result<bool, QueueError> {
    db.one(
        sql,
        &[
            (&job.id, Type::INT8),
            (&worker, Type::TEXT),
            (&job.attempt, Type::INT4),
        ],
    )
    .await
}

/// Failed: the state it is now in (`ready` for a retry, `dead`), or `None` when it was no
/// longer this worker's.
pub async fn fail(
    db: &Db,
    worker: &str,
    job: &Claimed,
    error: &str,
    permanent: bool,
) -> Result<Option<String>, QueueError> {
    db.one(
        "SELECT job_fail($1, $2, $3, $4, $5)",
        &[
            (&job.id, Type::INT8),
            (&worker, Type::TEXT),
            (&job.attempt, Type::INT4),
            (&error, Type::TEXT),
            (&permanent, Type::BOOL),
        ],
    )
    .await
}

/// Hands an unfinished job back (shutting down): ready at once, the attempt not counted.
pub async fn release(db: &Db, worker: &str, job: &Claimed) -> Result<bool, QueueError> {
    held_call(db, "SELECT job_release($1, $2, $3)", worker, job).await
}

/// Jobs whose lease ran out become ready again (or dead); how many.
pub async fn recover(db: &Db) -> Result<i32, QueueError> {
    db.one("SELECT jobs_recover()", &[]).await
}

/// Deletes done and cancelled jobs that finished more than `keep` ago, a bounded batch at a
/// time; how many.
pub async fn clean_up(db: &Db, keep: Duration) -> Result<i64, QueueError> {
    db.one(
        "WITH gone AS (DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
         WHERE state IN ('done', 'cancelled') AND finished_at < now() - make_interval(secs => $1) \
         LIMIT 10000) RETURNING 1) SELECT count(*) FROM gone",
        &[(&keep.as_secs_f64(), Type::FLOAT8)],
    )
    .await
}

/// One row of the queue's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Depth {
    /// Job kind.
    pub kind: String,
    /// `ready` (due now), `scheduled` (ready, due later), `running`, `dead`.
    pub state: String,
    /// Jobs.
    pub jobs: i64,
    /// Seconds the oldest has waited since it was due (ready), or since it was claimed.
    pub oldest_s: f64,
}

/// Jobs per kind and state, and how long the oldest of each has waited.
pub async fn depth(db: &Db) -> Result<Vec<Depth>, QueueError> {
    let rows = db
        .query(
            "SELECT kind, CASE WHEN state = 'ready' AND run_at > now() THEN 'scheduled' ELSE state END, \
                    count(*), coalesce(extract(epoch FROM now() - min(CASE WHEN state = 'running' \
                    THEN started_at WHEN state = 'ready' AND run_at <= now() THEN run_at \
                    ELSE now() END))::float8, 0) \
             FROM jobs WHERE state IN ('ready', 'running', 'dead') GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Depth {
                kind: r.try_get(0)?,
                state: r.try_get(1)?,
                jobs: r.try_get(2)?,
                oldest_s: r.try_get(3)?,
            })
        })
        .collect()
}

/// A link's message, as the worker writes it (`account_token_mail`).
#[derive(Debug, Clone)]
pub struct LinkMail {
    /// `invitation` or `reset`.
    pub purpose: String,
    /// `open`, or why it is not sent: `used`, `replaced`, `expired`, `gone`.
    pub state: String,
    /// The person's address (none: nothing to send to).
    pub email: Option<String>,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Log-in name.
    pub username: String,
    /// When the link stops working, as people read it.
    pub expires: String,
    /// The person's public id.
    pub person: uuid::Uuid,
    /// The address bounced before.
    pub bounced: bool,
}

/// The link with public id `token` and its person; `None` when it is gone.
pub async fn link_mail(db: &Db, token: uuid::Uuid) -> Result<Option<LinkMail>, QueueError> {
    let rows = db
        .query(
            "SELECT purpose, state, email, given_name, family_name, username, \
                    to_char(expires_at AT TIME ZONE 'UTC', 'FMDD Mon YYYY HH24:MI \"UTC\"'), \
                    person, bounced FROM account_token_mail($1)",
            &[(&token, Type::UUID)],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(LinkMail {
        purpose: r.try_get(0)?,
        state: r.try_get(1)?,
        email: r.try_get(2)?,
        given_name: r.try_get(3)?,
        family_name: r.try_get(4)?,
        username: r.try_get(5)?,
        expires: r.try_get(6)?,
        person: r.try_get(7)?,
        bounced: r.try_get(8)?,
    }))
}

/// Makes a reset link for `email` (if an account has it and is not over its hourly count):
/// the outcome word (`ok`, `unknown`, `throttled`).
pub async fn issue_reset(
    db: &Db,
    email: &str,
    link: uuid::Uuid,
    hash: &[u8],
    ttl_s: i32,
    ip: Option<&str>,
    per_hour: i32,
) -> Result<String, QueueError> {
    db.one(
        "SELECT outcome FROM password_reset_issue($1, $2, $3, $4, $5::text::inet, $6)",
        &[
            (&email, Type::TEXT),
            (&link, Type::UUID),
            (&hash, Type::BYTEA),
            (&ttl_s, Type::INT4),
            (&ip, Type::TEXT),
            (&per_hour, Type::INT4),
        ],
    )
    .await
}

/// Records that `address` of `person` bounced (while it is still theirs); whether it was.
pub async fn bounced(
    db: &Db,
    person: uuid::Uuid,
    address: &str,
    reason: &str,
) -> Result<bool, QueueError> {
    db.one(
        "SELECT email_bounced($1, $2, $3)",
        &[
            (&person, Type::UUID),
            (&address, Type::TEXT),
            (&reason, Type::TEXT),
        ],
    )
    .await
}

fn lease_s(lease: Duration) -> i32 {
    i32::try_from(lease.as_secs().max(1)).unwrap_or(i32::MAX)
}
